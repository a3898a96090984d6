"""Exercise 4 end to end in the sandbox process: the instance really serves the API, behind its security group."""
import pytest

from backend import ec2
from backend.artifacts import SAMPLE_RECORD
from backend.aws import Aws, Target
from backend.errors import LabError
from backend.exercises.ex4_ec2 import EXERCISE, health, instance_endpoint, predict
from backend.lab import LabContext, apply, apply_teardown, run_checks, teardown_plan
from backend.names import propose_svc
from backend.sandbox import get_sandbox_info

APP_RULE = [ec2.IngressRule(8000, "127.0.0.1/32").permission()]


def refused(ctx) -> bool:
    try:
        health(ctx)
    except LabError as err:
        return err.code in ("ApiUnreachable", "NoInstance")
    return False


@pytest.fixture(scope="module")
def deployed(sandbox_process):
    if "ec2" not in (get_sandbox_info(sandbox_process).compute or {}):
        pytest.skip("the sandbox runs no EC2 compute: add Ec2Compute to default_compute()")
    ctx = LabContext(Aws(Target.sandbox(endpoint_url=sandbox_process)), propose_svc("ec2"))
    apply(ctx, EXERCISE.steps)  # key pair … launch, wait for /health, predict the sample
    yield ctx
    apply_teardown(ctx, EXERCISE, teardown_plan(ctx, EXERCISE))


def test_launch_health_predict_and_green_checks(deployed):
    assert health(deployed).status == 200
    [prediction] = predict(deployed, [SAMPLE_RECORD])
    assert prediction.label in (">50K", "<=50K")
    checks = {r.id: r for r in run_checks(deployed, EXERCISE)}
    assert all(r.passed for r in checks.values()), [r for r in checks.values() if not r.passed]


def test_without_port_8000_in_the_security_group_the_api_refuses(deployed):
    group = ec2.get_security_group(deployed.aws, deployed.names.security_group)["GroupId"]
    client = deployed.aws.client("ec2")
    client.revoke_security_group_ingress(GroupId=group, IpPermissions=APP_RULE)
    try:
        assert refused(deployed)
        failed = {r.id: r for r in run_checks(deployed, EXERCISE)}
        assert not failed["ports"].passed and "8000 is closed" in failed["ports"].observed
    finally:
        client.authorize_security_group_ingress(GroupId=group, IpPermissions=APP_RULE)
    assert health(deployed).status == 200


def test_terminate_then_refused(deployed):
    address = instance_endpoint(deployed)
    apply_teardown(deployed, EXERCISE, teardown_plan(deployed, EXERCISE))
    assert instance_endpoint(deployed) is None and refused(deployed)
    import socket
    import urllib.parse

    with pytest.raises(OSError):
        socket.create_connection(urllib.parse.urlsplit(address)[1].split(":"), timeout=2).close()
