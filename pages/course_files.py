"""Instructor: the course files — build them, see the model's metrics, publish them to a bucket."""
import json

import streamlit as st

from backend.artifacts import build_course
from backend.config import COURSE_BUCKET, COURSE_DIR, COURSE_FILES
from backend.course import publish_course
from pages import ui

st.title("Course files")
st.markdown(f"The five files students download in exercise 2, built from the UCI Adult data into `{COURSE_DIR}`. "
            f"The sandbox seeds its course bucket `{COURSE_BUCKET}` with them; on a real account publish them once.")

if st.button("Build (or verify) the course files", key="course_build"):
    report = ui.run_with_status("Building course files", lambda progress: build_course(COURSE_DIR, on_progress=progress))
    if report is not None:
        st.session_state["course_report"] = report

report = st.session_state.get("course_report")
metrics_file = COURSE_DIR / "metrics.json"
present = [(name, (COURSE_DIR / name).stat().st_size) for name in COURSE_FILES if (COURSE_DIR / name).exists()]
if present:
    st.dataframe({"file": [n for n, _ in present], "size (bytes)": [s for _, s in present]}, hide_index=True)
else:
    st.info("Not built yet.")
if metrics_file.exists():
    metrics = json.loads(metrics_file.read_text())
    left, middle, right = st.columns(3)
    left.metric("Test accuracy", f"{metrics['accuracy']:.3f}")
    middle.metric("ROC AUC", f"{metrics['roc_auc']:.3f}")
    right.metric("Model version", metrics.get("model_version", "?"))
    st.caption(f"{metrics.get('classifier', '')} trained on {metrics.get('n_train', 0):,} rows of UCI Adult, "
               f"tested on {metrics.get('n_test', 0):,}.")

st.subheader("Publish to a bucket")
ctx = ui.require_connection()
bucket = st.text_input("Bucket", value=COURSE_BUCKET, key="course_bucket")
if st.button("Publish", key="course_publish", disabled=len(present) < len(COURSE_FILES)):
    result = ui.run_with_status(f"Publishing to {bucket}",
                                lambda progress: publish_course(ctx.aws.target, bucket, COURSE_DIR, progress), ctx)
    if result is not None:
        st.success(f"s3://{result['bucket']} ({result['region']}) holds the course files.")
