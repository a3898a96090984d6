"""EC2: key pairs, security groups, the AMI lookup and instances, one small function per intent."""
from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError, WaiterError

from .aws import Aws
from . import i18n
from .errors import LabError, error_code, is_not_found
from .i18n import N_, _
from .names import tag_list

Progress = Callable[[str], None]

# States an instance can still come back from; "shutting-down"/"terminated" are gone for good.
LIVE_STATES = ("pending", "running", "stopping", "stopped")
# An instance's state as sentences say it (the console names them in the user's language too).
STATE_WORDS = {"pending": N_("pending"), "running": N_("running"), "stopping": N_("stopping"),
               "stopped": N_("stopped"), "shutting-down": N_("shutting down"), "terminated": N_("terminated")}


def state_word(state: str) -> str:
    """Return an instance state ("stopped") in the current language; an unknown one as it is."""
    return _(STATE_WORDS[state]) if state in STATE_WORDS else state


@dataclass(frozen=True)
class KeyPairResult:
    name: str
    key_pair_id: str
    key_file: Path
    created: bool


@dataclass(frozen=True)
class IngressRule:
    """One inbound TCP rule: a port open to a CIDR range."""

    port: int
    cidr: str
    description: str = ""

    def permission(self) -> dict[str, Any]:
        """Return the rule in the IpPermissions shape authorize/revoke take."""
        ip_range: dict[str, str] = {"CidrIp": self.cidr}
        if self.description:
            ip_range["Description"] = self.description
        return {"IpProtocol": "tcp", "FromPort": self.port, "ToPort": self.port, "IpRanges": [ip_range]}


@dataclass(frozen=True)
class SecurityGroupResult:
    group_id: str
    name: str
    created: bool
    added: tuple[IngressRule, ...]
    removed: tuple[IngressRule, ...]

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added) or bool(self.removed)


class KeyFileMissing(LabError):
    """The key pair exists on AWS but its private key is not on this machine (AWS never shows it again)."""

    def __init__(self, name: str, key_file: Path) -> None:
        super().__init__(
            _("Key pair {name} exists, but its private key {path} is not on this machine, and AWS never hands it out "
              "again. Recreate the key pair (an instance launched with the old key keeps it: you could not SSH into "
              "that one).").format(name=name, path=key_file), "KeyFileMissing")
        self.name = name
        self.key_file = key_file


# ---- key pairs ------------------------------------------------------------------------------

def get_key_pair(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return the key pair's description, or None if it does not exist."""
    try:
        return aws.client("ec2").describe_key_pairs(KeyNames=[name])["KeyPairs"][0]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def write_private_key(path: Path, material: str) -> None:
    """Write a private key readable by its owner only (mode 0400, as ssh demands), replacing any old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        path.unlink()
    # Created with 0600 so it is never readable by others, made read-only once written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(material)
    path.chmod(stat.S_IRUSR)


def ensure_key_pair(aws: Aws, name: str, key_file: Path, tags: dict[str, str],
                    recreate: bool = False) -> KeyPairResult:
    """Get or create a key pair whose private key is in key_file (mode 0400).

    Raises KeyFileMissing if the key pair exists but key_file does not, unless recreate is True,
    which deletes the key pair and creates it again.
    """
    existing = get_key_pair(aws, name)
    if existing is not None and key_file.is_file():
        if stat.S_IMODE(key_file.stat().st_mode) != stat.S_IRUSR:
            key_file.chmod(stat.S_IRUSR)
        return KeyPairResult(name, existing.get("KeyPairId", ""), key_file, False)
    if existing is not None:
        if not recreate:
            raise KeyFileMissing(name, key_file)
        delete_key_pair(aws, name)
    created = aws.client("ec2").create_key_pair(
        KeyName=name, KeyType="rsa", KeyFormat="pem",
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": tag_list(tags)}])
    write_private_key(key_file, created["KeyMaterial"])  # the only time AWS hands the private key out
    return KeyPairResult(name, created.get("KeyPairId", ""), key_file, True)


def delete_key_pair(aws: Aws, name: str) -> bool:
    """Delete a key pair; return False if it did not exist."""
    if get_key_pair(aws, name) is None:
        return False
    aws.client("ec2").delete_key_pair(KeyName=name)
    return True


# ---- security groups ------------------------------------------------------------------------

def default_vpc_id(aws: Aws) -> str:
    """Return the region's default VPC id (LabError if the account has none)."""
    vpcs = aws.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise LabError(_("This account has no default VPC in {region}: create one in the VPC console "
                         "(Actions → Create default VPC).").format(region=aws.region), "NoDefaultVpc")
    return vpcs[0]["VpcId"]


def get_security_group(aws: Aws, name: str, vpc_id: str | None = None) -> dict[str, Any] | None:
    """Return the security group of that name (in vpc_id if given), or None."""
    filters = [{"Name": "group-name", "Values": [name]}]
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    groups = aws.client("ec2").describe_security_groups(Filters=filters)["SecurityGroups"]
    return groups[0] if groups else None


def describe_security_groups(aws: Aws, group_ids: list[str]) -> list[dict[str, Any]]:
    """Return the security groups with these ids (missing ones left out)."""
    if not group_ids:
        return []
    try:
        return aws.client("ec2").describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    except ClientError as err:
        if is_not_found(err):
            return []
        raise


def ingress_rules(group: dict[str, Any]) -> set[IngressRule]:
    """Return a group's inbound TCP rules as (port, cidr) rules (descriptions dropped; ranges of ports skipped)."""
    rules = set()
    for permission in group.get("IpPermissions", []):
        if permission.get("IpProtocol") not in ("tcp", "6", "-1"):
            continue
        if permission.get("IpProtocol") == "-1":
            ports = [-1]
        elif permission.get("FromPort") == permission.get("ToPort"):
            ports = [permission["FromPort"]]
        else:
            ports = [p for p in (22, 8000) if permission.get("FromPort", 0) <= p <= permission.get("ToPort", -1)]
        for port in ports:
            for ip_range in permission.get("IpRanges", []):
                rules.add(IngressRule(port, ip_range["CidrIp"]))
    return rules


def ensure_security_group(aws: Aws, name: str, description: str, vpc_id: str, rules: list[IngressRule],
                          tags: dict[str, str], revoke: list[IngressRule] = ()) -> SecurityGroupResult:
    """Get or create a group with (at least) these inbound rules, and without the `revoke` ones."""
    ec2 = aws.client("ec2")
    group = get_security_group(aws, name, vpc_id)
    created = group is None
    if group is None:
        try:
            group_id = ec2.create_security_group(
                GroupName=name, Description=description, VpcId=vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(tags)}])["GroupId"]
        except ClientError as err:
            if error_code(err) != "InvalidGroup.Duplicate":  # a concurrent create of ours: fine
                raise
            created = False
            group_id = get_security_group(aws, name, vpc_id)["GroupId"]
        current: set[IngressRule] = set()
    else:
        group_id = group["GroupId"]
        current = ingress_rules(group)
    removed = tuple(r for r in revoke if IngressRule(r.port, r.cidr) in current)
    if removed:
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[
            IngressRule(r.port, r.cidr).permission() for r in removed])
    added = tuple(r for r in rules if IngressRule(r.port, r.cidr) not in current)
    if added:
        try:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[r.permission() for r in added])
        except ClientError as err:
            if error_code(err) != "InvalidPermission.Duplicate":
                raise
    return SecurityGroupResult(group_id, name, created, added, removed)


def delete_security_group(aws: Aws, group_id: str, sleep: Callable[[float], None] = time.sleep,
                          attempts: int = 30, delay: float = 2.0) -> bool:
    """Delete a security group; return False if it did not exist.

    A group stays "in use" (DependencyViolation) for a little while after its instance is
    terminated, until AWS releases the network interface: retried up to attempts × delay seconds.
    """
    for attempt in range(attempts):
        try:
            aws.client("ec2").delete_security_group(GroupId=group_id)
            return True
        except ClientError as err:
            if is_not_found(err):
                return False
            if error_code(err) != "DependencyViolation" or attempt == attempts - 1:
                raise
        sleep(delay)
    return False  # not reached


# ---- AMIs -----------------------------------------------------------------------------------

def get_parameter(aws: Aws, name: str) -> str | None:
    """Return an SSM parameter's value (public ones such as /aws/service/… included), or None."""
    try:
        return aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def describe_image(aws: Aws, image_id: str) -> dict[str, Any] | None:
    """Return an AMI's description, or None if it is unknown (or no longer public)."""
    try:
        images = aws.client("ec2").describe_images(ImageIds=[image_id])["Images"]
    except ClientError as err:
        if is_not_found(err) or error_code(err) in ("InvalidAMIID.NotFound", "InvalidAMIID.Malformed",
                                                     "InvalidAMIID.Unavailable"):
            return None
        raise
    return images[0] if images else None


# ---- instances ------------------------------------------------------------------------------

def find_instances(aws: Aws, filters: list[dict[str, Any]], states: tuple[str, ...] = LIVE_STATES) -> list[dict[str, Any]]:
    """Return the instances matching filters in these states, newest first (paginated)."""
    paginator = aws.client("ec2").get_paginator("describe_instances")
    found = []
    for page in paginator.paginate(Filters=[*filters, {"Name": "instance-state-name", "Values": list(states)}]):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return sorted(found, key=lambda i: i.get("LaunchTime") or 0, reverse=True)


def get_instance(aws: Aws, instance_id: str) -> dict[str, Any] | None:
    """Return an instance's description, or None if it does not exist."""
    try:
        reservations = aws.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    instances = [i for r in reservations for i in r.get("Instances", [])]
    return instances[0] if instances else None


def instance_tags(instance: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def run_instance(aws: Aws, *, image_id: str, instance_type: str, key_name: str, group_id: str,
                 user_data: str, tags: dict[str, str], client_token: str | None = None) -> dict[str, Any]:
    """Launch one instance (its volume tagged like it); return its description.

    With a client_token, AWS launches at most one instance per token: a repeat returns the first
    launch's instance (IdempotentParameterMismatch if the parameters differ).
    """
    extra = {"ClientToken": client_token} if client_token else {}
    response = aws.client("ec2").run_instances(
        ImageId=image_id, InstanceType=instance_type, KeyName=key_name, SecurityGroupIds=[group_id],
        UserData=user_data, MinCount=1, MaxCount=1,
        MetadataOptions={"HttpTokens": "required"},  # IMDSv2 only
        TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list(tags)},
                           {"ResourceType": "volume", "Tags": tag_list(tags)}], **extra)
    return response["Instances"][0]


def _wait(aws: Aws, waiter: str, instance_id: str, on_progress: Progress, state: str,
          delay: float, max_attempts: int) -> None:
    what = state_word(state)
    on_progress(_("Waiting for {id} to be {state} (up to {seconds} s)…").format(
        id=instance_id, state=what, seconds=i18n.number(delay * max_attempts, 0)))
    try:
        aws.client("ec2").get_waiter(waiter).wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts})
    except WaiterError as err:
        state = get_instance(aws, instance_id)
        seen = (state or {}).get("State", {}).get("Name", "gone")
        raise LabError(_("Instance {id} did not become {state} in time (it is {now}).").format(
            id=instance_id, state=what, now=state_word(seen) if seen != "gone" else _("gone")),
            "InstanceWaitTimeout") from err
    on_progress(_("{id} is {state}.").format(id=instance_id, state=what))


def wait_for_instance_running(aws: Aws, instance_id: str, on_progress: Progress = lambda _: None,
                              delay: float = 5, max_attempts: int = 60) -> None:
    """Wait (instance_running waiter, bounded) until the instance runs; LabError on timeout."""
    _wait(aws, "instance_running", instance_id, on_progress, "running", delay, max_attempts)


def wait_for_instance_stopped(aws: Aws, instance_id: str, on_progress: Progress = lambda _: None,
                              delay: float = 5, max_attempts: int = 60) -> None:
    """Wait (instance_stopped waiter, bounded) until the instance is stopped; LabError on timeout."""
    _wait(aws, "instance_stopped", instance_id, on_progress, "stopped", delay, max_attempts)


def wait_for_instance_terminated(aws: Aws, instance_id: str, on_progress: Progress = lambda _: None,
                                 delay: float = 5, max_attempts: int = 60) -> None:
    """Wait (instance_terminated waiter, bounded) until the instance is terminated; LabError on timeout."""
    _wait(aws, "instance_terminated", instance_id, on_progress, "terminated", delay, max_attempts)


def start_instance(aws: Aws, instance_id: str) -> str:
    """Start a stopped instance; return its previous state name."""
    changes = aws.client("ec2").start_instances(InstanceIds=[instance_id])["StartingInstances"]
    return changes[0]["PreviousState"]["Name"]


def stop_instance(aws: Aws, instance_id: str) -> str:
    """Stop an instance (its disk stays, billed separately); return its previous state name."""
    changes = aws.client("ec2").stop_instances(InstanceIds=[instance_id])["StoppingInstances"]
    return changes[0]["PreviousState"]["Name"]


def terminate_instance(aws: Aws, instance_id: str) -> bool:
    """Terminate an instance; return False if it did not exist or was already terminated."""
    try:
        changes = aws.client("ec2").terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    return changes[0]["PreviousState"]["Name"] not in ("shutting-down", "terminated")


def console_output(aws: Aws, instance_id: str) -> str:
    """Return the instance's console output (boot log, user data's output), '' if there is none yet."""
    # botocore decodes the API's base64 (handlers.decode_console_output).
    return aws.client("ec2").get_console_output(InstanceId=instance_id, Latest=True).get("Output") or ""


def api_base_url(aws: Aws, instance_id: str, public_ip: str | None, port: int) -> str | None:
    """Return the base URL where a running instance serves `port` (http://<public ip>:<port>), or None.

    In the sandbox the instance's app runs behind a local address that the sandbox publishes on its
    health route (an instance there has no reachable public IP): the one thing read from the
    sandbox that AWS would answer with the instance's public IP.
    """
    if not aws.target.is_sandbox:
        return f"http://{public_ip}:{port}" if public_ip else None
    from .sandbox import get_sandbox_info

    info = get_sandbox_info(aws.target.endpoint_url or "")
    if info is None:
        return None
    entry = (info.compute or {}).get("ec2", {}).get("instances", {}).get(instance_id) or {}
    return entry.get("address")


def tag_resource(aws: Aws, resource_id: str, tags: dict[str, str]) -> None:
    """Add tags to an EC2 resource (instance, security group, key pair by its key-… id), keeping its others."""
    aws.client("ec2").create_tags(Resources=[resource_id], Tags=tag_list(tags))
