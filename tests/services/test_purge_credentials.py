"""The retention job also deletes dead credentials: calendar feeds revoked, and API tokens
revoked or expired, more than ``CREDENTIAL_GRACE`` ago (a dry run counts them); live ones and
recently dead ones stay. Through ``purge_due`` and ``bti privacy purge`` on the real database."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from bti.cli import main
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.notifications import CalendarFeed
from bti.domain.org import ApiToken
from bti.services.privacy import purge
from tests.conftest import World
from tests.factories import FIXED_NOW

DAY = timedelta(days=1)
OLD = FIXED_NOW - purge.CREDENTIAL_GRACE - DAY
RECENT = FIXED_NOW - purge.CREDENTIAL_GRACE + DAY


def _credentials(session, w) -> dict[str, int]:
    """One of each: live, dead long ago, dead recently; returns the ids by name."""
    feeds = {name: CalendarFeed(user_id=w.coordinator.id, token_sha256=name.ljust(64, "0"),
                                created_at=OLD - DAY * 9, revoked_at=at)
             for name, at in (("feed-live", None), ("feed-old", OLD), ("feed-new", RECENT))}
    tokens = {name: ApiToken(token_hash=name.ljust(64, "0"), user_id=w.coordinator.id,
                             name="test", scopes="cases:read", created_at=OLD - DAY * 9,
                             expires_at=expires, revoked_at=revoked)
              for name, expires, revoked in (
                  ("token-live", FIXED_NOW + DAY * 30, None),
                  ("token-revoked-old", FIXED_NOW + DAY * 30, OLD),
                  ("token-expired-old", OLD, None),
                  ("token-revoked-new", FIXED_NOW + DAY * 30, RECENT),
                  ("token-expired-new", RECENT, None))}
    session.add_all([*feeds.values(), *tokens.values()])
    session.flush()
    return {k: v.id for k, v in {**feeds, **tokens}.items()}


def _left(session) -> tuple[set[str], set[str]]:
    return ({h.rstrip("0") for h in session.scalars(select(CalendarFeed.token_sha256))},
            {h.rstrip("0") for h in session.scalars(select(ApiToken.token_hash))})


def test_dead_credentials_past_the_grace_are_deleted_and_the_rest_kept(world, session):
    _credentials(session, world)
    dry = purge.purge_due(session, FIXED_NOW, dry_run=True)
    assert dry.credentials == {"calendar_feed": 1, "api_token": 2}
    assert len(_left(session)[1]) == 5  # a dry run changes nothing
    report = purge.purge_due(session, FIXED_NOW)
    assert report.credentials == {"calendar_feed": 1, "api_token": 2}
    session.expire_all()
    assert _left(session) == ({"feed-live", "feed-new"},
                              {"token-live", "token-revoked-new", "token-expired-new"})
    assert purge.purge_due(session, FIXED_NOW).credentials == {"calendar_feed": 0,
                                                               "api_token": 0}


def test_the_purge_command_names_the_credentials_it_deleted(registry, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    factory = make_session_factory(engine)
    with factory.begin() as s:
        _credentials(s, World(s, registry, "bti-standard"))
    monkeypatch.setenv("BTI_DATABASE_URL", url)
    monkeypatch.delenv("BTI_PURGE_JOURNAL", raising=False)
    now = FIXED_NOW.isoformat()
    r = CliRunner().invoke(main, ["privacy", "purge", "--dry-run", "--now", now])
    assert r.exit_code == 0, r.output
    assert "would purge api_token (revoked or expired): 2" in r.output
    assert "would purge calendar_feed (revoked or expired): 1" in r.output
    r = CliRunner().invoke(main, ["privacy", "purge", "--now", now])
    assert r.exit_code == 0, r.output
    assert "purged api_token (revoked or expired): 2" in r.output
    with factory() as s:
        assert _left(s) == ({"feed-live", "feed-new"},
                            {"token-live", "token-revoked-new", "token-expired-new"})
    engine.dispose()
