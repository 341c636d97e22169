"""The audit group: verify, review and anchor the audit trail and the stafettlogg."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from bti.cli.common import open_engine
from bti.db.engine import make_session_factory
from bti.domain.vocabulary import AuditAction


@click.group(help="The audit trail and the stafettlogg chains.")
def audit() -> None:
    pass


_ANCHOR_HELP = ("The anchor file (JSON lines of chain heads, kept outside the database); "
                "default: BTI_AUDIT_ANCHOR_FILE.")


@audit.command("verify", help="Verify every case's stafettlogg chain and every audit chain "
               "(with their seals when BTI_LOG_KEYS is set), each case's log against its audit "
               "rows and every purge tombstone against its audit row, and compare the audit "
               "chains with the anchor file if one is given; exit 1 naming the first problem.")
@click.option("--anchor", "anchor_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="BTI_AUDIT_ANCHOR_FILE", help=_ANCHOR_HELP)
def audit_verify(anchor_file: Path | None) -> None:
    from bti.config import ConfigError
    from bti.config import log_keys
    from bti.services.access import audit as audit_service
    from bti.services.access import integrity

    anchor = None
    if anchor_file is not None:
        try:
            anchor = audit_service.read_anchor(anchor_file)
        except audit_service.AnchorError as err:
            click.echo(f"BROKEN: {err}", err=True)
            sys.exit(1)
    try:
        keys = log_keys()
    except ConfigError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    engine = open_engine()
    report = integrity.Report()
    with make_session_factory(engine)() as session:
        for problem in integrity.verify(session, anchor, keys, report):
            click.echo(f"BROKEN: {problem}", err=True)
            sys.exit(1)
    click.echo(f"ok: every stafettlogg chain verifies ({report.cases} case(s))")
    if anchor is None:
        click.echo(f"ok: {report.audit_chains} audit chain(s), {report.audit_rows} row(s) verify; "
                   "no anchor given, so a removed tail or a rewritten chain cannot be detected")
    else:
        click.echo(f"ok: {report.audit_chains} audit chain(s), {report.audit_rows} row(s) verify "
                   f"and match the anchor {anchor_file} ({len(anchor)} chain(s))")
    click.echo(f"ok: every case's log ends where its audit rows say; {report.tombstones} "
               "tombstone(s), each with its purge's audit row")
    if keys is None:
        click.echo("WARNING: BTI_LOG_KEYS is not set, so the seals were not checked: an edited "
                   "log with its hashes recomputed, or a forged entry, cannot be detected",
                   err=True)
    else:
        click.echo(f"ok: every row is sealed by a key in BTI_LOG_KEYS ({', '.join(keys.ids)})")


@audit.command("review", help="Follow-up of the access log (AUD-07): read the audit rows "
               "written since the last run, raise review items (many cases in an hour, emergency "
               "access, work outside working hours, mass export, repeated refusals) and notify "
               "the nearest leader. Run it from cron or a systemd timer, for example hourly.")
@click.option("--municipality", "slug", help="Only this municipality (its slug).")
def audit_review(slug: str | None) -> None:
    from bti.domain.org import Municipality
    from bti.services.access import review
    from bti.services.context import utcnow

    with make_session_factory(open_engine()).begin() as session:
        municipality_id = None
        if slug is not None:
            municipality_id = session.scalar(select(Municipality.id)
                                             .where(Municipality.slug == slug))
            if municipality_id is None:
                raise click.ClickException(f"no municipality with the slug {slug!r}")
        run = review.run_review(session, utcnow(), municipality_id=municipality_id)
    per = ", ".join(f"{k} {v}" for k, v in run.items.items())
    click.echo(f"read {run.rows_read} audit row(s); raised {run.items_raised} review item(s) "
               f"({per}); {run.notifications} notification(s)")


@audit.command("anchor", help="Append the current audit chain heads (chain, seq, hash, UTC time) "
               "as one JSON line to FILE, outside the database.")
@click.option("--file", "anchor_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="BTI_AUDIT_ANCHOR_FILE", help=_ANCHOR_HELP)
def audit_anchor(anchor_file: Path | None) -> None:
    from bti.services.access import audit as audit_service
    from bti.services.context import utcnow

    if anchor_file is None:
        raise click.UsageError("give --file FILE or set BTI_AUDIT_ANCHOR_FILE")
    engine = open_engine()
    factory = make_session_factory(engine)
    with factory.begin() as session:  # the export is itself an audited event (system chain)
        audit_service.record_system(session, AuditAction.AUDIT_ANCHOR_EXPORTED, now=utcnow(),
                                    municipality_id=None, basis=None)
    with factory() as session:
        line = audit_service.anchor_line(session, utcnow())
        chains = len(audit_service.heads(session))
    try:
        audit_service.append_anchor(anchor_file, line)
    except OSError as err:
        raise click.ClickException(f"cannot write {anchor_file}: {err.strerror}") from None
    click.echo(f"anchored {chains} audit chain(s) in {anchor_file}")
