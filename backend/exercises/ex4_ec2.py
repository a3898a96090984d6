"""Exercise 4: the FastAPI /predict app in Docker on an EC2 instance.

The backend uploads the app (ec2_app/ plus the course's model.onnx) as a tar.gz to the student's
bundle bucket `ec2-<svc>-bundle`; the instance's user data installs Docker, fetches the bundle
through a presigned URL, builds the image and runs it on port 8000. In the sandbox the same user
data makes the sandbox run the app as a local process (backend/sandbox/ec2_compute.py).
"""
from __future__ import annotations

import io
import ipaddress
import json
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import ec2, prices, s3
from ..artifacts import SAMPLE_RECORD
from ..config import COURSE_BUCKET, PROJECT_ROOT
from ..errors import LabError
from ..lab import Check, CheckResult, Exercise, LabContext, Progress, Step, StepResult, no_progress
from ..names import lab_tags
from ..prediction import Prediction

APP_DIR = PROJECT_ROOT / "ec2_app"
APP_PORT = 8000
SSH_PORT = 22
MODEL_KEY = "model.onnx"
BUNDLE_KEY = "ec2-app/bundle.tar.gz"
IMAGE_NAME = "income-api"
DEFAULT_INSTANCE_TYPE = "t2.large"
UBUNTU_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
SUPPORTED_UBUNTU = ("22.04", "24.04")  # LTS releases in standard support
SANDBOX_CALLER_CIDR = "127.0.0.1/32"  # in the sandbox "you" are this machine
CHECKIP_URL = "https://checkip.amazonaws.com"
PRESIGN_SECONDS = 3600  # the instance fetches the bundle within minutes of launch
# On AWS an instance boots, installs Docker and builds the image in 3-6 minutes; the sandbox in seconds.
HEALTH_BUDGET_S = {"aws": 600.0, "sandbox": 90.0}
HEALTH_INTERVAL_S = {"aws": 10.0, "sandbox": 0.5}
HTTP_TIMEOUT_S = 5.0

INSTANCE_TYPES = ("t2.large", "t3.large", "t2.medium", "t3.medium")

INTRO = """\
The prediction API (FastAPI, the ONNX model, in a Docker image) runs on an EC2 instance and answers
`POST /predict` on port 8000. You create a key pair (for SSH), a security group that lets only you
in, upload the app as a bundle, and launch an Ubuntu 24.04 instance whose start-up script installs
Docker, builds the image and runs it. Then you send it the sample record. An instance bills by the
hour while it runs: stop or terminate it when you are done."""


def bundle_bucket(ctx: LabContext) -> str:
    """Return the bucket holding the app bundle (the instance downloads it from there)."""
    return f"ec2-{ctx.svc}-bundle"


def key_file(ctx: LabContext) -> Path:
    """Return where the private key of the lab's key pair is kept (mode 0400)."""
    return ctx.workdir / f"{ctx.names.key_pair}.pem"


def instance_type(ctx: LabContext) -> str:
    return ctx.option("instance_type") or DEFAULT_INSTANCE_TYPE


def price_per_hour(region: str, itype: str) -> float | None:
    """Return the on-demand USD price per hour of an instance type (None if not in the table)."""
    return prices.hourly_price(region, itype)


def price_note(ctx: LabContext) -> str:
    """Return a sentence with the instance's hourly price (or where to look it up)."""
    itype, price = instance_type(ctx), price_per_hour(ctx.region, instance_type(ctx))
    if price is None:
        return (f"{itype} in {ctx.region}: see aws.amazon.com/ec2/pricing/on-demand for the hourly price "
                f"(not in this lab's table of {prices.PRICES_AS_OF}).")
    return f"{itype} in {ctx.region} costs about ${price:.4f} per hour while it runs (on-demand Linux, {prices.PRICES_AS_OF})."


# ---- your address ---------------------------------------------------------------------------

_ip_cache: dict[str, tuple[float, str]] = {}


def _fetch_public_ip(timeout: float = HTTP_TIMEOUT_S) -> str:
    cached = _ip_cache.get("ip")
    if cached and time.monotonic() - cached[0] < 300:
        return cached[1]
    try:
        with urllib.request.urlopen(CHECKIP_URL, timeout=timeout) as resp:
            ip = resp.read().decode().strip()
        ipaddress.ip_address(ip)
    except (OSError, ValueError) as exc:
        raise LabError(f"Could not find your public address ({CHECKIP_URL}: {exc}). Check your network, or "
                       "enter your address as a CIDR (e.g. 203.0.113.7/32) in the options.", "NoPublicIp") from exc
    _ip_cache["ip"] = (time.monotonic(), ip)
    return ip


def caller_cidr(ctx: LabContext) -> str:
    """Return the CIDR of the caller's address (option my_cidr, 127.0.0.1/32 in the sandbox, else checkip)."""
    if ctx.option("my_cidr"):
        return str(ipaddress.ip_network(ctx.option("my_cidr"), strict=False))
    if ctx.aws.target.is_sandbox:
        return SANDBOX_CALLER_CIDR
    return f"{_fetch_public_ip()}/32"


def wanted_rules(ctx: LabContext) -> tuple[list[ec2.IngressRule], list[ec2.IngressRule]]:
    """Return (rules the group needs, world-open rules to remove): SSH only from you, 8000 from you or a class."""
    mine = caller_cidr(ctx)
    app_cidr = "0.0.0.0/0" if ctx.option("open_to_class") else mine
    wanted = [ec2.IngressRule(SSH_PORT, mine, "SSH from the student's address"),
              ec2.IngressRule(APP_PORT, app_cidr, "income API" + (" (class)" if app_cidr == "0.0.0.0/0" else ""))]
    revoke = [ec2.IngressRule(SSH_PORT, "0.0.0.0/0")]
    if not ctx.option("open_to_class"):
        revoke.append(ec2.IngressRule(APP_PORT, "0.0.0.0/0"))
    return wanted, revoke


# ---- the bundle and the user data -----------------------------------------------------------

def _app_files() -> list[Path]:
    return sorted(p for p in APP_DIR.iterdir()
                  if p.is_file() and not p.name.endswith(".pyc") and p.name != MODEL_KEY)


def build_bundle(model: bytes) -> bytes:
    """Return the app bundle: ec2_app/'s files and model.onnx at the root of a tar.gz (byte-stable)."""
    import gzip

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [(p.name, p.read_bytes()) for p in _app_files()] + [(MODEL_KEY, model)]
        for name, data in sorted(entries):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    # mtime=0 in the gzip header too: the same inputs give the same bytes, so re-uploads are skipped.
    return gzip.compress(raw.getvalue(), mtime=0)


def user_data(bundle_url: str) -> str:
    """Return the instance's start-up script: Docker, the bundle, the image, the container on 8000."""
    # No `set -x`: the presigned URL would end up in the console output for anyone who can read it.
    return f"""\
#!/bin/bash
# mlops-lab exercise 4: install Docker, fetch the app bundle, build and run the income API on port {APP_PORT}.
set -euo pipefail
BUNDLE_URL='{bundle_url}'
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q docker.io curl
systemctl enable --now docker
mkdir -p /opt/{IMAGE_NAME}
cd /opt/{IMAGE_NAME}
curl -fsSL --retry 5 "$BUNDLE_URL" -o bundle.tar.gz
tar -xzf bundle.tar.gz
docker build -t {IMAGE_NAME} .
docker rm -f {IMAGE_NAME} 2>/dev/null || true
docker run -d --name {IMAGE_NAME} --restart unless-stopped -p {APP_PORT}:{APP_PORT} {IMAGE_NAME}
echo "{IMAGE_NAME} started on port {APP_PORT}"
"""


def ubuntu_ami(ctx: LabContext) -> str:
    """Return the current Ubuntu 24.04 LTS AMI of the region (Canonical's SSM public parameter)."""
    ami = ec2.get_parameter(ctx.aws, UBUNTU_PARAMETER)
    if ami is None:
        raise LabError(f"The public parameter {UBUNTU_PARAMETER} is not available in {ctx.region}: "
                       "choose another region.", "NoUbuntuAmi")
    return ami


# ---- the instance -------------------------------------------------------------------------

def lab_instances(ctx: LabContext, states: tuple[str, ...] = ec2.LIVE_STATES) -> list[dict[str, Any]]:
    """Return the lab's instances (Name tag ec2-<svc> or key pair ec2-<svc>-key), newest first."""
    names = ctx.names
    found: dict[str, dict[str, Any]] = {}
    for filters in ([{"Name": "tag:Name", "Values": [names.instance_name]}],
                    [{"Name": "key-name", "Values": [names.key_pair]}]):
        for instance in ec2.find_instances(ctx.aws, filters, states):
            found.setdefault(instance["InstanceId"], instance)
    def order(instance: dict[str, Any]) -> tuple[bool, float]:
        launched = instance.get("LaunchTime")
        return instance["State"]["Name"] != "running", -(launched.timestamp() if launched else 0.0)

    return sorted(found.values(), key=order)


def lab_instance(ctx: LabContext) -> dict[str, Any] | None:
    """Return the lab's instance (a running one first), or None."""
    instances = lab_instances(ctx)
    return instances[0] if instances else None


def _sandbox_address(ctx: LabContext, instance_id: str) -> str | None:
    from ..sandbox import get_sandbox_info

    info = get_sandbox_info(ctx.aws.target.endpoint_url or "")
    if info is None:
        return None
    entry = info.compute.get("ec2", {}).get("instances", {}).get(instance_id) or {}
    return entry.get("address")


def instance_endpoint(ctx: LabContext) -> str | None:
    """Return the base URL where the lab's API answers (public IP:8000; the sandbox's local address), or None."""
    instance = lab_instance(ctx)
    if instance is None or instance["State"]["Name"] != "running":
        return None
    if ctx.aws.target.is_sandbox:
        return _sandbox_address(ctx, instance["InstanceId"])
    ip = instance.get("PublicIpAddress")
    return f"http://{ip}:{APP_PORT}" if ip else None


# ---- talking to the API -------------------------------------------------------------------

@dataclass(frozen=True)
class ApiCall:
    """One HTTP call to the API: where, the status, the JSON answer and how long it took."""

    url: str
    status: int
    body: Any
    latency_ms: float


def _http(method: str, url: str, payload: Any = None, timeout: float = HTTP_TIMEOUT_S) -> ApiCall:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:  # 4xx/5xx: an answer, not a failure to connect
        status, raw = err.code, err.read()
    latency = (time.perf_counter() - started) * 1000
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", errors="replace")
    return ApiCall(url, status, body, latency)


def _unreachable(url: str, exc: BaseException) -> LabError:
    reason = getattr(exc, "reason", exc)
    return LabError(f"The API at {url} does not answer ({reason}). Is the instance running, has its start-up "
                    f"finished, and does its security group open port {APP_PORT} to your address?", "ApiUnreachable")


def _require_endpoint(ctx: LabContext) -> str:
    endpoint = instance_endpoint(ctx)
    if endpoint is None:
        raise LabError(f"No running instance {ctx.names.instance_name} with an address: launch it (step 4) "
                       "or start it.", "NoInstance")
    return endpoint


def call_predict(ctx: LabContext, record: dict[str, Any]) -> ApiCall:
    """POST one record to the instance's /predict; return the answer (a 422 included) and its latency."""
    url = _require_endpoint(ctx) + "/predict"
    try:
        return _http("POST", url, record)
    except OSError as exc:
        raise _unreachable(url, exc) from exc


def predict(ctx: LabContext, records: list[dict[str, Any]]) -> list[Prediction]:
    """Return the instance's predictions for records (/predict for one, /predict/batch for more)."""
    endpoint = _require_endpoint(ctx)
    url = endpoint + ("/predict" if len(records) == 1 else "/predict/batch")
    payload = records[0] if len(records) == 1 else {"records": records}
    try:
        call = _http("POST", url, payload, timeout=max(HTTP_TIMEOUT_S, len(records) / 100))
    except OSError as exc:
        raise _unreachable(url, exc) from exc
    if call.status != 200:
        raise LabError(f"The API answered {call.status}: {json.dumps(call.body)[:500]}", "ApiError")
    answers = [call.body] if len(records) == 1 else call.body
    return [Prediction(a["label"], float(a["probability"])) for a in answers]


def health(ctx: LabContext) -> ApiCall:
    """GET the instance's /health (LabError if nothing answers)."""
    url = _require_endpoint(ctx) + "/health"
    try:
        return _http("GET", url, timeout=3.0)
    except OSError as exc:
        raise _unreachable(url, exc) from exc


def wait_for_health(ctx: LabContext, on_progress: Progress = no_progress, *,
                    sleep: Callable[[float], None] = time.sleep, attempts: int | None = None,
                    interval: float | None = None) -> ApiCall:
    """Poll /health until it answers 200 (bounded: attempts × interval); return that answer."""
    kind = "sandbox" if ctx.aws.target.is_sandbox else "aws"
    interval = HEALTH_INTERVAL_S[kind] if interval is None else interval
    attempts = int(HEALTH_BUDGET_S[kind] / interval) if attempts is None else attempts
    last = "no instance address yet"
    for attempt in range(1, attempts + 1):
        try:
            call = health(ctx)
            if call.status == 200:
                on_progress(f"/health answered in {call.latency_ms:.0f} ms: {call.body}")
                return call
            last = f"HTTP {call.status}"
        except LabError as err:
            last = err.message.split(" (", 1)[-1].split(")", 1)[0] if err.code == "ApiUnreachable" else err.message
        if attempt == 1 or attempt % 6 == 0:
            on_progress(f"Waiting for the API to answer ({last}; {attempt * interval:.0f} of "
                        f"{attempts * interval:.0f} s)…")
        sleep(interval)
    raise LabError(f"The API did not answer /health within {attempts * interval:.0f} s (last: {last}). "
                   "Read the instance's console output: the start-up script's errors are there.", "HealthTimeout")


# ---- steps ----------------------------------------------------------------------------------

def _key_pair(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    name, path = ctx.names.key_pair, key_file(ctx)
    result = ec2.ensure_key_pair(ctx.aws, name, path, lab_tags(ctx.svc, 4), recreate=bool(ctx.option("recreate_key")))
    summary = (f"Created key pair {name}; its private key is in {path} (mode 0400, only you may read it)."
               if result.created else f"Key pair {name} exists and its private key is in {path}: nothing to do.")
    return StepResult("key_pair", result.created, summary, {"key_pair": name, "key_file": str(path)})


def _key_pair_code(ctx: LabContext) -> str:
    return f"""\
import os
import boto3

ec2 = boto3.client("ec2", region_name={ctx.region!r})
key = ec2.create_key_pair(KeyName={ctx.names.key_pair!r}, KeyType="rsa", KeyFormat="pem")
path = {str(key_file(ctx))!r}
# the only time AWS hands out the private key: save it readable by you only (ssh refuses it otherwise)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(key["KeyMaterial"])
os.chmod(path, 0o400)   # same as: chmod 400 {key_file(ctx).name}
"""


def _security_group(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    wanted, revoke = wanted_rules(ctx)
    vpc = ec2.default_vpc_id(ctx.aws)
    result = ec2.ensure_security_group(ctx.aws, names.security_group, f"Income API of {ctx.svc}: SSH and {APP_PORT}",
                                       vpc, wanted, lab_tags(ctx.svc, 4), revoke)
    parts = []
    if result.created:
        parts.append(f"Created security group {names.security_group} ({result.group_id})")
    if result.added:
        parts.append("opened " + ", ".join(f"{r.port} to {r.cidr}" for r in result.added))
    if result.removed:
        parts.append("closed " + ", ".join(f"{r.port} to the whole internet" for r in result.removed))
    summary = ("; ".join(parts) + ".") if parts else \
        f"Security group {names.security_group} already lets in exactly what the lab needs: nothing to do."
    return StepResult("security_group", result.changed, summary[0].upper() + summary[1:],
                      {"group_id": result.group_id, "rules": [f"tcp {r.port} from {r.cidr}" for r in wanted]})


def _security_group_code(ctx: LabContext) -> str:
    try:
        wanted, _ = wanted_rules(ctx)
        rules = ",\n    ".join(repr(r.permission()) for r in wanted)
        mine = caller_cidr(ctx)
    except LabError:
        rules, mine = "# (your address could not be found)", "<your-ip>/32"
    where = "in the sandbox you are 127.0.0.1" if ctx.aws.target.is_sandbox else \
        "from https://checkip.amazonaws.com"
    return f"""\
import boto3

ec2 = boto3.client("ec2", region_name={ctx.region!r})
vpc = ec2.describe_vpcs(Filters=[{{"Name": "is-default", "Values": ["true"]}}])["Vpcs"][0]["VpcId"]
group = ec2.create_security_group(GroupName={ctx.names.security_group!r}, VpcId=vpc,
                                  Description="Income API of {ctx.svc}: SSH and {APP_PORT}")["GroupId"]
# your address: {mine} ({where}); SSH is never open to 0.0.0.0/0
ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
    {rules}
])
"""


def _bundle(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    bucket = bundle_bucket(ctx)
    if s3.head_object(ctx.aws, COURSE_BUCKET, MODEL_KEY) is None:
        raise LabError(f"{MODEL_KEY} is missing from {COURSE_BUCKET}: ask your instructor to publish the course files.",
                       "MissingCourseFile")
    made = s3.ensure_bucket(ctx.aws, bucket, tags=lab_tags(ctx.svc, 4), block_public_access=True)
    bundle = build_bundle(s3.read_object(ctx.aws, COURSE_BUCKET, MODEL_KEY))
    import hashlib

    md5 = hashlib.md5(bundle, usedforsecurity=False).hexdigest()
    head = s3.head_object(ctx.aws, bucket, BUNDLE_KEY)
    uploaded = head is None or head["ETag"].strip('"') != md5
    if uploaded:
        s3.put_bytes(ctx.aws, bucket, BUNDLE_KEY, bundle, content_type="application/gzip")
    size = f"{len(bundle) / 1024:.0f} KB"
    summary = (f"Uploaded the app bundle ({size}: {', '.join(p.name for p in _app_files())}, {MODEL_KEY}) to "
               f"s3://{bucket}/{BUNDLE_KEY}." if uploaded else
               f"s3://{bucket}/{BUNDLE_KEY} already holds this app and model: nothing to do.")
    return StepResult("bundle", uploaded or made.changed, summary,
                      {"bucket": bucket, "key": BUNDLE_KEY, "size_bytes": len(bundle)})


def _bundle_code(ctx: LabContext) -> str:
    create = s3.create_bucket_kwargs(bundle_bucket(ctx), ctx.region)
    config = f", CreateBucketConfiguration={create['CreateBucketConfiguration']!r}" if "CreateBucketConfiguration" in create else ""
    return f"""\
import tarfile
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.download_file({COURSE_BUCKET!r}, "model.onnx", "ec2_app/model.onnx")
with tarfile.open("bundle.tar.gz", "w:gz") as tar:     # the app folder's files at the root
    for name in {[p.name for p in _app_files()] + [MODEL_KEY]!r}:
        tar.add(f"ec2_app/{{name}}", arcname=name)
s3.create_bucket(Bucket={bundle_bucket(ctx)!r}{config})
s3.upload_file("bundle.tar.gz", {bundle_bucket(ctx)!r}, {BUNDLE_KEY!r})
"""


def _instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names, aws = ctx.names, ctx.aws
    delay = 1 if aws.target.is_sandbox else 5
    existing = lab_instance(ctx)
    if existing is not None:
        iid, state = existing["InstanceId"], existing["State"]["Name"]
        changed = False
        if state in ("stopping", "stopped"):
            if state == "stopping":
                ec2.wait_for_instance_stopped(aws, iid, on_progress, delay=delay)
            on_progress(f"{iid} is stopped: starting it. {price_note(ctx)}")
            ec2.start_instance(aws, iid)
            changed = True
        ec2.wait_for_instance_running(aws, iid, on_progress, delay=delay)
        summary = (f"Started instance {iid} again (same disk, so the app comes back by itself)." if changed else
                   f"Instance {iid} ({existing.get('InstanceType')}) is already running: nothing to do.")
        return StepResult("instance", changed, summary, _instance_details(ctx, iid))
    if ec2.get_key_pair(aws, names.key_pair) is None:
        raise LabError(f"Key pair {names.key_pair} does not exist yet: run step 1 first.", "MissingKeyPair")
    group = ec2.get_security_group(aws, names.security_group, ec2.default_vpc_id(aws))
    if group is None:
        raise LabError(f"Security group {names.security_group} does not exist yet: run step 2 first.", "MissingGroup")
    bucket = bundle_bucket(ctx)
    if s3.head_object(aws, bucket, BUNDLE_KEY) is None:
        raise LabError(f"The app bundle is not in {bucket} yet: run step 3 first.", "MissingBundle")
    ami = ubuntu_ami(ctx)
    url = aws.client("s3").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": BUNDLE_KEY},
                                                  ExpiresIn=PRESIGN_SECONDS)
    itype = instance_type(ctx)
    on_progress(f"Launching {itype} from {ami}. {price_note(ctx)}")
    instance = ec2.run_instance(aws, image_id=ami, instance_type=itype, key_name=names.key_pair,
                                group_id=group["GroupId"], user_data=user_data(url),
                                tags={"Name": names.instance_name, **lab_tags(ctx.svc, 4)})
    iid = instance["InstanceId"]
    ec2.wait_for_instance_running(aws, iid, on_progress, delay=delay)
    return StepResult("instance", True, f"Launched {iid} ({itype}, Ubuntu 24.04 {ami}); it is running and now "
                      "installs Docker and builds the app (next step waits for it).", _instance_details(ctx, iid))


def _instance_details(ctx: LabContext, iid: str) -> dict[str, Any]:
    instance = ec2.get_instance(ctx.aws, iid) or {}
    return {"instance_id": iid, "instance_type": instance.get("InstanceType"), "image_id": instance.get("ImageId"),
            "public_ip": instance.get("PublicIpAddress"), "state": instance.get("State", {}).get("Name"),
            "price_per_hour_usd": price_per_hour(ctx.region, instance.get("InstanceType", ""))}


def _instance_code(ctx: LabContext) -> str:
    names = ctx.names
    return f"""\
import boto3

ssm = boto3.client("ssm", region_name={ctx.region!r})
ami = ssm.get_parameter(Name={UBUNTU_PARAMETER!r})["Parameter"]["Value"]   # current Ubuntu 24.04 LTS
url = boto3.client("s3", region_name={ctx.region!r}).generate_presigned_url(
    "get_object", Params={{"Bucket": {bundle_bucket(ctx)!r}, "Key": {BUNDLE_KEY!r}}}, ExpiresIn={PRESIGN_SECONDS})
user_data = open("user_data.sh").read().replace("BUNDLE_URL_HERE", url)   # the script below
ec2 = boto3.client("ec2", region_name={ctx.region!r})
group = ec2.describe_security_groups(Filters=[{{"Name": "group-name", "Values": [{names.security_group!r}]}}])["SecurityGroups"][0]
instance = ec2.run_instances(
    ImageId=ami, InstanceType={instance_type(ctx)!r}, KeyName={names.key_pair!r}, MinCount=1, MaxCount=1,
    SecurityGroupIds=[group["GroupId"]], UserData=user_data,
    TagSpecifications=[{{"ResourceType": "instance", "Tags": [{{"Key": "Name", "Value": {names.instance_name!r}}}]}}],
)["Instances"][0]
ec2.get_waiter("instance_running").wait(InstanceIds=[instance["InstanceId"]])
# {price_note(ctx)}

# user_data.sh:
{_commented(user_data("BUNDLE_URL_HERE"))}"""


def _commented(text: str) -> str:
    return "\n".join(f"# {line}" if line else "#" for line in text.splitlines())


def _health(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    call = wait_for_health(ctx, on_progress)
    return StepResult("health", False, f"The API answers at {call.url.rsplit('/health', 1)[0]} "
                      f"(/health in {call.latency_ms:.0f} ms). Its documentation is at /docs.",
                      {"url": call.url, "body": call.body})


def _health_code(ctx: LabContext) -> str:
    where = "the sandbox's local address for the instance" if ctx.aws.target.is_sandbox else \
        f"http://<public-ip>:{APP_PORT}"
    return f"""\
import time
import boto3
import requests

ec2 = boto3.client("ec2", region_name={ctx.region!r})
instance = ec2.describe_instances(Filters=[{{"Name": "tag:Name", "Values": [{ctx.names.instance_name!r}]}},
    {{"Name": "instance-state-name", "Values": ["running"]}}])["Reservations"][0]["Instances"][0]
base = f"http://{{instance['PublicIpAddress']}}:{APP_PORT}"   # here: {where}
for _ in range(60):                 # installing Docker and building the image takes a few minutes
    try:
        if requests.get(base + "/health", timeout=3).ok:
            break
    except requests.ConnectionError:
        pass
    time.sleep(10)
"""


def _predict(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    call = call_predict(ctx, SAMPLE_RECORD)
    if call.status != 200:
        raise LabError(f"/predict answered {call.status}: {json.dumps(call.body)[:300]}", "ApiError")
    return StepResult("predict", False, f"Predicted {call.body['label']} (probability of >50K "
                      f"{call.body['probability']:.2f}) in {call.latency_ms:.0f} ms.",
                      {"url": call.url, "request": SAMPLE_RECORD, "response": call.body,
                       "latency_ms": round(call.latency_ms, 1)})


def _predict_code(ctx: LabContext) -> str:
    try:
        base = instance_endpoint(ctx) or f"http://<public-ip>:{APP_PORT}"
    except Exception:  # the code panel must render even when AWS does not answer
        base = f"http://<public-ip>:{APP_PORT}"
    return f"""\
import requests

base = {base!r}   # the instance's address (public IP, port {APP_PORT})
record = {json.dumps(SAMPLE_RECORD, indent=4)}
answer = requests.post(base + "/predict", json=record, timeout=5)
print(answer.status_code, answer.json())   # {{"label": ..., "probability": ..., "model_version": ...}}
"""


def manual_commands(ctx: LabContext) -> str:
    """Return the handout's manual path (ssh, scp, docker), corrected, with the student's values."""
    instance = lab_instance(ctx)
    ip = (instance or {}).get("PublicIpAddress") or "<public-ip>"
    key = key_file(ctx)
    model = ctx.workdir / "course" / MODEL_KEY
    return f"""\
# on your computer: the key must be readable by you only, or ssh refuses it
chmod 400 {key}
# copy the app and the model (downloaded in exercise 2) to the instance
scp -i {key} -r {APP_DIR.relative_to(PROJECT_ROOT)} ubuntu@{ip}:~/
scp -i {key} {model} ubuntu@{ip}:~/ec2_app/model.onnx
ssh -i {key} ubuntu@{ip}

# on the instance (Ubuntu 24.04 LTS; the handout's 20.04 is end of life)
sudo apt-get update && sudo apt-get install -y docker.io
cd ~/ec2_app
sudo docker build -t {IMAGE_NAME} .
sudo docker run -d --name {IMAGE_NAME} --restart unless-stopped -p {APP_PORT}:{APP_PORT} {IMAGE_NAME}
curl -s localhost:{APP_PORT}/health

# back on your computer (port {APP_PORT} is open to your address only)
curl -s -X POST http://{ip}:{APP_PORT}/predict -H 'Content-Type: application/json' \\
     -d '{json.dumps(SAMPLE_RECORD)}'
"""


# ---- stop / start / terminate ---------------------------------------------------------------

def _require_instance(ctx: LabContext) -> dict[str, Any]:
    instance = lab_instance(ctx)
    if instance is None:
        raise LabError(f"There is no instance {ctx.names.instance_name}: launch it (step 4).", "NoInstance")
    return instance


def stop_lab_instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    """Stop the lab's instance (no compute billed; its disk stays and is billed); wait until stopped."""
    instance = _require_instance(ctx)
    iid = instance["InstanceId"]
    if instance["State"]["Name"] == "stopped":
        return StepResult("stop", False, f"{iid} is already stopped.")
    ec2.stop_instance(ctx.aws, iid)
    ec2.wait_for_instance_stopped(ctx.aws, iid, on_progress, delay=1 if ctx.aws.target.is_sandbox else 5)
    return StepResult("stop", True, f"Stopped {iid}: no more compute charges, its disk is kept (a few cents a month).")


def start_lab_instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    """Start the lab's stopped instance and wait until it runs (the container restarts by itself)."""
    return _instance(ctx, on_progress)


def terminate_lab_instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    """Terminate the lab's instances and wait until they are gone."""
    instances = lab_instances(ctx)
    for instance in instances:
        ec2.terminate_instance(ctx.aws, instance["InstanceId"])
    for instance in instances:
        ec2.wait_for_instance_terminated(ctx.aws, instance["InstanceId"], on_progress,
                                         delay=1 if ctx.aws.target.is_sandbox else 5)
    ids = ", ".join(i["InstanceId"] for i in instances)
    return StepResult("terminate", bool(instances), f"Terminated {ids}." if instances else "No instance to terminate.")


def instance_console(ctx: LabContext) -> str:
    """Return the lab instance's console output ('' if there is no instance or no output yet)."""
    instance = lab_instance(ctx)
    return ec2.console_output(ctx.aws, instance["InstanceId"]) if instance else ""


# ---- checks ---------------------------------------------------------------------------------

def _check_key(ctx: LabContext) -> CheckResult:
    title = "Key pair, private key readable by you only"
    name, path = ctx.names.key_pair, key_file(ctx)
    if ec2.get_key_pair(ctx.aws, name) is None:
        return CheckResult("key_pair", title, False, f"No key pair {name}.", "Create it (step 1).")
    if not path.is_file():
        return CheckResult("key_pair", title, False, f"{path} is missing.",
                           "AWS shows a private key only once: recreate the key pair (tick 'Recreate the key pair').")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return CheckResult("key_pair", title, False, f"{path.name} has mode {mode:03o}.",
                           f"Run `chmod 400 {path}`: ssh refuses a private key that others can read.")
    return CheckResult("key_pair", title, True, f"{name}, private key {path.name} with mode {mode:03o}.")


def _ubuntu_version(image: dict[str, Any] | None) -> str | None:
    import re

    text = " ".join(str((image or {}).get(k, "")) for k in ("Name", "Description")).lower()
    if "ubuntu" not in text:
        return None
    match = re.search(r"(\d\d\.\d\d)", text)
    return match.group(1) if match else "?"


def _check_instance(ctx: LabContext) -> CheckResult:
    title = "Instance running Ubuntu LTS"
    instance = lab_instance(ctx)
    if instance is None:
        return CheckResult("instance", title, False, f"No instance {ctx.names.instance_name}.", "Launch it (step 4).")
    iid, state, itype = instance["InstanceId"], instance["State"]["Name"], instance.get("InstanceType")
    if state != "running":
        return CheckResult("instance", title, False, f"{iid} is {state}.", "Start it (step 4 or Start below).")
    image = ec2.describe_image(ctx.aws, instance["ImageId"])
    version = _ubuntu_version(image)
    if image is not None and version is None:
        return CheckResult("instance", title, False, f"{iid} runs {image.get('Name')}, not Ubuntu.",
                           "The lab's start-up script and commands are for Ubuntu 24.04 LTS (apt, user ubuntu).")
    if version is not None and version not in SUPPORTED_UBUNTU:
        return CheckResult("instance", title, False, f"{iid} runs Ubuntu {version}.",
                           f"Ubuntu {version} is end of life (the handout's 20.04 included): no more security "
                           "updates. Terminate it and launch from the current 24.04 AMI (step 4 looks it up).")
    seen = f"Ubuntu {version}" if version else f"image {instance['ImageId']}"
    return CheckResult("instance", title, True, f"{iid} ({itype}, {seen}) is running.")


def _allows(group_rules: set[ec2.IngressRule], port: int, cidr: str) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    for rule in group_rules:
        if rule.port in (port, -1):
            try:
                if network.subnet_of(ipaddress.ip_network(rule.cidr, strict=False)):
                    return True
            except (TypeError, ValueError):
                continue
    return False


def _check_ports(ctx: LabContext) -> CheckResult:
    title = f"Port {APP_PORT} open to you, SSH not open to the internet"
    instance = lab_instance(ctx)
    if instance is not None:
        groups = ec2.describe_security_groups(ctx.aws, [g["GroupId"] for g in instance.get("SecurityGroups", [])])
    else:
        group = ec2.get_security_group(ctx.aws, ctx.names.security_group)
        groups = [group] if group else []
    if not groups:
        return CheckResult("ports", title, False, f"No security group {ctx.names.security_group}.", "Create it (step 2).")
    rules = set().union(*(ec2.ingress_rules(g) for g in groups))
    mine = caller_cidr(ctx)
    if _allows(rules, SSH_PORT, "0.0.0.0/0"):
        return CheckResult("ports", title, False, "SSH (22) is open to 0.0.0.0/0, the whole internet.",
                           f"Allow SSH from your address only ({mine}): bots try passwords and keys on every open "
                           "port 22 within minutes. Step 2 replaces the rule.")
    if not _allows(rules, APP_PORT, mine):
        return CheckResult("ports", title, False, f"Port {APP_PORT} is closed to your address {mine}.",
                           f"Add an inbound rule TCP {APP_PORT} from {mine} (step 2), or open it to a class "
                           "with the option.")
    opened = "everyone (class option)" if _allows(rules, APP_PORT, "0.0.0.0/0") else mine
    return CheckResult("ports", title, True, f"{APP_PORT} open to {opened}; SSH limited.")


def _check_health(ctx: LabContext) -> CheckResult:
    title = "The API answers /health"
    try:
        call = health(ctx)
    except LabError as err:
        return CheckResult("health", title, False, err.message,
                           "Wait a few minutes after launch (Docker install and image build), then read the "
                           "console output below for errors.")
    if call.status != 200:
        return CheckResult("health", title, False, f"/health answered {call.status}.", "Read the console output.")
    return CheckResult("health", title, True, f"{call.url} answered in {call.latency_ms:.0f} ms.")


def _check_prediction(ctx: LabContext) -> CheckResult:
    title = "A prediction for the sample record"
    try:
        call = call_predict(ctx, SAMPLE_RECORD)
    except LabError as err:
        return CheckResult("prediction", title, False, err.message, "Get /health answering first.")
    if call.status != 200 or not isinstance(call.body, dict) or "label" not in call.body:
        return CheckResult("prediction", title, False, f"/predict answered {call.status}: {str(call.body)[:200]}",
                           "The sample record must use Adult categories (Married-civ-spouse, Prof-specialty), "
                           "not the handout's Married/Professional.")
    return CheckResult("prediction", title, True, f"{call.body['label']} (p={call.body['probability']:.2f}) in "
                       f"{call.latency_ms:.0f} ms.")


# ---- teardown -------------------------------------------------------------------------------

def teardown(ctx: LabContext, on_progress: Progress = no_progress, *,
             sleep: Callable[[float], None] = time.sleep) -> list[StepResult]:
    """Terminate the instance, then delete the security group, key pair (and local key) and the bundle bucket."""
    names, aws, out = ctx.names, ctx.aws, []

    def done(step: str, changed: bool, what: str) -> None:
        summary = f"Deleted {what}." if changed else f"{what} was already gone."
        on_progress(summary)
        out.append(StepResult(step, changed, summary, {}))

    result = terminate_lab_instance(ctx, on_progress)
    out.append(result)
    on_progress(result.summary)
    group = ec2.get_security_group(aws, names.security_group)
    done("security_group", group is not None and ec2.delete_security_group(aws, group["GroupId"], sleep=sleep),
         f"security group {names.security_group}")
    done("key_pair", ec2.delete_key_pair(aws, names.key_pair), f"key pair {names.key_pair}")
    path = key_file(ctx)
    if path.exists():
        path.chmod(0o600)
        path.unlink()
        done("key_file", True, f"the private key {path}")
    done("bundle", s3.delete_bucket(aws, bundle_bucket(ctx)), f"bucket {bundle_bucket(ctx)}")
    return out


EXERCISE = Exercise(
    number=4,
    title="FastAPI /predict on EC2",
    intro=INTRO,
    steps=(
        Step("key_pair", "Create the key pair",
             "The key pair lets you SSH into the instance. AWS shows the private key once: it is saved in your lab "
             "folder with mode 0400 (readable by you only; `ssh` refuses it otherwise) and never shown here.",
             _key_pair, _key_pair_code),
        Step("security_group", "Create the security group",
             f"Inbound TCP {APP_PORT} (the API) and 22 (SSH), both from your address only. The handout opens SSH to "
             f"0.0.0.0/0, the whole internet: never do that. To let a class call your API, tick the option that "
             f"opens {APP_PORT} (only) to everyone.", _security_group, _security_group_code),
        Step("bundle", "Upload the app bundle",
             "The app (`ec2_app/`: FastAPI, Dockerfile, requirements) and the course's `model.onnx` as one tar.gz in "
             "your bucket `ec2-<name>-bundle`; the instance downloads it through a presigned URL, so the bucket "
             "stays private.", _bundle, _bundle_code),
        Step("instance", "Launch the instance",
             "Ubuntu 24.04 LTS (the AMI id comes from Canonical's public SSM parameter, never hard-coded; the "
             "handout's 20.04 is end of life), t2.large unless you choose otherwise, your key pair and security "
             "group, and a start-up script (user data) that installs Docker, fetches the bundle, builds the image "
             "and runs it on 8000 with `--restart unless-stopped`. It bills by the hour while it runs.",
             _instance, _instance_code),
        Step("health", "Wait for the API",
             "The instance is running before the app is: installing Docker and building the image takes a few "
             "minutes on AWS. This polls `/health` until it answers.", _health, _health_code),
        Step("predict", "Send the sample record",
             "`POST /predict` with LAB.md's sample record (the handout's `Married`/`Professional` are not Adult "
             "categories).", _predict, _predict_code),
    ),
    checks=(Check("key_pair", "Key pair", _check_key), Check("instance", "Instance", _check_instance),
            Check("ports", "Security group", _check_ports), Check("health", "Health", _check_health),
            Check("prediction", "Prediction", _check_prediction)),
    teardown=teardown,
)

__all__ = ["EXERCISE", "ApiCall", "bundle_bucket", "call_predict", "caller_cidr",            "health", "instance_console", "instance_endpoint", "key_file", "manual_commands", "predict",
           "price_note", "price_per_hour", "start_lab_instance", "stop_lab_instance", "terminate_lab_instance",
           "wait_for_health"]
