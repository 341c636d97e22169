"""Importing any part of the domain registers every entity (bti/domain/__init__.py): a process
that imports one model module (as a CLI command does) has the complete ``Base.metadata``."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess  # nosec B404 - the interpreter itself, an argument list
import sys

import pytest
from sqlalchemy import Table

import bti
from bti.domain.base import Base

#: Run in a fresh interpreter: import one module, resolve every foreign key's target table
#: (what ``sorted_tables`` and the privacy export's walk need), print the tables.
PROBE = """
import json, sys, importlib
importlib.import_module(sys.argv[1])
from sqlalchemy.orm import configure_mappers
from bti.domain.base import Base
configure_mappers()
for table in Base.metadata.sorted_tables:
    for fk in table.foreign_keys:
        fk.column
print(json.dumps(sorted(Base.metadata.tables)))
"""


def every_table() -> list[str]:
    """The tables known once every module of the package is imported (the migrations' env.py
    runs Alembic when imported, so it is left out)."""
    for mod in pkgutil.walk_packages(bti.__path__, "bti."):
        if not mod.name.startswith("bti.migrations"):
            importlib.import_module(mod.name)
    return sorted(Base.metadata.tables)


@pytest.mark.parametrize("module", ["bti.domain.base", "bti.domain.cases", "bti.domain.org",
                                    "bti.domain.log", "bti.domain.rules",
                                    "bti.services.privacy.export",
                                    "bti.services.privacy.purge"])
def test_one_import_registers_every_entity(module):
    out = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == every_table()
    assert {"measure_catalogue", "measure", "case_purge", "case_archive"} <= set(every_table())


def test_every_model_is_mapped_to_a_table():
    """``Base`` declares ``__table__`` a ``Table`` for the type checker (SQLAlchemy says the
    wider ``FromClause``), so that ``Model.__table__.insert()`` type-checks: it must stay true."""
    every_table()
    models = [m.class_ for m in Base.registry.mappers]
    assert models
    assert all(isinstance(m.__table__, Table) for m in models), [
        m for m in models if not isinstance(m.__table__, Table)]
