"""The privacy group: data-subject export, archiving, purging and the tombstone journal."""

from __future__ import annotations

from pathlib import Path

import click

from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.group(help="Data-subject export, archiving and purging of closed cases (PRIV-01, "
             "PRIV-02, PRIV-05). Runs as the system: audit rows have no user and "
             "details {\"via\": \"cli\"}.")
def privacy() -> None:
    pass


def _privacy_now(value: str | None):
    from datetime import UTC
    from datetime import datetime

    from bti.services.context import utcnow

    if value is None:
        return utcnow()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO 8601 date or time, e.g. 2036-01-01T00:00:00+00:00",
                                 param_hint="--now") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@privacy.command("export", help="Write everything stored about one case (the family's access "
                 "request, GDPR art. 15) as JSON or PDF. Audited as case.exported.")
@click.option("--case", "case_id", type=int, required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "pdf"]), default="json",
              show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True)
def privacy_export(case_id: int, fmt: str, out: Path) -> None:
    from bti.services.context import utcnow
    from bti.services.errors import NotFound
    from bti.services.privacy import export as privacy_service

    with make_session_factory(open_engine()).begin() as session:
        try:
            doc = privacy_service.export_case_as_system(session, case_id, utcnow(), fmt)
        except NotFound:
            raise click.ClickException(f"no case {case_id}") from None
        data = (privacy_service.json_bytes(doc) if fmt == "json"
                else privacy_service.pdf_bytes(doc))
    # written once the audit row is committed: no export without its record
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    click.echo(f"wrote {out} ({len(data)} bytes)")


@privacy.command("archive", help="Write the archive package (JSON, PDF, manifest with SHA-256) "
                 "of a closed case to a new folder under DIR, and record it.")
@click.option("--case", "case_id", type=int, required=True)
@click.option("--dir", "archive_dir", type=click.Path(path_type=Path, file_okay=False),
              required=True)
def privacy_archive(case_id: int, archive_dir: Path) -> None:
    from bti.services.context import Ctx
    from bti.services.context import utcnow
    from bti.services.errors import InvalidInput
    from bti.services.errors import NotFound
    from bti.services.privacy import archive

    with make_session_factory(open_engine()).begin() as session:
        ctx = Ctx.system(session, now=utcnow)
        try:
            row = archive.archive_case(ctx, case_id, archive_dir, via="cli")
        except NotFound:
            raise click.ClickException(f"no case {case_id}") from None
        except InvalidInput:
            raise click.ClickException(f"case {case_id} is not closed") from None
        verified = "verified" if row.verified_at else "NOT verified"
        click.echo(f"archived case {case_id} in {row.path} (sha256 {row.sha256}, {verified})")


@privacy.command("purge", help="Purge closed, archived cases past their municipality's "
                 "retention, and calendar feeds and API tokens revoked or expired more than 90 "
                 "days ago; print the rows deleted per table. With --replay, first purge again "
                 "every case named in a tombstone journal (after restoring a backup).")
@click.option("--dry-run", is_flag=True, help="Print what would be purged; change nothing.")
@click.option("--now", "now_text", metavar="ISO", help="The time to judge retention by "
              "(default: now).")
@click.option("--replay", "replay_file", type=click.Path(path_type=Path, dir_okay=False,
                                                         exists=True),
              help="A tombstone journal (JSON lines) saved from the live database.")
@click.option("--journal", "journal_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="BTI_PURGE_JOURNAL", help="Also append every tombstone written to this "
              "file, outside the database; default: BTI_PURGE_JOURNAL.")
def privacy_purge(dry_run: bool, now_text: str | None, replay_file: Path | None,
                  journal_file: Path | None) -> None:
    from bti.services.errors import InvalidInput
    from bti.services.privacy import purge

    now = _privacy_now(now_text)
    replay = []
    if replay_file is not None:
        try:
            replay = purge.read_journal(replay_file)
        except InvalidInput as err:
            raise click.ClickException(f"{replay_file}: {err}") from None
    with make_session_factory(open_engine())() as session:
        report = purge.purge_due(session, now, via="cli", dry_run=dry_run, replay=replay)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if journal_file is not None and not dry_run:
        purge.append_journal(journal_file, report.purged)
    verb = "would purge" if dry_run else "purged"
    click.echo(f"{verb} {len(report.purged)} case(s)")
    for t in report.purged:
        click.echo(f"  case {t['case_id']} ({t['rule']}): {sum(t['counts'].values())} row(s)")
    for table, n in sorted(report.rows.items()):
        click.echo(f"  {table}: {n}")
    for case_id, why in sorted(report.skipped.items()):
        click.echo(f"  skipped case {case_id}: {why}")
    if report.replay_absent:
        click.echo(f"  journal entries not in this database (already purged): "
                   f"{len(report.replay_absent)}")
    for table, n in sorted(report.credentials.items()):
        click.echo(f"  {verb} {table} (revoked or expired): {n}")


@privacy.command("journal", help="Write every tombstone (case_purge) as JSON lines: save it "
                 "before restoring a backup, then run `bti privacy purge --replay FILE`.")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True)
def privacy_journal(out: Path) -> None:
    from bti.domain.log import canonical_json
    from bti.services.privacy import purge

    with make_session_factory(open_engine())() as session:
        entries = purge.journal(session)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(canonical_json(t) + "\n" for t in entries),
                   encoding="utf-8")
    click.echo(f"wrote {len(entries)} tombstone(s) to {out}")
