"""The lab's exercises, by number: each a package with state, checks, steps, snippets and teardown."""
from __future__ import annotations

from typing import Any, Callable

from ..classview import StudentView
from ..i18n import _
from ..lab import Exercise
from . import ex1_credentials, ex2_s3, ex3_lambda, ex4_ec2, ex5_sagemaker

_PACKAGES = (ex1_credentials, ex2_s3, ex3_lambda, ex4_ec2, ex5_sagemaker)
EXERCISES: dict[int, Exercise] = {p.EXERCISE.number: p.EXERCISE for p in _PACKAGES}
# The class overview builds each exercise's State from its listings with these, then judges it
# with the exercise's own checks.
FROM_SNAPSHOT: dict[int, Callable[[StudentView], Any]] = {
    p.EXERCISE.number: p.state.from_snapshot for p in _PACKAGES}


def get_exercise(number: int) -> Exercise:
    """Return exercise `number`, or raise KeyError naming the ones that exist."""
    if number not in EXERCISES:
        raise KeyError(_("No exercise {number}: available {numbers}").format(number=number, numbers=sorted(EXERCISES)))
    return EXERCISES[number]
