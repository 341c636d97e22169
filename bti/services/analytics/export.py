"""The dashboard as tables for the yearly status report (tilstandsrapport): CSV, XLSX and PDF.

Built from a ``bti.services.analytics.dashboard.Dashboard``, so the same suppression applies: a
suppressed value is written as "<5". Text cells that a spreadsheet could take for a formula
(starting with = + - @, a tab or a carriage return) are neutralised with a leading apostrophe, in
CSV and XLSX alike; catalogue names are typed by the municipality, so they are never trusted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bti.services.analytics.dashboard import EFFECTS
from bti.services.analytics.dashboard import STUCK_KINDS
from bti.services.analytics.dashboard import Dashboard

SUPPRESSED = "<5"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_L: dict[str, dict[str, str]] = {
    "title": {"nb": "Tilstandsrapport: BTI-saker", "nn": "Tilstandsrapport: BTI-saker",
              "en": "Status report: BTI cases"},
    "period": {"nb": "Periode", "nn": "Periode", "en": "Period"},
    "unit": {"nb": "Enhet", "nn": "Eining", "en": "Unit"},
    "all_units": {"nb": "Alle enheter", "nn": "Alle einingar", "en": "All units"},
    "rule": {"nb": "Tall under 5 er skjult (<5), også der de kan regnes ut fra andre tall.",
             "nn": "Tal under 5 er skjulte (<5), også der dei kan reknast ut frå andre tal.",
             "en": "Counts below 5 are hidden (<5), also where they could be worked out."},
    "open": {"nb": "Åpne saker etter nivå nå", "nn": "Opne saker etter nivå no",
             "en": "Open cases by level now"},
    "flows": {"nb": "Flyt mellom nivå", "nn": "Flyt mellom nivå", "en": "Flows between levels"},
    "time": {"nb": "Tid på hvert nivå (dager)", "nn": "Tid på kvart nivå (dagar)",
             "en": "Time at each level (days)"},
    "trend": {"nb": "Tid på nivå per måned (median, dager)",
              "nn": "Tid på nivå per månad (median, dagar)",
              "en": "Time at level by month (median, days)"},
    "stuck": {"nb": "Saker som står fast nå", "nn": "Saker som står fast no",
              "en": "Cases stuck now"},
    "reports": {"nb": "Meldinger til barnevernet", "nn": "Meldingar til barnevernet",
                "en": "Reports to child welfare"},
    "voice": {"nb": "Barnets stemme i evalueringer", "nn": "Barnet si stemme i evalueringar",
              "en": "The child's voice in evaluations"},
    "catalogue": {"nb": "Tiltak fra tiltaksoversikten", "nn": "Tiltak frå tiltaksoversikta",
                  "en": "Measures from the catalogue"},
    "handovers": {"nb": "Overføringer av stafettpinnen", "nn": "Overføringar av stafettpinnen",
                  "en": "Handovers of the baton"},
    "level": {"nb": "Nivå", "nn": "Nivå", "en": "Level"},
    "cases": {"nb": "Saker", "nn": "Saker", "en": "Cases"},
    "total": {"nb": "I alt", "nn": "I alt", "en": "Total"},
    "from": {"nb": "Fra", "nn": "Frå", "en": "From"},
    "to": {"nb": "Til", "nn": "Til", "en": "To"},
    "stays": {"nb": "Avsluttede opphold", "nn": "Avslutta opphald", "en": "Stays ended"},
    "median": {"nb": "Median", "nn": "Median", "en": "Median"},
    "p90": {"nb": "90-persentil", "nn": "90-persentil", "en": "90th percentile"},
    "month": {"nb": "Måned", "nn": "Månad", "en": "Month"},
    "what": {"nb": "Hva", "nn": "Kva", "en": "What"},
    "value": {"nb": "Verdi", "nn": "Verdi", "en": "Value"},
    "evaluation_overdue": {"nb": "Evaluering på overtid", "nn": "Evaluering på overtid",
                           "en": "Evaluation overdue"},
    "inactive_30": {"nb": "Ingen aktivitet på 30 dager", "nn": "Ingen aktivitet på 30 dagar",
                    "en": "No activity for 30 days"},
    "inactive_60": {"nb": "Ingen aktivitet på 60 dager", "nn": "Ingen aktivitet på 60 dagar",
                    "en": "No activity for 60 days"},
    "n0_overdue": {"nb": "Nivå 0 over fristen", "nn": "Nivå 0 over fristen",
                   "en": "Level 0 past its deadline"},
    "handover_pending": {"nb": "Overføring ikke besvart", "nn": "Overføring ikkje svara",
                         "en": "Handover not answered"},
    "sent": {"nb": "Sendt", "nn": "Sendt", "en": "Sent"},
    "feedback_received": {"nb": "Besvart (første tilbakemelding mottatt)",
                          "nn": "Svara (første tilbakemelding motteken)",
                          "en": "Answered (first feedback received)"},
    "overdue": {"nb": "Ikke besvart, fristen er passert", "nn": "Ikkje svara, fristen er passert",
                "en": "Not answered, past the deadline"},
    "investigated": {"nb": "Undersøkelse startet", "nn": "Undersøking starta",
                     "en": "Investigation opened"},
    "concluded": {"nb": "Avsluttet (henlagt eller ferdig undersøkt)",
                  "nn": "Avslutta (lagd bort eller ferdig undersøkt)",
                  "en": "Concluded (closed without investigation, or investigation ended)"},
    "awaiting": {"nb": "Venter fortsatt på tilbakemelding",
                 "nn": "Ventar framleis på tilbakemelding", "en": "Still awaiting feedback"},
    "days_p50": {"nb": "Dager til første tilbakemelding, median",
                 "nn": "Dagar til første tilbakemelding, median",
                 "en": "Days to the first feedback, median"},
    "days_p90": {"nb": "Dager til første tilbakemelding, 90-persentil",
                 "nn": "Dagar til første tilbakemelding, 90-persentil",
                 "en": "Days to the first feedback, 90th percentile"},
    "avverge": {"nb": "Avvergingstiltak", "nn": "Avvergingstiltak", "en": "Averting actions"},
    "evaluations": {"nb": "Evalueringer", "nn": "Evalueringar", "en": "Evaluations"},
    "with_voice": {"nb": "Med barnets egne ord", "nn": "Med barnet sine eigne ord",
                   "en": "With the child's own words"},
    "without_voice": {"nb": "Uten (begrunnet)", "nn": "Utan (grunngjeve)",
                      "en": "Without (reason given)"},
    "share": {"nb": "Andel med barnets stemme (%)", "nn": "Del med barnet si stemme (%)",
              "en": "Share with the child's voice (%)"},
    "measure": {"nb": "Tiltak", "nn": "Tiltak", "en": "Measure"},
    "free_text": {"nb": "Fritekst (ikke fra oversikten)", "nn": "Fritekst (ikkje frå oversikta)",
                  "en": "Free text (not from the catalogue)"},
    "kind": {"nb": "Type", "nn": "Type", "en": "Kind"},
    "started": {"nb": "Startet", "nn": "Starta", "en": "Started"},
    "evaluated": {"nb": "Evaluert", "nn": "Evaluert", "en": "Evaluated"},
    "good": {"nb": "God effekt", "nn": "God effekt", "en": "Good effect"},
    "some": {"nb": "Noe effekt", "nn": "Noko effekt", "en": "Some effect"},
    "none": {"nb": "Ingen effekt", "nn": "Ingen effekt", "en": "No effect"},
    "worse": {"nb": "Forverring", "nn": "Forverring", "en": "Worse"},
    "effective_share": {"nb": "God eller noe effekt (%)", "nn": "God eller noko effekt (%)",
                        "en": "Good or some effect (%)"},
    "universal": {"nb": "Universell", "nn": "Universell", "en": "Universal"},
    "selective": {"nb": "Selektiv", "nn": "Selektiv", "en": "Selective"},
    "indicated": {"nb": "Indikert", "nn": "Indikert", "en": "Indicated"},
    "proposed": {"nb": "Foreslått", "nn": "Føreslått", "en": "Proposed"},
    "accepted": {"nb": "Godtatt", "nn": "Godteken", "en": "Accepted"},
    "declined": {"nb": "Avslått", "nn": "Avslått", "en": "Declined"},
    "pending": {"nb": "Ikke besvart", "nn": "Ikkje svara", "en": "Not answered"},
    "accept_p50": {"nb": "Dager til godtatt, median", "nn": "Dagar til godteken, median",
                   "en": "Days until accepted, median"},
    "accept_p90": {"nb": "Dager til godtatt, 90-persentil",
                   "nn": "Dagar til godteken, 90-persentil",
                   "en": "Days until accepted, 90th percentile"},
}


def text(key: str, lang: str) -> str:
    return _L[key].get(lang) or _L[key]["en"]


def shown(value: Any) -> Any:
    """A suppressed value as "<5"; numbers stay numbers."""
    return SUPPRESSED if value is None else value


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@dataclass(frozen=True)
class Section:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def sections(board: Dashboard, lang: str) -> list[Section]:
    t = lambda key: text(key, lang)  # noqa: E731

    def level(lv: str) -> str:
        label = board.levels.get(lv, (99, {}))[1]
        return label.get(lang) or label.get("en") or lv

    ob = board.open_by_level
    out = [Section(t("open"), (t("level"), t("cases")),
                   tuple((level(r.level), shown(r.count)) for r in ob.rows)
                   + ((t("total"), shown(ob.total)),))]
    out.append(Section(t("flows"), (t("from"), t("to"), t("cases")),
                       tuple((level(x.source), level(x.dest), shown(x.count))
                             for x in board.flows.flows)))
    ti = board.time_in_level
    out.append(Section(t("time"), (t("level"), t("stays"), t("median"), t("p90")),
                       tuple((level(x.level), shown(x.count), shown(x.p50), shown(x.p90))
                             for x in ti.levels)))
    out.append(Section(t("trend"), (t("month"), t("level"), t("stays"), t("median")),
                       tuple((p.month, level(p.level), shown(p.count), shown(p.p50))
                             for p in ti.trend)))
    out.append(Section(t("stuck"), (t("what"), t("cases")),
                       tuple((t(k), shown(board.stuck.counts.get(k))) for k in STUCK_KINDS)))
    r = board.reports
    out.append(Section(t("reports"), (t("what"), t("value")), tuple(
        (t(k), shown(getattr(r, k))) for k in ("sent", "feedback_received", "overdue",
                                               "days_p50", "days_p90", "investigated",
                                               "concluded", "awaiting", "avverge"))))
    v = board.child_voice
    out.append(Section(t("voice"), (t("what"), t("value")), tuple(
        (t(k), shown(getattr(v, k))) for k in ("evaluations", "with_voice", "without_voice",
                                               "share"))))
    out.append(Section(t("catalogue"), (t("measure"), t("kind"), t("started"), t("evaluated"),
                                        *(t(e) for e in EFFECTS), t("effective_share")),
                       tuple((row.name if row.catalogue_id is not None else t("free_text"),
                              t(row.kind) if row.kind else "", shown(row.started),
                              shown(row.evaluated), *(shown(row.effects[e]) for e in EFFECTS),
                              shown(row.effective_share))
                             for row in board.catalogue_use.rows)))
    h = board.handovers
    out.append(Section(t("handovers"), (t("what"), t("value")), tuple(
        (t(label), shown(getattr(h, k))) for k, label in (
            ("proposed", "proposed"), ("accepted", "accepted"), ("declined", "declined"),
            ("pending", "pending"), ("days_p50", "accept_p50"), ("days_p90", "accept_p90")))))
    return out


def _meta(board: Dashboard, lang: str, unit_name: str | None) -> list[tuple[str, str]]:
    f = board.filters
    return [(text("period", lang), f"{f.start} – {f.end}"),
            (text("unit", lang), unit_name or text("all_units", lang)),
            ("", text("rule", lang))]


def unit_name(board: Dashboard) -> str | None:
    return dict(board.units).get(board.filters.unit_id) if board.filters.unit_id else None


def to_csv(board: Dashboard, lang: str) -> bytes:
    """One CSV (semicolon-separated, as Norwegian spreadsheets expect; UTF-8 with BOM): each
    section's title, header and rows, a blank line between sections."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow([neutralise(text("title", lang))])
    for k, val in _meta(board, lang, unit_name(board)):
        w.writerow([neutralise(k), neutralise(val)])
    for s in sections(board, lang):
        w.writerow([])
        w.writerow([neutralise(s.title)])
        w.writerow([neutralise(h) for h in s.header])
        for row in s.rows:
            w.writerow([neutralise(c) for c in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(board: Dashboard, lang: str) -> bytes:
    """One workbook, one sheet; text cells are neutralised and always written as text (never
    as a formula), numbers as numbers."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False, "strings_to_numbers": False})
    ws = wb.add_worksheet(text("title", lang)[:31].replace(":", ""))
    bold = wb.add_format({"bold": True})
    row = 0

    def put(r: int, values, fmt=None) -> None:
        for c, value in enumerate(values):
            value = neutralise(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                ws.write_number(r, c, value, fmt)
            else:
                ws.write_string(r, c, "" if value is None else str(value), fmt)

    put(row, [text("title", lang)], bold)
    row += 1
    for k, val in _meta(board, lang, unit_name(board)):
        put(row, [k, val])
        row += 1
    for s in sections(board, lang):
        row += 1
        put(row, [s.title], bold)
        row += 1
        put(row, s.header, bold)
        row += 1
        for values in s.rows:
            put(row, values)
            row += 1
    ws.set_column(0, 0, 42)
    ws.set_column(1, 9, 16)
    wb.close()
    return buf.getvalue()


def to_pdf(board: Dashboard, lang: str) -> bytes:
    """A printable report: every section as a table."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from bti.services.privacy.export import _font_path
    from bti.services.privacy.export import latin1

    sans = _font_path()
    pdf = FPDF(format="A4")
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_creator("bti")
    pdf.set_title(text("title", lang))
    pdf.set_lang({"nb": "nb-NO", "nn": "nn-NO"}.get(lang, "en"))
    if sans is not None:
        pdf.add_font("sans", "", str(sans))
        family, clean = "sans", (lambda s: s)
    else:
        family, clean = "helvetica", latin1
    pdf.add_page()
    pdf.set_font(family, size=15)
    pdf.cell(0, 9, clean(text("title", lang)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    for k, val in _meta(board, lang, unit_name(board)):
        pdf.multi_cell(0, 5, clean(f"{k}: {val}" if k else val), new_x="LMARGIN", new_y="NEXT")
    for s in sections(board, lang):
        pdf.ln(3)
        pdf.set_font(family, size=12)
        pdf.cell(0, 7, clean(s.title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=8)
        if not s.rows:
            pdf.cell(0, 5, "–" if sans else "-", new_x="LMARGIN", new_y="NEXT")
            continue
        first = 60 if len(s.header) > 4 else 80
        widths = [first] + [(186 - first) / (len(s.header) - 1)] * (len(s.header) - 1)
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.5,
                       headings_style=FontFace(emphasis=None, fill_color=(230, 230, 230))
                       ) as table:
            head = table.row()
            for h in s.header:
                head.cell(clean(str(h)))
            for values in s.rows:
                r = table.row()
                for value in values:
                    r.cell(clean(str(value)))
    return bytes(pdf.output())


def content_types() -> Mapping[str, str]:
    return {"csv": "text/csv; charset=utf-8",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "pdf": "application/pdf"}
