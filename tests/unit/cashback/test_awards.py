"""Payout records as pagoPA's award-winner kept them (issue 24): one per citizen and period,
the paying agent's outcomes file (from the local bank simulator) with each transfer's result
and CRO, a refused transfer sent again once the IBAN is usable, and integrative payments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local.banksim.simulator import BankSimulator
from shared.cashback.awards import OUTCOME_HEADER, IntegrationIn, OutcomesIn, parse_outcomes
from shared.cashback.models import IbanIn
from shared.cashback.payouts import PayoutJob
from shared.platform.errors import Invalid
from tests.fakes.cashback import MemoryPayoutFiles
from tests.unit.cashback.fakes import Scene
from tests.unit.cashback.test_pagopa_rules import (
    IBAN,
    NEW_IBAN,
    ibans_checked,
    two_citizens_who_qualify,
)
from tests.unit.cashback.test_transactions import PERIODS
from tests.unit.wallet.fakes import CF, OTHER_CF

CLOSED = datetime(2027, 1, 3, tzinfo=UTC)  # 2 January (Rome) was the last day of grace
OTHER_IBAN = "IT24D0542811101000000654321"


async def paid_period() -> tuple[Scene, MemoryPayoutFiles, BankSimulator]:
    """CF (6.00, an IBAN the bank holds) and OTHER_CF (7.50, an IBAN the bank check could not
    ask about: usable, but the paying bank holds no such account), paid."""
    scene = await two_citizens_who_qualify()
    scene.bank.accounts[IBAN] = CF
    await scene.cashback.set_iban(CF, IbanIn(iban=IBAN, owner_name="M R"), now=scene.now)
    await scene.cashback.set_iban(
        OTHER_CF, IbanIn(iban=OTHER_IBAN, owner_name="A B"), now=scene.now
    )
    await ibans_checked(scene)
    files = MemoryPayoutFiles()
    assert await PayoutJob(scene.store, files, PERIODS).run(now=CLOSED) == {9: 2}
    paying_bank = BankSimulator()
    paying_bank.accounts[IBAN] = CF
    return scene, files, paying_bank


async def test_each_citizen_paid_has_a_record_and_the_outcomes_file_completes_it() -> None:
    scene, files, paying_bank = await paid_period()
    sent = {
        (a.period, a.amount, a.status, a.kind) for a in (await scene.cashback.awards(CF)).awards
    }
    assert sent == {(9, 600, "SENT", "PAYOUT")}
    outcomes = paying_bank.outcomes(
        9, files.files["period-9/payouts.csv"].decode(), today="2027-01-05"
    )
    applied = await scene.cashback.payout_outcomes(
        OutcomesIn(name="outcomes-1.csv", csv=outcomes), now=CLOSED
    )
    assert (applied.applied, applied.rejected) == (2, [])
    [mine] = (await scene.cashback.awards(CF)).awards
    assert (mine.result, mine.cro, mine.execution_date, mine.status) == (
        "OK",
        "CRO00000000001",
        datetime(2027, 1, 5).date(),
        "SENT",
    )
    [theirs] = (await scene.cashback.awards(OTHER_CF)).awards
    assert (theirs.result, theirs.result_reason, theirs.status) == (
        "KO",
        "no such account",
        "RECOVERY",
    )
    # The same file again changes nothing.
    again = await scene.cashback.payout_outcomes(
        OutcomesIn(name="outcomes-1.csv", csv=outcomes), now=CLOSED
    )
    assert again.applied == 2
    assert (await scene.cashback.awards(CF)).awards == [mine]


async def test_a_refused_transfer_and_an_integration_go_in_the_next_runs_file() -> None:
    scene, files, paying_bank = await paid_period()
    outcomes = paying_bank.outcomes(
        9, files.files["period-9/payouts.csv"].decode(), today="2027-01-05"
    )
    await scene.cashback.payout_outcomes(OutcomesIn(name="o.csv", csv=outcomes), now=CLOSED)
    # OTHER_CF gives an IBAN the bank confirms; CF's complaint is upheld: 2.50 more.
    scene.bank.accounts[NEW_IBAN] = OTHER_CF
    await scene.cashback.set_iban(OTHER_CF, IbanIn(iban=NEW_IBAN, owner_name="A B"), now=CLOSED)
    await ibans_checked(scene)
    complaint = IntegrationIn.model_validate(
        {
            "fiscalCode": CF,
            "period": 9,
            "amountCents": 250,
            "reason": "a payment not counted",
            "complaintId": "C1",
        }
    )
    await scene.cashback.integrate(complaint, now=CLOSED)
    await scene.cashback.integrate(complaint, now=CLOSED)  # the same complaint: once
    job = PayoutJob(scene.store, files, PERIODS)
    assert await job.run(now=CLOSED + timedelta(days=1)) == {9: 2}
    [name] = [n for n in files.files if "/awards-" in n]
    rows = sorted(files.files[name].decode().splitlines()[1:])
    assert rows == sorted(
        [f"{CF},{IBAN},250,01,integration:C1", f"{OTHER_CF},{NEW_IBAN},750,01,payout"]
    )
    assert await job.run(now=CLOSED + timedelta(days=2)) == {}  # sent once
    paying_bank.accounts[NEW_IBAN] = OTHER_CF
    second = paying_bank.outcomes(9, files.files[name].decode(), today="2027-01-06")
    applied = await scene.cashback.payout_outcomes(
        OutcomesIn(name="o2.csv", csv=second), now=CLOSED
    )
    assert (applied.applied, applied.rejected) == (2, [])
    kinds = {(a.kind, a.amount, a.result) for a in (await scene.cashback.awards(CF)).awards}
    assert kinds == {("PAYOUT", 600, "OK"), ("INTEGRATION", 250, "OK")}
    [theirs] = (await scene.cashback.awards(OTHER_CF)).awards
    assert (theirs.status, theirs.result, theirs.iban) == ("SENT", "OK", "*" * 23 + "9012")


async def test_outcome_lines_that_do_not_match_a_payout_are_rejected_with_why() -> None:
    scene, _, _ = await paid_period()
    header = "fiscalCode,period,award,amountCents,result,resultReason,cro,executionDate"
    data = "\n".join(
        [
            header,
            f"{CF},9,payout,601,OK,,CRO1,2027-01-05",  # not the 6.00 sent
            f"{CF},8,payout,600,OK,,CRO1,2027-01-05",  # no payout of period 8
            f"{CF},9,payout,600,MAYBE,,CRO1,2027-01-05",  # not a result
        ]
    )
    applied = await scene.cashback.payout_outcomes(OutcomesIn(name="x.csv", csv=data), now=CLOSED)
    assert applied.applied == 0
    assert len(applied.rejected) == 3
    assert applied.rejected[0].startswith("line 4")  # the malformed line, by its number
    assert "601" in applied.rejected[1]
    assert "no such payout" in applied.rejected[2]
    with pytest.raises(Invalid):
        parse_outcomes("fiscalCode,iban\n")


def test_an_outcomes_file_that_the_csv_reader_cannot_read_is_refused_not_a_crash() -> None:
    # a lone CR inside what should be the header (the fuzz suite found it as a 500)
    with pytest.raises(Invalid):
        parse_outcomes("JQ6H\ud92b\ude3c\r\ud88e\ude10B\r")


def test_a_line_the_csv_reader_cannot_read_is_refused_and_the_next_ones_are_read() -> None:
    header = ",".join(OUTCOME_HEADER)
    outcomes, refused = parse_outcomes(f"{header}\r{'x' * 200_000}\rA,B\r")
    assert outcomes == []
    assert [line.split(":")[0] for line in refused] == ["line 2", "line 3"]
    assert "field limit" in refused[0]
