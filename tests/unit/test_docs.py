"""The documentation stays usable: a short README that starts with the two commands, and no
relative link (to a file, or to a heading of a markdown file) that leads nowhere."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_LINES = 250

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def documents() -> list[Path]:
    """Every markdown document whose links this test checks."""
    found = [README, ROOT / "bench" / "README.md", ROOT / "infra" / "README.md"]
    found += sorted((ROOT / "docs").rglob("*.md"))
    return [path for path in found if path.exists()]


def _prose_lines(text: str) -> list[str]:
    """Every line, with fenced code blocks blanked and code spans removed (neither holds
    links), so line numbers stay those of the file."""
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else _CODE_SPAN.sub("", line))
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, punctuation dropped, spaces
    turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = text.replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of ``path``'s headings; a repeated heading gets ``-1``, ``-2``, ..."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}: {self.target}"


def relative_links(path: Path) -> list[Link]:
    """The links of ``path`` to something in this repository (not to a web address)."""
    links: list[Link] = []
    for number, line in enumerate(_prose_lines(path.read_text(encoding="utf-8")), start=1):
        targets = [m.group(1) for m in _INLINE_LINK.finditer(line)]
        reference = _REFERENCE_LINK.match(line)
        if reference:
            targets.append(reference.group(1))
        links += [Link(path, number, t) for t in targets if not _EXTERNAL.match(t)]
    return links


def broken(link: Link) -> str | None:
    """Why ``link`` leads nowhere, or None if it resolves."""
    where, _, anchor = link.target.partition("#")
    where = unquote(where)
    if not where:
        target = link.source
    elif where.startswith("/"):
        target = ROOT / where.lstrip("/")
    else:
        target = link.source.parent / where
    if not target.exists():
        return "no such file"
    if anchor and target.suffix == ".md" and unquote(anchor).lower() not in anchors(target):
        return f"no heading with the anchor #{anchor}"
    return None


def report(paths: list[Path]) -> list[str]:
    return [f"{link}: {why}" for p in paths for link in relative_links(p) if (why := broken(link))]


# ----------------------------------------------------------------------------- the README


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES
    start = "\n".join(lines[:10])
    assert "make run" in start
    assert "make test" in start


# ----------------------------------------------------------------------------- links


def test_every_relative_link_of_the_docs_leads_to_a_file_and_heading() -> None:
    checked = documents()
    assert README in checked
    assert any(p.is_relative_to(ROOT / "docs") for p in checked)
    assert sum(len(relative_links(p)) for p in checked) > 0
    assert report(checked) == []


def test_a_broken_link_and_a_missing_anchor_are_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Queue work: how a message ends\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#queue-work-how-a-message-ends) [self](#page) [web](https://example.org)\n"
        "[gone](missing.md) [no anchor](other.md#nowhere)\n"
        "`[in code](missing-too.md)`\n"
        "```\n[in a block](missing-three.md)\n```\n"
    )
    assert [(link.target, broken(link)) for link in relative_links(page) if broken(link)] == [
        ("missing.md", "no such file"),
        ("other.md#nowhere", "no heading with the anchor #nowhere"),
    ]


def test_anchors_follow_githubs_rules() -> None:
    assert slug("Queue work: how a message ends") == "queue-work-how-a-message-ends"
    assert slug("`bench/host.py`: the Functions edge") == "benchhostpy-the-functions-edge"
    assert slug("Time: the clock and the dev clock") == "time-the-clock-and-the-dev-clock"
    assert slug("0001. Operator routes live under `/api/ops`") == (
        "0001-operator-routes-live-under-apiops"
    )
