"""The analytics group: the leaders' aggregates kept at write time."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from bti.cli.common import load_registry
from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.group(help="The leaders' analytics: the aggregates kept at write time.")
def analytics() -> None:
    pass


@analytics.command("recompute", help="Rebuild the analytics aggregates from the cases and "
                   "their stafettlogg (after the migration, a restore or a purge).")
@click.option("--municipality", "slug", help="Only this municipality (its slug).")
def analytics_recompute(slug: str | None) -> None:
    import time

    from bti.domain.org import Municipality
    from bti.services.analytics import aggregates

    registry = load_registry()
    started = time.perf_counter()
    with make_session_factory(open_engine()).begin() as session:
        municipality_id = None
        if slug is not None:
            municipality_id = session.scalar(select(Municipality.id).where(
                Municipality.slug == slug))
            if municipality_id is None:
                click.echo(f"no municipality {slug!r}", err=True)
                sys.exit(1)
        cells = aggregates.recompute(session, registry, municipality_id)
    click.echo(f"{cells} aggregate cells written in {time.perf_counter() - started:.1f} s")
