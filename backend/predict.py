"""Send the same records to any deployment of the model and get comparable predictions back."""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import ec2
from .artifacts import FEATURES
from .errors import LabError
from .i18n import N_, _, number
from .lab import LabContext, Progress, no_progress
from .local_model import local_model, validate_records
from .prediction import Prediction

TARGETS = ("local", "lambda", "ec2", "sagemaker")
# Shown with _().
TARGET_TITLES = {"local": N_("Local model (onnxruntime)"), "lambda": N_("Lambda (exercise 3)"),
                 "ec2": N_("EC2 API (exercise 4)"), "sagemaker": N_("SageMaker endpoint (exercise 5)")}


@dataclass(frozen=True)
class PredictResult:
    target: str
    predictions: list[Prediction]
    seconds: float
    detail: str = ""


def records_to_csv(records: list[dict[str, Any]]) -> bytes:
    """Return records as a CSV with the 12 feature columns (missing values as empty fields)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FEATURES)
    for record in records:
        writer.writerow(["" if record[f] is None else record[f] for f in FEATURES])
    return buffer.getvalue().encode()


def _local(ctx: LabContext, records: list[dict[str, Any]], on_progress: Progress) -> tuple[list[Prediction], str]:
    model = local_model()
    return model.predict(records), _("model {version}").format(version=model.version)


def _lambda(ctx: LabContext, records: list[dict[str, Any]], on_progress: Progress) -> tuple[list[Prediction], str]:
    from .exercises.ex3_lambda import run_batch

    key = f"playground/records-{int(time.time() * 1000)}.csv"
    result = run_batch(ctx, records_to_csv(records), key, on_progress)
    where = f"s3://{result['bucket']}/{result['key']}"
    if result["status"] != "ok":
        raise LabError(_("The Lambda rejected the input ({where}): {answer}")
                       .format(where=where, answer=result["body"][:300].decode(errors="replace")), "FunctionFailed")
    rows = list(csv.DictReader(io.StringIO(result["body"].decode())))
    if len(rows) != len(records):
        raise LabError(_("The Lambda returned {rows} rows for {records} records ({where}).")
                       .format(rows=number(len(rows)), records=number(len(records)), where=where), "RowMismatch")
    return [Prediction(r["prediction"], float(r["probability"])) for r in rows], where


def _ec2(ctx: LabContext, records: list[dict[str, Any]], on_progress: Progress) -> tuple[list[Prediction], str]:
    from .exercises import ex4_ec2

    return ex4_ec2.predict(ctx, records), ex4_ec2.instance_endpoint(ctx) or ""


def _sagemaker(ctx: LabContext, records: list[dict[str, Any]], on_progress: Progress) -> tuple[list[Prediction], str]:
    from .exercises import ex5_sagemaker

    return ex5_sagemaker.predict(ctx, records), ctx.names.endpoint


_DISPATCH: dict[str, Callable[[LabContext, list[dict[str, Any]], Progress], tuple[list[Prediction], str]]] = {
    "local": _local, "lambda": _lambda, "ec2": _ec2, "sagemaker": _sagemaker}


def predict(ctx: LabContext, target: str, records: Any, on_progress: Progress = no_progress) -> PredictResult:
    """Validate records and score them on one target; return the predictions and the round-trip time."""
    if target not in _DISPATCH:
        raise LabError(_("Unknown target {target}: choose one of {targets}.")
                       .format(target=repr(target), targets=", ".join(TARGETS)), "UnknownTarget")
    clean = validate_records(records)
    start = time.perf_counter()
    try:
        predictions, detail = _DISPATCH[target](ctx, clean, on_progress)
    except ImportError as exc:
        raise LabError(_("The {target} target is not available in this version ({error}).")
                       .format(target=target, error=exc), "NotAvailable") from exc
    return PredictResult(target, predictions, time.perf_counter() - start, detail)


@dataclass(frozen=True)
class TargetState:
    target: str
    available: bool
    reason: str  # what is there, or what to do to make it available (in the current language)
    identity: str = ""  # what answers, the same in every language: a run is kept only while it still answers
    changing: bool = False  # an instance starting, an endpoint being created: worth looking again soon


EC2_CHANGING = ("pending", "stopping")
ENDPOINT_CHANGING = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def target_states(ctx: LabContext) -> list[TargetState]:
    """Return which targets can answer now, and for the others which exercise deploys them."""
    from . import lambda_
    from .errors import explain

    states = []
    for target in TARGETS:
        try:
            states.append(_state(ctx, target, lambda_))
        except Exception as exc:  # one broken target must not hide the others
            states.append(TargetState(target, False, explain(exc, ctx.aws.target.endpoint_url).message))
    return states


def _state(ctx: LabContext, target: str, lambda_) -> TargetState:
    if target == "local":
        version = local_model().version
        return TargetState(target, True, _("model {version}").format(version=version), f"model {version}")
    if target == "lambda":
        config = lambda_.get_function(ctx.aws, ctx.names.lambda_function)
        return (TargetState(target, True, ctx.names.lambda_function, ctx.names.lambda_function) if config
                else TargetState(target, False, _("Deploy it in exercise 3.")))
    try:
        if target == "ec2":
            from .exercises import ex4_ec2
            url = ex4_ec2.instance_endpoint(ctx)
            if url:
                return TargetState(target, True, url, url)
            instance = ex4_ec2.lab_instance(ctx)
            if instance is not None and instance.state in EC2_CHANGING:
                return TargetState(target, False, _("The instance is {state}: wait a moment.").format(
                    state=ec2.state_word(instance.state)), changing=True)
            return TargetState(target, False, _("Deploy it in exercise 4."))
        from .exercises import ex5_sagemaker
        status = ex5_sagemaker.endpoint_status(ctx)
        if status == "InService":
            return TargetState(target, True, ctx.names.endpoint, ctx.names.endpoint)
        if status in ENDPOINT_CHANGING:
            return TargetState(target, False, _("Endpoint {status}: wait a moment.").format(status=status),
                               changing=True)
        return TargetState(target, False, _("Endpoint {status}: deploy it in exercise 5.")
                           .format(status=status or _("not deployed")))
    except ImportError:
        return TargetState(target, False, _("Not available in this version yet."))


def compare(results: list[PredictResult], tolerance: float = 1e-4) -> list[int]:
    """Return the indexes of records on which the targets disagree (label, or probability beyond tolerance)."""
    if len(results) < 2:
        return []
    reference = results[0].predictions
    mismatched = []
    for i, ref in enumerate(reference):
        for other in results[1:]:
            p = other.predictions[i]
            if p.label != ref.label or abs(p.probability - ref.probability) > tolerance:
                mismatched.append(i)
                break
    return mismatched
