"""The ``bti`` command line: database, backups, demo data, audit and workflow tools.

One module per command group (``db`` also holds the top-level ``init-db``, ``backup`` and
``restore``; ``demo`` holds ``demo-data``); what they share lives once in ``common``. Each
command imports what it needs when it runs, so ``bti --help`` stays quick. The CLI never
imports ``bti.web`` (tests/test_architecture.py).
"""

from __future__ import annotations

import click

from bti.cli import analytics
from bti.cli import audit
from bti.cli import case
from bti.cli import db
from bti.cli import demo
from bti.cli import municipality
from bti.cli import notify
from bti.cli import privacy
from bti.cli import security
from bti.cli import team
from bti.cli import token
from bti.cli import unit
from bti.cli import workflow


@click.group(help="bti: the BTI action-guide workflow engine.")
def main() -> None:
    pass


for _command in (db.init_db, db.backup_cmd, db.restore_cmd, db.db_group, demo.demo_data,
                 analytics.analytics, municipality.municipality, notify.notify,
                 security.security, token.token, unit.unit, audit.audit, privacy.privacy,
                 workflow.workflow, team.team, case.case):
    main.add_command(_command)
