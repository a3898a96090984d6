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
from pages import ui

DEFAULT_ROWS = [0, 1, 2, 3, 4]
STATUS_ICONS = {"InService": ":material/check_circle:", "Failed": ":material/error:",
                "Creating": ":material/hourglass_top:", "Updating": ":material/hourglass_top:",
                "Deleting": ":material/delete:"}


def cost_banner(ctx) -> None:
    """Before deploying: what it costs (real AWS) or that it is free (sandbox)."""
    if ctx.aws.target.is_sandbox:
        st.info("In the sandbox the endpoint runs on this computer and costs nothing. On AWS: "
                + price_sentence(ctx), icon=":material/savings:")
    else:
        st.warning("**This exercise creates a billed resource.** " + price_sentence(ctx)
                   + " Delete the endpoint when you are done.", icon=":material/payments:")


CHANGING = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def endpoint_panel(ctx) -> None:
    """The endpoint as it is now: status, reason, instance, price, and a delete button while it exists.

    While the endpoint changes state the panel reads it again every few seconds, then stops.
    """
    st.subheader("Your endpoint")
    changing = st.session_state.get("ex5_changing", False)

    @st.fragment(run_every=3 if changing else None)
    def live() -> None:
        try:
            summary = endpoint_summary(ctx)
        except Exception as exc:
            ui.show_error(exc, ctx)
            return
        status = summary["status"] if summary else None
        if (status in CHANGING) != st.session_state.get("ex5_changing", False):
            st.session_state["ex5_changing"] = status in CHANGING
            st.rerun(scope="app")  # start or stop the periodic refresh; steps and checks follow
        st.session_state["ex5_status"] = status
        if summary is None:
            st.caption(f"`{ctx.names.endpoint}` is not deployed.")
            return
        text = f"`{ctx.names.endpoint}` is **{status}** on {summary['instance_count']} × {summary['instance_type']}"
        if summary["hourly_usd"] is not None and not ctx.aws.target.is_sandbox:
            text += f", about ${summary['hourly_usd']:.3f} per hour since {summary['created']:%Y-%m-%d %H:%M}"
        (st.error if status == "Failed" else st.success if status == "InService" else st.info)(
            text + (f"  \nReason: {summary['failure_reason']}" if summary["failure_reason"] else ""),
            icon=STATUS_ICONS.get(status, ":material/info:"))
        if ui.confirmed_button("Delete the endpoint now",
                               f"Delete endpoint {ctx.names.endpoint} with its configuration and model",
                               ctx, key="ex5_delete", disabled=status == "Deleting"):
            results = ui.run_with_status("Deleting the endpoint", lambda progress: delete_deployment(ctx, progress), ctx)
            ui.progress_changed()
            if results is not None:
                st.session_state.pop("ex5_answer", None)
                st.rerun(scope="app")

    live()


@st.cache_data(ttl=300, show_spinner=False)
def _rows(_ctx, key: str) -> pd.DataFrame:
    return pd.DataFrame(course_rows(_ctx))


def query_panel(ctx) -> None:
    st.subheader("Query the endpoint")
    st.write("Pick rows of `adult_batch.csv` (edit any value if you like) and send them to the endpoint; the local "
             "model scores the same rows beside it.")
    try:
        rows = _rows(ctx, f"{ctx.aws.target}|{ctx.svc}")
    except Exception as exc:
        ui.show_error(exc, ctx)
        return
    picked = st.multiselect("Rows", list(rows.index), default=[i for i in DEFAULT_ROWS if i in rows.index],
                            key="ex5_rows", format_func=lambda i: f"{i}: {rows.at[i, 'age']}, {rows.at[i, 'occupation']}")
    edited = st.data_editor(rows.loc[picked], key="ex5_editor", num_rows="fixed", width="stretch",
                            disabled=["income"])
    if st.button("Score the chosen rows", key="ex5_ask_run", type="primary", disabled=not picked):
        records = edited.drop(columns=["income"]).to_dict(orient="records")
        result = ui.run_with_status(f"Scoring {len(records)} row(s)", lambda progress: query(ctx, records), ctx)
        st.session_state["ex5_answer"] = (result, list(edited["income"])) if result is not None else None
    if st.session_state.get("ex5_status") != "InService":
        st.session_state.pop("ex5_answer", None)  # answers of an endpoint that is gone are no longer true
    shown = st.session_state.get("ex5_answer")
    if shown:
        result, truth = shown
        frame = pd.DataFrame(result.rows())
        frame.insert(2, "actual", truth[:len(frame)])  # beside the answer: results first
        if result.mismatches:
            st.warning(f"{len(result.mismatches)} of {len(frame)} predictions differ from the local model.",
                       icon=":material/compare_arrows:")
        else:
            st.success(f"{len(frame)} predictions in {result.seconds * 1000:.0f} ms, all the same as the local model's.",
                       icon=":material/task_alt:")
        st.dataframe(frame, hide_index=True, width="stretch", key="ex5_results")


def before_steps(ctx) -> None:
    cost_banner(ctx)
    endpoint_panel(ctx)


ui.exercise_page(EXERCISE, extra=query_panel, before=before_steps)
