"""The index's ordering rule: an entry holds the state of the newest event it has seen,
whatever order (and however many copies) the events of a notice arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.payments.index import NoticeEvent, announced, apply, effective_status, newest

USER = "a" * 64
T0 = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
STATE_FIELDS = ("seq", "status", "amount", "description", "dueDate", "open", "paidAt", "sortKey")


def event(seq: int, status: str = "VALID", amount: int = 1_000, **data: Any) -> NoticeEvent:
    return NoticeEvent.model_validate(
        {
            "id": f"e-{seq}",
            "type": "NoticeCreated" if seq == 1 else "NoticeUpdated",
            "createdAt": (T0 + timedelta(seconds=seq)).isoformat(),
            "data": {
                "ecFiscalCode": "77777777777",
                "ecName": "Comune di Demo",
                "noticeCode": "301000000000000001",
                "iuv": "01000000000000001",
                "debtorFiscalCode": "RSSMRA85T10A562S",
                "description": f"TARI, version {seq}",
                "amount": amount,
                "dueDate": "2027-01-31T23:00:00Z",
                "status": status,
                "paidAt": T0.isoformat() if status == "PAID" else None,
                "publishedAt": T0.isoformat(),
                "seq": seq,
                **data,
            },
        }
    )


def state(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if entry is None else {k: entry[k] for k in STATE_FIELDS}


statuses = st.sampled_from(["VALID", "VALID", "INVALID", "PAID", "EXPIRED"])


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[NoticeEvent], list[NoticeEvent]]:
    """A notice's events in archive order, and the same events delivered in any order with
    duplicates."""
    count = draw(st.integers(min_value=1, max_value=8))
    events = [
        event(seq, draw(statuses), draw(st.integers(min_value=1, max_value=10**6)))
        for seq in range(1, count + 1)
    ]
    copies = draw(st.lists(st.sampled_from(events), max_size=6))
    delivered = draw(st.permutations(events + copies))
    return events, delivered


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_order_of_a_notices_events_ends_in_the_newest_state(
    history: tuple[list[NoticeEvent], list[NoticeEvent]],
) -> None:
    in_order, delivered = history
    assert state(newest(delivered, user_id=USER)) == state(newest(in_order, user_id=USER))
    assert newest(delivered, user_id=USER)["seq"] == len(in_order)  # type: ignore[index]


def test_an_older_event_changes_nothing_and_the_same_one_again_neither() -> None:
    entry = apply(None, event(2, "PAID"), user_id=USER)
    assert entry is not None
    assert entry["status"] == "PAID"
    assert entry["open"] is False
    assert apply(entry, event(1, "VALID"), user_id=USER) is None
    assert apply(entry, event(2, "PAID"), user_id=USER) is None


def test_the_entry_lives_in_its_debtors_partition() -> None:
    entry = apply(None, event(1), user_id=USER)
    assert entry is not None
    assert entry["pk"] == f"debtor:{USER}"
    assert entry["id"] == "notice:ACA_77777777777_01000000000000001"
    assert "debtorFiscalCode" not in entry  # the pseudonymous partition names the debtor


def test_an_open_notice_is_announced_once() -> None:
    entry = apply(None, event(1), user_id=USER)
    assert entry is not None
    assert entry["announce"] == "due"
    done = announced(entry)
    later = apply(done, event(2, amount=5), user_id=USER)
    assert later is not None
    assert later["announce"] == "done"


def test_a_notice_first_seen_closed_is_never_announced() -> None:
    entry = apply(None, event(3, "PAID"), user_id=USER)
    assert entry is not None
    assert entry["announce"] is None


def test_an_announcement_still_due_when_the_notice_closes_is_dropped() -> None:
    entry = apply(None, event(1), user_id=USER)
    closed = apply(entry, event(2, "INVALID"), user_id=USER)
    assert closed is not None
    assert closed["announce"] == "skipped"


def test_a_notice_that_expires_is_expired_past_its_due_date() -> None:
    entry = apply(None, event(1, switchToExpired=True), user_id=USER)
    assert entry is not None
    assert effective_status(entry, now=datetime(2027, 1, 31, 22, tzinfo=UTC)) == "VALID"
    assert effective_status(entry, now=datetime(2027, 2, 1, tzinfo=UTC)) == "EXPIRED"
