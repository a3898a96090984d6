"""Instructor monitoring: the whole class's lab resources, progress, cost, and a tag-guarded cleanup.

`collect()` reads the account with a fixed set of listing and tagging calls (one paginated
listing per resource type, never a describe per student), `overview()` turns that snapshot into
a students × exercises table with the exercises' own rules applied to what the listings show,
`student_detail()` runs the real checks for one student, and `cleanup_plan()`/`apply_cleanup()`
remove only what carries the lab's tags (plan, then apply). `seed_class()` fills a sandbox with a
class at mixed stages for demonstrations, tests and the benchmark.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from urllib.parse import unquote

from botocore.exceptions import ClientError

from . import ec2, iam, lambda_, logs, s3, sagemaker
from .aws import Aws
from .config import COURSE_BUCKET
from .errors import LabError, error_code, explain, is_not_found
from .lab import CheckResult, LabContext, run_checks
from .names import TAG_COURSE, TAG_EXERCISE, TAG_STUDENT, InvalidServiceName, LabNames, lab_tags, tag_list, validate_svc
from .prices import PRICES_AS_OF, hourly_price

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

TAG_SEEDED = "lab:seeded"  # on everything seed_class makes: sandbox compute leaves those resources alone
NO_STUDENT = "(no student tag)"
STUCK_AFTER_MIN = 30.0  # no new or changed resource for this long, with an exercise half done
# Endpoint states that keep instances provisioned (and billed); Creating/Failed/OutOfService do not.
ENDPOINT_BILLING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})
INSTANCE_BILLING = frozenset({"pending", "running"})
EXERCISE_NUMBERS = (1, 2, 3, 4, 5)
EXERCISE_TITLES = {1: "Credentials", 2: "S3", 3: "Lambda", 4: "EC2", 5: "SageMaker"}

# What each overview cell reads from the snapshot; the rest of each exercise's checks need
# per-student calls (objects, notifications, logs, HTTP) and run in the drill-down.
SNAPSHOT_CHECKS: dict[int, str] = {
    1: "the student has resources (so their credentials worked)",
    2: "bucket data-<svc> exists (its region and input_batch.csv: drill-down)",
    3: "three buckets, policy ARNs, role trust + attachment, function runtime/memory/timeout/layer/env, "
       "log group (public access block, model object, trigger, predictions: drill-down)",
    4: "key pair, instance state, security group rules (private key file, /health, /predict: drill-down)",
    5: "role trust + attachment, endpoint status (serving image in ECR, invocation: drill-down)",
}

# ---- the snapshot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One lab resource as the listings show it: whose, which exercise, tagged or not, state, age, price."""

    kind: str  # bucket, function, layer, role, policy, log-group, instance, security-group, key-pair, endpoint, endpoint-config, model
    name: str
    id: str  # what deleting it takes: ARN, instance id, group id, key name
    student: str
    exercise: int | None
    tagged: bool  # carries lab:course=mlops-aws
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

    def age(self, now: datetime) -> timedelta | None:
        return (now - self.created) if self.created else None

    @property
    def billing(self) -> bool:
        return self.hourly_usd is None or self.hourly_usd > 0


@dataclass
class ClassSnapshot:
    """Everything collect() saw, and the calls it took."""

    taken_at: datetime
    region: str
    target: str
    resources: list[Resource]
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # lab functions' configurations
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # lab roles (trust, attached policies)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # lab policies (Arn, Document)
    security_groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # by group id
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


SERVICES = ("resourcegroupstaggingapi", "s3", "lambda", "iam", "ec2", "sagemaker", "logs")

# Untagged (hand-made) work is recognised by the lab's names (LAB.md), most specific first.
_NAME_RULES: dict[str, list[tuple[re.Pattern[str], int]]] = {
    "bucket": [(re.compile(r"^(?:input|output)-bucket-(?P<svc>.+)$"), 3),  # the handout's names
               (re.compile(r"^ec2-(?P<svc>.+)-bundle$"), 4),
               (re.compile(r"^sagemaker-(?P<svc>.+)$"), 5),  # MLflow's artifact bucket
               (re.compile(r"^data-(?P<svc>.+)$"), 2),
               (re.compile(r"^(?:model|input|output)-(?P<svc>.+)$"), 3)],
    "function": [(re.compile(r"^batch-lambda-(?P<svc>.+)$"), 3)],
    "layer": [(re.compile(r"^batch-runtime-(?P<svc>.+)$"), 3)],
    "role": [(re.compile(r"^batch-lambda-(?P<svc>.+)-role$"), 3), (re.compile(r"^sagemaker-(?P<svc>.+)-role$"), 5)],
    "policy": [(re.compile(r"^batch-lambda-(?P<svc>.+)-policy$"), 3), (re.compile(r"^sagemaker-(?P<svc>.+)-policy$"), 5)],
    "log-group": [(re.compile(r"^/aws/lambda/batch-lambda-(?P<svc>.+)$"), 3)],
    "instance": [(re.compile(r"^ec2-(?P<svc>.+)$"), 4)],
    "security-group": [(re.compile(r"^ec2-(?P<svc>.+)-sg$"), 4)],
    "key-pair": [(re.compile(r"^ec2-(?P<svc>.+)-key$"), 4)],
    "endpoint": [(re.compile(r"^income-prediction-(?P<svc>.+)$"), 5)],
    # MLflow names them <endpoint>-model-<id> / <endpoint>-config-<id>: matched against endpoints below.
    "endpoint-config": [(re.compile(r"^income-prediction-(?P<svc>.+?)(?:-config-[0-9a-z-]+)?$"), 5)],
    "model": [(re.compile(r"^income-prediction-(?P<svc>.+?)(?:-model-[0-9a-z-]+)?$"), 5)],
}
_DEFAULT_EXERCISE = {"bucket": 2, "function": 3, "layer": 3, "role": 3, "policy": 3, "log-group": 3,
                     "instance": 4, "security-group": 4, "key-pair": 4, "endpoint": 5, "endpoint-config": 5,
                     "model": 5}


def _valid_svc(svc: str) -> bool:
    try:
        validate_svc(svc)
    except InvalidServiceName:
        return False
    return True


def owner_of(kind: str, name: str, tags: dict[str, str]) -> tuple[str, int | None, bool] | None:
    """Return (student, exercise, tagged) of a resource, or None if it is not the lab's.

    Tagged: the lab:student tag names the student. Untagged: a lab name (data-<svc>, batch-lambda-<svc>…) does.
    """
    tagged = tags.get(TAG_COURSE[0]) == TAG_COURSE[1]
    exercise = int(tags[TAG_EXERCISE]) if tags.get(TAG_EXERCISE, "").isdigit() else None
    student = tags.get(TAG_STUDENT) if tagged else None
    if not student:
        for pattern, default in _NAME_RULES.get(kind, []):
            match = pattern.match(name)
            if match and _valid_svc(match.group("svc")):
                student, exercise = match.group("svc"), exercise or default
                break
    if student is None:
        return (NO_STUDENT, exercise, True) if tagged else None
    return student, exercise or _DEFAULT_EXERCISE.get(kind), tagged


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


def _paginate(aws: Aws, service: str, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = aws.client(service).get_paginator(operation)
    return [item for page in paginator.paginate(**kwargs) for item in page.get(key, [])]


# Endpoint configs are immutable and an endpoint's config changes only with its LastModifiedTime:
# what DescribeEndpoint/DescribeEndpointConfig said is kept, so a refresh of the class asks again
# only for endpoints created or updated since (the listing has status, not instance type).
_endpoint_cache: dict[tuple[str, str, str], dict[str, Any]] = {}
_endpoint_cache_lock = threading.Lock()
_ENDPOINT_CACHE_MAX = 5000


def _endpoint_variants(aws: Aws, endpoint: dict[str, Any]) -> dict[str, Any]:
    key = (aws.target.describe(), endpoint["EndpointArn"], str(endpoint.get("LastModifiedTime")))
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
        "groups": lambda aws: _paginate(aws, "ec2", "describe_security_groups", "SecurityGroups",
                                        Filters=[{"Name": "group-name", "Values": ["ec2-*"]}]),
        "keys": lambda aws: aws.client("ec2").describe_key_pairs().get("KeyPairs", []),
        "endpoints": lambda aws: _paginate(aws, "sagemaker", "list_endpoints", "Endpoints"),
        "endpoint_configs": lambda aws: _paginate(aws, "sagemaker", "list_endpoint_configs", "EndpointConfigs"),
        "models": lambda aws: _paginate(aws, "sagemaker", "list_models", "Models"),
        "log_groups": lambda aws: _paginate(aws, "logs", "describe_log_groups", "logGroups",
                                            logGroupNamePrefix="/aws/lambda/batch-lambda-"),
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
    snapshot = _build(aws, raw, endpoint_info, now or datetime.now(timezone.utc))
    snapshot.calls = dict(sorted(counter.calls.items()))
    snapshot.seconds = time.perf_counter() - started
    return snapshot


def _build(aws: Aws, raw: dict[str, Any], endpoint_info: dict[str, dict[str, Any]], now: datetime) -> ClassSnapshot:
    tags_by_arn: dict[str, dict[str, str]] = raw["tags"]
    region = aws.region
    snap = ClassSnapshot(now, region, aws.target.describe(), [])

    def add(kind: str, name: str, rid: str, tags: dict[str, str], **kw: Any) -> Resource | None:
        owner = owner_of(kind, name, tags)
        if owner is None:
            return None
        student, exercise, tagged = owner
        resource = Resource(kind, name, rid, student, exercise, tagged, tags=tags,
                            seeded=tags.get(TAG_SEEDED) == "true", **kw)
        snap.resources.append(resource)
        return resource

    for bucket in raw["buckets"]:
        if bucket["Name"] != COURSE_BUCKET:
            add("bucket", bucket["Name"], bucket["Name"], tags_by_arn.get(f"arn:aws:s3:::{bucket['Name']}", {}),
                created=_utc(bucket.get("CreationDate")))
    for fn in raw["functions"]:
        state = fn.get("State") or "Active"
        if fn.get("LastUpdateStatus") == "Failed":
            state = "UpdateFailed"
        if add("function", fn["FunctionName"], fn["FunctionArn"], tags_by_arn.get(fn["FunctionArn"], {}),
               state=state, created=_parse_time(fn.get("LastModified"))):
            snap.functions[fn["FunctionName"]] = fn
    for layer in raw["layers"]:
        latest = layer.get("LatestMatchingVersion") or {}
        add("layer", layer["LayerName"], layer["LayerArn"], {},  # layers cannot carry tags
            state=f"version {latest.get('Version', '?')}", created=_parse_time(latest.get("CreatedDate")))
    for role in raw["iam"]["roles"]:
        if add("role", role["RoleName"], role["Arn"], _tags(role.get("Tags")), created=_utc(role.get("CreateDate"))):
            snap.roles[role["RoleName"]] = {**role, "AssumeRolePolicyDocument": _document(role.get("AssumeRolePolicyDocument"))}
    for policy in raw["iam"]["policies"]:
        name = policy.get("PolicyName") or policy["Arn"].rsplit("/", 1)[-1]
        if add("policy", name, policy["Arn"], _tags(policy.get("Tags")), tags_known="Tags" in policy,
               created=_utc(policy.get("UpdateDate") or policy.get("CreateDate"))):
            default = next((v for v in policy.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), {})
            snap.policies[name] = {"Arn": policy["Arn"], "Document": _document(default.get("Document"))}
    for group in raw["groups"]:
        if add("security-group", group["GroupName"], group["GroupId"], _tags(group.get("Tags"))):
            snap.security_groups[group["GroupId"]] = group
    for key in raw["keys"]:
        add("key-pair", key["KeyName"], key["KeyName"], _tags(key.get("Tags")), created=_utc(key.get("CreateTime")))
    for inst in raw["instances"]:
        tags = _tags(inst.get("Tags"))
        name = tags.get("Name") or (f"ec2-{inst['KeyName'][4:-4]}" if re.match(r"^ec2-.+-key$", inst.get("KeyName", ""))
                                    else inst["InstanceId"])
        state, itype = inst["State"]["Name"], inst.get("InstanceType")
        price = hourly_price(region, itype or "") if state in INSTANCE_BILLING else 0.0
        add("instance", name, inst["InstanceId"], tags, state=state, created=_utc(inst.get("LaunchTime")),
            instance_type=itype, count=1, hourly_usd=price)
    for endpoint in raw["endpoints"]:
        info = endpoint_info.get(endpoint["EndpointName"], {})
        status = endpoint.get("EndpointStatus", "?")
        variants = info.get("variants", [])
        price: float | None = 0.0
        if status in ENDPOINT_BILLING:
            prices = [(hourly_price(region, v["type"] or ""), v["count"]) for v in variants]
            price = None if not prices or any(p is None for p, _ in prices) else sum(p * c for p, c in prices)
        add("endpoint", endpoint["EndpointName"], endpoint["EndpointArn"], tags_by_arn.get(endpoint["EndpointArn"], {}),
            state=status if not info.get("failure") or status != "Failed" else f"Failed: {info['failure']}",
            created=_utc(endpoint.get("CreationTime")),
            instance_type=", ".join(sorted({v["type"] for v in variants if v["type"]})) or None,
            count=sum(v["count"] for v in variants), hourly_usd=price)
    for config in raw["endpoint_configs"]:
        add("endpoint-config", config["EndpointConfigName"], config["EndpointConfigArn"],
            tags_by_arn.get(config["EndpointConfigArn"], {}), created=_utc(config.get("CreationTime")))
    for model in raw["models"]:
        add("model", model["ModelName"], model["ModelArn"], tags_by_arn.get(model["ModelArn"], {}),
            created=_utc(model.get("CreationTime")))
    for group in raw["log_groups"]:
        arn = group.get("logGroupArn") or group.get("arn", "").removesuffix(":*")
        add("log-group", group["logGroupName"], arn, tags_by_arn.get(arn, {}),
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


# ---- the overview -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotCheck:
    """One exercise check judged from the snapshot: passed None means it needs the drill-down."""

    id: str
    title: str
    passed: bool | None
    observed: str
    broken: bool = False  # done, but wrong in a way that blocks the student (a handout defect, a failure)
    hint: str = ""


# Plain symbols, not emoji: they render in any font (a machine without an emoji font shows boxes).
CELL_ICONS = {"done": "●", "started": "◐", "broken": "✗", "todo": "○"}


@dataclass(frozen=True)
class Cell:
    """One student × exercise: todo, started, done or broken, and the checks behind it."""

    exercise: int
    state: str
    checks: tuple[SnapshotCheck, ...]

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.passed)

    @property
    def known(self) -> int:
        return sum(1 for c in self.checks if c.passed is not None)

    def label(self) -> str:
        if self.state == "todo":
            return CELL_ICONS["todo"]
        return f"{CELL_ICONS[self.state]} {self.passed}/{self.known}"


@dataclass(frozen=True)
class StudentRow:
    """One student of the overview."""

    student: str
    cells: dict[int, Cell]
    resources: tuple[Resource, ...]
    tagged: bool  # at least one resource carries the lab's tags
    untagged: int  # resources recognised by name only (never deleted by cleanup)
    last_activity: datetime | None
    idle_minutes: float | None
    stuck: bool
    stuck_reasons: tuple[str, ...]
    hourly_usd: float
    so_far_usd: float
    unpriced: tuple[str, ...]

    @property
    def current_exercise(self) -> int:
        """The highest exercise the student has started (1 if none)."""
        return max((n for n, c in self.cells.items() if c.state != "todo"), default=1)

    @property
    def seeded(self) -> bool:
        return bool(self.resources) and all(r.seeded for r in self.resources)


@dataclass(frozen=True)
class ClassOverview:
    """The class: one row per student, cost totals, and what the snapshot cost to take."""

    taken_at: datetime
    region: str
    target: str
    rows: tuple[StudentRow, ...]
    calls: dict[str, int]
    seconds: float
    stuck_after_min: float
    prices_as_of: str = PRICES_AS_OF

    @property
    def total_hourly_usd(self) -> float:
        return sum(r.hourly_usd for r in self.rows)

    @property
    def total_so_far_usd(self) -> float:
        return sum(r.so_far_usd for r in self.rows)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def row(self, student: str) -> StudentRow | None:
        return next((r for r in self.rows if r.student == student), None)

    def filter(self, exercise: int | None = None, stuck: bool | None = None,
               running_cost: bool | None = None) -> list[StudentRow]:
        """Return the rows at exercise `exercise` (their highest started), stuck or not, billing or not."""
        rows = list(self.rows)
        if exercise is not None:
            rows = [r for r in rows if r.current_exercise == exercise]
        if stuck is not None:
            rows = [r for r in rows if r.stuck == stuck]
        if running_cost is not None:
            rows = [r for r in rows if (r.hourly_usd > 0 or bool(r.unpriced)) == running_cost]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (the CLI's `monitor --json`)."""
        return {
            "taken_at": self.taken_at.isoformat(), "region": self.region, "target": self.target,
            "prices_as_of": self.prices_as_of, "total_hourly_usd": round(self.total_hourly_usd, 4),
            "total_so_far_usd": round(self.total_so_far_usd, 4), "calls": self.calls, "seconds": round(self.seconds, 3),
            "snapshot_checks": SNAPSHOT_CHECKS,
            "students": [{
                "student": r.student, "tagged": r.tagged, "untagged_resources": r.untagged,
                "current_exercise": r.current_exercise, "stuck": r.stuck, "stuck_reasons": list(r.stuck_reasons),
                "idle_minutes": None if r.idle_minutes is None else round(r.idle_minutes, 1),
                "hourly_usd": round(r.hourly_usd, 4), "so_far_usd": round(r.so_far_usd, 4), "unpriced": list(r.unpriced),
                "exercises": {str(n): {"state": c.state, "checks": [asdict(k) for k in c.checks]} for n, c in r.cells.items()},
                "resources": [{"kind": x.kind, "name": x.name, "id": x.id, "exercise": x.exercise, "tagged": x.tagged,
                               "state": x.state, "created": x.created.isoformat() if x.created else None,
                               "instance_type": x.instance_type, "hourly_usd": x.hourly_usd} for x in r.resources],
            } for r in self.rows],
        }


def overview(snapshot: ClassSnapshot, stuck_after_min: float = STUCK_AFTER_MIN,
             now: datetime | None = None) -> ClassOverview:
    """Return the class overview: each student's exercises judged from the snapshot, stuck flags and cost."""
    now = now or snapshot.taken_at
    rows = tuple(_student_row(snapshot, student, now, stuck_after_min) for student in snapshot.students())
    return ClassOverview(snapshot.taken_at, snapshot.region, snapshot.target, rows, dict(snapshot.calls),
                         snapshot.seconds, stuck_after_min)


def _student_row(snap: ClassSnapshot, student: str, now: datetime, stuck_after_min: float) -> StudentRow:
    mine = tuple(snap.of(student))
    cells = {n: _cell(n, _evaluate(n, snap, student, mine), mine) for n in EXERCISE_NUMBERS}
    last = max((r.created for r in mine if r.created), default=None)
    idle = (now - last).total_seconds() / 60 if last else None
    reasons = [f"Exercise {n}: {c.observed}" for n, cell in cells.items() for c in cell.checks if c.broken]
    reasons += [f"{r.kind} {r.name} is {r.state}" for r in mine
                if r.kind in ("function", "endpoint") and r.state.startswith(("Failed", "UpdateFailed"))
                and not any(r.name in x for x in reasons)]
    half_done = [n for n, cell in cells.items() if cell.state == "started"]
    if idle is not None and idle > stuck_after_min and half_done:
        reasons.append(f"No change for {idle:.0f} min with exercise {half_done[-1]} unfinished")
    hourly, so_far, unpriced = 0.0, 0.0, []
    for r in mine:
        if r.hourly_usd is None:
            unpriced.append(f"{r.kind} {r.name} ({r.instance_type or 'unknown type'})")
        elif r.hourly_usd > 0:
            hourly += r.hourly_usd
            age = r.age(now)
            so_far += r.hourly_usd * (age.total_seconds() / 3600 if age else 0.0)
    return StudentRow(student, cells, mine, any(r.tagged for r in mine),
                      sum(1 for r in mine if not r.tagged and r.tags_known and r.kind != "layer"), last, idle,
                      bool(reasons), tuple(reasons), hourly, so_far, tuple(unpriced))


def _cell(exercise: int, checks: list[SnapshotCheck], mine: tuple[Resource, ...]) -> Cell:
    started = exercise == 1 or any(r.exercise == exercise for r in mine)
    if not started and not any(c.passed for c in checks):
        return Cell(exercise, "todo", tuple(checks))
    if any(c.broken for c in checks):
        state = "broken"
    elif all(c.passed for c in checks if c.passed is not None):
        state = "done"
    else:
        state = "started"
    return Cell(exercise, state, tuple(checks))


def _names(student: str) -> LabNames | None:
    try:
        return LabNames(student)
    except InvalidServiceName:
        return None


def _evaluate(exercise: int, snap: ClassSnapshot, student: str, mine: tuple[Resource, ...]) -> list[SnapshotCheck]:
    names = _names(student)
    if names is None:
        return [SnapshotCheck("name", "Service name", None, f"{student!r} is not a service name: drill-down only.")]
    by_kind: dict[str, dict[str, Resource]] = {}
    for r in mine:
        by_kind.setdefault(r.kind, {})[r.name] = r
    return {1: _ex1, 2: _ex2, 3: _ex3, 4: _ex4, 5: _ex5}[exercise](snap, names, by_kind)


Kinds = dict[str, dict[str, Resource]]


def _ex1(snap: ClassSnapshot, names: LabNames, kinds: Kinds) -> list[SnapshotCheck]:
    return [SnapshotCheck("identity", "Credentials are valid", True, "Has created resources with them.")]


def _ex2(snap: ClassSnapshot, names: LabNames, kinds: Kinds) -> list[SnapshotCheck]:
    exists = names.data_bucket in kinds.get("bucket", {})
    return [SnapshotCheck("bucket", f"Bucket {names.data_bucket} exists", exists,
                          f"{names.data_bucket} exists." if exists else f"No bucket {names.data_bucket}."),
            SnapshotCheck("upload", "input_batch.csv is uploaded", None, "Drill-down (one object listing).")]


def _ex3(snap: ClassSnapshot, names: LabNames, kinds: Kinds) -> list[SnapshotCheck]:
    from .exercises import ex3_lambda as ex3

    buckets = kinds.get("bucket", {})
    checks = []
    missing = [b for b in (names.model_bucket, names.input_bucket, names.output_bucket) if b not in buckets]
    handout = [b for b in buckets if b.startswith(("input-bucket-", "output-bucket-"))]
    checks.append(SnapshotCheck(
        "buckets", "Three buckets", not missing,
        f"Missing: {', '.join(missing)}." if missing else "model-, input- and output- buckets exist.",
        broken=bool(missing and handout),
        hint=f"Found {', '.join(handout)}: the lab's names are input-/output-{names.svc}." if handout else ""))
    function = snap.functions.get(names.lambda_function)
    lab_role = bool(function and function.get("Role", "").endswith(f"/{ex3.LAB_ROLE}"))
    # policy: the same rule as ex3's check (reads on input and model, write on output)
    policy = snap.policies.get(names.lambda_policy)
    if lab_role:
        checks.append(SnapshotCheck("policy", "Policy", True, f"Uses {ex3.LAB_ROLE}."))
    elif policy is None:
        checks.append(SnapshotCheck("policy", "Policy", False, f"No policy {names.lambda_policy}."))
    else:
        document = policy["Document"]
        reads = ex3.allowed_resources(document, "s3:GetObject")
        writes = ex3.allowed_resources(document, "s3:PutObject")
        problems = [f"no {verb} on {bucket}" for bucket, granted, verb in (
            (names.input_bucket, reads, "read"), (names.model_bucket, reads, "read"), (names.output_bucket, writes, "write"))
            if f"arn:aws:s3:::{bucket}/*" not in granted and "*" not in granted]
        wrong_arns = any("-bucket-" in r for r in reads | writes)
        checks.append(SnapshotCheck(
            "policy", "Policy", not problems,
            ("; ".join(problems) + "." + (" The policy names the handout's input-bucket-/output-bucket- ARNs: "
                                          "the function is denied." if wrong_arns else "")) if problems
            else "Reads input and model, writes output.", broken=bool(problems and wrong_arns)))
    role = snap.roles.get(names.lambda_role)
    if lab_role:
        checks.append(SnapshotCheck("role", "Role", True, f"Uses {ex3.LAB_ROLE}."))
    elif role is None:
        checks.append(SnapshotCheck("role", "Role", False, f"No role {names.lambda_role}."))
    elif not iam.role_trusts(role, "lambda.amazonaws.com"):
        checks.append(SnapshotCheck("role", "Role", False, f"{names.lambda_role} does not trust lambda.amazonaws.com."))
    elif not any(p["PolicyName"] == names.lambda_policy for p in role.get("AttachedManagedPolicies", [])):
        checks.append(SnapshotCheck("role", "Role", False, f"{names.lambda_policy} is not attached."))
    else:
        checks.append(SnapshotCheck("role", "Role", True, f"{names.lambda_role} is ready."))
    checks.append(_function_check(function, names, ex3))
    checks += [SnapshotCheck("model", "Model", None, "Drill-down."),
               SnapshotCheck("trigger", "Trigger", None, "Drill-down.")]
    # ex3 creates the group (tagged) before the first run: only stored bytes say the function has logged.
    group = kinds.get("log-group", {}).get(names.lambda_log_group)
    logged = group is not None and group.state not in ("0 bytes", "exists")
    checks.append(SnapshotCheck("logs", "Logs", logged, f"The function has logged ({group.state})." if logged
                                else f"Nothing logged in {names.lambda_log_group} yet: it has not run."))
    return checks


def _function_check(config: dict[str, Any] | None, names: LabNames, ex3: Any) -> SnapshotCheck:
    if config is None:
        return SnapshotCheck("function", "Function", False, f"No function {names.lambda_function}.")
    problems, broken = [], False
    if config.get("Runtime") != ex3.RUNTIME:
        problems.append(f"runtime {config.get('Runtime')}")
        broken = True  # the handout's python3.7 is end of life: creating or updating it fails
    if config.get("MemorySize", 0) < ex3.MEMORY_MB:
        problems.append(f"{config.get('MemorySize')} MB")
    if config.get("Timeout", 0) < ex3.TIMEOUT_S:
        problems.append(f"timeout {config.get('Timeout')} s")
    if not any(f":layer:{names.lambda_layer}:" in layer["Arn"] for layer in config.get("Layers", [])):
        problems.append("no layer")
    output = ((config.get("Environment") or {}).get("Variables") or {}).get("OUTPUT_BUCKET")
    if output != names.output_bucket:
        problems.append(f"OUTPUT_BUCKET={output}")
        broken = broken or output == names.model_bucket  # the handout writes to the model bucket
    if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
        problems.append(f"state {config.get('StateReason') or config.get('LastUpdateStatusReason') or 'Failed'}")
        broken = True
    if problems:
        return SnapshotCheck("function", "Function", False, f"{names.lambda_function}: {', '.join(problems)}.",
                             broken=broken)
    return SnapshotCheck("function", "Function", True, f"{ex3.RUNTIME}, {config['MemorySize']} MB, layer attached.")


def _ex4(snap: ClassSnapshot, names: LabNames, kinds: Kinds) -> list[SnapshotCheck]:
    key = names.key_pair in kinds.get("key-pair", {})
    instances = list(kinds.get("instance", {}).values())
    running = [i for i in instances if i.state == "running"]
    checks = [SnapshotCheck("key_pair", "Key pair", key, f"{names.key_pair} exists." if key else f"No key pair {names.key_pair}.")]
    if running:
        checks.append(SnapshotCheck("instance", "Instance", True, f"{running[0].id} ({running[0].instance_type}) is running."))
    else:
        checks.append(SnapshotCheck("instance", "Instance", False,
                                    f"{instances[0].id} is {instances[0].state}." if instances else "No instance."))
    groups = [g for g in snap.security_groups.values() if g["GroupName"] == names.security_group]
    if not groups:
        checks.append(SnapshotCheck("ports", "Security group", False, f"No security group {names.security_group}."))
    else:
        rules = ec2.ingress_rules(groups[0])
        app = any(r.port in (8000, -1) for r in rules)
        ssh_world = any(r.port in (22, -1) and r.cidr == "0.0.0.0/0" for r in rules)
        observed = ("SSH is open to the whole internet." if ssh_world else
                    "Port 8000 is open." if app else "Port 8000 is not open.")
        checks.append(SnapshotCheck("ports", "Security group", app and not ssh_world, observed, broken=ssh_world))
    checks += [SnapshotCheck("health", "Health", None, "Drill-down."),
               SnapshotCheck("prediction", "Prediction", None, "Drill-down.")]
    return checks


def _ex5(snap: ClassSnapshot, names: LabNames, kinds: Kinds) -> list[SnapshotCheck]:
    from .exercises import ex5_sagemaker as ex5

    checks = [SnapshotCheck("image", "Image", None, "Drill-down (one ECR image per account).")]
    role = snap.roles.get(names.sagemaker_role)
    policy = ex5.policy_name(names)
    if role is None:
        checks.append(SnapshotCheck("role", "Role", False, f"No role {names.sagemaker_role}."))
    elif not iam.role_trusts(role, ex5.SAGEMAKER_PRINCIPAL):
        # exercise 3's role trusts only Lambda: the endpoint can never start with it
        checks.append(SnapshotCheck("role", "Role", False,
                                    f"{names.sagemaker_role} does not trust {ex5.SAGEMAKER_PRINCIPAL}.", broken=True))
    elif not any(p["PolicyName"] == policy for p in role.get("AttachedManagedPolicies", [])):
        checks.append(SnapshotCheck("role", "Role", False, f"{policy} is not attached."))
    else:
        checks.append(SnapshotCheck("role", "Role", True, f"{names.sagemaker_role} trusts SageMaker."))
    endpoint = kinds.get("endpoint", {}).get(names.endpoint)
    if endpoint is None:
        checks.append(SnapshotCheck("endpoint", "Endpoint", False, f"No endpoint {names.endpoint}."))
    else:
        checks.append(SnapshotCheck("endpoint", "Endpoint", endpoint.state == "InService",
                                    f"{names.endpoint} is {endpoint.state}.", broken=endpoint.state.startswith("Failed")))
    checks.append(SnapshotCheck("invocation", "Invocation", None, "Drill-down."))
    return checks


# ---- drill-down -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaError:
    started: datetime
    request_id: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class StudentDetail:
    """One student: the exercises' real checks, their resources, the last Lambda errors, endpoint and instances."""

    student: str
    checks: dict[int, list[CheckResult]]
    resources: tuple[Resource, ...]
    lambda_errors: tuple[LambdaError, ...]
    invocations: int
    endpoint: dict[str, Any] | None
    instances: tuple[dict[str, Any], ...]


def student_detail(aws: Aws, svc: str, snapshot: ClassSnapshot | None = None, error_limit: int = 5) -> StudentDetail:
    """Return one student's detail: every exercise's checks (per-student calls), last Lambda errors, endpoint, instances."""
    from .exercises import EXERCISES

    names = _names(svc)
    if names is None:
        raise LabError(f"{svc!r} is not a service name: its resources are listed, but no checks can run.", "NotAStudent")
    ctx = LabContext(aws, svc)
    checks = {number: run_checks(ctx, exercise) for number, exercise in sorted(EXERCISES.items())}
    resources = tuple((snapshot or collect(aws)).of(svc))
    invocations = [i for i in logs.group_invocations(logs.recent_events(aws, names.lambda_log_group, limit=500))
                   if i.request_id != "-"]
    errors = tuple(LambdaError(i.started, i.request_id, tuple(e.message for e in i.events if e.is_error)[:20])
                   for i in invocations if i.failed)[:error_limit]
    endpoint = sagemaker.get_endpoint(aws, names.endpoint)
    if endpoint is not None:
        endpoint = {k: endpoint.get(k) for k in ("EndpointName", "EndpointStatus", "FailureReason", "EndpointConfigName",
                                                  "CreationTime", "LastModifiedTime", "ProductionVariants")}
    instances = tuple(
        {"InstanceId": i["InstanceId"], "State": i["State"]["Name"], "InstanceType": i.get("InstanceType"),
         "LaunchTime": i.get("LaunchTime"), "PublicIpAddress": i.get("PublicIpAddress"),
         "StateReason": (i.get("StateReason") or {}).get("Message")}
        for i in _student_instances(aws, names))
    return StudentDetail(svc, checks, resources, errors, len(invocations), endpoint, instances)


def _student_instances(aws: Aws, names: LabNames) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for filters in ([{"Name": f"tag:{TAG_STUDENT}", "Values": [names.svc]}],
                    [{"Name": "tag:Name", "Values": [names.instance_name]}],
                    [{"Name": "key-name", "Values": [names.key_pair]}]):
        for instance in ec2.find_instances(aws, filters):
            found.setdefault(instance["InstanceId"], instance)
    return list(found.values())


# ---- cleanup: plan, then apply ------------------------------------------------------------------

# Dependents before what they depend on: endpoints before their configs and models, instances
# before their security group and key pair, the function before its role and buckets.
KIND_ORDER = ["endpoint", "endpoint-config", "model", "instance", "security-group", "key-pair", "function", "layer",
              "log-group", "role", "policy", "bucket"]
_ACTIONS = {"bucket": "empty and delete", "role": "detach policies and delete", "policy": "detach and delete",
            "instance": "terminate"}


@dataclass(frozen=True)
class PlannedDeletion:
    """One step of a cleanup: what, whose, what will be done and why (allowed False: listed, never touched)."""

    kind: str
    name: str
    id: str
    student: str
    action: str
    why: str
    allowed: bool = True


@dataclass(frozen=True)
class CleanupResult:
    kind: str
    name: str
    student: str
    status: str  # done | gone | skipped | failed
    message: str


def _snapshot(source: ClassSnapshot | Aws) -> ClassSnapshot:
    return source if isinstance(source, ClassSnapshot) else collect(source)


def _plan_item(r: Resource, action: str | None = None) -> PlannedDeletion:
    action = action or _ACTIONS.get(r.kind, "delete")
    if r.kind == "layer":
        return PlannedDeletion(r.kind, r.name, r.id, r.student, action,
                               "Lambda layers cannot carry tags: listed, never deleted (delete it by hand or with "
                               "`lab teardown 3`).", False)
    if not r.tags_known:
        return PlannedDeletion(r.kind, r.name, r.id, r.student, action,
                               f"Named for {r.student}; IAM lists policies without tags, so its tags are checked "
                               "right before deleting: deleted only if tagged for this student.")
    if not r.tagged:
        return PlannedDeletion(r.kind, r.name, r.id, r.student, action,
                               "No lab:course tag (made by hand?): listed, never deleted.", False)
    if r.student == NO_STUDENT:
        return PlannedDeletion(r.kind, r.name, r.id, r.student, action,
                               "Tagged for the course but no lab:student tag: never deleted.", False)
    exercise = f", exercise {r.exercise}" if r.exercise else ""
    return PlannedDeletion(r.kind, r.name, r.id, r.student, action,
                           f"Tagged {TAG_COURSE[0]}={TAG_COURSE[1]}, {TAG_STUDENT}={r.student}{exercise}.")


def cleanup_plan(source: ClassSnapshot | Aws, student: str | None = None) -> list[PlannedDeletion]:
    """Return the dry-run list for one student (or the class): tagged resources to delete, untagged ones listed only."""
    snap = _snapshot(source)
    resources = [r for r in snap.resources if student is None or r.student == student]
    resources.sort(key=lambda r: (KIND_ORDER.index(r.kind), r.student, r.name))
    return [_plan_item(r) for r in resources]


def stop_idle_instances_plan(source: ClassSnapshot | Aws, idle_minutes: float = 60.0,
                             now: datetime | None = None) -> list[PlannedDeletion]:
    """Return the running tagged instances whose student has changed nothing for idle_minutes (action: stop)."""
    snap = _snapshot(source)
    now = now or snap.taken_at
    last: dict[str, datetime] = {}
    for r in snap.resources:
        if r.created and (r.student not in last or r.created > last[r.student]):
            last[r.student] = r.created
    plan = []
    for r in snap.resources:
        if r.kind == "instance" and r.state in ("running", "pending"):
            idle = (now - last[r.student]).total_seconds() / 60 if r.student in last else float("inf")
            if idle >= idle_minutes:
                item = _plan_item(r, "stop")
                plan.append(PlannedDeletion(item.kind, item.name, item.id, item.student, "stop",
                                            f"{item.why} Idle for {idle:.0f} min." if item.allowed else item.why,
                                            item.allowed))
    return plan


def delete_endpoints_plan(source: ClassSnapshot | Aws) -> list[PlannedDeletion]:
    """Return every lab endpoint with its configs and models (they bill by the hour while InService)."""
    snap = _snapshot(source)
    resources = sorted((r for r in snap.resources if r.kind in ("endpoint", "endpoint-config", "model")),
                       key=lambda r: (KIND_ORDER.index(r.kind), r.student, r.name))
    return [_plan_item(r) for r in resources]


def current_tags(aws: Aws, item: PlannedDeletion) -> dict[str, str] | None:
    """Return a resource's tags as AWS has them now, or None if it is gone."""
    kind = item.kind
    if kind == "bucket":
        return s3.get_bucket_tags(aws, item.name) if s3.get_bucket_region(aws, item.name) else None
    if kind == "function":
        try:
            return aws.client("lambda").get_function(FunctionName=item.name).get("Tags") or {}
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
    if kind == "role":
        role = iam.get_role(aws, item.name)
        return None if role is None else (_tags(role.get("Tags")) or _tags(
            aws.client("iam").list_role_tags(RoleName=item.name).get("Tags")))
    if kind == "policy":
        try:
            return _tags(aws.client("iam").list_policy_tags(PolicyArn=item.id).get("Tags"))
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
    if kind == "instance":
        instance = ec2.get_instance(aws, item.id)
        if instance is None or instance["State"]["Name"] in ("shutting-down", "terminated"):
            return None
        return ec2.instance_tags(instance)
    if kind == "security-group":
        groups = ec2.describe_security_groups(aws, [item.id])
        return _tags(groups[0].get("Tags")) if groups else None
    if kind == "key-pair":
        key = ec2.get_key_pair(aws, item.name)
        return None if key is None else _tags(key.get("Tags"))
    if kind in ("endpoint", "endpoint-config", "model"):
        getter = {"endpoint": sagemaker.get_endpoint, "endpoint-config": sagemaker.get_endpoint_config,
                  "model": sagemaker.get_model}[kind]
        return None if getter(aws, item.name) is None else sagemaker.get_tags(aws, item.id)
    if kind == "log-group":
        try:
            return aws.client("logs").list_tags_for_resource(resourceArn=item.id).get("tags", {})
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
    return {}  # layers: cannot carry tags, never allowed


def _delete(aws: Aws, item: PlannedDeletion) -> bool:
    kind = item.kind
    if item.action == "stop":
        ec2.stop_instance(aws, item.id)
        return True
    if kind == "bucket":
        return s3.delete_bucket(aws, item.name)
    if kind == "function":
        return lambda_.delete_function(aws, item.name)
    if kind == "role":
        return iam.delete_role(aws, item.name)
    if kind == "policy":
        return iam.delete_policy(aws, item.id)
    if kind == "instance":
        return ec2.terminate_instance(aws, item.id)
    if kind == "security-group":
        return ec2.delete_security_group(aws, item.id)
    if kind == "key-pair":
        return ec2.delete_key_pair(aws, item.name)
    if kind == "endpoint":
        return sagemaker.delete_endpoint(aws, item.name)
    if kind == "endpoint-config":
        return sagemaker.delete_endpoint_config(aws, item.name)
    if kind == "model":
        # The artifact lives in a student bucket: that bucket's own (tag-checked) deletion takes it.
        return sagemaker.delete_model(aws, item.name, delete_artifact=False)
    if kind == "log-group":
        return logs.delete_log_group(aws, item.name)
    raise LabError(f"Cleanup does not delete {kind}s.", "NotDeletable")


def apply_cleanup(aws: Aws, plan: list[PlannedDeletion], on_progress: Progress = lambda _: None) -> list[CleanupResult]:
    """Carry out a plan in order, re-reading each resource's tags just before touching it; return what happened.

    A resource whose tags no longer say lab:course=mlops-aws and the planned lab:student is skipped;
    one error does not stop the rest (it is reported as failed).
    """
    results: list[CleanupResult] = []
    terminated: list[str] = []
    for i, item in enumerate(plan, 1):
        prefix = f"[{i}/{len(plan)}] {item.kind} {item.name}"

        def record(status: str, message: str) -> None:
            on_progress(f"{prefix}: {message}")
            results.append(CleanupResult(item.kind, item.name, item.student, status, message))

        if not item.allowed:
            record("skipped", item.why)
            continue
        try:
            tags = current_tags(aws, item)
            if tags is None:
                record("gone", "already gone")
                continue
            if tags.get(TAG_COURSE[0]) != TAG_COURSE[1] or tags.get(TAG_STUDENT) != item.student:
                record("skipped", f"its tags no longer say {TAG_COURSE[0]}={TAG_COURSE[1]}, "
                                  f"{TAG_STUDENT}={item.student}: left alone")
                continue
            if item.kind in ("security-group", "key-pair") and terminated:
                # A group stays in use until its instances are gone (on AWS, a minute or two).
                for instance_id in terminated:
                    ec2.wait_for_instance_terminated(aws, instance_id, on_progress)
                terminated.clear()
            done = _delete(aws, item)
            if item.kind == "instance" and item.action != "stop" and done:
                terminated.append(item.id)
            verb = {"stop": "stopped", "terminate": "terminated"}.get(item.action, "deleted")
            record("done" if done else "gone", verb if done else "already gone")
        except Exception as exc:  # one failure must not leave the rest of the class running
            record("failed", explain(exc, aws.target.endpoint_url).message)
    return results


# ---- seeding a demonstration class ---------------------------------------------------------------

# A deterministic mix of stages, by student index modulo its length.
SEED_STAGES = ("ex2-done", "ex3-mid", "ex3-stuck-policy", "ex3-done", "ex4-running", "ex2-started",
               "ex5-endpoint", "ex3-mid", "untagged", "ex2-done")
SEED_PREFIX = "class"
_SEED_ZIP: bytes | None = None
_SEED_IGNORED = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists", "EntityAlreadyExists", "ResourceConflictException",
                 "InvalidKeyPair.Duplicate", "InvalidGroup.Duplicate"}


def _seed_zip() -> bytes:
    global _SEED_ZIP
    if _SEED_ZIP is None:
        _SEED_ZIP = lambda_.zip_files({"handler.py": b"def lambda_handler(event, context):\n    return {}\n"})
    return _SEED_ZIP


def _quietly(call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as err:
        if error_code(err) in _SEED_IGNORED or "already exist" in str(err).lower():
            return None
        raise


def seed_student(aws: Aws, svc: str, stage: str, account: str) -> None:
    """Create one student's resources at a stage of SEED_STAGES, tagged (and lab:seeded=true) unless 'untagged'."""
    names, region = LabNames(svc), aws.region
    tagged = stage != "untagged"

    def tags(exercise: int) -> dict[str, str]:
        return {**lab_tags(svc, exercise), TAG_SEEDED: "true"} if tagged else {}

    s3c, iamc, lam = aws.client("s3"), aws.client("iam"), aws.client("lambda")

    def bucket(name: str, exercise: int) -> None:
        _quietly(s3c.create_bucket, **s3.create_bucket_kwargs(name, region))
        if tagged:
            s3c.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags(exercise))})

    bucket(names.data_bucket, 2)
    if stage == "ex2-started":
        return
    s3c.put_object(Bucket=names.data_bucket, Key="input_batch.csv", Body=b"age,work_class\n39,Local-gov\n")
    if stage in ("ex2-done",):
        return
    for b in (names.model_bucket, names.input_bucket, names.output_bucket):
        bucket(b, 3)
    if stage == "untagged":
        return
    from .exercises import ex3_lambda as ex3

    document = ex3.policy_document(names)
    if stage == "ex3-stuck-policy":  # the handout's ARNs: input-bucket-<svc>/output-bucket-<svc>
        document = json.loads(json.dumps(document).replace(f":::{names.input_bucket}/", f":::input-bucket-{svc}/")
                              .replace(f":::{names.output_bucket}/", f":::output-bucket-{svc}/"))
    policy_arn = f"arn:aws:iam::{account}:policy/{names.lambda_policy}"
    _quietly(iamc.create_policy, PolicyName=names.lambda_policy, PolicyDocument=json.dumps(document),
             Tags=tag_list(tags(3)))
    _quietly(iamc.create_role, RoleName=names.lambda_role, Tags=tag_list(tags(3)),
             AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
    iamc.attach_role_policy(RoleName=names.lambda_role, PolicyArn=policy_arn)
    if stage == "ex3-mid" and sum(map(ord, svc)) % 2:  # half of them have not got to the function yet
        return
    layers = []
    if stage in ("ex3-done", "ex4-running", "ex5-endpoint"):
        published = lam.publish_layer_version(LayerName=names.lambda_layer, Content={"ZipFile": _seed_zip()},
                                              CompatibleRuntimes=[ex3.RUNTIME])
        layers = [published["LayerVersionArn"]]
    env = {"MODEL_BUCKET": names.model_bucket, "MODEL_KEY": ex3.MODEL_KEY, "OUTPUT_BUCKET": names.output_bucket}
    _quietly(lam.create_function, FunctionName=names.lambda_function, Runtime=ex3.RUNTIME, Handler=ex3.HANDLER,
             Role=f"arn:aws:iam::{account}:role/{names.lambda_role}", Code={"ZipFile": _seed_zip()},
             MemorySize=ex3.MEMORY_MB, Timeout=ex3.TIMEOUT_S, Environment={"Variables": env}, Layers=layers,
             Tags=tags(3))
    if stage in ("ex3-done", "ex4-running", "ex5-endpoint"):
        # As the function step makes it (tagged), with one run logged.
        logs_client = aws.client("logs")
        _quietly(logs_client.create_log_group, logGroupName=names.lambda_log_group, tags=tags(3))
        _quietly(logs_client.create_log_stream, logGroupName=names.lambda_log_group, logStreamName="seeded")
        _quietly(logs_client.put_log_events, logGroupName=names.lambda_log_group, logStreamName="seeded",
                 logEvents=[{"timestamp": int(time.time() * 1000), "message": "START RequestId: seeded"}])
    if stage == "ex4-running":
        client = aws.client("ec2")
        spec = lambda kind, n: [{"ResourceType": kind, "Tags": tag_list({**tags(n), "Name": names.instance_name})}]
        _quietly(client.create_key_pair, KeyName=names.key_pair, TagSpecifications=spec("key-pair", 4))
        group = _quietly(client.create_security_group, GroupName=names.security_group, Description="seeded lab group",
                         TagSpecifications=spec("security-group", 4))
        if group is not None:
            client.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
                ec2.IngressRule(22, "127.0.0.1/32").permission(), ec2.IngressRule(8000, "127.0.0.1/32").permission()])
            # No user data: the sandbox's EC2 compute only runs instances whose user data names a bundle.
            client.run_instances(ImageId="ami-0a2404b0c0d0e0f10", InstanceType="t2.large", MinCount=1, MaxCount=1,
                                 KeyName=names.key_pair, SecurityGroupIds=[group["GroupId"]],
                                 TagSpecifications=spec("instance", 4))
    if stage == "ex5-endpoint":
        sm = aws.client("sagemaker")
        sm_policy = f"sagemaker-{svc}-policy"
        _quietly(iamc.create_policy, PolicyName=sm_policy, Tags=tag_list(tags(5)), PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                                     "Resource": f"arn:aws:s3:::sagemaker-{svc}/*"}]}))
        _quietly(iamc.create_role, RoleName=names.sagemaker_role, Tags=tag_list(tags(5)),
                 AssumeRolePolicyDocument=json.dumps(iam.trust_policy("sagemaker.amazonaws.com")))
        iamc.attach_role_policy(RoleName=names.sagemaker_role, PolicyArn=f"arn:aws:iam::{account}:policy/{sm_policy}")
        model, config = f"{names.endpoint}-model-seed", f"{names.endpoint}-config-seed"
        _quietly(sm.create_model, ModelName=model, Tags=tag_list(tags(5)),
                 ExecutionRoleArn=f"arn:aws:iam::{account}:role/{names.sagemaker_role}",
                 PrimaryContainer={"Image": f"{account}.dkr.ecr.{region}.amazonaws.com/mlflow-pyfunc:seed"})
        _quietly(sm.create_endpoint_config, EndpointConfigName=config, Tags=tag_list(tags(5)),
                 ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model,
                                      "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
        _quietly(sm.create_endpoint, EndpointName=names.endpoint, EndpointConfigName=config, Tags=tag_list(tags(5)))


def seed_students(n: int, prefix: str = SEED_PREFIX) -> list[tuple[str, str]]:
    """Return the (service name, stage) of the n students seed_class makes."""
    return [(f"{prefix}-{i:03d}", SEED_STAGES[i % len(SEED_STAGES)]) for i in range(n)]


def seed_class(aws: Aws, n: int, on_progress: Progress = lambda _: None, prefix: str = SEED_PREFIX,
               workers: int = 4) -> list[str]:
    """Fill the sandbox with n students at mixed stages (SEED_STAGES); return their service names.

    Plain boto3 with tags, no real layers or compute; everything seeded carries lab:seeded=true.
    """
    if not aws.target.is_sandbox:
        raise LabError("seed-class creates demonstration resources: it runs against the sandbox only.", "SandboxOnly")
    students = seed_students(n, prefix)
    account = aws.account_id()
    done = 0
    lock = threading.Lock()

    def one(item: tuple[str, str]) -> str:
        nonlocal done
        seed_student(aws, item[0], item[1], account)
        with lock:
            done += 1
            if done % 10 == 0 or done == n:
                on_progress(f"Seeded {done}/{n} students")
        return item[0]

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="seed") as pool:
        return list(pool.map(one, students))


# ---- text for the command line ------------------------------------------------------------------

def format_overview(view: ClassOverview) -> str:
    """Return the overview as a plain-text table (the CLI's `monitor`)."""
    head = f"{'student':<24} " + " ".join(f"ex{n:<4}" for n in EXERCISE_NUMBERS) + f" {'$/h':>7} {'$ so far':>8}  stuck"
    lines = [f"{len(view.rows)} students in {view.target} at {view.taken_at:%Y-%m-%d %H:%M:%S} UTC "
             f"({view.total_calls} AWS requests, {view.seconds:.2f} s)", head]
    for r in view.rows:
        cells = " ".join(f"{_CLI_CELL[r.cells[n].state]:<5}" for n in EXERCISE_NUMBERS)
        tag = "" if r.tagged else " [untagged]"
        lines.append(f"{(r.student + tag)[:24]:<24} {cells} {r.hourly_usd:>7.3f} {r.so_far_usd:>8.2f}  "
                     + ("; ".join(r.stuck_reasons) if r.stuck else ""))
    lines.append(f"Total ${view.total_hourly_usd:.3f}/h, ${view.total_so_far_usd:.2f} so far "
                 f"(on-demand prices of {view.prices_as_of}); {len(view.filter(stuck=True))} stuck.")
    return "\n".join(lines)


_CLI_CELL = {"done": "done", "started": "half", "broken": "BROKE", "todo": "-"}


def format_plan(plan: list[PlannedDeletion]) -> str:
    """Return a dry-run list, one line per resource: what will happen to it and why."""
    if not plan:
        return "Nothing to clean up."
    lines = [f"{(p.action if p.allowed else 'leave'):<28} {p.kind:<15} {p.name}  ({p.why})" for p in plan]
    allowed = sum(p.allowed for p in plan)
    return "\n".join(lines + [f"{allowed} to change, {len(plan) - allowed} left alone."])


def format_results(results: list[CleanupResult]) -> str:
    """Return what a cleanup did, one line per resource, and a count."""
    lines = [f"{r.status:<8} {r.kind:<15} {r.name}: {r.message}" for r in results]
    counts = Counter(r.status for r in results)
    return "\n".join(lines + [", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "Nothing done."])
