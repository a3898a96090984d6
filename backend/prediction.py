"""The one shape every deployment's answer is turned into, so targets can be compared."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .i18n import N_, _

if TYPE_CHECKING:
    import pandas as pd

POSITIVE_CLASS = ">50K"
NEGATIVE_CLASS = "<=50K"


@dataclass(frozen=True)
class Prediction:
    """One record's prediction: the label and the probability of income >50K."""

    label: str
    probability: float

    @classmethod
    def from_probability(cls, probability: float, threshold: float = 0.5) -> "Prediction":
        return cls(POSITIVE_CLASS if probability >= threshold else NEGATIVE_CLASS, float(probability))


# Every prediction table leads with these two, then the inputs: the answer is what a student looks for.
LEAD_COLUMNS = ("label", "probability")

# The headers users see of the columns tables are built with. The keys stay English (code, tests and
# downloaded CSVs use them); pages pass column_headers() as column_config. Inputs keep their names.
HEADERS = {
    "label": N_("label"), "probability": N_("probability"), "actual": N_("actual"), "target": N_("target"),
    "latency (ms)": N_("latency (ms)"), "rows": N_("rows"), "seconds": N_("seconds"), "match": N_("match"),
}
OTHER_TARGET_HEADERS = {" label": N_("{target} label"), " probability": N_("{target} probability")}


def column_headers(columns: Sequence[str]) -> dict[str, str]:
    """Map each known column of a prediction table to its header in the current language.

    Another target's columns ("Lambda (exercise 3) label") name the target in the current language too.
    """
    headers: dict[str, str] = {}
    for column in columns:
        if column in HEADERS:
            headers[column] = _(HEADERS[column])
            continue
        for suffix, template in OTHER_TARGET_HEADERS.items():
            if column.endswith(suffix) and column != suffix.strip():
                headers[column] = _(template).format(target=_(column[:-len(suffix)]))
                break
    return headers


def prediction_row(prediction: Prediction, record: Mapping[str, Any],
                   others: Mapping[str, Prediction] | None = None, **extra: Any) -> dict[str, Any]:
    """One table row: label and probability first, then other targets' answers and `extra`, then the inputs."""
    row: dict[str, Any] = {"label": prediction.label, "probability": round(prediction.probability, 6)}
    for name, other in (others or {}).items():
        row[f"{name} label"] = other.label
        row[f"{name} probability"] = round(other.probability, 6)
    row.update(extra)
    row.update({k: v for k, v in record.items() if k not in row})
    return row


def results_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a predictions table with `label` and `probability` as its first columns (the Lambda writes `prediction`)."""
    if "label" not in frame.columns and "prediction" in frame.columns:
        frame = frame.rename(columns={"prediction": "label"})
    lead = [c for c in LEAD_COLUMNS if c in frame.columns]
    return frame[lead + [c for c in frame.columns if c not in lead]]


def comparison_table(records: Sequence[Mapping[str, Any]],
                     answers: Sequence[tuple[str, Sequence[Prediction]]]) -> pd.DataFrame:
    """Records scored by several targets: the first target's label and probability, the others', then the inputs."""
    import pandas as pd

    (_first_name, first), others = answers[0], answers[1:]
    rows = [prediction_row(first[i], record, {name: predictions[i] for name, predictions in others})
            for i, record in enumerate(records)]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ScoredRun:
    """Records scored on some targets, remembered with what each target was when it answered.

    `results` are predict.PredictResult (each has `.target`); `answered_by` maps each target to its
    identity then (the function, the instance's address, the endpoint), as target_states reports it.
    """

    records: tuple[Mapping[str, Any], ...]
    results: tuple[Any, ...]
    answered_by: Mapping[str, str]
    name: str = ""
    truth: tuple[str, ...] | None = None  # the file's `income` column, if it had one


def still_true(run: ScoredRun, now: Mapping[str, str]) -> tuple[ScoredRun | None, list[str]]:
    """Return the run with only the results of targets that still exist as they answered, and the dropped targets.

    `now` maps each target available now to its identity. The run is None when no result is left.
    """
    alive = [r.target in now and now[r.target] == run.answered_by.get(r.target) for r in run.results]
    kept = tuple(r for r, ok in zip(run.results, alive) if ok)
    dropped = [r.target for r, ok in zip(run.results, alive) if not ok]
    if not kept:
        return None, dropped
    if not dropped:
        return run, []
    return ScoredRun(run.records, kept, {r.target: run.answered_by[r.target] for r in kept}, run.name, run.truth), dropped
