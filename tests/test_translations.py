"""The nb and nn catalogues: complete, current with the sources, compiled, and used by the app.

A new English string in code or a template fails here until it is translated. The fix:
``make translations`` (or ``python -m bti.i18n_tools update``), fill the empty msgstr in
bti/web/translations/{nb,nn}/LC_MESSAGES/messages.po, run it again, commit the .po and .mo.
"""

from __future__ import annotations

import io
import re

import pytest
from babel.messages.mofile import write_mo

from bti import i18n_tools as t
from bti.config import Settings
from bti.web import create_app
from tests.web.conftest import make_settings

HOW_TO_FIX = (f"\nRun {t.UPDATE_COMMAND}, translate the empty msgstr in "
              "bti/web/translations/{nb,nn}/LC_MESSAGES/messages.po, run it again, and commit "
              "the .po and .mo files.")


@pytest.fixture(scope="module")
def template():
    return t.extract()


@pytest.fixture(scope="module", params=t.LOCALES)
def locale(request):
    return request.param


def _catalog(locale):
    assert t.po_path(locale).is_file(), f"{t.po_path(locale)} is missing." + HOW_TO_FIX
    return t.read_catalog(t.po_path(locale), locale)


def _messages(catalog):
    return [m for m in catalog if m.id]


def _strings(message) -> tuple[str, ...]:
    s = message.string
    return tuple(s) if isinstance(s, tuple | list) else (s or "",)


def test_extraction_finds_the_ui_strings(template):
    ids = {t._key(m) for m in template if m.id}
    # from a template, from Python code, and a plural (ngettext) from a template
    assert {"Sign in", "You are signed out.", "This field is required."} <= ids
    assert len(ids) > 50


def test_every_source_string_is_in_the_catalogue(template, locale):
    have = {t._key(m) for m in _messages(_catalog(locale))}
    missing = sorted({t._key(m) for m in template if m.id} - have)
    assert not missing, (f"{len(missing)} English string(s) not in {locale}/messages.po:\n  "
                         + "\n  ".join(repr(k) for k in missing) + HOW_TO_FIX)


def test_every_string_is_translated_and_none_is_fuzzy(locale):
    catalog = _catalog(locale)
    fuzzy = [t._key(m) for m in _messages(catalog) if m.fuzzy]
    empty = [t._key(m) for m in _messages(catalog)
             if not all(s.strip() for s in _strings(m))]
    assert not fuzzy, (f"fuzzy in {locale}: check each, then remove its '#, fuzzy' line:\n  "
                       + "\n  ".join(map(repr, fuzzy)))
    assert not empty, (f"{len(empty)} string(s) not translated in {locale}:\n  "
                       + "\n  ".join(map(repr, empty)) + HOW_TO_FIX)
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"
    plural_ok = [t._key(m) for m in _messages(catalog)
                 if m.pluralizable and len(_strings(m)) != 2]
    assert not plural_ok, f"plural entries need two forms in {locale}: {plural_ok}"


def test_catalogue_has_no_stale_strings(template, locale):
    """Strings removed from the sources are removed from the catalogue by the update."""
    wanted = {t._key(m) for m in template if m.id}
    stale = sorted({t._key(m) for m in _messages(_catalog(locale))} - wanted)
    assert not stale, (f"{locale}/messages.po has strings no longer in the sources: {stale}"
                       + HOW_TO_FIX)


def test_compiled_mo_matches_the_po(locale):
    """The checked-in .mo holds what compiling the .po gives now, compared as messages (not as
    bytes or headers: another Babel release writes another ``Generated-By``)."""
    assert t.mo_path(locale).is_file(), f"{t.mo_path(locale)} is missing." + HOW_TO_FIX
    buf = io.BytesIO()
    write_mo(buf, _catalog(locale), use_fuzzy=False)
    want = t.mo_messages(buf.getvalue())
    have = t.mo_messages(t.mo_path(locale).read_bytes())
    assert want["plural_forms"] == have["plural_forms"]
    w, h = want["messages"], have["messages"]
    differs = sorted(str(k) for k in set(w) ^ set(h)) + sorted(
        str(k) for k in set(w) & set(h) if w[k] != h[k])
    assert not differs, (f"{locale}/messages.mo is not compiled from messages.po; differs in: "
                         f"{differs[:10]}" + HOW_TO_FIX)
    assert t.mo_catalog_matches(locale)


def test_mo_comparison_ignores_the_generator_header_only(locale):
    """A .mo from another Babel release (other Generated-By) still matches; a changed message
    does not."""
    catalog = _catalog(locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    # the same length, so the .mo's offset table stays valid
    relabelled = re.sub(rb"(Generated-By: Babel )([0-9.]+)",
                        lambda m: m.group(1) + re.sub(rb"[0-9]", b"9", m.group(2)),
                        buf.getvalue())
    assert relabelled != buf.getvalue()
    assert t.mo_messages(relabelled) == t.mo_messages(buf.getvalue())
    first = next(m for m in catalog if m.id and isinstance(m.string, str) and m.string)
    first.string = first.string + " (endret)"
    changed = io.BytesIO()
    write_mo(changed, catalog, use_fuzzy=False)
    assert t.mo_messages(changed.getvalue()) != t.mo_messages(buf.getvalue())


def test_placeholders_are_kept(locale):
    wrong = []
    for m in _messages(_catalog(locale)):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        for i, s in enumerate(_strings(m)):
            source = ids[min(i, len(ids) - 1)]
            if s and t.placeholders(s) != t.placeholders(source):
                wrong.append(f"{m.id!r} → {s!r}")
    assert not wrong, f"placeholders differ in {locale}:\n  " + "\n  ".join(wrong)


def test_placeholder_pattern():
    assert t.placeholders("Sak %(id)s (%(child)s), %d, 100%%, {name}") == sorted(
        ["%(id)s", "%(child)s", "%d", "{name}"])


def test_nynorsk_is_not_bokmal():
    """A copy of nb into nn (or the other way) would pass every test above."""
    nb = {t._key(m): _strings(m) for m in _messages(_catalog("nb"))}
    nn = {t._key(m): _strings(m) for m in _messages(_catalog("nn"))}
    differ = sum(1 for k in nb if k in nn and nb[k] != nn[k])
    assert differ > len(nb) // 3, f"only {differ} of {len(nb)} nn strings differ from nb"


# -- the app uses them -------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def client():
    settings: Settings = make_settings()
    app = create_app(settings)
    yield app.test_client()
    app.extensions["bti"].engine.dispose()


def _login_page_in(client, lang: str) -> str:
    page = client.get("/auth/login").get_data(as_text=True)
    token = _CSRF.search(page).group(1)
    r = client.post("/auth/language", data={"csrf_token": token, "lang": lang,
                                            "next": "/auth/login"})
    assert r.status_code == 302
    return client.get(r.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(("lang", "expected", "absent"), [
    ("nb", ["Logg inn", "Brukernavn", "Passord", "Hopp til hovedinnholdet", "(må fylles ut)"],
     ["Sign in", "Brukarnamn"]),
    ("nn", ["Logg inn", "Brukarnamn", "Passord", "Hopp til hovudinnhaldet", "(må fyllast ut)"],
     ["Sign in", "Brukernavn"]),
    ("en", ["Sign in", "User name", "Password", "Skip to main content", "(required)"],
     ["Logg inn"]),
])
def test_login_page_is_in_the_chosen_language(client, lang, expected, absent):
    html = _login_page_in(client, lang)
    assert f'<html lang="{lang}">' in html
    for text in expected:
        assert text in html, f"{text!r} not on the {lang} login page"
    for text in absent:
        assert text not in html, f"{text!r} on the {lang} login page"


def test_bokmal_is_the_default():
    app = create_app(make_settings())
    try:
        html = app.test_client().get("/auth/login").get_data(as_text=True)
    finally:
        app.extensions["bti"].engine.dispose()
    assert '<html lang="nb">' in html
    assert "<h1>Logg inn</h1>" in html


def test_plural_strings_use_both_forms():
    """ngettext picks the singular for 1 and the plural otherwise, in nb and nn."""
    app = create_app(make_settings())
    try:
        with app.test_request_context():
            from flask import session
            from flask_babel import ngettext
            from flask_babel import refresh

            for lang in t.LOCALES:
                plurals = [m for m in _messages(_catalog(lang))
                           if m.pluralizable and all(_strings(m))
                           and set(t.placeholders(m.id[1])) <= {"%(num)d", "%(num)s"}]
                assert plurals, f"{lang}: the catalogue has no plural string to check"
                session["lang"] = lang
                refresh()
                for m in plurals:
                    one, many = _strings(m)
                    assert ngettext(m.id[0], m.id[1], 1) == one % {"num": 1}
                    assert ngettext(m.id[0], m.id[1], 3) == many % {"num": 3}
    finally:
        app.extensions["bti"].engine.dispose()
