"""Lambda: functions, layers and the S3 permission, get-or-create and brought in line with a spec."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import LabError, error_code, is_not_found
from .i18n import _, number

log = logging.getLogger(__name__)

# A role created seconds ago is not yet assumable by Lambda on real AWS (IAM propagates in ~10 s,
# sometimes more): retry CreateFunction for up to CREATE_ATTEMPTS x CREATE_DELAY_S before giving up.
CREATE_ATTEMPTS = 20
CREATE_DELAY_S = 3.0
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger zips must go through S3


@dataclass(frozen=True)
class FunctionSpec:
    """What a function should look like; ensure_function makes it so."""

    name: str
    role_arn: str
    zip_bytes: bytes
    handler: str
    runtime: str = "python3.12"
    memory_mb: int = 256
    timeout_s: int = 10
    environment: dict[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    architecture: str = "x86_64"
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def code_sha256(self) -> str:
        return base64.b64encode(hashlib.sha256(self.zip_bytes).digest()).decode()


@dataclass(frozen=True)
class FunctionResult:
    name: str
    arn: str
    created: bool
    updated: tuple[str, ...]  # what was brought in line: "code", "configuration"


@dataclass(frozen=True)
class LayerResult:
    name: str
    version_arn: str
    version: int
    created: bool
    via_s3: bool = False


def zip_files(files: dict[str, bytes]) -> bytes:
    """Return a deterministic zip (sorted names, fixed timestamps) of name -> bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def zip_directory_files(folder: Path, names: list[str]) -> bytes:
    """Return a deterministic zip of the named files of a folder, at the zip's root."""
    return zip_files({name: (folder / name).read_bytes() for name in names})


def get_function(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return a function's configuration, or None if there is none."""
    try:
        return aws.client("lambda").get_function_configuration(FunctionName=name)
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def _config_differences(current: dict[str, Any], spec: FunctionSpec) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if current.get("Role") != spec.role_arn:
        wanted["Role"] = spec.role_arn
    if current.get("Handler") != spec.handler:
        wanted["Handler"] = spec.handler
    if current.get("Runtime") != spec.runtime:
        wanted["Runtime"] = spec.runtime
    if current.get("MemorySize") != spec.memory_mb:
        wanted["MemorySize"] = spec.memory_mb
    if current.get("Timeout") != spec.timeout_s:
        wanted["Timeout"] = spec.timeout_s
    if (current.get("Environment") or {}).get("Variables", {}) != spec.environment:
        wanted["Environment"] = {"Variables": spec.environment}
    if [layer["Arn"] for layer in current.get("Layers", [])] != list(spec.layers):
        wanted["Layers"] = list(spec.layers)
    return wanted


def ensure_function(aws: Aws, spec: FunctionSpec, sleep: Callable[[float], None] = time.sleep,
                    on_progress: Callable[[str], None] = lambda _: None) -> FunctionResult:
    """Create the function, or update its code and configuration where they differ from spec."""
    client = aws.client("lambda")
    current = get_function(aws, spec.name)
    if current is None:
        kwargs = dict(FunctionName=spec.name, Runtime=spec.runtime, Role=spec.role_arn, Handler=spec.handler,
                      Code={"ZipFile": spec.zip_bytes}, Timeout=spec.timeout_s, MemorySize=spec.memory_mb,
                      Environment={"Variables": spec.environment}, Layers=list(spec.layers),
                      Architectures=[spec.architecture], Tags=spec.tags, Description=spec.description,
                      Publish=False)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                arn = client.create_function(**kwargs)["FunctionArn"]
                break
            except ClientError as err:
                code = error_code(err)
                if code == "ResourceConflictException":  # created concurrently: update below
                    current = get_function(aws, spec.name)
                    break
                role_not_ready = code == "InvalidParameterValueException" and "role" in str(err).lower()
                if not role_not_ready or attempt == CREATE_ATTEMPTS:
                    raise
                on_progress(_("The new role is not usable by Lambda yet (IAM propagation); retrying ({attempt})…")
                            .format(attempt=attempt))
                sleep(CREATE_DELAY_S)
        if current is None:
            client.get_waiter("function_active_v2").wait(FunctionName=spec.name)
            return FunctionResult(spec.name, arn, True, ())
    updated = []
    if current.get("CodeSha256") != spec.code_sha256:
        client.update_function_code(FunctionName=spec.name, ZipFile=spec.zip_bytes)
        client.get_waiter("function_updated_v2").wait(FunctionName=spec.name)
        updated.append("code")
    differences = _config_differences(current, spec)
    if differences:
        client.update_function_configuration(FunctionName=spec.name, **differences)
        client.get_waiter("function_updated_v2").wait(FunctionName=spec.name)
        updated.append("configuration")
    return FunctionResult(spec.name, current["FunctionArn"], False, tuple(updated))


def latest_layer_version(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return the newest version of a layer (with its Content), or None if it has none."""
    client = aws.client("lambda")
    try:
        versions = client.list_layer_versions(LayerName=name).get("LayerVersions", [])
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    if not versions:
        return None
    newest = max(versions, key=lambda v: v["Version"])
    return client.get_layer_version(LayerName=name, VersionNumber=newest["Version"])


# One lock per layer name: two runs in this process (two tabs of the dashboard) check and publish in turn.
_layer_locks: dict[str, threading.Lock] = {}
_layer_locks_guard = threading.Lock()


def _layer_lock(name: str) -> threading.Lock:
    with _layer_locks_guard:
        return _layer_locks.setdefault(name, threading.Lock())


def _same_layer(version: dict[str, Any], sha: str, description: str) -> bool:
    return (version.get("Content", {}).get("CodeSha256") == sha
            and (version.get("Description") or "") == description)


def ensure_layer(aws: Aws, name: str, zip_bytes: bytes, runtime: str, architecture: str = "x86_64",
                 description: str = "", staging: tuple[str, str] | None = None) -> LayerResult:
    """Publish a layer version unless the newest one has the same bytes and description.

    (Layers cannot carry tags: a description that differs, e.g. one without the lab's tags, is
    brought in line by a new version.)

    Zips over the direct-upload limit go through S3: `staging` is the (bucket, key) to put them in.

    Two runs at the same moment leave one version. Lambda offers no conditional or idempotent
    PublishLayerVersion (no client token; every call makes a new version), so a check-then-publish
    races across processes (the CLI and a page) and a lock can only serialise this process's runs.
    What AWS does allow is deleting a version: after publishing, the versions published since the
    newest one seen are re-read, and if an identical one is older than ours, ours is deleted and
    the older one used. Whichever order the calls land in, the oldest identical version stays and
    every racer returns it. (A function attached to the deleted version in that instant keeps
    working on AWS, which keeps a copy of a deleted layer version for the functions using it.)
    """
    sha = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    with _layer_lock(name):
        newest = latest_layer_version(aws, name)
        if newest is not None and _same_layer(newest, sha, description):
            return LayerResult(name, newest["LayerVersionArn"], newest["Version"], False)
        via_s3 = len(zip_bytes) > DIRECT_UPLOAD_LIMIT
        if via_s3:
            if staging is None:
                raise LabError(_("The layer zip is {size} MB, over the 50 MB direct upload limit, and no bucket "
                                 "was given to stage it.").format(size=number(round(len(zip_bytes) / 2**20))),
                               "LayerTooLarge")
            aws.client("s3").put_object(Bucket=staging[0], Key=staging[1], Body=zip_bytes)
            content = {"S3Bucket": staging[0], "S3Key": staging[1]}
        else:
            content = {"ZipFile": zip_bytes}
        published = aws.client("lambda").publish_layer_version(
            LayerName=name, Description=description, Content=content, CompatibleRuntimes=[runtime],
            CompatibleArchitectures=[architecture])
        twin = _older_twin(aws, name, published["Version"], newest["Version"] if newest else 0, sha, description)
        if twin is None:
            return LayerResult(name, published["LayerVersionArn"], published["Version"], True, via_s3)
        log.info("layer %s: version %s duplicates version %s published at the same moment; deleting it",
                 name, published["Version"], twin["Version"])
        try:
            aws.client("lambda").delete_layer_version(LayerName=name, VersionNumber=published["Version"])
        except ClientError as err:  # a duplicate left behind is harmless: report, use the older one
            log.warning("layer %s: could not delete duplicate version %s: %s %s", name, published["Version"],
                        error_code(err), err)
        return LayerResult(name, twin["LayerVersionArn"], twin["Version"], False, via_s3)


def _older_twin(aws: Aws, name: str, ours: int, seen: int, sha: str, description: str) -> dict[str, Any] | None:
    """The oldest version published after `seen` and before `ours` with the same content, if any."""
    client = aws.client("lambda")
    versions = [v["Version"] for page in client.get_paginator("list_layer_versions").paginate(LayerName=name)
                for v in page.get("LayerVersions", []) if seen < v["Version"] < ours]
    for number in sorted(versions):
        try:
            version = client.get_layer_version(LayerName=name, VersionNumber=number)
        except ClientError as err:
            if is_not_found(err):  # deleted meanwhile by its own racer
                continue
            raise
        if _same_layer(version, sha, description):
            return version
    return None


def function_policy(aws: Aws, name: str) -> dict[str, Any]:
    """Return a function's resource policy ({} if it has none)."""
    try:
        return json.loads(aws.client("lambda").get_policy(FunctionName=name)["Policy"])
    except ClientError as err:
        if is_not_found(err):
            return {}
        raise


def s3_may_invoke(policy: dict[str, Any], bucket: str) -> bool:
    """Return True if a function policy lets S3 invoke it for events of `bucket`."""
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else principal
        source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
        if service == "s3.amazonaws.com" and statement.get("Effect") == "Allow" and source in (
                f"arn:aws:s3:::{bucket}", None):
            return True
    return False


def ensure_s3_permission(aws: Aws, function: str, bucket: str) -> bool:
    """Let S3 invoke the function for events of `bucket` (and only that bucket); True if it added it."""
    if s3_may_invoke(function_policy(aws, function), bucket):
        return False
    try:
        aws.client("lambda").add_permission(
            FunctionName=function, StatementId=f"s3-invoke-{bucket}", Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}", SourceAccount=aws.account_id())
    except ClientError as err:
        if error_code(err) == "ResourceConflictException":  # same statement id already there
            return False
        raise
    return True


def delete_function(aws: Aws, name: str) -> bool:
    """Delete a function; False if there was none."""
    try:
        aws.client("lambda").delete_function(FunctionName=name)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    return True


def delete_layer(aws: Aws, name: str) -> int:
    """Delete every version of a layer; return how many."""
    client = aws.client("lambda")
    try:
        versions = client.list_layer_versions(LayerName=name).get("LayerVersions", [])
    except ClientError as err:
        if is_not_found(err):
            return 0
        raise
    for version in versions:
        client.delete_layer_version(LayerName=name, VersionNumber=version["Version"])
    return len(versions)


def invoke(aws: Aws, name: str, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Invoke synchronously; return (decoded payload, FunctionError or None)."""
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    body = response["Payload"].read()
    return (json.loads(body) if body else None), response.get("FunctionError")


def get_function_and_tags(aws: Aws, name: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """Return a function's configuration and its tags in one call, or None if there is none."""
    try:
        response = aws.client("lambda").get_function(FunctionName=name)
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    return response["Configuration"], response.get("Tags") or {}


def tag_function(aws: Aws, arn: str, tags: dict[str, str]) -> None:
    """Add tags to a function, keeping the ones it has (adopting a function made by hand)."""
    aws.client("lambda").tag_resource(Resource=arn, Tags=tags)
