"""Exercise 3's state: three buckets, the policy, the role, the layer, the function, its trigger, outputs and logs.

Also what the steps deploy (constants, options, the policy document, the function's environment
and zip): the plan compares the State with these, the snippets show them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ... import iam, lambda_, logs, s3
from ...classview import StudentView
from ...config import COURSE_BUCKET, PROJECT_ROOT, user_data_dir
from ...lab import UNSEEN, LabContext, Option, Unseen
from ...names import LabNames, tags_from_text
from ...ownership import Seen

HANDLER_DIR = PROJECT_ROOT / "lambda_code"
# handler.py is the entry point; batch_reader.py (the CSV reader and scorer) sits beside it at the zip's root.
HANDLER_FILES = ("handler.py", "batch_reader.py")
HANDLER = "handler.lambda_handler"
RUNTIME = "python3.12"
MEMORY_MB = 256
TIMEOUT_S = 10
MODEL_KEY = "model.onnx"
LAYER_KEY = "layer_file.zip"
TEST_KEY = "input_batch.csv"
LAB_ROLE = iam.LAB_ROLE
LAMBDA_SERVICE = "lambda.amazonaws.com"
NUMBER = 3

# ---- options --------------------------------------------------------------------------------

USE_LAB_ROLE = Option(
    "use_lab_role", "Use LabRole (AWS Academy learner labs cannot create roles)", False,
    "The function runs with the learner lab's existing LabRole: no role or policy of your own is created.")
INCLUDE_INPUT = Option(
    "include_input", "Output holds the input columns too", True,
    "The course's optional step 7: each output row repeats the input's columns beside its prediction.")
TIMESTAMP = Option(
    "timestamp", "Timestamped output names (one file per upload)", True,
    "On: <input>_predictions_<UTC time>.csv, one file per upload; off: every upload overwrites predictions.csv.")
OPTIONS = (USE_LAB_ROLE, INCLUDE_INPUT, TIMESTAMP)


# ---- what the steps deploy ------------------------------------------------------------------

def policy_document(names: LabNames) -> dict[str, Any]:
    """Return the function's policy: logs, read input and model, write output — ARNs from the real bucket names."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "arn:aws:logs:*:*:*"},
        {"Sid": "ReadInput", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": f"arn:aws:s3:::{names.input_bucket}/*"},
        {"Sid": "ReadModel", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": f"arn:aws:s3:::{names.model_bucket}/*"},
        {"Sid": "WriteOutput", "Effect": "Allow", "Action": ["s3:PutObject"],
         "Resource": f"arn:aws:s3:::{names.output_bucket}/*"},
    ]}


def allowed_resources(document: dict[str, Any], action: str) -> set[str]:
    """Return the resources a policy document allows `action` on."""
    found = set()
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and any(a in (action, "s3:*", "*") for a in actions):
            resources = statement.get("Resource", [])
            found.update([resources] if isinstance(resources, str) else resources)
    return found


def function_environment(ctx: LabContext) -> dict[str, str]:
    """Return the function's environment: bucket names are configuration, not code."""
    names = ctx.names
    return {"MODEL_BUCKET": names.model_bucket, "MODEL_KEY": MODEL_KEY, "OUTPUT_BUCKET": names.output_bucket,
            "INCLUDE_INPUT": "1" if INCLUDE_INPUT.get(ctx) else "0",
            "TIMESTAMP": "1" if TIMESTAMP.get(ctx) else "0"}


def role_name(ctx: LabContext) -> str:
    """Return the role the function runs with: the student's own, or the learner lab's LabRole."""
    return LAB_ROLE if USE_LAB_ROLE.get(ctx) else ctx.names.lambda_role


def handler_files() -> tuple[str, ...]:
    """Return the handler files that exist (batch_reader.py arrived later: deploy whichever are there)."""
    return tuple(name for name in HANDLER_FILES if (HANDLER_DIR / name).is_file())


def handler_source() -> str:
    """Return the handler's source, as deployed (for students to read)."""
    return (HANDLER_DIR / HANDLER_FILES[0]).read_text()


def handler_zip() -> bytes:
    """Return the function's deployment zip (the handler files at its root), byte-stable."""
    return lambda_.zip_directory_files(HANDLER_DIR, list(handler_files()))


def handler_sha256() -> str:
    """Return the deployment zip's sha256 as Lambda reports it (CodeSha256)."""
    return lambda_.FunctionSpec(name="-", role_arn="-", zip_bytes=handler_zip(), handler=HANDLER).code_sha256


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
    tmp = path.with_suffix(".tmp")
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


def observe(ctx: LabContext) -> State:
    """Read exercise 3's state from the account."""
    names, aws = ctx.names, ctx.aws
    model_bucket, input_bucket, output_bucket = (observe_bucket(ctx, b) for b in (
        names.model_bucket, names.input_bucket, names.output_bucket))
    handout = tuple(seen for b in (names.handout_input_bucket, names.handout_output_bucket)
                    if (seen := s3.seen_bucket(aws, b)) is not None)
    model_keys = [o.key for o in s3.list_objects(aws, names.model_bucket)] if model_bucket else []
    function = observe_function(ctx)
    lab_role_used = USE_LAB_ROLE.get(ctx) or bool(function and function.role_arn.endswith(f":role/{LAB_ROLE}"))
    layer = observe_layer(ctx)
    log_group = observe_log_group(ctx)
    outputs = tuple(ObjectSeen(o.key, o.size, o.etag.strip('"'), o.last_modified)
                    for o in s3.list_objects(aws, names.output_bucket)) if output_bucket else ()
    course_input = _object(s3.head_object(aws, COURSE_BUCKET, TEST_KEY), TEST_KEY)
    return State(
        names=names, region=ctx.region, uses_lab_role=lab_role_used,
        model_bucket=model_bucket, input_bucket=input_bucket, output_bucket=output_bucket,
        handout_buckets=handout,
        course_model=_object(s3.head_object(aws, COURSE_BUCKET, MODEL_KEY), MODEL_KEY),
        model=_object(s3.head_object(aws, names.model_bucket, MODEL_KEY), MODEL_KEY) if model_bucket else None,
        model_strays=tuple(k for k in model_keys if "predict" in k),
        policy=observe_policy(ctx),
        role=observe_role(ctx, names.lambda_role),
        lab_role=observe_role(ctx, LAB_ROLE) if lab_role_used else None,
        layer=layer,
        course_layer_sha256=course_layer_sha256(ctx) if layer is not None else None,
        function=function, log_group=log_group, runs=_runs(ctx, log_group), outputs=outputs,
        test=observe_test(ctx, input_bucket, outputs, course_input),
    )


# ---- the class view -------------------------------------------------------------------------

def _snapshot_bucket(view: StudentView, name: str) -> BucketState | None:
    seen = view.get("bucket", name)
    return None if seen is None else BucketState(seen, UNSEEN, UNSEEN)


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
        policy=policy, role=role, lab_role=UNSEEN if lab_role_used else None, layer=layer,
        course_layer_sha256=UNSEEN, function=function, log_group=log_group,
        runs=Runs(0) if log_group is None else UNSEEN, outputs=UNSEEN if output_bucket else (), test=UNSEEN,
    )
