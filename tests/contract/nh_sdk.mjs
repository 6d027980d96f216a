// Microsoft's Notification Hubs SDK (@azure/notification-hubs) driven by a list of steps, so
// tests can check the local simulator with a client someone else wrote.
//
//   NH_CONNECTION='Endpoint=...;SharedAccessKeyName=...;SharedAccessKey=...' \
//     node tests/contract/nh_sdk.mjs <hub> < steps.json
//
// steps.json is a JSON array; each step names an SDK operation and its arguments:
//   {"op": "createOrUpdateInstallation", "installation": {"installationId", "platform":
//        "apns" | "fcmv1", "pushChannel", "tags"?}}
//   {"op": "updateInstallation", "installationId", "patches": [{"op", "path", "value"?}]}
//   {"op": "getInstallation", "installationId"}
//   {"op": "deleteInstallation", "installationId"}
//   {"op": "sendNotification", "platform": "apple" | "fcmv1", "body", "headers"?,
//        "tagExpression"? | "deviceHandle"?}
//   {"op": "sendBroadcastNotification", "platform", "body", "headers"?}
// It prints one JSON array: per step {"op", "ok": true, "result"} or {"op", "ok": false,
// "statusCode", "message"}. The connection comes from the environment so that no key shows in
// a process listing. The SDK's own retries are off: every step is exactly one request.
// It takes no decision of its own: what each answer should be is the test's to say.

import {
  NotificationHubsClient,
  createAppleInstallation,
  createAppleNotification,
  createFcmV1Installation,
  createFcmV1Notification,
} from "@azure/notification-hubs";

const INSTALLATIONS = { apns: createAppleInstallation, fcmv1: createFcmV1Installation };
// The simulator speaks plain HTTP on loopback; the SDK refuses that unless a request allows it.
const LOCAL = { requestOptions: { allowInsecureConnection: true } };
const NOTIFICATIONS = { apple: createAppleNotification, fcmv1: createFcmV1Notification };

function notification(step) {
  const create = NOTIFICATIONS[step.platform];
  if (!create) throw new Error(`no such notification platform: ${step.platform}`);
  return create({ body: step.body, headers: step.headers ?? {} });
}

async function run(client, step) {
  switch (step.op) {
    case "createOrUpdateInstallation": {
      const { platform, ...fields } = step.installation;
      const create = INSTALLATIONS[platform];
      if (!create) throw new Error(`no such installation platform: ${platform}`);
      return client.createOrUpdateInstallation(create(fields), LOCAL);
    }
    case "updateInstallation":
      return client.updateInstallation(step.installationId, step.patches, LOCAL);
    case "getInstallation":
      return client.getInstallation(step.installationId, LOCAL);
    case "deleteInstallation":
      return client.deleteInstallation(step.installationId, LOCAL);
    case "sendNotification":
      return client.sendNotification(
        notification(step),
        step.deviceHandle !== undefined
          ? { ...LOCAL, deviceHandle: step.deviceHandle }
          : { ...LOCAL, tagExpression: step.tagExpression },
      );
    case "sendBroadcastNotification":
      return client.sendBroadcastNotification(notification(step), LOCAL);
    default:
      throw new Error(`no such step: ${step.op}`);
  }
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function main() {
  const hub = process.argv[2];
  const connection = process.env.NH_CONNECTION;
  if (!hub || !connection) {
    throw new Error("usage: NH_CONNECTION=... node nh_sdk.mjs <hub> < steps.json");
  }
  const client = new NotificationHubsClient(connection, hub, { retryOptions: { maxRetries: 0 } });
  const outcomes = [];
  for (const step of JSON.parse(await readStdin())) {
    try {
      outcomes.push({ op: step.op, ok: true, result: (await run(client, step)) ?? null });
    } catch (error) {
      if (error?.statusCode === undefined) throw error; // not an answer from the service
      outcomes.push({
        op: step.op,
        ok: false,
        statusCode: error.statusCode,
        message: String(error.message),
      });
    }
  }
  process.stdout.write(JSON.stringify(outcomes));
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(2);
});
