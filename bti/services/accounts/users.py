"""Creating users. Passwords are hashed with scrypt (``bti.services.accounts.passwords``); the plain
text is never stored or logged."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy import bindparam
from sqlalchemy import cast
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import union_all

from bti.domain.org import Actor
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.vocabulary import Role
from bti.services.accounts.passwords import hash_password
from bti.services.errors import InvalidInput

MIN_PASSWORD = 15
MAX_PASSWORD = 256
#: A few of the most common passwords and patterns; long enough ones are rare, but refused.
_COMMON = frozenset({
    "passordpassord1", "passwordpassword", "123456789012345", "qwertyuiopasdfg",
    "sommerensommer1", "velkommen123456", "passord12345678", "password1234567",
})


def password_problems(password: str, *, username: str = "") -> list[str]:
    """Why a password is not acceptable (ASVS 6.2): at least 15 characters, at most 256, not a
    common one, not the user name; no composition rules. Empty list when it is fine."""
    problems = []
    if len(password or "") < MIN_PASSWORD:
        problems.append("too_short")
    elif len(password) > MAX_PASSWORD:
        problems.append("too_long")
    elif password.lower() in _COMMON or (username and username.lower() in password.lower()):
        problems.append("too_common")
    return problems


def create_user(session, *, municipality_id: int, unit_id: int | None, username: str,
                display_name: str, password: str, roles: list[str], now) -> User:
    errors: dict[str, list[str]] = {}
    plain = username.replace(".", "").replace("-", "") if username else ""
    if not username or len(username) > 80 or not plain.isalnum():
        errors["username"] = ["invalid"]
    problems = password_problems(password, username=username)
    if problems:
        errors["password"] = problems
    unknown = [r for r in roles if r not in {x.value for x in Role}]
    if unknown or not roles:
        errors["roles"] = ["invalid"]
    if errors:
        raise InvalidInput(errors)
    user = User(municipality_id=municipality_id, unit_id=unit_id, username=username,
                display_name=display_name, password_hash=hash_password(password),
                created_at=now, role_rows=[UserRole(role=r) for r in roles])
    session.add(user)
    session.flush()
    return user


_USERS = User.__table__
_ROLES = UserRole.__table__
#: On the tables (Core, on the session's connection): plain columns, no ORM objects to build.
_SERVES = UnitMunicipality.__table__
#: One row per role and served municipality (an inter-municipal service serves a few).
_ACTOR_QUERY = (
    select(_USERS.c.id, _USERS.c.municipality_id, _USERS.c.unit_id, _USERS.c.active,
           _USERS.c.locale, _ROLES.c.role, _SERVES.c.municipality_id)
    .select_from(_USERS.outerjoin(_ROLES, _ROLES.c.user_id == _USERS.c.id)
                 .outerjoin(_SERVES, _SERVES.c.unit_id == _USERS.c.unit_id))
    .where(_USERS.c.id == bindparam("user_id"))
)


def load_actor(session, user_id: int) -> Actor | None:
    """The acting user with their roles, in one query; ``None`` if there is no such user."""
    rows = session.connection().execute(_ACTOR_QUERY, {"user_id": user_id}).all()
    if not rows:
        return None
    user_id, municipality_id, unit_id, active, locale, _, _ = rows[0]
    return Actor(id=user_id, municipality_id=municipality_id, unit_id=unit_id,
                 roles=frozenset(r[5] for r in rows if r[5] is not None),
                 active=active, locale=locale,
                 served_municipality_ids=frozenset(r[6] for r in rows if r[6] is not None))


#: A user's roles and the municipalities their unit serves besides its host, in one query:
#: ("r", role) and ("m", municipality id as text) rows.
_ROLES_AND_SERVED = union_all(
    select(literal("r").label("kind"), _ROLES.c.role.label("value"))
    .where(_ROLES.c.user_id == bindparam("uid")),
    select(literal("m").label("kind"), cast(_SERVES.c.municipality_id, String).label("value"))
    .where(_SERVES.c.unit_id == bindparam("unit_id")),
)


def roles_and_served(session, user_id: int, unit_id: int | None
                     ) -> tuple[frozenset[str], frozenset[int]]:
    """The user's roles, and the other municipalities their unit serves (an inter-municipal
    service), read in one query (each request resolving a session or a token runs it)."""
    rows = session.execute(_ROLES_AND_SERVED, {"uid": user_id, "unit_id": unit_id or 0}).all()
    return (frozenset(v for k, v in rows if k == "r"),
            frozenset(int(v) for k, v in rows if k == "m"))
