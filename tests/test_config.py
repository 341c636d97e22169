"""Settings from the environment: the database pool and statement timeout (production
profile), with a clear error for a bad value."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from bti.config import ConfigError
from bti.config import Settings
from bti.db.engine import make_engine
from tests.dbs import pg_schema

BASE = {"BTI_SECRET_KEY": "a-test-secret-that-is-long-enough",
        "BTI_LOG_KEYS": "k1:a-made-up-log-key-that-is-long-enough"}


def test_pool_and_statement_timeout_defaults_and_overrides():
    s = Settings.from_env(BASE)
    assert s.engine_options() == dict(pool_size=5, max_overflow=5, pool_timeout=10.0,
                                      pool_recycle=1800, statement_timeout_ms=30_000)
    s = Settings.from_env({**BASE, "BTI_DB_POOL_SIZE": "12", "BTI_DB_MAX_OVERFLOW": "0",
                           "BTI_DB_POOL_TIMEOUT": "3", "BTI_DB_POOL_RECYCLE": "600",
                           "BTI_DB_STATEMENT_TIMEOUT_MS": "0"})
    assert s.engine_options() == dict(pool_size=12, max_overflow=0, pool_timeout=3.0,
                                      pool_recycle=600, statement_timeout_ms=0)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("BTI_DB_POOL_SIZE", "many", "must be a whole number"),
    ("BTI_DB_POOL_SIZE", "0", "must be at least 1"),
    ("BTI_DB_STATEMENT_TIMEOUT_MS", "-5", "must be at least 0"),
])
def test_a_bad_value_names_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=f"{name} {message}"):
        Settings.from_env({**BASE, name: value})


@pytest.mark.parametrize(("value", "message"), [
    ("", "BTI_LOG_KEYS is not set"),
    ("k1", "key 1 is not id:secret"),
    ("k1:short", "'k1' is shorter than 32 characters"),
    ("bad id!:" + "x" * 40, "key 1 is not id:secret"),
    ("k1:" + "x" * 40 + ",k1:" + "y" * 40, "a key id is given twice"),
])
def test_log_keys_are_required_outside_development_and_checked(value, message):
    with pytest.raises(ConfigError, match=message) as err:
        Settings.from_env({**BASE, "BTI_LOG_KEYS": value})
    assert "x" * 40 not in str(err.value)  # never the secret itself
    if not value:
        Settings.from_env({**BASE, "BTI_LOG_KEYS": "", "BTI_DEV": "1"})  # dev runs without


def test_sqlite_ignores_the_pool_settings(tmp_path):
    opts = Settings.from_env(BASE).engine_options()
    for url in ("sqlite://", f"sqlite:///{tmp_path / 'x.sqlite3'}"):
        eng = make_engine(url, **opts)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        eng.dispose()


@pytest.mark.postgres
def test_postgres_gets_the_pool_and_the_statement_timeout(postgres_url):
    opts = Settings.from_env({**BASE, "BTI_DB_POOL_SIZE": "3",
                              "BTI_DB_STATEMENT_TIMEOUT_MS": "1500"}).engine_options()
    with pg_schema(postgres_url, prefix="bti_config") as url:
        eng = make_engine(url, **opts)
        try:
            assert eng.pool.size() == 3
            assert eng.pool._pre_ping
            with eng.connect() as conn:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "1500ms"
                # the search_path of the URL survives the timeout setting
                assert conn.execute(text("SELECT current_schema()")).scalar() \
                    == url.rsplit("%3D", 1)[-1]
        finally:
            eng.dispose()


# --- OpenID providers and the identity HMAC key ----------------------------------------------

_PROVIDERS = ('{"fjordvik": {"name": "Feide", "issuer": "https://idp.example.test", '
              '"client_id": "bti", "acr_values": "substantial high"}}')
_HMAC_KEY = "h" * 40


def test_an_oidc_provider_takes_its_secret_from_its_own_variable():
    s = Settings.from_env({**BASE, "BTI_OIDC_PROVIDERS": _PROVIDERS,
                           "BTI_OIDC_FJORDVIK_CLIENT_SECRET": "s" * 30,
                           "BTI_IDENTITY_HMAC_KEY": _HMAC_KEY})
    p = s.oidc_provider("fjordvik")
    assert p is not None
    assert (p.name, p.client_id, p.client_secret) == ("Feide", "bti", "s" * 30)
    assert p.acr_values == ("substantial", "high")
    assert p.metadata_url == "https://idp.example.test/.well-known/openid-configuration"
    assert "s" * 30 not in repr(s)  # the secret is never in a repr (nor in a log line)
    assert s.identity_key() == _HMAC_KEY.encode()


@pytest.mark.parametrize(("extra", "message"), [
    ({"BTI_IDENTITY_HMAC_KEY": _HMAC_KEY}, "BTI_OIDC_FJORDVIK_CLIENT_SECRET is not set"),
    ({"BTI_OIDC_FJORDVIK_CLIENT_SECRET": "s" * 30}, "BTI_IDENTITY_HMAC_KEY is not set"),
    ({"BTI_OIDC_FJORDVIK_CLIENT_SECRET": "s" * 30, "BTI_IDENTITY_HMAC_KEY": "short"},
     "at least 32 characters"),
])
def test_an_oidc_provider_needs_its_secret_and_the_hmac_key(extra, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({**BASE, "BTI_OIDC_PROVIDERS": _PROVIDERS, **extra})


def test_development_derives_the_hmac_key_and_no_provider_needs_none():
    assert Settings.from_env(BASE).identity_hmac_key is None
    dev = Settings.from_env({**BASE, "BTI_DEV": "1", "BTI_OIDC_PROVIDERS": _PROVIDERS,
                             "BTI_OIDC_FJORDVIK_CLIENT_SECRET": "s" * 30})
    assert dev.identity_hmac_key == dev.identity_key()
    assert len(dev.identity_key()) == 64


@pytest.mark.parametrize(("value", "message"), [
    ("not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ('{"fjordvik": {"name": "Feide"}}', "lacks issuer, client_id"),
])
def test_a_malformed_provider_list_is_named(value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({**BASE, "BTI_OIDC_PROVIDERS": value,
                           "BTI_IDENTITY_HMAC_KEY": _HMAC_KEY})


_FAMILY = json.dumps({"fjordvik": [
    {"name": "Feide", "issuer": "https://auth.example.test", "client_id": "bti-staff"},
    {"name": "ID-porten", "issuer": "https://idporten.example.test", "client_id": "bti-family",
     "family": True, "acr_values": ["idporten-loa-high"],
     "authorize_origin": "https://login.idporten.example.test"}]})


def test_a_municipality_has_a_staff_and_a_family_provider():
    s = Settings.from_env({**BASE, "BTI_OIDC_PROVIDERS": _FAMILY,
                           "BTI_OIDC_FJORDVIK_CLIENT_SECRET": "s" * 30,
                           "BTI_OIDC_FJORDVIK_FAMILY_CLIENT_SECRET": "f" * 30,
                           "BTI_IDENTITY_HMAC_KEY": _HMAC_KEY})
    staff, family = s.oidc_provider("fjordvik"), s.family_provider("fjordvik")
    assert staff.client_id == "bti-staff"
    assert not staff.family
    assert family.client_secret == "f" * 30
    assert (family.subject_claim, family.scope) == ("pid", "openid profile")
    assert family.client_name == "fjordvik.family" != staff.client_name
    assert family.authorize_origin == "https://login.idporten.example.test"


def test_a_family_provider_needs_an_acr_level():
    bad = json.dumps({"fjordvik": {"name": "ID-porten", "issuer": "https://i.example.test",
                                   "client_id": "c", "family": True, "client_secret": "x"}})
    with pytest.raises(ConfigError, match="acr_values"):
        Settings.from_env({**BASE, "BTI_OIDC_PROVIDERS": bad, "BTI_IDENTITY_HMAC_KEY": _HMAC_KEY})
