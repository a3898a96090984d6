"""S3 browser: every bucket the credentials can see."""
import streamlit as st

from pages import ui

st.title("S3 browser")
ctx = ui.require_connection()
ui.s3_browser(ctx, key="browser")
