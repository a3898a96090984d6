"""The sandbox's EC2 compute: the lab's instance serves the app, behind its security group.

One in-process Sandbox with only the EC2 compute, seeded with a real (small) model so the app
starts; exercise 4's own steps drive it, as a student's clicks would.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import urllib.parse

import pytest

from backend import ec2
from backend.artifacts import SAMPLE_RECORD
from backend.aws import Aws, Target
from backend.config import COURSE_DIR, COURSE_FILES
from backend.errors import LabError
from backend.exercises import ex4_ec2
from backend.exercises.ex4_ec2 import EXERCISE
from backend.lab import LabContext, apply, apply_teardown, teardown_plan
from backend.sandbox import Sandbox, course_sources, get_sandbox_info
from backend.sandbox.ec2_compute import Ec2Compute, parse_user_data

FACTORY = COURSE_DIR.parents[1] / "tests" / "ec2_app" / "ec2_app_model_factory.py"
SETUP = ["key_pair", "security_group", "bundle", "instance"]


@pytest.fixture(scope="module")
def ec2_course(tmp_path_factory):
    """The built course files if they exist, else stand-ins with a real small model.onnx."""
    if len(course_sources(COURSE_DIR)) == len(COURSE_FILES):
        return COURSE_DIR
    folder = tmp_path_factory.mktemp("course-ec2")
    for name in COURSE_FILES:
        (folder / name).write_bytes(b"age,work_class\n39,Local-gov\n" if name.endswith(".csv") else b"stand-in")
    spec = importlib.util.spec_from_file_location("ec2_app_model_factory", FACTORY)
    factory = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(factory)
    pipe, x = factory.train(rows=2000)
    factory.export_onnx(pipe, x, folder / "model.onnx")
    return folder


@pytest.fixture(scope="module")
def ec2_sandbox(ec2_course):
    with Sandbox(0, course_dir=ec2_course, compute=[Ec2Compute()]) as running:
        yield running


@pytest.fixture(scope="module")
def ctx(ec2_sandbox):
    return LabContext(Aws(Target.sandbox(endpoint_url=ec2_sandbox.url)), "sandy-ec2a01")


@pytest.fixture(scope="module")
def launched(ctx):
    """The lab's instance, launched by the exercise's steps, with /health answering."""
    apply(ctx, [EXERCISE.step(s) for s in SETUP])
    ex4_ec2.wait_for_health(ctx)
    return ex4_ec2.lab_instance(ctx).id


def compute(sandbox) -> Ec2Compute:
    return sandbox.compute("ec2")


def refused(ctx) -> bool:
    try:
        ex4_ec2.health(ctx)
    except LabError as err:
        return err.code == "ApiUnreachable"
    return False


def test_the_ubuntu_parameter_resolves_to_a_described_image(ctx):
    ami = ec2.get_parameter(ctx.aws, ex4_ec2.UBUNTU_PARAMETER)
    image = ec2.describe_image(ctx.aws, ami)
    assert "ubuntu-noble-24.04" in image["Name"] and image["OwnerId"] == "099720109477"


def test_launch_serves_the_app_at_a_local_address(ctx, launched, ec2_sandbox):
    endpoint = ex4_ec2.instance_endpoint(ctx)
    assert urllib.parse.urlsplit(endpoint).hostname == "127.0.0.1"
    info = get_sandbox_info(ec2_sandbox.url).compute["ec2"]["instances"][launched]
    assert info["address"] == endpoint and info["status"] == "running"
    [prediction] = ex4_ec2.predict(ctx, [SAMPLE_RECORD])
    assert prediction.label in (">50K", "<=50K") and 0 <= prediction.probability <= 1
    [result] = apply(ctx, [EXERCISE.step("predict")])
    assert "Predicted" in result.summary
    console = ec2.console_output(ctx.aws, launched)
    assert "tar -xzf" in console and "uvicorn" in console.lower()


def test_the_security_group_is_enforced(ctx, launched):
    group = ec2.get_security_group(ctx.aws, ctx.names.security_group)["GroupId"]
    rule = [ec2.IngressRule(8000, "127.0.0.1/32").permission()]
    client = ctx.aws.client("ec2")
    client.revoke_security_group_ingress(GroupId=group, IpPermissions=rule)
    try:
        assert refused(ctx)
    finally:
        client.authorize_security_group_ingress(GroupId=group, IpPermissions=rule)
    assert ex4_ec2.health(ctx).status == 200


@pytest.mark.reliability("faults")
def test_a_crashed_app_is_reported_and_restarted(ctx, launched, ec2_sandbox):
    app = compute(ec2_sandbox).app(launched)
    os.killpg(app.process.pid, signal.SIGKILL)
    ex4_ec2.wait_for_health(ctx, attempts=120, interval=0.25)
    assert "exited with code -9" in ec2.console_output(ctx.aws, launched)
    assert app.restarts == 1


def test_stop_refuses_and_start_serves_again(ctx, launched, ec2_sandbox):
    ex4_ec2.stop_lab_instance(ctx)
    assert ex4_ec2.instance_endpoint(ctx) is None
    address = compute(ec2_sandbox).app(launched).address
    with pytest.raises(OSError):  # the instance's port itself refuses, not only the resolver
        with socket.create_connection(urllib.parse.urlsplit(address)[1].split(":"), timeout=2) as sock:
            sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            if not sock.recv(1):
                raise ConnectionResetError
    ex4_ec2.start_lab_instance(ctx)
    ex4_ec2.wait_for_health(ctx)


def test_terminate_ends_the_process(ctx, launched, ec2_sandbox):
    app = compute(ec2_sandbox).app(launched)
    address = app.address
    apply_teardown(ctx, EXERCISE, teardown_plan(ctx, EXERCISE))
    assert app.status == "terminated" and app.process is None
    with pytest.raises(OSError):
        socket.create_connection(urllib.parse.urlsplit(address)[1].split(":"), timeout=2).close()
    assert ex4_ec2.instance_endpoint(ctx) is None


def test_a_bundle_the_sandbox_cannot_reach_fails_in_the_console(ctx, ec2_sandbox):
    ami = ec2.get_parameter(ctx.aws, ex4_ec2.UBUNTU_PARAMETER)
    script = ex4_ec2.user_data("https://example.invalid/bundle.tar.gz")
    assert parse_user_data(script) == ("https://example.invalid/bundle.tar.gz", 8000)
    iid = ctx.aws.client("ec2").run_instances(ImageId=ami, MinCount=1, MaxCount=1, UserData=script)["Instances"][0]["InstanceId"]
    app = compute(ec2_sandbox).app(iid)
    for _ in range(100):
        if app.status == "failed":
            break
        app._wake.wait(0.05)
    assert "failed to fetch the bundle" in ec2.console_output(ctx.aws, iid)
    ec2.terminate_instance(ctx.aws, iid)


def test_plain_instances_are_left_to_moto(ctx, ec2_sandbox):
    ami = ec2.get_parameter(ctx.aws, ex4_ec2.UBUNTU_PARAMETER)
    iid = ctx.aws.client("ec2").run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert compute(ec2_sandbox).app(iid) is None
    assert "Linux version" in ec2.console_output(ctx.aws, iid)  # moto's own sample console
    ec2.terminate_instance(ctx.aws, iid)
