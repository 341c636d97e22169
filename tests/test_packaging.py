"""Installs are pinned: a fresh clone gets exactly what CI tested (requirements/dev.lock).

The lock pins every dependency pyproject.toml names (runtime, dev, postgres) with hashes; and
``make install`` into a brand-new virtualenv installs exactly the locked versions, without a
warning from the build backend (the deprecated licence table was one), and gives a working
``bti`` command.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.M)


def locked() -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in _PIN.findall(LOCK.read_text(encoding="utf-8"))}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in ("dev", "postgres"):
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_every_declared_dependency_is_pinned_with_hashes_in_the_lock():
    pins = locked()
    missing = [str(r) for r in declared() if canonicalize_name(r.name) not in pins]
    assert not missing, f"not in {LOCK.name} (run `make lock`): {missing}"
    outside = [f"{r} (locked {pins[canonicalize_name(r.name)]})" for r in declared()
               if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)]
    assert not outside, f"the lock is stale (run `make lock`): {outside}"
    for name in ("pip", "setuptools", "uv"):  # the installer and the build backend too
        assert name in pins
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)  # one block a pin, with its hash lines
    unhashed = [b.split(" ", 1)[0] for b in blocks
                if _PIN.match(b) and "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes: {unhashed}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_make_install_into_a_fresh_venv_installs_exactly_the_lock(tmp_path):
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # the interpreter that runs the suite builds the new venv (as `make` would with python3)
    r = subprocess.run(["make", "--no-print-directory", "install", f"VENV={venv}",
                        f"PY={sys.executable}"], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    for warning in ("is deprecated", "DeprecationWarning", "project.license"):
        assert warning not in out, out[-4000:]
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json",
                             "--exclude-editable"], capture_output=True, text=True, check=True)
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    assert installed == locked()
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    help_ = subprocess.run([str(venv / "bin" / "bti"), "--help"], capture_output=True, text=True)
    assert help_.returncode == 0
    assert "init-db" in help_.stdout
