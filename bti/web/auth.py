"""Sign-in, sign-out, the second factor, password change and language choice.

Sessions are kept on the server (``bti.services.accounts.auth``); the signed cookie carries only a
random token. Failed sign-ins are throttled (``bti.web.throttle``) per user and client address, per
user and per address, or per user and known browser, in the limiter's store, shared by every worker
when it is Redis (AUTHN-02); nobody can lock another user out of a browser they signed in on before.
The client address is the socket's unless ``BTI_PROXY_HOPS`` says how many proxies to trust, so a
forged X-Forwarded-For changes nothing.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session as cookie
from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user

from bti.domain.org import User
from bti.services.accounts import auth as auth_service
from bti.services.errors import InvalidInput
from bti.web import oidc
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.db import get_session
from bti.web.db import request_id
from bti.web.i18n import LANGUAGES
from bti.web.i18n import lang as current_lang
from bti.web.throttle import LoginThrottle
from bti.web.throttle import SecondFactorThrottle

bp = Blueprint("auth", __name__, url_prefix="/auth")
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)



def _now():
    return current_app.extensions["bti"].clock()


@login_manager.user_loader
def _load_user(user_id: str):
    user = auth_service.resolve(get_session(), cookie.get("sid"), now=_now())
    if user is None or str(user.id) != user_id:
        return None
    return user


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if not target:
        return url_for("inbox.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("inbox.index")
    return target


def _minutes(seconds: int) -> int:
    return max(math.ceil(seconds / 60), 1)


def _wait_text(seconds: int) -> str:
    return ngettext("Too many failed sign-ins. Try again in %(num)d minute.",
                    "Too many failed sign-ins. Try again in %(num)d minutes.", _minutes(seconds))


def _code_wait_text(seconds: int) -> str:
    return ngettext("Too many wrong codes. Try again in %(num)d minute.",
                    "Too many wrong codes. Try again in %(num)d minutes.", _minutes(seconds))


@bp.route("/login", methods=["GET", "POST"])
@policy.public
def login():
    if request.method != "POST":  # GET and HEAD only show the form
        return render_template("auth/login.html", next=request.args.get("next"))
    throttle = LoginThrottle.for_request(request.form.get("username"))
    wait = throttle.wait_seconds()
    if wait is not None:  # refused before the password is looked at
        page = render_template("auth/login.html", wait=_wait_text(wait),
                               next=request.form.get("next"))
        return page, 429, {"Retry-After": str(wait)}
    s = get_session()
    actor = auth_service.authenticate(s, request.form.get("username", ""),
                                      request.form.get("password", ""), now=_now(),
                                      request_id=request_id())
    if actor is None:
        throttle.count_failure()
        s.commit()  # keep the record of the failed attempt, then answer the same for every case
        return render_template("auth/login.html", error=True,
                               next=request.form.get("next")), 200
    lang = cookie.get("lang")  # a language picked on the sign-in page is kept and saved
    cookie.clear()  # a new session: nothing from before the login survives (fixation)
    if lang in LANGUAGES:
        cookie["lang"] = lang
        s.get(User, actor.id).locale = lang
    token = auth_service.start_session(s, actor, now=_now(), request_id=request_id())
    cookie["sid"] = token
    cookie.permanent = True
    login_user(actor)
    target = _safe_next(request.form.get("next"))
    if auth_service.mfa_required_for(s, actor):
        cookie["after_mfa"] = target
        target = url_for("auth.mfa")
    response = redirect(target)
    throttle.remember(response)  # this browser is known for the user from now on
    return response


@bp.post("/logout")
@policy.pending_mfa
def logout():
    auth_service.end_session(get_session(), cookie.get("sid"), now=_now(), actor=current_user,
                             request_id=request_id())
    lang = current_lang()
    provider = cookie.get(oidc.COOKIE_KEY)
    logout_user()
    cookie.clear()
    # the sign-in page stays in the language the user had; only shown, never saved as the
    # next user's choice (bti.web.i18n)
    cookie["signed_out_lang"] = lang
    # signed in through the municipality's provider: its session ends too (RP-initiated)
    to_provider = oidc.provider_logout(provider)
    if to_provider is not None:
        return to_provider
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/mfa", methods=["GET", "POST"])
@policy.pending_mfa
def mfa():
    user = current_user
    if user.mfa_satisfied:
        return redirect(_safe_next(cookie.get("after_mfa")))
    enrolling = not user.mfa_enrolled
    if enrolling and "totp_pending" not in cookie:
        cookie["totp_pending"] = auth_service.new_totp_secret()
    secret = cookie.get("totp_pending") if enrolling else None
    error = False
    wait, status, headers = None, 200, {}
    if request.method == "POST":
        throttle = SecondFactorThrottle.for_user(user.id)
        seconds = throttle.wait_seconds()
        if seconds is not None:  # refused before the code is looked at
            wait, status, headers = _code_wait_text(seconds), 429, {"Retry-After": str(seconds)}
        elif auth_service.verify_totp(get_ctx(), request.form.get("code", ""),
                                      enroll_secret=secret):
            cookie.pop("totp_pending", None)
            return redirect(_safe_next(cookie.pop("after_mfa", None)))
        else:
            get_session().commit()  # the failed attempt is recorded
            throttle.count_failure()
            error = True
    qr = None
    if secret:
        uri = auth_service.totp_uri(secret, user.username)
        import segno  # on the enrolment page only, not at start-up (issue 17)

        qr = segno.make(uri).svg_data_uri(scale=4)
    return render_template("auth/mfa.html", enrolling=enrolling, secret=secret, qr=qr,
                           error=error, wait=wait), status, headers


@bp.route("/password", methods=["GET", "POST"])
@policy.signed_in
def password():
    errors = {}
    if request.method == "POST":
        try:
            auth_service.change_password(get_ctx(),
                                         current=request.form.get("current_password", ""),
                                         new=request.form.get("new_password", ""))
        except InvalidInput as err:
            errors = err.fields
        else:
            lang = current_lang()
            logout_user()
            cookie.clear()
            cookie["signed_out_lang"] = lang
            flash(_("Your password is changed. Every session was signed out; sign in again."),
                  "info")
            return redirect(url_for("auth.login"))
    return render_template("auth/password.html", errors=errors), (422 if errors else 200)


@bp.post("/language")
@policy.public
def language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        cookie["lang"] = lang
        if current_user.is_authenticated:
            get_session().get(User, current_user.id).locale = lang
    return redirect(_safe_next(request.form.get("next")))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # the server-side session row is the control
    app.config["RATELIMIT_STORAGE_URI"] = app.extensions["bti"].settings.ratelimit_storage
    app.config["RATELIMIT_KEY_PREFIX"] = app.extensions["bti"].settings.ratelimit_prefix
    limiter.init_app(app)
    app.register_blueprint(bp)
    oidc.init_app(app)
