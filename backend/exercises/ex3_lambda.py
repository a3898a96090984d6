"""Exercise 3: an S3-triggered Lambda that batch-scores a CSV with the ONNX model."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError

from .. import iam, lambda_, logs, s3
from ..config import COURSE_BUCKET, PROJECT_ROOT
from ..errors import LabError, error_code
from ..lab import Check, CheckResult, Exercise, LabContext, Progress, Step, StepResult, no_progress
from ..names import LabNames, lab_tags

HANDLER_DIR = PROJECT_ROOT / "lambda_code"
HANDLER_FILES = ["handler.py"]
HANDLER = "handler.lambda_handler"
RUNTIME = "python3.12"
MEMORY_MB = 256
TIMEOUT_S = 10
MODEL_KEY = "model.onnx"
LAYER_KEY = "layer_file.zip"
LAB_ROLE = iam.LAB_ROLE
WAIT_FOR_OUTPUT_S = 90.0

INTRO = """\
Every CSV uploaded to `input-<name>` triggers a Lambda function that scores it with the ONNX model
from `model-<name>` and writes the predictions to `output-<name>`. You create the three buckets,
a policy that allows exactly that, a role for the function, the layer with its libraries
(onnxruntime and numpy), the function, and the trigger — then upload a CSV and watch the result
and the function's log."""


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


def function_environment(ctx: LabContext) -> dict[str, str]:
    """Return the function's environment: bucket names are configuration, not code."""
    names = ctx.names
    return {"MODEL_BUCKET": names.model_bucket, "MODEL_KEY": MODEL_KEY, "OUTPUT_BUCKET": names.output_bucket,
            "INCLUDE_INPUT": "1" if ctx.option("include_input", True) else "0",
            "TIMESTAMP": "1" if ctx.option("timestamp", True) else "0"}


def handler_source() -> str:
    """Return the handler's source, as deployed (for students to read)."""
    return (HANDLER_DIR / HANDLER_FILES[0]).read_text()


def handler_zip() -> bytes:
    """Return the function's deployment zip (lambda_code/handler.py at the root), byte-stable."""
    return lambda_.zip_directory_files(HANDLER_DIR, HANDLER_FILES)


def _role_name(ctx: LabContext) -> str:
    return LAB_ROLE if ctx.option("use_lab_role") else ctx.names.lambda_role


# ---- steps ----------------------------------------------------------------------------------

def _buckets(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names, tags = ctx.names, lab_tags(ctx.svc, 3)
    results = [s3.ensure_bucket(ctx.aws, b, tags=tags, block_public_access=True)
               for b in (names.model_bucket, names.input_bucket, names.output_bucket)]
    model_changed = _copy_model(ctx)
    created = [r.name for r in results if r.created]
    changed = any(r.changed for r in results) or model_changed
    if not changed:
        summary = "The three buckets exist with public access blocked, and model.onnx is in place: nothing to do."
    else:
        summary = (f"Created {', '.join(created)}" if created else "Buckets brought in line") + \
                  (f"; copied model.onnx to {names.model_bucket}." if model_changed else ".")
    return StepResult("buckets", changed, summary,
                      {"buckets": [r.name for r in results], "created": created, "model": f"s3://{names.model_bucket}/{MODEL_KEY}"})


def _copy_model(ctx: LabContext) -> bool:
    course = s3.head_object(ctx.aws, COURSE_BUCKET, MODEL_KEY)
    if course is None:
        raise LabError(f"{MODEL_KEY} is missing from {COURSE_BUCKET}: ask your instructor to publish the course files.",
                       "MissingCourseFile")
    ours = s3.head_object(ctx.aws, ctx.names.model_bucket, MODEL_KEY)
    if ours is not None and ours["ETag"] == course["ETag"]:
        return False
    ctx.aws.client("s3").copy_object(Bucket=ctx.names.model_bucket, Key=MODEL_KEY,
                                     CopySource={"Bucket": COURSE_BUCKET, "Key": MODEL_KEY})
    return True


def _buckets_code(ctx: LabContext) -> str:
    names = ctx.names
    create = s3.create_bucket_kwargs("BUCKET", ctx.region)
    config = f", CreateBucketConfiguration={create['CreateBucketConfiguration']!r}" if "CreateBucketConfiguration" in create else ""
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
for bucket in [{names.model_bucket!r}, {names.input_bucket!r}, {names.output_bucket!r}]:
    s3.create_bucket(Bucket=bucket{config})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={{
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={{"TagSet": [
        {{"Key": "lab:course", "Value": "mlops-aws"}}, {{"Key": "lab:student", "Value": {ctx.svc!r}}},
        {{"Key": "lab:exercise", "Value": "3"}}]}})
# the model, copied from the course bucket (same as uploading the model.onnx you downloaded)
s3.copy_object(Bucket={names.model_bucket!r}, Key="model.onnx",
               CopySource={{"Bucket": {COURSE_BUCKET!r}, "Key": "model.onnx"}})
"""


def _policy(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    result = iam.ensure_policy(ctx.aws, names.lambda_policy, policy_document(names), lab_tags(ctx.svc, 3),
                               description=f"Batch Lambda of {ctx.svc}: logs, read input/model, write output")
    if result.created:
        summary = f"Created policy {result.name}."
    elif result.updated:
        summary = f"Policy {result.name} had a different document: set the correct one as its default version."
    else:
        summary = f"Policy {result.name} already allows exactly what the function needs: nothing to do."
    return StepResult("policy", result.created or result.updated, summary, {"arn": result.arn})


def _policy_code(ctx: LabContext) -> str:
    import json
    document = json.dumps(policy_document(ctx.names), indent=4)
    return f"""\
import json
import boto3

iam = boto3.client("iam")
policy = {document}
iam.create_policy(PolicyName={ctx.names.lambda_policy!r}, PolicyDocument=json.dumps(policy),
                  Tags=[{{"Key": "lab:student", "Value": {ctx.svc!r}}}])
"""


def _role(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if ctx.option("use_lab_role"):
        role = iam.learner_lab_role(ctx.aws, "lambda.amazonaws.com")
        return StepResult("role", False, f"Using the learner lab's {LAB_ROLE} (it may not be changed).",
                          {"arn": role["Arn"]})
    try:
        result = iam.ensure_role(ctx.aws, names.lambda_role, "lambda.amazonaws.com", lab_tags(ctx.svc, 3),
                                 description=f"Batch Lambda of {ctx.svc}")
    except ClientError as err:
        if error_code(err) in ("AccessDenied", "AccessDeniedException"):
            raise LabError("This account may not create roles (an AWS Academy learner lab?): tick 'Use LabRole' "
                           "and run the step again.", "CannotCreateRole") from err
        raise
    attached = iam.ensure_policy_attached(ctx.aws, names.lambda_role, iam.policy_arn(ctx.aws, names.lambda_policy))
    if result.created:
        summary = f"Created role {names.lambda_role}, trusted by Lambda, with {names.lambda_policy} attached."
    elif attached:
        summary = f"Attached {names.lambda_policy} to the existing role {names.lambda_role}."
    else:
        summary = f"Role {names.lambda_role} exists with its policy attached: nothing to do."
    return StepResult("role", result.created or attached, summary, {"arn": result.arn})


def _role_code(ctx: LabContext) -> str:
    names = ctx.names
    return f"""\
import json
import boto3

iam = boto3.client("iam")
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Service": "lambda.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}}
role = iam.create_role(RoleName={names.lambda_role!r}, AssumeRolePolicyDocument=json.dumps(trust))
account = boto3.client("sts").get_caller_identity()["Account"]
iam.attach_role_policy(RoleName={names.lambda_role!r},
                       PolicyArn=f"arn:aws:iam::{{account}}:policy/{names.lambda_policy}")
# AWS Academy learner labs cannot create roles: use the existing role "LabRole" instead.
"""


def _layer(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if s3.head_object(ctx.aws, COURSE_BUCKET, LAYER_KEY) is None:
        raise LabError(f"{LAYER_KEY} is missing from {COURSE_BUCKET}.", "MissingCourseFile")
    if not s3.bucket_exists(ctx.aws, names.model_bucket):
        raise LabError(f"Bucket {names.model_bucket} does not exist yet: run the buckets step first.", "MissingBucket")
    data = s3.read_object(ctx.aws, COURSE_BUCKET, LAYER_KEY)
    result = lambda_.ensure_layer(ctx.aws, names.lambda_layer, data, RUNTIME,
                                  description="onnxruntime + numpy for the batch handler",
                                  staging=(names.model_bucket, f"layers/{LAYER_KEY}"))
    size = f"{len(data) / 2**20:.1f} MB"
    summary = (f"Published {names.lambda_layer} version {result.version} ({size}"
               + (", through S3: over the 50 MB direct upload limit" if result.via_s3 else "") + ")."
               if result.created else
               f"Layer {names.lambda_layer} version {result.version} already holds this zip: nothing to do.")
    return StepResult("layer", result.created, summary, {"arn": result.version_arn, "size_bytes": len(data)})


def _layer_code(ctx: LabContext) -> str:
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
layer_zip = s3.get_object(Bucket={COURSE_BUCKET!r}, Key={LAYER_KEY!r})["Body"].read()
# Up to 50 MB zipped can be sent directly; larger zips go through S3 (Content={{"S3Bucket": …, "S3Key": …}}).
boto3.client("lambda", region_name={ctx.region!r}).publish_layer_version(
    LayerName={ctx.names.lambda_layer!r}, Content={{"ZipFile": layer_zip}},
    CompatibleRuntimes=[{RUNTIME!r}], CompatibleArchitectures=["x86_64"])
"""


def _function_spec(ctx: LabContext) -> lambda_.FunctionSpec:
    names = ctx.names
    role = iam.get_role(ctx.aws, _role_name(ctx))
    if role is None:
        raise LabError(f"Role {_role_name(ctx)} does not exist yet: run the role step first.", "MissingRole")
    layer = lambda_.latest_layer_version(ctx.aws, names.lambda_layer)
    if layer is None:
        raise LabError(f"Layer {names.lambda_layer} does not exist yet: run the layer step first.", "MissingLayer")
    return lambda_.FunctionSpec(
        name=names.lambda_function, role_arn=role["Arn"], zip_bytes=handler_zip(), handler=HANDLER,
        runtime=RUNTIME, memory_mb=MEMORY_MB, timeout_s=TIMEOUT_S, environment=function_environment(ctx),
        layers=(layer["LayerVersionArn"],), tags=lab_tags(ctx.svc, 3),
        description=f"Batch predictions for {ctx.svc}")


def _function(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    spec = _function_spec(ctx)
    # Lambda would create its log group untagged on the first run; made here it carries the lab's tags.
    logs.ensure_log_group(ctx.aws, ctx.names.lambda_log_group, lab_tags(ctx.svc, 3))
    result = lambda_.ensure_function(ctx.aws, spec, on_progress=on_progress)
    if result.created:
        summary = f"Created function {spec.name} ({RUNTIME}, {MEMORY_MB} MB, {TIMEOUT_S} s) with its layer."
    elif result.updated:
        summary = f"Function {spec.name} existed: updated its {' and '.join(result.updated)}."
    else:
        summary = f"Function {spec.name} is up to date: nothing to do."
    return StepResult("function", result.created or bool(result.updated), summary,
                      {"arn": result.arn, "environment": spec.environment, "layers": list(spec.layers)})


def _function_code(ctx: LabContext) -> str:
    names = ctx.names
    env = function_environment(ctx)
    return f"""\
import io, zipfile
import boto3

buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as z:
    z.write("lambda_code/handler.py", "handler.py")
account = boto3.client("sts").get_caller_identity()["Account"]
lam = boto3.client("lambda", region_name={ctx.region!r})
layer = lam.list_layer_versions(LayerName={names.lambda_layer!r})["LayerVersions"][0]["LayerVersionArn"]
lam.create_function(
    FunctionName={names.lambda_function!r}, Runtime={RUNTIME!r}, Architectures=["x86_64"],
    Role=f"arn:aws:iam::{{account}}:role/{_role_name(ctx)}",
    Handler={HANDLER!r}, Code={{"ZipFile": buffer.getvalue()}},
    MemorySize={MEMORY_MB}, Timeout={TIMEOUT_S}, Layers=[layer],
    Environment={{"Variables": {env!r}}})
lam.get_waiter("function_active_v2").wait(FunctionName={names.lambda_function!r})
"""


def _trigger(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    function = lambda_.get_function(ctx.aws, names.lambda_function)
    if function is None:
        raise LabError(f"Function {names.lambda_function} does not exist yet: run the function step first.",
                       "MissingFunction")
    if not s3.bucket_exists(ctx.aws, names.input_bucket):
        raise LabError(f"Bucket {names.input_bucket} does not exist yet: run the buckets step first.", "MissingBucket")
    permitted = lambda_.ensure_s3_permission(ctx.aws, names.lambda_function, names.input_bucket)
    notified = s3.ensure_lambda_notification(ctx.aws, names.input_bucket, function["FunctionArn"],
                                             config_id=names.lambda_function)
    if permitted or notified:
        summary = (f"Uploads to {names.input_bucket} now trigger {names.lambda_function}"
                   + (" (S3 may invoke it; notification added beside any existing ones)." if notified else "."))
    else:
        summary = f"{names.input_bucket} already triggers {names.lambda_function}: nothing to do."
    return StepResult("trigger", permitted or notified, summary,
                      {"bucket": names.input_bucket, "function": function["FunctionArn"]})


def _trigger_code(ctx: LabContext) -> str:
    names = ctx.names
    return f"""\
import boto3

account = boto3.client("sts").get_caller_identity()["Account"]
lam = boto3.client("lambda", region_name={ctx.region!r})
lam.add_permission(FunctionName={names.lambda_function!r}, StatementId="s3-invoke-{names.input_bucket}",
                   Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                   SourceArn="arn:aws:s3:::{names.input_bucket}", SourceAccount=account)
arn = lam.get_function_configuration(FunctionName={names.lambda_function!r})["FunctionArn"]
s3 = boto3.client("s3", region_name={ctx.region!r})
config = s3.get_bucket_notification_configuration(Bucket={names.input_bucket!r})
config.pop("ResponseMetadata", None)
# Keep whatever notifications the bucket already has; add ours.
config.setdefault("LambdaFunctionConfigurations", []).append(
    {{"Id": {names.lambda_function!r}, "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}})
s3.put_bucket_notification_configuration(Bucket={names.input_bucket!r}, NotificationConfiguration=config)
"""


# ---- running a batch ------------------------------------------------------------------------

def _output_matches(key: str, input_key: str, timestamped: bool) -> bool:
    stem = Path(input_key).name.rsplit(".", 1)[0]
    if timestamped:
        return Path(key).name.startswith(f"{stem}_predictions_")
    return key == "predictions.csv"


def wait_for_output(ctx: LabContext, input_key: str, since: datetime, on_progress: Progress = no_progress,
                    timeout: float = WAIT_FOR_OUTPUT_S, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll the output bucket until the predictions (or an error report) for input_key appear.

    Returns {"status": "ok"|"error", "key": …}; raises LabError after `timeout` seconds.
    """
    bucket = ctx.names.output_bucket
    timestamped = ctx.option("timestamp", True)
    error_key = f"errors/{Path(input_key).name}.json"
    deadline = time.monotonic() + timeout
    waited = 0
    while True:
        fresh = [o for o in s3.list_objects(ctx.aws, bucket) if o.last_modified >= since]
        for obj in sorted(fresh, key=lambda o: o.last_modified, reverse=True):
            if obj.key == error_key:
                return {"status": "error", "key": obj.key}
            if _output_matches(obj.key, input_key, timestamped):
                return {"status": "ok", "key": obj.key}
        if time.monotonic() >= deadline:
            raise LabError(f"No output for {input_key} in {bucket} after {timeout:.0f} s: see the function's log "
                           "below (is the trigger on the input bucket?).", "NoOutput")
        if waited % 5 == 0:
            on_progress(f"Waiting for the function to write to {bucket}… ({waited} s)")
        sleep(1.0)
        waited += 1


def run_batch(ctx: LabContext, data: bytes, key: str, on_progress: Progress = no_progress,
              timeout: float = WAIT_FOR_OUTPUT_S, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Upload a CSV to the input bucket and wait for the function's output; return where it is and what it says."""
    names = ctx.names
    if lambda_.get_function(ctx.aws, names.lambda_function) is None:
        raise LabError(f"Function {names.lambda_function} does not exist yet: run exercise 3's steps first.",
                       "MissingFunction")
    since = datetime.now(timezone.utc) - timedelta(seconds=2)  # tolerate clock granularity of LastModified
    s3.put_bytes(ctx.aws, names.input_bucket, key, data, content_type="text/csv")
    on_progress(f"Uploaded {key} ({len(data):,} bytes) to {names.input_bucket}.")
    found = wait_for_output(ctx, key, since, on_progress, timeout, sleep)
    body = s3.read_object(ctx.aws, names.output_bucket, found["key"])
    on_progress(("Predictions" if found["status"] == "ok" else "Error report") + f" at s3://{names.output_bucket}/{found['key']}.")
    return {**found, "bucket": names.output_bucket, "input_key": key, "body": body}


def _test(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    data = s3.read_object(ctx.aws, COURSE_BUCKET, "input_batch.csv")
    result = run_batch(ctx, data, "input_batch.csv", on_progress)
    if result["status"] != "ok":
        raise LabError(f"The function failed: {result['body'][:500].decode(errors='replace')}", "FunctionFailed")
    rows = result["body"].count(b"\n") - 1
    return StepResult("test", True, f"Scored {rows:,} rows: s3://{result['bucket']}/{result['key']}.",
                      {"output": f"s3://{result['bucket']}/{result['key']}", "rows": rows})


def _test_code(ctx: LabContext) -> str:
    names = ctx.names
    return f"""\
import time
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.upload_file("input_batch.csv", {names.input_bucket!r}, "input_batch.csv")   # this triggers the function
for _ in range(90):                                    # wait for its output
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket={names.output_bucket!r}).get("Contents", [])]
    if any(k.startswith("input_batch_predictions_") for k in keys):
        break
    time.sleep(1)
print(keys)
# its log: CloudWatch Logs group /aws/lambda/{names.lambda_function}
"""


# ---- checks ---------------------------------------------------------------------------------

def _check_buckets(ctx: LabContext) -> CheckResult:
    names = ctx.names
    title = "Three buckets, all public access blocked"
    missing, open_ = [], []
    for bucket in (names.model_bucket, names.input_bucket, names.output_bucket):
        if not s3.bucket_exists(ctx.aws, bucket):
            missing.append(bucket)
        elif s3.get_public_access_block(ctx.aws, bucket) != s3.ALL_PUBLIC_ACCESS_BLOCKED:
            open_.append(bucket)
    if missing:
        hint = "Create them (step 1)."
        if any(s3.bucket_exists(ctx.aws, f"{kind}-bucket-{ctx.svc}") for kind in ("input", "output")):
            hint = f"Found input-bucket-{ctx.svc}/output-bucket-{ctx.svc}: the lab's names are input-{ctx.svc} and output-{ctx.svc}."
        return CheckResult("buckets", title, False, f"Missing: {', '.join(missing)}.", hint)
    if open_:
        return CheckResult("buckets", title, False, f"Public access not fully blocked on {', '.join(open_)}.",
                           "Turn on all four Block Public Access settings (step 1 does it).")
    return CheckResult("buckets", title, True, "model-, input- and output- buckets exist, all private.")


def _check_model(ctx: LabContext) -> CheckResult:
    title = "model.onnx is in the model bucket"
    head = s3.head_object(ctx.aws, ctx.names.model_bucket, MODEL_KEY) if s3.bucket_exists(ctx.aws, ctx.names.model_bucket) else None
    if head is None:
        return CheckResult("model", title, False, f"No {MODEL_KEY} in {ctx.names.model_bucket}.",
                           "Upload the model.onnx you downloaded in exercise 2 (step 1 copies it).")
    return CheckResult("model", title, True, f"{MODEL_KEY}: {head['ContentLength']:,} bytes.")


def allowed_resources(document: dict[str, Any], action: str) -> set[str]:
    """Return the resources a policy document allows `action` on (checks and the class overview share it)."""
    found = set()
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and any(a in (action, "s3:*", "*") for a in actions):
            resources = statement.get("Resource", [])
            found.update([resources] if isinstance(resources, str) else resources)
    return found


def _check_policy(ctx: LabContext) -> CheckResult:
    names = ctx.names
    title = "The policy allows exactly the lab's buckets"
    if ctx.option("use_lab_role"):
        return CheckResult("policy", title, True, f"Using {LAB_ROLE}: its permissions are set by the learner lab.")
    document = iam.get_policy_document(ctx.aws, iam.policy_arn(ctx.aws, names.lambda_policy))
    if document is None:
        return CheckResult("policy", title, False, f"No policy {names.lambda_policy}.", "Create it (step 2).")
    reads, writes = allowed_resources(document, "s3:GetObject"), allowed_resources(document, "s3:PutObject")
    problems = []
    for bucket, granted, verb in ((names.input_bucket, reads, "read"), (names.model_bucket, reads, "read"),
                                  (names.output_bucket, writes, "write")):
        if f"arn:aws:s3:::{bucket}/*" not in granted and "*" not in granted:
            problems.append(f"no {verb} on {bucket}")
    if problems:
        hint = "Name the buckets you created in the Resource ARNs."
        if any("-bucket-" in r for r in reads | writes):
            hint = (f"The handout's policy says input-bucket-{ctx.svc}/output-bucket-{ctx.svc}, but the buckets are "
                    f"input-{ctx.svc}/output-{ctx.svc}: the function would be denied. Step 2 writes the right ARNs.")
        return CheckResult("policy", title, False, "; ".join(problems) + ".", hint)
    return CheckResult("policy", title, True, "Reads input and model, writes output, writes logs.")


def _check_role(ctx: LabContext) -> CheckResult:
    names = ctx.names
    title = "The role is trusted by Lambda and has the policy"
    role = iam.get_role(ctx.aws, _role_name(ctx))
    if role is None:
        return CheckResult("role", title, False, f"No role {_role_name(ctx)}.", "Create it (step 3).")
    if not iam.role_trusts(role, "lambda.amazonaws.com"):
        return CheckResult("role", title, False, f"{role['RoleName']} does not trust lambda.amazonaws.com.",
                           "Choose Lambda as the trusted service when you create the role.")
    if not ctx.option("use_lab_role"):
        arn = iam.policy_arn(ctx.aws, names.lambda_policy)
        if arn not in iam.attached_policy_arns(ctx.aws, names.lambda_role):
            return CheckResult("role", title, False, f"{names.lambda_policy} is not attached.",
                               "Attach the policy to the role (step 3).")
    return CheckResult("role", title, True, f"{role['RoleName']} is ready.")


def _check_function(ctx: LabContext) -> CheckResult:
    names = ctx.names
    title = f"Function {names.lambda_function}: {RUNTIME}, {MEMORY_MB} MB, {TIMEOUT_S} s, layer, env"
    config = lambda_.get_function(ctx.aws, names.lambda_function)
    if config is None:
        return CheckResult("function", title, False, "No such function.", "Create it (step 5).")
    problems, hints = [], []
    if config.get("Runtime") != RUNTIME:
        problems.append(f"runtime {config.get('Runtime')}")
        hints.append(f"python3.7 (the handout's) is end of life: use {RUNTIME}.")
    if config.get("MemorySize", 0) < MEMORY_MB:
        problems.append(f"{config.get('MemorySize')} MB")
        hints.append(f"Give it {MEMORY_MB} MB: the model does not fit in 128 MB.")
    if config.get("Timeout", 0) < TIMEOUT_S:
        problems.append(f"timeout {config.get('Timeout')} s")
        hints.append(f"Raise the timeout to {TIMEOUT_S} s.")
    layers = [layer["Arn"] for layer in config.get("Layers", [])]
    if not any(f":layer:{names.lambda_layer}:" in arn for arn in layers):
        problems.append("no layer")
        hints.append(f"Attach {names.lambda_layer} (step 4 publishes it, step 5 attaches it).")
    env = (config.get("Environment") or {}).get("Variables", {})
    if env.get("OUTPUT_BUCKET") != names.output_bucket:
        problems.append(f"OUTPUT_BUCKET={env.get('OUTPUT_BUCKET')}")
        hints.append(f"Predictions go to {names.output_bucket}, not the model bucket (the handout's mistake).")
    if problems:
        return CheckResult("function", title, False, ", ".join(problems) + ".", " ".join(hints))
    return CheckResult("function", title, True, f"{RUNTIME}, {config['MemorySize']} MB, {config['Timeout']} s, layer attached.")


def _check_trigger(ctx: LabContext) -> CheckResult:
    names = ctx.names
    title = f"Uploads to {names.input_bucket} trigger the function"
    config = lambda_.get_function(ctx.aws, names.lambda_function)
    if config is None:
        return CheckResult("trigger", title, False, "No function yet.", "Create the function first (step 5).")
    arn = config["FunctionArn"]
    for bucket in (names.output_bucket, names.model_bucket):
        if s3.bucket_exists(ctx.aws, bucket) and any(
                c.get("LambdaFunctionArn") == arn
                for c in s3.get_notification_configuration(ctx.aws, bucket).get("LambdaFunctionConfigurations", [])):
            return CheckResult("trigger", title, False, f"The trigger is on {bucket}.",
                               f"Put it on {names.input_bucket}: on the output bucket every result would trigger "
                               "the function again, forever.")
    if not s3.bucket_exists(ctx.aws, names.input_bucket):
        return CheckResult("trigger", title, False, f"No bucket {names.input_bucket}.", "Create it (step 1).")
    notifications = s3.get_notification_configuration(ctx.aws, names.input_bucket).get("LambdaFunctionConfigurations", [])
    if not any(c.get("LambdaFunctionArn") == arn and any(e.startswith("s3:ObjectCreated") for e in c.get("Events", []))
               for c in notifications):
        return CheckResult("trigger", title, False, f"{names.input_bucket} has no object-created notification for the function.",
                           "Add the S3 trigger (step 6).")
    if not lambda_.s3_may_invoke(lambda_.function_policy(ctx.aws, names.lambda_function), names.input_bucket):
        return CheckResult("trigger", title, False, "S3 is not allowed to invoke the function.",
                           "Add the permission for s3.amazonaws.com (step 6).")
    return CheckResult("trigger", title, True, "Object-created events on the input bucket invoke the function.")


def _check_predictions(ctx: LabContext) -> CheckResult:
    names = ctx.names
    title = "Predictions are in the output bucket"
    if s3.bucket_exists(ctx.aws, names.model_bucket):
        strays = [o.key for o in s3.list_objects(ctx.aws, names.model_bucket) if "predict" in o.key]
        if strays:
            return CheckResult("predictions", title, False, f"Found {strays[0]} in {names.model_bucket}.",
                               "The handout's handler writes to the model bucket: write to OUTPUT_BUCKET.")
    outputs = ([o for o in s3.list_objects(ctx.aws, names.output_bucket) if not o.key.startswith("errors/")]
               if s3.bucket_exists(ctx.aws, names.output_bucket) else [])
    if not outputs:
        return CheckResult("predictions", title, False, f"Nothing in {names.output_bucket} yet.",
                           f"Upload input_batch.csv to {names.input_bucket} (step 7) and wait a few seconds.")
    newest = max(outputs, key=lambda o: o.last_modified)
    return CheckResult("predictions", title, True, f"{len(outputs)} output file(s), newest {newest.key}.")


def _check_logs(ctx: LabContext) -> CheckResult:
    group = ctx.names.lambda_log_group
    title = "The run is in CloudWatch Logs"
    invocations = [i for i in logs.group_invocations(logs.recent_events(ctx.aws, group)) if i.request_id != "-"]
    if not invocations:
        return CheckResult("logs", title, False, f"No invocations logged in {group}.",
                           "The function has not run yet, or its role may not write logs (logs:* in the policy).")
    last = invocations[0]
    state = "failed" if last.failed else "succeeded"
    return CheckResult("logs", title, True, f"{len(invocations)} invocation(s); the latest {state}"
                       + (f" in {last.duration_ms:.0f} ms" if last.duration_ms else "") + ".")


def teardown(ctx: LabContext, on_progress: Progress = no_progress) -> list[StepResult]:
    """Remove the trigger, function, layer, role, policy, buckets (emptied first) and the log group."""
    names, aws, out = ctx.names, ctx.aws, []

    def done(step: str, changed: bool, what: str) -> None:
        summary = f"Deleted {what}." if changed else f"{what} was already gone."
        on_progress(summary)
        out.append(StepResult(step, changed, summary, {}))

    function = lambda_.get_function(aws, names.lambda_function)
    if function is not None and s3.bucket_exists(aws, names.input_bucket):
        done("trigger", s3.remove_lambda_notification(aws, names.input_bucket, function["FunctionArn"]),
             f"the trigger on {names.input_bucket}")
    done("function", lambda_.delete_function(aws, names.lambda_function), f"function {names.lambda_function}")
    done("layer", lambda_.delete_layer(aws, names.lambda_layer) > 0, f"layer {names.lambda_layer}")
    done("role", iam.delete_role(aws, names.lambda_role), f"role {names.lambda_role}")
    done("policy", iam.delete_policy(aws, iam.policy_arn(aws, names.lambda_policy)), f"policy {names.lambda_policy}")
    for bucket in (names.input_bucket, names.output_bucket, names.model_bucket):
        done(f"bucket:{bucket}", s3.delete_bucket(aws, bucket), f"bucket {bucket}")
    done("logs", logs.delete_log_group(aws, names.lambda_log_group), f"log group {names.lambda_log_group}")
    return out


EXERCISE = Exercise(
    number=3,
    title="S3-triggered Lambda",
    intro=INTRO,
    steps=(
        Step("buckets", "Create the three buckets",
             "`model-`, `input-` and `output-` buckets, every public access blocked, and the model copied into the "
             "model bucket.", _buckets, _buckets_code),
        Step("policy", "Create the policy",
             "Exactly what the function needs: write its logs, read `input-` and `model-`, write `output-`. The "
             "handout's policy names `input-bucket-…`/`output-bucket-…`, which are not the buckets you created: "
             "the ARNs here come from the same names the buckets use.", _policy, _policy_code),
        Step("role", "Create the role",
             "A role Lambda may assume (trust policy for `lambda.amazonaws.com`) with the policy attached. "
             "AWS Academy learner labs may not create roles: they use `LabRole`.", _role, _role_code),
        Step("layer", "Publish the layer",
             "The function's libraries (onnxruntime, numpy) come from a layer for python3.12 x86_64. Up to 50 MB "
             "zipped goes directly; the function and its layers must stay within 250 MB unzipped.",
             _layer, _layer_code),
        Step("function", "Create the function",
             f"{RUNTIME} (the handout's python3.7 is end of life), {MEMORY_MB} MB, {TIMEOUT_S} s, the layer, and the "
             "bucket names as environment variables rather than edited into the code. The handler loads the model "
             "once per container and writes only to the output bucket.", _function, _function_code),
        Step("trigger", "Add the S3 trigger",
             "S3 must be allowed to invoke the function (a resource policy for `s3.amazonaws.com`), and the input "
             "bucket must notify it on object-created events. Existing notifications on the bucket are kept.",
             _trigger, _trigger_code),
        Step("test", "Upload input_batch.csv and wait",
             "Uploading triggers the function; its predictions appear in the output bucket and its log in "
             "CloudWatch Logs.", _test, _test_code),
    ),
    checks=(Check("buckets", "Buckets", _check_buckets), Check("model", "Model", _check_model),
            Check("policy", "Policy", _check_policy), Check("role", "Role", _check_role),
            Check("function", "Function", _check_function), Check("trigger", "Trigger", _check_trigger),
            Check("predictions", "Predictions", _check_predictions), Check("logs", "Logs", _check_logs)),
    teardown=teardown,
)
