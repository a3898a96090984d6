"""SageMaker: endpoints, their configs and models, waiting, invoking; and MLflow's deploy client pointed at the target.

SageMaker says "not found" as a ValidationException ("Could not find endpoint …"), not with a
not-found code: `_missing()` reads both. MLflow's deployment client builds its own boto3 clients
from the process environment; `mlflow_environment()` points them at the same target as the Aws
facade for the duration of one call.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

from .aws import Aws
from . import i18n
from .errors import LabError, error_code, is_not_found
from .i18n import _, ngettext
from .prediction import Prediction

log = logging.getLogger(__name__)

# States an endpoint passes through on its own; wait_for_endpoint polls while it is in one.
TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# Creating an endpoint on AWS takes 5–10 minutes (instance, image pull, model load); 20 is
# MLflow's own default budget (timeout_seconds=1200).
DEFAULT_WAIT_S = 1200.0
POLL_S = 10.0  # DescribeEndpoint is cheap, but a status changes at most every few seconds


class ModelError(LabError):
    """The endpoint's container answered with an error: `status` is its HTTP status (AWS's OriginalStatusCode)."""

    def __init__(self, message: str, status: int | None, original: str) -> None:
        super().__init__(message, "ModelError")
        self.status = status
        self.original = original


def _missing(err: ClientError) -> bool:
    message = str(err.response.get("Error", {}).get("Message", ""))
    return is_not_found(err) or (error_code(err) in ("ValidationException", "ValidationError")
                                 and ("Could not find" in message or "not found" in message))


def _describe(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    try:
        result = call(**kwargs)
    except ClientError as err:
        if _missing(err):
            return None
        raise
    result.pop("ResponseMetadata", None)
    return result


# ---- describe -----------------------------------------------------------------------------------

def get_endpoint(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return DescribeEndpoint's answer, or None if there is no such endpoint."""
    return _describe(aws.client("sagemaker").describe_endpoint, EndpointName=name)


def endpoint_exists(aws: Aws, name: str) -> bool:
    return get_endpoint(aws, name) is not None


def get_endpoint_config(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return DescribeEndpointConfig's answer, or None."""
    return _describe(aws.client("sagemaker").describe_endpoint_config, EndpointConfigName=name)


def get_model(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return DescribeModel's answer, or None."""
    return _describe(aws.client("sagemaker").describe_model, ModelName=name)


def get_tags(aws: Aws, arn: str) -> dict[str, str]:
    """Return a SageMaker resource's tags as a dict ({} if it is gone)."""
    try:
        tags = aws.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", [])
    except ClientError as err:
        if _missing(err):
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tags}


def config_models(config: dict[str, Any] | None) -> list[str]:
    """Return the model names of an endpoint config's production variants."""
    return [v["ModelName"] for v in (config or {}).get("ProductionVariants", []) if v.get("ModelName")]


def endpoint_models(aws: Aws, endpoint: str) -> list[dict[str, Any]]:
    """Return the models (DescribeModel) behind an endpoint's current config ([] if there is no endpoint)."""
    description = get_endpoint(aws, endpoint)
    if description is None:
        return []
    config = get_endpoint_config(aws, description["EndpointConfigName"])
    return [m for m in (get_model(aws, name) for name in config_models(config)) if m is not None]


def list_endpoint_configs(aws: Aws, name_contains: str) -> list[dict[str, Any]]:
    """Return the endpoint configs whose name contains the text (paginated)."""
    paginator = aws.client("sagemaker").get_paginator("list_endpoint_configs")
    return [c for page in paginator.paginate(NameContains=name_contains) for c in page["EndpointConfigs"]]


def list_models(aws: Aws, name_contains: str) -> list[dict[str, Any]]:
    """Return the models whose name contains the text (paginated)."""
    paginator = aws.client("sagemaker").get_paginator("list_models")
    return [m for page in paginator.paginate(NameContains=name_contains) for m in page["Models"]]


# ---- wait ---------------------------------------------------------------------------------------

def wait_for_endpoint(aws: Aws, name: str, on_progress: Callable[[str], None] = lambda _: None,
                      timeout: float = DEFAULT_WAIT_S, poll: float = POLL_S,
                      sleep: Callable[[float], None] = time.sleep, previous_config: str | None = None
                      ) -> dict[str, Any]:
    """Poll DescribeEndpoint until the endpoint settles; return its description once InService.

    Reports every status change. Raises LabError with SageMaker's FailureReason on Failed, when an
    update rolled back (InService again on `previous_config`), or after `timeout` seconds.
    (boto3's endpoint_in_service waiter gives neither progress nor the reason.)
    """
    waited, last = 0.0, None
    while True:
        description = get_endpoint(aws, name)
        if description is None:
            raise LabError(_("Endpoint {name} does not exist (any more).").format(name=name), "EndpointNotFound")
        status = description["EndpointStatus"]
        if status != last:
            on_progress(_("Endpoint {name}: {status} ({seconds} s)").format(name=name, status=status,
                                                                            seconds=i18n.number(waited, 0)))
            last = status
        reason = description.get("FailureReason") or _("no reason given")
        if status == "Failed":
            raise LabError(_("Endpoint {name} failed: {reason}").format(name=name, reason=reason), "EndpointFailed")
        if status == "InService":
            if previous_config and description["EndpointConfigName"] == previous_config:
                raise LabError(_("The update of {name} failed and was rolled back to the previous model: "
                                 "{reason}").format(name=name, reason=reason), "UpdateRolledBack")
            return description
        if status not in TRANSITIONAL:
            raise LabError(_("Endpoint {name} is {status}.").format(name=name, status=status), "EndpointNotInService")
        if waited >= timeout:
            raise LabError(_("Endpoint {name} is still {status} after {seconds} s: check again later (it keeps going "
                             "without us).").format(name=name, status=status, seconds=i18n.number(timeout, 0)),
                           "EndpointTimeout")
        sleep(poll)
        waited += poll


def wait_for_endpoint_deleted(aws: Aws, name: str, timeout: float = 600.0, poll: float = 5.0,
                              sleep: Callable[[float], None] = time.sleep) -> None:
    """Poll until the endpoint is gone; raise LabError after `timeout` seconds."""
    waited = 0.0
    while get_endpoint(aws, name) is not None:
        if waited >= timeout:
            raise LabError(_("Endpoint {name} is still being deleted after {seconds} s.").format(
                name=name, seconds=i18n.number(timeout, 0)), "EndpointTimeout")
        sleep(poll)
        waited += poll


# ---- delete -------------------------------------------------------------------------------------

def delete_endpoint(aws: Aws, name: str) -> bool:
    """Delete an endpoint (billing stops); False if there was none."""
    try:
        aws.client("sagemaker").delete_endpoint(EndpointName=name)
    except ClientError as err:
        if _missing(err):
            return False
        raise
    return True


def delete_endpoint_config(aws: Aws, name: str) -> bool:
    """Delete an endpoint config; False if there was none."""
    try:
        aws.client("sagemaker").delete_endpoint_config(EndpointConfigName=name)
    except ClientError as err:
        if _missing(err):
            return False
        raise
    return True


def split_s3_url(url: str) -> tuple[str, str]:
    """Return (bucket, key) of an s3:// URL."""
    parsed = urllib.parse.urlparse(url)
    return parsed.netloc, parsed.path.lstrip("/")


def delete_model(aws: Aws, name: str, delete_artifact: bool = True) -> bool:
    """Delete a model and (by default) the model.tar.gz its ModelDataUrl names; False if there was none."""
    model = get_model(aws, name)
    if model is None:
        return False
    url = (model.get("PrimaryContainer") or {}).get("ModelDataUrl")
    if delete_artifact and url:
        bucket, key = split_s3_url(url)
        try:
            aws.client("s3").delete_object(Bucket=bucket, Key=key)
        except ClientError as err:
            if not is_not_found(err):
                raise
    try:
        aws.client("sagemaker").delete_model(ModelName=name)
    except ClientError as err:
        if _missing(err):
            return False
        raise
    return True


# ---- invoke -------------------------------------------------------------------------------------

def dataframe_split(records: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return MLflow's scoring body {"dataframe_split": {"columns": …, "data": …}} for records."""
    return {"dataframe_split": {"columns": list(columns), "data": [[r[c] for c in columns] for r in records]}}


def parse_predictions(body: bytes | str, expected: int | None = None) -> list[Prediction]:
    """Return Predictions from MLflow's {"predictions": [[p(<=50K), p(>50K)], …]}; LabError if it is not that."""
    try:
        answer = json.loads(body)
        rows = answer["predictions"] if isinstance(answer, dict) else answer
        probabilities = [float(row[1]) if isinstance(row, (list, tuple)) else float(row) for row in rows]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        # JSON goes in as a value: braces in a catalog entry read as placeholders.
        raise LabError(_("The endpoint's answer is not MLflow's {expected}: {text}").format(
            expected='{"predictions": …}', text=text[:300]), "UnexpectedAnswer") from exc
    if expected is not None and len(probabilities) != expected:
        raise LabError(ngettext("The endpoint returned {n} predictions for {expected} record.",
                                "The endpoint returned {n} predictions for {expected} records.", expected).format(
                                    n=len(probabilities), expected=expected), "RowMismatch")
    return [Prediction.from_probability(p) for p in probabilities]


def invoke_endpoint(aws: Aws, name: str, body: bytes, content_type: str = "application/json",
                    accept: str = "application/json") -> bytes:
    """Return the answer of InvokeEndpoint; raise ModelError when the container answers with an error."""
    runtime = aws.client("sagemaker-runtime")
    try:
        response = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type, Accept=accept)
    except ClientError as err:
        if error_code(err) == "ModelError":
            status = err.response.get("OriginalStatusCode")
            original = str(err.response.get("OriginalMessage") or err.response["Error"].get("Message", ""))
            raise ModelError(_model_error_sentence(name, status, original), status, original) from err
        if _missing(err):
            raise LabError(_("Endpoint {name} does not exist: deploy it first.").format(name=name),
                           "EndpointNotFound") from err
        raise
    return response["Body"].read()


def _model_error_sentence(name: str, status: int | None, original: str) -> str:
    sentence = _("The model behind {name} rejected the request ({status}): {original}").format(
        name=name, status=status, original=original[:500])
    if "format" in original and status == 415:
        sentence += " — " + _("`format=pandas-split` content types were removed in MLflow 2: send ContentType "
                              "application/json with a body {body}.").format(
                                  body='{"dataframe_split": {"columns": …, "data": …}}')
    return sentence


def invoke(aws: Aws, name: str, records: list[dict[str, Any]], columns: list[str] | tuple[str, ...]
           ) -> list[Prediction]:
    """Return one Prediction per record from the endpoint (dataframe_split, application/json)."""
    body = json.dumps(dataframe_split(records, columns)).encode()
    return parse_predictions(invoke_endpoint(aws, name, body), expected=len(records))


# ---- MLflow's deploy client -----------------------------------------------------------------------

# MLflow's SageMaker client (mlflow/sagemaker/__init__.py) takes no boto3 session: it calls
# boto3.client(...) and boto3.Session(...) itself, so they read the process environment and
# boto3's cached default session. One lock, because os.environ is process-wide and the dashboard
# serves every browser session from threads of one process.
_env_lock = threading.Lock()
_CLEARED = ("AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@contextlib.contextmanager
def mlflow_environment(aws: Aws) -> Iterator[None]:
    """Within the block, boto3 clients built from the environment (MLflow's) reach the same target as `aws`.

    Sandbox: the endpoint URL, fake credentials and region of `aws.client_env()`; any other endpoint
    setting (AWS_ENDPOINT_URL_<SERVICE>, a profile) is removed. Real AWS: configured endpoint URLs
    are ignored (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, as the facade's clients do), so a shell that
    points at the sandbox cannot leak into a real deployment; a chosen profile replaces credentials
    from the environment, as in the facade's session. Everything is restored on exit, and boto3's
    default session is fresh inside and the caller's again after.
    """
    import boto3

    with _env_lock:
        saved = dict(os.environ)
        saved_session = boto3.DEFAULT_SESSION
        try:
            target_env = aws.client_env()
            if aws.target.is_sandbox:
                for var in [*_CLEARED, *(v for v in os.environ if v.startswith("AWS_ENDPOINT_URL_"))]:
                    os.environ.pop(var, None)
            else:
                os.environ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
                if "AWS_PROFILE" in target_env:
                    for var in _CREDENTIAL_VARS:
                        os.environ.pop(var, None)
            os.environ.update(target_env)
            boto3.DEFAULT_SESSION = None
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            boto3.DEFAULT_SESSION = saved_session


@dataclass(frozen=True)
class DeploySpec:
    """What MLflow's create/update_deployment gets (config keys as MLflow reads them)."""

    name: str
    model_uri: str
    execution_role_arn: str
    bucket: str
    image_url: str
    instance_type: str
    instance_count: int
    tags: dict[str, str]

    def config(self, region: str) -> dict[str, Any]:
        """Return the deployment config. Note `bucket`: MLflow's docs say `bucket_name`, which it silently ignores."""
        return {"execution_role_arn": self.execution_role_arn, "bucket": self.bucket, "image_url": self.image_url,
                "region_name": region, "instance_type": self.instance_type, "instance_count": self.instance_count,
                # We poll DescribeEndpoint ourselves (with progress); MLflow refuses
                # synchronous=False unless it may leave the replaced resources (archive=True),
                # which the caller then deletes.
                "synchronous": False, "archive": True, "tags": dict(self.tags)}


def mlflow_deploy(aws: Aws, spec: DeploySpec, update: bool = False) -> dict[str, Any]:
    """Start creating (or, with update=True, replacing the model of) an endpoint through MLflow; return MLflow's answer.

    Does not wait: follow with wait_for_endpoint.
    """
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    with mlflow_environment(aws):
        client = get_deploy_client(f"sagemaker:/{aws.region}")
        try:
            if update:
                return client.update_deployment(spec.name, spec.model_uri, flavor="python_function",
                                                config={**spec.config(aws.region), "mode": "replace"})
            return client.create_deployment(spec.name, spec.model_uri, flavor="python_function",
                                            config=spec.config(aws.region))
        except MlflowException as exc:
            raise LabError(_("MLflow could not deploy {name}: {error}").format(name=spec.name, error=exc.message),
                           "MlflowDeployFailed") from exc


def add_tags(aws: Aws, arn: str, tags: dict[str, str]) -> None:
    """Add tags to an endpoint, endpoint config or model, keeping the ones it has."""
    aws.client("sagemaker").add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
