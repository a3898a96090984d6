"""The course model run locally with onnxruntime: the reference every deployment is compared with.

Also turns user input (JSON records, CSV bytes) into validated records, with errors that say
where (record or row, and field).
"""
from __future__ import annotations

import csv
import io
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from .artifacts import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, load_onnx_metadata, onnx_feeds
from .config import COURSE_DIR
from .errors import LabError
from .i18n import _, number
from .prediction import Prediction

MODEL_PATH = COURSE_DIR / "model.onnx"
MAX_RECORDS = 100_000


class BadInput(LabError):
    """Input that cannot be scored: the message names the record/row and the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "BadInput")


def _number(value: Any, where: str, field: str) -> int | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None  # missing: the model fills it with the training median
    if isinstance(value, bool):
        raise BadInput(_not_whole(where, field, value))
    try:
        whole = float(value)
    except (TypeError, ValueError):
        raise BadInput(_not_whole(where, field, value)) from None
    if not whole.is_integer():
        raise BadInput(_not_whole(where, field, value))
    return int(whole)


def _not_whole(where: str, field: str, value: Any) -> str:
    return _("{where}, field {field}: expected a whole number, got {value}.").format(
        where=where, field=repr(field), value=repr(value))


def validate_records(records: Any, source: str | None = None) -> list[dict[str, Any]]:
    """Return records with the 12 features checked and typed; raise BadInput naming the record and field."""
    source = source or _("input")
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not records:
        raise BadInput(_("{source}: expected a record (a JSON object) or a non-empty list of them.").format(source=source))
    if len(records) > MAX_RECORDS:
        raise BadInput(_("{source}: {n} records; at most {max} at a time.")
                       .format(source=source, n=number(len(records)), max=number(MAX_RECORDS)))
    clean = []
    for i, record in enumerate(records, 1):
        where = _("{source} record {i}").format(source=source, i=i) if len(records) > 1 else source
        if not isinstance(record, dict):
            raise BadInput(_("{where}: expected a JSON object with the 12 features, got {type}.")
                           .format(where=where, type=type(record).__name__))
        missing = [f for f in FEATURES if f not in record]
        if missing:
            raise BadInput(_("{where}: missing field(s) {fields}.").format(where=where, fields=", ".join(missing)))
        row: dict[str, Any] = {}
        for field in NUMERIC_FEATURES:
            row[field] = _number(record[field], where, field)
        for field in CATEGORICAL_FEATURES:
            value = record[field]
            if value is not None and not isinstance(value, str):
                raise BadInput(_("{where}, field {field}: expected text, got {value}.")
                               .format(where=where, field=repr(field), value=repr(value)))
            row[field] = (value or "").strip()
        clean.append({f: row[f] for f in FEATURES})
    return clean


def records_from_csv(data: bytes, name: str = "CSV") -> list[dict[str, Any]]:
    """Return the records of a CSV with the 12 feature columns (others ignored); BadInput names file, row, column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(_("{name}: not UTF-8 text (byte {byte}).").format(name=name, byte=exc.start)) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise BadInput(_("{name}: the file is empty.").format(name=name))
    columns = [h.strip() for h in header]
    missing = [f for f in FEATURES if f not in columns]
    if missing:
        raise BadInput(_("{name}, line 1 (header): missing column(s) {columns}.")
                       .format(name=name, columns=", ".join(missing)))
    index = {f: columns.index(f) for f in FEATURES}
    records = []
    for line, row in enumerate(reader, 2):
        if not row:
            continue
        if len(row) != len(columns):
            raise BadInput(_("{name}, line {line}: {fields} fields, the header has {columns}.")
                           .format(name=name, line=line, fields=len(row), columns=len(columns)))
        record = {f: row[index[f]] for f in FEATURES}
        records.extend(validate_records([record], _("{name}, line {line}").format(name=name, line=line)))
    if not records:
        raise BadInput(_("{name}: a header but no rows.").format(name=name))
    return records


class LocalModel:
    """model.onnx in an onnxruntime session, loaded once and shared (run() is thread-safe)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        if not Path(path).exists():
            raise LabError(_("{path} is missing: run `python -m backend course build`.").format(path=path),
                           "MissingModel")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.metadata = load_onnx_metadata(path)
        self.version = self.metadata.get("model_version", "")

    def predict(self, records: list[dict[str, Any]]) -> list[Prediction]:
        """Return one Prediction per (validated) record."""
        import pandas as pd

        frame = pd.DataFrame(records, columns=list(FEATURES))
        labels, probabilities = self.session.run(["label", "probabilities"],
                                                 onnx_feeds(frame, self.metadata["numeric_fill"]))
        return [Prediction(str(label), float(p[1])) for label, p in zip(labels.ravel(), probabilities)]


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load(path: str) -> LocalModel:
    return LocalModel(Path(path))


def local_model(path: Path = MODEL_PATH) -> LocalModel:
    """Return the shared LocalModel for a model file."""
    with _lock:
        return _load(str(path))


def feature_choices(*extra_models: Path) -> dict[str, list[str]]:
    """Return each categorical feature's known categories from a model's metadata (the course model first).

    Always includes the sample record's value, so a form can start from it even without a model.
    """
    from .artifacts import SAMPLE_RECORD

    for path in (MODEL_PATH, *extra_models):
        if not Path(path).is_file():
            continue
        try:
            categories = load_onnx_metadata(path).get("categories") or {}
        except Exception:  # not a model (a stand-in file): try the next one
            continue
        return {f: sorted({*map(str, categories.get(f, [])), str(SAMPLE_RECORD[f])} - {""})
                for f in CATEGORICAL_FEATURES}
    return {f: [str(SAMPLE_RECORD[f])] for f in CATEGORICAL_FEATURES}
