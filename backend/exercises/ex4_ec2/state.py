"""Exercise 4's state: key pair and private key, security group, bundle, instance, and the API's answers.

Also the exercise's options (declared once here: steps, checks and snippets read them) and where
"you" are for the security group: the ssh_cidr option, by default your public address on AWS and
127.0.0.1/32 in the sandbox.
"""
from __future__ import annotations

import ipaddress
import re
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ... import ec2, s3
from ...artifacts import SAMPLE_RECORD
from ...classview import StudentView
from ...config import COURSE_BUCKET
from ...errors import LabError
from ...i18n import N_, _
from ...lab import UNSEEN, LabContext, Option, Unseen
from ...names import LabNames
from ...ownership import Seen
from . import api_client
from .bundle import APP_PORT, BUNDLE_KEY, MODEL_KEY, SSH_PORT, fingerprint

DEFAULT_INSTANCE_TYPE = "t2.large"
INSTANCE_TYPES = ("t2.large", "t3.large", "t2.medium", "t3.medium")  # what the lab's accounts allow
UBUNTU_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
SUPPORTED_UBUNTU = ("22.04", "24.04")  # LTS releases in standard support
WORLD = "0.0.0.0/0"
SANDBOX_SSH_CIDR = "127.0.0.1/32"  # in the sandbox "you" are this machine
CHECKIP_URL = "https://checkip.amazonaws.com"
CHECKIP_TIMEOUT_S = 3.0
CHECKIP_CACHE_S = 300.0


# ---- options ----------------------------------------------------------------------------------

_ip_cache: dict[str, tuple[float, str]] = {}


def _fetch_public_ip() -> str:
    cached = _ip_cache.get("ip")
    if cached and time.monotonic() - cached[0] < CHECKIP_CACHE_S:
        return cached[1]
    try:
        with urllib.request.urlopen(CHECKIP_URL, timeout=CHECKIP_TIMEOUT_S) as resp:
            ip = resp.read().decode().strip()
        ipaddress.ip_address(ip)
    except (OSError, ValueError) as exc:
        raise LabError(_("Could not find your public address ({url}: {error}). Set it yourself: "
                         "--option ssh_cidr=203.0.113.7/32 (your address, /32), or the SSH address field of the "
                         "options.").format(url=CHECKIP_URL, error=exc), "NoPublicIp") from exc
    _ip_cache["ip"] = (time.monotonic(), ip)
    return ip


def default_ssh_cidr(ctx: LabContext) -> str:
    """Return where "you" are: 127.0.0.1/32 in the sandbox, your public address /32 on AWS (checkip)."""
    if ctx.aws.target.is_sandbox:
        return SANDBOX_SSH_CIDR
    return f"{_fetch_public_ip()}/32"


INSTANCE_TYPE = Option("instance_type", N_("Instance type"), DEFAULT_INSTANCE_TYPE,
                       N_("The instance's size; it bills by the hour while it runs."), INSTANCE_TYPES)
# Labels are catalog entries: the port is written out (steps.py checks APP_PORT is still 8000).
OPEN_TO_CLASS = Option("open_to_class", N_("Open port 8000 to everyone"), False,
                       N_("For a class calling your API: opens 8000 (only) to 0.0.0.0/0; SSH stays yours only."))
RECREATE_KEY = Option("recreate_key", N_("Recreate the key pair"), False,
                      N_("If the private key file is lost: delete the key pair and create it again."))
SSH_CIDR = Option("ssh_cidr", N_("Your address (CIDR) for SSH and the API"), default_ssh_cidr,
                  N_("The security group lets this address in. Default: your public address /32 on AWS "
                     "(from checkip.amazonaws.com), 127.0.0.1/32 in the sandbox. Never 0.0.0.0/0."))
OPTIONS = (INSTANCE_TYPE, OPEN_TO_CLASS, RECREATE_KEY, SSH_CIDR)


def ssh_cidr(ctx: LabContext) -> str:
    """Return the ssh_cidr option as a normalised CIDR; LabError if it is not one or opens SSH to the world."""
    value = str(SSH_CIDR.get(ctx)).strip()
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise LabError(_("Option ssh_cidr: {value} is not an address or CIDR: write your address like "
                         "203.0.113.7/32.").format(value=repr(value)), "BadCidr") from None
    if network.prefixlen == 0:
        raise LabError(_("Option ssh_cidr: {value} would open SSH to the whole internet, which bots scan within "
                         "minutes. Use your own address /32 (e.g. 203.0.113.7/32).").format(value=value),
                       "SshOpenToWorld")
    return str(network)


def wanted_rules(ctx: LabContext) -> tuple[list[ec2.IngressRule], list[ec2.IngressRule]]:
    """Return (rules the group needs, world-open rules to remove): SSH only from you, APP_PORT from you or a class."""
    mine = ssh_cidr(ctx)
    app_cidr = WORLD if OPEN_TO_CLASS.get(ctx) else mine
    wanted = [ec2.IngressRule(SSH_PORT, mine, "SSH from the student's address"),
              ec2.IngressRule(APP_PORT, app_cidr, "income API" + (" (class)" if app_cidr == WORLD else ""))]
    revoke = [ec2.IngressRule(SSH_PORT, WORLD)]
    if not OPEN_TO_CLASS.get(ctx):
        revoke.append(ec2.IngressRule(APP_PORT, WORLD))
    return wanted, revoke


def group_description(ctx: LabContext) -> str:
    return f"Income API of {ctx.svc}: SSH and {APP_PORT}"


def key_file(ctx: LabContext) -> Path:
    """Return where the private key of the lab's key pair is kept (mode 0400): one folder per target,
    account and region, so the sandbox's key never overwrites (or is deleted as) the real account's."""
    return ctx.workdir / "keys" / ctx.aws.scope() / f"{ctx.names.key_pair}.pem"


# ---- the State --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyFile:
    path: Path
    mode: int  # permission bits, e.g. 0o400


@dataclass(frozen=True)
class Group:
    seen: Seen
    rules: frozenset[ec2.IngressRule]  # inbound TCP (port, cidr), descriptions dropped

    @property
    def id(self) -> str:
        return self.seen.id


@dataclass(frozen=True)
class Instance:
    seen: Seen  # kind instance, name = its Name tag (else its id), id = the instance id
    state: str  # pending | running | stopping | stopped
    type: str | None
    image_id: str
    public_ip: str | None
    key_name: str | None
    group_ids: tuple[str, ...]
    client_token: str | None
    launched: datetime | None

    @property
    def id(self) -> str:
        return self.seen.id


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    ubuntu: str | None  # "24.04", "?" (Ubuntu, version unknown), None (not Ubuntu)


@dataclass(frozen=True)
class BundleObject:
    size: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class State:
    names: LabNames
    region: str
    key_pair: Seen | None
    key_file: KeyFile | None | Unseen  # None: not on this machine
    group: Group | None  # the group named for the student
    instances: tuple[Instance, ...]  # live lab instances, a running one first, then newest
    instance_groups: tuple[Group, ...] | Unseen  # the groups of instances[0] (() without an instance)
    image: Image | None | Unseen  # instances[0]'s AMI (None: no instance, or an AMI AWS no longer describes)
    bundle_bucket: Seen | None
    bundle: BundleObject | None | Unseen
    bundle_private: bool | Unseen  # all public access blocked (False without a bucket)
    bundle_wanted: dict[str, str] | None | Unseen  # the metadata a bundle built now carries (None: no course model)
    caller_cidr: str | None | Unseen  # "you" (option ssh_cidr); None: could not be found (caller_problem says why)
    caller_problem: str
    endpoint: str | None | Unseen  # where the API answers (None: no running instance with an address)
    health: api_client.ApiCall | str | None | Unseen  # str: why nothing answered
    prediction: api_client.ApiCall | str | None | Unseen

    @property
    def instance(self) -> Instance | None:
        return self.instances[0] if self.instances else None


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def group_from(raw: dict[str, Any]) -> Group:
    """Return a DescribeSecurityGroups entry as a Group."""
    return Group(Seen("security-group", raw["GroupName"], raw["GroupId"], _tags(raw.get("Tags"))),
                 frozenset(ec2.ingress_rules(raw)))


def instance_from(raw: dict[str, Any]) -> Instance:
    """Return a DescribeInstances entry as an Instance."""
    tags = _tags(raw.get("Tags"))
    return Instance(
        Seen("instance", tags.get("Name") or raw["InstanceId"], raw["InstanceId"], tags),
        raw["State"]["Name"], raw.get("InstanceType"), raw.get("ImageId", ""), raw.get("PublicIpAddress"),
        raw.get("KeyName"), tuple(g["GroupId"] for g in raw.get("SecurityGroups", [])), raw.get("ClientToken") or None,
        raw.get("LaunchTime"))


def image_from(raw: dict[str, Any] | None, image_id: str) -> Image | None:
    if raw is None:
        return None
    text = " ".join(str(raw.get(k, "")) for k in ("Name", "Description")).lower()
    version = None
    if "ubuntu" in text:
        match = re.search(r"(\d\d\.\d\d)", text)
        version = match.group(1) if match else "?"
    return Image(image_id, str(raw.get("Name") or image_id), version)


def _order(instances: list[Instance]) -> tuple[Instance, ...]:
    def key(i: Instance) -> tuple[bool, float]:
        return i.state != "running", -(i.launched.timestamp() if i.launched else 0.0)
    return tuple(sorted(instances, key=key))


def lab_instances(ctx: LabContext, states: tuple[str, ...] = ec2.LIVE_STATES) -> tuple[Instance, ...]:
    """Return the lab's instances (Name tag ec2-<svc> or key pair ec2-<svc>-key), a running one first."""
    names = ctx.names
    found: dict[str, dict[str, Any]] = {}
    for filters in ([{"Name": "tag:Name", "Values": [names.instance_name]}],
                    [{"Name": "key-name", "Values": [names.key_pair]}]):
        for raw in ec2.find_instances(ctx.aws, filters, states):
            found.setdefault(raw["InstanceId"], raw)
    return _order([instance_from(raw) for raw in found.values()])


def endpoint_of(ctx: LabContext, instance: Instance | None) -> str | None:
    """Return the base URL where a running instance's API answers (public IP:APP_PORT), or None."""
    if instance is None or instance.state != "running":
        return None
    return ec2.api_base_url(ctx.aws, instance.id, instance.public_ip, APP_PORT)


def _ask(call: Any) -> api_client.ApiCall | str:
    try:
        return call()
    except LabError as err:
        return err.message


def observe(ctx: LabContext) -> State:
    """Read exercise 4's state: one look at the account, the local key file and the API."""
    names, aws = ctx.names, ctx.aws
    key_pair = ec2.get_key_pair(aws, names.key_pair)
    path = key_file(ctx)
    raw_group = ec2.get_security_group(aws, names.security_group)
    instances = lab_instances(ctx)
    instance = instances[0] if instances else None
    groups: tuple[Group, ...] = ()
    image: Image | None = None
    if instance is not None:
        groups = tuple(group_from(g) for g in ec2.describe_security_groups(aws, list(instance.group_ids)))
        image = image_from(ec2.describe_image(aws, instance.image_id), instance.image_id)
    bucket = s3.seen_bucket(aws, names.ec2_bundle_bucket)
    head = s3.head_object(aws, names.ec2_bundle_bucket, BUNDLE_KEY) if bucket else None
    private = bucket is not None and s3.get_public_access_block(aws, names.ec2_bundle_bucket) == \
        s3.ALL_PUBLIC_ACCESS_BLOCKED
    model = s3.head_object(aws, COURSE_BUCKET, MODEL_KEY)
    try:
        caller, problem = ssh_cidr(ctx), ""
    except LabError as err:
        caller, problem = None, err.message
    endpoint = endpoint_of(ctx, instance)
    health = prediction = None
    if endpoint is not None:
        health = _ask(lambda: api_client.get_health(endpoint))
        # One unreachable API costs one timeout, not two.
        if isinstance(health, api_client.ApiCall):
            prediction = _ask(lambda: api_client.post_predict(endpoint, SAMPLE_RECORD))
        else:
            prediction = health
    return State(
        names=names, region=ctx.region,
        key_pair=None if key_pair is None else Seen("key-pair", names.key_pair, names.key_pair,
                                                    _tags(key_pair.get("Tags"))),
        key_file=KeyFile(path, path.stat().st_mode & 0o777) if path.is_file() else None,
        group=None if raw_group is None else group_from(raw_group),
        instances=instances, instance_groups=groups, image=image,
        bundle_bucket=bucket,
        bundle=None if head is None else BundleObject(head["ContentLength"], dict(head.get("Metadata") or {})),
        bundle_private=private,
        bundle_wanted=None if model is None else fingerprint(model["ETag"]),
        caller_cidr=caller, caller_problem=problem,
        endpoint=endpoint, health=health, prediction=prediction)


def from_snapshot(view: StudentView) -> State:
    """Build the State from the class listings: the key file and the API's answers are UNSEEN.

    Uses view.raw["instance"] (DescribeInstances entries), view.raw["security-group"]
    (DescribeSecurityGroups entries) and, when the overview lists them, view.raw["image"][image_id]
    (DescribeImages entries); without the image the Ubuntu release is UNSEEN.
    """
    names = view.names
    raws = [r for r in view.raw.get("instance", {}).values() if r.get("State", {}).get("Name") in ec2.LIVE_STATES]
    instances = _order([instance_from(r) for r in raws])
    instance = instances[0] if instances else None
    raw_groups = {g["GroupId"]: g for g in view.raw.get("security-group", {}).values()}
    named = next((g for g in raw_groups.values() if g["GroupName"] == names.security_group), None)
    groups: tuple[Group, ...] | Unseen = ()
    image: Image | None | Unseen = None
    if instance is not None:
        # A group of another owner is not in the student's listings: then the rules are not seen.
        groups = (tuple(group_from(raw_groups[g]) for g in instance.group_ids)
                  if all(g in raw_groups for g in instance.group_ids) else UNSEEN)
        raw_image = view.raw.get("image", {}).get(instance.image_id)
        image = UNSEEN if raw_image is None else image_from(raw_image, instance.image_id)
    bucket = view.get("bucket", names.ec2_bundle_bucket)
    return State(
        names=names, region=view.region,
        key_pair=view.get("key-pair", names.key_pair), key_file=UNSEEN,
        group=None if named is None else group_from(named),
        instances=instances, instance_groups=groups, image=image,
        bundle_bucket=bucket, bundle=UNSEEN if bucket else None, bundle_private=UNSEEN if bucket else False,
        bundle_wanted=UNSEEN,
        caller_cidr=UNSEEN, caller_problem="",
        endpoint=UNSEEN, health=UNSEEN, prediction=UNSEEN)
