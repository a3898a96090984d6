"""IAM: customer-managed policies and roles, get-or-create, compared by content."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import LabError, error_code, is_not_found
from .i18n import _
from .names import tag_list

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyResult:
    name: str
    arn: str
    created: bool
    updated: bool  # a new default version with a different document


@dataclass(frozen=True)
class RoleResult:
    name: str
    arn: str
    created: bool


def trust_policy(service: str) -> dict[str, Any]:
    """Return the trust policy that lets an AWS service (e.g. lambda.amazonaws.com) assume a role."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def _doc(document: Any) -> dict[str, Any]:
    # IAM returns documents URL-encoded on the wire; boto3 usually decodes them, moto sometimes not.
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document


def _canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True)


def policy_arn(aws: Aws, name: str) -> str:
    """Return the ARN a customer-managed policy of this name has in the current account."""
    return f"arn:aws:iam::{aws.account_id()}:policy/{name}"


def get_policy_document(aws: Aws, arn: str) -> dict[str, Any] | None:
    """Return the default version's document of a managed policy, or None if there is no such policy."""
    iam = aws.client("iam")
    try:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        return _doc(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def ensure_policy(aws: Aws, name: str, document: dict[str, Any], tags: dict[str, str] | None = None,
                  description: str = "") -> PolicyResult:
    """Get or create a managed policy; a different document becomes its new default version."""
    iam = aws.client("iam")
    arn = policy_arn(aws, name)
    current = get_policy_document(aws, arn)
    if current is None:
        try:
            kwargs: dict[str, Any] = {"PolicyName": name, "PolicyDocument": json.dumps(document),
                                      "Description": description}
            if tags:
                kwargs["Tags"] = tag_list(tags)
            arn = iam.create_policy(**kwargs)["Policy"]["Arn"]
            return PolicyResult(name, arn, True, False)
        except ClientError as err:
            if error_code(err) != "EntityAlreadyExists":  # created concurrently: compare below
                raise
            current = get_policy_document(aws, arn)
    if current is not None and _canonical(current) == _canonical(document):
        return PolicyResult(name, arn, False, False)
    # IAM keeps at most five versions: drop the oldest non-default one first.
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= 5:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
    return PolicyResult(name, arn, False, True)


def get_role(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return a role (with its decoded trust policy), or None if there is none."""
    try:
        role = aws.client("iam").get_role(RoleName=name)["Role"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    role["AssumeRolePolicyDocument"] = _doc(role.get("AssumeRolePolicyDocument", {}))
    return role


LAB_ROLE = "LabRole"  # AWS Academy learner labs may not create roles: this one is theirs to use


def learner_lab_role(aws: Aws, service: str) -> dict[str, Any]:
    """Return the learner lab's LabRole, or raise LabError if the account has none or `service` may not assume it."""
    role = get_role(aws, LAB_ROLE)
    if role is None:
        raise LabError(_("This account has no {role}: untick 'Use LabRole' to create the lab's own role.")
                       .format(role=LAB_ROLE), "NoLabRole")
    if not role_trusts(role, service):
        raise LabError(_("{role} does not trust {service}: the service could not use it.")
                       .format(role=LAB_ROLE, service=service), "RoleNotTrusted")
    return role


def role_trusts(role: dict[str, Any], service: str) -> bool:
    """Return True if the role's trust policy lets `service` assume it."""
    for statement in role.get("AssumeRolePolicyDocument", {}).get("Statement", []):
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and service in services and "sts:AssumeRole" in actions:
            return True
    return False


def ensure_role(aws: Aws, name: str, service: str, tags: dict[str, str] | None = None,
                description: str = "") -> RoleResult:
    """Get or create a role trusted by `service`; an existing role's trust policy is brought in line."""
    iam = aws.client("iam")
    role = get_role(aws, name)
    if role is not None:
        if not role_trusts(role, service):
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy(service)))
        return RoleResult(name, role["Arn"], False)
    kwargs: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(trust_policy(service)),
                              "Description": description}
    if tags:
        kwargs["Tags"] = tag_list(tags)
    try:
        arn = iam.create_role(**kwargs)["Role"]["Arn"]
    except ClientError as err:
        if error_code(err) != "EntityAlreadyExists":
            raise
        return RoleResult(name, get_role(aws, name)["Arn"], False)
    iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return RoleResult(name, arn, True)


def attached_policy_arns(aws: Aws, role: str) -> list[str]:
    """Return the ARNs of the managed policies attached to a role ([] if the role is gone)."""
    paginator = aws.client("iam").get_paginator("list_attached_role_policies")
    try:
        return [p["PolicyArn"] for page in paginator.paginate(RoleName=role) for p in page["AttachedPolicies"]]
    except ClientError as err:
        if is_not_found(err):
            return []
        raise


def ensure_policy_attached(aws: Aws, role: str, arn: str) -> bool:
    """Attach a managed policy to a role unless it is; return True if it attached it."""
    if arn in attached_policy_arns(aws, role):
        return False
    aws.client("iam").attach_role_policy(RoleName=role, PolicyArn=arn)
    return True


def delete_role(aws: Aws, name: str) -> bool:
    """Detach and delete everything of a role, then the role; False if there was none."""
    iam = aws.client("iam")
    if get_role(aws, name) is None:
        return False
    for arn in attached_policy_arns(aws, name):
        iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for profile in iam.list_instance_profiles_for_role(RoleName=name).get("InstanceProfiles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
    try:
        iam.delete_role(RoleName=name)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    return True


def delete_policy(aws: Aws, arn: str) -> bool:
    """Detach a managed policy from every role, delete its versions and it; False if there was none."""
    iam = aws.client("iam")
    if get_policy_document(aws, arn) is None:
        return False
    for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
        for role in page.get("PolicyRoles", []):
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=arn)
    return True


def get_policy(aws: Aws, arn: str) -> dict[str, Any] | None:
    """Return GetPolicy's Policy (with its Tags), or None if there is no such policy."""
    try:
        return aws.client("iam").get_policy(PolicyArn=arn)["Policy"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def tag_role(aws: Aws, name: str, tags: dict[str, str]) -> None:
    """Add tags to a role, keeping the ones it has (adopting a role made by hand)."""
    aws.client("iam").tag_role(RoleName=name, Tags=tag_list(tags))


def tag_policy(aws: Aws, arn: str, tags: dict[str, str]) -> None:
    """Add tags to a managed policy, keeping the ones it has."""
    aws.client("iam").tag_policy(PolicyArn=arn, Tags=tag_list(tags))
