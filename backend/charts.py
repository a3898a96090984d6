"""Plotly figures of a predictions table (no Streamlit: pages and notebooks both use them)."""
from __future__ import annotations

import io
import math

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from . import i18n
from .i18n import N_, _
from .prediction import results_first

POSITIVE = ">50K"


MISSING = N_("(missing)")  # the label of an empty category: every bar has a name (shown as missing_label())


def missing_label() -> str:
    """The name of an empty category, in the page's language."""
    return _(MISSING)


def _in_language(fig: go.Figure) -> go.Figure:
    """Axis ticks and hover numbers with the page's language's separators (0,2 in Italian, 0.2 in English)."""
    sample = i18n.number(1000.5, 1)  # "1,000.5" / "1.000,5": Plotly wants the decimal mark, then the group one
    fig.update_layout(separators=sample[-2] + sample[1])
    return fig


def read_predictions(body: bytes) -> pd.DataFrame:
    """Return a predictions CSV (the Lambda's output) as a DataFrame, `label` and `probability` first."""
    frame = pd.read_csv(io.BytesIO(body), keep_default_na=False, na_values=[""])
    return results_first(frame)


def probability_histogram(frame: pd.DataFrame, column: str = "probability") -> go.Figure:
    """Histogram of P(>50K) over the rows."""
    fig = px.histogram(frame, x=column, nbins=20, range_x=[0, 1],
                       labels={column: _("P(income >50K)")}, title=_("Distribution of the predicted probability"))
    fig.update_layout(bargap=0.05, yaxis_title=_("rows"))
    return _in_language(fig)


def category_labels(values: pd.Series, bins: int = 10, top: int = 15) -> pd.Series:
    """Return each value's category name: the text itself, a range like "25–32" for a many-valued number,
    and missing_label() for an empty cell, so no bar of a chart is left without a label."""
    return _categories(values, bins, top)[0]


def _categories(values: pd.Series, bins: int, top: int) -> tuple[pd.Series, list[str] | None]:
    """(each value's category name, the ranges in order if the values were binned)."""
    filled = values.map(_filled)
    numbers = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
    if filled.any() and numbers.notna().sum() == filled.sum() and numbers.nunique() > top:
        edges, names = _ranges(float(numbers.min()), float(numbers.max()), bins)
        binned = pd.cut(numbers, bins=edges, labels=names, right=False)
        return binned.astype(object).where(binned.notna(), missing_label()).astype(str), names
    text = values.map(lambda v: _number(v) if isinstance(v, float) and v == v else v)
    return text.where(filled, missing_label()).astype(str).str.strip().replace("", missing_label()), None


def _filled(value: object) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return False
    return str(value).strip() != ""


def _number(value: float) -> str:
    """A whole number as is ("40"); a fraction to 3 significant digits in the page's language (0.25, 0,25)."""
    return str(int(value)) if float(value).is_integer() else i18n.number(float(f"{value:.3g}"))


def _ranges(low: float, high: float, bins: int) -> tuple[list[float], list[str]]:
    """Bin edges (each bin includes its lower edge) and names like "17–24" (whole numbers) or "0.1–0.2"."""
    whole = low.is_integer() and high.is_integer() and high - low >= bins
    step = float(math.ceil((high - low) / bins)) if whole else ((high - low) / bins or 1.0)
    edges = [low + i * step for i in range(bins + 1)]
    edges[-1] = max(edges[-1], high + (1 if whole else step * 1e-9))  # the maximum falls in the last bin
    if whole:
        names = [f"{_number(lo)}–{_number(min(hi - 1, high))}" for lo, hi in zip(edges[:-1], edges[1:])]
    else:
        names = [f"{_number(lo)}–{_number(hi)}" for lo, hi in zip(edges[:-1], edges[1:])]
    return edges, names


def positive_share_by(frame: pd.DataFrame, feature: str, label_column: str = "label", top: int = 15) -> go.Figure:
    """Bar chart: share of rows predicted >50K for each value of a feature (numeric features binned, every bar named)."""
    if label_column not in frame.columns and "prediction" in frame.columns:
        label_column = "prediction"
    names, ranges = _categories(frame[feature], 10, top)
    grouped = (pd.DataFrame({"value": names.to_numpy(), "positive": frame[label_column].eq(POSITIVE).to_numpy()})
               .groupby("value")["positive"].agg(share="mean", rows="size").reset_index()
               .sort_values("rows", ascending=False).head(top))
    if ranges is None:  # categories by share; ranges in their own order, lowest at the top
        grouped = grouped.sort_values("share")
    else:
        order = [*ranges, missing_label()]
        grouped = grouped.sort_values("value", key=lambda v: v.map(order.index), ascending=False)
    fig = px.bar(grouped, x="share", y="value", orientation="h", hover_data=["rows"], range_x=[0, 1],
                 labels={"share": _("share predicted >50K"), "value": feature, "rows": _("rows")},
                 title=_("Share predicted >50K by {feature}").format(feature=feature))
    # Category names like "40" must stay names: a numeric axis would drop or merge them.
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(grouped["value"]))
    return _in_language(fig)


def confusion_matrix_figure(truth: pd.Series, predicted: pd.Series) -> go.Figure:
    """Heatmap of true vs predicted labels (counts)."""
    labels = ["<=50K", ">50K"]
    table = pd.crosstab(pd.Categorical(truth, labels), pd.Categorical(predicted, labels), dropna=False)
    fig = px.imshow(table.values, x=labels, y=labels, text_auto=True, color_continuous_scale="Blues",
                    labels={"x": _("predicted"), "y": _("true"), "color": _("rows")}, title=_("Confusion matrix"))
    return _in_language(fig)


def roc_figure(truth: pd.Series, probability: pd.Series) -> go.Figure:
    """ROC curve of P(>50K) against the true labels, with its AUC in the title."""
    from sklearn.metrics import roc_auc_score, roc_curve

    positive = truth.eq(POSITIVE).to_numpy()
    fpr, tpr, _thresholds = roc_curve(positive, probability.to_numpy())
    auc = roc_auc_score(positive, probability.to_numpy())
    fig = px.area(x=fpr, y=tpr, labels={"x": _("false positive rate"), "y": _("true positive rate")},
                  title=_("ROC curve (AUC {auc})").format(auc=i18n.number(auc, 3)), range_x=[0, 1], range_y=[0, 1])
    fig.add_shape(type="line", line={"dash": "dash"}, x0=0, x1=1, y0=0, y1=1)
    return _in_language(fig)
