"""Staff sign-in through the municipality's OpenID provider (Feide, Entra ID...): the
authorization code flow with PKCE, ``state`` and ``nonce``, run by Authlib (never hand-written
protocol code). The ID token's signature (the issuer's published keys), issuer, audience, expiry
(by the app's clock), nonce and ``acr`` are checked before anyone is signed in; then the usual
server-side session starts (``bti.services.accounts.auth``). An ``acr`` level the municipality
accepts stands for the second factor; without required levels TOTP is still owed.

Every way this can fail ends on a clear page and signs nobody in: a wrong or missing ``state``, a
code the provider refuses (used twice, expired), an ID token that does not verify or has expired,
too low an ``acr``, no linked account, a provider that does not answer. Each is audited
(``auth.oidc_failed`` with the reason; never the claims).

Sign-out ends the local sessions and then sends the browser to the provider's
``end_session_endpoint`` (RP-initiated logout), which returns it to ``signed_out``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session as cookie
from flask import url_for
from flask_babel import gettext as _
from flask_login import login_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from bti.config import OidcProvider
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.services.accounts import auth as auth_service
from bti.services.accounts import oidc as oidc_service
from bti.web import policy
from bti.web.db import get_session
from bti.web.db import request_id
from bti.web.i18n import LANGUAGES
from bti.web.i18n import lang as current_lang

if TYPE_CHECKING:
    # authlib, joserfc and requests are imported where a provider is used, not at start-up (an
    # installation without OIDC never loads them; issue 17)
    from authlib.integrations.flask_client import OAuth
    from authlib.oidc.core import CodeIDToken

bp = Blueprint("oidc", __name__, url_prefix="/auth/oidc")
#: Seconds an HTTP request to a provider may take before it counts as down.
PROVIDER_TIMEOUT = 10
#: Clock difference tolerated between the provider and the app, in seconds.
LEEWAY = 60
#: The cookie key that remembers which provider signed the session in (for sign-out).
COOKIE_KEY = "oidc"


def _oauth() -> OAuth:
    return current_app.extensions["bti_oidc"]


def _provider(slug: str) -> OidcProvider:
    provider = current_app.extensions["bti"].settings.oidc_provider(slug)
    if provider is None:
        abort(404)
    return provider


def providers() -> list[OidcProvider]:
    """The providers the sign-in page offers."""
    return [p for p in current_app.extensions["bti"].settings.oidc_providers if not p.family]


def _now():
    return current_app.extensions["bti"].clock()


def _claims_checked_at(timestamp: int) -> type[CodeIDToken]:
    """Authlib's ID token claims, validated at the app's clock (``exp``, ``iat``, ``nbf``)."""
    from authlib.oidc.core import CodeIDToken

    class ClaimsAtAppTime(CodeIDToken):
        def validate(self, now=None, leeway=0):
            super().validate(now=timestamp, leeway=leeway)

    return ClaimsAtAppTime


def _failure(slug: str, provider: OidcProvider, reason: str, status: int,
             municipality_id: int | None = None):
    s = get_session()
    if municipality_id is None:
        municipality_id = s.scalar(select(Municipality.id).where(Municipality.slug == slug))
    oidc_service.failed(s, municipality_id=municipality_id, provider=provider.issuer,
                        reason=reason, now=_now(), request_id=request_id())
    s.commit()  # the record of the failed attempt stays; nothing else was written
    return render_template("auth/oidc_error.html", reason=reason, provider=provider), status


class Refused(Exception):
    """A sign-in through a provider that did not complete: ``reason`` (state, code, token,
    acr, cancelled, provider_down) and the status of the page that says so."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def begin(provider: OidcProvider, callback_url: str) -> Response:
    """The redirect to the provider's authorization endpoint (code flow, PKCE, state, nonce,
    the accepted ``acr`` levels); ``Refused("provider_down")`` when it does not answer."""
    import requests

    client = _oauth().create_client(provider.client_name)
    extra: dict[str, Any] = {"ui_locales": current_lang()}
    if provider.acr_values:
        extra["acr_values"] = " ".join(provider.acr_values)
    try:
        return client.authorize_redirect(callback_url, **extra)
    except requests.RequestException:
        raise Refused("provider_down", 503) from None


def verified_claims(provider: OidcProvider, *, want: tuple[str, ...] = ()) -> dict[str, Any]:
    """The callback's claims, once the code is exchanged and the ID token's signature, issuer,
    audience, expiry (by the app's clock), nonce and ``acr`` are checked; claims in ``want``
    missing from the ID token are taken from the userinfo answer of the same subject. Raises
    ``Refused`` for every way this can fail."""
    import requests
    from authlib.integrations.base_client.errors import MismatchingStateError
    from authlib.integrations.base_client.errors import OAuthError
    from joserfc.errors import JoseError

    client = _oauth().create_client(provider.client_name)
    now = _now()
    if request.args.get("iss", provider.issuer) != provider.issuer:
        raise Refused("token", 400)  # an answer from another issuer (RFC 9207)
    try:
        token = client.authorize_access_token(
            claims_cls=_claims_checked_at(int(now.timestamp())), leeway=LEEWAY,
            claims_options={"iss": {"essential": True, "values": [provider.issuer]}})
    except MismatchingStateError:
        raise Refused("state", 400) from None
    except OAuthError as err:
        # the provider refused the code (used already, expired) or sent an error back
        raise Refused("cancelled" if err.error == "access_denied" else "code", 400) from None
    except requests.RequestException:
        raise Refused("provider_down", 503) from None
    except (JoseError, ValueError):
        raise Refused("token", 400) from None
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise Refused("token", 400)
    if not oidc_service.acr_accepted(claims.get("acr"), provider.acr_values):
        raise Refused("acr", 403)
    claims = dict(claims)
    if any(name not in claims for name in want):
        # many providers put profile claims in the userinfo answer only (not the ID token)
        try:
            info = client.userinfo(token=token)
        except requests.RequestException:
            raise Refused("provider_down", 503) from None
        if info.get("sub") == claims["sub"]:
            for name in want:
                if name not in claims and name in info:
                    claims[name] = info[name]
    return claims


@bp.post("/<slug>/start")
@policy.public
def start(slug: str):
    provider = _provider(slug)
    try:
        return begin(provider, url_for(".callback", slug=slug, _external=True))
    except Refused as refused:
        return _failure(slug, provider, refused.reason, refused.status)


@bp.get("/<slug>/callback")
@policy.public
def callback(slug: str):
    provider = _provider(slug)
    now = _now()
    try:
        claims = verified_claims(provider, want=(provider.link_claim,))
    except Refused as refused:
        return _failure(slug, provider, refused.reason, refused.status)
    s = get_session()
    municipality = s.scalar(select(Municipality).where(Municipality.slug == slug))
    if municipality is None:
        abort(404)
    outcome = oidc_service.identify(
        s, municipality=municipality, issuer=provider.issuer, subject=claims["sub"],
        claims=claims, link_claim=provider.link_claim,
        key=current_app.extensions["bti"].settings.identity_key(), now=now,
        request_id=request_id())
    if outcome.actor is None:
        s.commit()  # the audit row of the refusal
        return render_template("auth/oidc_error.html", reason="no_account",
                               provider=provider), 403
    actor = outcome.actor
    lang = cookie.get("lang")
    cookie.clear()  # a new session: nothing from before the login survives (fixation)
    if lang in LANGUAGES:
        cookie["lang"] = lang
        s.get_one(User, actor.id).locale = lang
    session_token = auth_service.start_session(
        s, actor, now=now, request_id=request_id(), provider=provider.issuer,
        second_factor_by_acr=bool(provider.acr_values))
    cookie["sid"] = session_token
    cookie[COOKIE_KEY] = slug
    cookie.permanent = True
    login_user(actor)
    target = url_for("inbox.index")
    if not provider.acr_values and auth_service.mfa_required_for(s, actor):
        cookie["after_mfa"] = target
        target = url_for("auth.mfa")
    return redirect(target)


def provider_logout(slug: str | None) -> Response | None:
    """After the local sessions ended: the redirect to the provider's end-session endpoint
    (RP-initiated logout), or None when the session did not come from a provider or the
    provider cannot be reached (the local sign-out stands either way)."""
    provider = current_app.extensions["bti"].settings.oidc_provider(slug) if slug else None
    if provider is None:
        return None
    return end_at_provider(provider, url_for("oidc.signed_out", slug=provider.municipality,
                                             _external=True))


def end_at_provider(provider: OidcProvider, signed_out_url: str) -> Response | None:
    """The redirect to ``provider``'s end-session endpoint, back to ``signed_out_url``; None
    when it cannot be reached."""
    import requests

    client = _oauth().create_client(provider.client_name)
    try:
        result = client.create_logout_url(
            post_logout_redirect_uri=signed_out_url,
            client_id=provider.client_id, ui_locales=current_lang())
    except (requests.RequestException, RuntimeError):
        return None
    return redirect(result["url"])


@bp.get("/<slug>/signed-out")
@policy.public
def signed_out(slug: str):
    """Where the provider sends the browser back after its own sign-out."""
    _provider(slug)
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    providers = app.extensions["bti"].settings.oidc_providers
    if providers:  # without a provider no route gets as far as the client (404 first)
        from authlib.integrations.flask_client import OAuth

        _register(app, OAuth(app), providers)
    app.register_blueprint(bp)


def _register(app: Flask, oauth: OAuth, providers) -> None:
    for provider in providers:
        oauth.register(
            name=provider.client_name, client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.metadata_url,
            client_kwargs={"scope": provider.scope, "code_challenge_method": "S256",
                           "token_endpoint_auth_method": "client_secret_basic",
                           "default_timeout": PROVIDER_TIMEOUT})
    app.extensions["bti_oidc"] = oauth
