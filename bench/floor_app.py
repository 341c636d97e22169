"""The floor for issue 17's side-by-side figures: the least a Flask app can do per request on
the same server settings as bti. It imports nothing of bti.

- ``GET /case/<id>?rows=N``: reads the case row and its newest N entries from sqlite3 and
  renders them as a table with Jinja (a page of the same shape as bti's case page, without
  access checks, audit, sessions or forms);
- ``POST /case/<id>/note``: ``UPDATE`` the case's version, ``INSERT`` an entry, ``COMMIT``
  (one write transaction, as bti's note), then 303 back to the page;
- ``GET /healthz``: nothing at all.

The database file is ``FLOOR_DB``; ``make_db`` builds it. SQLite runs with bti's pragmas (WAL,
``synchronous=FULL``, a busy timeout), so both sides pay the same for a durable commit.
Run it as bti is run: ``gunicorn -c deploy/gunicorn.conf.py floor_app:app`` from ``bench/``.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC
from datetime import datetime

from flask import Flask
from flask import abort
from flask import redirect
from flask import render_template_string
from flask import request

PAGE = """<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><title>Sak {{ case[0] }}</title></head>
<body><main><h1>Sak {{ case[0] }}</h1><p>Versjon {{ case[1] }}</p>
<form method="post" action="/case/{{ case[0] }}/note"><label>Notat <textarea name="text">
</textarea></label><button>Lagre</button></form>
<table><thead><tr><th>Når</th><th>Hvem</th><th>Hva</th></tr></thead><tbody>
{% for at, who, text in rows %}<tr><td>{{ at }}</td><td>{{ who }}</td><td>{{ text }}</td></tr>
{% endfor %}</tbody></table></main></body></html>"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_case (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS floor_entry (
    id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES floor_case(id),
    at TEXT NOT NULL, who TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS floor_entry_case ON floor_entry (case_id, id);
"""

app = Flask(__name__)


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def make_db(path: str, entries_per_case: list[int], text: str = "Eit oppdikta notat.") -> None:
    """Cases 1..len(entries_per_case), case i with entries_per_case[i-1] entries."""
    conn = connect(path)
    conn.executescript(SCHEMA)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with conn:
        conn.execute("BEGIN")
        for i, n in enumerate(entries_per_case, start=1):
            conn.execute("INSERT INTO floor_case (id, version) VALUES (?, ?)", (i, n))
            conn.executemany("INSERT INTO floor_entry (case_id, at, who, text) VALUES (?,?,?,?)",
                             [(i, now, "Lærar Benchvik", f"{text} {k}") for k in range(n)])
    conn.close()


_conn: sqlite3.Connection | None = None


def db() -> sqlite3.Connection:
    """One connection per worker process, opened on first use (after gunicorn's fork)."""
    global _conn
    if _conn is None:
        _conn = connect(os.environ["FLOOR_DB"])
    return _conn


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/case/<int:case_id>")
def page(case_id: int):
    rows = min(max(request.args.get("rows", 50, type=int), 1), 5000)
    conn = db()
    case = conn.execute("SELECT id, version FROM floor_case WHERE id = ?", (case_id,)).fetchone()
    if case is None:
        abort(404)
    entries = conn.execute("SELECT at, who, text FROM floor_entry WHERE case_id = ? "
                           "ORDER BY id DESC LIMIT ?", (case_id, rows)).fetchall()
    return render_template_string(PAGE, case=case, rows=entries)


@app.post("/case/<int:case_id>/note")
def note(case_id: int):
    text = request.form.get("text", "").strip()
    if not text:
        abort(400)
    conn = db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute("UPDATE floor_case SET version = version + 1 WHERE id = ?",
                           (case_id,))
        if cur.rowcount != 1:
            conn.execute("ROLLBACK")
            abort(404)
        conn.execute("INSERT INTO floor_entry (case_id, at, who, text) VALUES (?, ?, ?, ?)",
                     (case_id, datetime.now(UTC).isoformat(timespec="seconds"), "Lærar", text))
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    return redirect(f"/case/{case_id}", code=303)
