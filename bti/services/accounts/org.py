"""The organisation, kept by its administrators: a municipality's units (kind, service area,
active flag, the other municipalities an inter-municipal service serves) and the
municipality's name; and, for the operator on the command line, municipalities themselves.

Who may do what is ``bti.domain.policy`` (``may_administer_organisation``, ``may_manage_unit``,
``may_edit_municipality``): an administrator keeps their own municipality's units; a unit of
another municipality answers like one that does not exist (``NotFound``), also one that serves
the administrator's municipality (its host keeps it). Creating, deactivating and reactivating a
municipality is an installation-level act, the operator's (``bti municipality create``): a
context without an actor (``Ctx.system``). A unit's leaders and BTI coordinators are its users
holding the role ``leader`` or ``coordinator``; they are listed here and set on the user.

Nothing is deleted: a unit or municipality that cases, users or the audit trail refer to is
deactivated. A unit with open cases is not deactivated (the cases would lose their unit's
leader and coordinator without anyone noticing): the refusal says how many are open. Every
change is audited with ids and the changed organisation fields (not personal data). Services
flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.org import MALFORMS
from bti.domain.org import UNIT_KINDS
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.policy import may_administer_organisation
from bti.domain.policy import may_edit_municipality
from bti.domain.policy import may_manage_unit
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Role
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound

NAME_MAX = 200
SERVICE_MAX = 200
SLUG_MAX = 60


@dataclass(frozen=True, slots=True)
class MunicipalityRef:
    id: int
    slug: str
    name: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class UnitPerson:
    """A leader or BTI coordinator of a unit (a user of the unit with that role)."""

    id: int
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class UnitDetail:
    id: int
    municipality_id: int
    name: str
    kind: str
    service: str | None
    active: bool
    #: The other municipalities it serves (an inter-municipal service), by name.
    serves: tuple[MunicipalityRef, ...]
    leaders: tuple[UnitPerson, ...]
    coordinators: tuple[UnitPerson, ...]
    #: Active users whose unit this is.
    staff: int
    #: Cases of the unit not closed (a number, never their content).
    open_cases: int


# --- who acts, and where -----------------------------------------------------------------------


def _is_operator(ctx: Ctx) -> bool:
    return ctx.actor is None


def home_municipality(ctx: Ctx, municipality_id: int | None = None) -> int:
    """The municipality the actor keeps: the administrator's own; for the operator the one
    named. Another municipality named by an administrator is ``NotFound``."""
    if _is_operator(ctx):
        if municipality_id is None or ctx.session.get(Municipality, municipality_id) is None:
            raise NotFound(f"municipality {municipality_id}")
        return municipality_id
    if not may_administer_organisation(ctx.actor):
        raise Forbidden("the organisation needs the admin role")
    if municipality_id is not None and municipality_id != ctx.actor.municipality_id:
        raise NotFound(f"municipality {municipality_id}")
    return ctx.actor.municipality_id


def audit_change(ctx: Ctx, action: AuditAction, municipality_id: int, *, object_type: str,
           object_id: int, **details: Any) -> None:
    """One audit row: the administrator's (``audit.record``), or the operator's on the
    municipality's chain (``audit.record_system``, ``via=cli``)."""
    if _is_operator(ctx):
        audit.record_system(ctx.session, action, now=ctx.now(), municipality_id=municipality_id,
                            object_type=object_type, object_id=object_id, via="cli", **details)
    else:
        audit.record(ctx, action, object_type=object_type, object_id=object_id, **details)


def _load_unit(ctx: Ctx, unit_id: int) -> Unit:
    unit = ctx.session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"unit {unit_id}")
    if _is_operator(ctx):
        return unit
    if not may_administer_organisation(ctx.actor):
        raise Forbidden("the organisation needs the admin role")
    if not may_manage_unit(ctx.actor, unit.municipality_id):
        raise NotFound(f"unit {unit_id}")
    return unit


# --- checks ------------------------------------------------------------------------------------


def clean_text(value: str | None, *, required: bool, length: int) -> tuple[str | None, str | None]:
    """The trimmed text, or None; and an error code, or None."""
    text = " ".join((value or "").split())
    if "\x00" in (value or "") or not text.isprintable():
        return None, "nul"
    if not text:
        return None, "required" if required else None
    if len(text) > length:
        return None, "too_long"
    return text, None


def clean_unit(ctx: Ctx, municipality_id: int, *, name: str | None, kind: str | None,
               service: str | None, unit_id: int | None = None,
               taken: Iterable[str] = ()) -> dict[str, Any]:
    """A unit's fields, trimmed and checked; ``InvalidInput`` with a code per bad field. A name
    another unit of the municipality has (case aside), or one in ``taken``, is ``taken``."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    text, code = clean_text(name, required=True, length=NAME_MAX)
    if code:
        errors["name"] = [code]
    else:
        clash = ctx.session.scalar(select(Unit.id).where(
            Unit.municipality_id == municipality_id,
            func.lower(Unit.name) == (text or "").lower(),
            *([Unit.id != unit_id] if unit_id is not None else [])))
        if clash is not None or (text or "").casefold() in {t.casefold() for t in taken}:
            errors["name"] = ["taken"]
        out["name"] = text
    kind = (kind or "").strip()
    if not kind:
        errors["kind"] = ["required"]
    elif kind not in UNIT_KINDS:
        errors["kind"] = ["invalid"]
    out["kind"] = kind
    text, code = clean_text(service, required=False, length=SERVICE_MAX)
    if code:
        errors["service"] = [code]
    out["service"] = text
    if errors:
        raise InvalidInput(errors)
    return out


def _clean_serves(ctx: Ctx, host_id: int, serves: Iterable[int]) -> list[int]:
    """The municipalities an inter-municipal service is to serve: active ones, never its host."""
    wanted = sorted(set(serves))
    if not wanted:
        return []
    found = set(ctx.session.scalars(select(Municipality.id).where(
        Municipality.id.in_(wanted), Municipality.active.is_(True))))
    if host_id in wanted or found != set(wanted):
        raise InvalidInput({"serves": ["invalid"]})
    return wanted


# --- reading -----------------------------------------------------------------------------------


def _people(ctx: Ctx, unit_ids: list[int]
            ) -> dict[tuple[int | None, str], list[UnitPerson]]:
    out: dict[tuple[int | None, str], list[UnitPerson]] = {}
    if not unit_ids:
        return out
    rows = ctx.session.execute(
        select(User.unit_id, UserRole.role, User.id, User.display_name, User.active)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.unit_id.in_(unit_ids),
               UserRole.role.in_((Role.LEADER.value, Role.COORDINATOR.value)))
        .order_by(User.display_name, User.id))
    for unit_id, role, user_id, name, active in rows:
        out.setdefault((unit_id, role), []).append(UnitPerson(user_id, name, bool(active)))
    return out


def _details(ctx: Ctx, units: list[Unit]) -> list[UnitDetail]:
    ids = [u.id for u in units]
    if not ids:
        return []
    people = _people(ctx, ids)
    staff = dict(ctx.session.execute(
        select(User.unit_id, func.count(User.id)).where(User.unit_id.in_(ids),
                                                        User.active.is_(True))
        .group_by(User.unit_id)).all())
    open_cases = dict(ctx.session.execute(
        select(Case.unit_id, func.count(Case.id)).where(Case.unit_id.in_(ids),
                                                        Case.closed_at.is_(None))
        .group_by(Case.unit_id)).all())
    served_ids = {s.municipality_id for u in units for s in u.serves}
    names = {m.id: m for m in ctx.session.scalars(
        select(Municipality).where(Municipality.id.in_(served_ids)))} if served_ids else {}
    return [UnitDetail(
        id=u.id, municipality_id=u.municipality_id, name=u.name, kind=u.kind, service=u.service,
        active=u.active,
        serves=tuple(sorted((MunicipalityRef(m.id, m.slug, m.name, m.active)
                             for s in u.serves if (m := names.get(s.municipality_id))),
                            key=lambda r: r.name)),
        leaders=tuple(people.get((u.id, Role.LEADER.value), ())),
        coordinators=tuple(people.get((u.id, Role.COORDINATOR.value), ())),
        staff=int(staff.get(u.id, 0)), open_cases=int(open_cases.get(u.id, 0)))
        for u in units]


def list_units(ctx: Ctx, municipality_id: int | None = None) -> list[UnitDetail]:
    """Every unit the municipality hosts, active and deactivated, by name."""
    home = home_municipality(ctx, municipality_id)
    units = list(ctx.session.scalars(select(Unit).where(Unit.municipality_id == home)
                                     .order_by(Unit.name, Unit.id)))
    return _details(ctx, units)


def get_unit(ctx: Ctx, unit_id: int) -> UnitDetail:
    """One unit of the administrator's municipality; another's is ``NotFound``."""
    return _details(ctx, [_load_unit(ctx, unit_id)])[0]


def serving_units(ctx: Ctx) -> list[tuple[UnitDetail, MunicipalityRef]]:
    """The inter-municipal services of other municipalities that serve the administrator's,
    with their host (shown, not kept, here)."""
    home = home_municipality(ctx)
    units = list(ctx.session.scalars(
        select(Unit).join(UnitMunicipality, UnitMunicipality.unit_id == Unit.id)
        .where(UnitMunicipality.municipality_id == home).order_by(Unit.name, Unit.id)))
    hosts = {m.id: m for m in ctx.session.scalars(select(Municipality).where(
        Municipality.id.in_({u.municipality_id for u in units})))} if units else {}
    return [(UnitDetail(u.id, u.municipality_id, u.name, u.kind, u.service, u.active, (),
                        (), (), 0, 0),
             MunicipalityRef(h.id, h.slug, h.name, h.active))
            for u in units if (h := hosts[u.municipality_id])]


def municipalities(ctx: Ctx) -> list[MunicipalityRef]:
    """The installation's active municipalities other than the actor's: the ones a unit may
    serve. Names only (public facts)."""
    home = home_municipality(ctx) if not _is_operator(ctx) else None
    return [MunicipalityRef(m.id, m.slug, m.name, m.active) for m in ctx.session.scalars(
        select(Municipality).where(Municipality.active.is_(True),
                                   *([Municipality.id != home] if home is not None else []))
        .order_by(Municipality.name))]


def own_municipality(ctx: Ctx) -> MunicipalityRef:
    home = home_municipality(ctx)
    m = ctx.session.get_one(Municipality, home)
    return MunicipalityRef(m.id, m.slug, m.name, m.active)


# --- units -------------------------------------------------------------------------------------


def create_unit(ctx: Ctx, *, name: str, kind: str, service: str | None = None,
                serves: Iterable[int] = (), municipality_id: int | None = None) -> UnitDetail:
    """A new active unit of the municipality (the administrator's own)."""
    home = home_municipality(ctx, municipality_id)
    fields = clean_unit(ctx, home, name=name, kind=kind, service=service)
    served = _clean_serves(ctx, home, serves)
    unit = Unit(municipality_id=home, active=True, **fields)
    unit.serves = [UnitMunicipality(municipality_id=m, created_at=ctx.now()) for m in served]
    ctx.session.add(unit)
    ctx.session.flush()
    audit_change(ctx, AuditAction.UNIT_CREATED, home, object_type="unit", object_id=unit.id,
           kind=unit.kind, serves=served)
    return get_unit(ctx, unit.id)


_UNSET: Any = object()


def update_unit(ctx: Ctx, unit_id: int, *, name: str | None = None, kind: str | None = None,
                service: str | None = _UNSET, serves: Iterable[int] | None = None
                ) -> UnitDetail:
    """Change a unit's name, kind, service area and the municipalities it serves (a field not
    given is left as it is; an empty service area clears it). Audited with what changed."""
    unit = _load_unit(ctx, unit_id)
    fields = clean_unit(ctx, unit.municipality_id, unit_id=unit.id,
                        name=unit.name if name is None else name,
                        kind=unit.kind if kind is None else kind,
                        service=unit.service if service is _UNSET else service)
    changed: dict[str, Any] = {k: v for k, v in fields.items() if getattr(unit, k) != v}
    for k, v in changed.items():
        setattr(unit, k, v)
    if "name" in changed:
        changed["name"] = True  # the audit row says that it changed
    if serves is not None:
        served = _clean_serves(ctx, unit.municipality_id, serves)
        before = sorted(unit.served_municipality_ids)
        if served != before:
            keep = [s for s in unit.serves if s.municipality_id in served]
            unit.serves = keep + [UnitMunicipality(municipality_id=m, created_at=ctx.now())
                                  for m in served if m not in before]
            changed["serves_added"] = [m for m in served if m not in before]
            changed["serves_removed"] = [m for m in before if m not in served]
    if changed:
        ctx.session.flush()
        audit_change(ctx, AuditAction.UNIT_CHANGED, unit.municipality_id, object_type="unit",
               object_id=unit.id, **changed)
    return get_unit(ctx, unit.id)


def deactivate_unit(ctx: Ctx, unit_id: int) -> UnitDetail:
    """Deactivate a unit: no new case opens in it and it is no longer offered as a service.
    Refused (``InvalidInput`` ``open_cases``, with the count) while cases of the unit are open:
    they would be left without the unit's leader and coordinator without anyone deciding it."""
    unit = _load_unit(ctx, unit_id)
    if not unit.active:
        return get_unit(ctx, unit.id)
    open_cases = ctx.session.scalar(select(func.count(Case.id)).where(
        Case.unit_id == unit.id, Case.closed_at.is_(None))) or 0
    if open_cases:
        raise InvalidInput({"unit": ["open_cases"]}, count=int(open_cases))
    unit.active = False
    ctx.session.flush()
    audit_change(ctx, AuditAction.UNIT_DEACTIVATED, unit.municipality_id, object_type="unit",
           object_id=unit.id)
    return get_unit(ctx, unit.id)


def reactivate_unit(ctx: Ctx, unit_id: int) -> UnitDetail:
    unit = _load_unit(ctx, unit_id)
    if not unit.active:
        unit.active = True
        ctx.session.flush()
        audit_change(ctx, AuditAction.UNIT_REACTIVATED, unit.municipality_id, object_type="unit",
               object_id=unit.id)
    return get_unit(ctx, unit.id)


# --- municipalities ----------------------------------------------------------------------------


def rename_municipality(ctx: Ctx, name: str, municipality_id: int | None = None
                        ) -> MunicipalityRef:
    """The municipality's name: its own administrator (``may_edit_municipality``) or the
    operator."""
    home = home_municipality(ctx, municipality_id)
    if not _is_operator(ctx) and not may_edit_municipality(ctx.actor, home):
        raise NotFound(f"municipality {home}")
    text, code = clean_text(name, required=True, length=NAME_MAX)
    if code:
        raise InvalidInput({"name": [code]})
    m = ctx.session.get_one(Municipality, home)
    if m.name != text:
        m.name = text or m.name
        ctx.session.flush()
        audit_change(ctx, AuditAction.MUNICIPALITY_RENAMED, m.id, object_type="municipality",
               object_id=m.id, name=m.name)
    return MunicipalityRef(m.id, m.slug, m.name, m.active)


def _require_operator(ctx: Ctx) -> None:
    if not _is_operator(ctx):
        raise Forbidden("municipalities are created and deactivated by the operator")


def create_municipality(ctx: Ctx, *, slug: str, name: str, workflow_id: str,
                        malform: str = "nb") -> MunicipalityRef:
    """A new municipality (the operator's): ``workflow_id`` must be a known workflow (the
    caller checks it against the registry)."""
    _require_operator(ctx)
    errors: dict[str, list[str]] = {}
    slug = (slug or "").strip().lower()
    if not slug:
        errors["slug"] = ["required"]
    elif len(slug) > SLUG_MAX or not slug.replace("-", "").isalnum() or not slug.isascii():
        errors["slug"] = ["invalid"]
    elif ctx.session.scalar(select(Municipality.id).where(Municipality.slug == slug)):
        errors["slug"] = ["taken"]
    text, code = clean_text(name, required=True, length=NAME_MAX)
    if code:
        errors["name"] = [code]
    if malform not in MALFORMS:
        errors["malform"] = ["invalid"]
    if errors:
        raise InvalidInput(errors)
    m = Municipality(slug=slug, name=text, workflow_id=workflow_id, malform=malform,
                     active=True)
    ctx.session.add(m)
    ctx.session.flush()
    audit_change(ctx, AuditAction.MUNICIPALITY_CREATED, m.id, object_type="municipality",
           object_id=m.id, slug=slug, workflow_id=workflow_id, malform=malform)
    return MunicipalityRef(m.id, m.slug, m.name, m.active)


def set_municipality_active(ctx: Ctx, slug: str, active: bool) -> MunicipalityRef:
    """Deactivate (its users can no longer sign in, no unit may start serving it) or
    reactivate a municipality (the operator's). Deactivation is refused while it has open
    cases (``InvalidInput`` ``open_cases`` with the count)."""
    _require_operator(ctx)
    m = ctx.session.scalar(select(Municipality).where(Municipality.slug == slug))
    if m is None:
        raise NotFound(f"municipality {slug}")
    if m.active == active:
        return MunicipalityRef(m.id, m.slug, m.name, m.active)
    if not active:
        open_cases = ctx.session.scalar(select(func.count(Case.id)).where(
            Case.municipality_id == m.id, Case.closed_at.is_(None))) or 0
        if open_cases:
            raise InvalidInput({"municipality": ["open_cases"]}, count=int(open_cases))
    m.active = active
    ctx.session.flush()
    audit_change(ctx, AuditAction.MUNICIPALITY_REACTIVATED if active
           else AuditAction.MUNICIPALITY_DEACTIVATED, m.id, object_type="municipality",
           object_id=m.id)
    return MunicipalityRef(m.id, m.slug, m.name, m.active)
