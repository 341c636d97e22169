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


@notify.command("send", help="Send the e-mail notifications that are due (the outbox), then "
                "print how many were sent, will be retried, and failed. Settings: BTI_SMTP_URL, "
                "BTI_MAIL_FROM, BTI_MAIL_REPLY_TO, BTI_BASE_URL, BTI_DIGEST_HOUR "
                "(docs/deployment.md).")
@click.option("--once", "mode", flag_value="once", default=True,
              help="Send what is due now and stop (the default; for cron or a systemd timer).")
@click.option("--loop", "seconds", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help="Keep running: look for due mail every SECONDS seconds (until stopped).")
@click.option("--batch", type=click.IntRange(min=1, max=1000), default=50, show_default=True,
              help="Rows claimed per round.")
def notify_send(mode: str, seconds: int | None, batch: int) -> None:
    import os
    import secrets
    import socket
    import time
    from datetime import UTC
    from datetime import datetime

    from bti.config import ConfigError
    from bti.config import MailSettings
    from bti.services.notify.delivery import Counts
    from bti.services.notify.delivery import deliver_due

    try:
        settings = MailSettings.from_env()
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    session_factory = make_session_factory(open_engine())
    worker = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"

    def drain() -> Counts:
        total = Counts()
        while True:
            got = deliver_due(session_factory, settings, datetime.now(UTC), worker_id=worker,
                              batch=batch)
            total.add(got)
            if got.sent + got.retried + got.failed + got.released == 0:
                return total

    if seconds is None:
        click.echo(str(drain()))
        return
    try:
        while True:
            got = drain()
            if got.sent + got.retried + got.failed:
                click.echo(f"{datetime.now(UTC).isoformat(timespec='seconds')} {got}")
            time.sleep(seconds)
    except KeyboardInterrupt:
        pass


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
