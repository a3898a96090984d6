"""Exercise 5: the MLflow model on a SageMaker endpoint."""
import pandas as pd
import streamlit as st

from backend.exercises.ex5_sagemaker import (
    EXERCISE,
    course_rows,
    delete_deployment,
    endpoint_summary,
    price_sentence,
    query,
)
from backend import i18n
from backend.i18n import _, ngettext
from backend.prediction import column_headers
from pages import ui

DEFAULT_ROWS = [0, 1, 2, 3, 4]
STATUS_ICONS = {"InService": ":material/check_circle:", "Failed": ":material/error:",
                "Creating": ":material/hourglass_top:", "Updating": ":material/hourglass_top:",
                "Deleting": ":material/delete:"}


def cost_banner(ctx) -> None:
    """Before deploying: what it costs (real AWS) or that it is free (sandbox)."""
    if ctx.aws.target.is_sandbox:
        st.info(_("In the sandbox the endpoint runs on this computer and costs nothing. On AWS: {price}").format(
            price=price_sentence(ctx)), icon=":material/savings:")
    else:
        st.warning(_("**This exercise creates a billed resource.** {price} Delete the endpoint when you are done.")
                   .format(price=price_sentence(ctx)), icon=":material/payments:")


CHANGING = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def endpoint_panel(ctx) -> None:
    """The endpoint as it is now: status, reason, instance, price, and a delete button while it exists.

    While the endpoint changes state the panel reads it again every few seconds, then stops.
    """
    st.subheader(_("Your endpoint"))

    def render() -> bool:
        try:
            summary = endpoint_summary(ctx)
        except Exception as exc:
            ui.show_error(exc, ctx)
            return False
        status = summary["status"] if summary else None
        st.session_state["ex5_status"] = status
        if summary is None:
            st.caption(_("`{endpoint}` is not deployed.").format(endpoint=ctx.names.endpoint))
            return False
        text = _("`{endpoint}` is **{status}** on {count} × {type}").format(
            endpoint=ctx.names.endpoint, status=status, count=summary["instance_count"], type=summary["instance_type"])
        if summary["hourly_usd"] is not None and not ctx.aws.target.is_sandbox:
            text += _(", about {price} per hour since {since}").format(
                price=i18n.money(summary["hourly_usd"], decimals=3), since=i18n.moment(summary["created"]))
        reason = ("  \n" + _("Reason: {reason}").format(reason=summary["failure_reason"])
                  if summary["failure_reason"] else "")
        (st.error if status == "Failed" else st.success if status == "InService" else st.info)(
            text + reason, icon=STATUS_ICONS.get(status, ":material/info:"))
        if ui.confirmed_button(_("Delete the endpoint now"),
                               _("Delete endpoint {endpoint} with its configuration and model").format(
                                   endpoint=ctx.names.endpoint),
                               ctx, key="ex5_delete", disabled=status == "Deleting"):
            results = ui.run_with_status(_("Deleting the endpoint"), lambda progress: delete_deployment(ctx, progress),
                                         ctx)
            ui.progress_changed()
            if results is not None:
                st.session_state.pop("ex5_answer", None)
                st.rerun(scope="app")
        return status in CHANGING

    ui.live_panel("ex5_endpoint", 3, render)


@st.cache_data(ttl=300, show_spinner=False)
def _rows(_ctx, key: str) -> pd.DataFrame:
    return pd.DataFrame(course_rows(_ctx))


def query_panel(ctx) -> None:
    st.subheader(_("Query the endpoint"))
    st.write(_("Pick rows of `adult_batch.csv` (edit any value if you like) and send them to the endpoint; the local "
               "model scores the same rows beside it."))
    try:
        rows = _rows(ctx, f"{ctx.aws.target}|{ctx.svc}")
    except Exception as exc:
        ui.show_error(exc, ctx)
        return
    picked = st.multiselect(_("Rows"), list(rows.index), default=[i for i in DEFAULT_ROWS if i in rows.index],
                            key="ex5_rows", format_func=lambda i: f"{i}: {rows.at[i, 'age']}, {rows.at[i, 'occupation']}")
    edited = st.data_editor(rows.loc[picked], key="ex5_editor", num_rows="fixed", width="stretch",
                            disabled=["income"])
    if st.button(_("Score the chosen rows"), key="ex5_ask_run", type="primary", disabled=not picked):
        records = edited.drop(columns=["income"]).to_dict(orient="records")
        result = ui.run_with_status(ngettext("Scoring {n} row", "Scoring {n} rows", len(records)).format(n=len(records)),
                                    lambda progress: query(ctx, records), ctx)
        st.session_state["ex5_answer"] = (result, list(edited["income"])) if result is not None else None
    if st.session_state.get("ex5_status") != "InService":
        st.session_state.pop("ex5_answer", None)  # answers of an endpoint that is gone are no longer true
    shown = st.session_state.get("ex5_answer")
    if shown:
        result, truth = shown
        frame = pd.DataFrame(result.rows())
        frame.insert(2, "actual", truth[:len(frame)])  # beside the answer: results first
        if result.mismatches:
            st.warning(_("{n} of {total} predictions differ from the local model.").format(
                n=len(result.mismatches), total=len(frame)),
                       icon=":material/compare_arrows:")
        else:
            st.success(ngettext("{n} prediction in {ms} ms, all the same as the local model's.",
                                "{n} predictions in {ms} ms, all the same as the local model's.",
                                len(frame)).format(n=len(frame), ms=i18n.number(result.seconds * 1000, 0)),
                       icon=":material/task_alt:")
        st.dataframe(frame, hide_index=True, width="stretch", key="ex5_results",
                     column_config=column_headers(frame.columns))


def before_steps(ctx) -> None:
    cost_banner(ctx)
    endpoint_panel(ctx)


ui.exercise_page(EXERCISE, extra=query_panel, before=before_steps)
