"""Secrets and personal data masked out of every log line.

A log line can carry what a caller sent (a header dump, a URL, an exception's text) and so a
credential or a citizen's data. :class:`RedactionFilter` masks, in the message, its arguments,
the exception's text and the stack:

- credentials: ``Bearer`` tokens and anything JWT-shaped; the values of ``Authorization``,
  ``x-functions-key``, ``Ocp-Apim-Subscription-Key`` and ``x-signature`` (header dumps) and of
  ``code=``, ``subscription-key=`` and ``sig=`` (query strings); ``SharedAccessSignature`` tokens;
  ``AccountKey=``, ``SharedAccessKey=`` and ``SharedAccessSignature=`` in connection strings;
- personal data: Italian fiscal codes, IBANs (the ISO 13616 check digits must hold, so an id
  that merely looks like one stays), card numbers (13-19 digits, spaces or dashes allowed
  between them, whose Luhn check holds).

:func:`install` puts the filter on a logger's handlers (a filter on the root *logger* would not
see records that propagate from child loggers; its handlers do).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any

MASK = "[REDACTED]"

# A value already masked is left as it is (each handler's filter sees the same record).
_FRESH = r"(?!\[REDACTED)"
# The value of a parameter ends at a quote, a separator or white space.
_VALUE = _FRESH + r"""[^\s"',;&}\]]+"""

_CREDENTIALS: list[tuple[re.Pattern[str], str]] = [
    # A JWT (header.payload.signature, the header base64url of '{"...'), wherever it appears.
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?"), MASK),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    # A SAS token is one value: sr=...&sig=...&se=...&skn=...
    (re.compile(r"(?i)\bSharedAccessSignature\s+[^\s\"',;]+"), f"SharedAccessSignature {MASK}"),
    (
        re.compile(
            r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature)=" + _FRESH + r"[^;\s\"']+"
        ),
        rf"\1={MASK}",
    ),
    # A header dump: 'name': 'value' (up to the quote), name: value, name=value (a scheme and
    # its credential, "Basic abc", are one value).
    (
        re.compile(
            r"(?i)\b(authorization|x-functions-key|ocp-apim-subscription-key|x-signature)"
            r"([\"']?\s*[:=]\s*)(?:([\"'])" + _FRESH + r"[^\"']*"
            r"|(?![\"'])(?!(?:[A-Za-z]+ +)?\[REDACTED)(?:[A-Za-z]+ +)?[^\s,;}\]]+)"
        ),
        rf"\1\2\3{MASK}",
    ),
    (re.compile(r"(?i)(?<![\w-])(code|subscription-key|sig)=" + _VALUE), rf"\1={MASK}"),
    # The HMAC of a PSP's x-signature (t=<time>,v1=<hex>), wherever it appears.
    (re.compile(r"(?i)(?<![\w-])(v1)=[0-9a-f]{16,}"), rf"\1={MASK}"),
]

# 16 characters: surname, name, year, month, day, place, check letter; in the digit places
# the letters LMNPQRSTUV stand for digits when two people would share a code (omocodia).
_D = "[0-9LMNPQRSTUV]"
_FISCAL_CODE = re.compile(
    rf"(?i)(?<![A-Za-z0-9])[A-Z]{{6}}{_D}{{2}}[ABCDEHLMPRST]{_D}{{2}}[A-Z]{_D}{{3}}[A-Z]"
    r"(?![A-Za-z0-9])"
)
# Runs that may hold an IBAN (print form: groups of four) or a card number (groups split by
# spaces or dashes); which part of a run is one is decided by its check digits.
_IBAN_RUN = re.compile(r"(?i)(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{1,4})+(?![A-Za-z0-9])")
_CARD_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")
_IBAN_START = re.compile(r"(?i)[A-Z]{2}[0-9]{2}")


def _iban_holds(compact: str) -> bool:
    if not 15 <= len(compact) <= 34 or not _IBAN_START.match(compact):
        return False
    moved = (compact[4:] + compact[:4]).upper()
    return int("".join(str(int(char, 36)) for char in moved)) % 97 == 1


def _luhn_holds(digits: str) -> bool:
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _masked_run(
    run: str, separators: str, holds: Callable[[str], bool], longest: int, label: str
) -> str:
    """``run`` with each stretch of whole groups that ``holds`` masked, leftmost first and
    then the longest from there: a card number after another number, "3 4111 1111 1111 1111",
    is still found. Stretches longer than ``longest`` characters are not tried, so the work is
    linear in the run."""
    parts = re.split(f"([{separators}])", run)
    groups = parts[0::2]
    out: list[str] = []
    first = 0
    while first < len(groups):
        found = None
        length = 0
        for last in range(first, len(groups)):
            length += len(groups[last])
            if length > longest:
                break
            if holds("".join(groups[first : last + 1])):
                found = last
        if found is None:
            out.append(parts[2 * first])
            if 2 * first + 1 < len(parts):
                out.append(parts[2 * first + 1])
            first += 1
        else:
            out.append(label)
            if 2 * found + 1 < len(parts):
                out.append(parts[2 * found + 1])
            first = found + 1
    return "".join(out)


def _iban(match: re.Match[str]) -> str:
    return _masked_run(match.group(0), " ", _iban_holds, 34, "[REDACTED IBAN]")


def _card(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) < 13:
        return run
    return _masked_run(run, " -", _luhn_holds, 19, "[REDACTED PAN]")


# Cheap searches first: most lines hold none of these, and every line pays for the check.
_CREDENTIAL_HINTS = (
    "bearer",
    "eyj",
    "sharedaccess",
    "accountkey",
    "authorization",
    "functions-key",
    "subscription-key",
    "x-signature",
    "code=",
    "sig=",
    "v1=",
)
_IBAN_HINT = re.compile(r"[A-Za-z]{2}[0-9]{2} ?[A-Za-z0-9]{4} ?[A-Za-z0-9]{4} ?[A-Za-z0-9]{3}")
_CARD_HINT = re.compile(r"[0-9](?:[ -]?[0-9]){12}")


def redact(text: str) -> str:
    """``text`` with every credential and personal datum of the module docstring masked."""
    lowered = text.lower()
    if any(hint in lowered for hint in _CREDENTIAL_HINTS):
        for pattern, replacement in _CREDENTIALS:
            text = pattern.sub(replacement, text)
    if _IBAN_HINT.search(text):
        text = _IBAN_RUN.sub(_iban, text)
    text = _FISCAL_CODE.sub("[REDACTED fiscal code]", text)
    if _CARD_HINT.search(text):
        text = _CARD_RUN.sub(_card, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | float) or value is None:
        return value
    # anything else keeps its type (a %d needs a number) unless its text holds a secret
    text = _safe_str(value)
    masked = redact(text)
    return value if masked == text else masked


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not lose the log line
        return object.__repr__(value)


class RedactionFilter(logging.Filter):
    """Masks credentials and personal data in a record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True  # another handler's filter did it: the record is the same object
        record.redacted = True
        self._message(record)
        self._exception(record)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        correlation = getattr(record, "correlation_id", None)
        if isinstance(correlation, str):
            # a caller chooses its correlation id: it may be a fiscal code
            record.correlation_id = redact(correlation)
        return True

    @staticmethod
    def _message(record: logging.LogRecord) -> None:
        try:
            whole = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep what can be shown
            whole = f"{_safe_str(record.msg)} {_safe_str(record.args)}"
            record.msg, record.args = redact(whole), ()
            return
        masked = redact(whole)
        if masked == whole:
            return
        # Mask the template and each argument, so handlers that keep them apart (structured
        # exporters) see no secret either; when a secret spans the two ("Bearer %s" and the
        # token), or the masked arguments no longer fit the format, keep the masked line.
        msg = redact(record.msg) if isinstance(record.msg, str) else _redact_value(record.msg)
        args: Any = record.args
        if isinstance(args, Mapping):
            args = {key: _redact_value(value) for key, value in args.items()}
        elif isinstance(args, tuple):
            args = tuple(_redact_value(value) for value in args)
        try:
            rebuilt = _format(msg, args)
        except Exception:
            rebuilt = None
        if rebuilt is None or redact(rebuilt) != rebuilt:
            record.msg, record.args = masked, ()
        else:
            record.msg, record.args = msg, args

    @staticmethod
    def _exception(record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            masked = redact(text)
            if masked != text:
                # The exception object itself would reach a handler that reads exc_info
                # (OpenTelemetry's): it goes, and its masked text joins the message.
                record.msg = f"{record.getMessage()}\n{masked}"
                record.args = ()
                record.exc_info = None
                record.exc_text = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)


def _format(msg: Any, args: Any) -> str:
    text = _safe_str(msg)
    return text % args if args else text


def install(logger: logging.Logger | None = None) -> None:
    """Put one :class:`RedactionFilter` on each handler of ``logger`` (the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactionFilter) for f in handler.filters):
            handler.addFilter(RedactionFilter())
