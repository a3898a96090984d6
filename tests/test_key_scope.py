"""Local files of one account stay apart from another's: the sandbox's private key is never the real account's."""
from backend.aws import Aws, Target
from backend.exercises.ex4_ec2 import key_file
from backend.lab import LabContext


def test_key_files_are_kept_per_target_account_and_region(moto_aws):
    svc = "anna-1a2b3c"
    real = key_file(LabContext(moto_aws, svc))
    other_region = key_file(LabContext(Aws(Target.aws(region="us-east-1")), svc))
    sandbox = key_file(LabContext(Aws(Target.sandbox(endpoint_url="http://127.0.0.1:9")), svc))
    assert real.parent.name == "123456789012-eu-central-1"
    assert other_region.parent.name == "123456789012-us-east-1"
    assert sandbox.parent.name == "sandbox-eu-central-1"  # no call to the (stopped) sandbox needed
    assert len({real, other_region, sandbox}) == 3 and real.name == sandbox.name == f"ec2-{svc}-key.pem"
