"""Exercise 2's state: the session's region, the course bucket, the local downloads, the student's bucket."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ... import s3
from ...classview import StudentView
from ...config import COURSE_BUCKET, COURSE_FILES
from ...lab import UNSEEN, LabContext, Unseen
from ...names import LabNames
from ...ownership import Seen

UPLOAD_KEY = "input_batch.csv"
HANDOUT_MISNAMED_KEY = "batch_input.csv"  # the handout's step 6 names the file this way


@dataclass(frozen=True)
class ObjectSeen:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class State:
    names: LabNames
    region: str
    course_files: tuple[str, ...] | Unseen  # keys present in the course bucket
    course_upload: ObjectSeen | None | Unseen  # the course's input_batch.csv
    downloads_missing: tuple[str, ...] | Unseen  # course files not (or not fully) in the local folder
    bucket: Seen | None
    bucket_region: str | None | Unseen
    keys: tuple[str, ...] | Unseen  # keys in the student's bucket
    upload: ObjectSeen | None | Unseen  # input_batch.csv in the student's bucket


def course_dir(ctx: LabContext) -> Path:
    """Return the student's local folder for the course files."""
    return ctx.workdir / "course"


def _object(ctx: LabContext, bucket: str, key: str) -> ObjectSeen | None:
    head = s3.head_object(ctx.aws, bucket, key)
    return None if head is None else ObjectSeen(key, head["ContentLength"], head["ETag"].strip('"'))


def observe(ctx: LabContext) -> State:
    """Read exercise 2's state from the account and the local folder."""
    names = ctx.names
    course = {o.key: o for o in s3.list_objects(ctx.aws, COURSE_BUCKET)}
    folder = course_dir(ctx)
    missing = tuple(n for n in COURSE_FILES if n in course and not (
        (folder / n).exists() and (folder / n).stat().st_size == course[n].size))
    bucket = s3.seen_bucket(ctx.aws, names.data_bucket)
    return State(
        names=names, region=ctx.region,
        course_files=tuple(sorted(course)),
        course_upload=_object(ctx, COURSE_BUCKET, UPLOAD_KEY) if UPLOAD_KEY in course else None,
        downloads_missing=missing,
        bucket=bucket,
        bucket_region=s3.get_bucket_region(ctx.aws, names.data_bucket) if bucket else None,
        keys=tuple(o.key for o in s3.list_objects(ctx.aws, names.data_bucket)) if bucket else (),
        upload=_object(ctx, names.data_bucket, UPLOAD_KEY) if bucket else None,
    )


def from_snapshot(view: StudentView) -> State:
    """Build the State from the class listings: buckets are seen, objects and downloads are not."""
    bucket = view.get("bucket", view.names.data_bucket)
    return State(names=view.names, region=view.region, course_files=UNSEEN, course_upload=UNSEEN, downloads_missing=UNSEEN,
                 bucket=bucket, bucket_region=UNSEEN if bucket else None,
                 keys=UNSEEN if bucket else (), upload=UNSEEN if bucket else None)
