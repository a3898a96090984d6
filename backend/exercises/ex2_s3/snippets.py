"""The code each exercise-2 step shows, with the student's values (the same ones the step uses).

The comments follow the language; their text is marked outside the f-strings (Babel does not look inside one).
"""
from __future__ import annotations

from ... import s3
from ...config import COURSE_BUCKET, COURSE_FILES
from ...i18n import _
from ...lab import LabContext
from ...names import lab_tags, tag_list
from .state import UPLOAD_KEY, course_dir


def region(ctx: LabContext) -> str:
    source = _("from `aws configure`, AWS_REGION or the profile")
    return f"""\
{ctx.folder_note()}
import boto3

session = boto3.session.Session()
print(session.region_name)   # -> {ctx.region!r} ({source})
"""


def download(ctx: LabContext) -> str:
    folder = course_dir(ctx).relative_to(ctx.workdir).as_posix()
    return f"""\
{ctx.folder_note()}
import os
import boto3

os.makedirs({folder!r}, exist_ok=True)
s3 = boto3.client("s3", region_name={ctx.region!r})
for name in {list(COURSE_FILES)!r}:
    s3.download_file({COURSE_BUCKET!r}, name, os.path.join({folder!r}, name))
"""


def bucket(ctx: LabContext) -> str:
    kwargs = s3.create_bucket_kwargs(ctx.names.data_bucket, ctx.region)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    outside = _("Outside us-east-1 the region must be named again as LocationConstraint.")
    return f"""\
{ctx.folder_note()}
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
# {outside}
s3.create_bucket({args})
s3.get_waiter("bucket_exists").wait(Bucket={ctx.names.data_bucket!r})
s3.put_bucket_tagging(Bucket={ctx.names.data_bucket!r}, Tagging={{"TagSet": {tag_list(lab_tags(ctx.svc, 2))!r}}})
"""


def upload(ctx: LabContext) -> str:
    local = (course_dir(ctx) / UPLOAD_KEY).relative_to(ctx.workdir).as_posix()
    return f"""\
{ctx.folder_note()}
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.upload_file({local!r}, {ctx.names.data_bucket!r}, {UPLOAD_KEY!r})
"""
