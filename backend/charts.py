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
