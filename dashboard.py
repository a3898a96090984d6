"""Streamlit entry point: the Student and Instructor menus (st.navigation)."""
import streamlit as st

from backend.logconfig import DASHBOARD_LOG, setup_logging
from backend import i18n
from backend.i18n import _
from pages import ui

setup_logging(log_file=DASHBOARD_LOG)  # once per process: Streamlit re-runs this script on every click

current = ui.settings()
i18n.set_language(ui.language())  # every string of this run is in this language (the tab's title too)

st.set_page_config(page_title=_("MLOps on AWS · lab"), page_icon=":material/cloud:", layout="wide")
progress = ui.lab_progress()  # from live checks, cached for seconds; {} when not connected


def exercise_page(number: int, path: str, title: str, icon: str, url_path: str) -> st.Page:
    """An exercise's menu entry, marked done / started from the live checks."""
    status = progress.get(number)
    mark = {"done": " ✓", "started": " …"}.get(status.status if status else "", "")
    return st.Page(path, title=f"{number} · {title}{mark}", url_path=url_path,
                   icon=ui.PROGRESS_ICONS.get(status.status, icon) if status and status.status != "todo" else icon)


student = [
    st.Page("pages/setup.py", title=_("Setup"), icon=":material/settings:", url_path="setup", default=True),
    exercise_page(1, "pages/ex1_credentials.py", _("Credentials"), ":material/key:", "credentials"),
    exercise_page(2, "pages/ex2_s3.py", _("S3 with boto3"), ":material/database:", "s3"),
    exercise_page(3, "pages/ex3_lambda.py", _("Lambda batch"), ":material/bolt:", "lambda"),
    exercise_page(4, "pages/ex4_ec2.py", _("API on EC2"), ":material/dns:", "ec2"),
    exercise_page(5, "pages/ex5_sagemaker.py", _("SageMaker endpoint"), ":material/rocket_launch:", "sagemaker"),
    st.Page("pages/playground.py", title=_("Prediction playground"), icon=":material/science:", url_path="playground"),
    st.Page("pages/s3_browser.py", title=_("S3 browser"), icon=":material/folder_open:", url_path="s3-browser"),
    st.Page("pages/guide.py", title=_("Lab guide"), icon=":material/menu_book:", url_path="guide"),
]
instructor = [
    st.Page("pages/instructor_overview.py", title=_("Class overview"), icon=":material/groups:", url_path="class"),
    st.Page("pages/course_files.py", title=_("Course files"), icon=":material/inventory_2:", url_path="course-files"),
]
page = st.navigation({_("Student"): student, _("Instructor"): instructor})

with st.sidebar:
    ui.language_switch()
    target = current.target()
    identity, error = ui.identity_or_error(target)
    st.caption(f"**{current.svc}** · {target.describe()}")
    if error is not None:
        red = f":red[{error.message}]"  # markup around a sentence already in the page's language
        st.caption(red)

# Which page this run shows, and whether it was just opened (pages that show a snapshot read it again then).
st.session_state["page_opened"] = st.session_state.get("current_page") != page.url_path
st.session_state["current_page"] = page.url_path
page.run()
