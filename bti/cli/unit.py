"""The unit group: a municipality's units (services), kept by the operator on the command line
with the same rules as the administrator's pages (``bti.services.accounts.org``); every change
is audited (``via=cli``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import select

from bti.cli.common import open_engine
from bti.db.engine import make_session_factory

#: What an error code means on the command line.
TEXTS = {
    "required": "required",
    "too_long": "too long",
    "taken": "already taken",
    "invalid": "not valid",
    "nul": "invalid character",
    "open_cases": "the unit still has open cases: close them (or move them) first",
}


def fail(err) -> None:
    """Print an ``InvalidInput`` field by field and stop with exit 1."""
    count = err.params.get("count")
    for name, codes in err.fields.items():
        texts = [TEXTS.get(c, c) for c in codes]
        if count is not None:
            texts = [f"{t} ({count} open)" if c == "open_cases" else t
                     for c, t in zip(codes, texts, strict=True)]
        click.echo(f"{name}: " + ", ".join(texts), err=True)
    sys.exit(1)


@contextmanager
def operator() -> Iterator:
    """A context for the operator (no signed-in user) in one transaction."""
    from bti.services.context import Ctx

    with make_session_factory(open_engine()).begin() as session:
        yield Ctx.system(session)


def municipality_id(ctx, slug: str) -> int:
    from bti.domain.org import Municipality

    found = ctx.session.scalar(select(Municipality.id).where(Municipality.slug == slug))
    if found is None:
        click.echo(f"no municipality {slug!r}", err=True)
        sys.exit(1)
    return found


def _slugs(ctx, slugs: tuple[str, ...]) -> list[int]:
    return [municipality_id(ctx, s) for s in slugs]


def _line(u) -> str:
    serves = ",".join(m.slug for m in u.serves) or "-"
    return (f"{u.id:<6} {'active' if u.active else 'inactive':<8} {u.kind:<18} {u.name}"
            f" | service={u.service or '-'} serves={serves}"
            f" leaders={len(u.leaders)} coordinators={len(u.coordinators)}"
            f" staff={u.staff} open_cases={u.open_cases}")


@click.group(help="Units (services) of a municipality: list, create, change, deactivate.")
def unit() -> None:
    pass


@unit.command("list", help="Every unit a municipality hosts.")
@click.argument("slug")
def unit_list(slug: str) -> None:
    from bti.services.accounts import org

    with operator() as ctx:
        for u in org.list_units(ctx, municipality_id(ctx, slug)):
            click.echo(_line(u))


@unit.command("create", help="A new unit of the municipality SLUG.")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--kind", required=True, help="school, kindergarten, ppt, barnevern, …")
@click.option("--service", help="The service area (tjenesteområde).")
@click.option("--serves", multiple=True, metavar="SLUG",
              help="Another municipality this inter-municipal service serves (repeatable).")
def unit_create(slug: str, name: str, kind: str, service: str | None,
                serves: tuple[str, ...]) -> None:
    from bti.services.accounts import org
    from bti.services.errors import InvalidInput

    with operator() as ctx:
        try:
            u = org.create_unit(ctx, name=name, kind=kind, service=service,
                                serves=_slugs(ctx, serves),
                                municipality_id=municipality_id(ctx, slug))
        except InvalidInput as err:
            fail(err)
        click.echo(_line(u))


@unit.command("set", help="Change a unit (by its id); each change is audited.")
@click.argument("unit_id", type=int)
@click.option("--name")
@click.option("--kind")
@click.option("--service", help="The service area; an empty value clears it.")
@click.option("--serves", multiple=True, metavar="SLUG",
              help="The municipalities it serves besides its host (replaces the list).")
@click.option("--serves-none", is_flag=True, help="It serves no other municipality.")
def unit_set(unit_id: int, name: str | None, kind: str | None, service: str | None,
             serves: tuple[str, ...], serves_none: bool) -> None:
    from bti.services.accounts import org
    from bti.services.errors import InvalidInput
    from bti.services.errors import NotFound

    with operator() as ctx:
        kwargs: dict = {"name": name, "kind": kind}
        if service is not None:
            kwargs["service"] = service
        if serves or serves_none:
            kwargs["serves"] = [] if serves_none else _slugs(ctx, serves)
        try:
            u = org.update_unit(ctx, unit_id, **kwargs)
        except NotFound:
            click.echo(f"no unit {unit_id}", err=True)
            sys.exit(1)
        except InvalidInput as err:
            fail(err)
        click.echo(_line(u))


@unit.command("deactivate", help="Deactivate a unit (refused while it has open cases).")
@click.argument("unit_id", type=int)
def unit_deactivate(unit_id: int) -> None:
    _set_active(unit_id, False)


@unit.command("reactivate", help="Reactivate a unit.")
@click.argument("unit_id", type=int)
def unit_reactivate(unit_id: int) -> None:
    _set_active(unit_id, True)


def _set_active(unit_id: int, active: bool) -> None:
    from bti.services.accounts import org
    from bti.services.errors import InvalidInput
    from bti.services.errors import NotFound

    with operator() as ctx:
        try:
            u = (org.reactivate_unit if active else org.deactivate_unit)(ctx, unit_id)
        except NotFound:
            click.echo(f"no unit {unit_id}", err=True)
            sys.exit(1)
        except InvalidInput as err:
            fail(err)
        click.echo(_line(u))
