"""Instructor: the course files — build them, see the model's metrics, publish them to a bucket."""
import json

import streamlit as st

from backend.artifacts import build_course
from backend.config import COURSE_BUCKET, COURSE_DIR, COURSE_FILES
from backend.course import publish_course
from backend import i18n
from backend.i18n import _
from pages import ui

st.title(_("Course files"))
st.markdown(_("The five files students download in exercise 2, built from the UCI Adult data into `{folder}`. "
              "The sandbox seeds its course bucket `{bucket}` with them; on a real account publish them once.")
            .format(folder=COURSE_DIR, bucket=COURSE_BUCKET))

if st.button(_("Build (or verify) the course files"), key="course_build"):
    report = ui.run_with_status(_("Building course files"), lambda progress: build_course(COURSE_DIR, on_progress=progress))
    if report is not None:
        st.session_state["course_report"] = report

report = st.session_state.get("course_report")
metrics_file = COURSE_DIR / "metrics.json"
present = [(name, (COURSE_DIR / name).stat().st_size) for name in COURSE_FILES if (COURSE_DIR / name).exists()]
if present:
    st.dataframe({_("file"): [name for name, size in present], _("size (bytes)"): [size for name, size in present]},
                 hide_index=True)
else:
    st.info(_("Not built yet."))
if metrics_file.exists():
    metrics = json.loads(metrics_file.read_text())
    left, middle, right = st.columns(3)
    left.metric(_("Test accuracy"), i18n.number(metrics["accuracy"], 3))
    middle.metric(_("ROC AUC"), i18n.number(metrics["roc_auc"], 3))
    right.metric(_("Model version"), metrics.get("model_version", "?"))
    st.caption(_("{classifier} trained on {n_train} rows of UCI Adult, tested on {n_test}.").format(
        classifier=metrics.get("classifier", ""), n_train=i18n.number(metrics.get("n_train", 0)),
        n_test=i18n.number(metrics.get("n_test", 0))))

st.subheader(_("Publish to a bucket"))
ctx = ui.require_connection()
bucket = st.text_input(_("Bucket"), value=COURSE_BUCKET, key="course_bucket")
if st.button(_("Publish"), key="course_publish", disabled=len(present) < len(COURSE_FILES)):
    result = ui.run_with_status(_("Publishing to {bucket}").format(bucket=bucket),
                                lambda progress: publish_course(ctx.aws.target, bucket, COURSE_DIR, progress), ctx)
    if result is not None:
        st.success(_("s3://{bucket} ({region}) holds the course files.").format(bucket=result["bucket"],
                                                                              region=result["region"]))
