"""Plotly figures of a predictions table (no Streamlit: pages and notebooks both use them)."""
from __future__ import annotations

import io

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

POSITIVE = ">50K"


def read_predictions(body: bytes) -> pd.DataFrame:
    """Return a predictions CSV (the Lambda's output) as a DataFrame, categories as text."""
    return pd.read_csv(io.BytesIO(body), keep_default_na=False, na_values=[""])


def probability_histogram(frame: pd.DataFrame, column: str = "probability") -> go.Figure:
    """Histogram of P(>50K) over the rows."""
    fig = px.histogram(frame, x=column, nbins=20, range_x=[0, 1],
                       labels={column: "P(income >50K)"}, title="Distribution of the predicted probability")
    fig.update_layout(bargap=0.05, yaxis_title="rows")
    return fig


def positive_share_by(frame: pd.DataFrame, feature: str, label_column: str = "prediction", top: int = 15) -> go.Figure:
    """Bar chart: share of rows predicted >50K for each value of a feature (numeric features binned)."""
    values = frame[feature]
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > top:
        values = pd.cut(values, bins=10).astype(str)
    grouped = (pd.DataFrame({"value": values.fillna("(missing)").astype(str),
                             "positive": frame[label_column].eq(POSITIVE)})
               .groupby("value")["positive"].agg(share="mean", rows="size").reset_index()
               .sort_values("rows", ascending=False).head(top).sort_values("share"))
    fig = px.bar(grouped, x="share", y="value", orientation="h", hover_data=["rows"], range_x=[0, 1],
                 labels={"share": "share predicted >50K", "value": feature},
                 title=f"Share predicted >50K by {feature}")
    return fig


def confusion_matrix_figure(truth: pd.Series, predicted: pd.Series) -> go.Figure:
    """Heatmap of true vs predicted labels (counts)."""
    labels = ["<=50K", ">50K"]
    table = pd.crosstab(pd.Categorical(truth, labels), pd.Categorical(predicted, labels), dropna=False)
    fig = px.imshow(table.values, x=labels, y=labels, text_auto=True, color_continuous_scale="Blues",
                    labels={"x": "predicted", "y": "true", "color": "rows"}, title="Confusion matrix")
    return fig


def roc_figure(truth: pd.Series, probability: pd.Series) -> go.Figure:
    """ROC curve of P(>50K) against the true labels, with its AUC in the title."""
    from sklearn.metrics import roc_auc_score, roc_curve

    positive = truth.eq(POSITIVE).to_numpy()
    fpr, tpr, _ = roc_curve(positive, probability.to_numpy())
    auc = roc_auc_score(positive, probability.to_numpy())
    fig = px.area(x=fpr, y=tpr, labels={"x": "false positive rate", "y": "true positive rate"},
                  title=f"ROC curve (AUC {auc:.3f})", range_x=[0, 1], range_y=[0, 1])
    fig.add_shape(type="line", line={"dash": "dash"}, x0=0, x1=1, y0=0, y1=1)
    return fig
