"""S3 browser: every bucket the credentials can see."""
import streamlit as st

from backend.i18n import _
from pages import ui

st.title(_("S3 browser"))
ctx = ui.require_connection()
ui.s3_browser(ctx, key="browser")
