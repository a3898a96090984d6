"""Exercise 2's steps: each plans from State (create / update / none, and why) and applies."""
from __future__ import annotations

from ... import s3
from ...config import COURSE_BUCKET, COURSE_FILES
from ...errors import LabError
from ...i18n import N_, _, number
from ...lab import Decision, LabContext, Progress, Step, StepResult, create, no_progress, nothing, update
from ...names import lab_tags
from ...ownership import adopted_note, claim
from . import snippets
from .state import UPLOAD_KEY, State, course_dir, observe


def plan_region(ctx: LabContext, state: State) -> Decision:
    return nothing(_("Reads the session's region ({region}); changes nothing.").format(region=state.region))


def run_region(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    return StepResult("region", False, _("This session works in region {region}.").format(region=ctx.region),
                      {"region": ctx.region})


def plan_download(ctx: LabContext, state: State) -> Decision:
    if state.downloads_missing:
        return create(_("Download {files} to {folder}.").format(
            files=", ".join(state.downloads_missing), folder=course_dir(ctx)))
    return nothing(_("All {n} course files are already in {folder}.").format(
        n=len(COURSE_FILES), folder=course_dir(ctx)))


def run_download(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    dest = course_dir(ctx)
    fetched = []
    for name in COURSE_FILES:
        on_progress(f"{name}…")
        if s3.download_file(ctx.aws, COURSE_BUCKET, name, dest / name):
            fetched.append(name)
    summary = (_("Downloaded {files} to {folder}.").format(files=", ".join(fetched), folder=dest) if fetched
               else _("All {n} course files are already in {folder}: nothing to do.").format(
                   n=len(COURSE_FILES), folder=dest))
    return StepResult("download", bool(fetched), summary,
                      {"folder": str(dest), "downloaded": fetched, "files": list(COURSE_FILES)})


def plan_bucket(ctx: LabContext, state: State) -> Decision:
    name = state.names.data_bucket
    if state.bucket is None:
        return create(_("Create bucket {name} in {region}, tagged for {svc}.").format(
            name=name, region=state.region, svc=ctx.svc))
    if claim(ctx.svc, state.bucket) == "adopt":
        return update(_("Bucket {name} exists without the lab's tags: adopt it and tag it.").format(name=name))
    if state.bucket_region != state.region:
        return nothing(_("Bucket {name} is yours but in {region}: delete it (teardown) to recreate it.").format(
            name=name, region=state.bucket_region))
    return nothing(_("Bucket {name} exists in {region} and is yours.").format(name=name, region=state.region))


def run_bucket(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    state = observe_bucket(ctx)
    bucket = ctx.names.data_bucket
    adopted = state is not None and claim(ctx.svc, state) == "adopt"
    result = s3.ensure_bucket(ctx.aws, bucket, tags=lab_tags(ctx.svc, 2))
    if result.created:
        summary = _("Created bucket {name} in {region}.").format(name=bucket, region=result.region)
    elif result.region != ctx.region:
        summary = _("Bucket {name} is already yours, but in {region}, not {wanted}. "
                    "Delete it (teardown) and create it again to follow the lab.").format(
                        name=bucket, region=result.region, wanted=ctx.region)
    elif adopted:
        summary = adopted_note(state)
    else:
        summary = _("Bucket {name} already exists and is yours: nothing to do.").format(name=bucket)
    return StepResult("bucket", result.changed, summary,
                      {"bucket": bucket, "region": result.region, "created": result.created, "adopted": adopted})


def observe_bucket(ctx: LabContext):
    """The bucket as it is right now (re-read before writing: another tab may have changed it)."""
    return s3.seen_bucket(ctx.aws, ctx.names.data_bucket)


def plan_upload(ctx: LabContext, state: State) -> Decision:
    name = state.names.data_bucket
    url = f"s3://{name}/{UPLOAD_KEY}"
    if state.upload is None:
        return create(_("Upload {key} to {url}.").format(key=UPLOAD_KEY, url=url))
    if state.course_upload is not None and state.upload.etag != state.course_upload.etag:
        return update(_("{url} differs from the course file: upload it again.").format(url=url))
    return nothing(_("{url} already holds the course file.").format(url=url))


def run_upload(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    local = course_dir(ctx) / UPLOAD_KEY
    if not local.exists():
        raise LabError(_("{path} is not there yet: run the download step first.").format(path=local),
                       "MissingDownload")
    bucket = ctx.names.data_bucket
    seen = observe_bucket(ctx)
    if seen is None:
        raise LabError(_("Bucket {name} does not exist yet: run the bucket step first.").format(name=bucket),
                       "MissingBucket")
    claim(ctx.svc, seen)  # never write into another student's bucket
    result = s3.upload_file(ctx.aws, bucket, UPLOAD_KEY, local)
    url = f"s3://{bucket}/{UPLOAD_KEY}"
    summary = (_("Uploaded {key} ({size} bytes) to {url}.").format(key=UPLOAD_KEY, size=number(result.size), url=url)
               if result.created else _("{url} already holds the same file: nothing to do.").format(url=url))
    return StepResult("upload", result.created, summary, {"bucket": bucket, "key": UPLOAD_KEY, "size": result.size})


STEPS = (
    Step("region", N_("Show the session's region"),
         N_("A boto3 session picks its region from `aws configure`, the profile or `AWS_REGION`. "
            "Buckets live in one region; create yours where you work."), run_region, snippets.region, plan_region),
    # The course bucket's name is written out: a marked message is a literal (config.COURSE_BUCKET).
    Step("download", N_("Download the course files"),
         N_("The course bucket `layerfiles-mlops-course` holds the Lambda layer, the ONNX model, the MLflow model "
            "and two CSV batches. A file already downloaded with the same content is not fetched again."),
         run_download, snippets.download, plan_download),
    Step("bucket", N_("Create your bucket"),
         N_("`create_bucket` needs `CreateBucketConfiguration` with `LocationConstraint` set to your region "
            "everywhere except us-east-1. The bucket is tagged so your instructor can find it."),
         run_bucket, snippets.bucket, plan_bucket),
    Step("upload", N_("Upload input_batch.csv"),
         N_("`upload_file` streams a local file into an object; large files go up in parts automatically."),
         run_upload, snippets.upload, plan_upload),
)
