"""Exercise 1, the S3 browser and the course files in a real browser."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_exercise_1_by_clicking(page, base_url):
    page.goto(f"{base_url}/credentials")
    page.get_by_role("button", name="Ask AWS who you are", exact=True).click()
    expect(page.get_by_text(re.compile(r"Credentials work: account 123456789012"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("2 of 2 checks pass")).to_be_visible(timeout=60_000)


def test_s3_browser_lists_the_course_bucket(page, base_url):
    page.goto(f"{base_url}/s3-browser")
    expect(page.get_by_role("heading", name="S3 browser")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=60_000)
    # other tests' buckets may come first: pick the course bucket, as a user would (type to filter)
    page.get_by_role("combobox", name="Bucket", exact=True).click()
    page.keyboard.type("layerfiles-mlops-course")
    page.get_by_role("option", name="layerfiles-mlops-course", exact=True).click()
    expect(page.get_by_text(re.compile(r"^adult_batch\.csv$")).first).to_be_attached(timeout=60_000)
    expect(page.get_by_text(re.compile(r"Preview: first \d+ rows"))).to_be_visible(timeout=60_000)


def test_course_files_show_the_metrics(page, base_url):
    page.goto(f"{base_url}/course-files")
    expect(page.get_by_text("Test accuracy")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("ROC AUC")).to_be_visible()
