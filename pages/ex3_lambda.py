"""Exercise 3: S3-triggered Lambda batch prediction."""
import json

import streamlit as st

from backend import charts
from backend.exercises import get_exercise
from backend.exercises.ex3_lambda import handler_source, run_batch
from backend.logs import group_invocations, recent_events
from backend.s3 import head_object, read_object
from pages import ui

FEATURES_FOR_CHART = ["education", "occupation", "marital_status", "relationship", "sex", "race", "work_class",
                      "age", "hours_per_week", "native_country"]
SHOWN_INVOCATIONS = 10


def score(ctx, name: str, data: bytes):
    """Run the batch in a status box: red when the function rejected the file, green only when it scored it."""
    label = f"Scoring {name} with the Lambda"
    with st.status(label, expanded=False) as status:
        try:
            result = run_batch(ctx, data, name, status.write)
        except Exception as exc:
            status.update(label=f"{label} — failed", state="error", expanded=True)
            ui.show_error(exc, ctx)
            return None
        if result["status"] == "ok":
            status.update(label=f"{label} — done", state="complete")
        else:
            status.update(label=f"{label} — the function rejected the file", state="error")
    return result


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
        result = score(ctx, *chosen)
        if result is not None:
            st.session_state["ex3_batch"] = result
        ui.progress_changed()
    result = st.session_state.get("ex3_batch")
    if result and not still_there(ctx, result):
        st.session_state.pop("ex3_batch")
        st.caption(f"The output of your last run (s3://{result['bucket']}/{result['key']}) is no longer there, "
                   "so it is not shown.")
        result = None
    if result:
        show_batch_result(result)


def still_there(ctx, result) -> bool:
    """True while the output object the result shows is still in the bucket, unchanged."""
    try:
        head = head_object(ctx.aws, result["bucket"], result["key"])
    except Exception:  # the connection problem is shown by the page's other panels
        return False
    return head is not None and head.get("ContentLength") == len(result["body"])


def show_batch_result(result) -> None:
    where = f"s3://{result['bucket']}/{result['key']}"
    if result["status"] != "ok":
        report = json.loads(result["body"])
        st.error(f"The function rejected {result['input_key']}: {report.get('message', report)}  \n"
                 f"Error report: `{where}`", icon=":material/error:")
        st.json(report)
        return
    frame = charts.read_predictions(result["body"])
    st.success(f"{len(frame):,} predictions for {result['input_key']} in `{where}`.", icon=":material/task_alt:")
    st.dataframe(frame.head(500), hide_index=True, width="stretch", key="ex3_predictions")
    st.plotly_chart(charts.probability_histogram(frame), key="ex3_hist")
    features = [f for f in FEATURES_FOR_CHART if f in frame.columns]
    if features:
        feature = st.selectbox("Share of >50K by", features, key="ex3_feature")
        st.plotly_chart(charts.positive_share_by(frame, feature), key="ex3_share")
    else:
        st.caption("Turn on 'Output holds the input columns too' (Options) to chart predictions by feature.")


def fenced(lines: list[str]) -> str:
    """Lines as a Markdown code block (a longer fence if the text holds one)."""
    fence = "````" if any("```" in line for line in lines) else "```"
    return f"{fence}text\n" + "\n".join(lines) + f"\n{fence}"


def invocation_block(inv) -> None:
    """One invocation: red with its error report and traceback if it failed, green with its figures if not."""
    when = f"{inv.started:%Y-%m-%d %H:%M:%S} UTC · request `{inv.request_id}`"
    figures = []
    if inv.duration_ms is not None:
        figures.append(f"{inv.duration_ms:,.0f} ms")
    if inv.max_memory_mb is not None:
        size = f" of {inv.memory_size_mb} MB" if inv.memory_size_mb else " MB"
        figures.append(f"max memory {inv.max_memory_mb}{size}")
    if inv.cold:
        init = f"init {inv.init_ms:,.0f} ms" if inv.init_ms is not None else "init"
        figures.append(f"cold start ({init}" + (f", {inv.runtime_version})" if inv.runtime_version else ")"))
    summary = " · ".join(figures)
    if inv.failed:
        parts = [f"**Failed: {inv.error_summary}**  \n{when}" + (f"  \n{summary}" if summary else "")]
        report = [line for line in inv.error_report if inv.error_summary not in line] or inv.error_report
        if report:
            parts.append("Error report:\n\n" + fenced(report))
        if inv.traceback:
            parts.append("Traceback:\n\n" + fenced(inv.traceback))
        st.error("\n\n".join(parts), icon=":material/error:")
    elif inv.status == "running":
        st.info(f"**Running…**  \n{when}" + (f"  \n{summary}" if summary else ""), icon=":material/pending:")
    else:
        st.success(f"**Succeeded** · {summary}  \n{when}", icon=":material/check_circle:")
    with st.expander(f"All {len(inv.events)} log lines", expanded=False, key=f"ex3_log_{inv.request_id}"):
        st.code("\n".join(e.message for e in inv.events), language="text")


def log_viewer(ctx) -> None:
    st.subheader("CloudWatch Logs")
    group = ctx.names.lambda_log_group
    st.caption(f"Log group `{group}`: one block per invocation, the latest first.")
    st.button("Refresh logs", key="ex3_logs_refresh")
    try:
        invocations = group_invocations(recent_events(ctx.aws, group))
    except Exception as exc:
        ui.show_error(exc, ctx)
        return
    if not invocations:
        st.info("No invocations logged yet: the function has not run.")
        return
    failed = sum(inv.failed for inv in invocations)
    st.caption(f"{len(invocations)} invocation(s) in the latest log lines, {failed} failed"
               + (f"; the latest {SHOWN_INVOCATIONS} below." if len(invocations) > SHOWN_INVOCATIONS else "."))
    for inv in invocations[:SHOWN_INVOCATIONS]:
        invocation_block(inv)


def extra(ctx) -> None:
    with st.expander("The function's code (lambda_code/handler.py, deployed by step 5)", expanded=False,
                     key="ex3_handler_expander"):
        st.markdown("It loads the model once per container, streams the CSV in blocks (a million rows in "
                    "under 200 MB), writes only to the output bucket, and on bad input writes an error report "
                    "instead of partial predictions.")
        st.code(handler_source(), language="python", line_numbers=True)
    batch_runner(ctx)
    st.divider()
    log_viewer(ctx)


ui.exercise_page(get_exercise(3), extra=extra)
