"""``Authorization: Bearer <token>``: the only way to sign in to the JSON API."""

from __future__ import annotations

from flask import current_app
from flask import request

from bti.services.accounts import tokens
from bti.services.accounts.tokens import TokenUser
from bti.web.db import get_session


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate() -> TokenUser | None:
    """The caller of this request, or None (no token, or one that is unknown, expired, revoked
    or belongs to a deactivated user: the API answers all of them with the same 401)."""
    token = bearer_token()
    if token is None:
        return None
    return tokens.resolve(get_session(), token, now=current_app.extensions["bti"].clock())
