"""Exercise 4's steps against moto: idempotent, tagged, restricted to the caller, checks catch the handout's mistakes.

(The app does not run in plain moto; tests/sandbox and tests/integration run it in the sandbox.
Here /health and /predict are answered by a small local stub.)
"""
import base64
import http.server
import io
import json
import stat
import tarfile
import threading

import pytest

from backend import ec2
from backend.errors import LabError
from backend.exercises import ex4_ec2
from backend.exercises.ex4_ec2 import EXERCISE, snippets
from backend.lab import LabContext, apply, apply_teardown, run_checks, teardown_plan
from backend.lab import plan as plan_steps  # `plan` reads as a noun in these tests
from backend.sandbox import ec2_compute
from tests.ex4_setup import MY_CIDR, SETUP_STEPS, SVC, ctx, steps, ubuntu_parameters  # noqa: F401 (fixtures)

def checks(ctx):
    return {r.id: r for r in run_checks(ctx, EXERCISE)}


def group_rules(ctx):
    return ec2.ingress_rules(ec2.get_security_group(ctx.aws, ctx.names.security_group))


def test_setup_steps_create_everything_and_a_second_run_changes_nothing(ctx):
    first = apply(ctx, steps(SETUP_STEPS))
    assert all(r.changed for r in first), [r.summary for r in first]
    second = apply(ctx, steps(SETUP_STEPS))
    assert not any(r.changed for r in second), [r.summary for r in second]
    assert len(ex4_ec2.lab_instances(ctx)) == 1
    result = checks(ctx)
    for check in ("key_pair", "instance", "ports"):
        assert result[check].passed, result[check]
    assert not result["health"].passed and not result["prediction"].passed


def test_private_key_is_written_0400_and_never_in_results(ctx):
    [result] = apply(ctx, steps(["key_pair"]))
    path = ex4_ec2.key_file(ctx)
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    assert path.read_text().startswith("-----BEGIN")
    assert "PRIVATE KEY" not in json.dumps(result.to_dict())


def test_key_pair_without_its_local_key_says_so_and_recreate_fixes_it(ctx):
    apply(ctx, steps(["key_pair"]))
    path = ex4_ec2.key_file(ctx)
    path.chmod(0o600)
    path.unlink()
    with pytest.raises(ec2.KeyFileMissing, match="Recreate"):
        apply(ctx, steps(["key_pair"]))
    assert not checks(ctx)["key_pair"].passed
    recreate = LabContext(ctx.aws, SVC, {"ssh_cidr": MY_CIDR, "recreate_key": True})
    [result] = apply(recreate, steps(["key_pair"]))
    assert result.changed and path.is_file()


def test_a_readable_key_fails_the_check_with_chmod_hint(ctx):
    apply(ctx, steps(["key_pair"]))
    ex4_ec2.key_file(ctx).chmod(0o644)
    result = checks(ctx)["key_pair"]
    assert not result.passed and "chmod 400" in result.hint


def test_security_group_is_restricted_to_the_caller(ctx):
    apply(ctx, steps(["security_group"]))
    assert group_rules(ctx) == {ec2.IngressRule(22, MY_CIDR), ec2.IngressRule(8000, MY_CIDR)}
    group = ec2.get_security_group(ctx.aws, ctx.names.security_group)
    assert ec2.instance_tags(group)["lab:exercise"] == "4"


def test_class_option_opens_only_8000_to_everyone(ctx):
    apply(LabContext(ctx.aws, SVC, {"ssh_cidr": MY_CIDR, "open_to_class": True}), steps(["security_group"]))
    assert group_rules(ctx) == {ec2.IngressRule(22, MY_CIDR), ec2.IngressRule(8000, "0.0.0.0/0")}
    [result] = apply(ctx, steps(["security_group"]))  # option off again: closed to the world
    assert result.changed and group_rules(ctx) == {ec2.IngressRule(22, MY_CIDR), ec2.IngressRule(8000, MY_CIDR)}


def test_the_handouts_open_ssh_is_caught_and_closed(ctx):
    apply(ctx, steps(SETUP_STEPS))
    group = ec2.get_security_group(ctx.aws, ctx.names.security_group)
    ctx.aws.client("ec2").authorize_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=[ec2.IngressRule(22, "0.0.0.0/0").permission()])
    result = checks(ctx)["ports"]
    assert not result.passed and "0.0.0.0/0" in result.observed and "your address" in result.hint
    assert result.broken  # the overview flags it: the handout's defect, the student is exposed
    [fixed] = apply(ctx, steps(["security_group"]))
    assert fixed.changed and "Closed 22" in fixed.summary
    assert checks(ctx)["ports"].passed


def test_port_8000_closed_is_caught(ctx):
    apply(ctx, steps(SETUP_STEPS))
    group = ec2.get_security_group(ctx.aws, ctx.names.security_group)
    ctx.aws.client("ec2").revoke_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=[ec2.IngressRule(8000, MY_CIDR).permission()])
    result = checks(ctx)["ports"]
    assert not result.passed and "8000 is closed" in result.observed


def test_bundle_holds_the_app_and_the_model(ctx):
    apply(ctx, steps(["bundle"]))
    data = ctx.aws.client("s3").get_object(Bucket=ctx.names.ec2_bundle_bucket, Key=ex4_ec2.BUNDLE_KEY)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
    assert {"app.py", "Dockerfile", "requirements.txt", "model.onnx"} <= names


def test_instance_is_ubuntu_2404_t2_large_tagged_with_the_lab_user_data(ctx):
    [*_, result] = apply(ctx, steps(SETUP_STEPS))
    instance = ec2.get_instance(ctx.aws, result.details["instance_id"])
    ami = ec2_compute.SANDBOX_UBUNTU[ex4_ec2.UBUNTU_PARAMETER][0]
    assert (instance["ImageId"], instance["InstanceType"], instance["KeyName"]) == (ami, "t2.large", f"ec2-{SVC}-key")
    tags = ec2.instance_tags(instance)
    assert tags["Name"] == f"ec2-{SVC}" and tags["lab:student"] == SVC
    raw = ctx.aws.client("ec2").describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    script = base64.b64decode(raw["UserData"]["Value"]).decode()
    assert "docker.io" in script and "--restart unless-stopped -p 8000:8000" in script
    url, port = ec2_compute.parse_user_data(script)
    assert ex4_ec2.BUNDLE_KEY in url and port == 8000
    assert "set -x" not in script  # the presigned URL stays out of the console output


def test_launch_requires_the_earlier_steps(ctx):
    with pytest.raises(LabError, match="step 1"):
        apply(ctx, steps(["instance"]))


def test_end_of_life_ubuntu_is_caught(ctx):
    apply(ctx, steps(SETUP_STEPS[:3]))
    focal = next(ami for param, (ami, _) in ec2_compute.SANDBOX_UBUNTU.items() if "/20.04/" in param)
    group = ec2.get_security_group(ctx.aws, ctx.names.security_group)
    ec2.run_instance(ctx.aws, image_id=focal, instance_type="t2.large", key_name=ctx.names.key_pair,
                     group_id=group["GroupId"], user_data="#!/bin/bash\n", tags={"Name": ctx.names.instance_name})
    result = checks(ctx)["instance"]
    assert not result.passed and "20.04" in result.observed and "end of life" in result.hint


def test_stop_start_terminate(ctx):
    apply(ctx, steps(SETUP_STEPS))
    assert ex4_ec2.stop_lab_instance(ctx).changed
    assert ex4_ec2.lab_instance(ctx).state == "stopped"
    assert not checks(ctx)["instance"].passed
    [again] = apply(ctx, steps(["instance"]))  # launching again starts the stopped one
    assert again.changed and "Started" in again.summary and len(ex4_ec2.lab_instances(ctx)) == 1
    assert ex4_ec2.terminate_lab_instance(ctx).changed
    assert ex4_ec2.lab_instance(ctx) is None


def teardown(ctx):
    return apply_teardown(ctx, EXERCISE, teardown_plan(ctx, EXERCISE))


def test_teardown_removes_everything_and_a_second_run_finds_nothing(ctx):
    apply(ctx, steps(SETUP_STEPS))
    first = teardown(ctx)
    assert {(r.kind, r.status) for r in first} == {
        ("instance", "done"), ("security-group", "done"), ("key-pair", "done"), ("bucket", "done")}, first
    assert ex4_ec2.lab_instance(ctx) is None
    assert ec2.get_security_group(ctx.aws, ctx.names.security_group) is None
    assert ec2.get_key_pair(ctx.aws, ctx.names.key_pair) is None
    assert not ex4_ec2.key_file(ctx).exists()
    assert teardown_plan(ctx, EXERCISE) == [] and teardown(ctx) == []


def test_step_code_shows_the_students_values(ctx):
    for step in EXERCISE.steps:
        code = step.code(ctx)
        compile(code, step.id, "exec")
    assert ex4_ec2.UBUNTU_PARAMETER in EXERCISE.step("instance").code(ctx)
    assert "0.1072" in EXERCISE.step("instance").code(ctx)  # t2.large's price in eu-central-1
    manual = ex4_ec2.manual_commands(ctx)
    assert "chmod 400" in manual and f"ec2-{SVC}-key.pem" in manual and "--restart unless-stopped" in manual


def test_every_snippet_names_the_lab_folder_and_uses_paths_relative_to_it(ctx):
    for step in EXERCISE.steps:
        first, *rest = step.code(ctx).splitlines()
        assert first == ctx.folder_note(), step.id
        assert str(ctx.workdir) not in "\n".join(rest), step.id


def test_the_snippets_user_data_is_the_steps_start_up_script():
    url = "http://127.0.0.1:4566/ec2-x-bundle/ec2-app/bundle.tar.gz?X-Amz-Signature=ab%2Fcd"
    assert eval(snippets._script_literal("url"), {"url": url}) == ex4_ec2.user_data(url)


def test_the_snippets_sandbox_address_lookup_is_the_sandboxs_health_route():
    from backend.sandbox import HEALTH_PATH

    assert snippets.SANDBOX_HEALTH_PATH == HEALTH_PATH


def test_the_security_group_snippet_opens_what_the_step_opens(ctx):
    code = EXERCISE.step("security_group").code(ctx)
    assert f"mine = {MY_CIDR!r}" in code
    permissions = code.split("IpPermissions=[", 1)[1].rsplit("])", 1)[0]
    wanted, _ = ex4_ec2.state.wanted_rules(ctx)
    assert eval(f"[{permissions}]", {"mine": MY_CIDR}) == [r.permission() for r in wanted]


def test_without_a_known_address_the_security_group_snippet_asks_checkip(moto_aws, monkeypatch):
    def offline():
        raise LabError("Could not find your public address (offline).", "NoPublicIp")
    monkeypatch.setattr(ex4_ec2.state, "_fetch_public_ip", offline)
    code = EXERCISE.step("security_group").code(LabContext(moto_aws, SVC))
    compile(code, "security_group", "exec")
    assert "import requests" in code and ex4_ec2.state.CHECKIP_URL in code and "<" not in code


def test_the_setup_snippets_pasted_in_order_pass_the_setup_checks(ctx, monkeypatch):
    """The real-AWS variant in moto (the sandbox runs them all, with the API: tests/integration)."""
    monkeypatch.chdir(ctx.workdir)
    for step in steps(SETUP_STEPS):
        exec(compile(step.code(ctx), step.id, "exec"), {})
    assert stat.S_IMODE(ex4_ec2.key_file(ctx).stat().st_mode) == 0o400
    result = checks(ctx)
    for check in ("key_pair", "instance", "ports"):
        assert result[check].passed, result[check]
    instance = ex4_ec2.lab_instance(ctx)
    raw = ctx.aws.client("ec2").describe_instance_attribute(InstanceId=instance.id, Attribute="userData")
    url, port = ec2_compute.parse_user_data(base64.b64decode(raw["UserData"]["Value"]).decode())
    assert ex4_ec2.BUNDLE_KEY in url and port == 8000
    data = ctx.aws.client("s3").get_object(Bucket=ctx.names.ec2_bundle_bucket, Key=ex4_ec2.BUNDLE_KEY)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {"app.py", "Dockerfile", "requirements.txt", "model.onnx"} <= set(tar.getnames())
    # tagged as the buttons tag: clean-up may remove all of it
    plan = teardown_plan(ctx, EXERCISE)
    assert sorted(d.kind for d in plan) == ["bucket", "instance", "key-pair", "security-group"]
    assert all(d.allowed for d in plan), plan
    # the bundle says nothing of what it was built from: the step offers to upload its own, and says why
    [bundle] = [p for p in plan_steps(ctx, EXERCISE) if p.step == "bundle"]
    assert bundle.action == "update" and "does not record what it was built from" in bundle.reason


# --- talking to the API (a local stub stands in for the app) --------------------------------

class _Stub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._answer(200, {"status": "ok", "model_version": "test"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        one = {"label": ">50K", "probability": 0.8, "model_version": "test"}
        if self.path == "/predict/batch":
            self._answer(200, [one] * len(body["records"]))
        elif body.get("age", 0) < 0:
            self._answer(422, {"detail": [{"loc": ["body", "age"], "msg": "too small"}]})
        else:
            self._answer(200, one)


@pytest.fixture
def stub_api(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(ex4_ec2.state, "endpoint_of", lambda ctx, instance: url)
    yield url
    server.shutdown()


def test_predict_one_and_many(ctx, stub_api):
    from backend.artifacts import SAMPLE_RECORD
    from backend.prediction import Prediction

    assert ex4_ec2.predict(ctx, [SAMPLE_RECORD]) == [Prediction(">50K", 0.8)]
    assert len(ex4_ec2.predict(ctx, [SAMPLE_RECORD] * 3)) == 3
    bad = ex4_ec2.call_predict(ctx, {**SAMPLE_RECORD, "age": -1})
    assert bad.status == 422 and bad.latency_ms >= 0
    with pytest.raises(LabError, match="422"):
        ex4_ec2.predict(ctx, [{**SAMPLE_RECORD, "age": -1}])


def test_health_and_prediction_checks_pass_when_the_api_answers(ctx, stub_api):
    apply(ctx, steps(SETUP_STEPS))  # the checks ask the API of a running instance
    result = checks(ctx)
    assert result["health"].passed and result["prediction"].passed


def test_wait_for_health_gives_up_after_its_budget(ctx, monkeypatch):
    monkeypatch.setattr(ex4_ec2.state, "endpoint_of", lambda ctx, instance: "http://127.0.0.1:9")  # refused
    slept, seen = [], []
    with pytest.raises(LabError, match="console output"):
        ex4_ec2.wait_for_health(ctx, seen.append, sleep=slept.append, attempts=4, interval=2.0)
    assert slept == [2.0] * 4 and seen


def test_wait_for_health_returns_once_it_answers(ctx, stub_api):
    call = ex4_ec2.wait_for_health(ctx, sleep=lambda _: pytest.fail("no wait needed"), attempts=3, interval=1.0)
    assert call.status == 200


def test_no_instance_means_no_endpoint(ctx):
    assert ex4_ec2.instance_endpoint(ctx) is None
    with pytest.raises(LabError, match="launch it"):
        ex4_ec2.predict(ctx, [{}])


def test_price_table():
    assert ex4_ec2.price_per_hour("eu-central-1", "t2.large") == pytest.approx(0.1072)
    assert ex4_ec2.price_per_hour("mars-1", "t2.large") is None
