"""What exercise 4's test modules share: the student, the caller's address, the setup steps, the Ubuntu
parameters plain moto lacks, and the context (import the fixtures into a test module to use them)."""
import pytest

from backend.exercises.ex4_ec2 import EXERCISE
from backend.lab import LabContext
from backend.sandbox import ec2_compute
from backend.sandbox.moto_hooks import Patches

SVC = "anna-1a2b3c"
MY_CIDR = "203.0.113.7/32"
SETUP_STEPS = ["key_pair", "security_group", "bundle", "instance"]


@pytest.fixture(autouse=True)
def ubuntu_parameters():
    """Canonical's public SSM parameters, which plain moto does not know (the sandbox's hook)."""
    patches = Patches()
    ec2_compute.install_ubuntu_amis(patches)
    yield
    patches.undo()


@pytest.fixture
def ctx(moto_aws, course_bucket):
    return LabContext(moto_aws, SVC, {"ssh_cidr": MY_CIDR})


def steps(ids):
    return [EXERCISE.step(i) for i in ids]
