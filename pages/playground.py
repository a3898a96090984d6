"""Prediction playground: the same records on every deployment of the model, side by side."""
import io
import random

import pandas as pd
import streamlit as st

from backend import charts
from backend.artifacts import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, SAMPLE_RECORD
from backend.config import COURSE_DIR
from backend.local_model import feature_choices, records_from_csv
from backend.predict import TARGET_TITLES, compare, predict, target_states
from pages import ui

EXERCISE_PAGES = {"lambda": "pages/ex3_lambda.py", "ec2": "pages/ex4_ec2.py", "sagemaker": "pages/ex5_sagemaker.py"}

st.title("Prediction playground")
ctx = ui.require_connection()
st.caption("Every deployment serves the same model, so they should agree; a mismatch is flagged.")

# ---- targets --------------------------------------------------------------------------------
st.subheader("Targets")
states = target_states(ctx)
chosen = []
columns = st.columns(len(states))
for column, state in zip(columns, states):
    with column:
        if st.checkbox(TARGET_TITLES[state.target], value=state.available, disabled=not state.available,
                       key=f"play_target_{state.target}"):
            chosen.append(state.target)
        st.caption(state.reason)
        if not state.available and state.target in EXERCISE_PAGES:
            ui.page_link(EXERCISE_PAGES[state.target], "Open the exercise", ":material/arrow_forward:")


def run_targets(records):
    results = []
    for target in chosen:
        result = ui.run_with_status(f"{TARGET_TITLES[target]}: {len(records):,} record(s)",
                                    lambda progress, t=target: predict(ctx, t, records, progress), ctx)
        if result is not None:
            results.append(result)
    return results


def side_by_side(results, records):
    frame = pd.DataFrame(records)
    for result in results:
        frame[f"{result.target} label"] = [p.label for p in result.predictions]
        frame[f"{result.target} P(>50K)"] = [round(p.probability, 4) for p in result.predictions]
    return frame


record_tab, csv_tab = st.tabs(["One record", "A CSV file"])

# ---- one record -----------------------------------------------------------------------------
with record_tab:
    if "play_record" not in st.session_state:
        st.session_state["play_record"] = dict(SAMPLE_RECORD)
    left, right = st.columns(2)
    if left.button("Sample record (LAB.md)", key="play_sample"):
        st.session_state["play_record"] = dict(SAMPLE_RECORD)
    if right.button("Random row from the test data", key="play_random"):
        rows = pd.read_csv(COURSE_DIR / "adult_batch.csv", keep_default_na=False)
        row = rows.iloc[random.randrange(len(rows))]
        st.session_state["play_record"] = {f: (int(row[f]) if f in NUMERIC_FEATURES and row[f] != "" else row[f])
                                           for f in FEATURES}
    record = st.session_state["play_record"]
    form = st.form("play_record_form")
    version = hash(tuple(record.items()))  # new widgets when a preset replaces the record
    with form:
        values = ui.record_fields(record, feature_choices(), f"play_{version}")
    if form.form_submit_button("Predict on the chosen targets", type="primary"):
        st.session_state["play_record_results"] = (values, run_targets([values]))
    if "play_record_results" in st.session_state:
        used, results = st.session_state["play_record_results"]
        if results:
            table = pd.DataFrame([{"target": TARGET_TITLES[r.target], "label": r.predictions[0].label,
                                   "P(>50K)": round(r.predictions[0].probability, 6),
                                   "latency (ms)": round(r.seconds * 1000, 1)} for r in results])
            st.dataframe(table, hide_index=True, width="stretch")
            if compare(results):
                st.error("The targets disagree on this record: they should serve the same model.")
            elif len(results) > 1:
                st.success(f"All {len(results)} targets agree.")

# ---- a CSV ----------------------------------------------------------------------------------
with csv_tab:
    uploaded = st.file_uploader("CSV with the 12 feature columns (e.g. input_batch.csv)", type=["csv"],
                                key="play_csv")
    left, right = st.columns(2)
    source = None
    if left.button("Score the uploaded file", key="play_csv_run", disabled=uploaded is None):
        source = (uploaded.name, uploaded.getvalue())
    if right.button("Score the course's adult_batch.csv (has labels)", key="play_csv_course"):
        source = ("adult_batch.csv", (COURSE_DIR / "adult_batch.csv").read_bytes())
    if source is not None:
        try:
            records = records_from_csv(source[1], source[0])
        except Exception as exc:
            ui.show_error(exc, ctx)
        else:
            truth = pd.read_csv(io.BytesIO(source[1]), keep_default_na=False).get("income")
            st.session_state["play_csv_results"] = (source[0], records, truth, run_targets(records))
    if "play_csv_results" in st.session_state:
        name, records, truth, results = st.session_state["play_csv_results"]
        if results:
            frame = side_by_side(results, records)
            mismatches = compare(results)
            if mismatches:
                st.error(f"{len(mismatches)} row(s) differ between targets (first: row {mismatches[0] + 1}).")
            elif len(results) > 1:
                st.success(f"All {len(results)} targets agree on all {len(records):,} rows.")
            st.dataframe(pd.DataFrame([{"target": TARGET_TITLES[r.target], "rows": len(r.predictions),
                                        "seconds": round(r.seconds, 3)} for r in results]), hide_index=True)
            first = results[0].target
            view = frame.rename(columns={f"{first} label": "prediction", f"{first} P(>50K)": "probability"})
            st.plotly_chart(charts.probability_histogram(view), key="play_hist")
            feature = st.selectbox("Share of >50K by", list(CATEGORICAL_FEATURES) + list(NUMERIC_FEATURES),
                                   key="play_feature")
            st.plotly_chart(charts.positive_share_by(view, feature), key="play_share")
            if truth is not None:
                st.plotly_chart(charts.confusion_matrix_figure(truth, view["prediction"]), key="play_cm")
                st.plotly_chart(charts.roc_figure(truth, view["probability"]), key="play_roc")
            st.download_button("Download the predictions (CSV)", frame.to_csv(index=False).encode(),
                               file_name=name.rsplit(".", 1)[0] + "_predictions.csv", key="play_download")
            st.dataframe(frame.head(500), hide_index=True, width="stretch")
