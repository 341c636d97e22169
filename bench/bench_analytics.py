#!/usr/bin/env python
"""Benchmark: every analytics dashboard panel at national scale, on SQLite and PostgreSQL.

Run from the repository root:

    .venv/bin/python bench/bench_analytics.py [--cases 100000] [--runs 40] [--only sqlite|postgres]

It prints figures; it asserts nothing. For each database it builds the national-size demo set
(``bti.demo.seed.make_national``: the demo municipality with 25 units and ``--cases`` cases,
about 20 stafettlogg entries each) on a migrated SQLite file in a temporary directory and in a
dedicated schema of the PostgreSQL database ``--pg-url`` (dropped at the end), prints how long
that took, runs ``ANALYZE`` (PostgreSQL: ``VACUUM ANALYZE``, as autovacuum would after a bulk
load), then times each panel of ``bti.services.analytics.dashboard`` ``--runs`` times (after two
warm-up runs) for the demo leader: all units over the last 12 months, and one unit. It prints
p50/p95/max per panel and the whole dashboard (every panel and its audit row), against the goal
p95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bti.db.engine import make_engine  # noqa: E402
from bti.db.engine import make_session_factory  # noqa: E402
from bti.demo.seed import make_national  # noqa: E402
from bti.domain.analytics import AnalyticsCounter  # noqa: E402
from bti.domain.log import StafettloggEntry  # noqa: E402
from bti.domain.org import User  # noqa: E402
from bti.migrate import upgrade  # noqa: E402
from bti.services.analytics import dashboard as analytics  # noqa: E402
from bti.services.context import Ctx  # noqa: E402
from bti.services.workflows.registry import WorkflowRegistry  # noqa: E402

GOAL_MS = 100.0
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p * len(ordered) + 0.5)) - 1))]


def build(engine, registry, cases: int) -> float:
    started = time.perf_counter()
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        registry.sync(session)
    with make_session_factory(engine).begin() as session:
        make_national(session, registry, cases_count=cases,
                      password="et langt benkmerkepassord",  # noqa: S106 - fictional
                      progress=lambda n: print(f"    {n} cases", flush=True)
                      if n % 20000 == 0 else None)
    took = time.perf_counter() - started
    # what autovacuum does to a live database after a bulk load: statistics, and on PostgreSQL
    # the visibility map that index-only scans need (a fresh load has none)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return took


def time_panels(engine, registry, runs: int, unit: bool) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    factory = make_session_factory(engine)
    with factory() as session:
        leader = session.scalar(select(User).where(User.username == "rektor"))
        actor = leader.as_actor()
        unit_id = actor.unit_id
    for name, fn in [*analytics.PANELS.items(), ("dashboard (all + audit)", None)]:
        samples = []
        for i in range(runs + 2):
            with factory() as session:
                ctx = Ctx(session=session, actor=actor, workflows=registry)
                t0 = time.perf_counter()
                f = analytics.filters(ctx, unit=unit_id if unit else None)
                if fn is None:
                    analytics.dashboard(ctx, f)
                    session.commit()
                else:
                    fn(ctx, f)
                elapsed = (time.perf_counter() - t0) * 1000
                session.rollback()
            if i >= 2:
                samples.append(elapsed)
        out[name] = samples
    return out


def report(label: str, results: dict[str, list[float]]) -> None:
    print(f"  {label}")
    print(f"    {'panel':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  goal p95 <= {GOAL_MS:.0f}")
    for name, samples in results.items():
        p95 = pct(samples, 0.95)
        print(f"    {name:<26} {statistics.median(samples):8.1f} {p95:8.1f} "
              f"{max(samples):8.1f}  {'ok' if p95 <= GOAL_MS else 'MISSED'}")


def facts(engine) -> str:
    with engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(StafettloggEntry)).scalar()
        cells = conn.execute(select(func.count()).select_from(AnalyticsCounter)).scalar()
        cases = conn.execute(text("SELECT count(*) FROM case_record")).scalar()
        open_ = conn.execute(text("SELECT count(*) FROM case_record WHERE closed_at IS NULL"))\
            .scalar()
    return (f"{cases} cases ({open_} open), {entries} stafettlogg entries, "
            f"{cells} aggregate cells")


def run_one(kind: str, args, registry) -> None:
    print(f"\n== {kind} ==", flush=True)
    tmp = None
    schema = None
    admin = None
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="bti-bench-analytics-")
        engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
    else:
        schema = f"bti_bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(args.pg_url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine = make_engine(args.pg_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        took = build(engine, registry, args.cases)
        print(f"  built in {took:.1f} s: {facts(engine)}", flush=True)
        report("all units, last 12 months", time_panels(engine, registry, args.runs, False))
        report("one unit (the leader's), last 12 months",
               time_panels(engine, registry, args.runs, True))
    finally:
        engine.dispose()
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--pg-url", default=os.environ.get("BTI_BENCH_POSTGRES_URL", PG_URL))
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args()
    print("command:", shlex.join([".venv/bin/python", *sys.argv]))
    print(f"python {platform.python_version()} on {platform.platform()}, "
          f"{os.cpu_count()} CPUs")
    registry = WorkflowRegistry(ROOT / "workflows")
    for kind in ("sqlite", "postgres"):
        if args.only in (None, kind):
            run_one(kind, args, registry)


if __name__ == "__main__":
    main()
