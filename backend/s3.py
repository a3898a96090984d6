"""S3: buckets and objects for the lab, one small function per intent (get-or-create, list, copy)."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import LabError, aws_error, error_code, is_not_found
from .i18n import _
from .names import propose_svc

log = logging.getLogger(__name__)


class BucketTaken(LabError):
    """The bucket name belongs to another account: `suggestion` is a free-looking alternative."""

    def __init__(self, bucket: str, suggestion: str) -> None:
        super().__init__(
            _("The bucket name {bucket} is already taken by another AWS account (bucket names are global). "
              "Choose another service name, for example {suggestion}.").format(bucket=repr(bucket),
                                                                              suggestion=repr(suggestion)),
            "BucketTaken")
        self.bucket = bucket
        self.suggestion = suggestion


@dataclass(frozen=True)
class BucketResult:
    name: str
    region: str
    created: bool
    changed: bool  # created, or settings (tags, public access block) brought in line


@dataclass(frozen=True)
class BucketInfo:
    name: str
    created: datetime | None


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    etag: str


@dataclass(frozen=True)
class UploadResult:
    bucket: str
    key: str
    size: int
    created: bool


def create_bucket_kwargs(bucket: str, region: str) -> dict[str, Any]:
    """Return CreateBucket's arguments: us-east-1 takes no LocationConstraint, every other region needs it."""
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    return kwargs


def get_bucket_region(aws: Aws, bucket: str) -> str | None:
    """Return the region of a bucket we can see, or None if it does not exist.

    Raises BucketTaken when it exists but belongs to someone else (HeadBucket answers 403).
    """
    s3 = aws.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        code = error_code(err)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketTaken(bucket, _suggest(bucket)) from err
        raise aws_error(err) from err
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return location or "us-east-1"  # S3 reports us-east-1 as an empty constraint


def bucket_exists(aws: Aws, bucket: str) -> bool:
    """Return True if the bucket exists and is ours."""
    return get_bucket_region(aws, bucket) is not None


def _suggest(bucket: str) -> str:
    # Replace the random suffix (or append one): "data-anna-1a2b3c" -> "data-anna-9f8e7d".
    stem = bucket.rsplit("-", 1)[0] if len(bucket.rsplit("-", 1)[-1]) == 6 else bucket
    return propose_svc(stem)


def ensure_bucket(aws: Aws, bucket: str, tags: dict[str, str] | None = None,
                  block_public_access: bool = False) -> BucketResult:
    """Get or create a bucket in the session's region, tagged; a bucket already ours is left as it is."""
    s3 = aws.client("s3")
    region = get_bucket_region(aws, bucket)
    created = False
    if region is None:
        try:
            s3.create_bucket(**create_bucket_kwargs(bucket, aws.region))
            created = True
        except ClientError as err:
            code = error_code(err)
            if code == "BucketAlreadyExists":
                raise BucketTaken(bucket, _suggest(bucket)) from err
            if code != "BucketAlreadyOwnedByYou":  # a concurrent create of ours: fine
                raise aws_error(err) from err
        s3.get_waiter("bucket_exists").wait(Bucket=bucket, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        region = aws.region
    changed = created
    if block_public_access and get_public_access_block(aws, bucket) != ALL_PUBLIC_ACCESS_BLOCKED:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL_PUBLIC_ACCESS_BLOCKED)
        changed = True
    if tags:
        current = get_bucket_tags(aws, bucket)
        if any(current.get(k) != v for k, v in tags.items()):  # merge: keep the student's own tags
            merged = {**current, **tags}
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]})
            changed = True
    return BucketResult(bucket, region, created, changed)


ALL_PUBLIC_ACCESS_BLOCKED = {
    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
}


def get_public_access_block(aws: Aws, bucket: str) -> dict[str, bool] | None:
    """Return the bucket's public access block settings, or None if none is set."""
    try:
        return aws.client("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def get_bucket_tags(aws: Aws, bucket: str) -> dict[str, str]:
    """Return a bucket's tags ({} if it has none)."""
    try:
        tag_set = aws.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as err:
        if is_not_found(err):
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def list_buckets(aws: Aws) -> list[BucketInfo]:
    """Return the account's buckets, by name."""
    response = aws.client("s3").list_buckets()
    return sorted((BucketInfo(b["Name"], b.get("CreationDate")) for b in response.get("Buckets", [])),
                  key=lambda b: b.name)


def list_objects(aws: Aws, bucket: str, prefix: str = "") -> list[ObjectInfo]:
    """Return every object of a bucket under a prefix (paginated)."""
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    objects = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            objects.append(ObjectInfo(item["Key"], item["Size"], item["LastModified"], item["ETag"].strip('"')))
    return objects


def head_object(aws: Aws, bucket: str, key: str) -> dict[str, Any] | None:
    """Return an object's metadata (HeadObject), or None if it or its bucket does not exist."""
    try:
        return aws.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def read_object(aws: Aws, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
    """Return an object's bytes (the first max_bytes if given)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if max_bytes is not None:
        kwargs["Range"] = f"bytes=0-{max_bytes - 1}"
    return aws.client("s3").get_object(**kwargs)["Body"].read()


def file_md5(path: Path) -> str:
    """Return the hex MD5 of a file (S3's ETag for a single-part upload)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload_file(aws: Aws, bucket: str, key: str, path: Path) -> UploadResult:
    """Upload a local file unless the same bytes are already there (compared by size and MD5 ETag)."""
    path = Path(path)
    size = path.stat().st_size
    head = head_object(aws, bucket, key)
    if head is not None and head["ContentLength"] == size and head["ETag"].strip('"') == file_md5(path):
        return UploadResult(bucket, key, size, False)
    aws.client("s3").upload_file(str(path), bucket, key)
    return UploadResult(bucket, key, size, True)


def put_bytes(aws: Aws, bucket: str, key: str, data: bytes, content_type: str | None = None) -> UploadResult:
    """Write bytes to an object (always writes: an upload is an event the lab may react to)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": data}
    if content_type:
        kwargs["ContentType"] = content_type
    aws.client("s3").put_object(**kwargs)
    return UploadResult(bucket, key, len(data), True)


def download_file(aws: Aws, bucket: str, key: str, dest: Path) -> bool:
    """Download an object to dest unless dest already holds the same bytes; return True if it downloaded."""
    dest = Path(dest)
    head = aws.client("s3").head_object(Bucket=bucket, Key=key)
    etag = head["ETag"].strip('"')
    if dest.exists() and dest.stat().st_size == head["ContentLength"] and ("-" in etag or file_md5(dest) == etag):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    # s3transfer writes to a temporary name and renames at the end: no half-written file under dest.
    aws.client("s3").download_file(bucket, key, str(dest))
    return True


def empty_bucket(aws: Aws, bucket: str) -> int:
    """Delete every object (and version) of a bucket; return how many were deleted (0 if it is gone)."""
    s3 = aws.client("s3")
    deleted = 0
    try:
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(batch), 1000):
                chunk = batch[start:start + 1000]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                deleted += len(chunk)
    except ClientError as err:
        if is_not_found(err):
            return 0
        raise
    return deleted


def delete_bucket(aws: Aws, bucket: str) -> bool:
    """Empty and delete a bucket; return False if it did not exist (missing counts as success)."""
    if get_bucket_region(aws, bucket) is None:
        return False
    empty_bucket(aws, bucket)
    try:
        aws.client("s3").delete_bucket(Bucket=bucket)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    aws.client("s3").get_waiter("bucket_not_exists").wait(Bucket=bucket, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return True


def get_notification_configuration(aws: Aws, bucket: str) -> dict[str, Any]:
    """Return a bucket's notification configuration without response metadata ({} if none)."""
    config = aws.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    return {k: v for k, v in config.items() if k != "ResponseMetadata" and v}


def ensure_lambda_notification(aws: Aws, bucket: str, function_arn: str, config_id: str,
                               events: tuple[str, ...] = ("s3:ObjectCreated:*",)) -> bool:
    """Add (or fix) one Lambda notification on a bucket, keeping every other notification; True if changed."""
    config = get_notification_configuration(aws, bucket)
    lambdas = config.get("LambdaFunctionConfigurations", [])
    wanted = {"Id": config_id, "LambdaFunctionArn": function_arn, "Events": list(events)}
    for existing in lambdas:
        if existing.get("LambdaFunctionArn") == function_arn and set(events) <= set(existing.get("Events", [])):
            return False
    config["LambdaFunctionConfigurations"] = [c for c in lambdas if c.get("Id") != config_id] + [wanted]
    aws.client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    return True


def remove_lambda_notification(aws: Aws, bucket: str, function_arn: str) -> bool:
    """Remove the notifications of one function from a bucket, keeping the others; True if any was removed."""
    try:
        config = get_notification_configuration(aws, bucket)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    lambdas = config.get("LambdaFunctionConfigurations", [])
    kept = [c for c in lambdas if c.get("LambdaFunctionArn") != function_arn]
    if len(kept) == len(lambdas):
        return False
    config["LambdaFunctionConfigurations"] = kept
    if not kept:
        del config["LambdaFunctionConfigurations"]
    aws.client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    return True


def seen_bucket(aws: Aws, bucket: str) -> "Seen | None":
    """Return the bucket as the lab sees it (name, tags), or None if no bucket has that name here."""
    from .ownership import Seen

    if get_bucket_region(aws, bucket) is None:
        return None
    return Seen("bucket", bucket, bucket, get_bucket_tags(aws, bucket))


def put_tags(aws: Aws, bucket: str, tags: dict[str, str]) -> None:
    """Add tags to a bucket, keeping the ones it has."""
    merged = {**get_bucket_tags(aws, bucket), **tags}
    aws.client("s3").put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]})


def object_sha256(aws: Aws, bucket: str, key: str) -> str:
    """Return base64(sha256) of an object's bytes (Lambda's CodeSha256 form), streamed, never held whole."""
    import base64

    digest = hashlib.sha256()
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()
