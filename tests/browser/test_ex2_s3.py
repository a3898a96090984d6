"""Exercise 2 by clicking, in a real browser: every step, then the checks turn green."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def click_step(page, title: str, outcome: str) -> None:
    page.get_by_role("button", name=title, exact=True).click()
    expect(page.get_by_text(re.compile(outcome)).first).to_be_visible(timeout=60_000)


def test_complete_exercise_2_by_clicking(page, base_url):
    page.goto(f"{base_url}/s3")
    expect(page.get_by_role("heading", name="Exercise 2 · S3 with boto3")).to_be_visible()
    click_step(page, "Show the session's region", "This session works in region eu-central-1")
    click_step(page, "Download the course files", "Downloaded layer_file.zip")
    click_step(page, "Create your bucket", r"Created bucket data-")
    click_step(page, "Upload input_batch.csv", r"Uploaded input_batch.csv")
    expect(page.get_by_text("4 of 4 checks pass")).to_be_visible()
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
