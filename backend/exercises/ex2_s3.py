"""Exercise 2: S3 with boto3 — region, course files, a bucket, an upload."""
from __future__ import annotations

from ..config import COURSE_BUCKET, COURSE_FILES
from ..errors import LabError
from ..lab import Check, CheckResult, Exercise, LabContext, Progress, Step, StepResult, no_progress
from ..names import lab_tags
from .. import s3

INTRO = """\
S3 stores objects (files) in buckets. With boto3 you will read the region your session works in,
download the course files from the course bucket `layerfiles-mlops-course`, create a bucket of your
own and upload `input_batch.csv` to it. Bucket names are global across all AWS accounts, which is
why yours carries your service name."""

UPLOAD_KEY = "input_batch.csv"


def course_dir(ctx: LabContext):
    """Return the student's local folder for the course files."""
    return ctx.workdir / "course"


def _region(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    return StepResult("region", False, f"This session works in region {ctx.region}.", {"region": ctx.region})


def _region_code(ctx: LabContext) -> str:
    return f"""\
import boto3

session = boto3.session.Session()
print(session.region_name)   # -> {ctx.region!r} (from `aws configure`, AWS_REGION or the profile)
"""


def _download(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    dest = course_dir(ctx)
    fetched = [name for name in COURSE_FILES if s3.download_file(ctx.aws, COURSE_BUCKET, name, dest / name)]
    summary = (f"Downloaded {', '.join(fetched)} to {dest}." if fetched
               else f"All {len(COURSE_FILES)} course files are already in {dest}: nothing to do.")
    return StepResult("download", bool(fetched), summary,
                      {"folder": str(dest), "downloaded": fetched, "files": list(COURSE_FILES)})


def _download_code(ctx: LabContext) -> str:
    lines = "\n".join(f"s3.download_file({COURSE_BUCKET!r}, {n!r}, {str(course_dir(ctx) / n)!r})" for n in COURSE_FILES)
    return f"""\
import os
import boto3

os.makedirs({str(course_dir(ctx))!r}, exist_ok=True)
s3 = boto3.client("s3", region_name={ctx.region!r})
{lines}
"""


def _bucket(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    bucket = ctx.names.data_bucket
    result = s3.ensure_bucket(ctx.aws, bucket, tags=lab_tags(ctx.svc, 2))
    if result.created:
        summary = f"Created bucket {bucket} in {result.region}."
    elif result.region != ctx.region:
        summary = (f"Bucket {bucket} is already yours, but in {result.region}, not {ctx.region}. "
                   f"Delete it (teardown) and create it again to follow the lab.")
    else:
        summary = f"Bucket {bucket} already exists and is yours: nothing to do." + (
            " (Added the lab's tags.)" if result.changed else "")
    return StepResult("bucket", result.changed, summary,
                      {"bucket": bucket, "region": result.region, "created": result.created})


def _bucket_code(ctx: LabContext) -> str:
    kwargs = s3.create_bucket_kwargs(ctx.names.data_bucket, ctx.region)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    tags = [{"Key": k, "Value": v} for k, v in lab_tags(ctx.svc, 2).items()]
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
# Outside us-east-1 the region must be named again as LocationConstraint.
s3.create_bucket({args})
s3.get_waiter("bucket_exists").wait(Bucket={ctx.names.data_bucket!r})
s3.put_bucket_tagging(Bucket={ctx.names.data_bucket!r}, Tagging={{"TagSet": {tags!r}}})
"""


def _upload(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    local = course_dir(ctx) / UPLOAD_KEY
    if not local.exists():
        raise LabError(f"{local} is not there yet: run the download step first.", "MissingDownload")
    bucket = ctx.names.data_bucket
    if not s3.bucket_exists(ctx.aws, bucket):
        raise LabError(f"Bucket {bucket} does not exist yet: run the bucket step first.", "MissingBucket")
    result = s3.upload_file(ctx.aws, bucket, UPLOAD_KEY, local)
    summary = (f"Uploaded {UPLOAD_KEY} ({result.size:,} bytes) to s3://{bucket}/{UPLOAD_KEY}." if result.created
               else f"s3://{bucket}/{UPLOAD_KEY} already holds the same file: nothing to do.")
    return StepResult("upload", result.created, summary, {"bucket": bucket, "key": UPLOAD_KEY, "size": result.size})


def _upload_code(ctx: LabContext) -> str:
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.upload_file({str(course_dir(ctx) / UPLOAD_KEY)!r}, {ctx.names.data_bucket!r}, {UPLOAD_KEY!r})
"""


def _check_course(ctx: LabContext) -> CheckResult:
    title = "The course bucket is readable"
    present = {o.key for o in s3.list_objects(ctx.aws, COURSE_BUCKET)}
    missing = [n for n in COURSE_FILES if n not in present]
    if missing:
        return CheckResult("course", title, False, f"Missing from {COURSE_BUCKET}: {', '.join(missing)}.",
                           "Ask your instructor to publish the course files (`python -m backend course publish`).")
    return CheckResult("course", title, True, f"{COURSE_BUCKET} holds the {len(COURSE_FILES)} course files.")


def _check_bucket(ctx: LabContext) -> CheckResult:
    bucket = ctx.names.data_bucket
    title = f"Bucket {bucket} exists in {ctx.region}"
    region = s3.get_bucket_region(ctx.aws, bucket)
    if region is None:
        return CheckResult("bucket", title, False, f"No bucket named {bucket}.",
                           f"Create it (step 3) with CreateBucketConfiguration={{'LocationConstraint': '{ctx.region}'}}.")
    if region != ctx.region:
        return CheckResult("bucket", title, False, f"{bucket} is in {region}.",
                           "It was created in another region: without a LocationConstraint S3 creates it in "
                           "us-east-1. Delete it and create it again naming your region.")
    return CheckResult("bucket", title, True, f"{bucket} is in {region}.")


def _check_upload(ctx: LabContext) -> CheckResult:
    bucket = ctx.names.data_bucket
    title = f"input_batch.csv is in {bucket}"
    if s3.get_bucket_region(ctx.aws, bucket) is None:
        return CheckResult("upload", title, False, f"No bucket named {bucket}.", "Create the bucket first (step 3).")
    keys = [o.key for o in s3.list_objects(ctx.aws, bucket)]
    if UPLOAD_KEY in keys:
        return CheckResult("upload", title, True, f"s3://{bucket}/{UPLOAD_KEY} is there.")
    if "batch_input.csv" in keys:
        return CheckResult("upload", title, False, "Found batch_input.csv instead.",
                           "The handout's step 6 misnames the file: the course file is input_batch.csv.")
    seen = ", ".join(keys[:5]) or "nothing"
    return CheckResult("upload", title, False, f"The bucket holds {seen}.",
                       f"Upload it (step 4) with the key {UPLOAD_KEY!r}.")


def _check_same_file(ctx: LabContext) -> CheckResult:
    bucket = ctx.names.data_bucket
    title = "It is the course's input_batch.csv"
    ours = s3.head_object(ctx.aws, bucket, UPLOAD_KEY) if s3.get_bucket_region(ctx.aws, bucket) else None
    if ours is None:
        return CheckResult("same_file", title, False, "Nothing uploaded yet.", "Upload it first (step 4).")
    course = s3.head_object(ctx.aws, COURSE_BUCKET, UPLOAD_KEY)
    if course is not None and ours["ETag"] == course["ETag"]:
        return CheckResult("same_file", title, True, f"Same content as the course file ({ours['ContentLength']:,} bytes).")
    return CheckResult("same_file", title, False,
                       f"{ours['ContentLength']:,} bytes, different from the course file.",
                       "Download input_batch.csv again (step 2) and upload that file unchanged.")


def teardown(ctx: LabContext, on_progress: Progress = no_progress) -> list:
    """Delete the exercise's bucket and everything in it."""
    bucket = ctx.names.data_bucket
    on_progress(f"Deleting bucket {bucket}…")
    deleted = s3.delete_bucket(ctx.aws, bucket)
    summary = f"Deleted bucket {bucket} and its objects." if deleted else f"Bucket {bucket} was already gone."
    on_progress(summary)
    return [StepResult("delete_bucket", deleted, summary, {"bucket": bucket})]


EXERCISE = Exercise(
    number=2,
    title="S3 with boto3",
    intro=INTRO,
    steps=(
        Step("region", "Show the session's region",
             "A boto3 session picks its region from `aws configure`, the profile or `AWS_REGION`. "
             "Buckets live in one region; create yours where you work.", _region, _region_code),
        Step("download", "Download the course files",
             f"The course bucket `{COURSE_BUCKET}` holds the Lambda layer, the ONNX model, the MLflow model and "
             "two CSV batches. A file already downloaded with the same content is not fetched again.",
             _download, _download_code),
        Step("bucket", "Create your bucket",
             "`create_bucket` needs `CreateBucketConfiguration={'LocationConstraint': region}` everywhere except "
             "us-east-1. The bucket is tagged so your instructor can find it.", _bucket, _bucket_code),
        Step("upload", "Upload input_batch.csv",
             "`upload_file` streams a local file into an object; large files go up in parts automatically.",
             _upload, _upload_code),
    ),
    checks=(Check("course", "The course bucket is readable", _check_course),
            Check("bucket", "Your bucket exists in your region", _check_bucket),
            Check("upload", "input_batch.csv is uploaded", _check_upload),
            Check("same_file", "It is the course's file", _check_same_file)),
    teardown=teardown,
)
