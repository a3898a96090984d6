"""The shape every exercise shares: one State, checks over it, steps that plan from it, options.

An exercise is a package with the same files (see backend/exercises/ex2_s3/):
- state.py     `observe(ctx) -> State`: one read of the account; `from_snapshot(view)` builds the
               same State from the class overview's bulk listings (what listings cannot see is UNSEEN)
- checks.py    pure functions of State -> CheckResult
- steps.py     each step plans from State (create / update / none, and why) and applies
- snippets.py  the code each step shows, built from the same values the step uses
- teardown.py  what to delete, as a plan for the tag-guarded deleter (backend/deleter.py)

`plan()` is a real dry run (it reads, never writes); `apply()` runs steps in order; `run_checks()`
observes once and judges; the class overview judges its own States with the very same checks.
"""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, Literal, TypeVar

from .aws import Aws, Target
from .config import user_data_dir
from .errors import LabError
from .i18n import _
from .names import LabNames

Progress = Callable[[str], None]
State = TypeVar("State")
Action = Literal["create", "update", "none", "refuse"]


def no_progress(_: str) -> None:
    """Default progress sink: ignore."""


class Unseen:
    """What the class snapshot cannot see with its fixed listings (e.g. an object inside a bucket)."""

    _instance: "Unseen | None" = None

    def __new__(cls) -> "Unseen":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSEEN"

    def __bool__(self) -> bool:
        raise TypeError(_("UNSEEN has no truth value: test `is UNSEEN` first"))


UNSEEN = Unseen()


@dataclass(frozen=True)
class Option:
    """A choice an exercise reads: declared once, rendered by pages, set on the CLI with --option NAME=VALUE."""

    name: str
    label: str
    default: Any  # a value, or a callable (ctx) -> value for defaults that depend on the target
    help: str = ""
    choices: tuple[Any, ...] = ()

    def get(self, ctx: "LabContext") -> Any:
        """Return the value chosen in ctx, else the default."""
        if self.name in ctx.options:
            return ctx.options[self.name]
        return self.default(ctx) if callable(self.default) else self.default

    @property
    def kind(self) -> type:
        """bool, int or str: how a CLI string is parsed and which widget a page draws."""
        if self.choices:
            return type(self.choices[0])
        return type(self.default) if isinstance(self.default, (bool, int)) else str

    def parse(self, text: str) -> Any:
        """Return the value of a CLI string, or raise ValueError saying what is accepted."""
        if self.kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(_("option {name}: {text} is not true/false").format(name=self.name, text=repr(text)))
        value: Any = int(text) if self.kind is int else text
        if self.choices and value not in self.choices:
            raise ValueError(_("option {name}: {text} is not one of {choices}").format(
                name=self.name, text=repr(text), choices=", ".join(map(str, self.choices))))
        return value


@dataclass(frozen=True)
class LabContext:
    """What a step needs: the AWS facade, the student's names and options, their local work folder."""

    aws: Aws
    svc: str
    # The exercise's options as chosen (missing ones take the Option's default).
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def create(cls, target: Target, svc: str, **options: Any) -> "LabContext":
        return cls(Aws(target), LabNames(svc).svc, dict(options))

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    @property
    def names(self) -> LabNames:
        return LabNames(self.svc)

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def workdir(self) -> Path:
        """Return the student's lab folder (downloads, keys), created on first use.

        It is the one folder every exercise works in: the steps use it, and the snippets the pages
        show are run from it (they name it in their first line and use paths relative to it).
        """
        path = user_data_dir() / self.svc
        path.mkdir(parents=True, exist_ok=True)
        return path

    def folder_note(self) -> str:
        """The first line of every snippet: where to run it."""
        # Babel does not look inside f-strings (Python 3.11): the marked text is a call of its own.
        note = _("Run from your lab folder:")
        return f"# {note}  cd {self.workdir}"


@dataclass(frozen=True)
class StepResult:
    """What a step did: `changed` is False when it found everything already in place."""

    step: str
    changed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckResult:
    """One progress check: pass/fail, what it saw, and on failure a hint.

    `passed` is None only when judged from the class snapshot, which cannot see that part
    (the drill-down then runs the live checks).
    """

    id: str
    title: str
    passed: bool | None
    observed: str
    hint: str = ""
    broken: bool = False  # failed in a way that blocks the student (a handout defect, a failed resource)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unseen(check_id: str, title: str) -> CheckResult:
    """The result of a check whose input the class snapshot cannot see."""
    return CheckResult(check_id, title, None, _("Not visible in the class listings: open the student's drill-down."))


@dataclass(frozen=True)
class Decision:
    """What a step would do now, and why."""

    action: Action
    reason: str


def create(reason: str) -> Decision:
    return Decision("create", reason)


def update(reason: str) -> Decision:
    return Decision("update", reason)


def nothing(reason: str) -> Decision:
    return Decision("none", reason)


@dataclass(frozen=True)
class PlannedStep:
    """One line of a dry run."""

    step: str
    title: str
    action: Action
    reason: str
    code: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Step(Generic[State]):
    """A lab step: an explanation, how it plans from State, the function that runs it, the code it runs."""

    id: str
    title: str
    explain: str
    run: Callable[[LabContext, Progress], StepResult]
    code: Callable[[LabContext], str]
    plan: Callable[[LabContext, State], Decision]


@dataclass(frozen=True)
class Check(Generic[State]):
    """A progress check: a pure function of the exercise's State."""

    id: str
    title: str
    judge: Callable[[State], CheckResult]


@dataclass(frozen=True)
class Exercise(Generic[State]):
    """An exercise: how to observe it, its steps in order, its checks, options and teardown plan."""

    number: int
    title: str
    intro: str
    observe: Callable[[LabContext], State]
    steps: tuple[Step[State], ...]
    checks: tuple[Check[State], ...]
    options: tuple[Option, ...] = ()
    # (ctx, state) -> the deletions teardown would make (backend.deleter.Deletion), or None: nothing to undo
    teardown: Callable[[LabContext, State], list[Any]] | None = None
    # Runs after the deleter removed one of the plan's resources (e.g. the key pair's local private key file).
    on_deleted: Callable[[LabContext, Any], None] | None = None

    def step(self, step_id: str) -> Step[State]:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(_("exercise {number} has no step {step}: steps are {steps}").format(
            number=self.number, step=repr(step_id), steps=", ".join(s.id for s in self.steps)))

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        if not self.options:
            raise KeyError(_("exercise {number} has no options").format(number=self.number))
        raise KeyError(_("exercise {number} has no option {name} (options: {known})").format(
            number=self.number, name=repr(name), known=", ".join(o.name for o in self.options)))

    def parse_options(self, pairs: list[str]) -> dict[str, Any]:
        """Return {name: value} from CLI 'NAME=VALUE' strings, or raise ValueError saying what is wrong."""
        out: dict[str, Any] = {}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            if not sep:
                raise ValueError(_("--option {pair}: write NAME=VALUE").format(pair=repr(pair)))
            try:
                option = self.option(name.strip())
            except KeyError as err:
                raise ValueError(err.args[0]) from None
            out[option.name] = option.parse(text)
        return out

    def judge(self, state: State) -> list[CheckResult]:
        """Return every check's result on a State (live or from the class snapshot)."""
        return [check.judge(state) for check in self.checks]


def plan(ctx: LabContext, exercise: Exercise, steps: list[Step] | tuple[Step, ...] | None = None) -> list[PlannedStep]:
    """Return what running the steps would do now (a dry run: one read of the account, no writes).

    A step that would meet another student's resource plans "refuse" with the reason.
    """
    from .ownership import NotYours

    state = exercise.observe(ctx)
    out = []
    for step in steps if steps is not None else exercise.steps:
        try:
            decision = step.plan(ctx, state)
        except NotYours as err:
            decision = Decision("refuse", err.message)
        out.append(PlannedStep(step.id, _(step.title), decision.action, decision.reason, step.code(ctx)))
    return out


def apply(ctx: LabContext, steps: tuple[Step, ...] | list[Step], on_progress: Progress = no_progress) -> list[StepResult]:
    """Run steps in order, reporting each; stop at the first failure (the error goes up)."""
    results = []
    for i, step in enumerate(steps, 1):
        on_progress(f"[{i}/{len(steps)}] {_(step.title)}…")
        result = step.run(ctx, on_progress)
        on_progress(f"[{i}/{len(steps)}] {result.summary}")
        results.append(result)
    return results


def run_checks(ctx: LabContext, exercise: Exercise) -> list[CheckResult]:
    """Observe the account once and judge every check of the exercise.

    An unreachable sandbox or bad credentials raise: one clear error beats N failed checks.
    """
    return exercise.judge(exercise.observe(ctx))


def teardown_plan(ctx: LabContext, exercise: Exercise) -> list[Any]:
    """Return the deletions teardown would make for the student (a dry run)."""
    if exercise.teardown is None:
        return []
    return exercise.teardown(ctx, exercise.observe(ctx))


def apply_teardown(ctx: LabContext, exercise: Exercise, deletions: list[Any],
                   on_progress: Progress = no_progress) -> list[Any]:
    """Carry out a teardown plan through the tag-guarded deleter (tags re-read before each deletion)."""
    from .deleter import apply_deletions, ordered

    hook = (lambda item: exercise.on_deleted(ctx, item)) if exercise.on_deleted else None
    return apply_deletions(ctx.aws, ordered(deletions), on_progress, hook)


Progression = Literal["done", "started", "todo"]


@dataclass(frozen=True)
class ExerciseProgress:
    """Where a student stands in one exercise, from live checks (never from remembered clicks)."""

    number: int
    status: Progression
    passed: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def progress(ctx: LabContext, exercise: Exercise) -> ExerciseProgress:
    """Return done (every check passes), started (something of it exists or a check that needs work passes) or todo.

    One observation of the account serves the checks and the teardown plan.
    """
    state = exercise.observe(ctx)
    results = exercise.judge(state)
    passed = sum(bool(r.passed) for r in results)
    if passed == len(results):
        status: Progression = "done"
    elif exercise.teardown is not None and exercise.teardown(ctx, state):
        status = "started"
    else:
        status = "todo"
    return ExerciseProgress(exercise.number, status, passed, len(results))


class AlreadyRunning(LabError):
    """The same student's exercise is running elsewhere (another tab, the CLI)."""


@contextmanager
def exclusive(ctx: LabContext, number: int) -> Iterator[None]:
    """Hold the student's lock for one exercise while its steps run: one run per student and exercise at a time.

    Two tabs or a tab and the CLI pressing the same button would otherwise race to create the same
    resource. The second is refused at once, with a sentence saying why, rather than waiting unseen.
    """
    locks = ctx.workdir / ".locks"
    locks.mkdir(exist_ok=True)
    with open(locks / f"exercise-{number}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(_("Exercise {number} is already running for {svc} (in another tab or the "
                                   "command line): wait for it to finish, then run it again.").format(
                                       number=number, svc=ctx.svc), "AlreadyRunning") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
