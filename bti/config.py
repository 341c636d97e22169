"""Settings from the environment (``BTI_*``). No Flask here, and no insecure defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///instance/bti.sqlite3"


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    workflows_dir: Path
    testing: bool = False
    dev: bool = False
    #: Where login throttling keeps its counters: ``memory://`` for one process, a Redis URL
    #: (``redis://127.0.0.1:6379``) when several workers or instances serve the app.
    ratelimit_storage: str = "memory://"
    #: Prefix of the throttling keys in that store (several deployments may share one Redis).
    ratelimit_prefix: str = "bti"
    #: How many reverse proxies in front set X-Forwarded-For; 0 trusts none (the default).
    proxy_hops: int = 0
    #: File the audit chain heads are appended to (outside the database), if set.
    audit_anchor_file: Path | None = None
    #: Fernet keys (comma-separated, the first encrypts) for secrets stored in the database;
    #: unset: one key derived from the secret key (``bti.services.secretbox``).
    data_keys: str | None = None
    #: Requests per personal access token on the JSON API (Flask-Limiter syntax).
    api_rate_limit: str = "300 per minute"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        dev = env.get("BTI_DEV") == "1"
        secret = env.get("BTI_SECRET_KEY", "")
        if not secret:
            if not dev:
                raise ConfigError(
                    "BTI_SECRET_KEY is not set. Set it to a long random value "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                    "or set BTI_DEV=1 for a throwaway key on a development machine."
                )
            secret = secrets.token_urlsafe(48)  # per process: sessions end on restart
        return cls(
            database_url=env.get("BTI_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=secret,
            workflows_dir=Path(env.get("BTI_WORKFLOWS_DIR", "workflows")),
            dev=dev,
            ratelimit_storage=env.get("BTI_RATELIMIT_STORAGE", "memory://"),
            ratelimit_prefix=env.get("BTI_RATELIMIT_PREFIX", "bti"),
            proxy_hops=int(env.get("BTI_PROXY_HOPS", "0")),
            audit_anchor_file=Path(env["BTI_AUDIT_ANCHOR_FILE"])
            if env.get("BTI_AUDIT_ANCHOR_FILE") else None,
            data_keys=env.get("BTI_DATA_KEYS") or None,
            api_rate_limit=env.get("BTI_API_RATE_LIMIT", "300 per minute"),
        )

    @staticmethod
    def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        return env.get("BTI_DATABASE_URL", DEFAULT_DATABASE_URL)
