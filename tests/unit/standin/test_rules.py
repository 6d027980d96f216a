"""The stand-in rules on scripted traffic, with the clock given: entering (day and night, just
under and just over each threshold, a small station that fails completely), leaving, and what
is payable in stand-in."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.notices.models import Position
from shared.platform.errors import Conflict, Gone, Invalid, NotFound
from shared.standin import rules
from shared.standin.models import Probe
from shared.standin.rules import SLOT, Thresholds

RULES = Thresholds()
# 12:02 in Rome (CET, UTC+1) on a weekday: day.
DAY = datetime(2026, 11, 23, 11, 2, 30, tzinfo=UTC)
# 23:02 in Rome: night.
NIGHT = datetime(2026, 11, 23, 22, 2, 30, tzinfo=UTC)


def script(now: datetime, per_slot: list[tuple[int, int]]) -> dict[datetime, dict[str, int]]:
    """(ok, faults) for each of the window's slots, oldest first."""
    slots = rules.window_slots(now, RULES.window)
    assert len(per_slot) == len(slots)
    return {
        start: {"ok": ok, "timeout": bad} for start, (ok, bad) in zip(slots, per_slot, strict=True)
    }


def others(now: datetime, calls: int) -> dict[datetime, dict[str, int]]:
    """``calls`` healthy calls of other stations, spread over the window."""
    slots = rules.window_slots(now, RULES.window)
    each, rest = divmod(calls, len(slots))
    return {start: {"ok": each + (1 if i < rest else 0)} for i, start in enumerate(slots)}


def entry(now: datetime, station: Mapping[datetime, Mapping[str, int]], other_calls: int) -> Any:
    traffic = {"S": station, "OTHERS": others(now, other_calls)}
    return rules.evaluate_entry("S", traffic, now=now, rules=RULES)


FAULTY = (4, 6)  # 60% faults
HEALTHY = (10, 0)


def test_slots_are_the_complete_five_minute_slots_of_the_window() -> None:
    slots = rules.window_slots(DAY, RULES.window)
    assert len(slots) == 6
    assert slots[-1] == datetime(2026, 11, 23, 10, 55, tzinfo=UTC)
    assert slots[0] == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    assert all(b - a == SLOT for a, b in itertools.pairwise(slots))
    assert rules.slot_of(DAY) == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


def test_enters_with_four_of_six_faulty_slots_and_enough_traffic_by_day() -> None:
    station = script(DAY, [FAULTY] * 4 + [HEALTHY] * 2)  # 60 calls
    result = entry(DAY, station, other_calls=900)  # share 60/960 = 6.25%
    assert result.enter
    assert result.faulty_slots == 4
    assert result.traffic == 60
    assert result.all_traffic == 960
    assert result.share == pytest.approx(0.0625)
    assert not result.night
    assert result.share_threshold == 0.05


def test_three_of_six_faulty_slots_is_not_more_than_half() -> None:
    station = script(DAY, [FAULTY] * 3 + [HEALTHY] * 3)
    result = entry(DAY, station, other_calls=100)
    assert not result.enter
    assert result.faulty_slots == 3
    assert "more than 50%" in result.reason


def test_a_fault_rate_of_exactly_half_is_not_above_it() -> None:
    half = (5, 5)
    assert not entry(DAY, script(DAY, [half] * 6), other_calls=100).enter
    just_over = (49, 51)
    assert entry(DAY, script(DAY, [just_over] * 6), other_calls=100).enter


def test_share_just_under_and_just_over_the_day_threshold() -> None:
    station = script(DAY, [FAULTY] * 6)  # 60 calls
    at_threshold = entry(DAY, station, other_calls=1140)  # 60/1200 = 5.0%: not above
    assert not at_threshold.enter
    assert at_threshold.share == pytest.approx(0.05)
    assert "only 5.0% of the traffic" in at_threshold.reason
    assert entry(DAY, station, other_calls=1130).enter  # 60/1190 = 5.04%


def test_night_needs_a_bigger_share() -> None:
    station_day = script(DAY, [FAULTY] * 6)
    station_night = script(NIGHT, [FAULTY] * 6)
    # 60/750 = 8%: enough by day, not at night
    assert entry(DAY, station_day, other_calls=690).enter
    at_night = entry(NIGHT, station_night, other_calls=690)
    assert at_night.night
    assert not at_night.enter
    assert at_night.share_threshold == 0.10
    assert not entry(NIGHT, station_night, other_calls=540).enter  # 60/600 = 10%: not above
    assert entry(NIGHT, station_night, other_calls=530).enter  # 60/590 = 10.2%


@pytest.mark.parametrize(
    ("utc", "night"),
    [
        (datetime(2026, 11, 23, 20, 59, tzinfo=UTC), False),  # 21:59 CET
        (datetime(2026, 11, 23, 21, 0, tzinfo=UTC), True),  # 22:00 CET
        (datetime(2026, 11, 24, 4, 59, tzinfo=UTC), True),  # 05:59 CET
        (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), False),  # 06:00 CET
        (datetime(2026, 7, 1, 19, 59, tzinfo=UTC), False),  # 21:59 CEST
        (datetime(2026, 7, 1, 20, 0, tzinfo=UTC), True),  # 22:00 CEST
        (datetime(2026, 7, 2, 4, 0, tzinfo=UTC), False),  # 06:00 CEST
    ],
)
def test_night_is_22_to_6_in_rome(utc: datetime, night: bool) -> None:
    assert rules.is_night(utc) is night


def test_a_small_station_failing_completely_stays_with_its_ec() -> None:
    station = script(DAY, [(0, 2)] * 6)  # every call fails, 12 calls
    result = entry(DAY, station, other_calls=988)  # 1.2% of the traffic
    assert result.faulty_slots == 6
    assert not result.enter
    assert "only 1.2% of the traffic" in result.reason


def test_slots_without_traffic_are_not_faulty() -> None:
    station = script(DAY, [(0, 0)] * 3 + [(0, 5)] * 3)
    result = entry(DAY, station, other_calls=10)
    assert result.faulty_slots == 3
    assert not result.enter


def test_the_current_slot_and_older_slots_do_not_count() -> None:
    current = rules.slot_of(DAY)
    station = {
        current: {"timeout": 100},
        current - RULES.window - SLOT: {"timeout": 100},
        **script(DAY, [HEALTHY] * 6),
    }
    result = entry(DAY, station, other_calls=10)
    assert result.faulty_slots == 0
    assert result.traffic == 60


def test_the_three_station_failures_are_faults_and_an_error_is_not() -> None:
    slots = rules.window_slots(DAY, RULES.window)
    station = {
        start: {"ok": 1, "timeout": 1, "unreachable": 1, "notActive": 1, "error": 1}
        for start in slots
    }
    result = entry(DAY, station, other_calls=10)
    assert all(s.faults == 3 for s in result.slots)
    assert all(s.total == 5 for s in result.slots)
    assert result.enter


def test_thresholds_are_settings() -> None:
    station = script(DAY, [FAULTY] * 2 + [HEALTHY] * 4)
    lenient = Thresholds(faulty_slots=0.3, fault_rate=0.5, day_share=0.01)
    traffic = {"S": station, "OTHERS": others(DAY, 900)}
    assert rules.evaluate_entry("S", traffic, now=DAY, rules=lenient).enter
    assert not rules.evaluate_entry("S", traffic, now=DAY, rules=RULES).enter
    short = Thresholds(window=timedelta(minutes=10))
    assert len(rules.evaluate_entry("S", traffic, now=DAY, rules=short).slots) == 2


# ------------------------------------------------------------------ leaving


def probes(now: datetime, ok: int, failed: int = 0, *, age: timedelta = SLOT) -> list[Probe]:
    made = [Probe(at=now - age * (i + 1), ok=True) for i in range(ok)]
    made += [Probe(at=now - age * (ok + i + 1), ok=False) for i in range(failed)]
    return made


def test_leaves_after_an_hour_with_more_than_six_good_probes() -> None:
    since = DAY - timedelta(minutes=60)
    leave, reason = rules.should_leave(since, probes(DAY, 7), now=DAY, rules=RULES)
    assert leave
    assert "7 successful probes" in reason


def test_six_good_probes_are_not_enough() -> None:
    since = DAY - timedelta(minutes=90)
    leave, reason = rules.should_leave(since, probes(DAY, 6, failed=5), now=DAY, rules=RULES)
    assert not leave
    assert "needs more than 6" in reason


def test_not_before_sixty_minutes_in_stand_in() -> None:
    since = DAY - timedelta(minutes=59)
    leave, reason = rules.should_leave(since, probes(DAY, 11), now=DAY, rules=RULES)
    assert not leave
    assert "59 min" in reason


def test_probes_older_than_an_hour_do_not_count() -> None:
    since = DAY - timedelta(hours=5)
    old = probes(DAY, 12, age=timedelta(minutes=10))  # 10..120 min ago: 5 inside the hour
    leave, _ = rules.should_leave(since, old, now=DAY, rules=RULES)
    assert not leave
    assert len(rules.recent_probes(old, now=DAY, rules=RULES)) == 5


# ------------------------------------------------------------------ payable in stand-in


def position(**changes: Any) -> Position:
    fields: dict[str, Any] = {
        "paFiscalCode": "77777777777",
        "companyName": "Comune",
        "entityType": "F",
        "entityFiscalCode": "RSSMRA80A01H501U",
        "entityFullName": "Mario Rossi",
        "iuv": "01000000000000001",
        "nav": "301000000000000001",
        "amount": 1500,
        "description": "TARI",
        "expirationDate": DAY + timedelta(days=30),
        "switchToExpired": True,
        "payStandIn": True,
        "status": "VALID",
        "updatedAt": DAY,
    }
    fields.update(changes)
    return Position.model_validate(fields)


def test_a_valid_notice_with_the_right_amount_is_payable() -> None:
    rules.check_payable(position(), amount=1500, now=DAY)
    rules.check_payable(position(), amount=None, now=DAY)


@pytest.mark.parametrize(
    ("notice", "amount", "error", "code"),
    [
        (None, 1500, NotFound, rules.UNKNOWN_NOTICE),
        (position(status="PAID"), 1500, Conflict, rules.ALREADY_PAID),
        (position(status="EXPIRED"), 1500, Gone, rules.EXPIRED),
        (position(expirationDate=DAY), 1500, Gone, rules.EXPIRED),
        (position(status="INVALID"), 1500, Invalid, rules.NOT_PAYABLE),
        (position(payStandIn=False), 1500, Invalid, rules.NOT_PAYABLE_IN_STAND_IN),
        (position(), 1499, Invalid, rules.AMOUNT_MISMATCH),
    ],
)
def test_each_refusal_has_its_reason(
    notice: Position | None, amount: int, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as raised:
        rules.check_payable(notice, amount=amount, now=DAY)
    assert getattr(raised.value, "code", None) == code


def test_past_its_due_date_a_notice_without_switch_to_expired_stays_payable() -> None:
    overdue = position(expirationDate=DAY - timedelta(days=3), switchToExpired=False)
    rules.check_payable(overdue, amount=1500, now=DAY)
    with pytest.raises(Gone):
        rules.check_payable(
            position(expirationDate=DAY - timedelta(days=3), switchToExpired=True),
            amount=1500,
            now=DAY,
        )


@pytest.mark.parametrize("kind", ["timeout", "unreachable", "notActive"])
def test_the_nodes_three_station_faults_count(kind: str) -> None:
    slots = rules.window_slots(DAY, RULES.window)
    station = {start: {"ok": 4, kind: 6} for start in slots}
    assert entry(DAY, station, other_calls=100).enter


def test_an_ec_refusal_or_a_malformed_answer_is_traffic_not_a_fault() -> None:
    slots = rules.window_slots(DAY, RULES.window)
    station = {start: {"ok": 4, "error": 6} for start in slots}
    result = entry(DAY, station, other_calls=100)
    assert not result.enter
    assert all(s.faults == 0 and s.total == 10 for s in result.slots)


def test_pagopas_production_thresholds_are_the_defaults() -> None:
    assert (RULES.window, RULES.fault_rate, RULES.faulty_slots) == (
        timedelta(minutes=30),
        0.5,
        0.5,
    )
    assert (RULES.day_share, RULES.night_share) == (0.05, 0.10)
    assert (RULES.probe_window, RULES.min_probes) == (timedelta(minutes=60), 6)


def test_an_excluded_station_never_enters_however_faulty() -> None:
    slots = rules.window_slots(DAY, RULES.window)
    station = {start: {"timeout": 10} for start in slots}
    traffic = {"S": station, "OTHERS": others(DAY, 10)}
    excluded = Thresholds(excluded=frozenset({"S"}))
    assert rules.evaluate_entry("S", traffic, now=DAY, rules=RULES).enter
    result = rules.evaluate_entry("S", traffic, now=DAY, rules=excluded)
    assert not result.enter
    assert "excluded" in result.reason
