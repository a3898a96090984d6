"""Every page speaks the student's language: an Italian browser with no saved settings reads Italian on every
page of the menu, an English one English; a `?lang=` link overrides the browser; the sidebar switch is saved
and survives a restart of the dashboard.

"Speaks the language" is measured on the words a student reads in the main area and the sidebar, outside
code (snippets, code spans, tables of values): the other language's function words (the, and, of… / il, di,
che…) must not be there at all. Names (of resources, services, people) are not function words, so they need
no exception; the few phrases that are allowed are listed below, each with its reason.

The pages are opened from the sidebar, as a student does, in a dashboard of its own over the session's
sandbox, with a fresh data folder (no saved settings: the language comes from the browser).
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backend import i18n
from tests.browser.conftest import free_port, start, stop, wait_for

pytestmark = pytest.mark.browser

RUN_MS = 90_000  # a page's first run reads the account (slow machine, other tests running)

# Whole words only. "a" is also an Italian preposition, "per" an English one, "in" and "no" are both
# languages': they are left out of the list of the other language.
ENGLISH_WORDS = frozenset("""
the and your you is are of to with this that it its for from not be an was were has have had will would
can cannot could should must on by at or which there their these those into what when where then than
been being does doesn't don't isn't aren't here yet still only also just each every any""".split())
ITALIAN_WORDS = frozenset("""
il lo la gli le di che con non una uno un del della dello dei degli delle al alla allo ai alle nel nella
nei nelle sul sulla dal dalla sono è e questo questa questi queste tuo tua tuoi tue ancora anche già
ogni quando dove perché se ha hai può deve essere""".split())
# Phrases a page may show in the other language, each with why (removed before counting).
ALLOWED = {
    "it": ["on demand"],  # AWS's Italian price pages say "on demand" (the class overview's prices)
    "en": [],
}
WORD = re.compile(r"[\w'’-]+")  # a name like student-7e4d is one word, not "student", "e", "d"

# Text nodes under these are code or values, not prose: snippets, code spans, the cells of tables, icons.
VISIBLE_TEXT_JS = """
root => {
  const skip = 'pre, code, [data-testid="stCode"], [data-testid="stDataFrame"], [data-testid="stTable"] td,'
    + ' [data-testid="stJson"], [data-testid="stIconMaterial"], [data-testid="stIconEmoji"], style, script,'
    + ' [data-testid="stSidebarNavSeparator"]';
  const parts = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (el && !el.closest(skip)) parts.push(walker.currentNode.textContent);
  }
  return parts.join('\\n');
}
"""


def settled(page: Page) -> None:
    """Wait until the page's script run is over and nothing of the previous run is left."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=RUN_MS)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=RUN_MS)


def prose(page: Page) -> str:
    """The text a student reads in the sidebar and the main area, outside code and table cells."""
    return "\n".join(page.get_by_test_id(area).evaluate(VISIBLE_TEXT_JS) for area in ("stSidebar", "stMain"))


def foreign_words(text: str, language: str) -> list[str]:
    """The other language's function words in `text`, each with the words around it (to find it)."""
    for phrase in ALLOWED[language]:
        text = text.replace(phrase, " ")
    text = re.sub(r"\b(e\.g|i\.e)\.", " ", text)  # English abbreviations, not the Italian "e"
    foreign = ENGLISH_WORDS if language == "it" else ITALIAN_WORDS
    found = []
    for line in text.splitlines():
        words = WORD.findall(line)
        for i, word in enumerate(words):
            if word.lower() in foreign:
                found.append(f"{word!r} in “{' '.join(words[max(0, i - 5):i + 6])}”")
    return found


def own_words(text: str, language: str) -> int:
    """How many of the language's own function words `text` has: a page that speaks it has plenty."""
    own = ITALIAN_WORDS if language == "it" else ENGLISH_WORDS
    return sum(word.lower() in own for word in WORD.findall(text))


def expect_speaks(page: Page, language: str) -> None:
    """The page reads in `language`: none of the other language's function words, and many of its own."""
    text = prose(page)
    assert not foreign_words(text, language), foreign_words(text, language)
    assert own_words(text, language) >= 10, text[:2000]


def menu_pages(page: Page) -> list[str]:
    """The menu's entries, by their address (the titles are in the page's language; Setup's is the root)."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    return [links.nth(i).get_attribute("href") for i in range(links.count())]


def open_from_menu(page: Page, address: str) -> None:
    """Click the menu entry whose address ends with `address` ("/lambda", or a whole href); wait for its page.

    Every page has its own title (h1): the new one replacing the old is the sign the new page has run.
    """
    at = re.compile(rf"{re.escape(address)}(\?.*)?$")
    if at.search(page.url):  # already there
        settled(page)
        return
    title = page.get_by_test_id("stMain").locator("h1").first
    before = title.inner_text(timeout=RUN_MS)
    page.get_by_test_id("stSidebarNav").locator(f"a[href$='{address}']").click()
    expect(page).to_have_url(at, timeout=RUN_MS)
    expect(title).not_to_have_text(before, timeout=RUN_MS)
    settled(page)


def in_language(language: str, message: str) -> str:
    """A message of the dashboard as it shows it in `language` (read from the same catalog)."""
    i18n.set_language(language)
    try:
        return i18n._(message)
    finally:
        i18n.set_language(None)


def do_exercise_2(page: Page, language: str) -> None:
    """The student does exercise 2 (S3 only: seconds), so step results and passing checks are read too.

    After each step its plan line says there is nothing left to do. The first step only reads, so its line
    says so from the start: its run is given a moment to begin instead.
    """
    open_from_menu(page, "/s3")
    nothing = page.get_by_test_id("stMain").get_by_test_id("stCaptionContainer").filter(
        has_text=f"{in_language(language, 'Nothing to do')}:")
    steps = page.get_by_test_id("stMain").get_by_test_id("stBaseButton-primary")
    for index in range(4):
        steps.nth(index).click()
        if index == 0:
            page.wait_for_timeout(1_000)
        expect(nothing).to_have_count(index + 1, timeout=RUN_MS)
        settled(page)
    expect(nothing).to_have_count(4)


def rerun_a_fragment(page: Page, language: str) -> list[str]:
    """Read exercise 3's log panel again (a fragment: its rerun runs only that part of the page, not
    dashboard.py); return the other language's words then on the page."""
    open_from_menu(page, "/lambda")
    page.get_by_role("button", name=in_language(language, "Refresh logs"), exact=True).click()
    page.wait_for_timeout(1_000)  # the fragment's run begins; it changes nothing else to wait for
    settled(page)
    return foreign_words(prose(page), language)


def read_every_page(page: Page, language: str) -> dict[str, list[str]]:
    """Open every page of the menu; return the other language's words found on each (none if all is well)."""
    problems = {}
    addresses = menu_pages(page)
    assert len(addresses) >= 11, addresses  # Setup, exercises 1-5, playground, S3, guide, class, course files
    for address in addresses:
        open_from_menu(page, address)
        address = address.rstrip("/").rsplit("/", 1)[-1]
        shown = page.get_by_test_id("stException")
        if shown.count():
            problems[address] = [f"exception: {shown.first.inner_text()[:500]}"]
            continue
        text = prose(page)
        found = foreign_words(text, language)
        if own_words(text, language) < 2:  # every page has some prose: nothing read means nothing shown
            found.append(f"hardly a word of {language}: {text[:300]!r}")
        if found:
            problems[address] = found
    return problems


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{address}: {len(found)}\n    " + "\n    ".join(found[:25])
                     for address, found in problems.items())


class Dashboard:
    """A dashboard process of its own, over the session's sandbox, with its own data folder."""

    def __init__(self, env: dict[str, str], home: Path, logs: Path):
        self.env = {**env, "MLOPS_LAB_HOME": str(home)}
        self.home, self.logs, self.proc, self.url, self.starts = home, logs, None, "", 0

    def start(self) -> None:
        port = free_port()
        self.starts += 1
        log = self.logs / f"dashboard-{self.home.name}-{self.starts}.log"
        self.proc = start([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
                           "--server.address", "127.0.0.1", "--server.headless", "true"], self.env, log)
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", self.proc, log)
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def saved_language(self) -> str | None:
        path = self.home / "settings.json"
        return json.loads(path.read_text()).get("language") if path.exists() else None

    def open(self, browser, locale: str, query: str = "") -> Page:
        """A new browser session on the main page (never a deep link first: streamlit/streamlit#9992)."""
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=locale)
        page = context.new_page()
        page.set_default_timeout(RUN_MS)
        page.goto(self.url + query)
        expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=RUN_MS)
        settled(page)
        return page


@pytest.fixture
def dashboard(app_env, tmp_path_factory):
    """A fresh dashboard: no settings saved yet, so the language is the browser's.

    Its data folder holds only the sandbox's own key (as an install that has started the sandbox does):
    without it every page would only say that the sandbox refused the keys.
    """
    home = tmp_path_factory.mktemp("fresh-home")
    key = Path(app_env[1]["MLOPS_LAB_HOME"]) / "sandbox-credentials.json"
    shutil.copy2(key, home / key.name)
    dash = Dashboard(app_env[1], home, tmp_path_factory.mktemp("logs"))
    dash.start()
    yield dash
    dash.stop()


def setup_heading(page: Page, title: str):
    return page.get_by_test_id("stMain").get_by_role("heading", name=title, exact=True)


@pytest.mark.parametrize("locale, language", [("it-IT", "it"), ("en-US", "en")])
def test_a_browser_with_no_saved_choice_reads_every_page_in_its_language(dashboard, browser, locale, language):
    page = dashboard.open(browser, locale)
    try:
        expect(setup_heading(page, {"it": "Configurazione", "en": "Setup"}[language])).to_be_visible()
        assert page.evaluate("navigator.language") == locale
        # Connected (the pages show the lab, not just an error), with a service name proposed for the student.
        expect(page.get_by_test_id("stMain").get_by_test_id("stAlertContentSuccess").filter(
            has_text="123456789012")).to_be_visible()
        problems = read_every_page(page, language)
        assert not problems, f"not all {language} ({locale} browser):\n{report(problems)}"
        do_exercise_2(page, language)  # the same pages once the student has done something
        problems = {"s3 done": foreign_words(prose(page), language),
                    "lambda, its log panel read again": rerun_a_fragment(page, language)}
        problems.update(read_every_page(page, language))
        problems = {address: found for address, found in problems.items() if found}
        assert not problems, f"not all {language} ({locale} browser) after exercise 2:\n{report(problems)}"
        assert dashboard.saved_language() is None  # only the sidebar switch saves a language
    finally:
        page.context.close()


def test_a_lang_link_overrides_an_english_browser_on_every_page_it_leads_to(dashboard, browser):
    page = dashboard.open(browser, "en-US", "/?lang=it")
    try:
        expect(setup_heading(page, "Configurazione")).to_be_visible()
        for address in ("lambda", "guide"):  # Streamlit drops the parameter: the session keeps the language
            open_from_menu(page, f"/{address}")
            expect_speaks(page, "it")
        assert dashboard.saved_language() is None  # a link is not a choice: nothing saved
    finally:
        page.context.close()


def test_the_sidebar_switch_is_saved_and_survives_a_restart(dashboard, browser):
    page = dashboard.open(browser, "en-US")
    try:
        page.get_by_test_id("stSidebar").get_by_role("radio", name="Italiano", exact=True).click()
        expect(setup_heading(page, "Configurazione")).to_be_visible(timeout=RUN_MS)
        assert dashboard.saved_language() == "it"
    finally:
        page.context.close()

    dashboard.stop()
    dashboard.start()
    page = dashboard.open(browser, "en-US")  # an English browser, a new session: the saved choice wins
    try:
        expect(setup_heading(page, "Configurazione")).to_be_visible()
        open_from_menu(page, "/s3")
        expect_speaks(page, "it")
        page.get_by_test_id("stSidebar").get_by_role("radio", name="English", exact=True).click()
        expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Setup", exact=True)).to_be_visible(
            timeout=RUN_MS)
        assert dashboard.saved_language() == "en"
    finally:
        page.context.close()
