"""demo-data: a fictional municipality with users and cases."""

from __future__ import annotations

import click
from sqlalchemy import select

from bti.cli.common import load_registry
from bti.cli.common import open_engine
from bti.db.engine import make_session_factory


@click.command("demo-data", help="Create a fictional municipality with users and cases. Above "
               "100 cases a national-size set is generated in bulk (100000 cases: about 2 "
               "million stafettlogg entries).")
@click.option("--password", help="One password for every demo user (at least 15 characters); "
              "random per user when left out.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the demo data already exists.")
@click.option("--cases", "cases_count", default=12, show_default=True, type=click.IntRange(0))
def demo_data(password: str | None, if_empty: bool, cases_count: int) -> None:
    import time

    from bti.demo.seed import BULK_ABOVE
    from bti.demo.seed import DEMO_SLUG
    from bti.demo.seed import make_demo
    from bti.demo.seed import make_national
    from bti.domain.org import Municipality
    from bti.services.errors import InvalidInput

    engine = open_engine()
    registry = load_registry()
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
