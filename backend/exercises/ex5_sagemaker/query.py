"""Asking the endpoint: course rows in, the endpoint's and the local model's predictions out, side by side."""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from typing import Any

from ... import s3, sagemaker
from ...artifacts import FEATURES, NUMERIC_FEATURES
from ...config import COURSE_BUCKET
from ...lab import LabContext
from ...prediction import Prediction, prediction_row
from .state import ROWS_KEY, TOLERANCE


@dataclass(frozen=True)
class QueryResult:
    """The endpoint's and the local model's predictions for the same records."""

    records: list[dict[str, Any]]
    endpoint: list[Prediction]
    local: list[Prediction]
    seconds: float
    mismatches: list[int] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """Return one flat row per record: the endpoint's label and probability first, the local model's,
        whether they agree, then the features."""
        return [prediction_row(remote, record, {"local": local}, match=i not in self.mismatches)
                for i, (record, remote, local) in enumerate(zip(self.records, self.endpoint, self.local))]


def course_rows(ctx: LabContext, limit: int | None = None) -> list[dict[str, Any]]:
    """Return rows of the course's adult_batch.csv (the 12 features, typed, plus `income`)."""
    text = s3.read_object(ctx.aws, COURSE_BUCKET, ROWS_KEY).decode("utf-8-sig")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        record: dict[str, Any] = {f: row.get(f, "") for f in FEATURES}
        for f in NUMERIC_FEATURES:
            record[f] = int(float(record[f])) if str(record[f]).strip() else None
        record["income"] = row.get("income", "")
        rows.append(record)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _features(record: dict[str, Any]) -> dict[str, Any]:
    return {f: record[f] for f in FEATURES}


def predict(ctx: LabContext, records: list[dict[str, Any]]) -> list[Prediction]:
    """Return the endpoint's Prediction for each record (the 12 features)."""
    return sagemaker.invoke(ctx.aws, ctx.names.endpoint, [_features(r) for r in records], FEATURES)


def query(ctx: LabContext, records: list[dict[str, Any]], tolerance: float = TOLERANCE) -> QueryResult:
    """Score records on the endpoint and with the local model; return both and where they disagree."""
    from ...local_model import local_model, validate_records

    records = [_features(r) for r in records]
    start = time.perf_counter()
    remote = predict(ctx, records)
    seconds = time.perf_counter() - start
    local = local_model().predict(validate_records(records))
    mismatches = [i for i, (a, b) in enumerate(zip(remote, local))
                  if a.label != b.label or abs(a.probability - b.probability) > tolerance]
    return QueryResult(records, remote, local, seconds, mismatches)
