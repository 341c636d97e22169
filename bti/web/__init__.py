"""Everything Flask lives under ``bti.web``. ``create_app`` builds the app; nothing runs at
import time."""

from __future__ import annotations

from flask import Flask
from flask import jsonify

from bti.config import Settings
from bti.db import create_schema
from bti.db import make_engine
from bti.db import make_session_factory
from bti.services.workflows import WorkflowRegistry


class BtiExtension:
    """What the app holds: the engine, the session factory and the workflow registry."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        if settings.database_url in ("sqlite://", "sqlite:///:memory:"):
            create_schema(self.engine)
        self.session_factory = make_session_factory(self.engine)
        # an invalid workflow file stops the start here, naming every problem
        self.workflows = WorkflowRegistry(settings.workflows_dir)
        with self.session_factory.begin() as session:
            self.workflows.sync(session)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not (settings.dev or settings.testing),
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.extensions["bti"] = BtiExtension(settings)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", workflows=app.extensions["bti"].workflows.ids())

    return app
