#!/usr/bin/env python
"""Load benchmark: 50 users for 5 minutes against the production profile, on loopback only.

Run from the repository root:

    .venv/bin/python bench/bench_load.py [--users 50] [--seconds 300] [--think 0.5]
                                          [--workers N] [--cases-per-user 4] [--keep]

What it does:

1. creates a new PostgreSQL database on ``--postgres`` (default ``BTI_TEST_POSTGRES_URL`` or
   ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), migrates it (``bti.migrate.upgrade``),
   adds the demo data (``make_demo``: the demo municipality has the second factor off) and one
   teacher per simulated user at the demo school, each the reporter of ``--cases-per-user``
   cases (home informed, so the nivå 0 cycle start → assess → decide → continue is allowed);
2. starts gunicorn with the production configuration (``gunicorn -c deploy/gunicorn.conf.py``,
   ``BTI_SECRET_KEY`` set, no ``BTI_DEV``: ``__Host-`` cookie, HSTS, CSRF) on 127.0.0.1, login
   throttling in Redis when it answers (``BTI_RATELIMIT_STORAGE``, a prefix of its own);
3. signs every user in (a session of their own), then runs ``--users`` threads for
   ``--seconds``: each picks one of its own cases and does 80 % ``GET /saker/<id>`` (the case
   page), 15 % ``POST …/handling/add_note``, 5 % a state-changing transition (the next step of
   the cycle), with the CSRF token and the tracked ``expected_version``, then waits a random
   0–2×``--think`` seconds (mean ``--think``; 0: no pause at all);
4. prints p50/p95/p99 per kind, requests per second, and the errors: any status other than
   200 (reads) / 303 (writes), and any connection failure. A 409 (another writer on the same
   case; the users own their cases, so it should not happen) is counted separately and re-reads
   the page. Exit status 1 if there was any error;
5. checks afterwards that every note answered 303 is in the database and that every chain
   verifies, then stops gunicorn (its process group) and drops the database (``--keep`` keeps
   it and prints its URL).
All names, passwords and texts are made up.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (str(ROOT), str(ROOT / "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_web import PASSWORD  # noqa: E402 - the password HttpClient signs in with
from bench_web import HttpClient  # noqa: E402
from bench_web import free_port  # noqa: E402
from bench_web import machine_facts  # noqa: E402
from bench_web import summary  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bti.db.engine import make_engine  # noqa: E402
from bti.db.engine import make_session_factory  # noqa: E402
from bti.demo.seed import DEMO_SLUG  # noqa: E402
from bti.demo.seed import make_demo  # noqa: E402
from bti.domain.cases import Note  # noqa: E402
from bti.domain.org import Municipality  # noqa: E402
from bti.domain.org import Unit  # noqa: E402
from bti.migrate import upgrade  # noqa: E402
from bti.services.access import audit  # noqa: E402
from bti.services.accounts.users import create_user  # noqa: E402
from bti.services.cases import lifecycle as cases  # noqa: E402
from bti.services.cases.stafettlogg import verify_all  # noqa: E402
from bti.services.context import Ctx  # noqa: E402
from bti.services.context import utcnow  # noqa: E402
from bti.services.workflows.registry import WorkflowRegistry  # noqa: E402

NEXT = {"n0_plan": "start", "n0_active": "assess", "n0_evaluation": "decide",
        "n0_decision": "continue"}
AFTER = {"start": "n0_active", "assess": "n0_evaluation", "decide": "n0_decision",
         "continue": "n0_plan"}
NOTES = ["Lysglimt: god dag på skulen, leika med fleire i friminuttet.",
         "Samtale med kontaktlærar om veka. Barnet var roleg og deltok i timane.",
         "Barnet kom seint og sa det hadde sove dårleg. Vi følgjer med."]
_VERSION = re.compile(r'/handling/add_note".*?name="expected_version" value="(\d+)"', re.S)
_STATE = re.compile(r'/handling/(start|assess|decide|continue)"')


def default_postgres() -> str:
    return os.environ.get("BTI_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# --- the database -------------------------------------------------------------------------------


def create_database(base_url: str) -> str:
    name = f"bti_load_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def seed(url: str, users: int, per_user: int) -> list[tuple[str, list[int]]]:
    """Demo data, then one teacher per simulated user with their own cases."""
    engine = make_engine(url)
    upgrade(engine)
    registry = WorkflowRegistry(ROOT / "workflows")
    now = utcnow()
    out = []
    with make_session_factory(engine).begin() as s:
        make_demo(s, registry, password=PASSWORD)
        m = s.scalar(select(Municipality).where(Municipality.slug == DEMO_SLUG))
        school = s.scalar(select(Unit).where(Unit.municipality_id == m.id,
                                             Unit.kind == "school"))
        for i in range(users):
            username = f"last.laerar{i + 1:02d}"
            user = create_user(s, municipality_id=m.id, unit_id=school.id, username=username,
                               display_name=f"Lastlærar {i + 1:02d}", password=PASSWORD,
                               roles=["employee"], now=now)
            ctx = Ctx(session=s, actor=user, workflows=registry)
            ids = []
            for j in range(per_user):
                cid = cases.open_case(ctx, unit_id=None, child_pseudonym=f"Last {i + 1}-{j + 1}",
                                      child_birth_year=2015,
                                      concern={"what_seen": "Barnet verkar trøytt og stille.",
                                               "since": "Hausten"}).case.id
                cases.fire(ctx, cid, "inform_home", {"informed_on": now.date().isoformat(),
                                                     "how": "Samtale"})
                ids.append(cid)
            out.append((username, ids))
    engine.dispose()
    return out


# --- gunicorn with the production configuration -------------------------------------------------


class Server:
    def __init__(self, url: str, workers: int | None, log_path: Path):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BTI_")}
        # the logs are sealed, as in production; this process verifies them with the same key
        os.environ.setdefault("BTI_LOG_KEYS", "bench:" + secrets.token_urlsafe(32))
        env.update(BTI_DATABASE_URL=url, BTI_SECRET_KEY=secrets.token_urlsafe(48),
                   BTI_LOG_KEYS=os.environ["BTI_LOG_KEYS"],
                   BTI_WORKFLOWS_DIR=str(ROOT / "workflows"), BTI_BIND=f"127.0.0.1:{self.port}",
                   BTI_ACCESS_LOG="-")
        if workers:
            env["BTI_WORKERS"] = str(workers)
        self.redis = redis_up()
        if self.redis:
            env.update(BTI_RATELIMIT_STORAGE="redis://127.0.0.1:6379",
                       BTI_RATELIMIT_PREFIX=f"bti-load-{secrets.token_hex(6)}")
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        exe = Path(sys.executable).parent / "gunicorn"
        self.proc = subprocess.Popen([str(exe), "-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
                                     cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_path.read_text()[-3000:]}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
            finally:
                conn.close()
        raise RuntimeError("gunicorn did not answer /healthz")

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after 30 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def redis_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- the simulated users ------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.errors: list[str] = []
        self.conflicts = 0
        self.notes: list[str] = []

    def record(self, kind: str, status: int, elapsed: float) -> None:
        with self.lock:
            self.lat[kind].append(elapsed)
            self.statuses[kind, status] += 1


class User:
    def __init__(self, port: int, username: str, case_ids: list[int], stats: Stats,
                 rng: random.Random, think: float):
        self.http = HttpClient(port)
        self.username = username
        self.cases = {cid: None for cid in case_ids}  # case id → (version, state) once read
        self.stats = stats
        self.rng = rng
        self.think = think
        self.n = 0

    def sign_in(self) -> None:
        self.http.login(self.username, next(iter(self.cases)))

    def read(self, cid: int) -> bool:
        status, body, elapsed = self.http.request("GET", f"/saker/{cid}")
        self.stats.record("read", status, elapsed)
        if status != 200:
            self.stats.errors.append(f"GET /saker/{cid}: {status}")
            return False
        html = body.decode()
        m = _VERSION.search(html)
        step = _STATE.search(html)
        state = {v: k for k, v in NEXT.items()}.get(step.group(1)) if step else None
        if not m or not state:
            self.stats.errors.append(f"GET /saker/{cid}: no add_note form or no next step")
            return False
        self.cases[cid] = (int(m.group(1)), state)
        return True

    def write(self, kind: str, cid: int) -> None:
        version, state = self.cases[cid]
        self.n += 1
        if kind == "note":
            trigger = "add_note"
            note = f"{NOTES[self.n % len(NOTES)]} ({self.username} nr. {self.n})"
            form = {"text": note}
        else:
            trigger, note = NEXT[state], None
            form = {"reason": "Vi held fram og ser på det att."} if trigger == "continue" else {}
        form.update(csrf_token=self.http.csrf, expected_version=str(version))
        status, _body, elapsed = self.http.request(
            "POST", f"/saker/{cid}/handling/{trigger}", form)
        self.stats.record(kind, status, elapsed)
        if status == 303:
            self.cases[cid] = (version + 1, AFTER.get(trigger, state))
            if note:
                with self.stats.lock:
                    self.stats.notes.append(note)
        elif status == 409:
            with self.stats.lock:
                self.stats.conflicts += 1
            self.cases[cid] = None  # read it again
        else:
            self.stats.errors.append(f"POST {trigger} on {cid}: {status}")
            self.cases[cid] = None

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            cid = self.rng.choice(list(self.cases))
            roll = self.rng.random()
            try:
                if roll < 0.80 or self.cases[cid] is None:
                    self.read(cid)
                elif roll < 0.95:
                    self.write("note", cid)
                else:
                    self.write("transition", cid)
            except (OSError, http.client.HTTPException) as err:
                self.stats.errors.append(f"{type(err).__name__}: {err}")
                self.stats.record("failed", 0, 0.0)
            if self.think > 0:
                time.sleep(self.rng.uniform(0, 2 * self.think))


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--think", type=float, default=0.5,
                    help="mean pause between one user's requests in seconds (0: none)")
    ap.add_argument("--workers", type=int, default=None,
                    help="gunicorn workers (default: the configuration's, 2 × cores + 1)")
    ap.add_argument("--cases-per-user", type=int, default=4)
    ap.add_argument("--postgres", default=default_postgres(),
                    help="a PostgreSQL URL whose user may create databases")
    ap.add_argument("--keep", action="store_true", help="keep the database and the server log")
    args = ap.parse_args(argv[1:])

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bti-load-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    print("== bench_load: the production profile under load ==")
    for line in machine_facts(argv, tmp):
        print(line)
    url = create_database(args.postgres)
    server = None
    try:
        t0 = time.perf_counter()
        people = seed(url, args.users, args.cases_per_user)
        print(f"database {make_url(url).database}: migrated, demo data, {args.users} teachers × "
              f"{args.cases_per_user} cases ({time.perf_counter() - t0:.1f} s)")
        server = Server(url, args.workers, tmp / "gunicorn.log")
        server.wait_ready()
        print(f"gunicorn -c deploy/gunicorn.conf.py on 127.0.0.1:{server.port} "
              f"(workers: {args.workers or 'configuration default'}; login throttle in "
              f"{'Redis' if server.redis else 'memory'})", flush=True)
        stats = Stats()
        rng = random.Random(20261124)  # noqa: S311 - a workload, not a secret
        users = [User(server.port, name, ids, stats, random.Random(rng.random()), args.think)  # noqa: S311
                 for name, ids in people]
        t0 = time.perf_counter()
        for u in users:
            u.sign_in()
        print(f"{len(users)} users signed in, each with a session of their own "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
        stats.lat.clear()
        stats.statuses.clear()
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=u.run, args=(until,)) for u in users]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        server.stop()

        total = sum(len(v) for k, v in stats.lat.items() if k != "failed")
        print(f"\n[load] {args.users} users for {elapsed:.0f} s, think time mean {args.think:g} s: "
              f"{total:,} requests, {total / elapsed:,.1f} requests/s")
        for kind in ("read", "note", "transition"):
            lat = stats.lat.get(kind, [])
            if not lat:
                continue
            st = summary(lat)
            print(f"  {kind:<10} n={st['n']:>6,}  p50 {st['p50']:7.1f} ms  p95 {st['p95']:7.1f} ms"
                  f"  p99 {st['p99']:7.1f} ms  max {st['max']:7.1f} ms")
        print(f"  statuses: {dict(sorted(stats.statuses.items()))}")
        print(f"  conflicts (409, counted apart): {stats.conflicts}")
        print(f"  errors: {len(stats.errors)}")
        for e in Counter(stats.errors).most_common(10):
            print(f"    {e[1]} × {e[0]}")

        engine = make_engine(url)
        with make_session_factory(engine)() as s:
            stored = set(s.scalars(select(Note.text)))
            lost = [n for n in stats.notes if n not in stored]
            problems = list(verify_all(s)) + list(audit.verify(s))
            notes = s.scalar(select(func.count()).select_from(Note))
        engine.dispose()
        print(f"[checks] {len(stats.notes):,} notes answered 303, {len(lost)} missing "
              f"({notes:,} notes in the database); chains: "
              f"{'verify' if not problems else problems[:3]}")
        log = server.log_path.read_text(errors="replace")
        print(f"[gunicorn] log {len(log):,} bytes, {log.count('Traceback')} tracebacks, "
              f"{log.count('WORKER TIMEOUT')} worker timeouts")
        print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        bad = len(stats.errors) + len(lost) + len(problems)
        print("result: " + ("0 errors" if not bad else f"{bad} error(s)"))
        return 1 if bad else 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept: {url} and {tmp}")
        else:
            drop_database(args.postgres, url)
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
