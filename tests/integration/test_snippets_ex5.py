"""Exercise 5: the shown snippets, pasted in order from the lab folder, pass the checks (with the lab's tags).

They use exercise 2's download (course/mlflow_model.zip), so exercise 2's snippets run first. The image
snippet records the push as the sandbox's step does; MLflow's deployment client deploys to the sandbox.
"""
import ast
import dataclasses

import pytest

from backend.aws import Target
from backend.exercises import get_exercise
from backend.exercises import ex5_sagemaker as ex5
from backend.lab import LabContext, apply_teardown, run_checks, teardown_plan
from backend.names import propose_svc
from backend.sandbox import get_sandbox_info

from .snippets import run_snippets


@pytest.fixture
def ctx(sandbox_process):
    if "sagemaker" not in get_sandbox_info(sandbox_process).compute:
        pytest.skip("the sandbox runs no SageMaker compute (register SageMakerCompute in default_compute())")
    return LabContext.create(Target.sandbox(endpoint_url=sandbox_process), propose_svc("snip5"))


def test_the_shown_code_of_exercise_5_rebuilds_it(ctx):
    run_snippets(ctx, get_exercise(2))
    assert (ctx.workdir / "course" / "mlflow_model.zip").is_file()

    image, _, _, deployed, answer = run_snippets(ctx, ex5.EXERCISE)
    assert image.startswith("sha256:")
    assert deployed.strip() == "InService"
    [[below, above]] = ast.literal_eval(answer.strip())  # the query snippet prints MLflow's "predictions"
    assert abs(below + above - 1) < 1e-6

    failed = [r for r in run_checks(ctx, ex5.EXERCISE) if not r.passed]
    assert not failed, failed
    assert "as the local model" in run_checks(ctx, ex5.EXERCISE)[3].observed

    # Everything the snippets made carries the lab's tags: clean-up finds it all as the student's own
    # (the serving image stays: one per account, shared by the class).
    plan = teardown_plan(ctx, ex5.EXERCISE)
    assert {d.kind for d in plan} == {"endpoint", "endpoint-config", "model", "bucket", "role", "policy"}, plan
    assert all(d.allowed for d in plan), [d for d in plan if not d.allowed]
    done = apply_teardown(ctx, ex5.EXERCISE, plan)
    assert all(r.status == "done" for r in done), done
    assert teardown_plan(ctx, ex5.EXERCISE) == []
    apply_teardown(ctx, get_exercise(2), teardown_plan(ctx, get_exercise(2)))


def test_pasted_twice_the_image_snippet_still_succeeds(ctx):
    """The image is pushed once per account: a second paste (or a classmate's push) is not an error."""
    image_only = dataclasses.replace(ex5.EXERCISE, steps=(ex5.EXERCISE.step("image"),))
    [once] = run_snippets(ctx, image_only)
    assert run_snippets(ctx, image_only) == [once]
