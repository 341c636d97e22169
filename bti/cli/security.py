"""The security group: secrets stored in the database."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.group(help="Secrets stored in the database.")
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
    from bti.services.accounts.secretbox import SecretBox
    from bti.services.accounts.secretbox import SecretUnavailable

    try:
        settings = Settings.from_env()
        box = SecretBox.from_config(settings.secret_key, settings.data_keys)
    except (ConfigError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    rewrapped = unreadable = kept = 0
    with make_session_factory(open_engine()).begin() as session:
        for user in session.scalars(select(User).where(User.totp_secret.is_not(None))
                                    .order_by(User.id)):
            stored = user.totp_secret
            assert stored is not None  # the query selects the users with a seed
            try:
                if box.is_current(stored):
                    kept += 1
                    continue
                user.totp_secret = box.rewrap(stored)
                rewrapped += 1
            except SecretUnavailable:
                unreadable += 1
                click.echo(f"user {user.id}: no configured key opens the seed "
                           "(reset the user's second factor)", err=True)
    click.echo(f"{rewrapped} seed(s) re-encrypted, {kept} already under the current key, "
               f"{unreadable} unreadable")
    if unreadable:
        sys.exit(1)
