"""Settings from the environment (``BTI_*``). No Flask here, and no insecure defaults."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from bti.domain.log import LogKeys

DEFAULT_DATABASE_URL = "sqlite:///instance/bti.sqlite3"
#: The keys that seal the stafettlogg and the audit trail (``bti.domain.log.LogKeys``).
LOG_KEYS_ENV = "BTI_LOG_KEYS"
#: The OpenID providers staff may sign in through, per municipality (JSON, docs/security.md).
OIDC_PROVIDERS_ENV = "BTI_OIDC_PROVIDERS"
#: The installation's key for the HMAC of a provider's subject identifier.
IDENTITY_HMAC_KEY_ENV = "BTI_IDENTITY_HMAC_KEY"


class ConfigError(Exception):
    pass


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


@dataclass(frozen=True)
class OidcProvider:
    """One municipality's OpenID provider (Feide, Entra ID, ID-porten...): discovered from
    ``issuer``'s ``/.well-known/openid-configuration``. The client secret comes from the
    environment only, never from the database or the repository."""

    #: The municipality's slug; the provider serves that municipality's users only.
    municipality: str
    #: Shown on the sign-in button ("Logg inn med <name>").
    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False, default="")
    #: The ``acr`` levels the municipality accepts (requested as ``acr_values``, and the ID
    #: token's ``acr`` must be one of them); empty: any level, and the second factor (TOTP) is
    #: then still owed where the municipality requires one.
    acr_values: tuple[str, ...] = ()
    #: The ID token claim whose value, on a person's first sign-in, must equal a staff user's
    #: user name in the municipality to link the two (afterwards the subject alone is used).
    link_claim: str = "preferred_username"
    scope: str = "openid profile email"
    #: The family provider of the municipality (ID-porten): guardians and young people sign in
    #: through it to their own pages (``/familie/``), never to the staff pages.
    family: bool = False
    #: The claim that names the person (``pid`` for ID-porten's family provider; ``sub`` for
    #: staff). Only its HMAC is stored.
    subject_claim: str = "sub"
    #: The origin of the provider's authorization endpoint when it is not the issuer's
    #: (ID-porten: issuer https://idporten.no, sign-in at https://login.idporten.no): the pages'
    #: CSP ``form-action`` must allow it, or the browser stops the redirect to the sign-in.
    authorize_origin: str = ""

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def client_name(self) -> str:
        """The provider's name in the app's OAuth registry (one staff and one family provider
        per municipality)."""
        return f"{self.municipality}.family" if self.family else self.municipality


def _secret_env_name(slug: str, family: bool = False) -> str:
    return ("BTI_OIDC_" + re.sub(r"[^A-Z0-9]", "_", slug.upper())
            + ("_FAMILY" if family else "") + "_CLIENT_SECRET")


def _oidc_providers(env: Mapping[str, str]) -> tuple[OidcProvider, ...]:
    raw = env.get(OIDC_PROVIDERS_ENV, "").strip()
    if not raw:
        return ()
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ConfigError(f"{OIDC_PROVIDERS_ENV} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{OIDC_PROVIDERS_ENV} must be a JSON object: municipality slug -> "
                          "{name, issuer, client_id, acr_values, link_claim}")
    out: list[OidcProvider] = []
    for slug, entry in data.items():
        # one provider, or a list: the staff provider and the family provider ("family": true)
        for conf in entry if isinstance(entry, list) else [entry]:
            out.append(_oidc_provider(env, slug, conf))
    for slug in data:
        for family in (False, True):
            if sum(1 for p in out if p.municipality == slug and p.family == family) > 1:
                raise ConfigError(f"{OIDC_PROVIDERS_ENV}[{slug!r}] names more than one "
                                  f"{'family' if family else 'staff'} provider")
    return tuple(out)


def _oidc_provider(env: Mapping[str, str], slug: str, conf: object) -> OidcProvider:
    if not isinstance(conf, dict):
        raise ConfigError(f"{OIDC_PROVIDERS_ENV}[{slug!r}] must be an object")
    missing = [k for k in ("name", "issuer", "client_id") if not conf.get(k)]
    if missing:
        raise ConfigError(f"{OIDC_PROVIDERS_ENV}[{slug!r}] lacks {', '.join(missing)}")
    family = conf.get("family", False) is True
    secret_env = _secret_env_name(slug, family)
    secret = env.get(secret_env, "") or str(conf.get("client_secret", ""))
    if not secret:
        raise ConfigError(f"{secret_env} is not set (the client secret of "
                          f"{slug!r}'s OpenID provider)")
    acr = conf.get("acr_values", [])
    if isinstance(acr, str):
        acr = acr.split()
    if family and not acr:
        raise ConfigError(f"{OIDC_PROVIDERS_ENV}[{slug!r}]: the family provider needs "
                          "acr_values (the level ID-porten must sign the family in with)")
    return OidcProvider(
        municipality=slug, name=str(conf["name"]), issuer=str(conf["issuer"]),
        client_id=str(conf["client_id"]), client_secret=secret,
        acr_values=tuple(str(v) for v in acr),
        link_claim=str(conf.get("link_claim", "preferred_username")),
        scope=str(conf.get("scope", "openid profile" if family else "openid profile email")),
        family=family, subject_claim=str(conf.get("subject_claim", "pid" if family else "sub")),
        authorize_origin=str(conf.get("authorize_origin", "")))


def _identity_hmac_key(env: Mapping[str, str], *, dev: bool, secret: str,
                       providers: tuple[OidcProvider, ...]) -> bytes | None:
    raw = env.get(IDENTITY_HMAC_KEY_ENV, "").strip()
    if raw:
        if len(raw) < 32:
            raise ConfigError(f"{IDENTITY_HMAC_KEY_ENV} must be at least 32 characters")
        return raw.encode()
    if not providers:
        return None
    if not dev:
        raise ConfigError(
            f"{IDENTITY_HMAC_KEY_ENV} is not set. With {OIDC_PROVIDERS_ENV} configured it holds "
            "the installation's key for the HMAC of the providers' person identifiers (never "
            "stored in clear); keep it outside the database and never change it (people would "
            "not be recognised): for example "
            f"{IDENTITY_HMAC_KEY_ENV}="
            "$(python -c 'import secrets; print(secrets.token_urlsafe(48))'). "
            "BTI_DEV=1 derives one from the secret key.")
    return derive_identity_key(secret)


def derive_identity_key(secret: str) -> bytes:
    """A development key derived from the secret key (BTI_DEV=1, and the tests)."""
    return hmac.new(secret.encode(), b"bti identity hmac", hashlib.sha256).hexdigest().encode()


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
    #: unset: one key derived from the secret key (``bti.services.accounts.secretbox``).
    data_keys: str | None = None
    #: Requests per personal access token on the JSON API (Flask-Limiter syntax).
    api_rate_limit: str = "300 per minute"
    #: The connection pool (PostgreSQL): connections kept per process, extra ones allowed under
    #: load, seconds a request waits for a free connection before it is answered with 503, and
    #: seconds after which a connection is replaced (below any firewall's idle cut-off).
    db_pool_size: int = 5
    db_max_overflow: int = 5
    db_pool_timeout: float = 10.0
    db_pool_recycle: int = 1800
    #: Longest a single SQL statement may run (PostgreSQL ``statement_timeout``), in ms; 0: none.
    db_statement_timeout_ms: int = 30_000
    #: Where users report an accessibility problem (``BTI_ACCESSIBILITY_CONTACT``): an e-mail
    #: address or an https address, shown in the accessibility statement; None: "your
    #: municipality's service desk".
    accessibility_contact: str | None = None
    #: The OpenID providers staff sign in through (one per municipality at most), and the
    #: family providers (``family``; one per municipality at most).
    oidc_providers: tuple[OidcProvider, ...] = ()
    #: The key of the HMAC over a provider's subject identifier (``BTI_IDENTITY_HMAC_KEY``);
    #: None when no provider is configured (derived from the secret key then, if needed).
    identity_hmac_key: bytes | None = field(default=None, repr=False)

    def identity_key(self) -> bytes:
        return self.identity_hmac_key or derive_identity_key(self.secret_key)

    def oidc_provider(self, municipality_slug: str) -> OidcProvider | None:
        """The municipality's staff provider."""
        return next((p for p in self.oidc_providers
                     if p.municipality == municipality_slug and not p.family), None)

    def family_provider(self, municipality_slug: str) -> OidcProvider | None:
        """The municipality's family provider (ID-porten)."""
        return next((p for p in self.oidc_providers
                     if p.municipality == municipality_slug and p.family), None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        dev = env.get("BTI_DEV") == "1"
        _check_log_keys(env, dev=dev)
        secret = env.get("BTI_SECRET_KEY", "")
        if not secret:
            if not dev:
                raise ConfigError(
                    "BTI_SECRET_KEY is not set. Set it to a long random value "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                    "or set BTI_DEV=1 for a throwaway key on a development machine."
                )
            secret = secrets.token_urlsafe(48)  # per process: sessions end on restart
        providers = _oidc_providers(env)
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
            db_pool_size=_int(env, "BTI_DB_POOL_SIZE", 5, minimum=1),
            db_max_overflow=_int(env, "BTI_DB_MAX_OVERFLOW", 5, minimum=0),
            db_pool_timeout=float(_int(env, "BTI_DB_POOL_TIMEOUT", 10, minimum=1)),
            db_pool_recycle=_int(env, "BTI_DB_POOL_RECYCLE", 1800, minimum=-1),
            db_statement_timeout_ms=_int(env, "BTI_DB_STATEMENT_TIMEOUT_MS", 30_000, minimum=0),
            accessibility_contact=(env.get("BTI_ACCESSIBILITY_CONTACT") or "").strip() or None,
            oidc_providers=providers,
            identity_hmac_key=_identity_hmac_key(env, dev=dev, secret=secret,
                                                 providers=providers),
        )

    def engine_options(self) -> dict:
        """Keyword arguments for ``bti.db.engine.make_engine`` (pool and statement timeout)."""
        return dict(pool_size=self.db_pool_size, max_overflow=self.db_max_overflow,
                    pool_timeout=self.db_pool_timeout, pool_recycle=self.db_pool_recycle,
                    statement_timeout_ms=self.db_statement_timeout_ms)

    @staticmethod
    def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        return env.get("BTI_DATABASE_URL", DEFAULT_DATABASE_URL)


def _check_log_keys(env: Mapping[str, str], *, dev: bool) -> None:
    raw = env.get(LOG_KEYS_ENV, "").strip()
    if not raw:
        if dev:
            return
        raise ConfigError(
            f"{LOG_KEYS_ENV} is not set. It holds the keys that seal the stafettlogg and the "
            "audit trail, kept outside the database (docs/deployment.md): for example "
            f"{LOG_KEYS_ENV}=k1:$(python -c 'import secrets; print(secrets.token_urlsafe(32))'). "
            "BTI_DEV=1 runs without (the log is then not sealed).")
    try:
        LogKeys.parse(raw)
    except ValueError as err:
        raise ConfigError(f"{LOG_KEYS_ENV}: {err}") from None


_PARSED: dict[str, LogKeys | None] = {}


def log_keys(env: Mapping[str, str] | None = None) -> LogKeys | None:
    """The log keys from ``BTI_LOG_KEYS`` (parsed once per value), or None when it is not set:
    the rows are then written unsealed, and ``bti audit verify`` says it could not check seals.
    A malformed value raises ``ConfigError``."""
    raw = (os.environ if env is None else env).get(LOG_KEYS_ENV, "")
    try:
        return _PARSED[raw]
    except KeyError:
        pass
    try:
        keys = LogKeys.parse(raw) if raw.strip() else None
    except ValueError as err:
        raise ConfigError(f"{LOG_KEYS_ENV}: {err}") from None
    _PARSED[raw] = keys
    return keys


# --- transfer bundles between installations (``bti case transfer-export`` / ``-import``) ------

TRANSFER_INSTALLATION_ENV = "BTI_INSTALLATION_ID"
TRANSFER_SIGNING_KEY_ENV = "BTI_TRANSFER_SIGNING_KEY"
TRANSFER_TRUSTED_KEYS_ENV = "BTI_TRANSFER_TRUSTED_KEYS"
_INSTALLATION = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


@dataclass(frozen=True)
class TransferSettings:
    """This installation's name and signing key, and the senders it trusts, from the
    environment (docs/deployment.md), never from the repository or the database.

    ``BTI_INSTALLATION_ID``: the installation's name in the manifests it signs (lower case,
    digits, ``.``, ``_``, ``-``). ``BTI_TRANSFER_SIGNING_KEY``: the raw 32-byte Ed25519 private
    key, base64. ``BTI_TRANSFER_TRUSTED_KEYS``: ``installation=base64 public key`` pairs,
    separated by commas (an installation trusts its own key only when it is listed)."""

    installation: str = field(default="")
    signing_key: bytes | None = field(default=None, repr=False)
    trusted: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TransferSettings:
        import base64
        import binascii

        env = os.environ if env is None else env

        def raw32(value: str, name: str) -> bytes:
            try:
                key = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(f"{name}: not base64") from None
            if len(key) != 32:
                raise ConfigError(f"{name}: an Ed25519 key is 32 bytes, not {len(key)}")
            return key

        installation = env.get(TRANSFER_INSTALLATION_ENV, "").strip()
        if installation and not _INSTALLATION.fullmatch(installation):
            raise ConfigError(f"{TRANSFER_INSTALLATION_ENV}: use lower-case letters, digits, "
                              "'.', '_' and '-' (at most 100)")
        signing = env.get(TRANSFER_SIGNING_KEY_ENV, "")
        trusted: dict[str, bytes] = {}
        for part in env.get(TRANSFER_TRUSTED_KEYS_ENV, "").split(","):
            if not part.strip():
                continue
            name, sep, key = part.partition("=")
            name = name.strip()
            if not sep or not _INSTALLATION.fullmatch(name):
                raise ConfigError(f"{TRANSFER_TRUSTED_KEYS_ENV}: each entry is "
                                  "installation=base64 public key")
            trusted[name] = raw32(key, f"{TRANSFER_TRUSTED_KEYS_ENV} ({name})")
        return cls(installation, raw32(signing, TRANSFER_SIGNING_KEY_ENV)
                   if signing.strip() else None, trusted)


# --- e-mail (``bti notify send``; the app itself never sends mail) -------------------------------

#: Hosts a plain-text SMTP connection (``?tls=none``) is allowed to: this machine only.
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class MailSettings:
    """Where and how ``bti notify send`` delivers e-mail, from ``BTI_SMTP_URL`` and friends.

    ``BTI_SMTP_URL`` is ``smtp://[user:password@]host[:port]`` (STARTTLS, required: a server
    that does not offer it gets no mail; port 587 by default), ``smtps://…`` (TLS from the first
    byte, port 465), or ``smtp://host:port?tls=none`` for a server on this machine only (a local
    relay, the tests). The user name and password are URL-decoded (``%40`` for ``@``); they are
    never logged or shown (``repr`` leaves them out)."""

    host: str
    port: int
    #: "starttls", "tls" or "none".
    security: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    mail_from: str = ""
    reply_to: str | None = None
    #: The app's public address, for the links in the mails (no trailing slash).
    base_url: str = ""
    #: The hour (Oslo time, 0–23) from which the daily digest goes out.
    digest_hour: int = 7
    #: Seconds an SMTP connection or command may take.
    timeout: float = 20.0

    @property
    def server(self) -> str:
        """Scheme, host and port only (for messages): never the user name or password."""
        scheme = "smtps" if self.security == "tls" else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MailSettings:
        from email.headerregistry import Address
        from email.utils import parseaddr
        from urllib.parse import parse_qs
        from urllib.parse import unquote
        from urllib.parse import urlsplit

        env = os.environ if env is None else env
        raw = env.get("BTI_SMTP_URL", "").strip()
        if not raw:
            raise ConfigError("BTI_SMTP_URL is not set: the mail server, for example "
                              "smtp://bti%40example.no:PASSWORD@smtp.example.no:587 (STARTTLS) "
                              "or smtps://smtp.example.no:465 (docs/deployment.md)")
        try:
            url = urlsplit(raw)
            port_given = url.port
        except ValueError:
            raise ConfigError("BTI_SMTP_URL is not a valid URL (check the port)") from None
        if url.scheme not in ("smtp", "smtps"):
            raise ConfigError(f"BTI_SMTP_URL must start with smtp:// (STARTTLS) or smtps:// "
                              f"(TLS), not {url.scheme + '://' if url.scheme else 'nothing'}")
        host = url.hostname or ""
        if not host:
            raise ConfigError("BTI_SMTP_URL names no host (smtp://host:port)")
        query = parse_qs(url.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"tls"})
        if unknown:
            raise ConfigError(f"BTI_SMTP_URL: unknown parameter {unknown[0]!r} (only tls=none)")
        security = "tls" if url.scheme == "smtps" else "starttls"
        if "tls" in query:
            if query["tls"] != ["none"] or url.scheme != "smtp":
                raise ConfigError("BTI_SMTP_URL: the only tls parameter is smtp://…?tls=none")
            if host not in LOOPBACK_HOSTS:
                raise ConfigError("BTI_SMTP_URL: tls=none (no encryption) is allowed to a server "
                                  f"on this machine only ({', '.join(LOOPBACK_HOSTS)})")
            security = "none"
        port = port_given or (465 if security == "tls" else 587)
        username = unquote(url.username) if url.username else None
        password = unquote(url.password) if url.password is not None else None

        mail_from = env.get("BTI_MAIL_FROM", "").strip()
        if not mail_from:
            raise ConfigError("BTI_MAIL_FROM is not set: the sender address of the mails, for "
                              "example BTI <bti@kommune.no>")
        reply_to = env.get("BTI_MAIL_REPLY_TO", "").strip() or None
        for name, value in (("BTI_MAIL_FROM", mail_from), ("BTI_MAIL_REPLY_TO", reply_to)):
            if value is None:
                continue
            addr = parseaddr(value)[1]
            try:
                Address(addr_spec=addr)
            except (ValueError, IndexError):
                addr = ""
            if "@" not in addr:
                raise ConfigError(f"{name} is not an e-mail address: {value!r}")
        base_url = env.get("BTI_BASE_URL", "").strip().rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigError("BTI_BASE_URL must be the app's address for the links in the "
                              "mails, for example https://bti.kommune.no")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ConfigError("BTI_BASE_URL must start with https:// (http:// only for "
                              "this machine)")
        digest_hour = _int(env, "BTI_DIGEST_HOUR", 7, minimum=0)
        if digest_hour > 23:
            raise ConfigError(f"BTI_DIGEST_HOUR must be an hour 0–23, not {digest_hour}")
        return cls(host=host, port=port, security=security, username=username,
                   password=password, mail_from=mail_from, reply_to=reply_to,
                   base_url=base_url, digest_hour=digest_hour)
