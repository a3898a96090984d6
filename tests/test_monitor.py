"""backend.monitor: snapshot -> overview (cells, stuck, cost, untagged), cleanup plans and their application."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from backend import monitor, prices
from backend.cli_format import format_overview, format_plan, format_results
from backend.errors import LabError
from backend.monitor import naming
from backend.names import LabNames, lab_tags, tag_list, tags_text

REGION = "eu-central-1"


@pytest.fixture
def account(moto_aws):
    return moto_aws.account_id()


def seed(aws, account, *pairs):
    for svc, stage in pairs:
        monitor.seed_student(aws, svc, stage, account)


# ---- attribution ----------------------------------------------------------------------------

def test_name_rules_come_from_lab_names():
    names = LabNames("zed-1a2b")
    templates = naming.lab_templates()
    assert {t for _, t, _, _ in templates} >= {"data-{svc}", "batch-lambda-{svc}", "income-prediction-{svc}"}
    for kind, template, exercise, prefix in templates:
        name = template.format(svc=names.svc) + ("0123456789abcdef0123" if prefix else "")
        assert monitor.owner_of(kind, name, {}) == (names.svc, exercise, False), (kind, name)
    # every resource name LabNames spells belongs to a known exercise (a new name: add it to EXERCISE_OF_NAME)
    props = {p for p, v in vars(LabNames).items() if isinstance(v, property) and naming._kind(p)
             and names.svc in str(getattr(names, p))}
    assert props <= set(naming.EXERCISE_OF_NAME), props - set(naming.EXERCISE_OF_NAME)


@pytest.mark.parametrize("kind, name, tags, expected", [
    ("bucket", "data-anna", lab_tags("anna", 2), ("anna", 2, True)),
    ("bucket", "whatever", lab_tags("anna", 3), ("anna", 3, True)),
    ("bucket", "data-bob-1a2b3c", {}, ("bob-1a2b3c", 2, False)),
    ("bucket", "input-bucket-carl", {}, ("carl", 3, False)),  # the handout's name
    ("bucket", "ec2-dora-bundle", {}, ("dora", 4, False)),
    ("function", "batch-lambda-eve", {}, ("eve", 3, False)),
    ("role", "sagemaker-fay-role", {}, ("fay", 5, False)),
    ("endpoint-config", "income-prediction-gus-config-1a2b", {}, ("gus", 5, False)),
    ("log-group", "/aws/lambda/batch-lambda-hal", {}, ("hal", 3, False)),
    ("bucket", "sagemaker-ivy", {}, ("ivy", 5, False)),
    ("policy", "sagemaker-ivy-policy", {}, ("ivy", 5, False)),
    ("bucket", "data-X_invalid", {}, None),
    ("bucket", "unrelated", {}, None),
    ("bucket", "unrelated", {"lab:course": "mlops-aws"}, (monitor.NO_STUDENT, None, True)),
])
def test_owner_of(kind, name, tags, expected):
    assert monitor.owner_of(kind, name, tags) == expected


# ---- collect + overview ----------------------------------------------------------------------

def test_overview_judges_each_stage_from_the_snapshot(moto_aws, account):
    seed(moto_aws, account, ("ann", "ex2-done"), ("ben", "ex3-stuck-policy"), ("cat", "ex3-done"),
         ("dan", "ex4-running"), ("eva", "ex5-endpoint"), ("fred", "untagged"), ("gil", "ex2-started"))
    view = monitor.overview(monitor.collect(moto_aws))
    rows = {r.student: r for r in view.rows}
    assert set(rows) == {"ann", "ben", "cat", "dan", "eva", "fred", "gil"}
    assert rows["ann"].cells[2].state == "done" and rows["ann"].cells[3].state == "todo"
    assert rows["ann"].current_exercise == 2
    assert rows["gil"].cells[2].state == "done"  # the bucket exists; the upload is a drill-down check
    cat = rows["cat"].cells[3]  # every check the listings can judge passes (public access, objects: drill-down)
    assert cat.state == "done" and cat.known >= 4 and cat.label() == f"● {cat.known}/{cat.known}"
    assert rows["ben"].cells[3].state == "broken" and rows["ben"].stuck
    assert "input-bucket-" in rows["ben"].stuck_reasons[0]
    # every exercise-4 check needs the drill-down (key file, HTTP answers): never "done" on no evidence
    dan = rows["dan"].cells[4]
    assert dan.known == 0 and dan.state == "started" and rows["dan"].current_exercise == 4
    assert rows["eva"].cells[5].state == "done" and rows["eva"].current_exercise == 5
    assert not any(rows[s].stuck for s in ("ann", "cat", "dan", "eva", "fred", "gil"))
    assert not rows["fred"].tagged and rows["fred"].untagged == 4  # data-, model-, input-, output-
    assert rows["ann"].tagged and rows["ann"].untagged == 0
    assert [r.student for r in view.filter(stuck=True)] == ["ben"]
    assert [r.student for r in view.filter(exercise=3)] == ["ben", "cat", "fred"]
    json.dumps(view.to_dict(), default=str)


def test_cost_comes_from_the_price_table(moto_aws, account):
    seed(moto_aws, account, ("dan", "ex4-running"), ("eva", "ex5-endpoint"), ("ann", "ex2-done"))
    snap = monitor.collect(moto_aws)
    later = snap.taken_at + timedelta(hours=2)
    view = monitor.overview(snap, now=later)
    rows = {r.student: r for r in view.rows}
    t2_large, m5_large = prices.hourly_price(REGION, "t2.large"), prices.hourly_price(REGION, "ml.m5.large")
    assert rows["dan"].hourly_usd == pytest.approx(t2_large)
    assert rows["eva"].hourly_usd == pytest.approx(m5_large)
    assert rows["ann"].hourly_usd == 0
    assert rows["dan"].so_far_usd == pytest.approx(2 * t2_large, rel=0.05)
    assert view.total_hourly_usd == pytest.approx(t2_large + m5_large)
    assert [r.student for r in view.filter(running_cost=True)] == ["dan", "eva"]


def test_an_unpriced_instance_type_is_reported_not_guessed(moto_aws):
    tags = [{"ResourceType": "instance", "Tags": tag_list({**lab_tags("ivy", 4), "Name": "ec2-ivy"})}]
    moto_aws.client("ec2").run_instances(ImageId="ami-12c6146b", InstanceType="m5.24xlarge", MinCount=1, MaxCount=1,
                                         TagSpecifications=tags)
    row = monitor.overview(monitor.collect(moto_aws)).row("ivy")
    assert row.hourly_usd == 0 and row.unpriced and "m5.24xlarge" in row.unpriced[0]


def test_idle_with_an_unfinished_exercise_is_stuck(moto_aws, account):
    seed(moto_aws, account, ("ann", "ex2-done"), ("hal", "ex3-mid"))
    snap = monitor.collect(moto_aws)
    assert not monitor.overview(snap).filter(stuck=True)
    later = monitor.overview(snap, stuck_after_min=30, now=snap.taken_at + timedelta(minutes=45))
    assert [r.student for r in later.filter(stuck=True)] == ["hal"]  # ann finished what she started
    assert "No change for 45 min" in later.row("hal").stuck_reasons[-1]


def test_a_failed_endpoint_is_stuck(moto_aws, account):
    seed(moto_aws, account, ("eva", "ex5-endpoint"))
    snap = monitor.collect(moto_aws)
    failed = [replace(r, state="Failed: no image", raw={**r.raw, "EndpointStatus": "Failed", "FailureReason": "no image"})
              if r.kind == "endpoint" else r for r in snap.resources]
    snap.resources[:] = failed
    row = monitor.overview(snap).row("eva")
    assert row.stuck and row.cells[5].state == "broken"


def test_the_number_of_requests_does_not_grow_with_students(moto_aws, account):
    seed(moto_aws, account, *monitor.seed_students(3, "a"))
    small = monitor.collect(moto_aws)
    seed(moto_aws, account, *monitor.seed_students(12, "b"))
    monitor.collect(moto_aws)  # describes the new endpoints once (cached after)
    large = monitor.collect(moto_aws)
    assert len(large.students()) == 15
    assert set(large.calls) == set(small.calls) - {"sagemaker.DescribeEndpoint", "sagemaker.DescribeEndpointConfig"}
    paged = "resourcegroupstaggingapi.GetResources"  # pages of 25-100 resources: the only growth
    assert {op: n for op, n in large.calls.items() if op != paged} == {op: 1 for op in large.calls if op != paged}


# ---- cleanup ---------------------------------------------------------------------------------

def names_of(aws, student):
    return {(r.kind, r.name) for r in monitor.collect(aws).of(student)}


def test_cleanup_of_one_student_touches_only_their_tagged_resources(moto_aws, account):
    seed(moto_aws, account, ("dan", "ex4-running"), ("eva", "ex5-endpoint"), ("fred", "untagged"))
    before = {s: names_of(moto_aws, s) for s in ("eva", "fred")}
    plan = monitor.cleanup_plan(moto_aws, "dan")
    assert {p.student for p in plan} == {"dan"}
    assert [p.kind for p in plan].index("instance") < [p.kind for p in plan].index("security-group")
    assert all(p.allowed for p in plan)  # the layer too: its description carries the lab's tags
    assert "layer" in {p.kind for p in plan}
    results = monitor.apply_cleanup(moto_aws, plan)
    assert not [r for r in results if r.status == "failed"]
    assert names_of(moto_aws, "dan") == set()
    assert {s: names_of(moto_aws, s) for s in ("eva", "fred")} == before


def test_a_layer_is_attributed_and_cleaned_by_the_tags_in_its_description(moto_aws):
    lam = moto_aws.client("lambda")
    for svc, description in (("ann", tags_text(lab_tags("ann", 3))), ("bob", "made by hand")):
        lam.publish_layer_version(LayerName=LabNames(svc).lambda_layer, Description=description,
                                  Content={"ZipFile": b"PK\x05\x06" + b"\0" * 18})
    snap = monitor.collect(moto_aws)
    layers = {r.student: r for r in snap.resources if r.kind == "layer"}
    assert layers["ann"].tagged and layers["ann"].exercise == 3
    assert not layers["bob"].tagged and monitor.overview(snap).row("bob").untagged == 1
    plan = {p.student: p for p in monitor.cleanup_plan(snap)}
    assert plan["ann"].allowed and not plan["bob"].allowed
    results = {r.student: r.status for r in monitor.apply_cleanup(moto_aws, list(plan.values()))}
    assert results == {"ann": "done", "bob": "skipped"}
    assert names_of(moto_aws, "bob") == {("layer", "batch-runtime-bob")} and names_of(moto_aws, "ann") == set()


def test_untagged_resources_are_listed_never_deleted(moto_aws, account):
    seed(moto_aws, account, ("fred", "untagged"))
    plan = monitor.cleanup_plan(moto_aws, "fred")
    assert plan and not any(p.allowed for p in plan)
    assert {r.status for r in monitor.apply_cleanup(moto_aws, plan)} == {"skipped"}
    assert len(names_of(moto_aws, "fred")) == 4


def test_tags_are_checked_again_right_before_deleting(moto_aws, account):
    seed(moto_aws, account, ("ann", "ex2-done"))
    plan = monitor.cleanup_plan(moto_aws, "ann")
    moto_aws.client("s3").put_bucket_tagging(Bucket="data-ann", Tagging={"TagSet": tag_list(lab_tags("someone", 2))})
    [result] = monitor.apply_cleanup(moto_aws, plan)
    assert result.status == "skipped" and "no longer" in result.message
    assert ("bucket", "data-ann") in names_of(moto_aws, "someone")


def test_an_untagged_policy_named_for_the_student_survives(moto_aws, account):
    seed(moto_aws, account, ("ben", "ex3-stuck-policy"))
    moto_aws.client("iam").untag_policy(PolicyArn=f"arn:aws:iam::{account}:policy/batch-lambda-ben-policy",
                                        TagKeys=["lab:course"])
    results = {r.name: r for r in monitor.apply_cleanup(moto_aws, monitor.cleanup_plan(moto_aws, "ben"))}
    assert results["batch-lambda-ben-policy"].status == "skipped"
    assert results["batch-lambda-ben-role"].status == "done"


def test_class_actions_stop_idle_instances_and_delete_endpoints(moto_aws, account):
    seed(moto_aws, account, ("dan", "ex4-running"), ("eva", "ex5-endpoint"))
    snap = monitor.collect(moto_aws)
    assert monitor.stop_idle_instances_plan(snap, idle_minutes=60) == []
    plan = monitor.stop_idle_instances_plan(snap, idle_minutes=60, now=snap.taken_at + timedelta(hours=2))
    assert [(p.kind, p.action, p.student) for p in plan] == [("instance", "stop", "dan")]
    assert [r.status for r in monitor.apply_cleanup(moto_aws, plan)] == ["done"]
    endpoints = monitor.delete_endpoints_plan(moto_aws)
    assert [p.kind for p in endpoints] == ["endpoint", "endpoint-config", "model"]
    monitor.apply_cleanup(moto_aws, endpoints)
    view = monitor.overview(monitor.collect(moto_aws))
    assert view.total_hourly_usd == 0
    assert view.row("dan").cells[4].state == "started"  # stopped: no longer running


def test_seed_class_runs_against_the_sandbox_only(moto_aws):
    with pytest.raises(LabError, match="sandbox only"):
        monitor.seed_class(moto_aws, 3)


def test_prices():
    assert prices.hourly_price("eu-central-1", "t2.large") > 0
    assert prices.hourly_price("us-east-1", "ml.m5.large") > 0
    assert prices.hourly_price("ap-south-1", "t2.large") is None
    assert set(prices.EC2_USD_PER_HOUR) == set(prices.SAGEMAKER_USD_PER_HOUR) == set(prices.SUPPORTED_REGIONS)


def test_text_for_the_command_line(moto_aws, account):
    seed(moto_aws, account, ("ben", "ex3-stuck-policy"), ("fred", "untagged"))
    view = monitor.overview(monitor.collect(moto_aws))
    text = format_overview(view)
    assert "ben" in text and "BROKE" in text and "fred [untagged]" in text and "1 stuck" in text
    plan = monitor.cleanup_plan(moto_aws, "fred")
    assert "leave" in format_plan(plan) and "0 to change" in format_plan(plan)
    assert "4 skipped" in format_results(monitor.apply_cleanup(moto_aws, plan))
    assert format_plan([]) == "Nothing to clean up."
