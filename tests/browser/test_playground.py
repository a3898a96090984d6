"""The playground in a real browser: the sample record on the local model, then a CSV charted."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_sample_record_and_course_csv_on_the_local_model(page, base_url):
    page.goto(f"{base_url}/playground")
    expect(page.get_by_role("heading", name="Prediction playground")).to_be_visible()
    page.get_by_role("button", name="Predict on the chosen targets").click()
    expect(page.get_by_text(re.compile(r"Local model \(onnxruntime\): 1 record — done"))).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="A CSV file").click()
    page.get_by_role("button", name="Score the course's adult_batch.csv (has labels)").click()
    expect(page.get_by_role("button", name="Download the predictions (CSV)")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(4, timeout=60_000)
