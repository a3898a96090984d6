"""Italian and English: every user-facing string is marked, the Italian catalog is complete, formats follow the language."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from backend import i18n
from tests.i18n_scan import ROOT, unmarked, user_facing_files

PO = ROOT / "locale" / "it" / "LC_MESSAGES" / "mlops_lab.po"
PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*(?:[:!][^}]*)?\}|%\([a-z_]+\)[sd]|%[sd]")


def extracted_messages() -> dict[str, list[str]]:
    """Every msgid the code marks (as `make catalogs-update` extracts them), with where it is used."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None}):
        # ngettext gives (singular, plural, …): the catalog keys it by the singular
        msgid = tuple(m for m in message if m)[:2] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def italian_catalog():
    from babel.messages.pofile import read_po

    with open(PO, "rb") as fh:
        return read_po(fh, locale="it", domain=i18n.DOMAIN)


def test_every_user_facing_string_is_marked_for_translation():
    problems = [line for path in user_facing_files() for line in unmarked(path)]
    assert not problems, "not marked for translation:\n" + "\n".join(problems[:80])


def test_the_italian_catalog_has_every_message_translated_and_none_fuzzy():
    catalog = italian_catalog()
    messages = extracted_messages()
    missing, empty, fuzzy = [], [], []
    for msgid, where in messages.items():
        entry = catalog.get(msgid[0] if isinstance(msgid, tuple) else msgid)
        if entry is None:
            missing.append(f"{where[0]}: {msgid[:80]!r}")
        elif entry.fuzzy:
            fuzzy.append(msgid[:80])
        elif not (entry.string if isinstance(entry.string, str) else all(entry.string)):
            empty.append(msgid[:80])
    assert not missing, f"{len(missing)} not in {PO.name}:\n" + "\n".join(missing[:40])
    assert not fuzzy, f"fuzzy: {fuzzy[:20]}"
    assert not empty, f"untranslated: {empty[:20]}"


def test_the_catalog_itself_is_not_fuzzy_so_make_compiles_it():
    assert not italian_catalog().fuzzy  # pybabel compile skips a catalog whose header is fuzzy


def test_placeholders_are_the_same_in_both_languages():
    wrong = []
    for entry in italian_catalog():
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            if sorted(PLACEHOLDER.findall(text)) != wanted:
                wrong.append(f"{ids[0][:60]!r}: {wanted} vs {sorted(PLACEHOLDER.findall(text))}")
    assert not wrong, "\n".join(wrong[:30])


def test_every_marked_string_formats_with_its_placeholders_in_italian():
    """A translation whose .format() would raise (a brace typo) fails here, not in front of a student."""
    for entry in italian_catalog():
        if entry.id and isinstance(entry.id, str) and "{" in entry.id and entry.string:
            names = {m.strip("{}").split(":")[0].split("!")[0] for m in re.findall(r"\{[^}]*\}", entry.id)}
            entry.string.format(**{n: "x" for n in names if n})


@pytest.mark.parametrize(("language", "number", "day"), [("it", "1.000,5", "1 dicembre 2026"),
                                                          ("en", "1,000.5", "December 1, 2026")])
def test_numbers_and_dates_follow_the_language(language, number, day):
    i18n.set_language(language)
    try:
        assert i18n.number(1000.5) == number
        assert i18n.day(date(2026, 12, 1)) == day
    finally:
        i18n.set_language(None)


@pytest.mark.parametrize(("language", "hourly", "total"), [("it", "0,1072\xa0USD", "1.234,50\xa0USD"),
                                                           ("en", "$0.1072", "$1,234.50")])
def test_money_follows_the_language_with_the_decimals_asked_for(language, hourly, total):
    i18n.set_language(language)
    try:
        assert i18n.money(0.1072, decimals=4) == hourly and i18n.money(1234.5) == total
    finally:
        i18n.set_language(None)


@pytest.mark.parametrize(("env", "expected"), [("it_IT.UTF-8", "it"), ("en_GB.UTF-8", "en"), ("C.UTF-8", "en"),
                                               ("de_DE.UTF-8", "en")])
def test_the_cli_follows_lang(monkeypatch, env, expected):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", env)
    assert i18n.current() == expected


def test_the_cli_speaks_italian_with_an_italian_lang(capsys, monkeypatch):
    from backend.cli import main

    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "it_IT.UTF-8")
    assert main(["lab", "check", "2"]) == 2  # no service name saved
    err = capsys.readouterr().err
    assert "Setup" in err and "nome" in err.lower(), err


def test_a_compiled_catalog_is_rebuilt_when_the_po_is_newer(tmp_path, monkeypatch):
    po = tmp_path / "locale" / "it" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "Setup"\nmsgstr "Configurazione"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "SOURCE_DIR", tmp_path / "locale")
    monkeypatch.setattr(i18n, "COMPILED_DIR", tmp_path / "build")
    i18n.reload_catalogs()
    i18n.set_language("it")
    try:
        assert i18n._("Setup") == "Configurazione"
        assert i18n._("No such message") == "No such message"  # falls back to English, never raises
    finally:
        i18n.set_language(None)
        i18n.reload_catalogs()
