"""The code each exercise-2 step shows, with the student's values (the same ones the step uses)."""
from __future__ import annotations

from ... import s3
from ...config import COURSE_BUCKET, COURSE_FILES
from ...lab import LabContext
from ...names import lab_tags, tag_list
from .state import UPLOAD_KEY, course_dir


def region(ctx: LabContext) -> str:
    return f"""\
import boto3

session = boto3.session.Session()
print(session.region_name)   # -> {ctx.region!r} (from `aws configure`, AWS_REGION or the profile)
"""


def download(ctx: LabContext) -> str:
    lines = "\n".join(f"s3.download_file({COURSE_BUCKET!r}, {n!r}, {str(course_dir(ctx) / n)!r})" for n in COURSE_FILES)
    return f"""\
import os
import boto3

os.makedirs({str(course_dir(ctx))!r}, exist_ok=True)
s3 = boto3.client("s3", region_name={ctx.region!r})
{lines}
"""


def bucket(ctx: LabContext) -> str:
    kwargs = s3.create_bucket_kwargs(ctx.names.data_bucket, ctx.region)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
# Outside us-east-1 the region must be named again as LocationConstraint.
s3.create_bucket({args})
s3.get_waiter("bucket_exists").wait(Bucket={ctx.names.data_bucket!r})
s3.put_bucket_tagging(Bucket={ctx.names.data_bucket!r}, Tagging={{"TagSet": {tag_list(lab_tags(ctx.svc, 2))!r}}})
"""


def upload(ctx: LabContext) -> str:
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.upload_file({str(course_dir(ctx) / UPLOAD_KEY)!r}, {ctx.names.data_bucket!r}, {UPLOAD_KEY!r})
"""
