"""The lab guide (docs/), shown in the dashboard: what each exercise teaches, the handout's mistakes and the fixes."""
import streamlit as st

from backend.config import PROJECT_ROOT

GUIDE = PROJECT_ROOT / "docs" / "lab-guide.md"

heading, _, body = GUIDE.read_text(encoding="utf-8").partition("\n")
st.title(heading.lstrip("# ").strip())
st.markdown(body)
