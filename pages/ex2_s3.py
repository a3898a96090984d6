"""Exercise 2: S3 with boto3."""
import streamlit as st

from backend.config import COURSE_BUCKET
from backend.exercises import get_exercise
from backend.i18n import _
from pages import ui


def browse(ctx):
    st.subheader(_("What is in S3"))
    ui.s3_browser(ctx, key="ex2_browser", buckets=[ctx.names.data_bucket, COURSE_BUCKET])


ui.exercise_page(get_exercise(2), extra=browse)
