"""The shape every exercise shares: steps (idempotent, with the code they run) and checks.

An exercise is plain data: a list of Step and a list of Check. `plan()` lists what would run,
`apply()` runs the steps in order and reports progress; checks read the account's real state, so
they pass however the student did the work.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .aws import Aws, Target
from .config import user_data_dir
from .names import LabNames

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    """Default progress sink: ignore."""


@dataclass(frozen=True)
class LabContext:
    """What a step needs: the AWS facade, the student's names and their local work folder."""

    aws: Aws
    svc: str
    # Per-student choices steps read, e.g. {"use_lab_role": True, "include_input": True}.
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
        """Return the student's local folder (downloads, keys), created on first use."""
        path = user_data_dir() / self.svc
        path.mkdir(parents=True, exist_ok=True)
        return path


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
    """One progress check: pass/fail, what it saw, and on failure a hint."""

    id: str
    title: str
    passed: bool
    observed: str
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Step:
    """A lab step: an explanation, the function that runs it, and the boto3 code it runs."""

    id: str
    title: str
    explain: str
    run: Callable[[LabContext, Progress], StepResult]  # (ctx, on_progress)
    code: Callable[[LabContext], str]


@dataclass(frozen=True)
class Check:
    """A progress check over real state."""

    id: str
    title: str
    run: Callable[[LabContext], CheckResult]


@dataclass(frozen=True)
class Exercise:
    """An exercise: its steps in order, its checks, and how to undo it (None if nothing to undo)."""

    number: int
    title: str
    intro: str
    steps: tuple[Step, ...]
    checks: tuple[Check, ...]
    teardown: Callable[[LabContext, Progress], list[StepResult]] | None = None

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"exercise {self.number} has no step {step_id!r}")


def apply(ctx: LabContext, steps: tuple[Step, ...] | list[Step], on_progress: Progress = no_progress) -> list[StepResult]:
    """Run steps in order, reporting each; stop at the first failure (the error goes up)."""
    results = []
    for i, step in enumerate(steps, 1):
        on_progress(f"[{i}/{len(steps)}] {step.title}…")
        result = step.run(ctx, on_progress)
        on_progress(f"[{i}/{len(steps)}] {result.summary}")
        results.append(result)
    return results


def run_checks(ctx: LabContext, exercise: Exercise) -> list[CheckResult]:
    """Run every check of an exercise; a check that errors fails with the error as what it saw.

    An unreachable sandbox or bad credentials raise instead: one clear error beats N failed checks.
    """
    from .errors import explain

    ctx.aws.account_id()
    results = []
    for check in exercise.checks:
        try:
            results.append(check.run(ctx))
        except Exception as exc:  # a check must report, never crash the panel
            err = explain(exc, ctx.aws.target.endpoint_url)
            results.append(CheckResult(check.id, check.title, False, err.message,
                                       "Fix the problem above, then check again."))
    return results
