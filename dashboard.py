"""Streamlit entry point: the Student and Instructor menus (st.navigation)."""
import streamlit as st

from pages import ui

st.set_page_config(page_title="MLOps on AWS · lab", page_icon=":material/cloud:", layout="wide")

student = [
    st.Page("pages/setup.py", title="Setup", icon=":material/settings:", url_path="setup", default=True),
    st.Page("pages/ex1_credentials.py", title="1 · Credentials", icon=":material/key:", url_path="credentials"),
    st.Page("pages/ex2_s3.py", title="2 · S3 with boto3", icon=":material/database:", url_path="s3"),
    st.Page("pages/ex3_lambda.py", title="3 · Lambda batch", icon=":material/bolt:", url_path="lambda"),
    st.Page("pages/ex4_ec2.py", title="4 · API on EC2", icon=":material/dns:", url_path="ec2"),
    st.Page("pages/ex5_sagemaker.py", title="5 · SageMaker endpoint", icon=":material/rocket_launch:",
            url_path="sagemaker"),
    st.Page("pages/playground.py", title="Prediction playground", icon=":material/science:", url_path="playground"),
    st.Page("pages/s3_browser.py", title="S3 browser", icon=":material/folder_open:", url_path="s3-browser"),
]
instructor = [
    st.Page("pages/instructor_overview.py", title="Class overview", icon=":material/groups:", url_path="class"),
    st.Page("pages/course_files.py", title="Course files", icon=":material/inventory_2:", url_path="course-files"),
]
page = st.navigation({"Student": student, "Instructor": instructor})

with st.sidebar:
    current = ui.settings()
    target = current.target()
    identity, error = ui.identity_or_error(target)
    st.caption(f"**{current.svc}** · {target.describe()}")
    if error is not None:
        st.caption(f":red[{error.message}]")

page.run()
