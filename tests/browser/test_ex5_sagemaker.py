"""Exercise 5 by clicking, in a real browser: deploy, wait for InService, score rows, delete."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DEPLOY_BUDGET_MS = 180_000  # the sandbox starts MLflow's scoring server: seconds, more on a busy machine


def click_step(page, title: str, outcome: str, timeout: int = 60_000) -> None:
    page.get_by_role("button", name=title, exact=True).click()
    expect(page.get_by_text(re.compile(outcome)).first).to_be_visible(timeout=timeout)


def test_deploy_query_and_delete_the_endpoint_by_clicking(page, base_url):
    page.goto(f"{base_url}/sagemaker")
    expect(page.get_by_role("heading", name="Exercise 5 · MLflow model on SageMaker")).to_be_visible()
    expect(page.get_by_text(re.compile("costs nothing")).first).to_be_visible()
    click_step(page, "Push the serving image", r"Recorded the push of mlflow-pyfunc|already in ECR")
    click_step(page, "Create the execution role", r"Created role sagemaker-")
    click_step(page, "Get the MLflow model", r"Unpacked mlflow_model.zip")
    click_step(page, "Deploy the endpoint", r"Created endpoint income-prediction-.*InService", DEPLOY_BUDGET_MS)
    expect(page.get_by_text(re.compile(r"is InService on 1 × ml.m5.large"))).to_be_visible()
    page.get_by_role("button", name="Score the chosen rows").click()
    expect(page.get_by_text(re.compile("5 predictions in .* all the same as the local model"))).to_be_visible(
        timeout=60_000)
    expect(page.get_by_text("4 of 4 checks pass")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Delete the endpoint now").click()
    expect(page.get_by_text(re.compile(r"Delete endpoint income-prediction-.* from account 123456789012"))).to_be_visible()
    page.get_by_role("button", name="Yes, delete the endpoint now").click()
    expect(page.get_by_text(re.compile("is not deployed"))).to_be_visible(timeout=60_000)
