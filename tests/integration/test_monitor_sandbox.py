"""The instructor monitor against the sandbox: a seeded class of 30, its overview, and one student's cleanup."""
from __future__ import annotations

import pytest

from backend import monitor
from backend.aws import Aws, Target

CLASS_SIZE = 30


@pytest.fixture(scope="module")
def classroom(live_sandbox):
    """(facade, seeded students) for a class of CLASS_SIZE in the module's sandbox."""
    aws = Aws(Target.sandbox(endpoint_url=live_sandbox.url))
    progress: list[str] = []
    students = monitor.seed_class(aws, CLASS_SIZE, progress.append)
    assert progress[-1] == f"Seeded {CLASS_SIZE}/{CLASS_SIZE} students"
    return aws, students


def by_stage(stage: str) -> list[str]:
    return [svc for svc, s in monitor.seed_students(CLASS_SIZE) if s == stage]


def inventory(snapshot: monitor.ClassSnapshot) -> set[tuple[str, str, str, bool]]:
    return {(r.student, r.kind, r.name, r.tagged) for r in snapshot.resources}


def test_the_overview_of_a_seeded_class(classroom):
    aws, students = classroom
    snapshot = monitor.collect(aws)
    view = monitor.overview(snapshot)
    assert [r.student for r in view.rows] == sorted(students)
    assert {r.student for r in view.filter(stuck=True)} == set(by_stage("ex3-stuck-policy"))
    assert {r.student for r in view.filter(running_cost=True)} == set(by_stage("ex4-running") + by_stage("ex5-endpoint"))
    assert {r.student for r in view.rows if not r.tagged} == set(by_stage("untagged"))
    assert {r.student for r in view.filter(exercise=5)} == set(by_stage("ex5-endpoint"))
    assert all(view.row(s).cells[3].state == "done" for s in by_stage("ex3-done"))
    assert view.total_hourly_usd > 0
    # listings only: every operation is a List/Describe/Get of a whole collection, each once (GetResources pages)
    assert all(n == 1 for op, n in snapshot.calls.items() if op not in (
        "resourcegroupstaggingapi.GetResources", "sagemaker.DescribeEndpoint", "sagemaker.DescribeEndpointConfig"))
    assert snapshot.calls.get("sagemaker.DescribeEndpoint", 0) <= len(by_stage("ex5-endpoint"))
    assert snapshot.seconds < 3.0


def test_cleanup_of_one_student_removes_exactly_their_tagged_resources(classroom):
    aws, _ = classroom
    victim = by_stage("ex4-running")[0]
    before = monitor.collect(aws)
    plan = monitor.cleanup_plan(before, victim)
    assert {p.student for p in plan} == {victim}
    results = monitor.apply_cleanup(aws, plan)
    assert not [r for r in results if r.status == "failed"], results
    after = monitor.collect(aws)
    removed = inventory(before) - inventory(after)
    expected = {(r.student, r.kind, r.name, r.tagged) for r in before.of(victim) if r.tagged or not r.tags_known}
    assert removed == expected
    assert inventory(after) - inventory(before) == set()
    assert all(not r.tagged for r in after.of(victim))  # only untagged, hand-made resources could stay


def test_untagged_students_are_never_cleaned(classroom):
    aws, _ = classroom
    hand_made = by_stage("untagged")[0]
    before = monitor.collect(aws).of(hand_made)
    results = monitor.apply_cleanup(aws, monitor.cleanup_plan(aws, hand_made))
    assert {r.status for r in results} == {"skipped"}
    assert monitor.collect(aws).of(hand_made) == before
