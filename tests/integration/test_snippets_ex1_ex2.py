"""Exercises 1 and 2: the shown snippets, pasted in order from the lab folder, pass the checks (with the lab's tags)."""
import uuid

from backend.aws import Aws, Target
from backend.exercises import get_exercise
from backend.lab import LabContext, run_checks, teardown_plan

from .snippets import run_snippets


def test_the_shown_code_of_exercises_1_and_2_rebuilds_them(sandbox_process):
    ctx = LabContext(Aws(Target.sandbox(endpoint_url=sandbox_process)), f"snip-{uuid.uuid4().hex[:6]}")
    [identity] = run_snippets(ctx, get_exercise(1))
    assert "Account" in identity
    run_snippets(ctx, get_exercise(2))
    for number in (1, 2):
        failed = [r for r in run_checks(ctx, get_exercise(number)) if not r.passed]
        assert not failed, failed
    assert (ctx.workdir / "course" / "model.onnx").exists()
    # the snippet tagged the bucket as the button does: clean-up finds it as the student's own
    [bucket] = teardown_plan(ctx, get_exercise(2))
    assert bucket.allowed and bucket.name == ctx.names.data_bucket
