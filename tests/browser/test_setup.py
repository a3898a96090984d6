"""Setup in a real browser: the dashboard opens on Setup, connected to the sandbox, and a name can be saved."""
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_setup_connects_and_saves_a_name(page, base_url):
    page.goto(base_url)
    expect(page.get_by_role("heading", name="Setup", exact=True)).to_be_visible()
    expect(page.get_by_text("Connected to sandbox")).to_be_visible()
    name = page.get_by_role("textbox", name="Service name")
    name.fill("Bad_Name")
    name.press("Enter")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("lowercase letters, digits and hyphens").first).to_be_visible()
    name.fill("browser-tester-1")
    name.press("Enter")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Saved: browser-tester-1")).to_be_visible()
