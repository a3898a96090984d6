"""Exercise 2's checks: pure functions of its State."""
from __future__ import annotations

from ...config import COURSE_BUCKET, COURSE_FILES
from ...lab import UNSEEN, Check, CheckResult, unseen
from .state import HANDOUT_MISNAMED_KEY, UPLOAD_KEY, State


def course(state: State) -> CheckResult:
    title = "The course bucket is readable"
    if state.course_files is UNSEEN:
        return unseen("course", title)
    missing = [n for n in COURSE_FILES if n not in state.course_files]
    if missing:
        return CheckResult("course", title, False, f"Missing from {COURSE_BUCKET}: {', '.join(missing)}.",
                           "Ask your instructor to publish the course files (`python -m backend course publish`).")
    return CheckResult("course", title, True, f"{COURSE_BUCKET} holds the {len(COURSE_FILES)} course files.")


def bucket(state: State) -> CheckResult:
    name = state.names.data_bucket
    title = f"Bucket {name} exists in {state.region}"
    if state.bucket is None:
        return CheckResult("bucket", title, False, f"No bucket named {name}.",
                           f"Create it (step 3) with CreateBucketConfiguration={{'LocationConstraint': '{state.region}'}}.")
    if state.bucket_region is UNSEEN:
        return CheckResult("bucket", title, True, f"{name} exists.")
    if state.bucket_region != state.region:
        return CheckResult("bucket", title, False, f"{name} is in {state.bucket_region}.",
                           "It was created in another region: without a LocationConstraint S3 creates it in "
                           "us-east-1. Delete it and create it again naming your region.")
    return CheckResult("bucket", title, True, f"{name} is in {state.bucket_region}.")


def upload(state: State) -> CheckResult:
    name = state.names.data_bucket
    title = f"input_batch.csv is in {name}"
    if state.bucket is None:
        return CheckResult("upload", title, False, f"No bucket named {name}.", "Create the bucket first (step 3).")
    if state.keys is UNSEEN:
        return unseen("upload", title)
    if UPLOAD_KEY in state.keys:
        return CheckResult("upload", title, True, f"s3://{name}/{UPLOAD_KEY} is there.")
    if HANDOUT_MISNAMED_KEY in state.keys:
        return CheckResult("upload", title, False, f"Found {HANDOUT_MISNAMED_KEY} instead.",
                           f"The handout's step 6 misnames the file: the course file is {UPLOAD_KEY}.")
    seen = ", ".join(state.keys[:5]) or "nothing"
    return CheckResult("upload", title, False, f"The bucket holds {seen}.",
                       f"Upload it (step 4) with the key {UPLOAD_KEY!r}.")


def same_file(state: State) -> CheckResult:
    title = "It is the course's input_batch.csv"
    if state.upload is UNSEEN or state.course_upload is UNSEEN:
        return unseen("same_file", title)
    if state.upload is None:
        return CheckResult("same_file", title, False, "Nothing uploaded yet.", "Upload it first (step 4).")
    if state.course_upload is not None and state.upload.etag == state.course_upload.etag:
        return CheckResult("same_file", title, True, f"Same content as the course file ({state.upload.size:,} bytes).")
    return CheckResult("same_file", title, False, f"{state.upload.size:,} bytes, different from the course file.",
                       "Download input_batch.csv again (step 2) and upload that file unchanged.")


CHECKS = (Check("course", "The course bucket is readable", course),
          Check("bucket", "Your bucket exists in your region", bucket),
          Check("upload", "input_batch.csv is uploaded", upload),
          Check("same_file", "It is the course's file", same_file))
