"""The team group: the municipality's teams (IKO-team, innsatsteam, tiltaksteam …), kept by one
of its administrators (``--as``), with the same rules and the same audit trail as the admin
pages (``bti.services.teams.keep``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select

from bti.cli.common import load_registry
from bti.cli.common import open_engine
from bti.db.engine import make_session_factory

AS_HELP = "The user name of the municipality's administrator who makes the change."


@click.group(help="Teams: list, create and change them, their members and meetings.")
def team() -> None:
    pass


def _run(admin: str, work: Callable[[Any], Any]) -> Any:
    """``work(ctx)`` in one transaction as the administrator ``admin``; a refusal is printed
    field by field and exits 1, with nothing written."""
    from bti.domain.org import User
    from bti.services.context import Ctx
    from bti.services.errors import InvalidInput
    from bti.services.errors import ServiceError

    registry = load_registry()
    with make_session_factory(open_engine())() as session:
        user = session.scalar(select(User).where(User.username == admin))
        if user is None or not user.active:
            click.echo(f"no active user {admin!r}", err=True)
            sys.exit(1)
        registry.sync(session)
        ctx = Ctx(session=session, actor=user.as_actor(), workflows=registry)
        try:
            result = work(ctx)
            session.commit()
        except InvalidInput as err:
            session.rollback()
            for name, codes in err.fields.items():
                click.echo(f"{name}: {', '.join(codes)}", err=True)
            sys.exit(1)
        except ServiceError as err:
            session.rollback()
            click.echo(f"refused: {err.code}", err=True)
            sys.exit(1)
        return result


def _show(t) -> str:
    status = "active" if t.active else "deactivated"
    return f"{t.id:>4} {t.kind:<22} {status:<11} unit={t.unit_id or '-'} {t.name}"


@team.command("list", help="Every team of the administrator's municipality.")
@click.option("--as", "admin", required=True, help=AS_HELP)
def team_list(admin: str) -> None:
    from bti.services.teams import keep

    for t in _run(admin, keep.list_teams):
        click.echo(_show(t))


@team.command("create", help="A new team; KIND is a [[teams]] id of the workflow file.")
@click.argument("name")
@click.option("--kind", required=True)
@click.option("--unit-id", type=int, help="The unit whose own team it is.")
@click.option("--as", "admin", required=True, help=AS_HELP)
def team_create(name: str, kind: str, unit_id: int | None, admin: str) -> None:
    from bti.services.teams import keep

    click.echo(_show(_run(admin, lambda ctx: keep.create_team(
        ctx, name=name, kind=kind, unit_id=unit_id))))


@team.command("set", help="Change a team's name, kind or unit, or (de)activate it.")
@click.argument("team_id", type=int)
@click.option("--name")
@click.option("--kind")
@click.option("--unit-id", type=int, help="0: the whole municipality.")
@click.option("--active/--inactive", default=None)
@click.option("--as", "admin", required=True, help=AS_HELP)
def team_set(team_id: int, name: str | None, kind: str | None, unit_id: int | None,
             active: bool | None, admin: str) -> None:
    from bti.services.teams import keep

    def work(ctx):
        t = keep.get_team(ctx, team_id)
        if name is not None or kind is not None or unit_id is not None:
            unit = t.unit_id if unit_id is None else (unit_id or None)
            t = keep.update_team(ctx, team_id, name=t.name if name is None else name,
                                 kind=t.kind if kind is None else kind, unit_id=unit)
        if active is not None:
            t = keep.set_active(ctx, team_id, active)
        return t

    click.echo(_show(_run(admin, work)))


def _user_id(ctx, username: str) -> int:
    from bti.domain.org import User
    from bti.services.errors import InvalidInput

    found = ctx.session.scalar(select(User.id).where(
        User.username == username, User.municipality_id == ctx.actor.municipality_id))
    if found is None:
        raise InvalidInput({"username": ["not_in_municipality"]})
    return found


@team.command("add-member", help="Make a staff member (USERNAME) a member of the team.")
@click.argument("team_id", type=int)
@click.argument("username")
@click.option("--as", "admin", required=True, help=AS_HELP)
def team_add_member(team_id: int, username: str, admin: str) -> None:
    from bti.services.teams import keep

    t = _run(admin, lambda ctx: keep.add_member(ctx, team_id, _user_id(ctx, username)))
    click.echo(f"{t.name}: {len(t.members)} member(s)")


@team.command("remove-member", help="End a membership: the user sees the team no more.")
@click.argument("team_id", type=int)
@click.argument("username")
@click.option("--as", "admin", required=True, help=AS_HELP)
def team_remove_member(team_id: int, username: str, admin: str) -> None:
    from bti.services.teams import keep

    t = _run(admin, lambda ctx: keep.remove_member(ctx, team_id, _user_id(ctx, username)))
    click.echo(f"{t.name}: {len(t.members)} member(s)")


@team.command("meeting", help="Schedule a meeting, local time in Norway (YYYY-MM-DDTHH:MM).")
@click.argument("team_id", type=int)
@click.option("--at", "starts_at", required=True)
@click.option("--place", default="")
@click.option("--as", "admin", required=True, help=AS_HELP)
def team_meeting(team_id: int, starts_at: str, place: str, admin: str) -> None:
    from bti.services.teams import keep

    try:
        at = datetime.strptime(starts_at, "%Y-%m-%dT%H:%M")
    except ValueError:
        click.echo("--at: write YYYY-MM-DDTHH:MM", err=True)
        sys.exit(1)
    meeting = _run(admin, lambda ctx: keep.schedule_meeting(
        ctx, team_id, day=at.date(), at=at.time(), place=place))
    click.echo(f"meeting {meeting.id} at {meeting.starts_at.isoformat(timespec='minutes')}")
