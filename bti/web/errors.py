"""Error pages in the user's language (HTML) or the JSON envelope (API); service errors mapped
to HTTP. A case the user may not see answers exactly like one that does not exist (404)."""

from __future__ import annotations

import logging
import traceback

from flask import Flask
from flask import current_app
from flask import g
from flask import jsonify
from flask import render_template
from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from bti.domain.vocabulary import AuditAction
from bti.engine import TransitionRefused
from bti.services.errors import Conflict
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound

log = logging.getLogger(__name__)


def _titles() -> dict[int, tuple[str, str]]:
    return {
        400: (_("The request could not be understood"),
              _("The form may have expired. Go back, reload the page and try again.")),
        401: (_("Sign-in needed"), _("Sign in to continue.")),
        403: (_("No access"), _("You do not have access to this page.")),
        404: (_("Not found"), _("The page does not exist, or you do not have access to it.")),
        405: (_("Not allowed"), _("This address does not take that kind of request.")),
        409: (_("Changed by someone else"),
              _("Someone else changed this case while you worked. Nothing was saved.")),
        413: (_("Too large"), _("What you sent is too large.")),
        422: (_("Check the form"), _("Some fields need attention.")),
        429: (_("Too many attempts"), _("Wait a while and try again.")),
        500: (_("Something went wrong"), _("The error is logged. Try again later.")),
        503: (_("Temporarily unavailable"),
              _("Nothing was saved or shown. Try again in a moment.")),
    }


def log_failure(what: str, err: BaseException) -> None:
    """Log an error without its message: messages can hold personal data (AUD-06). The type and
    the stack frames (file, line, function) are enough to find the fault."""
    frames = "".join(traceback.format_tb(err.__traceback__))
    log.error("%s: %s (request %s)\n%s", what, type(err).__name__, _rid(), frames)


def _rid() -> str:
    from bti.web.db import request_id

    return request_id()


def wants_json() -> bool:
    return request.path.startswith("/api/")


#: The JSON API's error codes and messages (English: integrators read them, not families).
API_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request could not be understood (is the body valid JSON?)."),
    401: ("unauthorized", "A valid personal access token is needed: Authorization: Bearer "
                          "<token>."),
    403: ("forbidden", "The token or its user may not do this."),
    404: ("not_found", "Not found, or you do not have access to it."),
    405: ("method_not_allowed", "This address does not take that method."),
    409: ("conflict", "The case was changed by someone else (expected_version is stale). "
                      "Nothing was saved."),
    413: ("too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send the body as application/json."),
    422: ("invalid", "The input is not valid; see fields."),
    429: ("rate_limited", "Too many requests. Wait a while and try again."),
    500: ("server_error", "Something went wrong. The error is logged."),
    503: ("unavailable", "Temporarily unavailable. Nothing was saved or shown."),
}


def api_error(status: int, *, fields: dict | None = None, message: str | None = None,
              headers: dict | None = None):
    """The API's one error envelope: ``{"error": {"code", "message", "fields"}}``."""
    code, text = API_ERRORS.get(status, API_ERRORS[500])
    body = {"error": {"code": code, "message": message or text, "fields": fields or {}}}
    response = jsonify(body)
    response.status_code = status if status in API_ERRORS else 500
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="bti"'
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def render_error(code: int, *, fields: dict | None = None, message: str | None = None):
    g.error_page = True  # bti.web.db: nothing is committed before an error page renders
    if wants_json():
        return api_error(code, fields=fields, message=message)
    title, text = _titles().get(code, _titles()[500])
    return render_template("errors/error.html", code=code, title=title, text=text), code


def refusal_fields(err: TransitionRefused) -> dict:
    """A refused transition as the API's ``fields``: payload field errors under ``payload``,
    the rules that refuse it under ``trigger`` (``role``, ``guard:<name>``, ``final_state`` …)."""
    fields: dict = {}
    for r in err.refusals:
        if r.code == "invalid_payload":
            fields.setdefault("payload", {}).update(r.fields)
        elif r.code == "reason_required":
            fields.setdefault("payload", {})["reason"] = ["required"]
        else:
            fields.setdefault("trigger", []).append(f"guard:{r.guard}" if r.guard else r.code)
    return fields


def refusal_summary(err: TransitionRefused) -> str | None:
    """The API's message for a refused transition: what each failing guard misses, in English
    (integrators read it; the codes stay in ``fields``)."""
    from bti.domain.vocabulary import GUARD_DETAILS
    from bti.domain.vocabulary import GUARDS
    from bti.engine.i18n import refusal_message

    texts = [refusal_message(r, "en", GUARDS, GUARD_DETAILS) for r in err.refusals
             if r.code == "guard"]
    return " ".join(texts) or None


def _log_denied(action: AuditAction, object_type: str | None, object_id: int | None) -> None:
    """Note a refused access by a signed-in user; ``bti.web.db`` writes it in a transaction of
    its own once the refused request's transaction has ended."""
    if current_user and current_user.is_authenticated:
        g.setdefault("denials", []).append((action, object_type, object_id))


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(err):
        log.info("CSRF check failed on %s", request.endpoint)
        return render_error(400)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if err.code == 403:
            _log_denied(AuditAction.ACCESS_FORBIDDEN, None, None)
        if wants_json():
            headers = {k: v for k, v in err.get_headers() if k in ("Allow", "Retry-After")}
            return api_error(err.code or 500, headers=headers)
        return render_error(err.code or 500)

    @app.errorhandler(NotFound)
    def _not_found(err):
        _log_denied(AuditAction.ACCESS_DENIED, err.object_type, err.object_id)
        return render_error(404)

    @app.errorhandler(Forbidden)
    def _forbidden(err):
        _log_denied(AuditAction.ACCESS_FORBIDDEN, None, None)
        return render_error(403)

    @app.errorhandler(Conflict)
    def _conflict(err):
        return render_error(409)

    @app.errorhandler(InvalidInput)
    def _invalid(err):
        count = err.params.get("count")
        return render_error(422, fields=err.fields,
                            message=None if count is None else f"open cases: {count}")

    @app.errorhandler(TransitionRefused)
    def _refused(err):
        if not wants_json():
            return render_error(422)
        return render_error(422, fields=refusal_fields(err), message=refusal_summary(err))

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PendingRollbackError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(err):
        """The database is gone for the moment (a dropped connection, a restart, a full pool,
        a statement timeout): nothing was saved, so say so with 503 and never a 2xx. The pool
        (``pool_pre_ping``) replaces the dead connection; the next request works again without
        a restart. The message is not logged or shown (it can hold SQL and data)."""
        log_failure(f"database unavailable on {request.endpoint}", err)
        session = g.get("db")
        if session is not None:
            try:  # give the dead connection back now; the pool replaces it
                session.rollback()
            except Exception as again:
                log_failure("rollback after a lost connection failed", again)
        if "_login_user" not in g:  # the page is drawn without asking the database who it is
            g._login_user = current_app.login_manager.anonymous_user()
        return render_error(503)

    @app.errorhandler(Exception)
    def _crash(err):
        log_failure(f"unhandled error on {request.endpoint}", err)
        return render_error(500)
