"""Plain text for the command line: the class overview, a deletion plan, what a cleanup did.

The backend returns data (ClassOverview, Deletion, DeletionResult); only the CLI turns it into text.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Sequence

from .i18n import N_, _, moment, ngettext, number

if TYPE_CHECKING:
    from .deleter import Deletion, DeletionResult
    from .monitor.overview import ClassOverview

# Plain words, not the page's symbols: a terminal column stays aligned in any font.
# Shown with _(): a translation should keep to five letters.
_CLI_CELL = {"done": N_("done"), "started": N_("half"), "broken": N_("BROKE"), "todo": "-"}
# What a cleanup did to a resource (DeletionResult.status is a value; these are its words).
_STATUSES = {"done": N_("done"), "gone": N_("gone"), "skipped": N_("skipped"), "failed": N_("failed")}


def _status(status: str) -> str:
    return _(_STATUSES[status]) if status in _STATUSES else status


def format_overview(view: "ClassOverview") -> str:
    """Return the overview as a plain-text table (the CLI's `monitor`), in the current language."""
    from .monitor.naming import NO_STUDENT
    from .monitor.overview import EXERCISE_NUMBERS

    student, so_far, stuck = _("student"), _("$ so far"), _("stuck")
    head = f"{student:<24} " + " ".join(f"ex{n:<4}" for n in EXERCISE_NUMBERS) + f" {'$/h':>7} {so_far:>8}  {stuck}"
    lines = [ngettext("{n} student in {target} at {time} UTC ({calls} AWS requests, {seconds} s)",
                      "{n} students in {target} at {time} UTC ({calls} AWS requests, {seconds} s)", len(view.rows))
             .format(n=len(view.rows), target=view.target, time=moment(view.taken_at),
                     calls=number(view.total_calls), seconds=number(view.seconds, 2)), head]
    for r in view.rows:
        cells = " ".join(f"{_(_CLI_CELL[r.cells[n].state]):<5}" for n in EXERCISE_NUMBERS)
        tag = "" if r.tagged else " " + _("[untagged]")
        student = _(r.student) if r.student == NO_STUDENT else r.student
        lines.append(f"{(student + tag)[:24]:<24} {cells} {number(r.hourly_usd, 3):>7} {number(r.so_far_usd, 2):>8}  "
                     + ("; ".join(r.stuck_reasons) if r.stuck else ""))
    stuck_rows = len(view.filter(stuck=True))
    lines.append(ngettext("Total ${hourly}/h, ${so_far} so far (on-demand prices of {date}); {stuck} stuck.",
                          "Total ${hourly}/h, ${so_far} so far (on-demand prices of {date}); {stuck} stuck.", stuck_rows)
                 .format(hourly=number(view.total_hourly_usd, 3), so_far=number(view.total_so_far_usd, 2),
                         date=view.prices_as_of, stuck=stuck_rows))
    return "\n".join(lines)


def format_plan(plan: Sequence["Deletion"]) -> str:
    """Return a dry-run list, one line per resource: what will happen to it and why."""
    from .deleter import action_label
    from .ownership import kind_label

    if not plan:
        return _("Nothing to clean up.")
    leave = _("leave")
    lines = [f"{(action_label(p.action) if p.allowed else leave):<28} {kind_label(p.kind):<15} {p.name}  ({p.why})"
             for p in plan]
    allowed = sum(p.allowed for p in plan)
    return "\n".join(lines + [_("{allowed} to change, {left} left alone.").format(allowed=allowed,
                                                                                 left=len(plan) - allowed)])


def format_results(results: Sequence["DeletionResult"]) -> str:
    """Return what a cleanup did, one line per resource, and a count."""
    from .ownership import kind_label

    lines = [f"{_status(r.status):<8} {kind_label(r.kind):<15} {r.name}: {r.message}" for r in results]
    counts = Counter(r.status for r in results)
    return "\n".join(lines + [", ".join(_("{n} {status}").format(n=n, status=_status(s))
                                         for s, n in sorted(counts.items())) or _("Nothing done.")])
