"""The municipality group: list municipalities and change their settings."""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy import select

from bti.cli.common import load_registry
from bti.cli.common import open_engine
from bti.db.engine import make_session_factory
from bti.domain.vocabulary import AuditAction


@click.group(help="Municipalities: list, create, rename, deactivate them, change their "
             "settings, import units and users.")
def municipality() -> None:
    pass


@municipality.command("list", help="Every municipality with its workflow and settings.")
def municipality_list() -> None:
    from bti.domain.org import Municipality

    with make_session_factory(open_engine())() as session:
        for m in session.scalars(select(Municipality).order_by(Municipality.slug)):
            click.echo(f"{m.slug:<20} workflow={m.workflow_id:<16} "
                       f"mfa={'on' if m.mfa_required else 'off'} "
                       f"case_retention_days={m.case_retention_days} malform={m.malform} "
                       f"barnevern_phone={m.barnevern_phone or '-'} "
                       f"barnevern_email={m.barnevern_email or '-'} "
                       f"barnevernvakt_phone={m.barnevernvakt_phone or '-'}")


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
@click.option("--barnevern-phone", help="The child welfare service's phone number.")
@click.option("--barnevern-email", help="The child welfare service's e-mail address.")
@click.option("--barnevernvakt-phone",
              help="The child welfare emergency service's phone number (outside office hours).")
def municipality_set(slug: str, mfa: str | None, retention_days: int | None,
                     workflow_id: str | None, malform: str | None,
                     barnevern_phone: str | None = None, barnevern_email: str | None = None,
                     barnevernvakt_phone: str | None = None) -> None:
    from datetime import UTC
    from datetime import datetime

    from bti.domain.org import Municipality
    from bti.services.access import audit as audit_service

    registry = load_registry() if workflow_id else None
    if registry is not None and workflow_id not in registry.ids():
        click.echo(f"unknown workflow {workflow_id!r}; known: {', '.join(registry.ids())}",
                   err=True)
        sys.exit(1)
    with make_session_factory(open_engine()).begin() as session:
        m = session.scalar(select(Municipality).where(Municipality.slug == slug))
        if m is None:
            click.echo(f"no municipality {slug!r}", err=True)
            sys.exit(1)
        changed: dict[str, Any] = {}  # audit details: any JSON value
        if mfa is not None:
            m.mfa_required = changed["mfa_required"] = mfa == "on"
        if retention_days is not None:
            m.case_retention_days = changed["case_retention_days"] = retention_days
        if workflow_id is not None:
            m.workflow_id = changed["workflow_id"] = workflow_id
        if malform is not None:
            m.malform = changed["malform"] = malform
        from bti.services.accounts.municipality import CONTACT_FIELDS
        from bti.services.accounts.municipality import clean_contacts
        from bti.services.errors import InvalidInput

        given = {"barnevern_phone": barnevern_phone, "barnevern_email": barnevern_email,
                 "barnevernvakt_phone": barnevernvakt_phone}
        try:
            contacts = clean_contacts({k: v for k, v in given.items() if v is not None})
        except InvalidInput as err:
            for name, codes in err.fields.items():
                length = CONTACT_FIELDS[name][1]
                texts = {"too_long": f"at most {length} characters",
                         "not_a_phone": "not a phone number (digits, spaces, +, -, parentheses)",
                         "not_an_email": "not an e-mail address", "nul": "invalid character"}
                click.echo(f"--{name.replace('_', '-')}: "
                           + ", ".join(texts.get(c, c) for c in codes), err=True)
            sys.exit(1)
        for name, value in contacts.items():
            setattr(m, name, value)  # an empty value clears it
            changed[name] = value or ""
        if not changed:
            click.echo("nothing to change", err=True)
            sys.exit(2)
        audit_service.record_system(
            session, AuditAction.MUNICIPALITY_SETTINGS_CHANGED, now=datetime.now(UTC),
            municipality_id=m.id, object_type="municipality", object_id=m.id,
            via="cli", **changed)
    click.echo(f"{slug}: " + ", ".join(f"{k}={v}" for k, v in changed.items()))


@municipality.command("create", help="A new municipality (an installation-level act; audited).")
@click.argument("slug")
@click.option("--name", required=True, help="The municipality's name.")
@click.option("--workflow", "workflow_id", required=True,
              help="The workflow new cases start on.")
@click.option("--malform", type=click.Choice(["nb", "nn"]), default="nb", show_default=True,
              help="The municipality's written form.")
def municipality_create(slug: str, name: str, workflow_id: str, malform: str) -> None:
    from bti.cli.unit import fail
    from bti.cli.unit import operator
    from bti.services.accounts import org
    from bti.services.errors import InvalidInput

    registry = load_registry()
    if workflow_id not in registry.ids():
        click.echo(f"unknown workflow {workflow_id!r}; known: {', '.join(registry.ids())}",
                   err=True)
        sys.exit(1)
    with operator() as ctx:
        try:
            m = org.create_municipality(ctx, slug=slug, name=name, workflow_id=workflow_id,
                                        malform=malform)
        except InvalidInput as err:
            fail(err)
    click.echo(f"{m.slug}: created (id {m.id})")


@municipality.command("rename", help="Change a municipality's name (audited).")
@click.argument("slug")
@click.argument("name")
def municipality_rename(slug: str, name: str) -> None:
    from bti.cli.unit import fail
    from bti.cli.unit import municipality_id
    from bti.cli.unit import operator
    from bti.services.accounts import org
    from bti.services.errors import InvalidInput

    with operator() as ctx:
        try:
            m = org.rename_municipality(ctx, name, municipality_id(ctx, slug))
        except InvalidInput as err:
            fail(err)
    click.echo(f"{m.slug}: name={m.name}")


@municipality.command("deactivate",
                      help="Deactivate a municipality: its users can no longer sign in "
                      "(refused while it has open cases).")
@click.argument("slug")
def municipality_deactivate(slug: str) -> None:
    _set_active(slug, False)


@municipality.command("reactivate", help="Reactivate a municipality.")
@click.argument("slug")
def municipality_reactivate(slug: str) -> None:
    _set_active(slug, True)


def _set_active(slug: str, active: bool) -> None:
    from bti.cli.unit import operator
    from bti.services.accounts import org
    from bti.services.errors import InvalidInput
    from bti.services.errors import NotFound

    with operator() as ctx:
        try:
            m = org.set_municipality_active(ctx, slug, active)
        except NotFound:
            click.echo(f"no municipality {slug!r}", err=True)
            sys.exit(1)
        except InvalidInput as err:
            click.echo(f"{slug}: {err.params.get('count')} open cases; close them first",
                       err=True)
            sys.exit(1)
    click.echo(f"{m.slug}: {'active' if m.active else 'inactive'}")


@municipality.command("import",
                      help="Import units and users from a CSV file (docs/org-import.md): all "
                      "rows or none. New users' one-time passwords are printed once.")
@click.argument("slug")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def municipality_import(slug: str, path: str) -> None:
    from pathlib import Path

    from bti.cli.unit import municipality_id
    from bti.cli.unit import operator
    from bti.services.accounts import orgimport

    data = Path(path).read_bytes()
    with operator() as ctx:
        try:
            result = orgimport.import_file(ctx, data, municipality_id(ctx, slug))
        except orgimport.ImportRefused as err:
            click.echo(f"{path}: nothing was imported; fix these rows and try again:", err=True)
            for p in err.problems:
                click.echo(f"  line {p.line}: {p.column}: {orgimport.ENGLISH.get(p.code, p.code)}",
                           err=True)
            sys.exit(1)
    click.echo(f"{slug}: {len(result.units)} units and {len(result.users)} users imported")
    for u in result.users:
        click.echo(f"{u.username}\t{u.password}")
