"""Exercise 2's checks: pure functions of its State."""
from __future__ import annotations

from ...config import COURSE_BUCKET, COURSE_FILES
from ...i18n import N_, _, number
from ...lab import UNSEEN, Check, CheckResult, unseen
from .state import HANDOUT_MISNAMED_KEY, UPLOAD_KEY, State

COURSE = N_("The course bucket is readable")


def course(state: State) -> CheckResult:
    title = _(COURSE)
    if state.course_files is UNSEEN:
        return unseen("course", title)
    missing = [n for n in COURSE_FILES if n not in state.course_files]
    if missing:
        return CheckResult("course", title, False, _("Missing from {bucket}: {files}.").format(
                               bucket=COURSE_BUCKET, files=", ".join(missing)),
                           _("Ask your instructor to publish the course files (`python -m backend course publish`)."))
    return CheckResult("course", title, True, _("{bucket} holds the {n} course files.").format(
        bucket=COURSE_BUCKET, n=len(COURSE_FILES)))


def bucket(state: State) -> CheckResult:
    name = state.names.data_bucket
    title = _("Bucket {name} exists in {region}").format(name=name, region=state.region)
    if state.bucket is None:
        return CheckResult("bucket", title, False, _("No bucket named {name}.").format(name=name),
                           _("Create it (step 3) with {code}.").format(
                               code=f"CreateBucketConfiguration={{'LocationConstraint': '{state.region}'}}"))
    if state.bucket_region is UNSEEN:
        return CheckResult("bucket", title, True, _("{name} exists.").format(name=name))
    if state.bucket_region != state.region:
        return CheckResult("bucket", title, False, _("{name} is in {region}.").format(
                               name=name, region=state.bucket_region),
                           _("It was created in another region: without a LocationConstraint S3 creates it in "
                             "us-east-1. Delete it and create it again naming your region."))
    return CheckResult("bucket", title, True, _("{name} is in {region}.").format(name=name, region=state.bucket_region))


def upload(state: State) -> CheckResult:
    name = state.names.data_bucket
    title = _("input_batch.csv is in {name}").format(name=name)
    if state.bucket is None:
        return CheckResult("upload", title, False, _("No bucket named {name}.").format(name=name),
                           _("Create the bucket first (step 3)."))
    if state.keys is UNSEEN:
        return unseen("upload", title)
    if UPLOAD_KEY in state.keys:
        return CheckResult("upload", title, True, _("{url} is there.").format(url=f"s3://{name}/{UPLOAD_KEY}"))
    if HANDOUT_MISNAMED_KEY in state.keys:
        return CheckResult("upload", title, False, _("Found {key} instead.").format(key=HANDOUT_MISNAMED_KEY),
                           _("The handout's step 6 misnames the file: the course file is {key}.").format(
                               key=UPLOAD_KEY))
    observed = (_("The bucket holds {keys}.").format(keys=", ".join(state.keys[:5])) if state.keys
                else _("The bucket is empty."))
    return CheckResult("upload", title, False, observed,
                       _("Upload it (step 4) with the key {key}.").format(key=repr(UPLOAD_KEY)))


def same_file(state: State) -> CheckResult:
    title = _("It is the course's input_batch.csv")
    if state.upload is UNSEEN or state.course_upload is UNSEEN:
        return unseen("same_file", title)
    if state.upload is None:
        return CheckResult("same_file", title, False, _("Nothing uploaded yet."), _("Upload it first (step 4)."))
    if state.course_upload is not None and state.upload.etag == state.course_upload.etag:
        return CheckResult("same_file", title, True, _("Same content as the course file ({size} bytes).").format(
            size=number(state.upload.size)))
    return CheckResult("same_file", title, False, _("{size} bytes, different from the course file.").format(
                           size=number(state.upload.size)),
                       _("Download input_batch.csv again (step 2) and upload that file unchanged."))


CHECKS = (Check("course", COURSE, course),
          Check("bucket", N_("Your bucket exists in your region"), bucket),
          Check("upload", N_("input_batch.csv is uploaded"), upload),
          Check("same_file", N_("It is the course's file"), same_file))
