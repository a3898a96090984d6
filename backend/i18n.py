"""Italian and English: gettext catalogs and Babel's formats, one language per page run or CLI call.

Strings are marked with `_()` where they are built, or `N_()` where a module constant is defined
(a step's title, an error sentence) and translated with `_()` where it is shown. Catalogs live in
`locale/<lang>/LC_MESSAGES/mlops_lab.po` (extracted and compiled with Babel: `make` compiles them
into build/locale; a missing or older .mo is compiled on first use). Placeholders are named
(`_("Bucket {name} exists.").format(name=…)`), so a translation may reorder them.

The language is a context variable: the dashboard sets it at the start of every page run (the
`?lang=` link, else the saved choice, else the browser's); the CLI leaves it unset, and then
LANGUAGE / LC_ALL / LC_MESSAGES / LANG decide.
"""
from __future__ import annotations

import gettext
import os
import threading
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from .config import PROJECT_ROOT

DOMAIN = "mlops_lab"
LANGUAGES = {"en": "English", "it": "Italiano"}
DEFAULT_LANGUAGE = "en"
SOURCE_DIR = PROJECT_ROOT / "locale"  # the .po files (in the repository)
COMPILED_DIR = PROJECT_ROOT / "build" / "locale"  # the .mo files (built)

_language: ContextVar[str | None] = ContextVar("lab_language", default=None)
_compile_lock = threading.Lock()


def normalize(tag: str | None) -> str | None:
    """Return "it" or "en" for a language tag or locale name ("it-IT", "it_IT.UTF-8", "en"), else None."""
    if not tag:
        return None
    base = tag.replace("-", "_").split(".")[0].split("_")[0].lower()
    return base if base in LANGUAGES else None


def language_from_environment() -> str:
    """The CLI's language: the first of LANGUAGE, LC_ALL, LC_MESSAGES, LANG that names one we have."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for part in (os.environ.get(var) or "").split(":"):
            found = normalize(part)
            if found:
                return found
    return DEFAULT_LANGUAGE


def set_language(language: str | None) -> None:
    """Use this language for the rest of this page run (or thread); None: the environment's."""
    _language.set(normalize(language))


def current() -> str:
    """Return the language in use now."""
    return _language.get() or language_from_environment()


def _compiled(language: str) -> Path | None:
    """Return the folder holding the compiled catalog of `language`, compiling it if missing or stale."""
    po = SOURCE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return None
    mo = COMPILED_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with _compile_lock:
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            compile_catalog(po, mo)
    return COMPILED_DIR


def compile_catalog(po: Path, mo: Path) -> None:
    """Compile one .po into .mo with Babel (written under a temp name, then renamed)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po, "rb") as fh:
        catalog = read_po(fh, locale=po.parent.parent.name, domain=DOMAIN)
    mo.parent.mkdir(parents=True, exist_ok=True)
    tmp = mo.with_name(f"{mo.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        write_mo(fh, catalog, use_fuzzy=False)
    tmp.replace(mo)


@lru_cache(maxsize=None)
def _translations(language: str) -> gettext.NullTranslations:
    folder = _compiled(language) if language != DEFAULT_LANGUAGE else None
    if folder is None:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, folder, [language], fallback=True)


def _(message: str) -> str:
    """Return `message` in the current language."""
    return _translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Return the singular or plural form for n, in the current language."""
    return _translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a constant for translation; `_()` translates it where it is shown."""
    return message


def reload_catalogs() -> None:
    """Forget loaded catalogs (after the .po files changed)."""
    _translations.cache_clear()


# ---- numbers, money and dates in the language's own way (Babel) -------------------------------

def _locale() -> str:
    return {"it": "it_IT", "en": "en_US"}[current()]


def number(value: float | int, decimals: int | None = None) -> str:
    """1,000.5 in English, 1.000,5 in Italian."""
    from babel.numbers import format_decimal

    if decimals is None:
        return format_decimal(value, locale=_locale())
    return format_decimal(value, format=f"#,##0.{'0' * decimals}" if decimals else "#,##0", locale=_locale())


def money(value: float, currency: str = "USD", decimals: int = 2) -> str:
    """$1,000.50 in English, 1.000,50 USD in Italian; `decimals` digits (an hourly price wants 3 or 4)."""
    import re

    from babel import Locale
    from babel.numbers import format_currency

    # The language's own currency pattern (where the symbol goes), with the number of decimals asked for.
    pattern = Locale.parse(_locale()).currency_formats["standard"].pattern.split(";")[0]
    pattern = re.sub(r"0\.0+", "0." + "0" * decimals if decimals else "0", pattern)
    return format_currency(value, currency, format=pattern, locale=_locale(), currency_digits=False)


def day(value: date | datetime) -> str:
    """December 1, 2026 in English, 1 dicembre 2026 in Italian."""
    from babel.dates import format_date

    return format_date(value, format="long", locale=_locale())


def moment(value: datetime) -> str:
    """A date and time, medium length, in the language's way."""
    from babel.dates import format_datetime

    return format_datetime(value, format="medium", locale=_locale())
