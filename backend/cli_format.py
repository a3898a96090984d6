"""Plain text for the command line: the class overview, a deletion plan, what a cleanup did.

The backend returns data (ClassOverview, Deletion, DeletionResult); only the CLI turns it into text.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .deleter import Deletion, DeletionResult
    from .monitor.overview import ClassOverview

# Plain words, not the page's symbols: a terminal column stays aligned in any font.
_CLI_CELL = {"done": "done", "started": "half", "broken": "BROKE", "todo": "-"}


def format_overview(view: "ClassOverview") -> str:
    """Return the overview as a plain-text table (the CLI's `monitor`)."""
    from .monitor.overview import EXERCISE_NUMBERS

    head = f"{'student':<24} " + " ".join(f"ex{n:<4}" for n in EXERCISE_NUMBERS) + f" {'$/h':>7} {'$ so far':>8}  stuck"
    lines = [f"{len(view.rows)} students in {view.target} at {view.taken_at:%Y-%m-%d %H:%M:%S} UTC "
             f"({view.total_calls} AWS requests, {view.seconds:.2f} s)", head]
    for r in view.rows:
        cells = " ".join(f"{_CLI_CELL[r.cells[n].state]:<5}" for n in EXERCISE_NUMBERS)
        tag = "" if r.tagged else " [untagged]"
        lines.append(f"{(r.student + tag)[:24]:<24} {cells} {r.hourly_usd:>7.3f} {r.so_far_usd:>8.2f}  "
                     + ("; ".join(r.stuck_reasons) if r.stuck else ""))
    lines.append(f"Total ${view.total_hourly_usd:.3f}/h, ${view.total_so_far_usd:.2f} so far "
                 f"(on-demand prices of {view.prices_as_of}); {len(view.filter(stuck=True))} stuck.")
    return "\n".join(lines)


def format_plan(plan: Sequence["Deletion"]) -> str:
    """Return a dry-run list, one line per resource: what will happen to it and why."""
    if not plan:
        return "Nothing to clean up."
    lines = [f"{(p.action if p.allowed else 'leave'):<28} {p.kind:<15} {p.name}  ({p.why})" for p in plan]
    allowed = sum(p.allowed for p in plan)
    return "\n".join(lines + [f"{allowed} to change, {len(plan) - allowed} left alone."])


def format_results(results: Sequence["DeletionResult"]) -> str:
    """Return what a cleanup did, one line per resource, and a count."""
    lines = [f"{r.status:<8} {r.kind:<15} {r.name}: {r.message}" for r in results]
    counts = Counter(r.status for r in results)
    return "\n".join(lines + [", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "Nothing done."])
