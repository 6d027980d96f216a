"""The stand-in rules as pure functions: traffic slots, entering, leaving, payable in stand-in.

Entering (evaluated every 5 minutes over the last ``window`` minutes, complete slots only): more
than ``faulty_slots`` of the window's 5-minute slots have a fault rate above ``fault_rate``, AND
the station's share of all forwarded traffic in the window is above ``day_share`` (or
``night_share`` from 22:00 to 06:00 Europe/Rome). A slot without traffic is not faulty.

Leaving: at least ``min_stand_in`` in stand-in and more than ``min_probes`` successful probes in
the last ``probe_window``.

A fault is what pagoPA's manager counts (its NodoMonitorService): the node's
``PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE``, ``_TIMEOUT`` and ``_SERVIZIO_NONATTIVO`` on the calls
that verify or activate a notice, here the counters' ``unreachable``, ``timeout`` and
``notActive``; an EC's refusal or a malformed answer (``error``) is traffic, not a fault. The
defaults are pagoPA's production values (helm/values-prod.yaml): 5-minute slots, 50% per slot,
more than 50% of a 30-minute window, 5% of the traffic by day and 10% by night (22:00-06:00),
more than 6 successful probes in 60 minutes to leave. Stations in ``excluded`` never enter
automatically (pagoPA's EXCLUDED_STATIONS); an operator may still force them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.notices.models import Position
from shared.platform.clock import ROME
from shared.platform.errors import Conflict, Gone, Invalid, NotFound
from shared.standin.models import CALL_OUTCOMES, Evaluation, Probe, SlotFigures

SLOT = timedelta(minutes=5)


@dataclass(frozen=True)
class Thresholds:
    window: timedelta = timedelta(minutes=30)
    fault_rate: float = 0.5
    faulty_slots: float = 0.5
    day_share: float = 0.05
    night_share: float = 0.10
    min_stand_in: timedelta = timedelta(minutes=60)
    min_probes: int = 6
    probe_window: timedelta = timedelta(minutes=60)
    excluded: frozenset[str] = frozenset()


Counts = Mapping[str, int]
"""Calls per outcome (``ok``, ``timeout``, ``unreachable``, ``notActive``, ``error``)."""


def slot_of(moment: datetime) -> datetime:
    """The start of the 5-minute slot holding ``moment`` (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def window_slots(now: datetime, window: timedelta) -> list[datetime]:
    """The complete slots of the window ending at the start of ``now``'s slot, oldest first."""
    end = slot_of(now)
    count = max(1, int(window / SLOT))
    return [end - SLOT * (count - i) for i in range(count)]


def is_night(moment: datetime) -> bool:
    """22:00 to 06:00 Europe/Rome."""
    hour = moment.astimezone(ROME).hour
    return hour >= 22 or hour < 6


FAULTS = frozenset({"timeout", "unreachable", "notActive"})
"""The call outcomes that are the node's three station faults."""


def faults(counts: Counts) -> int:
    return sum(n for outcome, n in counts.items() if outcome in FAULTS)


def evaluate_entry(
    station: str,
    traffic: Mapping[str, Mapping[datetime, Counts]],
    *,
    now: datetime,
    rules: Thresholds,
) -> Evaluation:
    """Whether ``station`` should enter stand-in, with the figures behind the answer.

    ``traffic``: station -> slot start -> counts, for every station (the share needs them all).
    """
    slots = window_slots(now, rules.window)
    own = traffic.get(station, {})
    figures: list[SlotFigures] = []
    for start in slots:
        counts: dict[str, int] = {
            k: int(v) for k, v in own.get(start, {}).items() if k in CALL_OUTCOMES
        }
        total = sum(counts.values())
        bad = faults(counts)
        figures.append(
            SlotFigures(
                start=start,
                total=total,
                faults=bad,
                fault_rate=bad / total if total else 0.0,
                by_outcome=counts,
            )
        )
    faulty = sum(1 for f in figures if f.total and f.fault_rate > rules.fault_rate)
    mine = sum(f.total for f in figures)
    everyone = sum(
        sum(counts.get(start, {}).values()) for counts in traffic.values() for start in slots
    )
    share = mine / everyone if everyone else 0.0
    night = is_night(now)
    threshold = rules.night_share if night else rules.day_share
    many_faulty = faulty > rules.faulty_slots * len(slots)
    big_enough = share > threshold
    excluded = station in rules.excluded
    if excluded:
        reason = "excluded from stand-in: only an operator may put it there"
    elif many_faulty and big_enough:
        reason = (
            f"{faulty} of {len(slots)} slots with fault rate above {rules.fault_rate:.0%} "
            f"and {share:.1%} of the traffic (> {threshold:.0%})"
        )
    elif many_faulty:
        reason = (
            f"{faulty} of {len(slots)} slots faulty, but only {share:.1%} of the traffic "
            f"(needs > {threshold:.0%} by {'night' if night else 'day'})"
        )
    else:
        reason = (
            f"{faulty} of {len(slots)} slots with fault rate above {rules.fault_rate:.0%} "
            f"(needs more than {rules.faulty_slots:.0%} of them)"
        )
    return Evaluation(
        at=now,
        window_start=slots[0],
        night=night,
        slots=figures,
        faulty_slots=faulty,
        slot_count=len(slots),
        traffic=mine,
        all_traffic=everyone,
        share=round(share, 6),
        share_threshold=threshold,
        enter=many_faulty and big_enough and not excluded,
        reason=reason,
    )


def recent_probes(probes: Sequence[Probe], *, now: datetime, rules: Thresholds) -> list[Probe]:
    """The probes inside the probe window, oldest first."""
    since = now - rules.probe_window
    return sorted((p for p in probes if p.at > since), key=lambda p: p.at)


def should_leave(
    since: datetime, probes: Sequence[Probe], *, now: datetime, rules: Thresholds
) -> tuple[bool, str]:
    """Whether a station in stand-in since ``since`` may leave, and why (not)."""
    stayed = now - since
    ok = sum(1 for p in recent_probes(probes, now=now, rules=rules) if p.ok)
    minutes = int(stayed.total_seconds() // 60)
    window = int(rules.probe_window.total_seconds() // 60)
    if stayed < rules.min_stand_in:
        return False, (
            f"in stand-in for {minutes} min (at least "
            f"{int(rules.min_stand_in.total_seconds() // 60)} min before leaving)"
        )
    if ok <= rules.min_probes:
        return False, (
            f"{ok} successful probes in the last {window} min (needs more than {rules.min_probes})"
        )
    return True, f"{ok} successful probes in the last {window} min after {minutes} min"


# Refusal codes of the gateway (the problem's ``code`` member).
UNKNOWN_NOTICE = "UNKNOWN_NOTICE"
ALREADY_PAID = "ALREADY_PAID"
EXPIRED = "EXPIRED"
NOT_PAYABLE = "NOT_PAYABLE"
NOT_PAYABLE_IN_STAND_IN = "NOT_PAYABLE_IN_STAND_IN"
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"


def check_payable(position: Position | None, *, amount: int | None, now: datetime) -> None:
    """Raise the refusal that keeps ``position`` from being paid in stand-in, if any.

    ``amount``: what the PSP is about to take (activate), or None (verify).
    """
    if position is None:
        raise NotFound("unknown notice: the archive has no such notice", code=UNKNOWN_NOTICE)
    where = f"notice {position.nav} of {position.pa_fiscal_code}"
    if position.status == "PAID":
        raise Conflict(f"{where} is already paid", code=ALREADY_PAID)
    # Past its expirationDate a notice stays payable unless its EC asked it to expire
    # (switchToExpired), as the archive's contract has it.
    if position.status == "EXPIRED" or (
        position.switch_to_expired and position.expiration_date <= now
    ):
        raise Gone(f"{where} expired on {position.expiration_date.isoformat()}", code=EXPIRED)
    if position.status != "VALID":
        raise Invalid(
            f"{where} is {position.status}: it cannot be paid", status=422, code=NOT_PAYABLE
        )
    if not position.pay_stand_in:
        raise Invalid(
            f"{where} may not be paid in stand-in (payStandIn is false)",
            status=422,
            code=NOT_PAYABLE_IN_STAND_IN,
        )
    if amount is not None and amount != position.amount:
        raise Invalid(
            f"amount mismatch: {where} is {position.amount} cents, not {amount}",
            status=422,
            code=AMOUNT_MISMATCH,
        )
