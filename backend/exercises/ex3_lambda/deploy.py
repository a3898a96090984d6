"""What exercise 3 deploys: its constants and options, the policy, the function's environment, zip and spec.

The steps deploy these, their plans compare the State with them, the snippets show them.
"""
from __future__ import annotations

from typing import Any

from ... import iam, lambda_
from ...config import PROJECT_ROOT
from ...errors import LabError
from ...i18n import N_, _
from ...lab import LabContext, Option
from ...names import LabNames, lab_tags

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
    "use_lab_role", N_("Use LabRole (AWS Academy learner labs cannot create roles)"), False,
    N_("The function runs with the learner lab's existing LabRole: no role or policy of your own is created."))
INCLUDE_INPUT = Option(
    "include_input", N_("Output holds the input columns too"), True,
    N_("The course's optional step 7: each output row repeats the input's columns beside its prediction."))
TIMESTAMP = Option(
    "timestamp", N_("Timestamped output names (one file per upload)"), True,
    N_("On: <input>_predictions_<UTC time>.csv, one file per upload; off: every upload overwrites predictions.csv."))
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


def function_spec(ctx: LabContext) -> lambda_.FunctionSpec:
    """Return the function the step deploys (raises LabError naming the step to run first)."""
    names = ctx.names
    role = iam.get_role(ctx.aws, role_name(ctx))
    if role is None:
        raise LabError(_("Role {name} does not exist yet: run the role step first.").format(name=role_name(ctx)),
                       "MissingRole")
    layer = lambda_.latest_layer_version(ctx.aws, names.lambda_layer)
    if layer is None:
        raise LabError(_("Layer {name} does not exist yet: run the layer step first.").format(name=names.lambda_layer),
                       "MissingLayer")
    return lambda_.FunctionSpec(
        name=names.lambda_function, role_arn=role["Arn"], zip_bytes=handler_zip(), handler=HANDLER,
        runtime=RUNTIME, memory_mb=MEMORY_MB, timeout_s=TIMEOUT_S, environment=function_environment(ctx),
        layers=(layer["LayerVersionArn"],), tags=lab_tags(ctx.svc, NUMBER),
        description=f"Batch predictions for {ctx.svc}")
