"""Municipalities, units (services), users and their roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import CheckConstraint
from sqlalchemy import ColumnElement
from sqlalchemy import ForeignKey
from sqlalchemy import Select
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from bti.domain.base import Base

#: The two written forms of Norwegian a municipality may have chosen as its own (målform).
MALFORMS = ("nb", "nn")

#: Kinds of unit (service) a municipality has.
UNIT_KINDS = (
    "school", "kindergarten", "health_station", "school_health", "ppt", "barnevern", "bup",
    "nav", "psychology", "coordinating_unit", "other",
)


class Municipality(Base):
    __tablename__ = "municipality"
    __table_args__ = (CheckConstraint("malform IN ('nb', 'nn')", name="malform"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The workflow (file id) new cases start on.
    workflow_id: Mapped[str] = mapped_column(String(60))
    #: A second factor (TOTP) for every role that sees case content. On by default.
    mfa_required: Mapped[bool] = mapped_column(default=True)
    #: Days a closed case is kept (after its archive export) before it is purged.
    case_retention_days: Mapped[int] = mapped_column(default=3650)
    #: The municipality's own written form (målform), ``nb`` or ``nn``: the language its staff
    #: see when neither they nor their browser ask for one (``bti.web.i18n``).
    malform: Mapped[str] = mapped_column(String(2), default="nb", server_default="nb")
    #: Where a report of concern goes, shown on the urgent page and the report form (the app
    #: records that a report was sent; it sends nothing): the child welfare service's phone and
    #: e-mail, and the child welfare emergency service (barnevernvakt) outside office hours.
    barnevern_phone: Mapped[str | None] = mapped_column(String(40))
    barnevern_email: Mapped[str | None] = mapped_column(String(200))
    barnevernvakt_phone: Mapped[str | None] = mapped_column(String(40))
    #: False once the operator deactivated it (never deleted: cases and the audit trail refer
    #: to it); its users cannot sign in and no unit serves it any more.
    active: Mapped[bool] = mapped_column(default=True, server_default=sa_true())

    def __repr__(self) -> str:
        return f"<Municipality {self.id}>"


class Unit(Base):
    """A service: a school, a kindergarten, the health station, PPT, barnevern …"""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    #: The service area (tjenesteområde) the unit belongs to, in the municipality's own words
    #: ("Oppvekst", "Helse og omsorg"); None when not given.
    service: Mapped[str | None] = mapped_column(String(200))
    #: False once an administrator deactivated it (never deleted when referenced): no new case
    #: opens in it and it is no longer offered as a service.
    active: Mapped[bool] = mapped_column(default=True, server_default=sa_true())

    municipality: Mapped[Municipality] = relationship()
    #: The other municipalities this unit serves (an inter-municipal service; the host
    #: municipality, ``municipality_id``, owns it).
    serves: Mapped[list[UnitMunicipality]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UnitMunicipality.id")

    @property
    def served_municipality_ids(self) -> frozenset[int]:
        return frozenset(s.municipality_id for s in self.serves)

    def __repr__(self) -> str:
        return f"<Unit {self.id}>"


class UnitMunicipality(Base):
    """A municipality an inter-municipal service serves besides its host (``unit.municipality_id``):
    PPT for all of Valdres, barnevern for Vang and Vestre Slidre. The service's staff may take
    part in that municipality's cases as far as a consent covers the service
    (``bti.domain.policy.serves_municipality``), and see nothing of the others."""

    __tablename__ = "unit_municipality"
    __table_args__ = (UniqueConstraint("unit_id", "municipality_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<UnitMunicipality unit={self.unit_id} municipality={self.municipality_id}>"


def serving_unit_ids(municipality_id: int) -> Select[int]:
    """The inter-municipal services (units of other municipalities) serving the municipality."""
    return select(UnitMunicipality.unit_id).where(
        UnitMunicipality.municipality_id == municipality_id)


def unit_reaches(municipality_id: int) -> ColumnElement[bool]:
    """A unit whose staff may take part in the municipality's cases: one it hosts, or an
    inter-municipal service serving it (``bti.domain.policy.serves_municipality``)."""
    return or_(Unit.municipality_id == municipality_id,
               Unit.id.in_(serving_unit_ids(municipality_id)))


def user_reaches(municipality_id: int) -> ColumnElement[bool]:
    """A user of the municipality, or of an inter-municipal service serving it."""
    return or_(User.municipality_id == municipality_id,
               User.unit_id.in_(serving_unit_ids(municipality_id)))


class _Account(Protocol):
    """What ``LoginProtocol`` needs of the class it is mixed into."""

    @property
    def id(self) -> int: ...

    @property
    def active(self) -> bool: ...


class LoginProtocol:
    """Flask-Login's four user attributes, by duck typing (the domain never imports Flask).
    Needs ``id`` and ``active``."""

    __slots__ = ()

    @property
    def is_active(self: _Account) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self: _Account) -> str:
        return str(self.id)


class User(LoginProtocol, Base):
    """A staff account. Implements Flask-Login's four attributes by duck typing, so the domain
    never imports Flask."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    #: Where e-mail notifications go (``bti.services.notify``); None: in the app only.
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(default=True)
    #: The language the user chose (nb, nn, en); None until they choose one, and then the
    #: browser's language or the municipality's målform applies (``bti.web.i18n``).
    locale: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]
    #: Set when an administrator made the password (shown to them once): the user must choose
    #: their own before doing anything else.
    password_change_required: Mapped[bool] = mapped_column(default=False)
    #: When the user first walked a practice case (øvingssak) to a closing state: the leader's
    #: list of who has done the introduction (kept after the practice case is purged).
    practice_completed_at: Mapped[datetime | None]
    #: The TOTP seed once the user has enrolled a second factor, encrypted
    #: (``bti.services.accounts.secretbox``: "f1:" + a Fernet token).
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    #: The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None]

    unit: Mapped[Unit | None] = relationship()
    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r.role for r in self.role_rows)

    def __repr__(self) -> str:
        return f"<User {self.id}>"

    def as_actor(self) -> Actor:
        served = self.unit.served_municipality_ids if self.unit is not None else frozenset()
        return Actor(id=self.id, municipality_id=self.municipality_id, unit_id=self.unit_id,
                     roles=self.roles, active=self.active, locale=self.locale,
                     served_municipality_ids=served)


@dataclass(frozen=True, slots=True)
class Actor(LoginProtocol):
    """Who is acting, as services need it: ids and roles, no ORM state. Immutable, so it can be
    loaded once per request (one query) and outlive the session it was read in. Implements
    Flask-Login's user protocol by duck typing."""

    id: int
    municipality_id: int
    unit_id: int | None
    roles: frozenset[str]
    active: bool = True
    #: The user's chosen language, None if they have not chosen one.
    locale: str | None = None
    #: The other municipalities the user's unit serves (an inter-municipal service), whose
    #: cases they may take part in (``bti.domain.policy.serves_municipality``).
    served_municipality_ids: frozenset[int] = frozenset()



class UserSession(Base):
    """A signed-in session, kept on the server so that it can be ended from the server: on
    logout, deactivation, a password change, or when it has been idle or lived too long. The
    browser holds only a random token; the table holds its SHA-256."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    #: When the second factor was passed; None while it is still owed.
    mfa_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(30))

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id}>"


class ApiToken(Base):
    """A personal access token for the JSON API (``/api/v1``), created by an administrator on
    the command line for one user. The token is shown once; the table keeps only its SHA-256
    (like ``user_session``). It carries the user's own access (never more), narrowed by its
    ``scopes``; it always expires, and it can be revoked."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"),
                                         index=True)
    #: What the token is for ("arkiv-integrasjon"): chosen by the administrator, no personal data.
    name: Mapped[str] = mapped_column(String(80))
    #: Space-separated scopes (``cases:read cases:write``).
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    #: Last request made with the token (refreshed at most once a minute).
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user={self.user_id}>"


class UserRole(Base):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(40))


class ExternalIdentity(Base):
    """A person as an OpenID provider knows them (``bti.services.accounts.oidc``), recognised
    the next time they sign in. The provider's subject identifier is never stored: only its
    HMAC under the installation's key (``BTI_IDENTITY_HMAC_KEY``), so a national identity number
    a provider may use as subject cannot be read out of the database. ``user_id`` links the
    identity to a staff account; it is empty for an identity not (yet) linked to one (a family
    member, in a later slice, is linked to cases instead)."""

    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("provider", "subject_hmac"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    #: The provider's issuer URL (stable per provider).
    provider: Mapped[str] = mapped_column(String(300))
    #: HMAC-SHA256 (hex) of the issuer and the subject under the installation's key.
    subject_hmac: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<ExternalIdentity {self.id}>"
