"""The class overview: students × exercises, judged by the exercises' own checks, with stuck flags and cost.

For each student the snapshot becomes a StudentView (their resources as seen and as listed); each
exercise builds its State from it (`FROM_SNAPSHOT[n]`) and judges it with its own checks
(`EXERCISES[n].judge`). A check whose input the listings cannot see comes back with passed None
and is left to the drill-down: no check rule exists twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..classview import StudentView
from ..i18n import N_, _, number
from ..lab import CheckResult
from ..names import InvalidServiceName, LabNames
from ..ownership import kind_label
from ..prices import PRICES_AS_OF
from .snapshot import ClassSnapshot, Resource, by_kind

log = logging.getLogger(__name__)

STUCK_AFTER_MIN = 30.0  # no new or changed resource for this long, with an exercise half done
EXERCISE_NUMBERS = (1, 2, 3, 4, 5)
# Shown with _() (only "Credentials" has an Italian word; the services keep their names).
EXERCISE_TITLES = {1: N_("Credentials"), 2: "S3", 3: "Lambda", 4: "EC2", 5: "SageMaker"}

# What the listings show of each exercise; the exercise's checks decide what that proves, and what
# needs per-student calls (objects, notifications, logs, HTTP answers) waits for the drill-down.
# Shown with _(); `monitor --json` keeps them in English.
SNAPSHOT_CHECKS: dict[int, str] = {
    1: N_("the student has resources (so their credentials worked)"),
    2: N_("bucket data-<svc> (its region and objects: drill-down)"),
    3: N_("buckets, policy document, role trust and attachments, function configuration, layer, log group "
          "(public access block, model object, trigger, predictions: drill-down)"),
    4: N_("key pair, instance state, security group rules (private key file, image, /health, /predict: drill-down)"),
    5: N_("role trust and attachments, endpoint status (serving image in ECR, invocation: drill-down)"),
}
# Plain symbols, not emoji: they render in any font (a machine without an emoji font shows boxes).
CELL_ICONS = {"done": "●", "started": "◐", "broken": "✗", "todo": "○"}


@dataclass(frozen=True)
class Cell:
    """One student × exercise: todo, started, done or broken, and the checks behind it."""

    exercise: int
    state: str
    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.passed)

    @property
    def known(self) -> int:
        return sum(1 for c in self.checks if c.passed is not None)

    def label(self) -> str:
        if self.state == "todo":
            return CELL_ICONS["todo"]
        return f"{CELL_ICONS[self.state]} {self.passed}/{self.known}"


@dataclass(frozen=True)
class StudentRow:
    """One student of the overview."""

    student: str
    cells: dict[int, Cell]
    resources: tuple[Resource, ...]
    tagged: bool  # at least one resource carries the lab's tags
    untagged: int  # resources recognised by name only (never deleted by cleanup)
    last_activity: datetime | None
    idle_minutes: float | None
    stuck: bool
    stuck_reasons: tuple[str, ...]
    hourly_usd: float
    so_far_usd: float
    unpriced: tuple[str, ...]

    @property
    def current_exercise(self) -> int:
        """The highest exercise the student has started (1 if none)."""
        return max((n for n, c in self.cells.items() if c.state != "todo"), default=1)

    @property
    def seeded(self) -> bool:
        return bool(self.resources) and all(r.seeded for r in self.resources)


@dataclass(frozen=True)
class ClassOverview:
    """The class: one row per student, cost totals, and what the snapshot cost to take."""

    taken_at: datetime
    region: str
    target: str
    rows: tuple[StudentRow, ...]
    calls: dict[str, int]
    seconds: float
    stuck_after_min: float
    prices_as_of: str = PRICES_AS_OF

    @property
    def total_hourly_usd(self) -> float:
        return sum(r.hourly_usd for r in self.rows)

    @property
    def total_so_far_usd(self) -> float:
        return sum(r.so_far_usd for r in self.rows)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def row(self, student: str) -> StudentRow | None:
        return next((r for r in self.rows if r.student == student), None)

    def filter(self, exercise: int | None = None, stuck: bool | None = None,
               running_cost: bool | None = None) -> list[StudentRow]:
        """Return the rows at exercise `exercise` (their highest started), stuck or not, billing or not."""
        rows = list(self.rows)
        if exercise is not None:
            rows = [r for r in rows if r.current_exercise == exercise]
        if stuck is not None:
            rows = [r for r in rows if r.stuck == stuck]
        if running_cost is not None:
            rows = [r for r in rows if (r.hourly_usd > 0 or bool(r.unpriced)) == running_cost]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (the CLI's `monitor --json`)."""
        return {
            "taken_at": self.taken_at.isoformat(), "region": self.region, "target": self.target,
            "prices_as_of": self.prices_as_of, "total_hourly_usd": round(self.total_hourly_usd, 4),
            "total_so_far_usd": round(self.total_so_far_usd, 4), "calls": self.calls, "seconds": round(self.seconds, 3),
            "snapshot_checks": SNAPSHOT_CHECKS,
            "students": [{
                "student": r.student, "tagged": r.tagged, "untagged_resources": r.untagged,
                "current_exercise": r.current_exercise, "stuck": r.stuck, "stuck_reasons": list(r.stuck_reasons),
                "idle_minutes": None if r.idle_minutes is None else round(r.idle_minutes, 1),
                "hourly_usd": round(r.hourly_usd, 4), "so_far_usd": round(r.so_far_usd, 4), "unpriced": list(r.unpriced),
                "exercises": {str(n): {"state": c.state, "checks": [k.to_dict() for k in c.checks]}
                              for n, c in r.cells.items()},
                "resources": [{"kind": x.kind, "name": x.name, "id": x.id, "exercise": x.exercise, "tagged": x.tagged,
                               "state": x.state, "created": x.created.isoformat() if x.created else None,
                               "instance_type": x.instance_type, "hourly_usd": x.hourly_usd} for x in r.resources],
            } for r in self.rows],
        }


def student_view(snapshot: ClassSnapshot, student: str, mine: list[Resource] | tuple[Resource, ...] | None = None,
                 ) -> StudentView | None:
    """Return what the snapshot saw of one student, as the exercises' from_snapshot reads it (None: no service name)."""
    try:
        names = LabNames(student)
    except InvalidServiceName:
        return None
    kinds = by_kind(snapshot.of(student) if mine is None else mine)
    seen = {kind: {name: r.seen for name, r in found.items()} for kind, found in kinds.items()}
    raw = {kind: {name: r.raw for name, r in found.items()} for kind, found in kinds.items()}
    for kind, shared in snapshot.shared.items():  # e.g. LabRole: any student's function may use it
        for name, entry in shared.items():
            raw.setdefault(kind, {}).setdefault(name, entry)
    return StudentView(names, snapshot.region, seen, raw)


def judge(view: StudentView, exercise: int) -> list[CheckResult]:
    """Return exercise `exercise`'s checks judged on the State built from the view (passed None: not visible)."""
    from ..exercises import EXERCISES, FROM_SNAPSHOT

    return EXERCISES[exercise].judge(FROM_SNAPSHOT[exercise](view))


def overview(snapshot: ClassSnapshot, stuck_after_min: float = STUCK_AFTER_MIN,
             now: datetime | None = None) -> ClassOverview:
    """Return the class overview: each student's exercises judged from the snapshot, stuck flags and cost."""
    now = now or snapshot.taken_at
    by_student: dict[str, list[Resource]] = {}
    for r in snapshot.resources:
        by_student.setdefault(r.student, []).append(r)
    rows = tuple(_student_row(snapshot, student, tuple(by_student[student]), now, stuck_after_min)
                 for student in sorted(by_student))
    return ClassOverview(snapshot.taken_at, snapshot.region, snapshot.target, rows, dict(snapshot.calls),
                         snapshot.seconds, stuck_after_min)


def _evaluate(exercise: int, view: StudentView | None, student: str) -> list[CheckResult]:
    if view is None:
        return [CheckResult("name", _("Service name"), None,
                            _("{student} is not a service name: drill-down only.").format(student=repr(student)))]
    try:
        return judge(view, exercise)
    except Exception as exc:  # one odd resource must not take the whole class view down
        log.exception("exercise %s could not be judged for %s from the snapshot", exercise, student)
        return [CheckResult("snapshot", _("Judged from the listings"), None,
                            _("Could not judge from the listings ({error}): use the drill-down.")
                            .format(error=f"{type(exc).__name__}: {exc}"))]


def _student_row(snap: ClassSnapshot, student: str, mine: tuple[Resource, ...], now: datetime,
                 stuck_after_min: float) -> StudentRow:
    view = student_view(snap, student, mine)
    cells = {n: _cell(n, _evaluate(n, view, student), mine) for n in EXERCISE_NUMBERS}
    last = max((r.created for r in mine if r.created), default=None)
    idle = (now - last).total_seconds() / 60 if last else None
    # Built in the caller's thread, in its language (the overview is made per page run or CLI call).
    reasons = [_("Exercise {n}: {observed}").format(n=n, observed=c.observed) + (f" {c.hint}" if c.hint else "")
               for n, cell in cells.items() for c in cell.checks if c.broken]
    reasons += [_("{kind} {name} is {state}").format(kind=kind_label(r.kind), name=r.name, state=r.state)
                for r in mine if r.kind in ("function", "endpoint") and r.state.startswith(("Failed", "UpdateFailed"))
                and not any(r.name in x for x in reasons)]
    half_done = [n for n, cell in cells.items() if cell.state == "started"]
    if idle is not None and idle > stuck_after_min and half_done:
        reasons.append(_("No change for {minutes} min with exercise {n} unfinished")
                       .format(minutes=number(round(idle)), n=half_done[-1]))
    hourly, so_far, unpriced, unknown = 0.0, 0.0, [], _("unknown type")
    for r in mine:
        if r.hourly_usd is None:
            unpriced.append(f"{kind_label(r.kind)} {r.name} ({r.instance_type or unknown})")
        elif r.hourly_usd > 0:
            hourly += r.hourly_usd
            age = r.age(now)
            so_far += r.hourly_usd * (age.total_seconds() / 3600 if age else 0.0)
    return StudentRow(student, cells, mine, any(r.tagged for r in mine),
                      sum(1 for r in mine if not r.tagged and r.tags_known), last, idle,
                      bool(reasons), tuple(reasons), hourly, so_far, tuple(unpriced))


def _cell(exercise: int, checks: list[CheckResult], mine: tuple[Resource, ...]) -> Cell:
    started = exercise == 1 or any(r.exercise == exercise for r in mine)
    if not started and not any(c.passed for c in checks):
        return Cell(exercise, "todo", tuple(checks))
    if any(c.broken for c in checks):
        state = "broken"
    elif any(c.passed is not None for c in checks) and all(c.passed for c in checks if c.passed is not None):
        state = "done"  # never "done" on no evidence: with nothing the listings can judge, it is "started"
    else:
        state = "started"
    return Cell(exercise, state, tuple(checks))
