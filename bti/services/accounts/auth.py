"""Sign-in, server-side sessions and the second factor. No Flask here.

A session lives in ``user_session``; the browser holds only a random token (the table keeps its
SHA-256). A session ends on logout, when the user is deactivated or changes password, after 30
minutes idle and after 12 hours in all (SESS-02, SESS-03). Every sign-in event is audited.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import cast

import pyotp
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from bti.domain.cases import Notification
from bti.domain.org import Actor
from bti.domain.org import Municipality
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.org import UserSession
from bti.domain.policy import may_skip_second_factor
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.accounts.passwords import check_password
from bti.services.accounts.passwords import hash_password
from bti.services.accounts.secretbox import SecretUnavailable
from bti.services.accounts.users import password_problems
from bti.services.context import Ctx
from bti.services.errors import InvalidInput

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
#: Refresh ``last_seen_at`` at most this often (a write per request is not needed).
TOUCH_EVERY = timedelta(seconds=60)
TOTP_ISSUER = "bti"
#: A one-time code: six ASCII digits.
_TOTP_CODE = re.compile("[0-9]{6}")


@functools.cache
def _dummy_hash() -> str:
    """A real scrypt hash of a random password: unknown users cost the same time as known ones.
    Made on first use, not at import (a process that never signs anyone in never pays for it);
    ``authenticate`` asks for it on every attempt, known user or not, so the one attempt that
    makes it costs the same whoever it names."""
    return hash_password(secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class SessionUser(Actor):
    """The signed-in user as the web layer holds it for one request."""

    username: str = ""
    display_name: str = ""
    session_id: int = 0
    mfa_required: bool = False
    mfa_passed: bool = False
    mfa_enrolled: bool = False
    #: The password was made by an administrator: nothing but choosing a new one until then.
    password_change_required: bool = False
    #: The municipality's målform (nb | nn): the user's language when nothing else decides it.
    malform: str = "nb"
    #: How many of the user's notifications were unread when the session was resolved (read in
    #: the same query; the header's count on a page, where a GET changes nothing).
    unread_notifications: int | None = None

    @property
    def mfa_satisfied(self) -> bool:
        return self.mfa_passed or not self.mfa_required


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _system_ctx(session: Session, now: datetime, actor: Actor | None,
                request_id: str | None) -> Ctx:
    return Ctx.system(session, actor=actor, now=lambda: now, request_id=request_id)


def user_municipality_active(session: Session, user: User) -> bool:
    """A deactivated municipality's users cannot sign in (``bti municipality deactivate``)."""
    return bool(session.scalar(select(Municipality.active).where(
        Municipality.id == user.municipality_id)))


def authenticate(session: Session, username: str, password: str, *, now: datetime,
                 request_id: str | None = None) -> Actor | None:
    """The user if the name and password match an active account, else None. Unknown names,
    wrong passwords and deactivated users take the same path and the same time (AUTHN-03)."""
    user = session.scalar(select(User).where(User.username == (username or "")[:80]))
    dummy = _dummy_hash()  # for every attempt: see _dummy_hash
    ok = check_password(user.password_hash if user else dummy, password or "")
    if (user is None or not ok or not user.active
            or not user_municipality_active(session, user)):
        audit.record_system(
            session, AuditAction.AUTH_LOGIN_FAILED, now=now,
            municipality_id=user.municipality_id if user else None,
            actor_id=user.id if user else None, basis=None, outcome="denied",
            request_id=request_id, reason="inactive" if user and ok else "bad_credentials")
        return None
    return user.as_actor()


def mfa_required_for(session: Session, actor: Actor) -> bool:
    if may_skip_second_factor(actor.roles):
        return False
    return bool(session.scalar(select(Municipality.mfa_required)
                               .where(Municipality.id == actor.municipality_id)))


def start_session(session: Session, actor: Actor, *, now: datetime,
                  request_id: str | None = None, provider: str | None = None,
                  second_factor_by_acr: bool = False) -> str:
    """A new server-side session; returns the token for the cookie (never stored).

    ``provider``: signed in through that OpenID provider (issuer). ``second_factor_by_acr``: the
    provider's ID token carried an ``acr`` level the municipality accepts, which stands for the
    second factor (the session starts with it passed, audited as such)."""
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=token_hash(token), user_id=actor.id, created_at=now,
                            last_seen_at=now, mfa_at=now if second_factor_by_acr else None))
    ctx = _system_ctx(session, now, actor, request_id)
    if provider is None:
        audit.record(ctx, AuditAction.AUTH_LOGIN)
    else:
        audit.record(ctx, AuditAction.AUTH_LOGIN, method="oidc", provider=provider)
    if second_factor_by_acr:
        audit.record(ctx, AuditAction.AUTH_MFA_PASSED, method="acr")
    session.flush()
    return token


_SESSION_BY_TOKEN = select(UserSession).where(UserSession.token_hash == bindparam("h"))
_ROLES = UserRole.__table__
_SERVES = UnitMunicipality.__table__
_UNREAD = (select(func.count()).select_from(Notification)
           .where(Notification.user_id == UserSession.user_id, Notification.read_at.is_(None))
           .correlate(UserSession).scalar_subquery())
#: The session, its user with their roles and the municipalities their unit serves, and the
#: municipality's MFA switch in one query (every request runs it): one row per role and served
#: municipality (a user has a few roles; an inter-municipal service serves a few).
_RESOLVE = (
    select(UserSession, User.username, User.display_name, User.active, User.locale,
           User.municipality_id, User.unit_id, User.totp_secret.is_not(None).label("enrolled"),
           User.password_change_required, Municipality.mfa_required, Municipality.malform,
           Municipality.active.label("municipality_active"), _ROLES.c.role.label("role"),
           _SERVES.c.municipality_id.label("served"), _UNREAD.label("unread"))
    .join(User, User.id == UserSession.user_id)
    .join(Municipality, Municipality.id == User.municipality_id)
    .outerjoin(_ROLES, _ROLES.c.user_id == User.id)
    .outerjoin(_SERVES, _SERVES.c.unit_id == User.unit_id)
    .where(UserSession.token_hash == bindparam("h"))
)


def resolve(session: Session, token: str | None, *, now: datetime) -> SessionUser | None:
    """The user behind a session token, or None if the session ended, expired or the user was
    deactivated. Expired sessions are ended on the server. One query."""
    if not token:
        return None
    rows = session.execute(_RESOLVE, {"h": token_hash(token)}).all()
    if not rows:
        return None
    found = rows[0]
    row = found.UserSession
    if row.ended_at is not None:
        return None
    if now - row.last_seen_at > IDLE_TIMEOUT:
        _end(row, now, "idle")
        return None
    if now - row.created_at > ABSOLUTE_TIMEOUT:
        _end(row, now, "absolute")
        return None
    if not found.active or not found.municipality_active:
        _end(row, now, "deactivated")
        return None
    roles = frozenset(r.role for r in rows if r.role is not None)
    served = frozenset(r.served for r in rows if r.served is not None)
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    mfa_required = bool(found.mfa_required) and not may_skip_second_factor(roles)
    return SessionUser(
        id=row.user_id, municipality_id=found.municipality_id, unit_id=found.unit_id,
        roles=roles, active=True, locale=found.locale,
        served_municipality_ids=served,
        username=found.username, display_name=found.display_name, session_id=row.id,
        mfa_required=mfa_required, mfa_passed=row.mfa_at is not None,
        mfa_enrolled=bool(found.enrolled),
        password_change_required=bool(found.password_change_required),
        malform=found.malform, unread_notifications=found.unread)


def _end(row: UserSession, now: datetime, reason: str) -> None:
    row.ended_at = now
    row.end_reason = reason


def end_session(session: Session, token: str | None, *, now: datetime, actor: Actor | None,
                request_id: str | None = None) -> None:
    if not token:
        return
    row = session.scalar(_SESSION_BY_TOKEN, {"h": token_hash(token)})
    if row is not None and row.ended_at is None:
        # signing out ends every session of the user, on every device (a forgotten session on
        # a shared computer in the staff room is the risk this closes)
        ended = end_all_sessions(session, row.user_id, now=now, reason="logout")
        audit.record(_system_ctx(session, now, actor, request_id), AuditAction.AUTH_LOGOUT,
                     sessions_ended=ended)


def end_all_sessions(session: Session, user_id: int, *, now: datetime, reason: str) -> int:
    """End every open session of a user (deactivation, password change)."""
    result = session.execute(
        update(UserSession).where(UserSession.user_id == user_id,
                                  UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason))
    return cast(CursorResult[Any], result).rowcount or 0


def change_password(ctx: Ctx, *, current: str, new: str) -> None:
    user = ctx.session.get_one(User, ctx.actor.id)
    if not check_password(user.password_hash, current or ""):
        raise InvalidInput({"current_password": ["wrong_password"]})
    problems = password_problems(new, username=user.username)
    if problems:
        raise InvalidInput({"new_password": problems})
    user.password_hash = hash_password(new)
    user.password_changed_at = ctx.now()
    user.password_change_required = False
    end_all_sessions(ctx.session, user.id, now=ctx.now(), reason="password_changed")
    audit.record(ctx, AuditAction.USER_PASSWORD_CHANGED, object_type="user", object_id=user.id)


# --- TOTP (RFC 6238) ------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a code belongs to (now ±1 step), or None."""
    code = (code or "").strip().replace(" ", "")
    if not _TOTP_CODE.fullmatch(code):  # six ASCII digits ("²" is a digit to isdigit())
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for s in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.generate_otp(s), code):
            return s
    return None


def verify_totp(ctx: Ctx, code: str, *, enroll_secret: str | None = None) -> bool:
    """Check a code for the signed-in user and mark their session as having passed the second
    factor. A code (time step) is never accepted twice. ``enroll_secret`` confirms enrolment.

    The stored seed is encrypted (``ctx.secrets``); one that no configured key opens fails
    closed (the user cannot pass, nor enrol anew, until an administrator resets the factor)."""
    box, actor = ctx.secrets, ctx.actor
    if box is None:
        raise RuntimeError("verify_totp needs ctx.secrets to open the stored seed")
    if not isinstance(actor, SessionUser):
        raise RuntimeError("verify_totp needs the signed-in session (a SessionUser actor)")
    user = ctx.session.get_one(User, actor.id)
    secret = enroll_secret
    if secret is None and user.totp_secret:
        try:
            secret = box.open(user.totp_secret)
        except SecretUnavailable:
            audit.record(ctx, AuditAction.AUTH_MFA_FAILED, outcome="denied",
                         reason="seed_unreadable")
            return False
    now = ctx.now()
    step = _matching_step(secret, code, now) if secret else None
    if (step is None or secret is None
            or (user.totp_last_step is not None and step <= user.totp_last_step)):
        audit.record(ctx, AuditAction.AUTH_MFA_FAILED, outcome="denied")
        return False
    if enroll_secret:
        user.totp_secret = box.seal(enroll_secret)
        audit.record(ctx, AuditAction.AUTH_MFA_ENROLLED, object_type="user", object_id=user.id)
    elif user.totp_secret is None or not box.is_current(user.totp_secret):
        user.totp_secret = box.seal(secret)  # a legacy plaintext seed, or an old key's
    user.totp_last_step = step
    row = ctx.session.get_one(UserSession, actor.session_id)
    row.mfa_at = now
    audit.record(ctx, AuditAction.AUTH_MFA_PASSED)
    return True
