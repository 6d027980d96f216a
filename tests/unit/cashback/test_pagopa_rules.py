"""The rules as pagoPA's cashback services applied them (issue 24), each with figures computed
by hand: the duplicate key and the ranking's tie-break on the last payment's time (reversals:
``test_match_documents``, ``test_reversals_across_periods``, ``test_rules``).

The period is ``test_transactions.PERIODS`` (December 2026: 10%, at most 15.00 a transaction,
30.00 a period, 3 transactions to qualify); the card counts from 9 December.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.cashback.alerts import Alerts
from shared.cashback.awards import OutcomesIn
from shared.cashback.models import AlertsIn, IbanIn
from shared.cashback.payouts import PayoutJob
from shared.cashback.ranking import RankingJob
from shared.cashback.tokens import TokenListIn
from tests.fakes.cashback import MemoryPayoutFiles
from tests.unit.cashback.fakes import HPAN_A, HPAN_B, Scene
from tests.unit.cashback.test_transactions import (
    ENABLED_AT,
    MIDNIGHT,
    PERIODS,
    line,
    scene,
    score,
    state,
)
from tests.unit.wallet.fakes import CF, OTHER_CF

__all__ = ["scene"]  # the fixture

AT = MIDNIGHT + timedelta(hours=10)


# ------------------------------------------------------------------------ the duplicate key


async def test_a_reversal_reusing_its_payments_id_is_another_transaction(scene: Scene) -> None:
    # Payment t1 of 20.00 (+2.00), then its reversal with the same acquirer's id: -2.00, -1.
    assert await score(scene, line(1, amount=2000), line(1, amount=2000, op="01")) == [
        "COUNTED",
        "COUNTED",
    ]
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (0, 0)


async def test_the_same_id_at_another_time_or_acquirer_code_counts_again(scene: Scene) -> None:
    # Three payments of 20.00 with the acquirer's id t1: another minute, another acquirer code:
    # 3 x 2.00 = 6.00.
    outcomes = await score(
        scene,
        line(1, amount=2000),
        line(1, amount=2000, at=AT + timedelta(minutes=1)),
        line(1, amount=2000, acquirerCode="54321"),
    )
    assert outcomes == ["COUNTED"] * 3
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (3, 600)


async def test_the_same_five_fields_count_once_whatever_the_offset(scene: Scene) -> None:
    again = line(1, amount=2000, at=AT.astimezone(UTC))  # the same instant, written in UTC
    assert await score(scene, line(1, amount=2000), again) == ["COUNTED", "ALREADY_APPLIED"]
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (1, 200)


async def test_the_listing_shows_the_acquirer_code(scene: Scene) -> None:
    await score(scene, line(1, amount=2000, acquirerCode="ABI01"))
    [shown] = (await scene.cashback.transactions(CF, "9")).transactions
    assert (shown.acquirer_code, shown.id_trx_acquirer) == ("ABI01", "t1")


# ------------------------------------------------------------------------ the ranking's tie-break


async def test_a_reversal_does_not_move_the_last_payment_time_the_ranking_breaks_ties_on() -> None:
    scene = Scene(now=ENABLED_AT, periods=PERIODS)
    for cf, hpan in ((CF, HPAN_A), (OTHER_CF, HPAN_B)):
        await scene.cashback.enroll(cf, now=scene.now)
        await scene.cashback.enable(cf, await scene.onboard(cf, hpan), now=scene.now)
    # Both pay once: CF at 10:00 (100.00), OTHER_CF at 11:00 (20.00). CF's partial refund of
    # 10.00 at 12:00 keeps their count at 1 (90.00 left scores 9.00, the 15.00 cap took 10.00).
    outcomes = await score(
        scene,
        line(1, amount=10000, corr="c1"),
        line(2, amount=2000, hpan=HPAN_B, at=AT + timedelta(hours=1)),
        line(3, amount=1000, op="01", corr="c1", at=AT + timedelta(hours=2)),
    )
    assert outcomes == ["COUNTED"] * 3
    mine, theirs = await state(scene, CF), await state(scene, OTHER_CF)
    assert (mine["count"], mine["cashback"]) == (1, 900)
    assert (theirs["count"], theirs["cashback"]) == (1, 200)
    assert mine["lastTransactionAt"] == AT.isoformat()  # the payment's, not the refund's
    await RankingJob(scene.store, PERIODS).run(now=datetime(2026, 12, 20, tzinfo=UTC))
    # Equal counts: the earlier last payment (CF's 10:00) ranks first.
    assert ((await state(scene, CF))["rank"], (await state(scene, OTHER_CF))["rank"]) == (1, 2)


# ------------------------------------------------------------------------ the IBAN check

IBAN = "IT60X0542811101000000123456"
NEW_IBAN = "IT79Q0542811101000000129012"


async def ibans_checked(scene: Scene) -> None:
    for body in scene.iban_checks():
        await scene.cashback.on_iban_check(body, now=scene.now)


async def test_a_ko_keeps_the_usable_iban_it_was_to_replace(scene: Scene) -> None:
    scene.bank.accounts[IBAN] = CF
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    await ibans_checked(scene)
    scene.bank.accounts[NEW_IBAN] = OTHER_CF  # not the citizen's
    await scene.cashback.set_iban(CF, IbanIn(iban=NEW_IBAN, owner_name="X Y"), now=scene.now)
    assert (await scene.cashback.citizen(CF)).iban_status == "PENDING"
    await ibans_checked(scene)
    shown = await scene.cashback.citizen(CF)
    assert (shown.iban, shown.iban_owner_name, shown.iban_status) == (
        "*" * 23 + "3456",
        "M R",
        "OK",
    )
    assert shown.iban_refused == "*" * 23 + "9012"
    # The payout list reads the usable one.
    assert [row["iban"] for row in await scene.store.confirmed_ibans()] == [IBAN]


async def test_an_unknown_psp_iban_is_kept_and_paid(scene: Scene) -> None:
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    await ibans_checked(scene)  # the fake bank does not know it: UNKNOWN_PSP
    assert (await scene.cashback.citizen(CF)).iban_status == "UNKNOWN_PSP"
    # Three payments of 20.00 qualify (3 transactions): 6.00 paid, to that IBAN.
    await score(scene, *(line(n, amount=2000) for n in range(3)))
    files = MemoryPayoutFiles()
    closed = datetime(2027, 1, 3, tzinfo=UTC)  # 2 January was the last day of grace
    assert await PayoutJob(scene.store, files, PERIODS).run(now=closed) == {9: 1}
    rows = files.files["period-9/payouts.csv"].decode().splitlines()
    assert rows[1:] == [f"{CF},{IBAN},600,01"]


async def test_a_co_holder_gives_the_account_holder_and_sees_it(scene: Scene) -> None:
    request = IbanIn.model_validate(
        {
            "iban": IBAN,
            "ownerName": "Mario Rossi",
            "accountHolderFiscalCode": OTHER_CF,
            "accountHolderName": "Anna",
            "accountHolderSurname": "Bianchi",
        }
    )
    shown = await scene.cashback.set_iban(CF, request, now=scene.now)
    assert shown.account_holder is not None
    assert (
        shown.account_holder.fiscal_code,
        shown.account_holder.name,
        shown.account_holder.surname,
    ) == (OTHER_CF, "Anna", "Bianchi")
    # The same IBAN with another holder is a new request to the bank.
    again = IbanIn.model_validate({"iban": IBAN, "ownerName": "Mario Rossi"})
    assert (await scene.cashback.set_iban(CF, again, now=scene.now)).account_holder is None
    assert len(scene.iban_checks()) == 2


# ------------------------------------------------------------------------ withdrawal


async def test_withdrawing_is_previewed_then_zeroes_every_period_and_clears_the_iban(
    scene: Scene,
) -> None:
    scene.bank.accounts[IBAN] = CF
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    await ibans_checked(scene)
    # Three payments of 20.00 on 9 December: 3 transactions, 6.00; ranked first (alone).
    await score(scene, *(line(n, amount=2000) for n in range(3)))
    ranked_at = datetime(2026, 12, 20, tzinfo=UTC)
    await RankingJob(scene.store, PERIODS).run(now=ranked_at)
    withdrawn_at = datetime(2026, 12, 21, tzinfo=UTC)
    preview = await scene.cashback.withdrawal_preview(CF, now=withdrawn_at)
    assert preview.instruments_disabled == 1
    assert preview.iban == "*" * 23 + "3456"
    assert [(p.id, p.count, p.cashback, p.rank) for p in preview.periods] == [(9, 3, 600, 1)]
    assert "zero" in preview.model_dump_json(by_alias=True)

    await scene.cashback.withdraw(CF, now=withdrawn_at)
    shown = await scene.cashback.period(CF, "9", now=withdrawn_at)
    assert (shown.count, shown.cashback, shown.rank, shown.milestones.min_reached_by) == (
        0,
        0,
        None,
        None,
    )
    citizen = await scene.cashback.citizen(CF)
    assert (citizen.status, citizen.iban, citizen.iban_status) == ("WITHDRAWN", None, None)
    # A payment of 10 December, delivered after the withdrawal, counts for nobody.
    late = line(9, amount=2000, at=AT + timedelta(days=1))
    assert await score(scene, late, received_at=withdrawn_at) == ["NOT_ENROLLED"]
    assert (await scene.cashback.period(CF, "9", now=withdrawn_at)).count == 0
    # A refund, after the withdrawal, of a payment from before it takes nothing back from zero.
    refund = line(0, amount=2000, op="01", at=AT + timedelta(hours=1))
    assert await score(scene, refund, received_at=withdrawn_at) == ["SET_ASIDE"]
    shown = await scene.cashback.period(CF, "9", now=withdrawn_at)
    assert (shown.count, shown.cashback) == (0, 0)
    # The payout list has nobody for the period (below the minimum of 3).
    files = MemoryPayoutFiles()
    assert await PayoutJob(scene.store, files, PERIODS).run(
        now=datetime(2027, 1, 3, tzinfo=UTC)
    ) == {9: 0}


# ------------------------------------------------------------------------ token cards

TOKEN = "7" * 64  # an Apple Pay device token's hpan, standing for the card HPAN_A
OTHER_TOKEN = "8" * 64  # a token nobody listed


async def test_a_token_payment_counts_as_its_cards_once_the_token_is_listed(scene: Scene) -> None:
    listed = TokenListIn.model_validate({"tokens": [{"tokenHpan": TOKEN, "hpan": HPAN_A}]})
    accepted = await scene.cashback.submit_tokens("DEMOACQ", listed, now=scene.now)
    assert (accepted.stored, accepted.unchanged) == (1, 0)
    assert (await scene.cashback.submit_tokens("DEMOACQ", listed, now=scene.now)).unchanged == 1
    outcomes = await score(
        scene,
        line(1, amount=3000, op="02", hpan=TOKEN, corr="c1"),  # Apple Pay 30.00: +1, 3.00
        line(2, amount=4000, op="03", hpan=TOKEN),  # Google Pay 40.00: +1, 4.00
        line(3, amount=1000, op="01", hpan=TOKEN, corr="c1"),  # refund 10.00 of the first:
        # 20.00 left scores 2.00, -1.00
        line(4, amount=5000, op="02", hpan=OTHER_TOKEN),  # not listed: whose is unknown
    )
    assert outcomes == ["COUNTED", "COUNTED", "COUNTED", "INSTRUMENT_NOT_ACTIVE"]
    shown = await state(scene)
    assert (shown["count"], shown["cashback"]) == (2, 600)


# ------------------------------------------------------------------------ citizens told


class Phone:
    """The push capability's service as cashback calls it: what each citizen was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # (fiscal code, kind, body)
        self.keys: set[str] = set()

    async def notify(
        self,
        fiscal_code: str,
        *,
        title: str,
        body: str,
        data: dict[str, str],
        key: str,
        now: datetime,
    ) -> None:
        if key not in self.keys:  # push drops a repeated notificationId
            self.keys.add(key)
            self.sent.append((fiscal_code, data["kind"], body))


async def two_citizens_who_qualify() -> Scene:
    scene = Scene(now=ENABLED_AT, periods=PERIODS)
    for cf, hpan in ((CF, HPAN_A), (OTHER_CF, HPAN_B)):
        await scene.cashback.enroll(cf, now=scene.now)
        await scene.cashback.enable(cf, await scene.onboard(cf, hpan), now=scene.now)
    # 3 payments each: CF 3 x 20.00 = 6.00, OTHER_CF 3 x 25.00 = 7.50.
    await score(
        scene,
        *(line(n, amount=2000) for n in range(3)),
        *(line(10 + n, amount=2500, hpan=HPAN_B) for n in range(3)),
    )
    return scene


async def test_citizens_are_told_the_period_is_closing_unless_they_turned_it_off() -> None:
    scene = await two_citizens_who_qualify()
    chosen = await scene.cashback.choose_alerts(
        OTHER_CF, AlertsIn.model_validate({"periodClosing": False}), now=scene.now
    )
    assert (chosen.period_closing, chosen.add_iban, chosen.payout_done) == (False, True, True)
    assert (await scene.cashback.citizen(OTHER_CF)).alerts == chosen
    phone = Phone()
    alerts = Alerts(scene.store, phone)
    # 20 December: the period ends on the 31st, more than 3 days away: nobody yet.
    assert await alerts.period_closing(PERIODS, now=datetime(2026, 12, 20, tzinfo=UTC)) == 0
    # 28 December (Rome): 3 days to go.
    closing = datetime(2026, 12, 28, 9, tzinfo=UTC)
    assert await alerts.period_closing(PERIODS, now=closing) == 1
    assert [(cf, kind) for cf, kind, _ in phone.sent] == [(CF, "PERIOD_CLOSING")]
    assert "2026-12-31" in phone.sent[0][2]
    # The next hours and days: told once (a record says so), whatever push's duplicate window.
    phone.keys.clear()
    assert await alerts.period_closing(PERIODS, now=closing + timedelta(hours=1)) == 0
    assert await alerts.period_closing(PERIODS, now=closing + timedelta(days=2)) == 0
    assert len(phone.sent) == 1


async def paid_with_a_phone(*, cf_turns_payouts_off: bool) -> tuple[Scene, Phone, str]:
    """CF (an IBAN) and OTHER_CF (none) qualify; the period's list is written; the paying
    agent's outcomes file for it."""
    scene = await two_citizens_who_qualify()
    phone = Phone()
    scene.cashback = scene.build(scene.store, PERIODS, phone)
    scene.bank.accounts[IBAN] = CF
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    await ibans_checked(scene)
    if cf_turns_payouts_off:
        off = AlertsIn.model_validate({"payoutDone": False, "addIban": True})
        await scene.cashback.choose_alerts(CF, off, now=scene.now)
    files = MemoryPayoutFiles()
    job = PayoutJob(scene.store, files, PERIODS, Alerts(scene.store, phone))
    assert await job.run(now=datetime(2027, 1, 3, tzinfo=UTC)) == {9: 1}
    header = "fiscalCode,period,award,amountCents,result,resultReason,cro,executionDate"
    return scene, phone, f"{header}\n{CF},9,payout,600,OK,,CRO42,2027-01-05\n"


async def test_a_payout_asks_the_unpaid_for_an_iban_and_tells_the_paid_once_transferred() -> None:
    scene, phone, outcomes = await paid_with_a_phone(cf_turns_payouts_off=False)
    # The list is written: OTHER_CF (7.50, no IBAN) is asked for one; nobody is paid yet.
    assert [(cf, kind) for cf, kind, _ in phone.sent] == [(OTHER_CF, "ADD_IBAN")]
    assert phone.sent[0][2].startswith("7,50 €")
    await scene.cashback.payout_outcomes(OutcomesIn(name="o.csv", csv=outcomes), now=scene.now)
    assert [(cf, kind) for cf, kind, _ in phone.sent[1:]] == [(CF, "PAYOUT_DONE")]
    assert phone.sent[1][2].startswith("6,00 €")
    phone.keys.clear()  # past push's duplicate window: the same file again tells nobody
    await scene.cashback.payout_outcomes(OutcomesIn(name="o.csv", csv=outcomes), now=scene.now)
    assert len(phone.sent) == 2


async def test_a_citizen_who_turned_payout_notices_off_is_not_told() -> None:
    scene, phone, outcomes = await paid_with_a_phone(cf_turns_payouts_off=True)
    await scene.cashback.payout_outcomes(OutcomesIn(name="o.csv", csv=outcomes), now=scene.now)
    assert [(cf, kind) for cf, kind, _ in phone.sent] == [(OTHER_CF, "ADD_IBAN")]
