"""The notify group: scheduled notifications."""

from __future__ import annotations

import click

from bti.cli.common import load_registry
from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.group(help="Scheduled notifications (run them from cron or a systemd timer).")
def notify() -> None:
    pass


@notify.command("consents", help="Warn stafettholders of consents that expire soon (once "
                "each); `bti notify scan` does this too, with the other scheduled notices.")
def notify_consents() -> None:
    from bti.services.cases import inbox
    from bti.services.context import Ctx

    registry = load_registry()
    with make_session_factory(open_engine()).begin() as session:
        new = inbox.warn_all_expiring_consents(Ctx.system(session, workflows=registry))
    click.echo(f"{new} new consent warning(s)")


@notify.command("scan", help="Write the notifications that come from the passing of time "
                "(consents expiring or expired, evaluations due or overdue, the nivå 0 "
                "deadline, overdue feedback from child welfare), once each. Run it daily.")
def notify_scan() -> None:
    from bti.services.context import Ctx
    from bti.services.notify import scan

    registry = load_registry()
    with make_session_factory(open_engine()).begin() as session:
        counts = scan.scan(Ctx.system(session, workflows=registry))
    for event, n in counts.items():
        click.echo(f"{event.value}: {n}")
    click.echo(f"total: {sum(counts.values())}")
