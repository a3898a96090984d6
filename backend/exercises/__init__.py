"""The lab's exercises, by number."""
from __future__ import annotations

from ..lab import Exercise
from . import ex1_credentials, ex2_s3, ex3_lambda, ex4_ec2, ex5_sagemaker

EXERCISES: dict[int, Exercise] = {ex.number: ex for ex in (
    ex1_credentials.EXERCISE, ex2_s3.EXERCISE, ex3_lambda.EXERCISE, ex4_ec2.EXERCISE, ex5_sagemaker.EXERCISE)}


def get_exercise(number: int) -> Exercise:
    """Return exercise `number`, or raise KeyError naming the ones that exist."""
    if number not in EXERCISES:
        raise KeyError(f"No exercise {number}: available {sorted(EXERCISES)}")
    return EXERCISES[number]
