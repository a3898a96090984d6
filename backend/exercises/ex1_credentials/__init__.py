"""Exercise 1: configure credentials and prove they work."""
from __future__ import annotations

from ...i18n import N_
from ...lab import Exercise
from . import checks, steps
from .state import State, observe

INTRO = N_("""\
Every call to AWS is signed with credentials. Configure them once with `aws configure` (access key,
secret key, region `eu-central-1`), as a named profile (`aws configure --profile NAME`), or through
the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` for learner labs).
Then prove they work by asking AWS who you are.""")

EXERCISE: Exercise[State] = Exercise(
    number=1, title=N_("Credentials"), intro=INTRO, observe=observe, steps=steps.STEPS, checks=checks.CHECKS)
