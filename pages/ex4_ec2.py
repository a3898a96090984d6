"""Exercise 4: the FastAPI /predict app in Docker on EC2."""
import json

import streamlit as st

from backend import ec2, i18n
from backend.artifacts import NUMERIC_FEATURES, SAMPLE_RECORD
from backend.exercises.ex4_ec2 import (
    EXERCISE,
    call_predict,
    instance_console,
    instance_endpoint,
    lab_instance,
    manual_commands,
    price_note,
    start_lab_instance,
    stop_lab_instance,
    terminate_lab_instance,
)
from backend.i18n import _
from backend.local_model import feature_choices
from pages import ui


CHANGING = ("pending", "stopping", "shutting-down")


def instance_panel(ctx) -> None:
    st.subheader(_("Your instance"))

    def render() -> bool:
        try:
            instance = lab_instance(ctx)
        except Exception as exc:
            ui.show_error(exc, ctx)
            return False
        if instance is None:
            st.session_state.pop("ex4_answer", None)  # an answer from an instance that is gone is no longer true
            st.info(_("No instance yet.") + " " + price_note(ctx))
            return False
        st.write(f"`{instance.id}` · {instance.type} · **{ec2.state_word(instance.state)}**"
                 + (" · " + _("public IP {ip}").format(ip=instance.public_ip) if instance.public_ip else ""))
        left, middle, right = st.columns(3)
        action = None
        if left.button(_("Start"), key="ex4_start", disabled=instance.state != "stopped"):
            action = (_("Starting the instance"), start_lab_instance)
        if middle.button(_("Stop"), key="ex4_stop", disabled=instance.state != "running"):
            action = (_("Stopping the instance"), stop_lab_instance)
        if ui.confirmed_button(_("Terminate"), _("Terminate instance {id} ({type}) and its disk").format(
                id=instance.id, type=instance.type), ctx, key="ex4_terminate", container=right):
            action = (_("Terminating the instance"), terminate_lab_instance)
        if action is not None:
            result = ui.run_with_status(action[0], lambda progress: action[1](ctx, progress), ctx)
            ui.progress_changed()
            if result is not None:
                st.session_state.pop("ex4_answer", None)
                st.rerun(scope="app")
        return instance.state in CHANGING

    ui.live_panel("ex4_instance", 3, render)
    with st.expander(_("Console output (the start-up script's log)"), expanded=False, key="ex4_console_expander"):
        if st.button(_("Refresh console output"), key="ex4_console_refresh") or "ex4_console" in st.session_state:
            try:
                st.session_state["ex4_console"] = instance_console(ctx)
            except Exception as exc:
                ui.show_error(exc, ctx)
        st.code(st.session_state.get("ex4_console") or _("(no output yet)"), language="text")


def request_form(ctx) -> None:
    st.subheader(_("Ask the API"))
    try:
        endpoint = instance_endpoint(ctx)
    except Exception as exc:
        ui.show_error(exc, ctx)
        return
    if endpoint is None:
        st.info(_("The API has no address yet: launch the instance (step 4) and wait for it (step 5)."))
        return
    st.markdown(_("API at `{endpoint}` · [interactive documentation]({endpoint}/docs)").format(endpoint=endpoint))
    with st.form("ex4_form"):
        record = ui.record_fields(SAMPLE_RECORD, feature_choices(ctx.workdir / "course" / "model.onnx"), "ex4_f")
        sent = st.form_submit_button(_("Predict"), type="primary")
    if sent:
        body = {f: (int(v) if f in NUMERIC_FEATURES else v) for f, v in record.items()}
        try:
            st.session_state["ex4_answer"] = (body, call_predict(ctx, body))
        except Exception as exc:
            st.session_state.pop("ex4_answer", None)
            ui.show_error(exc, ctx)
    answer = st.session_state.get("ex4_answer")
    if answer:
        body, call = answer
        if call.status == 200:
            st.success(_("**{label}** — probability of >50K {probability} ({ms} ms)").format(
                label=call.body["label"], probability=i18n.number(call.body["probability"], 2),
                ms=i18n.number(call.latency_ms, 0)), icon=":material/task_alt:")
        else:
            st.error(_("HTTP {status} ({ms} ms)").format(status=call.status, ms=i18n.number(call.latency_ms, 0)),
                     icon=":material/error:")
        left, right = st.columns(2)
        left.caption(_("Request"))
        left.code(json.dumps(body, indent=2), language="json")
        right.caption(_("Response"))
        right.code(json.dumps(call.body, indent=2), language="json")


def manual_path(ctx) -> None:
    st.subheader(_("By hand, as the handout does it (corrected)"))
    st.caption(_("The same deployment over SSH: the key readable by you only, Ubuntu 24.04, Docker's restart "
                 "policy, and port 8000 open to your address only.")
               + (" " + _("The sandbox has no SSH: these commands are for a real AWS account.")
                  if ctx.aws.target.is_sandbox else ""))
    try:
        st.code(manual_commands(ctx), language="bash")
    except Exception as exc:
        ui.show_error(exc, ctx)


def extra(ctx) -> None:
    instance_panel(ctx)
    st.divider()
    request_form(ctx)
    st.divider()
    manual_path(ctx)


ui.exercise_page(EXERCISE, extra=extra)
