"""Rendered files read back into text, for tests: CSV rows (the csv module), XLSX cells
(openpyxl) and the text lines of a PDF (its content streams, decoded through the font's
ToUnicode map for an embedded Unicode font, as Latin-1 for the core fonts)."""

from __future__ import annotations

import csv
import io
import re
import zlib

from openpyxl import load_workbook


def csv_rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff"), "UTF-8 with BOM"
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def xlsx_cells(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data)).active
    return [[c.value for c in row] for row in sheet.iter_rows()]


_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_SHOW = re.compile(rb"\((?P<s>(?:\\.|[^\\)])*)\)\s*Tj", re.S)
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]{4,})>")
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b",
            ord("f"): b"\f", ord("("): b"(", ord(")"): b")", ord("\\"): b"\\"}


def _unescape(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i] != 0x5C:  # backslash
            out.append(raw[i])
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif chr(nxt).isdigit():
            digits = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4]).group()
            out.append(int(digits, 8))
            i += 1 + len(digits)
        else:  # a line continuation or an unknown escape: the character itself
            i += 1
    return bytes(out)


def pdf_lines(data: bytes) -> list[str]:
    """Every text the PDF shows (one ``Tj`` each), in page order. A PDF with one embedded
    Unicode font is decoded through its ToUnicode map; one with the core fonts as Latin-1."""
    assert data.startswith(b"%PDF-")
    streams = []
    for m in _STREAM.finditer(data):
        try:
            streams.append(zlib.decompress(m.group(1)))
        except zlib.error:
            streams.append(m.group(1))
    cmaps = [s for s in streams if b"begincmap" in s]
    assert len(cmaps) <= 1, "one embedded font at most"
    glyphs = {int(g, 16): bytes.fromhex(u.decode()).decode("utf-16-be")
              for g, u in _BFCHAR.findall(cmaps[0])} if cmaps else None
    lines = []
    for s in streams:
        if b"BT" not in s or s is (cmaps[0] if cmaps else None):
            continue
        for m in _SHOW.finditer(s):
            raw = _unescape(m.group("s"))
            if glyphs is None:
                lines.append(raw.decode("latin-1"))
            else:
                lines.append("".join(glyphs[int.from_bytes(raw[i:i + 2], "big")]
                                     for i in range(0, len(raw), 2)))
    return lines
