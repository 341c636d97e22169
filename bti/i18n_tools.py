"""The translation pipeline: extract the English message ids, update the nb and nn catalogues,
compile them.

    python -m bti.i18n_tools update   # extract → messages.pot → merge into nb/nn .po → .mo
    python -m bti.i18n_tools check    # exit 1 naming each string new, empty, fuzzy or stale
    python -m bti.i18n_tools compile  # only .po → .mo (after editing a .po by hand)

``make translations`` runs ``update``. The workflow: add an English string in code or a template,
run ``make translations``, fill the new empty ``msgstr`` in ``bti/web/translations/nb/...`` and
``nn/...``, run ``make translations`` again (it compiles), commit the .po and the .mo files.

Files are written only when their content changes (dates aside), and locations carry no line
numbers, so re-running costs nothing and moving code does not churn the catalogues. New strings
are never guessed from similar ones (no fuzzy matching): they arrive empty and
``tests/test_translations.py`` names them until someone translates them.

This is a developer tool: it reads ``babel.cfg`` and the sources from a source checkout.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.catalog import Message
from babel.messages.extract import DEFAULT_KEYWORDS
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
TRANSLATIONS = PACKAGE_DIR / "web" / "translations"
MAPPING = ROOT / "babel.cfg"
LOCALES = ("nb", "nn")
DOMAIN = "messages"
UPDATE_COMMAND = "`make translations` (or `python -m bti.i18n_tools update`)"
TEAMS = {"nb": "Norwegian Bokmål", "nn": "Norwegian Nynorsk"}
HEADER = ("# The bti web UI. Message ids are English; write plain, kind language for staff.\n"
          "# Update with `make translations` (python -m bti.i18n_tools update).")

# Flask-Babel's names on top of Babel's defaults (_, gettext, ngettext, pgettext, …).
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
    "lazy_npgettext": ((1, "c"), 2, 3),
}
COMMENT_TAGS = ("TRANSLATORS:",)
_VOLATILE = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"\n', re.MULTILINE)
_PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]|"
                          r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def pot_path() -> Path:
    return TRANSLATIONS / f"{DOMAIN}.pot"


# -- extract ---------------------------------------------------------------------------------

def extract(root: Path = ROOT, mapping: Path = MAPPING) -> Catalog:
    """Every message id in the sources named by ``babel.cfg``, as a template catalogue."""
    if not mapping.is_file():
        raise SystemExit(f"{mapping} not found: run this from a source checkout of bti")
    with mapping.open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(mapping))
    catalog = _new_catalog(None)

    def only_the_package(dirpath: str) -> bool:  # Babel passes absolute paths
        rel = Path(dirpath).resolve().relative_to(root.resolve()).parts
        return bool(rel) and rel[0] == "bti" and not any(p.startswith((".", "_")) for p in rel)

    for filename, lineno, message, comments, context in extract_from_dir(
            str(root), method_map, options_map, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
            strip_comment_tags=True, directory_filter=only_the_package):
        catalog.add(message, None, [(Path(filename).as_posix(), lineno)],
                    auto_comments=comments, context=context)
    return catalog


def _new_catalog(locale: str | None) -> Catalog:
    return Catalog(locale=locale, domain=DOMAIN, project="bti", version="1",
                   copyright_holder="bti", msgid_bugs_address="-", last_translator="bti",
                   language_team=TEAMS.get(locale or "") or "LANGUAGE <LL@li.org>",
                   header_comment=HEADER, fuzzy=False)


# -- read / write ----------------------------------------------------------------------------

def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


def _po_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, sort_output=True, include_lineno=False,
             ignore_obsolete=True)
    return buf.getvalue()


def _mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def _write_if_changed(path: Path, data: bytes, *, ignore_dates: bool = False) -> bool:
    if path.is_file():
        old = path.read_bytes()
        same = (_VOLATILE.sub(b"", old) == _VOLATILE.sub(b"", data)) if ignore_dates \
            else old == data
        if same:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


# -- update / compile ------------------------------------------------------------------------

@dataclass
class LocaleReport:
    locale: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    untranslated: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def _key(message: Message) -> str:
    mid = message.id if isinstance(message.id, str) else message.id[0]
    return f"{message.context}\x04{mid}" if message.context else mid


def update(locales: Iterable[str] = LOCALES) -> list[LocaleReport]:
    """Extract, write messages.pot, merge it into each .po (keeping translations), compile."""
    template = extract()
    _write_if_changed(pot_path(), _po_bytes(template), ignore_dates=True)
    reports = []
    for locale in locales:
        report = LocaleReport(locale)
        path = po_path(locale)
        catalog = read_catalog(path, locale) if path.is_file() else _new_catalog(locale)
        before = {_key(m) for m in catalog if m.id}
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False,
                       keep_user_comments=True)
        catalog.obsolete.clear()
        catalog.revision_date = datetime.now(UTC)
        catalog.language_team = TEAMS[locale]
        after = {_key(m) for m in catalog if m.id}
        report.added = sorted(after - before)
        report.removed = sorted(before - after)
        if _write_if_changed(path, _po_bytes(catalog), ignore_dates=True):
            report.written.append(path)
        report.written += compile_locale(locale)
        on_disk = read_catalog(path, locale)
        report.untranslated = [_key(m) for m in on_disk if m.id and not _translated(m)]
        report.fuzzy = [_key(m) for m in on_disk if m.id and m.fuzzy]
        reports.append(report)
    return reports


def compile_locale(locale: str) -> list[Path]:
    """.po → .mo, from the file on disk so the two always agree."""
    path = mo_path(locale)
    return [path] if _write_if_changed(path, _mo_bytes(read_catalog(po_path(locale), locale))) \
        else []


def _translated(message: Message) -> bool:
    if isinstance(message.string, tuple | list):
        return all(s.strip() for s in message.string)
    return bool(message.string and message.string.strip())


# -- check -----------------------------------------------------------------------------------

def placeholders(text: str) -> list[str]:
    """The format placeholders in a string, sorted (``%(name)s``, ``%s``, ``{name}``)."""
    return sorted(p for p in _PLACEHOLDER.findall(text) if p != "%%")


def mo_messages(data: bytes) -> dict:
    """A compiled catalogue's translations and plural rule, read with Babel's public
    ``read_mo``: what the app looks up, without the header's generator and dates (a newer
    Babel writes ``Generated-By`` differently but compiles the same messages)."""
    catalog = read_mo(io.BytesIO(data))
    def frozen(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    messages = {(m.context, frozen(m.id)): frozen(m.string) for m in catalog if m.id}
    return {"plural_forms": catalog.plural_forms, "messages": messages}


def mo_catalog_matches(locale: str) -> bool:
    """Whether the .mo on disk holds what compiling the .po gives now (messages, not bytes)."""
    fresh = mo_messages(_mo_bytes(read_catalog(po_path(locale), locale)))
    return fresh == mo_messages(mo_path(locale).read_bytes())


def problems(template: Catalog | None = None) -> list[str]:
    """Everything that would make the catalogues wrong, each as a line a person can act on."""
    template = template or extract()
    wanted = {_key(m): m for m in template if m.id}
    out = []
    for locale in LOCALES:
        if not po_path(locale).is_file():
            out.append(f"{po_path(locale)} is missing")
            continue
        catalog = read_catalog(po_path(locale), locale)
        have = {_key(m): m for m in catalog if m.id}
        for key in sorted(set(wanted) - set(have)):
            out.append(f"{locale}: new string not in the catalogue: {key!r}")
        for key in sorted(set(have) - set(wanted)):
            out.append(f"{locale}: string no longer in the sources: {key!r}")
        for key, m in sorted(have.items()):
            if m.fuzzy:
                out.append(f"{locale}: fuzzy (check it, then remove the fuzzy flag): {key!r}")
            elif not _translated(m):
                out.append(f"{locale}: not translated: {key!r}")
            else:
                ids = (m.id,) if isinstance(m.id, str) else tuple(m.id)
                # translated: a string, or a list of them, none empty
                strings = (m.string or "",) if isinstance(m.string, str | None) else m.string
                for i, text in enumerate(strings):
                    want = placeholders(ids[min(i, len(ids) - 1)])
                    if placeholders(text) != want:
                        out.append(f"{locale}: placeholders differ in {key!r}: "
                                   f"{want} vs {placeholders(text)}")
        if not mo_path(locale).is_file() or not mo_catalog_matches(locale):
            out.append(f"{locale}: {mo_path(locale).name} is not compiled from the .po")
    return out


# -- command line ----------------------------------------------------------------------------

def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "update"
    if cmd == "update":
        todo = 0
        for r in update():
            written = ", ".join(_rel(p) for p in r.written) or "no file changed"
            print(f"{r.locale}: {len(r.added)} new, {len(r.removed)} removed, "
                  f"{len(r.untranslated)} to translate; {written}")
            for key in r.untranslated:
                print(f"  {r.locale}: to translate: {key!r}")
            for key in r.fuzzy:
                print(f"  {r.locale}: fuzzy: {key!r}")
            todo += len(r.untranslated) + len(r.fuzzy)
        if todo:
            print("Fill the empty msgstr in bti/web/translations/{nb,nn}/LC_MESSAGES/messages.po, "
                  "then run `make translations` again to compile.")
        return 0
    if cmd == "compile":
        for locale in LOCALES:
            print(locale, ", ".join(_rel(p) for p in compile_locale(locale)) or "up to date")
        return 0
    if cmd == "check":
        found = problems()
        for line in found:
            print(line)
        if found:
            print(f"\nRun {UPDATE_COMMAND}, translate, and run it again.")
            return 1
        print("translations: up to date")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
