"""User administration for a municipality's administrator (role ``admin``).

An admin manages the staff accounts of their own municipality: lists them, creates them (with a
generated one-time password), changes their roles, deactivates and reactivates them and resets
their second factor. An admin never sees case content (AUTHZ-07): nothing here reads a case
table. A user of another municipality answers exactly like a user that does not exist
(``NotFound``). Every change is audited; audit details hold ids and role names only, never names
or passwords.

Services take the context first and flush; the caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.org import UserSession
from bti.domain.policy import may_administer_users
from bti.domain.policy import may_change_account
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Role
from bti.services.access import audit
from bti.services.accounts import tokens
from bti.services.accounts import users
from bti.services.accounts.auth import end_all_sessions
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.notify import calendar

ROLE_VALUES = tuple(r.value for r in Role)
#: Characters of a generated password: no look-alikes (0/O, 1/l/I), lower case only, so it can
#: be read out or typed from paper without mistakes.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
#: 5 groups of 4 from 32 characters: 100 bits, 24 characters with the dashes.
_GROUPS = 5
_GROUP_LEN = 4


@dataclass(frozen=True, slots=True)
class UserSummary:
    """What an admin sees of a user: account facts, never case content or secrets."""

    id: int
    username: str
    display_name: str
    unit_id: int | None
    unit_name: str | None
    roles: tuple[str, ...]
    active: bool
    mfa_enrolled: bool
    last_sign_in: datetime | None
    email: str | None = None  # where their notifications are e-mailed


@dataclass(frozen=True, slots=True)
class UnitChoice:
    id: int
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class CreatedUser:
    """A new user and their one-time password, shown once to the admin and never stored."""

    user: UserSummary
    password: str


def _require_admin(ctx: Ctx) -> None:
    actor = ctx.actor
    if actor is None or not may_administer_users(actor):
        raise Forbidden("user administration needs the admin role")


def generate_password() -> str:
    """A strong one-time password (100 bits), acceptable to ``password_problems``."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LEN))
              for _ in range(_GROUPS))
    return "-".join(groups)


def _summaries(ctx: Ctx, *conditions) -> list[UserSummary]:
    """Users of the actor's municipality matching ``conditions``, ordered by user name."""
    municipality_id = ctx.actor.municipality_id
    last_sign_in = (select(UserSession.user_id, func.max(UserSession.created_at).label("at"))
                    .join(User, User.id == UserSession.user_id)
                    .where(User.municipality_id == municipality_id)
                    .group_by(UserSession.user_id).subquery())
    rows = ctx.session.execute(
        select(User.id, User.username, User.display_name, User.unit_id, Unit.name.label("unit"),
               User.active, User.totp_secret.is_not(None).label("mfa"), last_sign_in.c.at,
               User.email)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .outerjoin(last_sign_in, last_sign_in.c.user_id == User.id)
        .where(User.municipality_id == municipality_id, *conditions)
        .order_by(User.username)).all()
    ids = [r.id for r in rows]
    roles: dict[int, list[str]] = {}
    if ids:
        for user_id, role in ctx.session.execute(
                select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids))):
            roles.setdefault(user_id, []).append(role)
    order = {r: i for i, r in enumerate(ROLE_VALUES)}
    return [UserSummary(id=r.id, username=r.username, display_name=r.display_name,
                        unit_id=r.unit_id, unit_name=r.unit, roles=tuple(sorted(
                            roles.get(r.id, ()), key=lambda x: order.get(x, len(order)))),
                        active=bool(r.active), mfa_enrolled=bool(r.mfa),
                        last_sign_in=r.at, email=r.email)
            for r in rows]


def list_users(ctx: Ctx) -> list[UserSummary]:
    """Every user of the admin's municipality."""
    _require_admin(ctx)
    result = _summaries(ctx)
    audit.record(ctx, AuditAction.USER_LISTED, object_type="user", count=len(result))
    return result


def get_user(ctx: Ctx, user_id: int) -> UserSummary:
    """One user of the admin's municipality; another municipality's user is ``NotFound``."""
    _require_admin(ctx)
    found = _summaries(ctx, User.id == user_id)
    if not found:
        raise NotFound(f"user {user_id}")
    return found[0]


def list_units(ctx: Ctx) -> list[UnitChoice]:
    """The units of the admin's municipality (for the unit choice)."""
    _require_admin(ctx)
    return [UnitChoice(u.id, u.name, u.kind) for u in ctx.session.scalars(
        select(Unit).where(Unit.municipality_id == ctx.actor.municipality_id)
        .order_by(Unit.name))]


def _load_user(ctx: Ctx, user_id: int) -> User:
    user = ctx.session.get(User, user_id)
    if user is None or user.municipality_id != ctx.actor.municipality_id:
        raise NotFound(f"user {user_id}")
    return user


def _clean_roles(roles) -> list[str]:
    chosen = sorted(set(roles or ()), key=lambda r: ROLE_VALUES.index(r)
                    if r in ROLE_VALUES else len(ROLE_VALUES))
    if not chosen or any(r not in ROLE_VALUES for r in chosen):
        raise InvalidInput({"roles": ["invalid"] if chosen else ["required"]})
    return chosen


def _check_unit(ctx: Ctx, unit_id: int | None) -> int | None:
    if unit_id is None:
        return None
    unit = ctx.session.get(Unit, unit_id)
    if unit is None or unit.municipality_id != ctx.actor.municipality_id:
        raise InvalidInput({"unit_id": ["not_in_municipality"]})
    return unit.id


def create_user(ctx: Ctx, *, username: str, display_name: str, unit_id: int | None,
                roles: list[str]) -> CreatedUser:
    """A new active user of the admin's municipality with a generated one-time password.

    The password is returned once, to be shown to the admin; only its hash is stored."""
    _require_admin(ctx)
    username = (username or "").strip()
    display_name = (display_name or "").strip()
    errors: dict[str, list[str]] = {}
    if not display_name:
        errors["display_name"] = ["required"]
    elif len(display_name) > 200:
        errors["display_name"] = ["too_long"]
    elif "\x00" in display_name or not display_name.isprintable():
        errors["display_name"] = ["nul"]
    if not username:
        errors["username"] = ["required"]
    elif len(username) > 80 or not username.replace(".", "").replace("-", "").isalnum():
        errors["username"] = ["invalid"]
    elif ctx.session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = ["taken"]
    try:
        chosen = _clean_roles(roles)
    except InvalidInput as err:
        errors.update(err.fields)
        chosen = []
    try:
        unit_id = _check_unit(ctx, unit_id)
    except InvalidInput as err:
        errors.update(err.fields)
    if errors:
        raise InvalidInput(errors)
    password = generate_password()
    while users.password_problems(password, username=username):  # pragma: no cover - rare
        password = generate_password()
    user = users.create_user(ctx.session, municipality_id=ctx.actor.municipality_id,
                             unit_id=unit_id, username=username, display_name=display_name,
                             password=password, roles=chosen, now=ctx.now())
    user.password_change_required = True  # the admin has seen this password
    audit.record(ctx, AuditAction.USER_CREATED, object_type="user", object_id=user.id, roles=chosen,
                 unit_id=unit_id)
    ctx.session.flush()
    return CreatedUser(get_user(ctx, user.id), password)


def change_roles(ctx: Ctx, user_id: int, roles: list[str]) -> UserSummary:
    """Replace a user's roles. An admin cannot change their own roles (another admin must), so
    an admin can neither lock themselves out nor grant themselves access to case content."""
    _require_admin(ctx)
    user = _load_user(ctx, user_id)
    if not may_change_account(ctx.actor, user.id):
        raise InvalidInput({"roles": ["self"]})
    chosen = _clean_roles(roles)
    before = set(user.roles)
    added = [r for r in chosen if r not in before]
    removed = [r for r in ROLE_VALUES if r in before and r not in chosen]
    removed += sorted(r for r in before if r not in ROLE_VALUES)  # a retired role name
    if added or removed:
        user.role_rows = [row for row in user.role_rows if row.role in chosen]
        user.role_rows.extend(UserRole(role=r) for r in added)
        audit.record(ctx, AuditAction.USER_ROLES_CHANGED, object_type="user", object_id=user.id,
                     added=added, removed=removed)
        ctx.session.flush()
    return get_user(ctx, user.id)


def set_email(ctx: Ctx, user_id: int, email: str | None) -> UserSummary:
    """Set (or, empty, clear) the address a user's notifications are e-mailed to. The audit row
    says that it changed, never the address."""
    from bti.services.notify.notices import check_email

    _require_admin(ctx)
    user = _load_user(ctx, user_id)
    address = check_email(email)
    if address != user.email:
        user.email = address
        audit.record(ctx, AuditAction.USER_EMAIL_CHANGED, object_type="user", object_id=user.id)
        ctx.session.flush()
    return get_user(ctx, user.id)


def deactivate_user(ctx: Ctx, user_id: int) -> int:
    """Deactivate a user, end every open session and revoke every API token at once (SESS-02);
    returns how many sessions were ended. An admin cannot deactivate themselves."""
    _require_admin(ctx)
    user = _load_user(ctx, user_id)
    if not may_change_account(ctx.actor, user.id):
        raise InvalidInput({"user": ["self"]})
    if not user.active:
        return 0
    user.active = False
    ctx.session.flush()
    ended = end_all_sessions(ctx.session, user.id, now=ctx.now(), reason="deactivated")
    revoked = tokens.revoke_all(ctx.session, user.id, now=ctx.now())
    extra: dict[str, Any] = {"api_tokens_revoked": revoked} if revoked else {}
    if calendar.revoke_all(ctx.session, user.id, now=ctx.now()):
        extra["calendar_feed_revoked"] = True
    audit.record(ctx, AuditAction.USER_DEACTIVATED, object_type="user", object_id=user.id,
                 sessions_ended=ended, **extra)
    return ended


def reactivate_user(ctx: Ctx, user_id: int) -> None:
    _require_admin(ctx)
    user = _load_user(ctx, user_id)
    if user.active:
        return
    user.active = True
    audit.record(ctx, AuditAction.USER_REACTIVATED, object_type="user", object_id=user.id)
    ctx.session.flush()


def reset_mfa(ctx: Ctx, user_id: int) -> int:
    """Clear a user's second factor, so they enrol a new one at their next sign-in, and end
    their open sessions; returns how many sessions were ended."""
    _require_admin(ctx)
    user = _load_user(ctx, user_id)
    user.totp_secret = None
    user.totp_last_step = None
    ctx.session.flush()
    ended = end_all_sessions(ctx.session, user.id, now=ctx.now(), reason="mfa_reset")
    audit.record(ctx, AuditAction.USER_MFA_RESET, object_type="user", object_id=user.id,
                 sessions_ended=ended)
    return ended
