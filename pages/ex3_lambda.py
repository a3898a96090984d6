"""Exercise 3: S3-triggered Lambda batch prediction."""
import json

import streamlit as st

from backend import charts
from backend.exercises import get_exercise
from backend.exercises.ex3_lambda import handler_source, run_batch
from backend.logs import group_invocations, recent_events
from backend.s3 import read_object
from pages import ui

FEATURES_FOR_CHART = ["education", "occupation", "marital_status", "relationship", "sex", "race", "work_class",
                      "age", "hours_per_week", "native_country"]


def options() -> None:
    with st.expander("Options", expanded=False):
        st.checkbox("Use LabRole (AWS Academy learner labs cannot create roles)", key="ex3_use_lab_role")
        st.checkbox("Output holds the input columns too", value=True, key="ex3_include_input")
        st.checkbox("Timestamped output names (one file per upload)", value=True, key="ex3_timestamp")


def batch_runner(ctx) -> None:
    st.subheader("Score a CSV")
    st.write(f"Upload a CSV to `{ctx.names.input_bucket}` and wait for the function's output in "
             f"`{ctx.names.output_bucket}`.")
    uploaded = st.file_uploader("CSV file (the 12 feature columns)", type=["csv"], key="ex3_csv")
    left, right = st.columns(2)
    chosen = None
    if left.button("Score the uploaded file", key="ex3_run_upload", disabled=uploaded is None):
        chosen = (uploaded.name, uploaded.getvalue())
    if right.button("Score the course's input_batch.csv", key="ex3_run_course"):
        chosen = ("input_batch.csv", read_object(ctx.aws, "layerfiles-mlops-course", "input_batch.csv"))
    if chosen is not None:
        name, data = chosen
        result = ui.run_with_status(f"Scoring {name} with the Lambda",
                                    lambda progress: run_batch(ctx, data, name, progress), ctx)
        st.session_state["ex3_batch"] = result
    result = st.session_state.get("ex3_batch")
    if result:
        show_batch_result(result)


def show_batch_result(result) -> None:
    where = f"s3://{result['bucket']}/{result['key']}"
    if result["status"] != "ok":
        report = json.loads(result["body"])
        st.error(f"The function rejected {result['input_key']}: {report.get('message', report)}  \n"
                 f"Error report: `{where}`", icon=":material/error:")
        st.json(report)
        return
    frame = charts.read_predictions(result["body"])
    st.success(f"{len(frame):,} predictions in `{where}`.", icon=":material/task_alt:")
    st.dataframe(frame.head(500), hide_index=True, width="stretch")
    st.plotly_chart(charts.probability_histogram(frame), key="ex3_hist")
    features = [f for f in FEATURES_FOR_CHART if f in frame.columns]
    if features:
        feature = st.selectbox("Share of >50K by", features, key="ex3_feature")
        st.plotly_chart(charts.positive_share_by(frame, feature), key="ex3_share")
    else:
        st.caption("Turn on 'Output holds the input columns' to chart predictions by feature.")


def log_viewer(ctx) -> None:
    st.subheader("CloudWatch Logs")
    group = ctx.names.lambda_log_group
    st.caption(f"Log group `{group}`, latest invocations first.")
    st.button("Refresh logs", key="ex3_logs_refresh")
    try:
        invocations = group_invocations(recent_events(ctx.aws, group))
    except Exception as exc:
        ui.show_error(exc, ctx)
        return
    if not invocations:
        st.info("No log lines yet: the function has not run.")
        return
    for i, inv in enumerate(invocations[:10]):
        label = f"{inv.started:%H:%M:%S} · {inv.request_id[:8]}"
        if inv.duration_ms is not None:
            label += f" · {inv.duration_ms:.0f} ms · {inv.max_memory_mb} MB"
        label += " · FAILED" if inv.failed else ""
        with st.expander(label, expanded=i == 0, icon=":material/error:" if inv.failed else ":material/check:"):
            text = "\n".join(e.message for e in inv.events)
            if inv.failed:
                st.error("\n".join(e.message for e in inv.events if e.is_error)[:2000])
            st.code(text, language="text")


def extra(ctx) -> None:
    with st.expander("The function's code (lambda_code/handler.py, deployed by step 5)", expanded=False):
        st.markdown("It loads the model once per container, streams the CSV in blocks (a million rows in "
                    "under 200 MB), writes only to the output bucket, and on bad input writes an error report "
                    "instead of partial predictions.")
        st.code(handler_source(), language="python", line_numbers=True)
    batch_runner(ctx)
    st.divider()
    log_viewer(ctx)


options()
ui.exercise_page(get_exercise(3), extra=extra)
