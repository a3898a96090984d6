"""Exercise 4's one model of state against moto: plans, ownership, teardown, the class snapshot, one
instance however many runs race, and the ssh_cidr option."""
import stat
import threading

import pytest

from backend import ec2, s3
from backend.classview import StudentView
from backend.deleter import apply_deletions
from backend.errors import LabError
from backend.exercises import ex4_ec2
from backend.exercises.ex4_ec2 import EXERCISE, instance as ex4_instance, state as ex4_state
from backend.lab import LabContext, apply, apply_teardown, plan, run_checks, teardown_plan
from backend.names import TAG_STUDENT, lab_tags, tag_list
from backend.ownership import NotYours
from backend.sandbox import ec2_compute
from tests.ex4_setup import MY_CIDR, SETUP_STEPS, SVC, ctx, steps, ubuntu_parameters  # noqa: F401 (fixtures)

OTHER = "bob-4d5e6f"
WRITING_STEPS = set(SETUP_STEPS)


def actions(ctx):
    return {p.step: p.action for p in plan(ctx, EXERCISE)}


def _tags(items):
    return {t["Key"]: t["Value"] for t in items or []}


def listing(ctx):
    """Everything exercise 4 could touch, as the account lists it (tags included)."""
    client, aws = ctx.aws.client("ec2"), ctx.aws
    instances = sorted((i["InstanceId"], i["State"]["Name"], i.get("InstanceType"), str(sorted(_tags(i.get("Tags")).items())))
                       for r in client.describe_instances()["Reservations"] for i in r["Instances"])
    groups = sorted((g["GroupName"], str(sorted(ec2.ingress_rules(g), key=str)), str(sorted(_tags(g.get("Tags")).items())))
                    for g in client.describe_security_groups()["SecurityGroups"])
    keys = sorted((k["KeyName"], str(sorted(_tags(k.get("Tags")).items()))) for k in client.describe_key_pairs()["KeyPairs"])
    buckets = sorted((b.name, str(sorted(s3.get_bucket_tags(aws, b.name).items())),
                      str(sorted((o.key, o.size) for o in s3.list_objects(aws, b.name)))) for b in s3.list_buckets(aws))
    return {"instances": instances, "groups": groups, "keys": keys, "buckets": buckets}


# ---- plans ------------------------------------------------------------------------------------

def test_a_plan_on_a_fresh_account_says_create_and_changes_nothing(ctx):
    before = listing(ctx)
    planned = plan(ctx, EXERCISE)
    assert {p.step: p.action for p in planned if p.step in WRITING_STEPS} == dict.fromkeys(WRITING_STEPS, "create")
    assert all(p.action == "none" for p in planned if p.step not in WRITING_STEPS)
    assert all(p.reason and p.code for p in planned)
    assert "0.1072" in next(p.reason for p in planned if p.step == "instance")  # the price before launching
    assert listing(ctx) == before


def test_after_a_run_every_step_plans_none(ctx):
    apply(ctx, steps(SETUP_STEPS))
    assert set(actions(ctx).values()) == {"none"}, plan(ctx, EXERCISE)


def test_a_stopped_instance_plans_update_and_the_run_starts_it(ctx):
    apply(ctx, steps(SETUP_STEPS))
    ex4_ec2.stop_lab_instance(ctx)
    [decision] = [p for p in plan(ctx, EXERCISE) if p.step == "instance"]
    assert decision.action == "update" and "start it" in decision.reason
    [result] = apply(ctx, steps(["instance"]))
    assert result.changed and ex4_ec2.lab_instance(ctx).state == "running"
    assert actions(ctx)["instance"] == "none"


def test_another_instance_type_is_left_running_and_the_plan_says_why(ctx):
    apply(ctx, steps(SETUP_STEPS))
    bigger = LabContext(ctx.aws, SVC, {"ssh_cidr": MY_CIDR, "instance_type": "t3.large"})
    [decision] = [p for p in plan(bigger, EXERCISE) if p.step == "instance"]
    assert decision.action == "none" and "t3.large" in decision.reason and "terminate" in decision.reason


def test_changed_rules_and_a_stale_bundle_plan_update(ctx):
    apply(ctx, steps(SETUP_STEPS))
    moved = LabContext(ctx.aws, SVC, {"ssh_cidr": "198.51.100.9/32"})  # the student on another network
    decisions = {p.step: p for p in plan(moved, EXERCISE)}
    assert decisions["security_group"].action == "update" and "198.51.100.9/32" in decisions["security_group"].reason
    ctx.aws.client("s3").put_object(Bucket=ex4_ec2.state.COURSE_BUCKET, Key="model.onnx", Body=b"a new model")
    assert actions(ctx)["bundle"] == "update"
    [result] = apply(ctx, steps(["bundle"]))
    assert result.changed and actions(ctx)["bundle"] == "none"


# ---- ownership --------------------------------------------------------------------------------

def _make(ctx, kind, tags):
    """Make the resource `kind` with the student's name by hand, tagged `tags` (None: untagged)."""
    client, names = ctx.aws.client("ec2"), ctx.names
    spec = lambda rtype: [{"ResourceType": rtype, "Tags": tag_list(tags)}] if tags else []
    if kind == "key-pair":
        created = client.create_key_pair(KeyName=names.key_pair, TagSpecifications=spec("key-pair"))
        ec2.write_private_key(ex4_ec2.key_file(ctx), created["KeyMaterial"])
    elif kind == "security-group":
        client.create_security_group(GroupName=names.security_group, Description="by hand",
                                     VpcId=ec2.default_vpc_id(ctx.aws), TagSpecifications=spec("security-group"))
    elif kind == "bucket":
        s3.ensure_bucket(ctx.aws, names.ec2_bundle_bucket, tags=tags)
    elif kind == "instance":
        apply(ctx, steps(SETUP_STEPS[:3]))
        ami = ec2.get_parameter(ctx.aws, ex4_ec2.UBUNTU_PARAMETER)
        client.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t2.large",
                             TagSpecifications=[{"ResourceType": "instance",
                                                 "Tags": tag_list({"Name": names.instance_name, **(tags or {})})}])


STEP_OF = {"key-pair": "key_pair", "security-group": "security_group", "bucket": "bundle", "instance": "instance"}
NAME_OF = {"key-pair": lambda n: n.key_pair, "security-group": lambda n: n.security_group,
           "bucket": lambda n: n.ec2_bundle_bucket, "instance": lambda n: n.instance_name}


@pytest.mark.parametrize("kind", list(STEP_OF))
def test_another_students_resource_is_refused_and_left_as_it_was(ctx, kind):
    _make(ctx, kind, lab_tags(OTHER, 4))
    before = listing(ctx)
    [decision] = [p for p in plan(ctx, EXERCISE) if p.step == STEP_OF[kind]]
    assert decision.action == "refuse" and OTHER in decision.reason and NAME_OF[kind](ctx.names) in decision.reason
    with pytest.raises(NotYours, match=NAME_OF[kind](ctx.names)):
        apply(ctx, steps([STEP_OF[kind]]))
    assert listing(ctx) == before


@pytest.mark.parametrize("kind", list(STEP_OF))
def test_an_untagged_resource_with_the_students_name_is_adopted_and_tagged(ctx, kind):
    _make(ctx, kind, None)
    [decision] = [p for p in plan(ctx, EXERCISE) if p.step == STEP_OF[kind]]
    assert decision.action == "update" and "adopt" in decision.reason
    [result] = apply(ctx, steps([STEP_OF[kind]]))
    assert result.changed and "adopted and tagged" in result.summary
    seen = {"key-pair": lambda s: s.key_pair, "security-group": lambda s: s.group.seen,
            "bucket": lambda s: s.bundle_bucket, "instance": lambda s: s.instance.seen}[kind](EXERCISE.observe(ctx))
    assert seen.owner == SVC and seen.course_tagged


# ---- teardown ---------------------------------------------------------------------------------

def test_teardown_plan_lists_everything_and_leaves_a_foreign_resource_as_it_was(ctx):
    _make(ctx, "bucket", lab_tags(OTHER, 4))  # a bundle bucket of someone else with the student's name
    apply(ctx, steps(SETUP_STEPS[:2]))
    deletions = teardown_plan(ctx, EXERCISE)
    assert {(d.kind, d.allowed) for d in deletions} == {("security-group", True), ("key-pair", True),
                                                         ("bucket", False)}
    before = listing(ctx)["buckets"]
    results = apply_teardown(ctx, EXERCISE, deletions)
    assert {r.kind: r.status for r in results} == {"security-group": "done", "key-pair": "done", "bucket": "skipped"}
    assert listing(ctx)["buckets"] == before
    assert not ex4_ec2.key_file(ctx).exists()  # its key pair went: the private key goes with it


def test_the_key_file_stays_when_the_key_pair_is_not_deleted(ctx):
    apply(ctx, steps(["key_pair"]))
    deletions = teardown_plan(ctx, EXERCISE)
    # Someone re-tags the key pair between plan and apply: the deleter leaves it, so the key file stays.
    key_id = ec2.get_key_pair(ctx.aws, ctx.names.key_pair)["KeyPairId"]
    ec2.tag_resource(ctx.aws, key_id, {TAG_STUDENT: OTHER})
    [result] = apply_teardown(ctx, EXERCISE, deletions)
    assert result.status == "skipped"
    path = ex4_ec2.key_file(ctx)
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o400


def test_teardown_of_an_instance_of_another_student_is_not_allowed(ctx):
    _make(ctx, "instance", lab_tags(OTHER, 4))
    by_kind = {d.kind: d for d in teardown_plan(ctx, EXERCISE)}
    assert not by_kind["instance"].allowed and OTHER in by_kind["instance"].why
    apply_deletions(ctx.aws, [by_kind["instance"]])
    assert ex4_ec2.lab_instance(ctx).state == "running"


# ---- the class snapshot agrees with the live checks ----------------------------------------------

def view_of(ctx):
    """A StudentView built the way the overview builds it: from list calls only."""
    client, names, aws = ctx.aws.client("ec2"), ctx.names, ctx.aws
    seen, raw = {}, {}

    def add(kind, name, rid, tags, entry=None):
        from backend.ownership import Seen

        seen.setdefault(kind, {})[name] = Seen(kind, name, rid, tags)
        if entry is not None:
            raw.setdefault(kind, {})[name] = entry

    for key in client.describe_key_pairs()["KeyPairs"]:
        if key["KeyName"] == names.key_pair:
            add("key-pair", key["KeyName"], key["KeyName"], _tags(key.get("Tags")))
    for group in client.describe_security_groups()["SecurityGroups"]:
        if group["GroupName"] == names.security_group:
            add("security-group", group["GroupName"], group["GroupId"], _tags(group.get("Tags")), group)
    image_ids = set()
    for reservation in client.describe_instances(Filters=[
            {"Name": "instance-state-name", "Values": list(ec2.LIVE_STATES)}])["Reservations"]:
        for inst in reservation["Instances"]:
            tags = _tags(inst.get("Tags"))
            if tags.get("Name") == names.instance_name or inst.get("KeyName") == names.key_pair:
                add("instance", inst["InstanceId"], inst["InstanceId"], tags, inst)
                image_ids.add(inst["ImageId"])
    if image_ids:
        for image in client.describe_images(ImageIds=sorted(image_ids))["Images"]:
            raw.setdefault("image", {})[image["ImageId"]] = image
    for bucket in s3.list_buckets(aws):
        if bucket.name == names.ec2_bundle_bucket:
            add("bucket", bucket.name, bucket.name, s3.get_bucket_tags(aws, bucket.name))
    return StudentView(names, aws.region, seen, raw)


def assert_snapshot_agrees(ctx):
    live = {r.id: r for r in run_checks(ctx, EXERCISE)}
    snap = {r.id: r for r in EXERCISE.judge(ex4_state.from_snapshot(view_of(ctx)))}
    assert set(live) == set(snap)
    for check_id, result in snap.items():
        if result.passed is not None:
            assert result.passed == live[check_id].passed, (result, live[check_id])
            assert result.broken == live[check_id].broken, (result, live[check_id])
    return snap


def test_snapshot_and_live_checks_agree_at_every_stage(ctx):
    fresh = assert_snapshot_agrees(ctx)
    assert all(r.passed is False for r in fresh.values())
    apply(ctx, steps(["key_pair", "security_group"]))
    assert_snapshot_agrees(ctx)
    apply(ctx, steps(["bundle", "instance"]))
    done = assert_snapshot_agrees(ctx)
    assert done["instance"].passed is True
    assert done["health"].passed is None and done["prediction"].passed is None  # the API: drill-down
    group = ec2.get_security_group(ctx.aws, ctx.names.security_group)
    ctx.aws.client("ec2").authorize_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=[ec2.IngressRule(22, "0.0.0.0/0").permission()])
    exposed = assert_snapshot_agrees(ctx)
    assert exposed["ports"].passed is False and exposed["ports"].broken
    apply(ctx, steps(["security_group"]))
    apply(LabContext(ctx.aws, SVC, {"ssh_cidr": MY_CIDR, "open_to_class": True}), steps(["security_group"]))
    assert assert_snapshot_agrees(ctx)["ports"].passed is True
    ex4_ec2.stop_lab_instance(ctx)
    assert assert_snapshot_agrees(ctx)["instance"].passed is False


def test_end_of_life_ubuntu_is_seen_from_the_snapshot_too(ctx):
    apply(ctx, steps(SETUP_STEPS[:3]))
    focal = next(ami for param, (ami, _) in ec2_compute.SANDBOX_UBUNTU.items() if "/20.04/" in param)
    group = ec2.get_security_group(ctx.aws, ctx.names.security_group)
    ec2.run_instance(ctx.aws, image_id=focal, instance_type="t2.large", key_name=ctx.names.key_pair,
                     group_id=group["GroupId"], user_data="#!/bin/bash\n", tags={"Name": ctx.names.instance_name})
    assert assert_snapshot_agrees(ctx)["instance"].passed is False


# ---- one instance, however many runs race ------------------------------------------------------

def run_twice_at_once(ctx):
    barrier, errors, results = threading.Barrier(2), [], []

    def run():
        try:
            barrier.wait()
            results.append(EXERCISE.step("instance").run(ctx, lambda _: None))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


@pytest.mark.reliability("load")
def test_two_runs_at_once_make_one_instance(ctx):
    apply(ctx, steps(SETUP_STEPS[:3]))
    results = run_twice_at_once(ctx)
    assert len(ex4_ec2.lab_instances(ctx)) == 1
    assert sorted(r.changed for r in results) == [False, True]
    assert len({r.details["instance_id"] for r in results}) == 1


@pytest.fixture
def aws_client_tokens(monkeypatch):
    """moto 5.2.5 records ClientToken but launches anyway: make it answer as AWS documents it
    (same token and parameters -> the first launch's instance; other parameters -> IdempotentParameterMismatch)."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.instances import InstanceBackend

    original = InstanceBackend.run_instances
    lock = threading.Lock()

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        token = kwargs.get("client_token")
        with lock:
            for reservation in list(self.reservations.values()):
                for instance in reservation.instances:
                    if token and instance.client_token == token:
                        same = (instance.image_id, instance.user_data, instance.instance_type) == \
                               (image_id, user_data, kwargs.get("instance_type"))
                        if not same:
                            raise EC2ClientError("IdempotentParameterMismatch",
                                                 f"Arguments on this idempotent request are inconsistent ({token}).")
                        return reservation
            return original(self, image_id, count, user_data, security_group_names, **kwargs)

    monkeypatch.setattr(InstanceBackend, "run_instances", run_instances)


@pytest.fixture
def no_lock(monkeypatch):
    """Two machines: the lock file of one does not hold the other back."""
    import contextlib

    monkeypatch.setattr(ex4_instance, "launch_lock", lambda ctx, on_progress=None: contextlib.nullcontext())
    from backend.exercises.ex4_ec2 import steps as ex4_steps

    monkeypatch.setattr(ex4_steps, "launch_lock", lambda ctx, on_progress=None: contextlib.nullcontext())


def test_the_client_token_alone_makes_one_instance(ctx, aws_client_tokens, no_lock):
    apply(ctx, steps(SETUP_STEPS[:3]))
    run_twice_at_once(ctx)
    assert len(ex4_ec2.lab_instances(ctx)) == 1
    assert ex4_ec2.lab_instance(ctx).client_token == ex4_instance.client_token(SVC, 0)


def test_a_concurrent_launch_with_other_parameters_finds_the_first_instance(ctx, aws_client_tokens, no_lock, monkeypatch):
    # Two runs a second apart sign different presigned URLs: same token, other user data.
    apply(ctx, steps(SETUP_STEPS[:3]))
    [first] = apply(ctx, steps(["instance"]))
    # The second run does not see it yet (DescribeInstances is eventually consistent on AWS).
    monkeypatch.setattr(ex4_state, "lab_instances", lambda ctx, states=ec2.LIVE_STATES: ())
    import backend.exercises.ex4_ec2.steps as ex4_steps

    monkeypatch.setattr(ex4_steps, "user_data", lambda url: "#!/bin/bash\n# signed a second later\n")
    [second] = apply(ctx, steps(["instance"]))
    assert second.details["instance_id"] == first.details["instance_id"]
    monkeypatch.undo()
    assert len(ex4_ec2.lab_instances(ctx)) == 1


def test_after_termination_a_new_generation_launches_a_new_instance(ctx, aws_client_tokens):
    apply(ctx, steps(SETUP_STEPS))
    first = ex4_ec2.lab_instance(ctx)
    ex4_ec2.terminate_lab_instance(ctx)
    assert actions(ctx)["instance"] == "create"
    [result] = apply(ctx, steps(["instance"]))
    second = ex4_ec2.lab_instance(ctx)
    assert result.changed and second.id != first.id and second.state == "running"
    assert (first.client_token, second.client_token) == (ex4_instance.client_token(SVC, 0),
                                                         ex4_instance.client_token(SVC, 1))
    assert f"ClientToken={ex4_instance.client_token(SVC, 1)!r}" in EXERCISE.step("instance").code(ctx)


# ---- ssh_cidr -----------------------------------------------------------------------------------

def test_ssh_cidr_defaults_to_this_machine_in_the_sandbox_without_asking_anyone(monkeypatch):
    from backend.aws import Aws, Target

    monkeypatch.setattr(ex4_state, "_fetch_public_ip", lambda: pytest.fail("the sandbox needs no look-up"))
    sandbox = LabContext(Aws(Target.sandbox(endpoint_url="http://127.0.0.1:9")), SVC)
    assert ex4_state.ssh_cidr(sandbox) == "127.0.0.1/32"


def test_ssh_cidr_defaults_to_the_public_address_on_aws(ctx, monkeypatch):
    import io
    import urllib.request

    asked = []

    def urlopen(url, timeout):
        asked.append((url, timeout))
        return io.BytesIO(b"198.51.100.23\n")

    monkeypatch.setattr(ex4_state, "_ip_cache", {})
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert ex4_state.ssh_cidr(LabContext(ctx.aws, SVC)) == "198.51.100.23/32"
    assert asked == [("https://checkip.amazonaws.com", 3.0)]


def test_without_an_address_the_error_says_to_set_ssh_cidr(ctx, monkeypatch):
    import urllib.request

    def urlopen(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.setattr(ex4_state, "_ip_cache", {})
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(LabError, match="ssh_cidr="):
        apply(LabContext(ctx.aws, SVC), steps(["security_group"]))


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0"])
def test_ssh_is_never_opened_to_the_world(ctx, value):
    world = LabContext(ctx.aws, SVC, {"ssh_cidr": value})
    [decision] = [p for p in plan(world, EXERCISE) if p.step == "security_group"]
    assert decision.action == "refuse" and "whole internet" in decision.reason
    with pytest.raises(LabError, match="whole internet"):
        apply(world, steps(["security_group"]))
    assert ec2.get_security_group(ctx.aws, ctx.names.security_group) is None


def test_a_bare_address_is_a_32_and_nonsense_is_refused(ctx):
    assert ex4_state.ssh_cidr(LabContext(ctx.aws, SVC, {"ssh_cidr": "203.0.113.7"})) == "203.0.113.7/32"
    with pytest.raises(LabError, match="not an address"):
        ex4_state.ssh_cidr(LabContext(ctx.aws, SVC, {"ssh_cidr": "my laptop"}))


def test_options_are_declared_and_parse_from_the_cli():
    assert [o.name for o in EXERCISE.options] == ["instance_type", "open_to_class", "recreate_key", "ssh_cidr"]
    parsed = EXERCISE.parse_options(["instance_type=t3.large", "open_to_class=yes", "ssh_cidr=203.0.113.7/32"])
    assert parsed == {"instance_type": "t3.large", "open_to_class": True, "ssh_cidr": "203.0.113.7/32"}
    with pytest.raises(ValueError, match="t2.large"):
        EXERCISE.parse_options(["instance_type=p4d.24xlarge"])
