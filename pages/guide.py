"""The lab guide (docs/), shown in the dashboard: what each exercise teaches, the handout's mistakes and the fixes."""
import streamlit as st

from backend import i18n
from backend.config import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def guide_file(language: str):
    """The guide in `language` (docs/lab-guide.it.md), else the English one (docs/lab-guide.md)."""
    translated = DOCS / f"lab-guide.{language}.md"
    return translated if language != i18n.DEFAULT_LANGUAGE and translated.exists() else DOCS / "lab-guide.md"


heading, _newline, body = guide_file(i18n.current()).read_text(encoding="utf-8").partition("\n")
st.title(heading.lstrip("# ").strip())
st.markdown(body)
