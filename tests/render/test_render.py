"""bti.render on its own: the writers on a small report, read back (CSV with the csv module,
XLSX with openpyxl, PDF through its content streams), formula neutralising, the fonts'
fallback, and the catalogues loaded without Flask. No database."""

from __future__ import annotations

import subprocess  # nosec B404 - the interpreter itself, an argument list
import sys
from pathlib import Path

import pytest

from bti.render import csvfile
from bti.render import jsonfile
from bti.render import pdf
from bti.render import xlsx
from bti.render.i18n import translations
from bti.render.table import Report
from bti.render.table import Section
from tests.render.readback import csv_rows
from tests.render.readback import pdf_lines
from tests.render.readback import xlsx_cells

EVIL = '=HYPERLINK("http://example.invalid","klikk")'


def small_report(lang: str) -> Report:
    """Words through the catalogue of ``lang``, a formula-like cell typed by a user, a number,
    a suppressed count and a letter outside Latin-1."""
    _ = translations(lang).gettext
    return Report(_("Status report: BTI cases"), ((_("Unit"), "Nordvik skule"),
                                                  ("", "Łódź – ✓")),
                  (Section(_("Cases stuck now"), (_("What"), _("Cases")),
                           ((_("Evaluation overdue"), 7), (EVIL, "<5"))),
                   Section(_("Handovers of the baton"), (_("What"), _("Value")), ())),
                  lang)


WORDS = {"nb": ("Tilstandsrapport: BTI-saker", "Enhet", "Saker som står fast nå", "Hva",
                "Evaluering på overtid", "Overføringer av stafettpinnen"),
         "nn": ("Tilstandsrapport: BTI-saker", "Eining", "Saker som står fast no", "Kva",
                "Evaluering på overtid", "Overføringar av stafettpinnen"),
         "en": ("Status report: BTI cases", "Unit", "Cases stuck now", "What",
                "Evaluation overdue", "Handovers of the baton")}
VALUE = {"nb": "Verdi", "nn": "Verdi", "en": "Value"}


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_csv_carries_the_words_and_neutralises_formulas(lang):
    rows = csv_rows(csvfile.report(small_report(lang)))
    title, unit, rule, blank, section, header, first, evil = rows[:8]
    assert (title, unit, blank) == ([WORDS[lang][0]], [WORDS[lang][1], "Nordvik skule"], [])
    assert rule == ["", "Łódź – ✓"]
    assert (section, header[0], first) == ([WORDS[lang][2]], WORDS[lang][3],
                                           [WORDS[lang][4], "7"])
    assert evil == ["'" + EVIL, "<5"]
    assert rows[-3:] == [[], [WORDS[lang][5]], [WORDS[lang][3], VALUE[lang]]]  # no rows


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_xlsx_carries_the_words_as_text_and_numbers_as_numbers(lang):
    cells = [[c for c in row if c is not None] for row in xlsx_cells(
        xlsx.report(small_report(lang)))]
    cells = [row for row in cells if row]
    assert cells[0] == [WORDS[lang][0]]
    assert cells[1] == [WORDS[lang][1], "Nordvik skule"]
    assert [WORDS[lang][4], 7] in cells  # the number stays a number
    assert ["'" + EVIL, "<5"] in cells
    assert [WORDS[lang][5]] in cells


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
@pytest.mark.parametrize("font", ["default", None])
def test_pdf_carries_the_words_with_either_font(lang, font):
    if font == "default" and pdf.font_path() is None:
        pytest.skip("no Unicode font installed (DejaVu)")
    lines = pdf_lines(pdf.report(small_report(lang), font=font))
    assert lines[0] == WORDS[lang][0]
    assert lines[1] == f"{WORDS[lang][1]}: Nordvik skule"
    assert lines[2] == ("Łódź – ✓" if font else "Lódz - ?")  # core fonts: Latin-1
    assert set(WORDS[lang][2:]) <= set(lines)
    assert EVIL in lines  # a PDF runs no formulas: the text as typed


def test_the_case_export_pdf_and_json():
    doc = {"format": "bti-case-export", "version": 1, "case_id": 7,
           "exported_at": "2026-03-02T10:00:00+00:00", "case": {"id": 7, "note": "æøå"},
           "notes": [{"id": 1, "text": "Merknad (første)"}], "access_log": [
               {"at": "2026-03-01T09:00:00+00:00", "user": None, "roles": [], "unit": None,
                "action": "case.exported", "basis": "system", "outcome": "allowed"}],
           "people": {"3": {"name": "Kari Testlærar", "unit": None}}, "redactions": []}
    lines = pdf_lines(pdf.case_export(doc, ["notes"], font=None))
    assert lines[:4] == ["Case 7: everything stored about the case",
                         "Exported 2026-03-02T10:00:00+00:00 (bti-case-export v1).", "Case",
                         "id: 7; note: æøå"]
    assert "Notes (1)" in lines
    assert "id: 1; text: Merknad (første)" in lines
    assert "3: Kari Testlærar (-)" in lines
    assert ("2026-03-01T09:00:00+00:00  system (; -)  case.exported  basis: system  allowed"
            in lines)
    assert jsonfile.document(doc).decode("utf-8").startswith('{\n "format": "bti-case-export"')


def test_latin1_keeps_norwegian_letters():
    assert pdf.latin1("æøå ÆØÅ – Łódź ✓ …") == "æøå ÆØÅ - Lódz ? ..."


def test_the_catalogues_load_without_flask():
    """What a command or a job uses: Babel's catalogue loader on bti/web/translations, in a
    fresh interpreter that loads no Flask and nothing of bti.web."""
    script = (
        "import sys\nfrom bti.render.i18n import translations\n"
        "print([translations(c).gettext('Unit') for c in ('nb', 'nn', 'en', 'de')])\n"
        "print(translations('nn').pgettext('status report',"
        " 'Free text (not from the catalogue)'))\n"
        "print(sorted(m for m in sys.modules if m == 'bti.web' or m.startswith('bti.web.')"
        " or m.split('.')[0].startswith('flask')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).parent.parent.parent)
    assert result.stdout.splitlines() == ["['Enhet', 'Eining', 'Unit', 'Unit']",
                                          "Fritekst (ikkje frå oversikta)", "[]"]
