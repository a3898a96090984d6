"""Setup: where the lab runs (sandbox or a real account) and the student's service name."""
import streamlit as st

from backend.aws import Aws, list_profiles
from backend.config import DEFAULT_REGION
from backend.i18n import _, ngettext
from backend.names import SVC_RULE, InvalidServiceName, propose_svc
from backend.sandbox_control import read_log_tail, start_sandbox_process
from backend.settings import save_settings
from pages import ui

REGIONS = ["eu-central-1", "eu-west-1", "eu-south-1", "eu-west-3", "us-east-1", "us-west-2"]

st.title(_("Setup"))
current = ui.settings()
if st.session_state.get("lab_settings_problem") and not current.svc:
    st.error(st.session_state["lab_settings_problem"], icon=":material/report:")

st.subheader(_("Where the lab runs"))
TARGETS = {"sandbox": _("Sandbox (local, no account needed)"), "aws": _("My AWS account")}
kind = st.radio(_("Target"), ["sandbox", "aws"], index=0 if current.kind == "sandbox" else 1, horizontal=True,
                format_func=TARGETS.get, key="setup_kind")
profile = None
if kind == "aws":
    profiles = list_profiles()
    options = [None] + profiles  # None: the default credential chain (its label follows the language)
    profile = st.selectbox(_("AWS profile"), options,
                           index=options.index(current.profile) if current.profile in options else 0,
                           format_func=lambda name: name or _("(default credential chain)"),
                           help=_("Profiles come from ~/.aws/config and ~/.aws/credentials "
                                  "(`aws configure --profile NAME`)."),
                           key="setup_profile")
    st.warning(_("A real account bills for what you create. Each exercise says what it costs before it creates it, "
                 "and every page has a clean-up button."), icon=":material/payments:")
region = st.selectbox(_("Region"), REGIONS, index=REGIONS.index(current.region) if current.region in REGIONS else 0,
                      key="setup_region")

st.subheader(_("Your service name"))
st.caption(_("Names all your resources (`model-<name>`, `batch-lambda-<name>`, …). Rule: {rule}. "
             "Bucket names are global on AWS, so keep the random suffix.").format(rule=ui.tr(SVC_RULE)))
if "setup_svc" not in st.session_state:
    st.session_state["setup_svc"] = current.svc
if st.button(_("Propose a new name"), key="setup_propose"):
    st.session_state["setup_svc"] = propose_svc()
svc = st.text_input(_("Service name"), key="setup_svc").strip()

if st.button(_("Save settings"), type="primary", key="setup_save"):
    try:
        new = current.with_changes(kind=kind, profile=profile, region=region or DEFAULT_REGION, svc=svc)
    except InvalidServiceName as exc:
        st.error(str(exc))
    else:
        save_settings(new)
        st.session_state["lab_settings"] = new
        st.session_state["setup_saved"] = _("Saved: {svc} on {target}.").format(svc=new.svc,
                                                                               target=new.target().describe())
        st.rerun()  # the sidebar (name, menu marks) was drawn with the old settings
if "setup_saved" in st.session_state:
    st.success(st.session_state.pop("setup_saved"))

if current.svc:
    st.caption(_("Your lab folder (downloads, keys; every code snippet runs from it): `{folder}`")
               .format(folder=ui.lab_context().workdir))

st.subheader(_("Connection"))
target = current.target()
identity, error = ui.identity_or_error(target)
if identity is not None:
    st.success(_("Connected to {target} as `{arn}` (account {account}).").format(
        target=target.describe(), arn=identity.arn, account=identity.account),
               icon=":material/cloud_done:")
    progress = ui.lab_progress()
    if progress:
        done = [n for n, p in progress.items() if p.status == "done"]
        started = [n for n, p in progress.items() if p.status == "started"]
        todo = [n for n, p in sorted(progress.items()) if p.status != "done"]
        summary = _("**Your progress:** {done} of {total} exercises done").format(done=len(done), total=len(progress))
        if started:
            summary += ", " + ngettext("exercise {numbers} started", "exercises {numbers} started",
                                        len(started)).format(numbers=", ".join(map(str, started)))
        after = (_("next: exercise {number}").format(number=todo[0]) if todo
                 else _("all done: try the prediction playground"))
        st.markdown(f"{summary} · {after}")
        st.progress(len(done) / len(progress))
    nxt = next((n for n, p in sorted(progress.items()) if p.status != "done"), 1) if progress else 1
    ui.page_link(ui.EXERCISE_PAGES[nxt], _("Go to exercise {number}").format(number=nxt), ":material/arrow_forward:")
else:
    st.error(error.message, icon=":material/cloud_off:")
    if target.is_sandbox and error.code == "SandboxNotRunning":
        if st.button(_("Start the sandbox"), key="setup_start_sandbox"):
            started = ui.run_with_status(_("Starting the sandbox"),
                                         lambda progress: start_sandbox_process(target.endpoint_url, progress))
            if started is None:
                st.code(read_log_tail(), language="text")
            else:
                st.rerun()

if target.is_sandbox:
    with st.expander(_("Use the sandbox from your own shell")):
        st.caption(_("The sandbox answers only requests signed with its own key: a secret of this machine's "
                     "sandbox, not an AWS credential. Paste this line in a terminal, then the AWS CLI and your "
                     "scripts reach the sandbox like AWS (`make run` prints it too)."))
        st.code(Aws(target).shell_exports() + "\naws s3 ls", language="bash")
