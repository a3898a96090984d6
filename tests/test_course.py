"""Publishing the course files: all five, idempotent; the sandbox gets the layer built for its interpreter."""
import pytest

from backend.aws import Target
from backend.config import COURSE_FILES
from backend.course import publish_course
from backend.errors import LabError


@pytest.fixture
def course_dir(tmp_path):
    for name in COURSE_FILES:
        (tmp_path / name).write_bytes(f"aws {name}".encode())
    (tmp_path / "layer_file.local.zip").write_bytes(b"local layer")
    return tmp_path


def test_publish_uploads_the_five_files_once(moto_aws, course_dir):
    first = publish_course(Target.aws(region="eu-central-1"), "course-bucket-x", course_dir)
    assert [f["key"] for f in first["files"]] == list(COURSE_FILES) and all(f["uploaded"] for f in first["files"])
    again = publish_course(Target.aws(region="eu-central-1"), "course-bucket-x", course_dir)
    assert not any(f["uploaded"] for f in again["files"])
    body = moto_aws.client("s3").get_object(Bucket="course-bucket-x", Key="layer_file.zip")["Body"].read()
    assert body == b"aws layer_file.zip"  # real AWS gets the python3.12 layer


def test_missing_artifacts_say_how_to_build_them(moto_aws, tmp_path):
    with pytest.raises(LabError, match="course build"):
        publish_course(Target.aws(region="eu-central-1"), "course-bucket-x", tmp_path)


def test_sandbox_gets_the_local_layer(live_sandbox, course_dir):
    publish_course(Target.sandbox(endpoint_url=live_sandbox.url), "course-copy", course_dir)
    body = live_sandbox.client("s3").get_object(Bucket="course-copy", Key="layer_file.zip")["Body"].read()
    assert body == b"local layer"
