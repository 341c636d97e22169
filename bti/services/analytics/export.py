"""The dashboard as tables for the yearly status report (tilstandsrapport): CSV, XLSX and PDF.

Built from a ``bti.services.analytics.dashboard.Dashboard`` (whose ``dashboard`` call checked
the access and wrote the audit row), so the same suppression applies: a suppressed value is
written in words ("fewer than 5", through the translator), never as "<5", which a reader or a
spreadsheet could take for a number. This module decides what the report says; ``bti.render``
writes it (and neutralises text cells a spreadsheet could take for a formula: catalogue names
are typed by the municipality, so they are never trusted).

Words: the labels are English message ids translated by the ``Translator`` the caller passes
(Flask-Babel's for the user's language on the web, ``bti.render.i18n.translations(lang)``
elsewhere), the same catalogues as the dashboard page. Three of them are worded differently
from the page's same English text in nb or nn, so they have the context ``status report``.
Level names come from the workflow file in ``lang``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bti.render import csvfile
from bti.render import pdf
from bti.render import xlsx
from bti.render.i18n import Translator
from bti.render.table import Report
from bti.render.table import Section
from bti.services.analytics.dashboard import EFFECTS
from bti.services.analytics.dashboard import STUCK_KINDS
from bti.services.analytics.dashboard import Dashboard


def labels(tr: Translator) -> dict[str, str]:
    """The report's words, by key, in the language of ``tr``."""
    _ = tr.gettext
    return {
        "title": _("Status report: BTI cases"),
        "period": _("Period"),
        "unit": _("Unit"),
        "all_units": _("All units"),
        "rule": _("Counts below 5 are written as 'fewer than 5', also where they could be worked "
                  "out."),
        "suppressed": _("fewer than 5"),
        "open": _("Open cases by level now"),
        "flows": tr.pgettext("status report", "Flows between levels"),
        "time": _("Time at each level (days)"),
        "trend": _("Time at level by month (median, days)"),
        "stuck": _("Cases stuck now"),
        "reports": _("Reports to child welfare"),
        "voice": _("The child's voice in evaluations"),
        "catalogue": _("Measures from the catalogue"),
        "handovers": _("Handovers of the baton"),
        "level": _("Level"),
        "cases": _("Cases"),
        "total": _("Total"),
        "from": _("From"),
        "to": _("To"),
        "stays": _("Stays ended"),
        "median": _("Median"),
        "p90": _("90th percentile"),
        "month": _("Month"),
        "what": _("What"),
        "value": _("Value"),
        "evaluation_overdue": _("Evaluation overdue"),
        "inactive_30": _("No activity for 30 days"),
        "inactive_60": _("No activity for 60 days"),
        "n0_overdue": _("Level 0 past its deadline"),
        "handover_pending": _("Handover not answered"),
        "sent": _("Sent"),
        "feedback_received": _("Answered (first feedback received)"),
        "overdue": _("Not answered, past the deadline"),
        "investigated": _("Investigation opened"),
        "concluded": tr.pgettext(
            "status report", "Concluded (closed without investigation, or investigation ended)"),
        "awaiting": _("Still awaiting feedback"),
        "days_p50": _("Days to the first feedback, median"),
        "days_p90": _("Days to the first feedback, 90th percentile"),
        "avverge": _("Averting actions"),
        "evaluations": _("Evaluations"),
        "with_voice": _("With the child's own words"),
        "without_voice": _("Without (reason given)"),
        "share": _("Share with the child's voice (%)"),
        "measure": _("Measure"),
        "free_text": tr.pgettext("status report", "Free text (not from the catalogue)"),
        "kind": _("Kind"),
        "started": _("Started"),
        "evaluated": _("Evaluated"),
        "good": _("Good effect"),
        "some": _("Some effect"),
        "none": _("No effect"),
        "worse": _("Worse"),
        "effective_share": _("Good or some effect (%)"),
        "universal": _("Universal"),
        "selective": _("Selective"),
        "indicated": _("Indicated"),
        "proposed": _("Proposed"),
        "accepted": _("Accepted"),
        "declined": _("Declined"),
        "pending": _("Not answered"),
        "accept_p50": _("Days until accepted, median"),
        "accept_p90": _("Days until accepted, 90th percentile"),
    }


def shown(value: Any, words: Mapping[str, str]) -> Any:
    """A suppressed value in words (``words`` are the ``labels``); numbers stay numbers."""
    return words["suppressed"] if value is None else value


def sections(board: Dashboard, lang: str, words: Mapping[str, str]) -> list[Section]:
    """The report's tables; ``words`` are its ``labels``."""
    t = words.__getitem__

    def show(value: Any) -> Any:
        return shown(value, words)

    def level(lv: str) -> str:
        label = board.levels.get(lv, (99, {}))[1]
        return label.get(lang) or label.get("en") or lv

    ob = board.open_by_level
    out = [Section(t("open"), (t("level"), t("cases")),
                   tuple((level(r.level), show(r.count)) for r in ob.rows)
                   + ((t("total"), show(ob.total)),))]
    out.append(Section(t("flows"), (t("from"), t("to"), t("cases")),
                       tuple((level(x.source), level(x.dest), show(x.count))
                             for x in board.flows.flows)))
    ti = board.time_in_level
    out.append(Section(t("time"), (t("level"), t("stays"), t("median"), t("p90")),
                       tuple((level(x.level), show(x.count), show(x.p50), show(x.p90))
                             for x in ti.levels)))
    out.append(Section(t("trend"), (t("month"), t("level"), t("stays"), t("median")),
                       tuple((p.month, level(p.level), show(p.count), show(p.p50))
                             for p in ti.trend)))
    out.append(Section(t("stuck"), (t("what"), t("cases")),
                       tuple((t(k), show(board.stuck.counts.get(k))) for k in STUCK_KINDS)))
    r = board.reports
    out.append(Section(t("reports"), (t("what"), t("value")), tuple(
        (t(k), show(getattr(r, k))) for k in ("sent", "feedback_received", "overdue",
                                               "days_p50", "days_p90", "investigated",
                                               "concluded", "awaiting", "avverge"))))
    v = board.child_voice
    out.append(Section(t("voice"), (t("what"), t("value")), tuple(
        (t(k), show(getattr(v, k))) for k in ("evaluations", "with_voice", "without_voice",
                                               "share"))))
    out.append(Section(t("catalogue"), (t("measure"), t("kind"), t("started"), t("evaluated"),
                                        *(t(e) for e in EFFECTS), t("effective_share")),
                       tuple((row.name if row.catalogue_id is not None else t("free_text"),
                              t(row.kind) if row.kind else "", show(row.started),
                              show(row.evaluated), *(show(row.effects[e]) for e in EFFECTS),
                              show(row.effective_share))
                             for row in board.catalogue_use.rows)))
    h = board.handovers
    out.append(Section(t("handovers"), (t("what"), t("value")), tuple(
        (t(label), show(getattr(h, k))) for k, label in (
            ("proposed", "proposed"), ("accepted", "accepted"), ("declined", "declined"),
            ("pending", "pending"), ("days_p50", "accept_p50"), ("days_p90", "accept_p90")))))
    return out


def unit_name(board: Dashboard) -> str | None:
    return dict(board.units).get(board.filters.unit_id) if board.filters.unit_id else None


def report(board: Dashboard, lang: str, tr: Translator) -> Report:
    """The status report in ``lang``: its title, period, unit and suppression rule, and every
    section."""
    words = labels(tr)
    f = board.filters
    meta = ((words["period"], f"{f.start} – {f.end}"),
            (words["unit"], unit_name(board) or words["all_units"]),
            ("", words["rule"]))
    return Report(words["title"], meta, tuple(sections(board, lang, words)), lang)


#: The writer of each format.
WRITERS = {"csv": csvfile.report, "xlsx": xlsx.report, "pdf": pdf.report}


def render(board: Dashboard, fmt: str, lang: str, tr: Translator) -> bytes:
    """The report as ``fmt`` (csv, xlsx or pdf) in ``lang``, its words translated by ``tr``."""
    return WRITERS[fmt](report(board, lang, tr))


def content_types() -> Mapping[str, str]:
    return {"csv": "text/csv; charset=utf-8",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "pdf": "application/pdf"}
