"""Exercise 4 by clicking, in a real browser: deploy to the sandbox's EC2, predict the sample record."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif("pages/ex4_ec2.py" not in (ROOT / "dashboard.py").read_text(),
                       reason="the page is not registered in dashboard.py yet"),
]


def click_step(page, title: str, outcome: str, timeout: float = 60_000) -> None:
    page.get_by_role("button", name=title, exact=True).click()
    expect(page.get_by_text(re.compile(outcome)).first).to_be_visible(timeout=timeout)


def test_deploy_by_clicking_and_predict_the_sample(page, base_url):
    page.goto(f"{base_url}/ec2")
    expect(page.get_by_role("heading", name="Exercise 4 · FastAPI /predict on EC2")).to_be_visible()
    click_step(page, "Create the key pair", r"Created key pair ec2-")
    click_step(page, "Create the security group", r"Created security group ec2-")
    click_step(page, "Upload the app bundle", r"Uploaded the app bundle")
    click_step(page, "Launch the instance", r"Launched i-")
    click_step(page, "Wait for the API", r"The API answers at http://127\.0\.0\.1:", timeout=120_000)
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text=re.compile(r"(>|<=)50K"))
           .first).to_be_visible()
    expect(page.get_by_role("link", name="interactive documentation")).to_have_attribute(
        "href", re.compile(r"^http://127\.0\.0\.1:\d+/docs$"))
