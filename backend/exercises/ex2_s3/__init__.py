"""Exercise 2: S3 with boto3 — region, course files, a bucket, an upload."""
from __future__ import annotations

from ...i18n import N_
from ...lab import Exercise
from . import checks, steps, teardown
from .state import State, observe

INTRO = N_("""\
S3 stores objects (files) in buckets. With boto3 you will read the region your session works in,
download the course files from the course bucket `layerfiles-mlops-course`, create a bucket of your
own and upload `input_batch.csv` to it. Bucket names are global across all AWS accounts, which is
why yours carries your service name.""")

EXERCISE: Exercise[State] = Exercise(
    number=2, title=N_("S3 with boto3"), intro=INTRO, observe=observe,
    steps=steps.STEPS, checks=checks.CHECKS, teardown=teardown.plan)
