"""The class overview in a real browser: a seeded class, its stuck students, one student's dry run and cleanup."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from backend import monitor
from backend.aws import Aws, Target

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CLASS_SIZE = 30
URL_PATH = "class"


@pytest.fixture
def seeded_class(request, monkeypatch):
    """The class the CLI's `monitor seed-class --students 30` makes, in the browser tests' sandbox."""
    if "pages/instructor_overview.py" not in (ROOT / "dashboard.py").read_text():
        pytest.skip("the class overview is not in dashboard.py's navigation yet")
    _, env = request.getfixturevalue("app_env")
    # The sandbox answers only requests signed with its own keys, kept in its data folder.
    monkeypatch.setenv("MLOPS_LAB_HOME", env["MLOPS_LAB_HOME"])
    return monitor.seed_class(Aws(Target.sandbox(endpoint_url=env["AWS_ENDPOINT_URL"])), CLASS_SIZE)


def stage(name: str) -> list[str]:
    return [svc for svc, s in monitor.seed_students(CLASS_SIZE) if s == name]


def choose(page, label: str, option: str) -> None:
    # A long list is virtualised: type to filter it, as a user would.
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()


def test_find_stuck_students_and_clean_up_one(seeded_class, page, base_url):
    page.goto(f"{base_url}/{URL_PATH}")
    expect(page.get_by_role("heading", name="Class overview")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Last refreshed at \d\d:\d\d:\d\d"))).to_be_visible()
    students = page.get_by_test_id("stMetric").filter(has_text="Students").get_by_test_id("stMetricValue")
    expect(students).to_have_text(re.compile(r"^\d+$"))
    assert int(students.inner_text()) >= CLASS_SIZE
    stuck = page.get_by_test_id("stMetric").filter(has_text="Stuck").get_by_test_id("stMetricValue")
    expect(stuck).not_to_have_text("0")

    # the stuck filter leaves the students on the handout's policy (at least: sandbox compute may add more)
    page.get_by_text("Stuck only").click()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()

    # drill-down: the real checks of a stuck student say why
    stuck_student = stage("ex3-stuck-policy")[0]
    choose(page, "Student", stuck_student)
    page.get_by_role("button", name=f"Run {stuck_student}'s checks").click()
    expect(page.get_by_text(re.compile(r"Exercise 3: \d of \d+ checks pass"))).to_be_visible(timeout=60_000)

    # cleanup: dry run first, then confirm
    victim = stage("ex4-running")[0]
    page.get_by_text("Everything of one student").click()
    choose(page, "Student to clean up", victim)
    page.get_by_role("button", name="Dry run").click()
    expect(page.get_by_text(re.compile(r"\d+ to delete, \d+ left alone"))).to_be_visible()
    apply = page.get_by_role("button", name="Clean up", exact=True)
    expect(apply).to_be_disabled()
    page.get_by_text(re.compile(r"Yes, carry out these \d+ actions")).click()
    apply.click()
    expect(page.get_by_text(re.compile(r"Cleanup finished: \d+ done, 0 failed"))).to_be_visible(timeout=60_000)
