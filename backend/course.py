"""Publishing the course files into a bucket (instructors, real accounts)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .aws import Aws, Target
from .config import COURSE_FILES
from .errors import LabError
from .i18n import _, number
from .lab import Progress, no_progress
from . import s3

COURSE_TAGS = {"lab:course": "mlops-aws"}


def publish_course(target: Target, bucket: str, course_dir: Path, on_progress: Progress = no_progress) -> dict[str, Any]:
    """Create the course bucket if needed and upload the five course files; return what was uploaded.

    In the sandbox the layer is the local interpreter's build (the sandbox runs handlers with it), as the
    sandbox seeds it; on AWS it is the python3.12 manylinux one.
    """
    if target.is_sandbox:
        from .sandbox import course_sources
        sources = course_sources(course_dir)
    else:
        sources = {n: course_dir / n for n in COURSE_FILES if (course_dir / n).exists()}
    missing = [n for n in COURSE_FILES if n not in sources]
    if missing:
        raise LabError(_("Course files missing in {folder}: {files}. Run `python -m backend course build` first.")
                       .format(folder=course_dir, files=", ".join(missing)), "MissingArtifacts")
    aws = Aws(target)
    result = s3.ensure_bucket(aws, bucket, tags=COURSE_TAGS, block_public_access=True)
    on_progress((_("Created bucket {bucket} ({region})") if result.created else _("Using bucket {bucket} ({region})"))
                .format(bucket=bucket, region=result.region))
    files = []
    for name in COURSE_FILES:
        up = s3.upload_file(aws, bucket, name, sources[name])
        on_progress((_("uploaded: {name} ({size} bytes)") if up.created else _("unchanged: {name} ({size} bytes)"))
                    .format(name=name, size=number(up.size)))
        files.append({"key": name, "size": up.size, "uploaded": up.created})
    return {"bucket": bucket, "region": result.region, "files": files}
