"""Load: the same step run twice at the same moment (two tabs, or the CLI and a page) makes one resource.

(Exercise 4's instance: tests/test_exercise_4_model.py; 100 uploads: tests/sandbox/test_lambda_load.py;
both marked there.) Here: exercise 3's layer, 41 MB on the real course, published once however many
runs race.
"""
from __future__ import annotations

import threading

import pytest

from backend import lambda_
from backend.exercises import get_exercise
from backend.lab import LabContext, apply

pytestmark = pytest.mark.reliability("load")

SVC = "anna-1a2b3c"


def run_at_once(ctx: LabContext, step_id: str, runs: int) -> list:
    barrier, errors, results = threading.Barrier(runs), [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(get_exercise(3).step(step_id).run(ctx, lambda _: None))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("runs", [2, 4])
def test_layer_step_run_at_once_publishes_one_version(moto_aws, course_bucket, runs):
    ctx = LabContext(moto_aws, SVC)
    apply(ctx, [get_exercise(3).step("buckets")])
    results = run_at_once(ctx, "layer", runs)

    versions = moto_aws.client("lambda").list_layer_versions(LayerName=ctx.names.lambda_layer)["LayerVersions"]
    assert len(versions) == 1, versions
    assert sorted(r.changed for r in results) == [False] * (runs - 1) + [True]
    assert {r.details["arn"] for r in results} == {versions[0]["LayerVersionArn"]}
    # and the plan agrees there is nothing left to do
    latest = lambda_.latest_layer_version(moto_aws, ctx.names.lambda_layer)
    assert latest["Description"] == ctx.names.lambda_layer_description
