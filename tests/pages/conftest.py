from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]

TIMEOUT = 60


@pytest.fixture
def page_app():
    """Return a function that builds an AppTest for a page script and runs it once."""
    def make(path: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT)
        at.run()
        assert not at.exception, at.exception
        return at
    return make


def page_texts(at: AppTest) -> str:
    """Every message the page shows (success, info, error, warning, markdown), joined."""
    parts = [e.value for e in (*at.success, *at.info, *at.error, *at.warning, *at.markdown, *at.caption)]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def texts():
    return page_texts
