#!/usr/bin/env python
"""Benchmark: sign-in answers take the same time for an unknown user name and for a known user
with a wrong password (AUTHN-03: no user enumeration by timing).

    .venv/bin/python bench/bench_login_timing.py [--n 60]

Runs the real app in-process (SQLite in memory, CSRF on, throttling off for the measurement),
alternates the two kinds of failed sign-in and prints mean and median of each and their
difference. It asserts nothing. Goal (reliability.md AUTHN-03): a difference under 10 %.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from werkzeug.security import generate_password_hash  # noqa: E402

from bti.config import Settings  # noqa: E402
from bti.web import create_app  # noqa: E402
from bti.web.auth import limiter  # noqa: E402
from tests.factories import make_municipality  # noqa: E402
from tests.factories import make_unit  # noqa: E402
from tests.factories import make_user  # noqa: E402

PASSWORD = "eit langt og heilt oppdikta passord"  # noqa: S105 - fictional


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="attempts of each kind")
    args = parser.parse_args()
    app = create_app(Settings(database_url="sqlite://", secret_key="bench-only-secret",
                              workflows_dir=ROOT / "workflows", testing=True))
    limiter.enabled = False  # measure the answer, not the throttle
    with app.extensions["bti"].session_factory.begin() as s:
        m = make_municipality(s, mfa_required=False)
        make_user(s, m, make_unit(s, m), ("employee",), username="kjent",
                  password_hash=generate_password_hash(PASSWORD))
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    times: dict[str, list[float]] = {"unknown user name": [], "known user, wrong password": []}
    names = {"unknown user name": "finst-ikkje", "known user, wrong password": "kjent"}
    for _ in range(args.n):
        for kind, username in names.items():
            t = time.perf_counter()
            r = client.post("/auth/login", data={"username": username, "csrf_token": token,
                                                 "password": "feil passord, heilt feil"})
            times[kind].append(time.perf_counter() - t)
            if r.status_code != 200:
                print(f"unexpected status {r.status_code}")
    print("== bench_login_timing ==")
    print(f"  command: {' '.join(sys.argv)}")
    for kind, values in times.items():
        print(f"  {kind:<28} mean {statistics.mean(values) * 1000:7.1f} ms  "
              f"median {statistics.median(values) * 1000:7.1f} ms  (n={len(values)})")
    a, b = (statistics.mean(v) for v in times.values())
    print(f"  difference of the means: {abs(a - b) / max(a, b) * 100:.1f} %  (goal < 10 %)")


if __name__ == "__main__":
    main()
