"""The class snapshot: every lab resource in the account, from a fixed set of listing calls.

`collect()` makes one paginated listing per resource type (never a describe per student, except
once per new or changed endpoint for its instance type) and attributes each resource to a
student by its tags or, untagged, by its lab name. Each Resource keeps its raw listing entry so
that the overview can build the exercises' own State from it (backend.classview.StudentView).
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from urllib.parse import unquote

from .. import ec2, iam, sagemaker
from ..aws import Aws
from ..config import COURSE_BUCKET
from ..deleter import KIND_ORDER
from ..i18n import _, number
from ..names import TAG_COURSE, LabNames, tags_from_text
from ..ownership import Seen
from ..prices import hourly_price
from .naming import name_prefix, owner_of, svc_from_name

TAG_SEEDED = "lab:seeded"  # on everything seed_class makes: sandbox compute leaves those resources alone
# Endpoint states that keep instances provisioned (and billed); Creating/Failed/OutOfService do not.
ENDPOINT_BILLING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})
INSTANCE_BILLING = frozenset({"pending", "running"})
SERVICES = ("resourcegroupstaggingapi", "s3", "lambda", "iam", "ec2", "sagemaker", "logs")


@dataclass(frozen=True)
class Resource:
    """One lab resource as the listings show it: whose, which exercise, tagged or not, state, age, price."""

    kind: str  # bucket, function, layer, role, policy, log-group, instance, security-group, key-pair, endpoint, endpoint-config, model
    name: str
    id: str  # what deleting it takes: ARN, instance id, group id, key name
    student: str
    exercise: int | None
    tagged: bool  # carries lab:course=mlops-aws (a layer: in its description)
    state: str = "exists"
    created: datetime | None = None
    instance_type: str | None = None
    count: int = 0
    hourly_usd: float | None = 0.0  # None: it bills but the price table has no entry
    seeded: bool = False
    tags: dict[str, str] = field(default_factory=dict, compare=False)
    # IAM lists policies without their tags (and the tagging API does not cover IAM): a policy's
    # tags are read, per policy, only right before cleanup deletes it.
    tags_known: bool = True
    # The listing entry as the exercises' from_snapshot reads it (see backend.classview.StudentView.raw).
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def age(self, now: datetime) -> timedelta | None:
        return (now - self.created) if self.created else None

    @property
    def billing(self) -> bool:
        return self.hourly_usd is None or self.hourly_usd > 0

    @property
    def seen(self) -> Seen:
        return Seen(self.kind, self.name, self.id, self.tags, self.tags_known)

    def state_label(self) -> str:
        """The state as a page shows it, in the current language; AWS's own values (Active, InService) stay.

        `state` itself stays the same in every language: it is compared and written to JSON.
        """
        if self.kind == "layer" and "Version" in (self.raw.get("LatestMatchingVersion") or {}):
            return _("version {version}").format(version=self.raw["LatestMatchingVersion"]["Version"])
        if self.kind == "log-group" and "storedBytes" in self.raw:
            return _("{size} bytes").format(size=number(self.raw["storedBytes"]))
        if self.kind == "instance":
            return ec2.state_word(self.state)
        return _("exists") if self.state == "exists" else self.state


@dataclass
class ClassSnapshot:
    """Everything collect() saw, and the calls it took."""

    taken_at: datetime
    region: str
    target: str
    resources: list[Resource]
    # Account-wide entries every student may use (kind -> name -> raw), e.g. the learner lab's LabRole.
    shared: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # "service.Operation" -> requests
    seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def students(self) -> list[str]:
        return sorted({r.student for r in self.resources})

    def of(self, student: str) -> list[Resource]:
        return [r for r in self.resources if r.student == student]


class CallCounter:
    """Counts AWS requests (pages included) made through a facade's clients, by service.Operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._id = f"monitor-count-{id(self)}"

    def _count(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    @contextmanager
    def watching(self, aws: Aws, services: tuple[str, ...]) -> Iterator["CallCounter"]:
        # The facade's clients are shared: the handler is added for the duration only. Calls other
        # threads make through the same clients meanwhile are counted too (rare, and only inflates).
        clients = [aws.client(s) for s in services]
        for client in clients:
            client.meta.events.register("before-call", self._count, unique_id=self._id)
        try:
            yield self
        finally:
            for client in clients:
                client.meta.events.unregister("before-call", unique_id=self._id)


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _arn(raw: str) -> str:
    # moto 5.2.5 reports endpoint-config ARNs through the tagging API as "('arn:…',)".
    return raw[2:-3] if raw.startswith("('") and raw.endswith("',)") else raw


def _document(document: Any) -> dict[str, Any]:
    # IAM sends documents URL-encoded; boto3 decodes most, not GetAccountAuthorizationDetails' everywhere.
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document or {}


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):  # CloudWatch Logs: epoch milliseconds
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    try:  # Lambda: "2024-01-01T00:00:00.000+0000"
        return _utc(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z"))
    except ValueError:
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            return None


def _paginate(aws: Aws, service: str, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = aws.client(service).get_paginator(operation)
    return [item for page in paginator.paginate(**kwargs) for item in page.get(key, [])]


# ---- endpoint details (cached) -------------------------------------------------------------------

# Endpoint configs are immutable and an endpoint's config changes only with its LastModifiedTime:
# what DescribeEndpoint/DescribeEndpointConfig said is kept, so a refresh of the class asks again
# only for endpoints created or updated since (the listing has status, not instance type).
_endpoint_cache: dict[tuple[str, str, str], dict[str, Any]] = {}
_endpoint_cache_lock = threading.Lock()
_ENDPOINT_CACHE_MAX = 5000


def _endpoint_variants(aws: Aws, endpoint: dict[str, Any]) -> dict[str, Any]:
    key = (aws.target.identity(), endpoint["EndpointArn"], str(endpoint.get("LastModifiedTime")))
    with _endpoint_cache_lock:
        if key in _endpoint_cache:
            return _endpoint_cache[key]
    description = sagemaker.get_endpoint(aws, endpoint["EndpointName"]) or {}
    config = sagemaker.get_endpoint_config(aws, description.get("EndpointConfigName", "")) \
        if description.get("EndpointConfigName") else None
    counts = {v.get("VariantName"): v.get("CurrentInstanceCount") for v in description.get("ProductionVariants", [])}
    variants = [{"type": v.get("InstanceType"),
                 "count": counts.get(v.get("VariantName")) or v.get("InitialInstanceCount") or 1}
                for v in (config or {}).get("ProductionVariants", [])]
    info = {"config": description.get("EndpointConfigName"), "variants": variants,
            "failure": description.get("FailureReason")}
    if description:  # transitional answers are not worth keeping
        with _endpoint_cache_lock:
            if len(_endpoint_cache) > _ENDPOINT_CACHE_MAX:
                _endpoint_cache.clear()
            _endpoint_cache[key] = info
    return info


# ---- the listings -----------------------------------------------------------------------------

def _list_tagged(aws: Aws) -> dict[str, dict[str, str]]:
    kwargs: dict[str, Any] = {"TagFilters": [{"Key": TAG_COURSE[0], "Values": [TAG_COURSE[1]]}],
                              "ResourcesPerPage": 100}
    if aws.target.is_sandbox:
        kwargs["TagsPerPage"] = 500  # moto caps a page at 100 tags otherwise (25 lab resources)
    return {_arn(m["ResourceARN"]): _tags(m.get("Tags"))
            for m in _paginate(aws, "resourcegroupstaggingapi", "get_resources", "ResourceTagMappingList", **kwargs)}


def _list_iam(aws: Aws) -> dict[str, list[dict[str, Any]]]:
    # One paginated call returns every role with its tags, trust policy and attached policies, and
    # every customer-managed policy with its documents: no GetRole/ListRoleTags per role.
    paginator = aws.client("iam").get_paginator("get_account_authorization_details")
    roles, policies = [], []
    for page in paginator.paginate(Filter=["Role", "LocalManagedPolicy"]):
        roles.extend(page.get("RoleDetailList", []))
        policies.extend(page.get("Policies", []))
    return {"roles": roles, "policies": policies}


def _listers() -> dict[str, Callable[[Aws], Any]]:
    live = {"Name": "instance-state-name", "Values": list(ec2.LIVE_STATES)}
    return {
        "tags": _list_tagged,
        "buckets": lambda aws: aws.client("s3").list_buckets().get("Buckets", []),
        "functions": lambda aws: _paginate(aws, "lambda", "list_functions", "Functions"),
        "layers": lambda aws: _paginate(aws, "lambda", "list_layers", "Layers"),
        "iam": _list_iam,
        "instances": lambda aws: [i for r in _paginate(aws, "ec2", "describe_instances", "Reservations",
                                                       Filters=[live]) for i in r.get("Instances", [])],
        "groups": lambda aws: _paginate(aws, "ec2", "describe_security_groups", "SecurityGroups", Filters=[
            {"Name": "group-name", "Values": [name_prefix("security_group") + "*"]}]),
        "keys": lambda aws: aws.client("ec2").describe_key_pairs().get("KeyPairs", []),
        "endpoints": lambda aws: _paginate(aws, "sagemaker", "list_endpoints", "Endpoints"),
        "endpoint_configs": lambda aws: _paginate(aws, "sagemaker", "list_endpoint_configs", "EndpointConfigs"),
        "models": lambda aws: _paginate(aws, "sagemaker", "list_models", "Models"),
        "log_groups": lambda aws: _paginate(aws, "logs", "describe_log_groups", "logGroups",
                                            logGroupNamePrefix=name_prefix("lambda_log_group")),
    }


def collect(aws: Aws, now: datetime | None = None) -> ClassSnapshot:
    """Return a ClassSnapshot of every lab resource in the account/region, from listing and tagging calls only."""
    started = time.perf_counter()
    counter = CallCounter()
    with counter.watching(aws, SERVICES):
        # The listings are independent: run them side by side (real AWS answers in 100-300 ms each).
        with ThreadPoolExecutor(max_workers=6, thread_name_prefix="monitor") as pool:
            futures = {name: pool.submit(fn, aws) for name, fn in _listers().items()}
            raw = {name: future.result() for name, future in futures.items()}
        endpoint_info = {e["EndpointName"]: _endpoint_variants(aws, e) for e in raw["endpoints"]
                         if owner_of("endpoint", e["EndpointName"], raw["tags"].get(e["EndpointArn"], {}))}
    snapshot = build(aws.region, aws.target.describe(), raw, endpoint_info, now or datetime.now(timezone.utc))
    snapshot.calls = dict(sorted(counter.calls.items()))
    snapshot.seconds = time.perf_counter() - started
    return snapshot


def _instance_name(instance: dict[str, Any], tags: dict[str, str]) -> str:
    # The lab's instance is known by its Name tag or, launched by hand without one, by the lab's key pair.
    name = tags.get("Name")
    if name and svc_from_name("instance", name):
        return name
    key = svc_from_name("key-pair", instance.get("KeyName") or "")
    if key:
        return LabNames(key[0]).instance_name
    return name or instance["InstanceId"]


def _instance_rank(resource: Resource) -> tuple[bool, float]:
    # As exercise 4 picks its instance: a running one first, then the newest.
    return resource.state != "running", -(resource.created.timestamp() if resource.created else 0.0)


def build(region: str, target: str, raw: dict[str, Any], endpoint_info: dict[str, dict[str, Any]],
          now: datetime) -> ClassSnapshot:
    """Return the snapshot of what the listings returned (`raw`, by lister name)."""
    tags_by_arn: dict[str, dict[str, str]] = raw["tags"]
    snap = ClassSnapshot(now, region, target, [])

    def add(kind: str, name: str, rid: str, tags: dict[str, str], entry: dict[str, Any], **kw: Any) -> None:
        owner = owner_of(kind, name, tags)
        if owner is None:
            return
        student, exercise, tagged = owner
        snap.resources.append(Resource(kind, name, rid, student, exercise, tagged, tags=tags, raw=entry,
                                       seeded=tags.get(TAG_SEEDED) == "true", **kw))

    for bucket in raw["buckets"]:
        if bucket["Name"] != COURSE_BUCKET:
            add("bucket", bucket["Name"], bucket["Name"], tags_by_arn.get(f"arn:aws:s3:::{bucket['Name']}", {}), bucket,
                created=_utc(bucket.get("CreationDate")))
    for fn in raw["functions"]:
        state = fn.get("State") or "Active"
        if fn.get("LastUpdateStatus") == "Failed":
            state = "UpdateFailed"
        add("function", fn["FunctionName"], fn["FunctionArn"], tags_by_arn.get(fn["FunctionArn"], {}), fn,
            state=state, created=_parse_time(fn.get("LastModified")))
    for layer in raw["layers"]:
        latest = layer.get("LatestMatchingVersion") or {}
        # Layers cannot carry tags: the lab writes them into the version's description.
        add("layer", layer["LayerName"], layer["LayerArn"], tags_from_text(latest.get("Description")), layer,
            state=f"version {latest.get('Version', '?')}", created=_parse_time(latest.get("CreatedDate")))
    for role in raw["iam"]["roles"]:
        entry = {**role, "AssumeRolePolicyDocument": _document(role.get("AssumeRolePolicyDocument"))}
        if role["RoleName"] == iam.LAB_ROLE:
            snap.shared.setdefault("role", {})[iam.LAB_ROLE] = entry
        add("role", role["RoleName"], role["Arn"], _tags(role.get("Tags")), entry, created=_utc(role.get("CreateDate")))
    for policy in raw["iam"]["policies"]:
        name = policy.get("PolicyName") or policy["Arn"].rsplit("/", 1)[-1]
        default = next((v for v in policy.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), {})
        add("policy", name, policy["Arn"], _tags(policy.get("Tags")),
            {"Arn": policy["Arn"], "Document": _document(default.get("Document"))}, tags_known="Tags" in policy,
            created=_utc(policy.get("UpdateDate") or policy.get("CreateDate")))
    for group in raw["groups"]:
        add("security-group", group["GroupName"], group["GroupId"], _tags(group.get("Tags")), group)
    for key in raw["keys"]:
        add("key-pair", key["KeyName"], key["KeyName"], _tags(key.get("Tags")), key, created=_utc(key.get("CreateTime")))
    for inst in raw["instances"]:
        tags = _tags(inst.get("Tags"))
        state, itype = inst["State"]["Name"], inst.get("InstanceType")
        price = hourly_price(region, itype or "") if state in INSTANCE_BILLING else 0.0
        add("instance", _instance_name(inst, tags), inst["InstanceId"], tags, inst, state=state,
            created=_utc(inst.get("LaunchTime")), instance_type=itype, count=1, hourly_usd=price)
    for endpoint in raw["endpoints"]:
        info = endpoint_info.get(endpoint["EndpointName"], {})
        status = endpoint.get("EndpointStatus", "?")
        variants = info.get("variants", [])
        price: float | None = 0.0
        if status in ENDPOINT_BILLING:
            prices = [(hourly_price(region, v["type"] or ""), v["count"]) for v in variants]
            price = None if not prices or any(p is None for p, _ in prices) else sum(p * c for p, c in prices)
        entry = {**endpoint, **({"EndpointConfigName": info["config"]} if info.get("config") else {}),
                 **({"FailureReason": info["failure"]} if info.get("failure") else {})}
        add("endpoint", endpoint["EndpointName"], endpoint["EndpointArn"], tags_by_arn.get(endpoint["EndpointArn"], {}),
            entry, state=status if not info.get("failure") or status != "Failed" else f"Failed: {info['failure']}",
            created=_utc(endpoint.get("CreationTime")),
            instance_type=", ".join(sorted({v["type"] for v in variants if v["type"]})) or None,
            count=sum(v["count"] for v in variants), hourly_usd=price)
    for config in raw["endpoint_configs"]:
        add("endpoint-config", config["EndpointConfigName"], config["EndpointConfigArn"],
            tags_by_arn.get(config["EndpointConfigArn"], {}), config, created=_utc(config.get("CreationTime")))
    for model in raw["models"]:
        add("model", model["ModelName"], model["ModelArn"], tags_by_arn.get(model["ModelArn"], {}), model,
            created=_utc(model.get("CreationTime")))
    for group in raw["log_groups"]:
        arn = group.get("logGroupArn") or group.get("arn", "").removesuffix(":*")
        add("log-group", group["logGroupName"], arn, tags_by_arn.get(arn, {}), group,
            state=f"{group.get('storedBytes', 0):,} bytes", created=_utc(group.get("creationTime")))
    _attach_unowned_sagemaker(snap)
    snap.resources.sort(key=lambda r: (r.student, KIND_ORDER.index(r.kind), r.name))
    return snap


def _attach_unowned_sagemaker(snap: ClassSnapshot) -> None:
    # Untagged configs/models named <endpoint>-config-<id>: the student is the endpoint's, not the regex's guess.
    endpoints = {r.name: r.student for r in snap.resources if r.kind == "endpoint"}
    fixed = []
    for r in snap.resources:
        if r.kind in ("endpoint-config", "model") and not r.tagged:
            owner = next((s for e, s in sorted(endpoints.items(), key=lambda kv: -len(kv[0])) if r.name.startswith(e)), None)
            if owner and owner != r.student:
                r = replace(r, student=owner)
        fixed.append(r)
    snap.resources[:] = fixed


def by_kind(resources: list[Resource] | tuple[Resource, ...]) -> dict[str, dict[str, Resource]]:
    """Return kind -> name -> resource; of several with one name (instances), the one the exercise would pick."""
    out: dict[str, dict[str, Resource]] = {}
    for r in resources:
        mine = out.setdefault(r.kind, {})
        if r.name not in mine or (r.kind == "instance" and _instance_rank(r) < _instance_rank(mine[r.name])):
            mine[r.name] = r
    return out
