"""Personal access tokens for the JSON API. No Flask here.

An administrator creates a token for one user on the command line (``bti token create``); it is
printed once and only its SHA-256 is stored. A token acts as its user, with the user's roles and
relations and nothing more, narrowed by its scopes. It always expires (at most
``MAX_DAYS`` days) and can be revoked at once. A token of a deactivated user stops working at
once, like the user's sessions, and is revoked (reactivating the user does not revive it).

Why a plain SHA-256 and not a slow password hash: the token is 256 bits from ``secrets``, so no
dictionary or brute-force search can find it from its hash; a fast, unsalted hash lets the
token be looked up by an index on every request (the same reasoning as ``user_session``).

Why a token works where the municipality requires a second factor: it is not a password a person
types and can be phished of. It is a deliberate credential an administrator makes with access to
the server, for one integration, for a limited time; each creation is audited with who it is for.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import cast

from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from bti.domain.org import Actor
from bti.domain.org import ApiToken
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.accounts.auth import token_hash
from bti.services.accounts.users import roles_and_served
from bti.services.errors import InvalidInput

#: Every scope a token may hold. ``cases:read`` reads cases, their actions, log and access log;
#: ``cases:write`` opens cases and fires transitions; ``notifications:read`` lists the user's
#: own notifications and reads their settings; ``notifications:write`` marks them read and
#: changes the settings; ``org:read`` reads the municipality's units, ``org:write`` creates and
#: changes them (both for an administrator's token); ``teams:admin`` keeps the municipality's
#: teams (an administrator's).
SCOPES = ("cases:read", "cases:write", "notifications:read", "notifications:write", "org:read",
          "org:write", "teams:admin")
MAX_DAYS = 90
PREFIX = "bti_pat_"
NAME_MAX = 80
#: Refresh ``last_used_at`` at most this often.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class TokenUser(Actor):
    """The caller of one API request: the token's user, with the token's id and scopes."""

    username: str = ""
    token_id: int = 0
    scopes: frozenset[str] = frozenset()
    #: A token is a complete credential (see the module docstring).
    mfa_satisfied: bool = True


@dataclass(frozen=True)
class CreatedToken:
    row: ApiToken
    token: str  # shown once; never stored


def _audit(session: Session, now: datetime, user: User, action: AuditAction, token_id: int,
           **details: Any) -> None:
    audit.record_system(session, action, now=now, municipality_id=user.municipality_id,
                        object_type="api_token", object_id=token_id,
                        **{"user_id": user.id, **details, "via": "cli"})


def create_token(session: Session, username: str, *, scopes: tuple[str, ...] | list[str],
                 days: int, name: str, now: datetime) -> CreatedToken:
    """A new token for an active user. ``InvalidInput`` names every problem."""
    errors: dict[str, list[str]] = {}
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        errors["username"] = ["unknown"]
    elif not user.active:
        errors["username"] = ["inactive"]
    wanted = tuple(dict.fromkeys(scopes))
    if not wanted or any(s not in SCOPES for s in wanted):
        errors["scope"] = ["invalid"]
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = ["invalid"]
    label = (name or "").strip()
    if not label or len(label) > NAME_MAX or "\x00" in label:
        errors["name"] = ["invalid"]
    if errors or user is None:
        raise InvalidInput(errors)
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=token_hash(token), user_id=user.id, name=label,
                   scopes=" ".join(sorted(wanted)), created_at=now,
                   expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    mfa = bool(session.scalar(select(Municipality.mfa_required)
                              .where(Municipality.id == user.municipality_id)))
    _audit(session, now, user, AuditAction.API_TOKEN_CREATED, row.id, scopes=row.scopes, days=days,
           mfa_required=mfa)
    return CreatedToken(row, token)


def list_tokens(session: Session, username: str | None = None) -> list[tuple[ApiToken, str]]:
    """Every token (optionally of one user), newest first, with its user's name."""
    stmt = (select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.id.desc()))
    if username:
        stmt = stmt.where(User.username == username)
    return [(t, u) for t, u in session.execute(stmt)]


def revoke_token(session: Session, token_id: int, *, now: datetime) -> ApiToken | None:
    """Revoke a token at once; None if there is no such token. Revoking twice changes nothing."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = now
        _audit(session, now, session.get_one(User, row.user_id), AuditAction.API_TOKEN_REVOKED,
               row.id)
    return row


def revoke_all(session: Session, user_id: int, *, now: datetime) -> int:
    """Revoke every live token of a user (on deactivation: reactivating the user does not bring
    them back); returns how many."""
    result = session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now))
    return cast(CursorResult[Any], result).rowcount or 0


def status(row: ApiToken, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= now:
        return "expired"
    return "active"


_RESOLVE = (
    select(ApiToken, User.username, User.active, User.locale, User.municipality_id,
           User.unit_id, Municipality.active.label("municipality_active"))
    .join(User, User.id == ApiToken.user_id)
    .join(Municipality, Municipality.id == User.municipality_id)
    .where(ApiToken.token_hash == bindparam("h"))
)


def resolve(session: Session, token: str | None, *, now: datetime) -> TokenUser | None:
    """The caller behind a bearer token, or None when it is unknown, expired, revoked or its user
    is deactivated (all answered alike)."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    found = session.execute(_RESOLVE, {"h": token_hash(token)}).one_or_none()
    if found is None:
        return None
    row = found.ApiToken
    if status(row, now) != "active" or not found.active or not found.municipality_active:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
    roles, served = roles_and_served(session, row.user_id, found.unit_id)
    return TokenUser(id=row.user_id, municipality_id=found.municipality_id,
                     unit_id=found.unit_id, roles=roles, active=True, locale=found.locale,
                     served_municipality_ids=served,
                     username=found.username, token_id=row.id, scopes=row.scope_set)
