#!/usr/bin/env bash
# Smoke test of a deployed Centro Stella, run by an operator after `terraform apply` / `azd up`
# (and by tests/e2e/test_smoke.py against the dev host). It proves what only a running app can:
#
#   1. health      GET /api/health is 200: Cosmos DB, Service Bus, storage, Key Vault and the
#                  push hubs answer the app's identity.
#   2. push        PUT /api/v1/push/installations is accepted and the push queue's consumer
#                  writes it to Notification Hubs without failing (no failed work names it:
#                  a rule without Listen would make it 401), then DELETE.
#   3. bulk        an ACA bulk upload of two positions and one bad line is accepted, stored as a
#                  blob, split into a queue message, consumed, and reported COMPLETED (2 written,
#                  1 rejected): Blob write and ranged read, Service Bus send and receive, Cosmos
#                  DB writes, all with the identity.
#   4. queues      GET /api/ops/dead-letters/<queue> answers for every queue the script used (the
#                  identity may receive from them).
#
# Usage: infra/smoke.sh https://<function app>.azurewebsites.net
# Needs bash, curl and jq, and in the environment:
#   SMOKE_FUNCTION_KEY    a function key (x-functions-key) of the app
#   SMOKE_ADMIN_KEY       the app's admin (master) key, for /api/ops
#   SMOKE_CITIZEN_TOKEN   a citizen token the app accepts (the app backend's key; `make token`
#                         locally); the script registers, then deletes, one test device for it
#   SMOKE_EC_KEY          the Ocp-Apim-Subscription-Key of a creditor institution registered for
#                         smoke tests (its positions stay in the archive: use a test EC)
#   SMOKE_EC_FISCAL_CODE  that creditor institution's fiscal code
#   SMOKE_IUV_PREFIX      the first two digits of the test IUVs, a segregation code the EC owns
#                         (default 01)
#   SMOKE_PUSH_QUEUE, SMOKE_NOTICES_QUEUE   the queues' names, if not the defaults
#   SMOKE_PUSH_WAIT       seconds to watch for a failed installation write (default 30)
#   SMOKE_TIMEOUT         seconds to wait for the bulk upload (default 120)
set -euo pipefail

base="${1:?usage: infra/smoke.sh https://<function app>.azurewebsites.net}"
base="${base%/}"
: "${SMOKE_FUNCTION_KEY:?set SMOKE_FUNCTION_KEY}"
: "${SMOKE_ADMIN_KEY:?set SMOKE_ADMIN_KEY}"
: "${SMOKE_CITIZEN_TOKEN:?set SMOKE_CITIZEN_TOKEN}"
: "${SMOKE_EC_KEY:?set SMOKE_EC_KEY}"
: "${SMOKE_EC_FISCAL_CODE:?set SMOKE_EC_FISCAL_CODE}"
timeout="${SMOKE_TIMEOUT:-120}"
push_wait="${SMOKE_PUSH_WAIT:-30}"
push_queue="${SMOKE_PUSH_QUEUE:-push}"
notices_queue="${SMOKE_NOTICES_QUEUE:-notices}"
iuv_prefix="${SMOKE_IUV_PREFIX:-01}"
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is needed" >&2; exit 2; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# call METHOD PATH [curl arguments...]: the status on stdout, the body in $work/body
call() {
  local method="$1" path="$2"
  shift 2
  curl --silent --show-error --max-time 30 --output "$work/body" --write-out '%{http_code}' \
    --request "$method" "$base$path" "$@"
}

expect() {
  local want="$1" got="$2" what="$3"
  [[ "$got" == "$want" ]] || fail "$what: HTTP $got, expected $want: $(head -c 500 "$work/body")"
}

# 1. health
status="$(call GET /api/health)"
expect 200 "$status" "health"
[[ "$(jq -r .status "$work/body")" == "ok" ]] || fail "health: $(cat "$work/body")"
echo "ok   health: every dependency answers"

# 2. push installation
device="smoke$(date +%s)$RANDOM$RANDOM"
citizen=(--header "x-functions-key: $SMOKE_FUNCTION_KEY" --header "Authorization: Bearer $SMOKE_CITIZEN_TOKEN")
status="$(call PUT /api/v1/push/installations "${citizen[@]}" \
  --header 'Content-Type: application/json' \
  --data "{\"platform\": \"FCMV1\", \"pushChannel\": \"$device\"}")"
expect 202 "$status" "push installation"
installation="$(jq -r .installationId "$work/body")"
admin=(--header "x-functions-key: $SMOKE_ADMIN_KEY")
# The installation is written by the push queue's consumer; a failure lands in failed work.
deadline=$((SECONDS + push_wait))
while ((SECONDS < deadline)); do
  status="$(call GET "/api/ops/failed-work?queue=$push_queue&limit=500" "${admin[@]}")"
  expect 200 "$status" "failed work"
  if jq -r '.items[].bodyB64' "$work/body" | while read -r body; do
    printf '%s' "$body" | base64 -d 2>/dev/null || true
    echo
  done | grep -q "$device"; then
    fail "push installation: its write failed (see GET /api/ops/failed-work?queue=$push_queue)"
  fi
  sleep 1
done
status="$(call DELETE /api/v1/push/installations "${citizen[@]}")"
expect 202 "$status" "push installation delete"
echo "ok   push: installation $installation written and deleted, no failed work"

# 3. bulk upload through Blob storage, Service Bus and Cosmos DB
iuv_base="$(date +%s%N | tail -c 15)" # 14 digits: with the prefix and n, a 17-digit IUV
positions="$work/positions.ndjson"
for n in 1 2; do
  printf '{"paFiscalCode": "%s", "entityType": "F", "entityFiscalCode": "RSSMRA85T10A562S", "entityFullName": "Smoke Test", "iuv": "%s%s%s", "amount": 100, "description": "smoke test", "expirationDate": "2099-12-31T23:00:00Z"}\n' \
    "$SMOKE_EC_FISCAL_CODE" "$iuv_prefix" "$iuv_base" "$n" >>"$positions"
done
echo '{"not": "a position"}' >>"$positions"
ec=(--header "Ocp-Apim-Subscription-Key: $SMOKE_EC_KEY" --header "x-functions-key: $SMOKE_FUNCTION_KEY")
status="$(call POST /api/aca/v1/positions/bulk "${ec[@]}" \
  --header 'Content-Type: application/x-ndjson' --data-binary "@$positions")"
expect 202 "$status" "bulk upload"
report="$(jq -r .report "$work/body")"
deadline=$((SECONDS + timeout))
while :; do
  status="$(call GET "$report" "${ec[@]}")"
  expect 200 "$status" "bulk report"
  [[ "$(jq -r .status "$work/body")" == "COMPLETED" ]] && break
  ((SECONDS < deadline)) || fail "bulk upload: not COMPLETED after ${timeout}s: $(cat "$work/body")"
  sleep 2
done
written="$(jq -r .written "$work/body")"
rejected="$(jq -r .rejected "$work/body")"
[[ "$written/$rejected" == "2/1" ]] || fail "bulk upload: written $written, rejected $rejected, expected 2 and 1"
echo "ok   bulk: uploaded, queued, consumed, 2 positions written and 1 line rejected"

# 4. the queues answer the identity
for queue in "$push_queue" "$notices_queue"; do
  status="$(call GET "/api/ops/dead-letters/$queue?limit=1" "${admin[@]}")"
  expect 200 "$status" "dead letters of $queue"
done
echo "ok   queues: push and notices receive"
echo "smoke test passed: $base"
