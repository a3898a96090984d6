"""Exercise 3: S3-triggered Lambda batch prediction."""
import json
from datetime import datetime, timedelta, timezone

import streamlit as st

from backend import charts, i18n
from backend.exercises import get_exercise
from backend.exercises.ex3_lambda import handler_source, run_batch
from backend.exercises.ex3_lambda.deploy import INCLUDE_INPUT
from backend.i18n import _, ngettext
from backend.logs import group_invocations, recent_events
from backend.prediction import column_headers
from backend.s3 import head_object, read_object
from pages import ui

FEATURES_FOR_CHART = ["education", "occupation", "marital_status", "relationship", "sex", "race", "work_class",
                      "age", "hours_per_week", "native_country"]
SHOWN_INVOCATIONS = 10
RUNNING_WINDOW_S = 120  # longer than the function's timeout (10 s) and the sandbox's queueing


def score(ctx, name: str, data: bytes):
    """Run the batch in a status box: red when the function rejected the file, green only when it scored it."""
    label = _("Scoring {name} with the Lambda").format(name=name)
    with st.status(label, expanded=False) as status:
        try:
            result = run_batch(ctx, data, name, status.write)
        except Exception as exc:
            status.update(label=_("{label} — failed").format(label=label), state="error", expanded=True)
            ui.show_error(exc, ctx)
            return None
        if result["status"] == "ok":
            status.update(label=_("{label} — done").format(label=label), state="complete")
        else:
            status.update(label=_("{label} — the function rejected the file").format(label=label), state="error")
    return result


def batch_runner(ctx) -> None:
    st.subheader(_("Score a CSV"))
    st.write(_("Upload a CSV to `{input_bucket}` and wait for the function's output in `{output_bucket}`.").format(
        input_bucket=ctx.names.input_bucket, output_bucket=ctx.names.output_bucket))
    uploaded = st.file_uploader(_("CSV file (the 12 feature columns)"), type=["csv"], key="ex3_csv")
    left, right = st.columns(2)
    chosen = None
    if left.button(_("Score the uploaded file"), key="ex3_run_upload", disabled=uploaded is None):
        chosen = (uploaded.name, uploaded.getvalue())
    if right.button(_("Score the course's input_batch.csv"), key="ex3_run_course"):
        chosen = ("input_batch.csv", read_object(ctx.aws, "layerfiles-mlops-course", "input_batch.csv"))
    if chosen is not None:
        result = score(ctx, *chosen)
        if result is not None:
            st.session_state["ex3_batch"] = result
        ui.progress_changed()
    result = st.session_state.get("ex3_batch")
    if result and not still_there(ctx, result):
        st.session_state.pop("ex3_batch")
        st.caption(_("The output of your last run ({where}) is no longer there, so it is not shown.").format(
            where=f"s3://{result['bucket']}/{result['key']}"))
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


def quoted(text) -> str:
    """What the function or its log wrote, as inline code: its own words (English), not the page's."""
    text = str(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def show_batch_result(result) -> None:
    where = f"s3://{result['bucket']}/{result['key']}"
    if result["status"] != "ok":
        report = json.loads(result["body"])
        st.error(_("The function rejected {name}: {message}  \nError report: `{where}`").format(
            name=result["input_key"], message=quoted(report.get("message", report)), where=where),
            icon=":material/error:")
        st.json(report)
        return
    frame = charts.read_predictions(result["body"])
    st.success(ngettext("{n} prediction for {name} in `{where}`.", "{n} predictions for {name} in `{where}`.",
                        len(frame)).format(n=i18n.number(len(frame)), name=result["input_key"], where=where),
               icon=":material/task_alt:")
    st.dataframe(frame.head(500), hide_index=True, width="stretch", key="ex3_predictions",
                 column_config=column_headers(frame.columns))
    st.plotly_chart(charts.probability_histogram(frame), key="ex3_hist")
    features = [f for f in FEATURES_FOR_CHART if f in frame.columns]
    if features:
        feature = st.selectbox(_("Share of >50K by"), features, key="ex3_feature")
        st.plotly_chart(charts.positive_share_by(frame, feature), key="ex3_share")
    else:
        st.caption(_("Turn on '{option}' ({options}) to chart predictions by feature.").format(
            option=_(INCLUDE_INPUT.label), options=_("Options")))


def fenced(lines: list[str]) -> str:
    """Lines as a Markdown code block (a longer fence if the text holds one)."""
    fence = "````" if any("```" in line for line in lines) else "```"
    return f"{fence}text\n" + "\n".join(lines) + f"\n{fence}"


def invocation_block(inv) -> None:
    """One invocation: red with its error report and traceback if it failed, green with its figures if not."""
    when = _("{moment} UTC · request `{request_id}`").format(moment=i18n.moment(inv.started),
                                                             request_id=inv.request_id)
    figures = []
    if inv.duration_ms is not None:
        figures.append(_("{ms} ms").format(ms=i18n.number(inv.duration_ms, 0)))
    if inv.max_memory_mb is not None:
        figures.append(_("max memory {used} of {size} MB").format(used=inv.max_memory_mb, size=inv.memory_size_mb)
                       if inv.memory_size_mb else _("max memory {used} MB").format(used=inv.max_memory_mb))
    if inv.cold:
        init = (_("init {ms} ms").format(ms=i18n.number(inv.init_ms, 0)) if inv.init_ms is not None
                else _("init"))
        # The runtime version is quoted from the log (INIT_START), in its own words: code, as the request id.
        figures.append(_("cold start ({init}, {runtime})").format(init=init, runtime=quoted(inv.runtime_version))
                       if inv.runtime_version else _("cold start ({init})").format(init=init))
    summary = " · ".join(figures)
    if inv.failed:
        parts = [_("**Failed: {error}**").format(error=quoted(inv.error_summary)) + f"  \n{when}"
                 + (f"  \n{summary}" if summary else "")]
        report = [line for line in inv.error_report if inv.error_summary not in line] or inv.error_report
        if report:
            parts.append(_("Error report:") + "\n\n" + fenced(report))
        if inv.traceback:
            parts.append(_("Traceback:") + "\n\n" + fenced(inv.traceback))
        st.error("\n\n".join(parts), icon=":material/error:")
    elif inv.status == "running":
        st.info(_("**Running…**") + f"  \n{when}" + (f"  \n{summary}" if summary else ""), icon=":material/pending:")
    else:
        st.success(_("**Succeeded**") + f" · {summary}  \n{when}", icon=":material/check_circle:")
    with st.expander(ngettext("{n} log line", "All {n} log lines", len(inv.events)).format(n=len(inv.events)),
                     expanded=False, key=f"ex3_log_{inv.request_id}"):
        st.code("\n".join(e.message for e in inv.events), language="text")


def log_viewer(ctx) -> None:
    st.subheader(_("CloudWatch Logs"))
    group = ctx.names.lambda_log_group
    st.caption(_("Log group `{group}`: one block per invocation, the latest first.").format(group=group))

    def render() -> bool:
        st.button(_("Refresh logs"), key="ex3_logs_refresh")
        try:
            invocations = group_invocations(recent_events(ctx.aws, group))
        except Exception as exc:
            ui.show_error(exc, ctx)
            return False
        show_invocations(invocations)
        # Only a recent one counts as running: a START whose REPORT never came (a sandbox stopped mid-run)
        # must not keep the page polling for ever.
        recent = datetime.now(timezone.utc) - timedelta(seconds=RUNNING_WINDOW_S)
        return any(inv.status == "running" and inv.started >= recent for inv in invocations)

    # While an invocation runs, the log reads itself again every 2 s, and stops once all are done.
    ui.live_panel("ex3_log", 2, render)


def show_invocations(invocations) -> None:
    if not invocations:
        st.info(_("No invocations logged yet: the function has not run."))
        return
    failed = sum(inv.failed for inv in invocations)
    counts = ngettext("{n} invocation in the latest log lines, {failed} failed",
                      "{n} invocations in the latest log lines, {failed} failed",
                      len(invocations)).format(n=len(invocations), failed=failed)
    st.caption(counts + (_("; the latest {shown} below.").format(shown=SHOWN_INVOCATIONS)
                         if len(invocations) > SHOWN_INVOCATIONS else "."))
    for inv in invocations[:SHOWN_INVOCATIONS]:
        invocation_block(inv)


def extra(ctx) -> None:
    with st.expander(_("The function's code (lambda_code/handler.py, deployed by step 5)"), expanded=False,
                     key="ex3_handler_expander"):
        st.markdown(_("It loads the model once per container, streams the CSV in blocks (a million rows in "
                      "under 200 MB), writes only to the output bucket, and on bad input writes an error report "
                      "instead of partial predictions."))
        st.code(handler_source(), language="python", line_numbers=True)
    batch_runner(ctx)
    st.divider()
    log_viewer(ctx)


ui.exercise_page(get_exercise(3), extra=extra)
