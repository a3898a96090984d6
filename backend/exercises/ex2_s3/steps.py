"""Exercise 2's steps: each plans from State (create / update / none, and why) and applies."""
from __future__ import annotations

from ... import s3
from ...config import COURSE_BUCKET, COURSE_FILES
from ...errors import LabError
from ...lab import Decision, LabContext, Progress, Step, StepResult, create, no_progress, nothing, update
from ...names import lab_tags
from ...ownership import adopted_note, claim
from . import snippets
from .state import UPLOAD_KEY, State, course_dir, observe


def plan_region(ctx: LabContext, state: State) -> Decision:
    return nothing(f"Reads the session's region ({state.region}); changes nothing.")


def run_region(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    return StepResult("region", False, f"This session works in region {ctx.region}.", {"region": ctx.region})


def plan_download(ctx: LabContext, state: State) -> Decision:
    if state.downloads_missing:
        return create(f"Download {', '.join(state.downloads_missing)} to {course_dir(ctx)}.")
    return nothing(f"All {len(COURSE_FILES)} course files are already in {course_dir(ctx)}.")


def run_download(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    dest = course_dir(ctx)
    fetched = []
    for name in COURSE_FILES:
        on_progress(f"{name}…")
        if s3.download_file(ctx.aws, COURSE_BUCKET, name, dest / name):
            fetched.append(name)
    summary = (f"Downloaded {', '.join(fetched)} to {dest}." if fetched
               else f"All {len(COURSE_FILES)} course files are already in {dest}: nothing to do.")
    return StepResult("download", bool(fetched), summary,
                      {"folder": str(dest), "downloaded": fetched, "files": list(COURSE_FILES)})


def plan_bucket(ctx: LabContext, state: State) -> Decision:
    name = state.names.data_bucket
    if state.bucket is None:
        return create(f"Create bucket {name} in {state.region}, tagged for {ctx.svc}.")
    if claim(ctx.svc, state.bucket) == "adopt":
        return update(f"Bucket {name} exists without the lab's tags: adopt it and tag it.")
    if state.bucket_region != state.region:
        return nothing(f"Bucket {name} is yours but in {state.bucket_region}: delete it (teardown) to recreate it.")
    return nothing(f"Bucket {name} exists in {state.region} and is yours.")


def run_bucket(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    state = observe_bucket(ctx)
    bucket = ctx.names.data_bucket
    adopted = state is not None and claim(ctx.svc, state) == "adopt"
    result = s3.ensure_bucket(ctx.aws, bucket, tags=lab_tags(ctx.svc, 2))
    if result.created:
        summary = f"Created bucket {bucket} in {result.region}."
    elif result.region != ctx.region:
        summary = (f"Bucket {bucket} is already yours, but in {result.region}, not {ctx.region}. "
                   f"Delete it (teardown) and create it again to follow the lab.")
    elif adopted:
        summary = adopted_note(state)
    else:
        summary = f"Bucket {bucket} already exists and is yours: nothing to do."
    return StepResult("bucket", result.changed, summary,
                      {"bucket": bucket, "region": result.region, "created": result.created, "adopted": adopted})


def observe_bucket(ctx: LabContext):
    """The bucket as it is right now (re-read before writing: another tab may have changed it)."""
    return s3.seen_bucket(ctx.aws, ctx.names.data_bucket)


def plan_upload(ctx: LabContext, state: State) -> Decision:
    name = state.names.data_bucket
    if state.upload is None:
        return create(f"Upload {UPLOAD_KEY} to s3://{name}/{UPLOAD_KEY}.")
    if state.course_upload is not None and state.upload.etag != state.course_upload.etag:
        return update(f"s3://{name}/{UPLOAD_KEY} differs from the course file: upload it again.")
    return nothing(f"s3://{name}/{UPLOAD_KEY} already holds the course file.")


def run_upload(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    local = course_dir(ctx) / UPLOAD_KEY
    if not local.exists():
        raise LabError(f"{local} is not there yet: run the download step first.", "MissingDownload")
    bucket = ctx.names.data_bucket
    seen = observe_bucket(ctx)
    if seen is None:
        raise LabError(f"Bucket {bucket} does not exist yet: run the bucket step first.", "MissingBucket")
    claim(ctx.svc, seen)  # never write into another student's bucket
    result = s3.upload_file(ctx.aws, bucket, UPLOAD_KEY, local)
    summary = (f"Uploaded {UPLOAD_KEY} ({result.size:,} bytes) to s3://{bucket}/{UPLOAD_KEY}." if result.created
               else f"s3://{bucket}/{UPLOAD_KEY} already holds the same file: nothing to do.")
    return StepResult("upload", result.created, summary, {"bucket": bucket, "key": UPLOAD_KEY, "size": result.size})


STEPS = (
    Step("region", "Show the session's region",
         "A boto3 session picks its region from `aws configure`, the profile or `AWS_REGION`. "
         "Buckets live in one region; create yours where you work.", run_region, snippets.region, plan_region),
    Step("download", "Download the course files",
         f"The course bucket `{COURSE_BUCKET}` holds the Lambda layer, the ONNX model, the MLflow model and "
         "two CSV batches. A file already downloaded with the same content is not fetched again.",
         run_download, snippets.download, plan_download),
    Step("bucket", "Create your bucket",
         "`create_bucket` needs `CreateBucketConfiguration={'LocationConstraint': region}` everywhere except "
         "us-east-1. The bucket is tagged so your instructor can find it.", run_bucket, snippets.bucket, plan_bucket),
    Step("upload", "Upload input_batch.csv",
         "`upload_file` streams a local file into an object; large files go up in parts automatically.",
         run_upload, snippets.upload, plan_upload),
)
