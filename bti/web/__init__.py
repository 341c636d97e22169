"""Everything Flask lives under ``bti.web``. ``create_app`` builds the app; nothing runs at
import time."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask import jsonify
from flask import redirect
from flask import url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from bti.config import ConfigError
from bti.config import Settings
from bti.db.engine import DatabaseMissing
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.engine.inputs import DIGITS_REGEX
from bti.engine.inputs import MAX_INT
from bti.services.accounts.secretbox import SecretBox
from bti.services.context import utcnow
from bti.services.workflows.registry import WorkflowRegistry
from bti.web import policy

csrf = CSRFProtect()


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: ASCII digits only (werkzeug's ``\\d+`` also takes ``١٢``), at
    most ``MAX_INT`` (a larger id overflows PostgreSQL's ``integer``); anything else is 404."""

    regex = DIGITS_REGEX

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_INT, signed=False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


class BtiExtension:
    """What the app holds: settings, engine, session factory, workflow registry and clock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        memory = settings.database_url in ("sqlite://", "sqlite:///:memory:")
        try:  # a SQLite file is made by `bti init-db`, never as a side effect of starting
            self.engine = make_engine(settings.database_url, must_exist=not memory,
                                      **settings.engine_options())
        except DatabaseMissing as err:
            raise ConfigError(f"{err}: create it with `bti init-db` (from the repository root, "
                              "or set BTI_DATABASE_URL to the database)") from None
        if memory:
            create_schema(self.engine)
        self.session_factory = make_session_factory(self.engine)
        # an invalid workflow file stops the start here, naming every problem
        self.workflows = WorkflowRegistry(settings.workflows_dir)
        with self.session_factory.begin() as session:
            self.workflows.sync(session)
        #: The clock services use; tests replace it to step over timeouts.
        self.clock = utcnow
        try:
            self.secrets = SecretBox.from_config(settings.secret_key, settings.data_keys)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def after_fork(app: Flask) -> None:
    """In a worker forked from a process that built ``app`` (gunicorn's ``preload_app``,
    deploy/gunicorn.conf.py ``post_fork``): the connections the parent opened (the workflow
    sync at start-up) stay the parent's. ``dispose(close=False)`` gives the worker a new, empty
    pool without closing the parent's sockets (SQLAlchemy's "Using Connection Pools with
    Multiprocessing or os.fork()"), so no connection is ever used by two processes.

    Nothing else the app holds is tied to a process: the limiter's Redis client checks its
    process id and opens its own connections in the worker, its in-memory store restarts its
    expiry timer on first use, and the workflow registry is immutable data."""
    app.extensions["bti"].engine.dispose(close=False)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    production = not (settings.dev or settings.testing)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SESSION_COOKIE_NAME="__Host-bti" if production else "bti_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=30),
        SESSION_REFRESH_EACH_REQUEST=True,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=12 * 3600,  # as long as a session may live
        WTF_CSRF_SSL_STRICT=production,
        REMEMBER_COOKIE_DURATION=timedelta(0),
    )
    if settings.proxy_hops:
        # Flask's documented way to wrap the WSGI app; mypy sees a method assigned
        app.wsgi_app = ProxyFix(app.wsgi_app,  # type: ignore[method-assign]
                                x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    app.extensions["bti"] = BtiExtension(settings)

    from bti.web import auth
    from bti.web import db
    from bti.web import errors
    from bti.web import i18n
    from bti.web import security
    from bti.web import templating
    from bti.web.ui import register_blueprints

    csrf.init_app(app)
    # after_request hooks run in reverse order of registration: the headers hook is registered
    # before the commit hook so that it runs last, on whatever response the commit left (a 503
    # page included)
    security.init_app(app, hsts=production)
    db.init_app(app)
    i18n.init_app(app)
    policy.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    register_blueprints(app)
    templating.init_app(app)
    from bti.web import api

    api.init_app(app)

    @app.get("/healthz")
    @policy.public
    def healthz():
        return jsonify(status="ok", workflows=app.extensions["bti"].workflows.ids())

    @app.get("/favicon.ico")
    @policy.public
    def favicon():
        """For a browser on a page that names no icon (a PDF, the JSON API): the SVG."""
        return redirect(url_for("static", filename="favicon.svg"), 301)

    @app.get("/")
    @policy.public
    def index():
        return redirect(url_for("inbox.index"))

    return app
