"""The municipality's catalogue of measures (tiltaksoversikt), kept by its leaders and admins.

A measure started on a case may be chosen from the catalogue (``measure.catalogue_id``, checked
by ``bti.services.cases.effects.measure``: same municipality, active). Items are never deleted, only
deactivated, so the measures that used them keep their link and the dashboards can still count
them. Every change is audited with ids and field names only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bti.domain.analytics import AGE_MAX
from bti.domain.analytics import AGE_MIN
from bti.domain.analytics import CATALOGUE_KINDS
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.org import Actor
from bti.domain.policy import may_edit_catalogue
from bti.domain.policy import may_view_catalogue
from bti.domain.vocabulary import AuditAction
from bti.engine.inputs import parse_int
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound


@dataclass(frozen=True)
class ItemInput:
    name: str
    description: str
    kind: str
    age_from: int | None
    age_to: int | None


def _require(ctx: Ctx, may: Callable[[Actor], bool]) -> None:
    """``NotFound`` unless ``may`` (a ``bti.domain.policy`` predicate) holds for the actor."""
    if not may(ctx.actor):
        raise NotFound("measure catalogue")


def _int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    return parse_int(str(value or "").strip(), maximum=999)


def parse(form: Any) -> ItemInput:
    """An ``ItemInput`` from a form (a mapping of strings)."""
    return ItemInput(name=(form.get("name") or "").strip(),
                     description=(form.get("description") or "").strip(),
                     kind=(form.get("kind") or "").strip(),
                     age_from=_int(form.get("age_from")), age_to=_int(form.get("age_to")))


def _validate(ctx: Ctx, data: ItemInput, item_id: int | None) -> None:
    errors: dict[str, list[str]] = {}
    if not data.name:
        errors["name"] = ["required"]
    elif len(data.name) > 120 or "\x00" in data.name:
        errors["name"] = ["too_long"]
    if len(data.description) > 2000 or "\x00" in data.description:
        errors["description"] = ["too_long"]
    if data.kind not in CATALOGUE_KINDS:
        errors["kind"] = ["invalid"]
    for field, value in (("age_from", data.age_from), ("age_to", data.age_to)):
        if value is None or not AGE_MIN <= value <= AGE_MAX:
            errors[field] = ["age_range"]
    if ("age_from" not in errors and "age_to" not in errors
            and data.age_from is not None and data.age_to is not None
            and data.age_from > data.age_to):
        errors["age_to"] = ["age_order"]
    if "name" not in errors:
        clash = ctx.session.scalar(select(MeasureCatalogueItem.id).where(
            MeasureCatalogueItem.municipality_id == ctx.actor.municipality_id,
            MeasureCatalogueItem.name == data.name))
        if clash is not None and clash != item_id:
            errors["name"] = ["taken"]
    if errors:
        raise InvalidInput(errors)


def list_items(ctx: Ctx, *, include_inactive: bool = True) -> list[MeasureCatalogueItem]:
    _require(ctx, may_view_catalogue)
    stmt = select(MeasureCatalogueItem).where(
        MeasureCatalogueItem.municipality_id == ctx.actor.municipality_id)
    if not include_inactive:
        stmt = stmt.where(MeasureCatalogueItem.active.is_(True))
    return list(ctx.session.scalars(stmt.order_by(MeasureCatalogueItem.active.desc(),
                                                  MeasureCatalogueItem.name)))


def get_item(ctx: Ctx, item_id: int) -> MeasureCatalogueItem:
    """An item of the actor's municipality; another municipality's answers like none."""
    _require(ctx, may_view_catalogue)
    item = ctx.session.get(MeasureCatalogueItem, item_id)
    if item is None or item.municipality_id != ctx.actor.municipality_id:
        raise NotFound("catalogue item", object_type="measure_catalogue", object_id=item_id)
    return item


def create_item(ctx: Ctx, data: ItemInput) -> MeasureCatalogueItem:
    _require(ctx, may_edit_catalogue)
    _validate(ctx, data, None)
    now = ctx.now()
    item = MeasureCatalogueItem(
        municipality_id=ctx.actor.municipality_id, name=data.name, description=data.description,
        kind=data.kind, age_from=data.age_from, age_to=data.age_to, active=True,
        created_at=now, updated_at=now)
    ctx.session.add(item)
    ctx.session.flush()
    audit.record(ctx, AuditAction.CATALOGUE_CREATED, object_type="measure_catalogue",
                 object_id=item.id, basis="catalogue_keeper", kind=item.kind)
    return item


def update_item(ctx: Ctx, item_id: int, data: ItemInput) -> MeasureCatalogueItem:
    _require(ctx, may_edit_catalogue)
    item = get_item(ctx, item_id)
    _validate(ctx, data, item.id)
    changed = sorted(k for k in ("name", "description", "kind", "age_from", "age_to")
                     if getattr(item, k) != getattr(data, k))
    for k in changed:
        setattr(item, k, getattr(data, k))
    if changed:
        item.updated_at = ctx.now()
        ctx.session.flush()
        audit.record(ctx, AuditAction.CATALOGUE_UPDATED, object_type="measure_catalogue",
                     object_id=item.id, basis="catalogue_keeper", fields=changed)
    return item


def set_active(ctx: Ctx, item_id: int, active: bool) -> MeasureCatalogueItem:
    """Deactivate (no longer offered when a measure starts) or reactivate an item."""
    _require(ctx, may_edit_catalogue)
    item = get_item(ctx, item_id)
    if item.active != active:
        item.active = active
        item.updated_at = ctx.now()
        ctx.session.flush()
        audit.record(ctx, (AuditAction.CATALOGUE_ACTIVATED if active
                      else AuditAction.CATALOGUE_DEACTIVATED),
                     object_type="measure_catalogue", object_id=item.id,
                     basis="catalogue_keeper")
    return item
