"""The notify group: scheduled notifications."""

from __future__ import annotations

import click

from bti.cli.common import load_registry
from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.group(help="Scheduled notifications (run them from cron or a systemd timer).")
def notify() -> None:
    pass


@notify.command("consents", help="Warn stafettholders of consents that expire soon (once each).")
def notify_consents() -> None:
    from bti.services.cases import inbox
    from bti.services.context import Ctx

    registry = load_registry()
    with make_session_factory(open_engine()).begin() as session:
        new = inbox.warn_all_expiring_consents(Ctx.system(session, workflows=registry))
    click.echo(f"{new} new consent warning(s)")
