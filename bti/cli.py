"""The ``bti`` command line: database, backups, demo data, audit and workflow tools."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bti.config import Settings
from bti.db import make_engine
from bti.db import make_session_factory
from bti.domain.vocabulary import vocabulary
from bti.engine import DefinitionError
from bti.engine import check_paths
from bti.engine.i18n import LANGS
from bti.engine.i18n import pick


def _engine(*, create: bool = False):
    """The engine for BTI_DATABASE_URL. Every command but ``init-db`` (``create``) needs a
    database that exists and is migrated: otherwise it stops with what is wrong and exit 1,
    without creating anything (a SQLite file is opened read-write only, never created)."""
    from sqlalchemy import exc

    from bti.db import DatabaseMissing
    from bti.migrate import schema_problem

    url = Settings.database_url_from_env()
    try:
        engine = make_engine(url, must_exist=not create)
    except DatabaseMissing as err:
        raise click.ClickException(f"no database at {err.path} ({_url_origin(url)}). Create it "
                                   "with `bti init-db`, or set BTI_DATABASE_URL to the "
                                   "database") from None
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # connections closed when the command ends, not left to the collector
        ctx.call_on_close(engine.dispose)
    where = _database_name(engine)
    try:
        if create:
            engine.connect().close()
            return engine
        problem = schema_problem(engine)
    except exc.DBAPIError as err:
        reason = str(err.orig).strip() or type(err.orig).__name__
        raise click.ClickException(f"cannot open the database {where}: {reason}") from None
    if problem:
        raise click.ClickException(f"the database {where}: {problem}")
    return engine


def _url_origin(url: str) -> str:
    """Where a SQLite URL came from, for the message about its missing file."""
    import os

    if not os.environ.get("BTI_DATABASE_URL"):
        origin = f"BTI_DATABASE_URL is not set; the default is {url}"
    else:
        origin = f"BTI_DATABASE_URL is {_database_url_shown(url)}"
    if not Path(make_url(url).database or "").is_absolute():
        origin += f", a path relative to the current folder {Path.cwd()}"
    return origin


def _database_url_shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _database_name(engine) -> str:
    """The database as a user knows it: a SQLite file's path, else the URL without password."""
    if engine.dialect.name == "sqlite":
        name = engine.url.database or ":memory:"
        if name.startswith("file:"):
            from urllib.parse import unquote

            name = unquote(name[len("file:"):])
        return f"at {name}"
    return engine.url.render_as_string(hide_password=True)


def _workflows_dir() -> Path:
    import os

    path = Path(os.environ.get("BTI_WORKFLOWS_DIR", "workflows"))
    if not path.is_dir():
        origin = (f"BTI_WORKFLOWS_DIR is {path}" if os.environ.get("BTI_WORKFLOWS_DIR")
                  else "BTI_WORKFLOWS_DIR is not set; the default is ./workflows")
        raise click.ClickException(
            f"no workflows folder at {path.resolve()} ({origin}). Run bti in the folder that "
            "holds workflows/ (the repository root), or set BTI_WORKFLOWS_DIR to the folder of "
            "the workflow files")
    return path


def _registry():
    from bti.services.workflows import WorkflowRegistry

    try:
        return WorkflowRegistry(_workflows_dir())
    except DefinitionError as err:
        click.echo("\n".join(err.problems), err=True)
        sys.exit(1)


@click.group(help="bti: the BTI action-guide workflow engine.")
def main() -> None:
    pass


@main.command("init-db", help="Migrate the database (BTI_DATABASE_URL) to the newest schema.")
def init_db() -> None:
    from bti.migrate import upgrade

    registry = _registry()  # first: a wrong folder stops before a database is made
    engine = _engine(create=True)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        current = registry.sync(session)
    click.echo(f"database migrated; workflows stored: {', '.join(sorted(current))}")


@main.command("backup", help="Write a consistent backup of the live database (BTI_DATABASE_URL) "
              "to PATH, a new file: SQLite through its online backup API (never a copy of the "
              "file), PostgreSQL with pg_dump -Fc. The app may keep running.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def backup_cmd(path: Path) -> None:
    from bti import backup

    try:
        result = backup.backup(Settings.database_url_from_env(), path)
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {result.kind} backup {result.path} ({result.size:,} bytes)")


@main.command("restore", help="Restore a backup written by `bti backup` into BTI_DATABASE_URL, "
              "which must be empty (PostgreSQL: a new database made with createdb; SQLite: a new "
              "file, or --force to replace one with the app stopped). Then run "
              "`bti init-db` and `bti audit verify`.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--force", is_flag=True, help="SQLite: replace a database file that has tables.")
def restore_cmd(path: Path, force: bool) -> None:
    from bti import backup

    try:
        click.echo(backup.restore(path, Settings.database_url_from_env(), force=force))
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from None
    click.echo("now run: bti init-db (migrates an older backup) and bti audit verify")


@main.command("demo-data", help="Create a fictional municipality with users and cases. Above "
              "100 cases a national-size set is generated in bulk (100000 cases: about 2 "
              "million stafettlogg entries).")
@click.option("--password", help="One password for every demo user (at least 15 characters); "
              "random per user when left out.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the demo data already exists.")
@click.option("--cases", "cases_count", default=12, show_default=True, type=click.IntRange(0))
def demo_data(password: str | None, if_empty: bool, cases_count: int) -> None:
    import time

    from bti.domain.org import Municipality
    from bti.services.demo import BULK_ABOVE
    from bti.services.demo import DEMO_SLUG
    from bti.services.demo import make_demo
    from bti.services.demo import make_national
    from bti.services.errors import InvalidInput

    engine = _engine()
    registry = _registry()
    with make_session_factory(engine).begin() as session:
        if session.scalar(select(Municipality.id).where(Municipality.slug == DEMO_SLUG)):
            if if_empty:
                click.echo("demo data already present; nothing done")
                return
            raise click.ClickException("the demo municipality already exists")
        started = time.perf_counter()
        counts = None
        try:
            if cases_count > BULK_ABOVE:
                users, counts = make_national(
                    session, registry, password=password, cases_count=cases_count,
                    progress=lambda n: click.echo(f"  {n} cases generated", err=True)
                    if n % 20000 == 0 else None)
            else:
                users = make_demo(session, registry, password=password,
                                  cases_count=cases_count)
        except InvalidInput as err:
            raise click.ClickException(f"invalid input: {err}") from None
    took = time.perf_counter() - started
    if counts:
        click.echo("Rows written: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    click.echo(f"Demo kommune: {cases_count} cases in {took:.1f} s. Users (fictional):")
    for u in users:
        click.echo(f"  {u.username:<18} {','.join(u.roles):<22} password: {u.password}")


@main.group(help="The leaders' analytics: the aggregates kept at write time.")
def analytics() -> None:
    pass


@analytics.command("recompute", help="Rebuild the analytics aggregates from the cases and "
                   "their stafettlogg (after the migration, a restore or a purge).")
@click.option("--municipality", "slug", help="Only this municipality (its slug).")
def analytics_recompute(slug: str | None) -> None:
    import time

    from bti.domain.org import Municipality
    from bti.services import aggregates

    registry = _registry()
    started = time.perf_counter()
    with make_session_factory(_engine()).begin() as session:
        municipality_id = None
        if slug is not None:
            municipality_id = session.scalar(select(Municipality.id).where(
                Municipality.slug == slug))
            if municipality_id is None:
                click.echo(f"no municipality {slug!r}", err=True)
                sys.exit(1)
        cells = aggregates.recompute(session, registry, municipality_id)
    click.echo(f"{cells} aggregate cells written in {time.perf_counter() - started:.1f} s")


@main.group(help="Municipalities: list them and change their settings.")
def municipality() -> None:
    pass


@municipality.command("list", help="Every municipality with its workflow and settings.")
def municipality_list() -> None:
    from bti.domain.org import Municipality

    with make_session_factory(_engine())() as session:
        for m in session.scalars(select(Municipality).order_by(Municipality.slug)):
            click.echo(f"{m.slug:<20} workflow={m.workflow_id:<16} "
                       f"mfa={'on' if m.mfa_required else 'off'} "
                       f"case_retention_days={m.case_retention_days} malform={m.malform}")


@municipality.command("set", help="Change a municipality's settings (each change is audited).")
@click.argument("slug")
@click.option("--mfa", type=click.Choice(["on", "off"]),
              help="The second factor (TOTP) for every role that sees case content.")
@click.option("--retention-days", type=click.IntRange(30, 36500),
              help="Days a closed, archived case is kept before it is purged.")
@click.option("--workflow", "workflow_id", help="The workflow new cases start on.")
@click.option("--malform", type=click.Choice(["nb", "nn"]),
              help="The municipality's written form: the language its staff see when neither "
              "they nor their browser choose one.")
def municipality_set(slug: str, mfa: str | None, retention_days: int | None,
                     workflow_id: str | None, malform: str | None) -> None:
    from datetime import UTC
    from datetime import datetime

    from bti.domain.org import Municipality
    from bti.services import audit as audit_service

    registry = _registry() if workflow_id else None
    if registry is not None and workflow_id not in registry.ids():
        click.echo(f"unknown workflow {workflow_id!r}; known: {', '.join(registry.ids())}",
                   err=True)
        sys.exit(1)
    with make_session_factory(_engine()).begin() as session:
        m = session.scalar(select(Municipality).where(Municipality.slug == slug))
        if m is None:
            click.echo(f"no municipality {slug!r}", err=True)
            sys.exit(1)
        changed = {}
        if mfa is not None:
            m.mfa_required = changed["mfa_required"] = mfa == "on"
        if retention_days is not None:
            m.case_retention_days = changed["case_retention_days"] = retention_days
        if workflow_id is not None:
            m.workflow_id = changed["workflow_id"] = workflow_id
        if malform is not None:
            m.malform = changed["malform"] = malform
        if not changed:
            click.echo("nothing to change", err=True)
            sys.exit(2)
        audit_service.add_row(session, dict(
            at=datetime.now(UTC), municipality_id=m.id, actor_id=None, actor_roles="",
            unit_id=None, case_id=None, action="municipality.settings_changed",
            object_type="municipality", object_id=m.id, basis="system", outcome="allowed",
            details=audit_service.canonical_json({**changed, "via": "cli"})))
    click.echo(f"{slug}: " + ", ".join(f"{k}={v}" for k, v in changed.items()))


@main.group(help="Scheduled notifications (run them from cron or a systemd timer).")
def notify() -> None:
    pass


@notify.command("consents", help="Warn stafettholders of consents that expire soon (once each).")
def notify_consents() -> None:
    from bti.services import inbox
    from bti.services.context import Ctx

    registry = _registry()
    with make_session_factory(_engine()).begin() as session:
        new = inbox.warn_all_expiring_consents(Ctx(session=session, actor=None,
                                                   workflows=registry))
    click.echo(f"{new} new consent warning(s)")


@main.group(help="Secrets stored in the database.")
def security() -> None:
    pass


@security.command("rewrap-secrets", help="Encrypt every stored second-factor seed under the "
                  "current key (the first of BTI_DATA_KEYS, or the one derived from "
                  "BTI_SECRET_KEY): after a key rotation, and for seeds stored before encryption. "
                  "Exit 1 if a seed cannot be opened with any configured key.")
def security_rewrap() -> None:
    from bti.config import ConfigError
    from bti.config import Settings
    from bti.domain.org import User
    from bti.services.secretbox import SecretBox
    from bti.services.secretbox import SecretUnavailable

    try:
        settings = Settings.from_env()
        box = SecretBox.from_config(settings.secret_key, settings.data_keys)
    except (ConfigError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    rewrapped = unreadable = kept = 0
    with make_session_factory(_engine()).begin() as session:
        for user in session.scalars(select(User).where(User.totp_secret.is_not(None))
                                    .order_by(User.id)):
            try:
                if box.is_current(user.totp_secret):
                    kept += 1
                    continue
                user.totp_secret = box.rewrap(user.totp_secret)
                rewrapped += 1
            except SecretUnavailable:
                unreadable += 1
                click.echo(f"user {user.id}: no configured key opens the seed "
                           "(reset the user's second factor)", err=True)
    click.echo(f"{rewrapped} seed(s) re-encrypted, {kept} already under the current key, "
               f"{unreadable} unreadable")
    if unreadable:
        sys.exit(1)
@main.group(help="Personal access tokens for the JSON API (/api/v1). Each creation and "
            "revocation is audited (details {\"via\": \"cli\"}).")
def token() -> None:
    pass


@token.command("create", help="Create a token for USERNAME and print it once (only its SHA-256 "
               "is stored). It acts as that user, with the user's access, narrowed by its scopes.")
@click.argument("username")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["cases:read", "cases:write"]),
              help="What the token may do; repeat for several.")
@click.option("--days", type=click.IntRange(1, 90), required=True,
              help="Days until the token expires (at most 90).")
@click.option("--name", default="api", show_default=True,
              help="What the token is for (no personal data), shown by `bti token list`.")
def token_create(username: str, scopes: tuple[str, ...], days: int, name: str) -> None:
    from bti.services import tokens
    from bti.services.context import utcnow
    from bti.services.errors import InvalidInput

    with make_session_factory(_engine()).begin() as session:
        try:
            created = tokens.create_token(session, username, scopes=scopes, days=days,
                                          name=name, now=utcnow())
        except InvalidInput as err:
            raise click.ClickException(f"invalid input: {err}") from None
        token_id, expires = created.row.id, created.row.expires_at
    click.echo(f"token {token_id} for {username}, scopes {' '.join(sorted(set(scopes)))}, "
               f"expires {expires.isoformat(timespec='minutes')}. Shown once; store it now:",
               err=True)
    click.echo(created.token)


@token.command("list", help="Every token (optionally of one user): id, user, name, scopes, "
               "status, expiry and last use. Never the token itself.")
@click.argument("username", required=False)
def token_list(username: str | None) -> None:
    from bti.services import tokens
    from bti.services.context import utcnow

    now = utcnow()
    with make_session_factory(_engine())() as session:
        rows = tokens.list_tokens(session, username)
        for t, user in rows:
            used = t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "never"
            expires = t.expires_at.isoformat(timespec="minutes")
            click.echo(f"{t.id:>5} {user:<18} {t.name:<20} {t.scopes:<24} "
                       f"{tokens.status(t, now):<8} expires={expires} last_used={used}")
    if not rows:
        click.echo("no tokens", err=True)


@token.command("revoke", help="Revoke a token at once (by its id from `bti token list`).")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    from bti.services import tokens
    from bti.services.context import utcnow

    with make_session_factory(_engine()).begin() as session:
        row = tokens.revoke_token(session, token_id, now=utcnow())
        if row is None:
            click.echo(f"no token {token_id}", err=True)
            sys.exit(1)
    click.echo(f"token {token_id} revoked")


@main.group(help="The audit trail and the stafettlogg chains.")
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
    from bti.services import audit as audit_service
    from bti.services import integrity

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
    engine = _engine()
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
    from bti.services import review
    from bti.services.context import utcnow

    with make_session_factory(_engine()).begin() as session:
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
    from bti.services import audit as audit_service
    from bti.services.context import utcnow

    if anchor_file is None:
        raise click.UsageError("give --file FILE or set BTI_AUDIT_ANCHOR_FILE")
    engine = _engine()
    factory = make_session_factory(engine)
    with factory.begin() as session:  # the export is itself an audited event (system chain)
        audit_service.add_row(session, dict(
            at=utcnow(), municipality_id=None, actor_id=None, actor_roles="", unit_id=None,
            case_id=None, action="audit.anchor_exported", object_type=None, object_id=None,
            basis=None, outcome="allowed", details="{}"))
    with factory() as session:
        line = audit_service.anchor_line(session, utcnow())
        chains = len(audit_service.heads(session))
    try:
        audit_service.append_anchor(anchor_file, line)
    except OSError as err:
        raise click.ClickException(f"cannot write {anchor_file}: {err.strerror}") from None
    click.echo(f"anchored {chains} audit chain(s) in {anchor_file}")


@main.group("db", help="Database roles (PostgreSQL).")
def db_group() -> None:
    pass


@db_group.command("grant-runtime", help="Limit ROLE to what the running app needs in the schema "
                  "of BTI_DATABASE_URL: read and write the tables, but only read and append to "
                  "the log tables (stafettlogg_entry, audit_event, case_purge); no DDL. Run it "
                  "as the owner of the tables after every `bti init-db`; the app then connects "
                  "as ROLE (docs/deployment.md).")
@click.argument("role")
def db_grant_runtime(role: str) -> None:
    from bti.db import RoleError
    from bti.db import grant_runtime

    try:
        statements = grant_runtime(_engine(), role)
    except RoleError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    for statement in statements:
        click.echo(statement + ";")
    click.echo(f"-- {role} may now read and write the app's tables and only append to the logs")


@main.group(help="Data-subject export, archiving and purging of closed cases (PRIV-01, "
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
    from bti.services import privacy as privacy_service
    from bti.services.context import utcnow
    from bti.services.errors import NotFound

    with make_session_factory(_engine()).begin() as session:
        try:
            doc = privacy_service.export_case_as_system(session, case_id, utcnow(), fmt)
        except NotFound:
            raise click.ClickException(f"no case {case_id}") from None
        data = (privacy_service.export_json_bytes(doc) if fmt == "json"
                else privacy_service.render_pdf(doc))
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
    from bti.services import privacy as privacy_service
    from bti.services.context import Ctx
    from bti.services.context import utcnow
    from bti.services.errors import InvalidInput
    from bti.services.errors import NotFound

    with make_session_factory(_engine()).begin() as session:
        ctx = Ctx(session=session, actor=None, workflows=None, now=utcnow)
        try:
            row = privacy_service.archive_case(ctx, case_id, archive_dir, via="cli")
        except NotFound:
            raise click.ClickException(f"no case {case_id}") from None
        except InvalidInput:
            raise click.ClickException(f"case {case_id} is not closed") from None
        verified = "verified" if row.verified_at else "NOT verified"
        click.echo(f"archived case {case_id} in {row.path} (sha256 {row.sha256}, {verified})")


@privacy.command("purge", help="Purge closed, archived cases past their municipality's "
                 "retention; print the rows deleted per table. With --replay, first purge again "
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
    from bti.services import privacy as privacy_service
    from bti.services.errors import InvalidInput

    now = _privacy_now(now_text)
    replay = []
    if replay_file is not None:
        try:
            replay = privacy_service.read_journal(replay_file)
        except InvalidInput as err:
            raise click.ClickException(f"{replay_file}: {err}") from None
    with make_session_factory(_engine())() as session:
        report = privacy_service.purge_due(session, now, via="cli", dry_run=dry_run,
                                           replay=replay)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if journal_file is not None and not dry_run:
        privacy_service.append_journal(journal_file, report.purged)
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


@privacy.command("journal", help="Write every tombstone (case_purge) as JSON lines: save it "
                 "before restoring a backup, then run `bti privacy purge --replay FILE`.")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True)
def privacy_journal(out: Path) -> None:
    from bti.services import privacy as privacy_service

    with make_session_factory(_engine())() as session:
        entries = privacy_service.journal(session)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(privacy_service.canonical_json(t) + "\n" for t in entries),
                   encoding="utf-8")
    click.echo(f"wrote {len(entries)} tombstone(s) to {out}")


@main.group(help="Workflow files: check, list, show, diagram.")
def workflow() -> None:
    pass


@workflow.command("check", help="Validate workflow files; print every problem, exit 1 if any.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def workflow_check(files: tuple[Path, ...]) -> None:
    problems = check_paths(files, vocabulary())
    for p in problems:
        click.echo(p)
    if problems:
        sys.exit(1)
    click.echo(f"ok: {len(files)} file(s) valid")


@workflow.command("list", help="The workflows in BTI_WORKFLOWS_DIR.")
def workflow_list() -> None:
    registry = _registry()
    for wf_id in registry.ids():
        d = registry.files[wf_id]
        click.echo(f"{wf_id:<16} v{d.version}  {len(d.states):>2} states "
                   f"{len(d.transitions):>3} transitions  {pick(d.title, 'nb')}")


def _definition(wf_id: str):
    registry = _registry()
    if wf_id not in registry.files:
        raise click.ClickException(f"no workflow {wf_id!r}; known: {', '.join(registry.ids())}")
    return registry.files[wf_id]


@workflow.command("show", help="States and transitions of one workflow.")
@click.argument("workflow_id")
@click.option("--lang", type=click.Choice(LANGS), default="nb", show_default=True)
def workflow_show(workflow_id: str, lang: str) -> None:
    d = _definition(workflow_id)
    click.echo(f"{d.id} v{d.version}: {pick(d.title, lang)}")
    click.echo(f"initial: {d.initial}")
    click.echo("states:")
    for s in d.states:
        flag = " (final)" if s.final else ""
        click.echo(f"  {s.name:<16} {s.level:<7} {s.phase:<11} {pick(s.label, lang)}{flag}")
    click.echo("transitions:")
    for t in d.transitions:
        dest = t.dest or "(stays)"
        src = "every non-final state" if t.standing else ", ".join(t.sources)
        extra = []
        if t.guards:
            extra.append("guards=" + ",".join(t.guards))
        if t.reason:
            extra.append("reason")
        click.echo(f"  {t.trigger:<26} {src} -> {dest}  roles={','.join(sorted(t.roles))} "
                   + " ".join(extra))


@workflow.command("diagram", help="Mermaid state diagram of one workflow.")
@click.argument("workflow_id")
@click.option("--lang", type=click.Choice(LANGS), default="nb", show_default=True)
def workflow_diagram(workflow_id: str, lang: str) -> None:
    from bti.engine.mermaid import diagram

    click.echo(diagram(_definition(workflow_id), lang))


DOCS_OUTPUT = Path("docs/workflows.md")


@workflow.command("docs", help="Write the workflow documentation (docs/workflows.md): the file "
                  "format, the vocabulary, and every workflow's states, transitions and diagram.")
@click.option("--lang", type=click.Choice(LANGS), default="nb", show_default=True,
              help="Language of the workflow labels (the prose is English).")
@click.option("--output", default=str(DOCS_OUTPUT), show_default=True, metavar="FILE",
              help="File to write; '-' for standard output.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if FILE differs from what would be generated.")
def workflow_docs(lang: str, output: str, check: bool) -> None:
    import difflib

    from bti.services.workflow_docs import generate

    try:
        text = generate(_workflows_dir(), lang)
    except DefinitionError as err:
        click.echo("\n".join(err.problems), err=True)
        sys.exit(1)
    command = "bti workflow docs"
    if lang != "nb":
        command += f" --lang {lang}"
    if output != str(DOCS_OUTPUT):
        command += f" --output {output}"
    if check:
        if output == "-":
            raise click.UsageError("--check compares with a file; give --output FILE")
        path = Path(output)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            click.echo(f"ok: {output} is up to date")
            return
        if current is None:
            click.echo(f"{output} does not exist; generate it with: {command}", err=True)
        else:
            diff = list(difflib.unified_diff(
                current.splitlines(), text.splitlines(), f"{output} (on disk)",
                f"{output} (generated)", lineterm="", n=1))
            click.echo("\n".join(diff[:40] + (["…"] if len(diff) > 40 else [])), err=True)
            click.echo(f"{output} is out of date with the workflow files in "
                       f"{_workflows_dir()}; regenerate it with: {command}", err=True)
        sys.exit(1)
    if output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    click.echo(f"wrote {output}")


if __name__ == "__main__":  # pragma: no cover
    main()
