"""The reliability suite's bookkeeping: a category per case, and a table at the end of the run.

A case is any test marked `@pytest.mark.reliability("<category>")`, wherever it lives: the suite
reuses the tests that already exercise a fault (tests/sandbox, tests/lambda_code, …) by marking
them, and tests/reliability/ holds the cases nothing else covered. Loaded for every run by
tests/conftest.py, so the table appears whichever tests were collected, `make test` included.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

MARKER = "reliability"
CATEGORIES = ("bad input", "faults", "load")
_CASES = pytest.StashKey["dict[str, str]"]()      # nodeid -> category, for the collected cases
_OUTCOMES = pytest.StashKey["dict[str, str]"]()   # nodeid -> passed / failed / skipped


@dataclass
class Row:
    category: str
    cases: int = 0
    passed: int = 0
    not_passed: list[str] = field(default_factory=list)


def category_of(item: pytest.Item) -> str | None:
    """Return the item's reliability category, None if it is not a case; UsageError if it is malformed."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    category = marker.args[0] if marker.args else marker.kwargs.get("category")
    if category not in CATEGORIES:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} needs one of {', '.join(map(repr, CATEGORIES))}, "
                                f"got {category!r}")
    return category


_config: pytest.Config | None = None  # this run's (reports carry no config)


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config
    config.stash[_CASES] = {}
    config.stash[_OUTCOMES] = {}


@pytest.hookimpl(trylast=True)  # after the other plugins reordered or marked the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cases = config.stash[_CASES]
    cases.clear()
    for item in items:
        category = category_of(item)
        if category is None and "tests/reliability/" in str(item.path).replace("\\", "/"):
            raise pytest.UsageError(f"{item.nodeid}: a test in tests/reliability/ needs "
                                    f"@pytest.mark.{MARKER}(<category>)")
        if category is not None:
            cases[item.nodeid] = category


def pytest_deselected(items: list[pytest.Item]) -> None:
    """-m / -k (and --deselect) take cases out: they are not counted."""
    for item in items:
        item.config.stash[_CASES].pop(item.nodeid, None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _config is None or report.nodeid not in _config.stash[_CASES]:
        return
    seen = _config.stash[_OUTCOMES]
    if report.failed:
        seen[report.nodeid] = "failed"  # a failed setup, call or teardown fails the case
    elif report.skipped and seen.get(report.nodeid) != "failed":
        seen[report.nodeid] = "skipped"
    elif report.when == "call" and report.passed and report.nodeid not in seen:
        seen[report.nodeid] = "passed"


def rows(cases: dict[str, str], outcomes: dict[str, str]) -> list[Row]:
    """Return one row per category (in CATEGORIES order) and a total."""
    table = {c: Row(c) for c in CATEGORIES}
    for nodeid, category in cases.items():
        row = table[category]
        row.cases += 1
        outcome = outcomes.get(nodeid, "not run")
        if outcome == "passed":
            row.passed += 1
        else:
            row.not_passed.append(f"{outcome}: {nodeid}")
    total = Row("total", sum(r.cases for r in table.values()), sum(r.passed for r in table.values()))
    return [*table.values(), total]


def render(table: list[Row]) -> list[str]:
    width = max(len(r.category) for r in table)
    lines = [f"{'category':<{width}}  {'cases':>5}  {'passed':>6}", f"{'-' * width}  -----  ------"]
    for row in table:
        if row is table[-1]:
            lines.append(f"{'-' * width}  -----  ------")
        lines.append(f"{row.category:<{width}}  {row.cases:>5}  {row.passed:>6}")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    cases = config.stash.get(_CASES, {})
    if not cases or config.option.collectonly:
        return
    table = rows(cases, config.stash[_OUTCOMES])
    terminalreporter.write_sep("=", "reliability suite")
    for line in render(table):
        terminalreporter.write_line(line)
    missing = [entry for row in table[:-1] for entry in row.not_passed]
    for entry in missing:
        terminalreporter.write_line(f"  {entry}")
