"""Exercise 4: the shown snippets, pasted in order from the lab folder, launch the API and pass the checks."""
import base64
import re
import stat
import uuid

import pytest

from backend.aws import Aws, Target
from backend.exercises.ex4_ec2 import EXERCISE, key_file, lab_instance, user_data
from backend.lab import LabContext, apply_teardown, run_checks, teardown_plan
from backend.sandbox import get_sandbox_info

from .snippets import run_snippets


@pytest.fixture
def ctx(sandbox_process):
    if "ec2" not in (get_sandbox_info(sandbox_process).compute or {}):
        pytest.skip("the sandbox runs no EC2 compute: add Ec2Compute to default_compute()")
    ctx = LabContext(Aws(Target.sandbox(endpoint_url=sandbox_process)), f"snip-{uuid.uuid4().hex[:6]}")
    yield ctx
    apply_teardown(ctx, EXERCISE, teardown_plan(ctx, EXERCISE))  # whatever a failed run left


def test_the_shown_code_of_exercise_4_rebuilds_it(ctx):
    outputs = dict(zip([s.id for s in EXERCISE.steps], run_snippets(ctx, EXERCISE)))
    assert "answers /health" in outputs["health"] and "'label'" in outputs["predict"]

    failed = [r for r in run_checks(ctx, EXERCISE) if not r.passed]
    assert not failed, failed
    # ssh refuses a private key others can read: the snippet saved it 0400, where the step keeps it
    assert stat.S_IMODE(key_file(ctx).stat().st_mode) == 0o400
    # the instance runs the step's own start-up script (only the presigned URL differs)
    raw = ctx.aws.client("ec2").describe_instance_attribute(InstanceId=lab_instance(ctx).id, Attribute="userData")
    script = base64.b64decode(raw["UserData"]["Value"]).decode()
    url = re.search(r"^BUNDLE_URL='([^']+)'$", script, re.MULTILINE).group(1)
    assert script == user_data(url)

    # every resource the snippets made carries the lab's tags: clean-up finds it as the student's own
    plan = teardown_plan(ctx, EXERCISE)
    assert sorted(d.kind for d in plan) == ["bucket", "instance", "key-pair", "security-group"]
    assert all(d.allowed for d in plan), [d for d in plan if not d.allowed]
    apply_teardown(ctx, EXERCISE, plan)
    assert teardown_plan(ctx, EXERCISE) == [] and not key_file(ctx).exists()
