"""The token group: personal access tokens for the JSON API."""

from __future__ import annotations

import sys

import click

from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.group(help="Personal access tokens for the JSON API (/api/v1). Each creation and "
             "revocation is audited (details {\"via\": \"cli\"}).")
def token() -> None:
    pass


@token.command("create", help="Create a token for USERNAME and print it once (only its SHA-256 "
               "is stored). It acts as that user, with the user's access, narrowed by its scopes.")
@click.argument("username")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["cases:read", "cases:write", "notifications:read",
                                 "notifications:write", "org:read", "org:write"]),
              help="What the token may do; repeat for several.")
@click.option("--days", type=click.IntRange(1, 90), required=True,
              help="Days until the token expires (at most 90).")
@click.option("--name", default="api", show_default=True,
              help="What the token is for (no personal data), shown by `bti token list`.")
def token_create(username: str, scopes: tuple[str, ...], days: int, name: str) -> None:
    from bti.services.accounts import tokens
    from bti.services.context import utcnow
    from bti.services.errors import InvalidInput

    with make_session_factory(open_engine()).begin() as session:
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
    from bti.services.accounts import tokens
    from bti.services.context import utcnow

    now = utcnow()
    with make_session_factory(open_engine())() as session:
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
    from bti.services.accounts import tokens
    from bti.services.context import utcnow

    with make_session_factory(open_engine()).begin() as session:
        row = tokens.revoke_token(session, token_id, now=utcnow())
        if row is None:
            click.echo(f"no token {token_id}", err=True)
            sys.exit(1)
    click.echo(f"token {token_id} revoked")
