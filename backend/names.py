"""The lab's naming rules: service name validation and every resource name derived from it."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from .i18n import N_, _

SVC_RULE = N_("3–40 characters: lowercase letters, digits and hyphens, starting and ending with a letter or digit")
_SVC_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")

TAG_COURSE = ("lab:course", "mlops-aws")
TAG_STUDENT = "lab:student"
TAG_EXERCISE = "lab:exercise"


class InvalidServiceName(ValueError):
    """The service name breaks the lab's rule; the message states the rule."""


def validate_svc(svc: str) -> str:
    """Return the service name if it follows the rule, else raise InvalidServiceName saying why."""
    if not isinstance(svc, str) or not _SVC_RE.match(svc) or "--" in svc:
        raise InvalidServiceName(_("Invalid service name {svc}: use {rule} (no double hyphen).")
                                 .format(svc=repr(svc), rule=_(SVC_RULE)))
    return svc


def propose_svc(prefix: str = "student") -> str:
    """Return a fresh service name with a short random suffix (bucket names are global on AWS)."""
    prefix = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:30] or "student"
    return validate_svc(f"{prefix}-{secrets.token_hex(3)}")


def lab_tags(svc: str, exercise: int) -> dict[str, str]:
    """Return the tags every lab resource carries: how instructors find it and teardown knows it."""
    return {TAG_COURSE[0]: TAG_COURSE[1], TAG_STUDENT: svc, TAG_EXERCISE: str(exercise)}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Return tags in the [{'Key':…, 'Value':…}] shape most AWS APIs take."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@dataclass(frozen=True)
class LabNames:
    """Every resource name of the lab for one student, derived in one place (docs/lab-guide.md)."""

    svc: str

    def __post_init__(self) -> None:
        validate_svc(self.svc)

    # exercise 2
    @property
    def data_bucket(self) -> str:
        return f"data-{self.svc}"

    # exercise 3
    @property
    def model_bucket(self) -> str:
        return f"model-{self.svc}"

    @property
    def input_bucket(self) -> str:
        return f"input-{self.svc}"

    @property
    def output_bucket(self) -> str:
        return f"output-{self.svc}"

    @property
    def lambda_policy(self) -> str:
        return f"batch-lambda-{self.svc}-policy"

    @property
    def lambda_role(self) -> str:
        return f"batch-lambda-{self.svc}-role"

    @property
    def lambda_function(self) -> str:
        return f"batch-lambda-{self.svc}"

    @property
    def lambda_layer(self) -> str:
        return f"batch-runtime-{self.svc}"

    @property
    def lambda_log_group(self) -> str:
        return f"/aws/lambda/{self.lambda_function}"

    @property
    def lambda_layer_description(self) -> str:
        """Layers cannot carry tags: the lab's tags ride in the description, where the deleter reads them."""
        return f"onnxruntime + numpy for {self.lambda_function} " + tags_text(lab_tags(self.svc, 3))

    @property
    def handout_input_bucket(self) -> str:
        """The handout's policy names this bucket, which is not the lab's (input_bucket)."""
        return f"input-bucket-{self.svc}"

    @property
    def handout_output_bucket(self) -> str:
        """The handout's policy names this bucket, which is not the lab's (output_bucket)."""
        return f"output-bucket-{self.svc}"

    # exercise 4
    @property
    def key_pair(self) -> str:
        return f"ec2-{self.svc}-key"

    @property
    def security_group(self) -> str:
        return f"ec2-{self.svc}-sg"

    @property
    def instance_name(self) -> str:
        return f"ec2-{self.svc}"

    @property
    def ec2_bundle_bucket(self) -> str:
        """The private bucket exercise 4's instance fetches its app bundle from."""
        return f"ec2-{self.svc}-bundle"

    # exercise 5
    @property
    def endpoint(self) -> str:
        return f"income-prediction-{self.svc}"

    @property
    def sagemaker_role(self) -> str:
        return f"sagemaker-{self.svc}-role"

    @property
    def sagemaker_policy(self) -> str:
        return f"sagemaker-{self.svc}-policy"

    @property
    def sagemaker_bucket(self) -> str:
        """MLflow uploads the model artifact here ("sagemaker" in the name: learner labs' LabRole may read it)."""
        return f"sagemaker-{self.svc}"

    @property
    def serving_repository(self) -> str:
        """MLflow's serving image (mlflow.sagemaker.DEFAULT_IMAGE_NAME): one per account, shared by the class."""
        return "mlflow-pyfunc"

    @property
    def endpoint_config_prefix(self) -> str:
        """MLflow names the endpoint's configs this prefix + 20 hex characters."""
        return _mlflow_prefix(self.endpoint, "-config-")

    @property
    def endpoint_model_prefix(self) -> str:
        """MLflow names the endpoint's models this prefix + 20 hex characters."""
        return _mlflow_prefix(self.endpoint, "-model-")


def tags_text(tags: dict[str, str]) -> str:
    """Return tags as text, for resources that cannot carry tags (a Lambda layer's description)."""
    return "[" + " ".join(f"{k}={v}" for k, v in tags.items()) + "]"


def tags_from_text(text: str | None) -> dict[str, str]:
    """Return the tags tags_text() wrote into a description ({} when there are none)."""
    start, end = (text or "").rfind("["), (text or "").rfind("]")
    if start < 0 or end < start:
        return {}
    pairs = (item.partition("=") for item in text[start + 1:end].split())
    return {k: v for k, sep, v in pairs if sep and k.startswith("lab:")}


MLFLOW_ID_LENGTH = 20  # mlflow.sagemaker._get_unique_name: uuid4().hex[:20]


def _mlflow_prefix(endpoint: str, infix: str) -> str:
    # mlflow.sagemaker._get_unique_name: SageMaker names stop at 63 characters, so MLflow
    # middle-truncates the endpoint name (keeping both ends, joined by "---") before the suffix.
    room = 63 - len(infix) - MLFLOW_ID_LENGTH
    if len(endpoint) > room:
        head = (room - 3) // 2
        endpoint = f"{endpoint[:head]}---{endpoint[-(room - 3 - head):]}"
    return endpoint + infix
