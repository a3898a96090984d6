"""Exercise 3: an S3-triggered Lambda that batch-scores a CSV with the ONNX model."""
from __future__ import annotations

from ...i18n import N_
from ...lab import Exercise
from . import checks, deploy, state, steps, teardown
from .batch import WAIT_FOR_OUTPUT_S, run_batch, wait_for_output
from .deploy import (HANDLER, HANDLER_FILES, LAB_ROLE, MEMORY_MB, MODEL_KEY, OPTIONS, RUNTIME, TIMEOUT_S,
                     allowed_resources, function_environment, handler_source, handler_zip, policy_document)
from .state import State, observe

INTRO = N_("""\
Every CSV uploaded to `input-<name>` triggers a Lambda function that scores it with the ONNX model
from `model-<name>` and writes the predictions to `output-<name>`. You create the three buckets,
a policy that allows exactly that, a role for the function, the layer with its libraries
(onnxruntime and numpy), the function, and the trigger — then upload a CSV and watch the result
and the function's log.""")

EXERCISE: Exercise[State] = Exercise(
    number=3, title=N_("S3-triggered Lambda"), intro=INTRO, observe=observe,
    steps=steps.STEPS, checks=checks.CHECKS, options=OPTIONS, teardown=teardown.plan)

__all__ = ["EXERCISE", "HANDLER", "HANDLER_FILES", "LAB_ROLE", "MEMORY_MB", "MODEL_KEY", "RUNTIME", "TIMEOUT_S",
           "WAIT_FOR_OUTPUT_S", "allowed_resources", "checks", "deploy", "function_environment", "handler_source",
           "handler_zip", "policy_document", "run_batch", "state", "steps", "teardown", "wait_for_output"]
