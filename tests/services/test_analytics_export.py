"""The status report (tilstandsrapport) of a real dashboard in bokmål, nynorsk and English, in
each format, read back: its words come from the UI catalogues through the translations passed
in (here the catalogues loaded without Flask, as a command or job would), its levels from the
workflow file, its figures suppressed. The web's path (Flask-Babel) is in
tests/web/test_analytics_web.py. The history is test_analytics's (days relative to
FIXED_NOW)."""

from __future__ import annotations

import pytest

from bti import i18n_tools
from bti.render import pdf as render_pdf
from bti.render.i18n import translations
from bti.services.analytics import dashboard as analytics
from bti.services.analytics import export
from tests.render.readback import csv_rows
from tests.render.readback import pdf_lines
from tests.render.readback import xlsx_cells
from tests.services.test_analytics import built  # noqa: F401 - the fixture
from tests.services.test_analytics import script  # noqa: F401 - the fixture

#: Words the report must carry, written out here (not computed from the catalogues): the title,
#: the unit line, section titles, row labels, the level names from the workflow file, and the
#: three labels worded differently from the dashboard page ("status report" context).
WORDS = {
    "nb": ["Tilstandsrapport: BTI-saker", "Enhet", "Alle enheter",
           "Tall under 5 skrives som «færre enn 5», også der de kan regnes ut fra andre tall.",
           "Åpne saker etter nivå nå", "Flyt mellom nivå", "Tid på hvert nivå (dager)",
           "Saker som står fast nå", "Ingen aktivitet på 30 dager",
           "Meldinger til barnevernet", "Avsluttet (henlagt eller ferdig undersøkt)",
           "Barnets stemme i evalueringer", "Med barnets egne ord",
           "Tiltak fra tiltaksoversikten", "Fritekst (ikke fra oversikten)", "Selektiv",
           "Overføringer av stafettpinnen", "Dager til godtatt, median", "I alt",
           "Nivå 0 – undring og avklaring"],
    "nn": ["Tilstandsrapport: BTI-saker", "Eining", "Alle einingar",
           "Tal under 5 blir skrivne som «færre enn 5», også der dei kan reknast ut frå andre "
           "tal.",
           "Opne saker etter nivå no", "Flyt mellom nivå", "Tid på kvart nivå (dagar)",
           "Saker som står fast no", "Ingen aktivitet på 30 dagar",
           "Meldingar til barnevernet", "Avslutta (lagd bort eller ferdig undersøkt)",
           "Barnet si stemme i evalueringar", "Med barnet sine eigne ord",
           "Tiltak frå tiltaksoversikta", "Fritekst (ikkje frå oversikta)", "Selektiv",
           "Overføringar av stafettpinnen", "Dagar til godteken, median", "I alt",
           "Nivå 0 – undring og avklaring"],
    "en": ["Status report: BTI cases", "Unit", "All units",
           "Counts below 5 are written as 'fewer than 5', also where they could be worked out.",
           "Open cases by level now", "Flows between levels", "Time at each level (days)",
           "Cases stuck now", "No activity for 30 days", "Reports to child welfare",
           "Concluded (closed without investigation, or investigation ended)",
           "The child's voice in evaluations", "With the child's own words",
           "Measures from the catalogue", "Free text (not from the catalogue)", "Selective",
           "Handovers of the baton", "Days until accepted, median", "Total",
           "Level 0 – wondering and clarification"],
}
#: A word of each other language that must not appear (nb and nn share many words).
FOREIGN = {"nb": ["Eining", "Opne saker etter nivå no", "Open cases by level now"],
           "nn": ["Enhet", "Åpne saker etter nivå nå", "Open cases by level now"],
           "en": ["Enhet", "Eining", "Åpne saker etter nivå nå"]}


def texts(fmt: str, data: bytes) -> list[str]:
    """The report's texts, read back from the file. The PDF's meta lines are "label: text"."""
    if fmt == "csv":
        return [c for row in csv_rows(data) for c in row]
    if fmt == "xlsx":
        return [str(c) for row in xlsx_cells(data) for c in row if c is not None]
    lines = pdf_lines(data)
    return lines + [part for line in lines[1:3] for part in line.split(": ", 1)]


def core_font_pdf(board, lang: str) -> bytes:
    return render_pdf.report(export.report(board, lang, translations(lang)), font=None)


@pytest.fixture
def board(world, script, built):  # noqa: F811 - the fixtures
    ctx = script.ctx(world.leader)
    return analytics.dashboard(ctx, analytics.filters(ctx))


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_the_report_carries_its_words_in_each_language_and_format(board, lang):
    for fmt in ("csv", "xlsx", "pdf", "pdf-core"):
        data = (core_font_pdf(board, lang) if fmt == "pdf-core"
                else export.render(board, fmt, lang, translations(lang)))
        found = texts(fmt.split("-")[0], data)
        words = [w.replace("–", "-") for w in WORDS[lang]] if fmt == "pdf-core" else WORDS[lang]
        run = " ".join(found) if fmt.startswith("pdf") else ""  # a table cell wraps
        missing = [w for w in words if w not in found and w not in run]
        assert not missing, (fmt, missing)
        assert not [w for w in FOREIGN[lang] if w in found], fmt
        # suppressed counts are written in words, never as "<5"
        assert {"nb": "færre enn 5", "nn": "færre enn 5", "en": "fewer than 5"}[lang] in found, fmt
        assert "<5" not in found, fmt


def test_the_words_are_the_catalogues_and_each_is_translated(board):
    """Every word the report asks for is a message of the nb and nn catalogues; the three with
    the "status report" context differ from the dashboard page's bokmål on purpose."""
    asked: list[tuple[str | None, str]] = []

    class Recorder:
        def gettext(self, message: str) -> str:
            asked.append((None, message))
            return message

        def pgettext(self, context: str, message: str) -> str:
            asked.append((context, message))
            return message

    export.report(board, "en", Recorder())
    assert len(set(asked)) == len(asked) == 63
    for lang in ("nb", "nn"):
        catalog = i18n_tools.read_catalog(i18n_tools.po_path(lang), lang)
        missing = [(c, m) for c, m in asked
                   if not getattr(catalog.get(m, context=c), "string", None)]
        assert not missing, (lang, missing)
    nb = translations("nb")
    assert nb.gettext("Flows between levels") == "Flyt mellom nivåer"  # the page
    assert nb.pgettext("status report", "Flows between levels") == "Flyt mellom nivå"
