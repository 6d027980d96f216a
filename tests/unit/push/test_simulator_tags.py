"""The simulator reads tag expressions as Notification Hubs documents them (docs/notification-
hubs.md): ``&&`` binds tighter than ``||``, ``!`` tighter than both, parentheses group; at most
20 tags with only ``||``, 6 otherwise; tags of 1-120 letters, digits and ``_ @ # . : -``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local.nhsim.tags import TagExpressionError, evaluate, parse

TAGS = ["a", "b", "c", "d"]
#: Installations and the tags each carries: every subset of TAGS.
HOLDERS = {
    f"i{mask}": {tag for bit, tag in enumerate(TAGS) if mask >> bit & 1}
    for mask in range(2 ** len(TAGS))
}

Tree = str | tuple[str, "Tree"] | tuple[str, "Tree", "Tree"]


def select(expression: str) -> set[str]:
    return evaluate(
        parse(expression),
        lambda tag: {i for i, tags in HOLDERS.items() if tag in tags},
        lambda: set(HOLDERS),
    )


def trees() -> st.SearchStrategy[Tree]:
    return st.recursive(
        st.sampled_from(TAGS),
        lambda inner: st.one_of(
            st.tuples(st.just("!"), inner),
            st.tuples(st.sampled_from(["&&", "||"]), inner, inner),
        ),
        max_leaves=6,
    )


def render(tree: Tree) -> str:
    """Fully parenthesised, so the string means exactly the tree."""
    if isinstance(tree, str):
        return tree
    if len(tree) == 2:
        return f"!({render(tree[1])})"
    return f"({render(tree[1])}) {tree[0]} ({render(tree[2])})"


def holds(tree: Tree, tags: set[str]) -> bool:
    if isinstance(tree, str):
        return tree in tags
    if len(tree) == 2:
        return not holds(tree[1], tags)
    left, right = holds(tree[1], tags), holds(tree[2], tags)
    return left and right if tree[0] == "&&" else left or right


@given(trees())
def test_an_expression_selects_the_installations_it_holds_for(tree: Tree) -> None:
    expected = {i for i, tags in HOLDERS.items() if holds(tree, tags)}
    assert select(render(tree)) == expected


@pytest.mark.parametrize(
    ("expression", "same_as"),
    [
        ("a || b && c", "a || (b && c)"),
        ("!a && b", "(!a) && b"),
        ("!a || b", "(!a) || b"),
        ("!!a", "a"),
        ("a&&b", "a && b"),
        ("  a ||b  ", "a || b"),
    ],
)
def test_precedence_and_spacing(expression: str, same_as: str) -> None:
    assert select(expression) == select(same_as)


def test_the_tag_limits_count_every_tag_named() -> None:
    ors = [f"t{n}" for n in range(21)]
    parse(" || ".join(ors[:20]))
    with pytest.raises(TagExpressionError, match="21 tags"):
        parse(" || ".join(ors))
    parse(" && ".join(ors[:6]))
    parse("(t0 || t1) && (t2 || t3) && !t4 && t5")
    with pytest.raises(TagExpressionError, match="7 tags"):
        parse(" && ".join(ors[:7]))
    with pytest.raises(TagExpressionError, match="7 tags"):
        parse(" || ".join(ors[:6]) + " || !t6")  # a ! makes it more than ORs


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "a &&",
        "|| a",
        "(a",
        "a)",
        "a b",
        "a & b",
        "a | b",
        "a ! b",
        "()",
        "x" * 121,
        "a,b",
        "a/b",
        "caffè",
    ],
)
def test_malformed_expressions_are_refused(expression: str) -> None:
    with pytest.raises(TagExpressionError):
        parse(expression)


def test_system_tags_are_words_compared_as_written() -> None:
    """``$InstallationId:<id>`` without braces is a valid word that no installation carries."""
    parse("$InstallationId:abc")
    parse("$InstallationId:{abc} || city_Rome")
    tree = parse("x" * 120 + " || @#.:-_")
    assert evaluate(tree, lambda tag: {tag}, set) == {"x" * 120, "@#.:-_"}
