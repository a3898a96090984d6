"""The whole lab as one student does it, in a real browser: Setup, exercises 1-5 by clicking every step,
the playground, the class overview, then clean-up. After every action the page must show only what is true:
the step's plan says there is nothing left to do, checks and menu marks follow the account, and once the
resources are gone no page still claims them (no success of a deleted resource, no agreement of gone targets,
no student in the overview).

The student moves between pages with the sidebar, as a user does: one browser session throughout, so what a
page remembers in its session is put to the test too.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from backend.names import propose_svc

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
QUICK_MS = 60_000  # a rerun of a page that reads the account (slow machine, other tests running)
LAMBDA_MS = 180_000  # a Lambda run: a fresh interpreter, onnxruntime and the model loaded
EC2_MS = 240_000  # the instance's start-up script and uvicorn
SAGEMAKER_MS = 300_000  # MLflow's scoring server starting for the endpoint
SMALL_ROWS = 40


# ---- what the page shows ------------------------------------------------------------------------------

def settled(page: Page) -> None:
    """Wait until the script run is over and no element of the previous run is left (faded, "stale").

    Call it after a positive sign that the run started, before asserting that something is *not* shown:
    a stale element is still in the page until the run that replaces it ends.
    """
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                            timeout=QUICK_MS)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=QUICK_MS)


def live(page: Page) -> Locator:
    """What the current run shows: an element of the previous run still on screen (faded, "stale") is left out,
    so that a claim is read from the page as it is now."""
    return page.locator("[data-testid='stElementContainer'][data-stale='false']")


def menu(page: Page, number: int) -> Locator:
    """The sidebar's entry of an exercise ("3 · Lambda batch", marked " ✓" done or " …" started)."""
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(rf"^{number} · "))


def go(page: Page, number_or_title: int | str, heading: str) -> None:
    """Open a page from the sidebar, as a student does (the session, and what it remembers, stays)."""
    link = (menu(page, number_or_title) if isinstance(number_or_title, int)
            else page.get_by_test_id("stSidebarNav").get_by_role("link", name=number_or_title, exact=True))
    link.click()
    expect(live(page).get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=QUICK_MS)
    settled(page)


def plan_caption(page: Page, index: int, title: str) -> Locator:
    """The dry-run line under a step's heading ("Will create: …" / "Nothing to do: …")."""
    heading = live(page).filter(
        has=page.get_by_role("heading", name=f"Step {index} · {title}", exact=True))
    return heading.locator("xpath=following-sibling::*[@data-testid='stElementContainer'][@data-stale='false']"
                           "[.//*[@data-testid='stCaptionContainer']][1]")


def checks_line(page: Page) -> Locator:
    return live(page).get_by_text(re.compile(r"^\d+ of \d+ checks pass$"))


def expect_checks(page: Page, passed: int, total: int, timeout: float = QUICK_MS) -> None:
    expect(checks_line(page)).to_have_text(f"{passed} of {total} checks pass", timeout=timeout)


def errors(page: Page) -> Locator:
    return page.get_by_test_id("stMain").get_by_test_id("stAlertContentError")


def step(page: Page, index: int, title: str, outcome: str, timeout: float = QUICK_MS) -> None:
    """Click a step; its result shows after the page reruns, and the plan then has nothing left to do."""
    page.get_by_role("button", name=title, exact=True).click()
    expect(live(page).get_by_text(re.compile(outcome)).first).to_be_visible(timeout=timeout)
    expect(plan_caption(page, index, title)).to_contain_text("Nothing to do:", timeout=QUICK_MS)
    settled(page)


def do_steps(page: Page, steps: list[tuple[str, str, float]]) -> None:
    for index, (title, outcome, timeout) in enumerate(steps, 1):
        step(page, index, title, outcome, timeout)


def expect_done(page: Page, number: int, total_checks: int) -> None:
    """Every check passes, no red anywhere on the page, the menu marks the exercise done."""
    expect_checks(page, total_checks, total_checks)
    settled(page)
    expect(errors(page)).to_have_count(0)
    expect(menu(page, number)).to_contain_text("✓")


def clean_up(page: Page, number: int, steps: list[tuple[str, str, float]], total_checks: int) -> None:
    """The exercise's "Clean up this exercise": the confirmation names the account; then nothing of it is
    claimed any more: no step's success, every creating step plans to create again, the checks fail, no mark."""
    page.get_by_text("Clean up this exercise", exact=True).click()
    confirm = page.get_by_role("checkbox", name=re.compile(rf"^Yes, delete (these|this) \d+ resources? from account {ACCOUNT} "))
    expect(confirm).to_be_attached(timeout=QUICK_MS)
    delete = page.get_by_role("button", name="Delete", exact=True)
    expect(delete).to_be_disabled()
    # A rerun that changes what would be deleted (an instance finishing its termination) clears the
    # confirmation on purpose: the student confirms the list as it is. Tick again then, as a user would.
    for attempt in range(3):
        live(page).get_by_text(re.compile(r"^Yes, delete (these|this) \d+ resources? from account")).click()
        try:
            expect(confirm).to_be_checked(timeout=QUICK_MS)
            break
        except AssertionError:
            if attempt == 2:
                raise
            settled(page)
    expect(delete).to_be_enabled()
    delete.click()
    expect(live(page).get_by_text(re.compile(r"^Clean-up: \d+ deleted, 0 left alone, 0 failed\.$"))).to_be_visible(
        timeout=EC2_MS)
    expect(live(page).get_by_text("Nothing of this exercise exists for your service name.")).to_be_visible()
    settled(page)
    for _title, outcome, _timeout in steps:
        expect(page.get_by_text(re.compile(outcome))).to_have_count(0)
    passed = int(checks_line(page).inner_text().split()[0])
    assert passed < total_checks, f"exercise {number}: {passed} of {total_checks} checks still pass after clean-up"
    expect(errors(page).first).to_be_visible()
    expect(menu(page, number)).not_to_contain_text("✓")
    expect(menu(page, number)).not_to_contain_text("…")


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of a (virtualised) select box by typing it, as a user would with a long list."""
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()


# ---- the lab ------------------------------------------------------------------------------------------

EX2 = [("Show the session's region", r"This session works in region eu-central-1", QUICK_MS),
       ("Download the course files", r"Downloaded layer_file\.zip", QUICK_MS),
       ("Create your bucket", r"Created bucket data-", QUICK_MS),
       ("Upload input_batch.csv", r"Uploaded input_batch\.csv", QUICK_MS)]
EX3 = [("Create the three buckets", r"Created model-", QUICK_MS),
       ("Create the policy", r"Created policy batch-lambda-", QUICK_MS),
       ("Create the role", r"Created role batch-lambda-", QUICK_MS),
       ("Publish the layer", r"Published batch-runtime-", LAMBDA_MS),
       ("Create the function", r"Created function batch-lambda-", LAMBDA_MS),
       ("Add the S3 trigger", r"now trigger batch-lambda-", QUICK_MS),
       ("Upload input_batch.csv and wait", r"Scored 1,000 rows", LAMBDA_MS)]
EX4 = [("Create the key pair", r"Created key pair ec2-", QUICK_MS),
       ("Create the security group", r"Created security group ec2-", QUICK_MS),
       ("Upload the app bundle", r"Uploaded the app bundle", QUICK_MS),
       ("Launch the instance", r"Launched i-", EC2_MS),
       ("Wait for the API", r"The API answers at http://127\.0\.0\.1:", EC2_MS),
       ("Send the sample record", r"Predicted (>50K|<=50K) \(probability of >50K", QUICK_MS)]
EX5 = [("Push the serving image", r"Recorded the push of mlflow-pyfunc|already in ECR", QUICK_MS),
       ("Create the execution role", r"Created role sagemaker-", QUICK_MS),
       ("Get the MLflow model", r"Unpacked mlflow_model\.zip", QUICK_MS),
       ("Deploy the endpoint", r"Created endpoint income-prediction-.*InService", SAGEMAKER_MS),
       ("Query the endpoint", r"The endpoint answered 5 predictions in \d+ ms; all agree with the local model", QUICK_MS)]


def setup(page: Page, base_url: str, svc: str) -> None:
    page.goto(base_url)
    expect(page.get_by_role("heading", name="Setup", exact=True)).to_be_visible(timeout=QUICK_MS)
    name = page.get_by_role("textbox", name="Service name")
    name.fill(svc)
    name.press("Enter")
    page.get_by_role("button", name="Save settings").click()
    expect(live(page).get_by_text(f"Saved: {svc}", exact=False)).to_be_visible()
    settled(page)
    # The whole page is about the new name, the sidebar too.
    expect(page.get_by_test_id("stSidebar")).to_contain_text(svc)
    # Exercise 1's checks pass with any valid credentials: it is done before any click; nothing else is.
    expect(live(page).get_by_text(re.compile(r"Your progress: 1 of 5 exercises done"))).to_be_visible(timeout=QUICK_MS)
    expect(menu(page, 1)).to_contain_text("✓")
    for number in (2, 3, 4, 5):
        expect(menu(page, number)).not_to_contain_text("✓")
        expect(menu(page, number)).not_to_contain_text("…")


def exercise_1(page: Page) -> None:
    go(page, 1, "Exercise 1 · Credentials")
    step(page, 1, "Ask AWS who you are", rf"Credentials work: account {ACCOUNT}")
    expect_done(page, 1, 2)


def exercise_2(page: Page) -> None:
    go(page, 2, "Exercise 2 · S3 with boto3")
    expect(plan_caption(page, 3, "Create your bucket")).to_contain_text("Will create:")
    do_steps(page, EX2)
    expect_done(page, 2, 4)


def exercise_3(page: Page, tmp_path: Path) -> None:
    go(page, 3, "Exercise 3 · S3-triggered Lambda")
    expect(live(page).get_by_text("No invocations logged yet: the function has not run.")).to_be_visible()
    do_steps(page, EX3)
    expect_done(page, 3, 8)
    # a file of the student's own, uploaded and scored by the function
    small = tmp_path / "my_rows.csv"
    lines = (ROOT / "build" / "course" / "input_batch.csv").read_text().splitlines()[:SMALL_ROWS + 1]
    small.write_text("\n".join(lines) + "\n")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(small))
    page.get_by_role("button", name="Score the uploaded file").click()
    expect(live(page).get_by_text(re.compile(rf"^{SMALL_ROWS} predictions for my_rows\.csv in"))).to_be_visible(
        timeout=LAMBDA_MS)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=QUICK_MS)
    page.get_by_role("button", name="Refresh logs").click()
    settled(page)
    succeeded = page.get_by_test_id("stAlertContentSuccess").filter(has_text=re.compile(r"Succeeded · \d+ ms"))
    expect(succeeded.first).to_be_visible(timeout=QUICK_MS)
    expect(live(page).get_by_text(re.compile(r"^\d+ invocations? in the latest log lines, 0 failed"))).to_be_visible()
    expect_done(page, 3, 8)


def exercise_4(page: Page) -> None:
    go(page, 4, "Exercise 4 · FastAPI /predict on EC2")
    do_steps(page, EX4)
    expect(live(page).get_by_text(re.compile(r"^i-\w+ · \S+ · running"))).to_be_visible(timeout=QUICK_MS)
    page.get_by_role("button", name="Predict", exact=True).click()
    answer = page.get_by_test_id("stAlertContentSuccess").filter(
        has_text=re.compile(r"(>50K|<=50K) — probability of >50K 0\.\d\d"))
    expect(answer).to_be_visible(timeout=QUICK_MS)
    expect_done(page, 4, 5)


def exercise_5(page: Page) -> None:
    go(page, 5, "Exercise 5 · MLflow model on SageMaker")
    expect(live(page).get_by_text(re.compile(r"income-prediction-\S+ is not deployed"))).to_be_visible()
    do_steps(page, EX5)
    expect(live(page).get_by_text(re.compile(r"is InService on 1 × ml\.m5\.large"))).to_be_visible()
    page.get_by_role("button", name="Score the chosen rows").click()
    expect(live(page).get_by_text(re.compile(r"^5 predictions in \d+ ms, all the same as the local model's\.$"))
           ).to_be_visible(timeout=QUICK_MS)
    expect_done(page, 5, 4)


def playground(page: Page) -> None:
    go(page, "Prediction playground", "Prediction playground")
    for title in ("Local model (onnxruntime)", "Lambda", "EC2 API", "SageMaker endpoint"):
        expect(page.get_by_role("checkbox", name=re.compile(re.escape(title)))).to_be_checked()
    page.get_by_role("button", name="Predict on the chosen targets").click()
    expect(live(page).get_by_text("All 4 targets agree.", exact=True)).to_be_visible(timeout=LAMBDA_MS)
    settled(page)
    expect(errors(page)).to_have_count(0)


def overview(page: Page, svc: str) -> None:
    go(page, "Class overview", "Class overview")
    expect(live(page).get_by_text(re.compile(r"Last refreshed at \d\d:\d\d:\d\d"))).to_be_visible(timeout=QUICK_MS)
    choose(page, "Student", svc)
    page.get_by_role("button", name=f"Run {svc}'s checks").click()
    for number, total in ((2, 4), (3, 8), (4, 5), (5, 4)):
        # expander titles (not element containers: no stale mark to filter on)
        expect(page.get_by_text(f"Exercise {number}: {total} of {total} checks pass", exact=True)).to_be_visible(
            timeout=QUICK_MS)


def clean_up_exercise_5(page: Page) -> None:
    go(page, 5, "Exercise 5 · MLflow model on SageMaker")
    page.get_by_role("button", name="Delete the endpoint now").click()
    expect(live(page).get_by_text(re.compile(rf"Delete endpoint income-prediction-\S+ .* from account {ACCOUNT}"))
           ).to_be_visible()
    page.get_by_role("button", name="Yes, delete the endpoint now").click()
    expect(live(page).get_by_text(re.compile(r"income-prediction-\S+ is not deployed"))).to_be_visible(timeout=QUICK_MS)
    settled(page)
    expect(page.get_by_text(re.compile(r"the same as the local model|agree with the local model"))).to_have_count(0)
    expect(plan_caption(page, 4, "Deploy the endpoint")).to_contain_text("Will create:")
    clean_up(page, 5, [s for s in EX5 if s[0] != "Push the serving image"], 4)


def clean_up_exercise_4(page: Page) -> None:
    go(page, 4, "Exercise 4 · FastAPI /predict on EC2")
    page.get_by_role("button", name="Terminate", exact=True).click()
    expect(live(page).get_by_text(re.compile(rf"Terminate instance i-\w+ .* from account {ACCOUNT}"))).to_be_visible()
    page.get_by_role("button", name="Yes, terminate", exact=True).click()
    expect(live(page).get_by_text(re.compile(r"^i-\w+ · \S+ · terminated|^No instance yet"))).to_be_visible(
        timeout=EC2_MS)
    # the panel stops refreshing itself once the instance is gone, and the page is read once more
    expect(live(page).get_by_text(re.compile(r"^No instance yet"))).to_be_visible(timeout=EC2_MS)
    settled(page)
    expect(page.get_by_text(re.compile(r"probability of >50K 0\.\d\d"))).to_have_count(0)
    clean_up(page, 4, EX4[:4], 5)
    expect(live(page).get_by_text(re.compile(r"^No instance yet"))).to_be_visible()
    expect(live(page).get_by_text("The API has no address yet", exact=False)).to_be_visible()


def playground_after(page: Page) -> None:
    go(page, "Prediction playground", "Prediction playground")
    expect(live(page).get_by_text(re.compile(r"^Results of Lambda .*, EC2 API .*, SageMaker endpoint .* dropped: th(at|ose) targets? no longer exists?"))).to_be_visible(
        timeout=QUICK_MS)
    settled(page)
    expect(page.get_by_text(re.compile(r"targets agree"))).to_have_count(0)
    for title in ("Lambda", "EC2 API", "SageMaker endpoint"):
        box = page.get_by_role("checkbox", name=re.compile(re.escape(title)))
        expect(box).not_to_be_checked()
        expect(box).to_be_disabled()
    table = page.get_by_test_id("stDataFrame").first.locator("table")
    expect(table).to_contain_text("Local model")
    for title in ("Lambda", "EC2 API", "SageMaker endpoint"):
        expect(table).not_to_contain_text(title)


def overview_after(page: Page, svc: str) -> None:
    go(page, "Class overview", "Class overview")
    expect(live(page).get_by_text(re.compile(r"Last refreshed at \d\d:\d\d:\d\d"))).to_be_visible(timeout=QUICK_MS)
    settled(page)
    # nothing of the page names the student any more (the sidebar does: it is still this student's dashboard)
    expect(page.get_by_test_id("stMain")).not_to_contain_text(svc)
    box = page.get_by_role("combobox", name="Student", exact=True)
    if box.count():  # other students of the class may still be there
        box.click()
        page.keyboard.type(svc)
        expect(page.get_by_role("option", name=svc, exact=True)).to_have_count(0)
        page.keyboard.press("Escape")


def test_one_student_does_the_whole_lab_then_cleans_up(page, base_url, tmp_path):
    svc = propose_svc("whole-lab")
    setup(page, base_url, svc)
    exercise_1(page)
    exercise_2(page)
    exercise_3(page, tmp_path)
    exercise_4(page)
    exercise_5(page)
    playground(page)
    overview(page, svc)

    clean_up_exercise_5(page)
    clean_up_exercise_4(page)
    go(page, 3, "Exercise 3 · S3-triggered Lambda")
    clean_up(page, 3, EX3, 8)
    expect(page.get_by_text(re.compile(r"predictions for my_rows\.csv"))).to_have_count(0)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(0)
    go(page, 2, "Exercise 2 · S3 with boto3")
    clean_up(page, 2, EX2[2:], 4)
    playground_after(page)
    overview_after(page, svc)
