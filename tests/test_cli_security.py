"""``bti security rewrap-secrets``: every stored seed under the current key after a rotation."""

from __future__ import annotations

from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import select

from bti.cli import main
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.org import User
from bti.services.accounts.secretbox import SecretBox
from tests.conftest import World


def test_rewrap_after_a_rotation(tmp_path, registry, monkeypatch):
    url = f"sqlite:///{tmp_path / 'bti.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    old, new = Fernet.generate_key(), Fernet.generate_key()
    with make_session_factory(engine).begin() as s:
        world = World(s, registry, "bti-standard")
        world.teacher.totp_secret = "JBSWY3DPEHPK3PXP"  # stored before encryption
        world.coordinator.totp_secret = SecretBox([old]).seal("KRSXG5CTMVRXEZLU")
        ids = (world.teacher.id, world.coordinator.id)
    monkeypatch.setenv("BTI_DATABASE_URL", url)
    monkeypatch.setenv("BTI_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("BTI_DATA_KEYS", f"{new.decode()},{old.decode()}")
    r = CliRunner().invoke(main, ["security", "rewrap-secrets"])
    assert r.exit_code == 0, r.output
    assert "2 seed(s) re-encrypted, 0 already under the current key, 0 unreadable" in r.output
    only_new = SecretBox([new])
    with make_session_factory(engine)() as s:
        seeds = dict(s.execute(select(User.id, User.totp_secret).where(User.id.in_(ids))).all())
    assert only_new.open(seeds[ids[0]]) == "JBSWY3DPEHPK3PXP"
    assert only_new.open(seeds[ids[1]]) == "KRSXG5CTMVRXEZLU"
    r = CliRunner().invoke(main, ["security", "rewrap-secrets"])
    assert "0 seed(s) re-encrypted, 2 already under the current key" in r.output
    # a seed under a key that is no longer configured: named, and exit 1
    monkeypatch.setenv("BTI_DATA_KEYS", Fernet.generate_key().decode())
    r = CliRunner().invoke(main, ["security", "rewrap-secrets"])
    assert r.exit_code == 1
    assert f"user {ids[0]}: no configured key opens the seed" in r.output
    engine.dispose()
