"""Setup: where the lab runs (sandbox or a real account) and the student's service name."""
import streamlit as st

from backend.aws import Aws, list_profiles
from backend.config import DEFAULT_REGION
from backend.names import SVC_RULE, InvalidServiceName, propose_svc
from backend.sandbox_control import read_log_tail, start_sandbox_process
from backend.settings import save_settings
from pages import ui

REGIONS = ["eu-central-1", "eu-west-1", "eu-south-1", "eu-west-3", "us-east-1", "us-west-2"]

st.title("Setup")
current = ui.settings()
if st.session_state.get("lab_settings_problem") and not current.svc:
    st.error(st.session_state["lab_settings_problem"], icon=":material/report:")

st.subheader("Where the lab runs")
kind = st.radio("Target", ["sandbox", "aws"], index=0 if current.kind == "sandbox" else 1, horizontal=True,
                format_func={"sandbox": "Sandbox (local, no account needed)", "aws": "My AWS account"}.get,
                key="setup_kind")
profile = None
if kind == "aws":
    profiles = list_profiles()
    options = ["(default credential chain)"] + profiles
    chosen = st.selectbox("AWS profile", options,
                          index=options.index(current.profile) if current.profile in options else 0,
                          help="Profiles come from ~/.aws/config and ~/.aws/credentials (`aws configure --profile NAME`).",
                          key="setup_profile")
    profile = None if chosen == options[0] else chosen
    st.warning("A real account bills for what you create. Each exercise says what it costs before it creates it, "
               "and every page has a clean-up button.", icon=":material/payments:")
region = st.selectbox("Region", REGIONS, index=REGIONS.index(current.region) if current.region in REGIONS else 0,
                      key="setup_region")

st.subheader("Your service name")
st.caption(f"Names all your resources (`model-<name>`, `batch-lambda-<name>`, …). Rule: {SVC_RULE}. "
           "Bucket names are global on AWS, so keep the random suffix.")
if "setup_svc" not in st.session_state:
    st.session_state["setup_svc"] = current.svc
if st.button("Propose a new name", key="setup_propose"):
    st.session_state["setup_svc"] = propose_svc()
svc = st.text_input("Service name", key="setup_svc").strip()

if st.button("Save settings", type="primary", key="setup_save"):
    try:
        new = current.with_changes(kind=kind, profile=profile, region=region or DEFAULT_REGION, svc=svc)
    except InvalidServiceName as exc:
        st.error(str(exc))
    else:
        save_settings(new)
        st.session_state["lab_settings"] = new
        current = new
        st.success(f"Saved: {new.svc} on {new.target().describe()}.")

if current.svc:
    st.caption(f"Your lab folder (downloads, keys; every code snippet runs from it): "
               f"`{ui.lab_context().workdir}`")

st.subheader("Connection")
target = current.target()
identity, error = ui.identity_or_error(target)
if identity is not None:
    st.success(f"Connected to {target.describe()} as `{identity.arn}` (account {identity.account}).",
               icon=":material/cloud_done:")
    progress = ui.lab_progress()
    if progress:
        done = [n for n, p in progress.items() if p.status == "done"]
        started = [n for n, p in progress.items() if p.status == "started"]
        todo = [n for n, p in sorted(progress.items()) if p.status != "done"]
        st.markdown(f"**Your progress:** {len(done)} of {len(progress)} exercises done"
                    + (f", {', '.join(map(str, started))} started" if started else "")
                    + (f" · next: exercise {todo[0]}" if todo else " · all done: try the prediction playground"))
        st.progress(len(done) / len(progress))
    nxt = next((n for n, p in sorted(progress.items()) if p.status != "done"), 1) if progress else 1
    ui.page_link(ui.EXERCISE_PAGES[nxt], f"Go to exercise {nxt}", ":material/arrow_forward:")
else:
    st.error(error.message, icon=":material/cloud_off:")
    if target.is_sandbox and error.code == "SandboxNotRunning":
        if st.button("Start the sandbox", key="setup_start_sandbox"):
            started = ui.run_with_status("Starting the sandbox",
                                         lambda progress: start_sandbox_process(target.endpoint_url, progress))
            if started is None:
                st.code(read_log_tail(), language="text")
            else:
                st.rerun()

if target.is_sandbox:
    with st.expander("Use the sandbox from your own shell"):
        st.caption("The sandbox answers only requests signed with its own key: a secret of this machine's "
                   "sandbox, not an AWS credential. Paste this line in a terminal, then the AWS CLI and your "
                   "scripts reach the sandbox like AWS (`make run` prints it too).")
        st.code(Aws(target).shell_exports() + "\naws s3 ls", language="bash")
