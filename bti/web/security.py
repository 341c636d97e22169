"""Security headers on every response — pages, errors and static files alike (WEB-03).

The Content-Security-Policy allows scripts only from this site and with this response's nonce;
no inline styles or scripts, no objects, no framing, no <base>. Authenticated responses are
never stored by caches.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask
from flask import g
from flask import request
from flask import session as cookie
from flask_login import current_user


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce: str, form_targets: tuple[str, ...] = ()) -> str:
    """The pages' policy. ``form_targets``: origins a form may lead to besides the app (the
    OpenID providers' origins: the staff sign-in form posts to the app, which redirects to the
    provider, and browsers apply ``form-action`` to that redirect too)."""
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        " ".join(["form-action 'self'", *form_targets]),
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def init_app(app: Flask, *, hsts: bool) -> None:
    providers = app.extensions["bti"].settings.oidc_providers
    form_targets = tuple(sorted({_origin(p.issuer) for p in providers}
                                | {_origin(p.authorize_origin) for p in providers
                                   if p.authorize_origin}))

    @app.after_request
    def _headers(response):
        h = response.headers
        h["Content-Security-Policy"] = content_security_policy(csp_nonce(), form_targets)
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h["X-Frame-Options"] = "DENY"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if hsts:
            h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        # a staff user, or a family member (bti.web.ui.family's session key): never cached
        authenticated = (bool(current_user) and current_user.is_authenticated) \
            or "fsid" in cookie
        if authenticated or response.mimetype == "text/html" or request.path.startswith("/api/"):
            h["Cache-Control"] = "no-store"
            h["Pragma"] = "no-cache"
        if response.mimetype and response.mimetype.startswith("text/") \
                and "charset" not in h.get("Content-Type", ""):
            response.charset = "utf-8"
        return response
