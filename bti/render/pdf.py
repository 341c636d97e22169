"""Documents as PDF (fpdf2): the case export, readable on paper, and a tabular report.

Unicode TrueType fonts are used when they are installed (DejaVu; ``BTI_PDF_FONT`` and
``BTI_PDF_MONO_FONT`` name others); without them the PDF uses the core fonts and Latin-1 text
(``latin1``). The PDF is plain PDF 1.3, not PDF/A.
"""

from __future__ import annotations

import os
import textwrap
import unicodedata
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bti.domain.log import canonical_json
from bti.render.table import Report

#: Unicode TrueType fonts for the PDF (headings; body text, monospaced so that lines can be
#: wrapped by count, which is fast); without them the PDF uses core fonts and Latin-1 text.
DEFAULT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEFAULT_MONO_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
#: Body text: 8 pt monospaced (0.6 em a character) on A4 with 10 mm margins holds 112
#: characters a line; a little less for safety.
_BODY_PT = 8
_BODY_CHARS = 108

_PLAIN = {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"', "\u2026": "...", "\u2192": "->", "\u0141": "L", "\u0142": "l",
          "\u0110": "D", "\u0111": "d", "\u0152": "OE", "\u0153": "oe", "\u20ac": "EUR"}

#: What a ``font`` argument may be: "default" (the installed fonts, if any), None (the core
#: fonts, as on a machine without DejaVu) or the path of a TrueType font.
Font = Path | str | None


def latin1(text: str) -> str:
    """``text`` in Latin-1 for the core PDF fonts: æ, ø, å and other Latin-1 letters stay;
    others lose their accents (NFKD) or become '?'."""
    out = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
            continue
        if ch in _PLAIN:
            out.append(_PLAIN[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) < 256
                       and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


def font_path() -> Path | None:
    """The Unicode font for headings and tables, if it is installed."""
    path = Path(os.environ.get("BTI_PDF_FONT", str(DEFAULT_FONT)))
    return path if path.is_file() else None


def mono_font_path() -> Path | None:
    """The monospaced Unicode font for the case export's body text, if it is installed."""
    path = Path(os.environ.get("BTI_PDF_MONO_FONT", str(DEFAULT_MONO_FONT)))
    return path if path.is_file() else None


def _wrap(text: str, width: int) -> list[str]:
    lines = []
    for para in text.splitlines() or [""]:
        lines += textwrap.wrap(para, width, break_long_words=True, break_on_hyphens=False,
                               replace_whitespace=True) or [""]
    return lines


def _text(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict | list):
        return canonical_json(v)
    return str(v)


def case_export(doc: dict[str, Any], sections: Iterable[str], font: Font = "default") -> bytes:
    """The case export (``bti.services.privacy.export``) as a PDF, readable on paper: every
    section, every row, every field. ``sections`` are the document's sections in the order
    shown. ``font=None`` forces the core fonts (Latin-1), as on a machine without DejaVu."""
    from fpdf import FPDF

    sans = font_path() if font == "default" else font
    mono = mono_font_path() if font == "default" else None
    pdf = FPDF(format="A4")
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_creator("bti")
    pdf.set_title(f"Case {doc['case_id']}: export for the family")
    clean: Callable[[str], str]
    if sans is not None:
        pdf.add_font("sans", "", str(sans))
        head_family, clean = "sans", (lambda s: s)
    else:
        head_family, clean = "helvetica", latin1
    if mono is not None:
        pdf.add_font("mono", "", str(mono))
        body_family = "mono"
    else:
        body_family = "courier" if sans is None else "sans"
    # a proportional body font holds fewer characters a line
    width = _BODY_CHARS if body_family in ("mono", "courier") else 80
    pdf.add_page()

    def heading(text: str) -> None:
        pdf.set_font(head_family, size=12)
        pdf.ln(2)
        for line in _wrap(clean(text), 80):
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(body_family, size=_BODY_PT)

    def para(text: str) -> None:
        for line in _wrap(clean(text), width):
            pdf.cell(0, 3.6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.8)

    def fields(row: dict[str, Any]) -> str:
        return "; ".join(f"{k}: {_text(v)}" for k, v in row.items())

    heading(f"Case {doc['case_id']}: everything stored about the case")
    para(f"Exported {doc['exported_at']} ({doc['format']} v{doc['version']}).")
    heading("Case")
    para(fields(doc["case"]))
    for section in sections:
        rows = doc[section]
        heading(f"{section.replace('_', ' ').capitalize()} ({len(rows)})")
        for row in rows:
            para(fields(row))
    heading(f"Access log: who has seen or changed the case ({len(doc['access_log'])})")
    for row in doc["access_log"]:
        para(f"{row['at']}  {row['user'] or 'system'} ({', '.join(row['roles'])}; "
             f"{row['unit'] or '-'})  {row['action']}  basis: {row['basis'] or '-'}  "
             f"{row['outcome']}")
    heading("People named in this export")
    for uid, p in doc["people"].items():
        para(f"{uid}: {p['name']} ({p['unit'] or '-'})")
    if doc["redactions"]:
        heading("Withheld fields")
        for r in doc["redactions"]:
            para(f"{r['table']} {r['id']} {r['column']}: {r['rule']}")
    return bytes(pdf.output())


#: The language a report's PDF declares, per language code.
_PDF_LANG = {"nb": "nb-NO", "nn": "nn-NO"}


def report(doc: Report, font: Font = "default") -> bytes:
    """A tabular report as a printable PDF: the title, the lines about it, every section as a
    table. ``font=None`` forces the core fonts (Latin-1)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    sans = font_path() if font == "default" else font
    pdf = FPDF(format="A4")
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_creator("bti")
    pdf.set_title(doc.title)
    pdf.set_lang(_PDF_LANG.get(doc.lang, "en"))
    clean: Callable[[str], str]
    if sans is not None:
        pdf.add_font("sans", "", str(sans))
        family, clean = "sans", (lambda s: s)
    else:
        family, clean = "helvetica", latin1
    pdf.add_page()
    pdf.set_font(family, size=15)
    pdf.cell(0, 9, clean(doc.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    for k, val in doc.meta:
        pdf.multi_cell(0, 5, clean(f"{k}: {val}" if k else val), new_x="LMARGIN", new_y="NEXT")
    for s in doc.sections:
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
