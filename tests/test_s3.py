import pytest

from backend import s3
from backend.errors import LabError


def test_ensure_bucket_creates_tags_and_is_idempotent(moto_aws):
    first = s3.ensure_bucket(moto_aws, "data-anna", tags={"lab:student": "anna"}, block_public_access=True)
    assert (first.created, first.changed, first.region) == (True, True, "eu-central-1")
    assert s3.get_bucket_tags(moto_aws, "data-anna") == {"lab:student": "anna"}
    assert s3.get_public_access_block(moto_aws, "data-anna") == s3.ALL_PUBLIC_ACCESS_BLOCKED
    second = s3.ensure_bucket(moto_aws, "data-anna", tags={"lab:student": "anna"}, block_public_access=True)
    assert (second.created, second.changed) == (False, False)


def test_ensure_bucket_merges_lab_tags_into_a_hand_made_bucket(moto_aws):
    client = moto_aws.client("s3")
    client.create_bucket(Bucket="data-anna", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    client.put_bucket_tagging(Bucket="data-anna", Tagging={"TagSet": [{"Key": "mine", "Value": "yes"}]})
    result = s3.ensure_bucket(moto_aws, "data-anna", tags={"lab:student": "anna"})
    assert (result.created, result.changed) == (False, True)
    assert s3.get_bucket_tags(moto_aws, "data-anna") == {"mine": "yes", "lab:student": "anna"}


@pytest.mark.parametrize("head_code, create_code", [("403", None), ("404", "BucketAlreadyExists")])
def test_bucket_of_another_account_is_reported_with_a_suggestion(moto_aws, head_code, create_code):
    # moto shares bucket names across its accounts without AWS's 403, so AWS's answers are stubbed here.
    from botocore.stub import Stubber

    client = moto_aws.client("s3")
    with Stubber(client) as stub:
        stub.add_client_error("head_bucket", service_error_code=head_code, http_status_code=int(head_code))
        if create_code:
            stub.add_client_error("create_bucket", service_error_code=create_code, http_status_code=409)
        with pytest.raises(s3.BucketTaken) as info:
            s3.ensure_bucket(moto_aws, "data-anna-1a2b3c")
        stub.assert_no_pending_responses()
    assert "taken by another AWS account" in info.value.message
    assert info.value.suggestion.startswith("data-anna-") and info.value.suggestion != "data-anna-1a2b3c"


@pytest.mark.parametrize("region, expected", [
    ("us-east-1", {"Bucket": "b-x"}),
    ("eu-central-1", {"Bucket": "b-x", "CreateBucketConfiguration": {"LocationConstraint": "eu-central-1"}}),
])
def test_create_bucket_kwargs_name_the_region_outside_us_east_1(region, expected):
    assert s3.create_bucket_kwargs("b-x", region) == expected


def test_upload_is_skipped_when_the_same_bytes_are_there(moto_aws, tmp_path):
    s3.ensure_bucket(moto_aws, "data-anna")
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,2\n")
    assert s3.upload_file(moto_aws, "data-anna", "f.csv", path).created
    assert not s3.upload_file(moto_aws, "data-anna", "f.csv", path).created
    path.write_text("a,b\n1,3\n")
    assert s3.upload_file(moto_aws, "data-anna", "f.csv", path).created


def test_download_is_skipped_when_the_file_is_current(moto_aws, course_bucket, tmp_path):
    dest = tmp_path / "model.onnx"
    assert s3.download_file(moto_aws, course_bucket, "model.onnx", dest)
    assert not s3.download_file(moto_aws, course_bucket, "model.onnx", dest)
    assert not list(tmp_path.glob("*.part"))


def test_download_of_a_missing_object_leaves_no_file(moto_aws, course_bucket, tmp_path):
    with pytest.raises(Exception):
        s3.download_file(moto_aws, course_bucket, "nope.csv", tmp_path / "nope.csv")
    assert list(tmp_path.iterdir()) == []


def test_list_objects_pages_through_everything(moto_aws):
    s3.ensure_bucket(moto_aws, "data-anna")
    client = moto_aws.client("s3")
    for i in range(1005):
        client.put_object(Bucket="data-anna", Key=f"k/{i:04d}", Body=b"x")
    objects = s3.list_objects(moto_aws, "data-anna", prefix="k/")
    assert len(objects) == 1005 and objects[0].size == 1


def test_delete_bucket_empties_it_and_missing_counts_as_done(moto_aws):
    s3.ensure_bucket(moto_aws, "data-anna")
    moto_aws.client("s3").put_object(Bucket="data-anna", Key="a", Body=b"1")
    assert s3.delete_bucket(moto_aws, "data-anna") is True
    assert s3.get_bucket_region(moto_aws, "data-anna") is None
    assert s3.delete_bucket(moto_aws, "data-anna") is False


def test_bucket_taken_is_a_lab_error():
    assert issubclass(s3.BucketTaken, LabError)
