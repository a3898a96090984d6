"""Exercise 3's state: three buckets, the policy, the role, the layer, the function, its trigger, outputs and logs."""
from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ... import iam, lambda_, logs, s3
from ...classview import StudentView
from ...config import COURSE_BUCKET, user_data_dir
from ...lab import UNSEEN, LabContext, Unseen
from ...names import LabNames, tags_from_text
from ...ownership import Seen
from .deploy import LAB_ROLE, LAMBDA_SERVICE, LAYER_KEY, MODEL_KEY, TEST_KEY, TIMESTAMP, USE_LAB_ROLE

# ---- the state ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectSeen:
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None


@dataclass(frozen=True)
class LambdaNotification:
    """One of a bucket's notifications to a Lambda function."""

    function_arn: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class BucketState:
    seen: Seen
    private: bool | Unseen  # all four Block Public Access settings on
    lambda_notifications: tuple[LambdaNotification, ...] | Unseen


@dataclass(frozen=True)
class PolicyState:
    seen: Seen
    document: dict[str, Any] | Unseen = field(compare=False)


@dataclass(frozen=True)
class RoleState:
    seen: Seen
    trusts_lambda: bool
    attached: tuple[str, ...] | Unseen  # ARNs of the managed policies attached


@dataclass(frozen=True)
class LayerState:
    """The newest version of the layer."""

    seen: Seen  # tags read from the description
    version: int
    version_arn: str
    description: str
    code_sha256: str | Unseen


@dataclass(frozen=True)
class FunctionState:
    seen: Seen
    runtime: str | None
    handler: str | None
    memory_mb: int
    timeout_s: int
    environment: dict[str, str] = field(compare=False)
    layers: tuple[str, ...]  # version ARNs, in order
    role_arn: str
    code_sha256: str
    state: str | None  # Active, Pending, Failed… (None: not listed)
    state_reason: str
    last_modified: datetime | None
    s3_may_invoke: bool | Unseen  # its resource policy lets S3 invoke it for the input bucket

    @property
    def arn(self) -> str:
        return self.seen.id

    @property
    def failed(self) -> bool:
        return self.state in ("Failed", "UpdateFailed")


@dataclass(frozen=True)
class LogGroupState:
    seen: Seen
    stored_bytes: int


@dataclass(frozen=True)
class Runs:
    """The function's invocations as its log shows them (newest first)."""

    count: int
    latest_failed: bool = False
    latest_ms: float | None = None


@dataclass(frozen=True)
class TestRun:
    """What the test step looks at: the uploaded input and the newest result for it."""

    course_input: ObjectSeen | None
    uploaded: ObjectSeen | None  # input_batch.csv in the input bucket
    result: ObjectSeen | None  # the newest predictions or error report for it
    result_failed: bool  # the result is the error report


@dataclass(frozen=True)
class State:
    names: LabNames
    region: str
    uses_lab_role: bool  # the option, or a function already running with LabRole
    model_bucket: BucketState | None
    input_bucket: BucketState | None
    output_bucket: BucketState | None
    handout_buckets: tuple[Seen, ...]  # input-bucket-<svc>/output-bucket-<svc> that exist (the handout's names)
    course_model: ObjectSeen | None | Unseen
    model: ObjectSeen | None | Unseen  # model.onnx in the model bucket
    model_strays: tuple[str, ...] | Unseen  # prediction files written to the model bucket
    policy: PolicyState | None
    role: RoleState | None  # the student's own role (never LabRole)
    lab_role: RoleState | None | Unseen  # LabRole, read only when it is used
    layer: LayerState | None
    course_layer_sha256: str | None | Unseen  # read only when a layer exists (to compare)
    function: FunctionState | None
    log_group: LogGroupState | None
    runs: Runs | Unseen
    outputs: tuple[ObjectSeen, ...] | Unseen  # the output bucket's objects
    test: TestRun | Unseen

    @property
    def buckets(self) -> tuple[tuple[str, BucketState | None], ...]:
        names = self.names
        return ((names.model_bucket, self.model_bucket), (names.input_bucket, self.input_bucket),
                (names.output_bucket, self.output_bucket))

    @property
    def role_in_use(self) -> RoleState | None | Unseen:
        return self.lab_role if self.uses_lab_role else self.role


# ---- reading the account --------------------------------------------------------------------

def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _object(head: dict[str, Any] | None, key: str) -> ObjectSeen | None:
    if head is None:
        return None
    return ObjectSeen(key, head["ContentLength"], head["ETag"].strip('"'), head.get("LastModified"))


def _lambda_notifications(config: dict[str, Any]) -> tuple[LambdaNotification, ...]:
    return tuple(LambdaNotification(c.get("LambdaFunctionArn", ""), tuple(c.get("Events", [])))
                 for c in config.get("LambdaFunctionConfigurations", []))


def observe_bucket(ctx: LabContext, name: str) -> BucketState | None:
    """Return one bucket as it is now (tags, public access, notifications), or None."""
    seen = s3.seen_bucket(ctx.aws, name)
    if seen is None:
        return None
    return BucketState(seen, s3.get_public_access_block(ctx.aws, name) == s3.ALL_PUBLIC_ACCESS_BLOCKED,
                       _lambda_notifications(s3.get_notification_configuration(ctx.aws, name)))


def observe_policy(ctx: LabContext) -> PolicyState | None:
    arn = iam.policy_arn(ctx.aws, ctx.names.lambda_policy)
    policy = iam.get_policy(ctx.aws, arn)
    if policy is None:
        return None
    document = iam.get_policy_document(ctx.aws, arn)
    return PolicyState(Seen("policy", ctx.names.lambda_policy, arn, _tags(policy.get("Tags"))),
                       document if document is not None else {})


def observe_role(ctx: LabContext, name: str) -> RoleState | None:
    role = iam.get_role(ctx.aws, name)
    if role is None:
        return None
    return RoleState(Seen("role", name, role["Arn"], _tags(role.get("Tags"))),
                     iam.role_trusts(role, LAMBDA_SERVICE), tuple(iam.attached_policy_arns(ctx.aws, name)))


def observe_layer(ctx: LabContext) -> LayerState | None:
    latest = lambda_.latest_layer_version(ctx.aws, ctx.names.lambda_layer)
    if latest is None:
        return None
    description = latest.get("Description") or ""
    seen = Seen("layer", ctx.names.lambda_layer, latest["LayerArn"], tags_from_text(description))
    return LayerState(seen, latest["Version"], latest["LayerVersionArn"], description,
                      latest.get("Content", {}).get("CodeSha256", ""))


def _function_state(name: str, config: dict[str, Any], tags: dict[str, str],
                    may_invoke: bool | Unseen) -> FunctionState:
    state = config.get("State")
    reason = config.get("StateReason") or ""
    if config.get("LastUpdateStatus") == "Failed":
        state, reason = "UpdateFailed", config.get("LastUpdateStatusReason") or reason
    return FunctionState(
        seen=Seen("function", name, config["FunctionArn"], tags),
        runtime=config.get("Runtime"), handler=config.get("Handler"),
        memory_mb=config.get("MemorySize", 0), timeout_s=config.get("Timeout", 0),
        environment=dict((config.get("Environment") or {}).get("Variables") or {}),
        layers=tuple(layer["Arn"] for layer in config.get("Layers", [])),
        role_arn=config.get("Role", ""), code_sha256=config.get("CodeSha256", ""),
        state=state, state_reason=reason, last_modified=_lambda_time(config.get("LastModified")),
        s3_may_invoke=may_invoke)


def _lambda_time(value: str | None) -> datetime | None:
    """Lambda's LastModified ("2024-01-01T00:00:00.000+0000"; moto adds nanoseconds and Z)."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def observe_function(ctx: LabContext) -> FunctionState | None:
    name = ctx.names.lambda_function
    found = lambda_.get_function_and_tags(ctx.aws, name)
    if found is None:
        return None
    config, tags = found
    may_invoke = lambda_.s3_may_invoke(lambda_.function_policy(ctx.aws, name), ctx.names.input_bucket)
    return _function_state(name, config, tags, may_invoke)


def observe_log_group(ctx: LabContext) -> LogGroupState | None:
    group = logs.get_log_group(ctx.aws, ctx.names.lambda_log_group)
    if group is None:
        return None
    arn = group["logGroupArn"]
    return LogGroupState(Seen("log-group", group["logGroupName"], arn, logs.log_group_tags(ctx.aws, arn)),
                         group.get("storedBytes", 0))


def _runs(ctx: LabContext, group: LogGroupState | None) -> Runs:
    if group is None:
        return Runs(0)
    invocations = [i for i in logs.group_invocations(logs.recent_events(ctx.aws, group.seen.name))
                   if i.request_id != "-"]
    if not invocations:
        return Runs(0)
    return Runs(len(invocations), invocations[0].failed, invocations[0].duration_ms)


def output_matches(key: str, input_key: str, timestamped: bool) -> bool:
    """Return True if `key` is the handler's predictions file for `input_key`."""
    stem = input_key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if timestamped:
        return key.rsplit("/", 1)[-1].startswith(f"{stem}_predictions_")
    return key == "predictions.csv"


def error_report_key(input_key: str) -> str:
    """Return where the handler writes its report on an input it cannot score."""
    return f"errors/{input_key.rsplit('/', 1)[-1]}.json"


def observe_test(ctx: LabContext, input_bucket: BucketState | None, outputs: tuple[ObjectSeen, ...],
                 course_input: ObjectSeen | None) -> TestRun:
    """Return the uploaded test input and the newest result written for it."""
    uploaded = (_object(s3.head_object(ctx.aws, ctx.names.input_bucket, TEST_KEY), TEST_KEY)
                if input_bucket is not None else None)
    timestamped = TIMESTAMP.get(ctx)
    results = [o for o in outputs if output_matches(o.key, TEST_KEY, timestamped) or o.key == error_report_key(TEST_KEY)]
    # S3 times are to the second: on a tie the predictions win (one upload writes one or the other).
    newest = max(results, key=lambda o: (o.last_modified, o.key != error_report_key(TEST_KEY)), default=None)
    return TestRun(course_input, uploaded, newest, newest is not None and newest.key == error_report_key(TEST_KEY))


# The course layer is tens of MB: its sha256 is computed once per content (keyed by its ETag) and kept.
def _sha_cache() -> dict[str, str]:
    path = user_data_dir() / "cache" / "course-sha256.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def remember_sha256(etag: str, sha: str) -> None:
    """Record an object's sha256 by its ETag (the layer step knows it after reading the zip)."""
    path = user_data_dir() / "cache" / "course-sha256.json"
    cache = _sha_cache()
    if cache.get(etag) == sha:
        return
    cache[etag] = sha
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temp name of its own: two runs of the layer step at once (two tabs, CLI and page) both write here.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
    tmp.replace(path)


def course_layer_sha256(ctx: LabContext) -> str | None:
    """Return the course layer zip's sha256 (base64, as Lambda reports CodeSha256), or None if it is missing."""
    head = s3.head_object(ctx.aws, COURSE_BUCKET, LAYER_KEY)
    if head is None:
        return None
    etag = course_layer_etag(head)
    cached = _sha_cache().get(etag)
    if cached is None:
        cached = s3.object_sha256(ctx.aws, COURSE_BUCKET, LAYER_KEY)
        remember_sha256(etag, cached)
    return cached


def course_layer_etag(head: dict[str, Any]) -> str:
    """The cache key of an object's content: its ETag and size."""
    return head["ETag"].strip('"') + f":{head['ContentLength']}"


def _model_side(ctx: LabContext) -> tuple[BucketState | None, ObjectSeen | None, tuple[str, ...]]:
    bucket = observe_bucket(ctx, ctx.names.model_bucket)
    if bucket is None:
        return None, None, ()
    keys = [o.key for o in s3.list_objects(ctx.aws, ctx.names.model_bucket)]
    model = _object(s3.head_object(ctx.aws, ctx.names.model_bucket, MODEL_KEY), MODEL_KEY) if MODEL_KEY in keys else None
    return bucket, model, tuple(k for k in keys if "predict" in k)


def _output_side(ctx: LabContext) -> tuple[BucketState | None, tuple[ObjectSeen, ...]]:
    bucket = observe_bucket(ctx, ctx.names.output_bucket)
    if bucket is None:
        return None, ()
    return bucket, tuple(ObjectSeen(o.key, o.size, o.etag.strip('"'), o.last_modified)
                         for o in s3.list_objects(ctx.aws, ctx.names.output_bucket))


def _layer_side(ctx: LabContext) -> tuple[LayerState | None, str | None]:
    layer = observe_layer(ctx)
    return layer, course_layer_sha256(ctx) if layer is not None else None


def _logs_side(ctx: LabContext) -> tuple[LogGroupState | None, Runs]:
    group = observe_log_group(ctx)
    return group, _runs(ctx, group)


def observe(ctx: LabContext) -> State:
    """Read exercise 3's state from the account (independent reads side by side: ~37 calls, one round trip deep)."""
    names, aws = ctx.names, ctx.aws
    course = lambda key: _object(s3.head_object(aws, COURSE_BUCKET, key), key)  # noqa: E731
    reads: dict[str, Callable[[], Any]] = {
        "model": lambda: _model_side(ctx), "input": lambda: observe_bucket(ctx, names.input_bucket),
        "output": lambda: _output_side(ctx),
        "handout": lambda: tuple(seen for b in (names.handout_input_bucket, names.handout_output_bucket)
                                 if (seen := s3.seen_bucket(aws, b)) is not None),
        "course_model": lambda: course(MODEL_KEY), "course_input": lambda: course(TEST_KEY),
        "policy": lambda: observe_policy(ctx), "role": lambda: observe_role(ctx, names.lambda_role),
        "lab_role": lambda: observe_role(ctx, LAB_ROLE) if USE_LAB_ROLE.get(ctx) else None,
        "function": lambda: observe_function(ctx), "layer": lambda: _layer_side(ctx), "logs": lambda: _logs_side(ctx),
    }
    with ThreadPoolExecutor(max_workers=6, thread_name_prefix="ex3-observe") as pool:
        futures = {key: pool.submit(read) for key, read in reads.items()}
        got = {key: future.result() for key, future in futures.items()}
    (model_bucket, model, strays), (output_bucket, outputs) = got["model"], got["output"]
    function, lab_role = got["function"], got["lab_role"]
    lab_role_used = USE_LAB_ROLE.get(ctx) or bool(function and function.role_arn.endswith(f":role/{LAB_ROLE}"))
    if lab_role_used and lab_role is None:
        lab_role = observe_role(ctx, LAB_ROLE)
    (layer, layer_sha), (log_group, runs) = got["layer"], got["logs"]
    return State(
        names=names, region=ctx.region, uses_lab_role=lab_role_used,
        model_bucket=model_bucket, input_bucket=got["input"], output_bucket=output_bucket,
        handout_buckets=got["handout"], course_model=got["course_model"], model=model, model_strays=strays,
        policy=got["policy"], role=got["role"], lab_role=lab_role if lab_role_used else None,
        layer=layer, course_layer_sha256=layer_sha, function=function, log_group=log_group, runs=runs,
        outputs=outputs, test=observe_test(ctx, got["input"], outputs, got["course_input"]),
    )


# ---- the class view -------------------------------------------------------------------------

def _snapshot_bucket(view: StudentView, name: str) -> BucketState | None:
    seen = view.get("bucket", name)
    return None if seen is None else BucketState(seen, UNSEEN, UNSEEN)


def _snapshot_lab_role(view: StudentView) -> RoleState | Unseen:
    """LabRole as the class listings show it (shared by every student), or UNSEEN if they do not."""
    raw = view.raw_of("role", LAB_ROLE)
    if not raw:
        return UNSEEN
    return RoleState(Seen("role", LAB_ROLE, raw.get("Arn", ""), _tags(raw.get("Tags"))),
                     iam.role_trusts(raw, LAMBDA_SERVICE), UNSEEN)


def from_snapshot(view: StudentView) -> State:
    """Build the State from the class listings: objects, notifications, public access and logs' lines are unseen."""
    names = view.names
    function = None
    seen_function = view.get("function", names.lambda_function)
    config = view.raw_of("function", names.lambda_function)
    if seen_function is not None and config is not None:
        function = _function_state(names.lambda_function, config, seen_function.tags, UNSEEN)
    lab_role_used = bool(function and function.role_arn.endswith(f":role/{LAB_ROLE}"))
    policy = None
    if (seen := view.get("policy", names.lambda_policy)) is not None:
        raw = view.raw_of("policy", names.lambda_policy) or {}
        policy = PolicyState(seen, raw.get("Document") if raw.get("Document") is not None else UNSEEN)
    role = None
    if (seen := view.get("role", names.lambda_role)) is not None:
        raw = view.raw_of("role", names.lambda_role)
        role = RoleState(seen, iam.role_trusts(raw, LAMBDA_SERVICE) if raw else False,
                         tuple(p["PolicyArn"] for p in raw.get("AttachedManagedPolicies", [])) if raw else UNSEEN)
    layer = None
    if (seen := view.get("layer", names.lambda_layer)) is not None:
        latest = (view.raw_of("layer", names.lambda_layer) or {}).get("LatestMatchingVersion") or {}
        layer = LayerState(seen, latest.get("Version", 0), latest.get("LayerVersionArn", ""),
                           latest.get("Description") or "", UNSEEN)
    log_group = None
    if (seen := view.get("log-group", names.lambda_log_group)) is not None:
        raw = view.raw_of("log-group", names.lambda_log_group) or {}
        log_group = LogGroupState(seen, raw.get("storedBytes", 0))
    model_bucket = _snapshot_bucket(view, names.model_bucket)
    output_bucket = _snapshot_bucket(view, names.output_bucket)
    return State(
        names=names, region=view.region, uses_lab_role=lab_role_used,
        model_bucket=model_bucket, input_bucket=_snapshot_bucket(view, names.input_bucket),
        output_bucket=output_bucket,
        handout_buckets=tuple(seen for b in (names.handout_input_bucket, names.handout_output_bucket)
                              if (seen := view.get("bucket", b)) is not None),
        course_model=UNSEEN, model=UNSEEN if model_bucket else None, model_strays=UNSEEN if model_bucket else (),
        policy=policy, role=role, lab_role=_snapshot_lab_role(view) if lab_role_used else None, layer=layer,
        course_layer_sha256=UNSEEN, function=function, log_group=log_group,
        runs=Runs(0) if log_group is None else UNSEEN, outputs=UNSEEN if output_bucket else (), test=UNSEEN,
    )
