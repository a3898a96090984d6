"""Exercise 5: the MLflow model on a SageMaker endpoint, deployed with MLflow's deployment client."""
from __future__ import annotations

from ...i18n import N_
from ...lab import Exercise
from ...names import LabNames
from . import checks, deployment, state, steps, teardown
from .deployment import delete_deployment, endpoint_status, endpoint_summary, price_sentence
from .query import QueryResult, course_rows, predict, query
from .state import INSTANCE_TYPE, INSTANCE_TYPES, OPTIONS, SAGEMAKER_PRINCIPAL, State, model_dir, observe

INTRO = N_("""\
MLflow packages a model together with the server that scores it. Here you push MLflow's serving
image to ECR (once per account), give SageMaker a role to run it with, and deploy `mlflow_model`
as the endpoint `income-prediction-<name>` with MLflow's deployment client. Then you query the
endpoint and compare its answers with the local model's — and delete it: an endpoint bills by the
hour until you do.""")

EXERCISE: Exercise[State] = Exercise(
    number=5, title=N_("MLflow model on SageMaker"), intro=INTRO, observe=observe,
    steps=steps.STEPS, checks=checks.CHECKS, options=OPTIONS, teardown=teardown.plan,
    on_deleted=teardown.on_deleted)


def policy_name(names: LabNames) -> str:
    """The execution role's policy (kept for backend/monitor.py until it judges with EXERCISE's checks)."""
    return names.sagemaker_policy


__all__ = ["EXERCISE", "INSTANCE_TYPE", "INSTANCE_TYPES", "QueryResult", "SAGEMAKER_PRINCIPAL", "course_rows",
           "delete_deployment", "deployment", "endpoint_status", "endpoint_summary", "model_dir", "policy_name",
           "predict", "price_sentence", "query", "state"]
