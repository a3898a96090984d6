"""The entrypoint: both menus, and every page renders from it without an exception."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = re.findall(r'"(pages/[a-z0-9_]+\.py)"', (ROOT / "dashboard.py").read_text())


def test_every_page_file_is_in_the_navigation():
    files = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py") if p.name not in ("__init__.py", "ui.py")}
    assert files == set(PAGES)


def test_opens_on_setup_with_the_student_and_target_in_the_sidebar(sandbox_settings):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Setup"
    assert sandbox_settings.svc in at.sidebar.caption[0].value and "sandbox" in at.sidebar.caption[0].value


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_from_the_entrypoint(sandbox_settings, page):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title, f"{page} shows no title"


def test_the_menu_marks_exercises_from_live_checks(sandbox_settings):
    """Nothing done: no marks; after exercise 2's bucket exists: exercise 2 is started (from the account, not clicks)."""
    from backend.aws import Aws
    from backend.exercises import get_exercise
    from backend.lab import LabContext

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    ctx = LabContext(Aws(sandbox_settings.target()), sandbox_settings.svc)
    get_exercise(2).step("bucket").run(ctx, lambda _: None)
    from pages import ui
    ui.progress_changed()
    at.run()
    progress = ui.lab_progress()
    assert progress[2].status == "started" and progress[1].status == "done"
