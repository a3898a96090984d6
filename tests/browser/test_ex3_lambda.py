"""Exercise 3 by clicking in a real browser: deploy, upload, predictions charted, log shown, checks green."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

STEPS = [
    ("Create the three buckets", r"Created model-"),
    ("Create the policy", r"Created policy batch-lambda-"),
    ("Create the role", r"Created role batch-lambda-"),
    ("Publish the layer", r"Published batch-runtime-"),
    ("Create the function", r"Created function batch-lambda-"),
    ("Add the S3 trigger", r"now trigger batch-lambda-"),
    ("Upload input_batch.csv and wait", r"Scored 1,000 rows"),
]


def test_exercise_3_from_empty_to_a_chart_and_the_log(page, base_url):
    page.goto(f"{base_url}/lambda")
    expect(page.get_by_role("heading", name="Exercise 3 · S3-triggered Lambda")).to_be_visible()
    for title, outcome in STEPS:
        page.get_by_role("button", name=title, exact=True).click()
        expect(page.get_by_text(re.compile(outcome)).first).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Score the course's input_batch.csv").click()
    expect(page.get_by_text(re.compile(r"1,000 predictions for input_batch.csv in"))).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Refresh logs").click()
    expect(page.get_by_text(re.compile(r"REPORT RequestId")).first).to_be_attached()
    expect(page.get_by_text("8 of 8 checks pass")).to_be_visible(timeout=60_000)


def test_a_broken_csv_shows_the_error_report(page, base_url, tmp_path):
    page.goto(f"{base_url}/lambda")
    broken = tmp_path / "broken.csv"
    broken.write_text("age,work_class\n39,Local-gov\n")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(broken))
    page.get_by_role("button", name="Score the uploaded file").click()
    expect(page.get_by_text(re.compile(r"The function rejected broken.csv"))).to_be_visible(timeout=120_000)
