"""The request's database session and the one-transaction-per-request rule.

The session is opened lazily in ``g``. After the view, the web layer commits once if the response
is a success (status < 400) and rolls back otherwise; the audit rows queued by services are
written, hash-chained, inside that commit. If the commit fails, the response is replaced by a 503
page: data whose access could not be logged is never served (AUD-02).
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask
from flask import current_app
from flask import g
from flask import has_request_context
from flask import request
from flask.signals import before_render_template
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.context import Ctx

log = logging.getLogger(__name__)


def get_session() -> Session:
    if "db" not in g:
        g.db = current_app.extensions["bti"].session_factory()
    return g.db


def request_id() -> str:
    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex
    return g.request_id


def get_ctx(actor=None) -> Ctx:
    """The service context for this request: session, signed-in actor, workflows, request id."""
    ext = current_app.extensions["bti"]
    return Ctx(session=get_session(), actor=actor if actor is not None else current_user,
               workflows=ext.workflows, now=ext.clock,
               request_id=request_id() if has_request_context() else None,
               secrets=ext.secrets)


def _write_denials() -> None:
    """Refused accesses noted during the request (``bti.web.errors``), each in its own
    transaction: the refused request rolled back, the record of the attempt must not."""
    denials = g.pop("denials", None)
    if not denials:
        return
    ext = current_app.extensions["bti"]
    for action, object_type, object_id in denials:
        try:
            audit.record_denied(ext.session_factory, actor=current_user,
                                action=AuditAction(action), now=ext.clock(),
                                object_type=object_type, object_id=object_id,
                                request_id=request_id())
        except Exception as err:  # the refusal stands; the failure to log it is itself logged
            from bti.web.errors import log_failure

            log_failure("could not log a refused access", err)


class AuditUnavailable(HTTPException):
    """The reads' audit rows could not be stored: the page is not shown (AUD-02)."""

    code = 503
    description = "audit trail unavailable"


def commit_reads() -> None:
    """Keep the audit rows of what an error page (4xx) about to be rendered shows: the request
    hook commits only answers below 400. If they cannot be stored, the page is not shown
    (AuditUnavailable, 503)."""
    session: Session | None = g.get("db")
    if session is None:
        return
    try:
        session.commit()
    except Exception as err:
        session.rollback()
        from bti.web.errors import log_failure

        log_failure("could not store the audit rows of an error page", err)
        raise AuditUnavailable() from None


def _commit_reads_before_render(sender, template, context, **_extra) -> None:
    """A GET page's writes are its audit rows (and the session's last-seen time). Commit them
    before the template renders: the access is on record before any byte is served, and the
    database's write lock is not held while a long page renders."""
    if request.method not in ("GET", "HEAD") or g.get("reads_committed"):
        return
    if g.get("error_page"):  # an error answer keeps nothing (and the session may be broken)
        return
    session: Session | None = g.get("db")
    if session is None:
        return
    g.reads_committed = True
    # the header's unread count, read in this transaction rather than in one of its own while
    # the page renders (``unread_badge`` keeps it in ``g``)
    from bti.web.ui.notifications import unread_badge

    try:
        unread_badge()
        session.commit()
    except Exception as err:
        session.rollback()
        from bti.web.errors import log_failure

        log_failure("commit of the reads' audit rows failed", err)
        raise AuditUnavailable() from None


def init_app(app: Flask) -> None:
    before_render_template.connect(_commit_reads_before_render, app)

    @app.after_request
    def _end_transaction(response):
        session: Session | None = g.pop("db", None)
        if session is None:
            _write_denials()
            return response
        try:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
        except Exception as err:  # the audit row or the change could not be stored: serve nothing
            from bti.web.errors import log_failure

            log_failure("commit failed", err)
            try:
                session.rollback()
            except Exception as again:  # a dead connection: the pool replaces it
                log_failure("rollback after a failed commit failed", again)
            from bti.web.errors import render_error

            response = current_app.make_response(render_error(503))
        finally:
            session.close()
        _write_denials()
        return response

    @app.teardown_request
    def _close(_exc):
        session: Session | None = g.pop("db", None)
        if session is not None:  # an uncaught error skipped after_request: nothing is kept
            session.rollback()
            session.close()

    @app.before_request
    def _tag_request():
        request_id()
        g.path = request.path
