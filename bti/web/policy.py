"""Every route declares who may reach it, and a route without a declaration is refused.

``@policy.public`` — anyone (sign-in page, health check, static files).
``@policy.signed_in`` — a signed-in user who has passed the second factor where it is required.
``@policy.case`` — like ``signed_in``; the view reads a case through a service, which answers
404 unless the user has a relation to it (need-to-know is decided in services, not here).
``@policy.allowed(who.may_…)`` — a signed-in user for whom the predicate of
``bti.domain.policy`` (imported as ``who``) holds (403 otherwise): the same function the service
and the menu ask, so a route, its service and its link agree on who may.
``@policy.pending_mfa`` — a user who has given the password but still owes the second factor.
``@policy.family`` — a family member signed in through the family provider (``/familie/``,
``bti.web.ui.family``). The two kinds of session never cross: a family session on any other
route and a staff session on a family route are answered 404, as for a case that does not exist.

``@policy.api(*scopes)`` — a JSON API route (``/api/``): a personal access token in
``Authorization: Bearer`` holding every one of ``scopes`` (401 without a valid token, 403 without
the scope). A session cookie never authenticates an API request, so the API needs no CSRF token;
case access is then decided in services exactly as for the pages.

``check_request`` runs before every request (AUTHZ-01: deny by default).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType

from flask import Flask
from flask import abort
from flask import g
from flask import redirect
from flask import request
from flask import session as cookie
from flask import url_for
from flask_login import current_user

from bti.domain import policy as who
from bti.domain.org import Actor
from bti.web.errors import wants_json

PUBLIC = "public"
SIGNED_IN = "signed_in"
CASE = "case"
ALLOWED = "allowed"
PENDING_MFA = "pending_mfa"
FAMILY = "family"
#: All a user whose password an administrator made may reach before choosing their own.
PASSWORD_CHANGE_ALLOWED = frozenset({"auth.password", "auth.logout", "auth.language"})
API = "api"
API_PREFIX = "/api/"


#: A "who may" predicate of ``bti.domain.policy`` over the signed-in user.
Predicate = Callable[[Actor], bool]


@dataclass(frozen=True)
class Policy:
    kind: str
    scopes: frozenset[str] = frozenset()
    #: For ``ALLOWED``: who may reach the route.
    predicate: Predicate | None = None


#: view function → its policy; read by ``check_request`` and by the route-inventory test.
REGISTRY: dict[Callable, Policy] = {}


def _mark(p: Policy):
    def deco(view):
        REGISTRY[view] = p
        return view

    return deco


public = _mark(Policy(PUBLIC))
signed_in = _mark(Policy(SIGNED_IN))
case = _mark(Policy(CASE))
pending_mfa = _mark(Policy(PENDING_MFA))
family = _mark(Policy(FAMILY))


def _is_route_predicate(predicate: object) -> bool:
    """A public function of ``bti.domain.policy`` over the user alone."""
    if not isinstance(predicate, FunctionType):
        return False
    function: FunctionType = predicate
    if not (function.__module__ == who.__name__ and not function.__name__.startswith("_")
            and getattr(who, function.__name__, None) is function):
        return False
    params = list(inspect.signature(function).parameters.values())
    return len(params) == 1 and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                   inspect.Parameter.POSITIONAL_OR_KEYWORD)


def allowed(predicate: Predicate):
    """A signed-in user for whom ``predicate`` (a function of ``bti.domain.policy`` over the
    user) holds. Anything else (a lambda, a local function, a role list) is refused when the
    route is declared: who may reach a route is decided where the service and the menu decide
    it."""
    if not _is_route_predicate(predicate):
        raise TypeError(f"@policy.allowed takes a predicate of {who.__name__} over the user, "
                        f"not {predicate!r}")
    return _mark(Policy(ALLOWED, predicate=predicate))


def permits(p: Policy, user) -> bool:
    """Whether ``p`` lets ``user`` (signed in, second factor passed) through; deny by default:
    only a predicate's ``True`` admits to an ``ALLOWED`` route."""
    if p.kind == ALLOWED:
        return p.predicate is not None and p.predicate(user) is True
    return p.kind in (SIGNED_IN, CASE)


def api(*scopes: str):
    return _mark(Policy(API, scopes=frozenset(scopes)))


def policy_for(app: Flask, endpoint: str | None) -> Policy | None:
    if endpoint is None:
        return None
    if endpoint == "static" or endpoint.endswith(".static"):
        return Policy(PUBLIC)
    view = app.view_functions.get(endpoint)
    return REGISTRY.get(view) if view is not None else None


def init_app(app: Flask) -> None:
    @app.before_request
    def check_request():
        api_request = request.path.startswith(API_PREFIX)
        if api_request:  # the cookie is never read here: only a bearer token signs in
            _set_caller(app, None)
        if request.endpoint is None:  # no such route: the 404 handler answers
            return None
        p = policy_for(app, request.endpoint)
        if p is None:
            abort(500, description="route without an access policy")  # a bug; fail closed
        g.policy = p
        if p.kind == PUBLIC:
            return None
        if p.kind == API or api_request:
            return _check_bearer(app, p)
        if p.kind == FAMILY:
            return _check_family()
        if _family_signed_in():  # a family session on a staff route
            abort(404)
        if not current_user.is_authenticated:
            if wants_json():
                abort(401)
            return redirect(url_for("auth.login", next=(
                request.full_path if request.query_string else request.path)
                                    if request.method == "GET" else None))
        mfa_ok = getattr(current_user, "mfa_satisfied", True)
        if p.kind == PENDING_MFA:
            return None
        if not mfa_ok:
            return redirect(url_for("auth.mfa"))
        if (getattr(current_user, "password_change_required", False)
                and request.endpoint not in PASSWORD_CHANGE_ALLOWED):
            return redirect(url_for("auth.password"))
        if not permits(p, current_user):
            abort(403)
        return None


def _family_signed_in() -> bool:
    from bti.web.ui.family import COOKIE_SID
    from bti.web.ui.family import current_family

    return COOKIE_SID in cookie and current_family() is not None


def _check_family():
    """A family route takes a family session only (a staff session: 404, as for a missing
    case); without one, the family's sign-in page."""
    from bti.web.ui.family import current_family

    if current_user.is_authenticated:
        abort(404)
    if current_family() is None:
        return redirect(url_for("family.index"))
    return None


def _set_caller(app: Flask, user) -> None:
    """Make ``user`` (or the anonymous user) Flask-Login's ``current_user`` for this request
    without reading or writing the session cookie (what ``login_user`` would do)."""
    # Flask-Login (untyped) puts its manager on the app as an attribute Flask does not declare
    app.login_manager._update_request_context_with_user(user)  # type: ignore[attr-defined]


def _check_bearer(app: Flask, p: Policy):
    from bti.web.api.bearer import authenticate

    if p.kind != API:  # an /api/ route must be an API route; a bug otherwise, fail closed
        abort(500, description="API route without an API policy")
    caller = authenticate()
    if caller is None:
        abort(401)
    _set_caller(app, caller)
    if not p.scopes <= caller.scopes:
        abort(403)
    return None
