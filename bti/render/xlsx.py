"""A tabular report as an XLSX workbook (xlsxwriter)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from bti.render.table import Report
from bti.render.table import neutralise


def report(doc: Report) -> bytes:
    """One workbook, one sheet; text cells are neutralised and always written as text (never
    as a formula), numbers as numbers."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False, "strings_to_numbers": False})
    ws = wb.add_worksheet(doc.title[:31].replace(":", ""))
    bold = wb.add_format({"bold": True})
    row = 0

    def put(r: int, values: Iterable[Any], fmt: Any = None) -> None:
        for c, value in enumerate(values):
            value = neutralise(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                ws.write_number(r, c, value, fmt)
            else:
                ws.write_string(r, c, "" if value is None else str(value), fmt)

    put(row, [doc.title], bold)
    row += 1
    for k, val in doc.meta:
        put(row, [k, val])
        row += 1
    for s in doc.sections:
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
