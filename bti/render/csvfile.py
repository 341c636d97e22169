"""A tabular report as CSV."""

from __future__ import annotations

import csv
import io

from bti.render.table import Report
from bti.render.table import neutralise


def report(doc: Report) -> bytes:
    """One CSV (semicolon-separated, as Norwegian spreadsheets expect; UTF-8 with BOM): the
    title, the lines about it, then each section's title, header and rows, a blank line
    between sections. Text cells are neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow([neutralise(doc.title)])
    for k, val in doc.meta:
        w.writerow([neutralise(k), neutralise(val)])
    for s in doc.sections:
        w.writerow([])
        w.writerow([neutralise(s.title)])
        w.writerow([neutralise(h) for h in s.header])
        for row in s.rows:
            w.writerow([neutralise(c) for c in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
