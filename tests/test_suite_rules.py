"""Rules the test suite keeps: a test waits on events (a result, a request seen, a ledger
row) with a deadline, and never asserts how long something took. A duration measured
on a shared 2-core machine under load is not a property of the code (the demo's "under
30 s" failed at 32.1 s while everything it checks was right)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CLOCKS = frozenset({"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns"})


def _reads_clock(node: ast.AST, timed: set[str]) -> bool:
    """Whether `node` reads a clock (`time.monotonic()`, ...), a name assigned from one, or
    a stamp taken by one (an attribute `.time`, as the stand-in server's requests have)."""
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in CLOCKS and isinstance(sub.func.value, ast.Name)
                and sub.func.value.id == "time"):
            return True
        if isinstance(sub, ast.Name) and sub.id in timed:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "time" and not (
                isinstance(sub.value, ast.Name) and sub.value.id == "time"):
            return True
    return False


def _number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int | float)


def _upper_bound(compare: ast.Compare, timed: set[str]) -> bool:
    """`<clock reading> < 30` or `30 > <clock reading>`: at most so many seconds. (A lower
    bound, "no sooner than the retry-after", holds however loaded the machine is.)"""
    sides = [compare.left, *compare.comparators]
    for op, left, right in zip(compare.ops, sides, sides[1:], strict=False):
        if isinstance(op, ast.Lt | ast.LtE) and _number(right) and _reads_clock(left, timed):
            return True
        if isinstance(op, ast.Gt | ast.GtE) and _number(left) and _reads_clock(right, timed):
            return True
    return False


def clock_assertions(source: str) -> list[int]:
    """Lines of `source` whose `assert` bounds a clock reading from above."""
    tree = ast.parse(source)
    timed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _reads_clock(node.value, set()):
            timed |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return sorted(
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.Assert) and any(
            isinstance(c, ast.Compare) and _upper_bound(c, timed) for c in ast.walk(node.test)))


def test_the_rule_finds_a_wall_clock_bound() -> None:
    assert clock_assertions(
        "started = time.monotonic()\nrun()\nelapsed = time.monotonic() - started\n"
        "assert elapsed < 30\n") == [4]
    assert clock_assertions("assert time.monotonic() - t0 < 2.5\n") == [1]
    assert clock_assertions("assert rerun.time - killed_at <= 30\n") == [1]
    assert clock_assertions("assert 2 > time.monotonic() - t0\n") == [1]
    # no sooner than asked: a lower bound, true on any machine
    assert clock_assertions("assert second.time - first.time >= 1.0\n") == []
    # a deadline to wait for an event is no assertion of a duration
    assert clock_assertions(
        "deadline = time.monotonic() + 5\nwhile time.monotonic() < deadline:\n    poll()\n"
        "assert done()\n") == []


def test_no_test_asserts_a_wall_clock_duration() -> None:
    found = {path.relative_to(TESTS.parent).as_posix(): lines
             for path in sorted(TESTS.rglob("test_*.py"))
             if (lines := clock_assertions(path.read_text("utf-8")))}
    assert not found, f"wall-clock bounds asserted (wait on an event instead): {found}"
