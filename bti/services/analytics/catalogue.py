"""The municipality's catalogue of measures (tiltaksoversikt), kept by its leaders and admins
and browsed by everyone who plans measures (``bti.domain.policy.may_browse_catalogue``).

Browsing shows the active items with what each is (kind of prevention, ages, service, provider,
own, inter-municipal or bought) and its evaluated effect in the municipality, counted from the
write-time aggregates over all time and suppressed exactly like the dashboard
(``bti.services.analytics.suppression``): no figure that could point to a child. Keepers also see
the deactivated items and the yearly review ("årleg oppdatering"): each item has a review date,
and ``due_for_review`` lists those whose date is near, past, or not set.

A measure started on a case may be chosen from the catalogue (``measure.catalogue_id``, checked
by ``bti.services.cases.effects.measure``: same municipality, active). Items are never deleted, only
deactivated, so the measures that used them keep their link and the dashboards can still count
them. Every change is audited with ids and field names only.
"""

from __future__ import annotations

from collections import Counter
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from bti.domain.analytics import AGE_MAX
from bti.domain.analytics import AGE_MIN
from bti.domain.analytics import CATALOGUE_DELIVERIES
from bti.domain.analytics import CATALOGUE_KINDS
from bti.domain.analytics import AnalyticsCounter
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.clock import one_year_after
from bti.domain.org import Actor
from bti.domain.org import Unit
from bti.domain.policy import may_browse_catalogue
from bti.domain.policy import may_edit_catalogue
from bti.domain.policy import may_view_catalogue
from bti.domain.vocabulary import AuditAction
from bti.engine.inputs import parse_date
from bti.engine.inputs import parse_int
from bti.services.access import audit
from bti.services.analytics import aggregates
from bti.services.analytics.dashboard import EFFECTS
from bti.services.analytics.suppression import share
from bti.services.analytics.suppression import sup
from bti.services.analytics.suppression import sup_group
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
    #: The service (unit) that offers it; 0: a value that names no unit (refused).
    unit_id: int | None = None
    provider: str = ""
    delivery: str = "own"
    #: The next yearly review; ``review_date_invalid``: the form gave no valid date (refused).
    review_due_on: date | None = None
    review_date_invalid: bool = False

#: Fields an update compares and audits by name.
_FIELDS = ("name", "description", "kind", "age_from", "age_to", "unit_id", "provider",
           "delivery", "review_due_on")


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
    unit = str(form.get("unit_id") or "").strip()
    review = str(form.get("review_due_on") or "").strip()
    review_on = parse_date(review) if review else None
    return ItemInput(name=(form.get("name") or "").strip(),
                     description=(form.get("description") or "").strip(),
                     kind=(form.get("kind") or "").strip(),
                     age_from=_int(form.get("age_from")), age_to=_int(form.get("age_to")),
                     unit_id=(parse_int(unit, minimum=1) or 0) if unit else None,
                     provider=str(form.get("provider") or "").strip(),
                     delivery=str(form.get("delivery") or "own").strip(),
                     review_due_on=review_on, review_date_invalid=bool(review) and not review_on)


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
    if len(data.provider) > 200 or "\x00" in data.provider:
        errors["provider"] = ["too_long"]
    if data.delivery not in CATALOGUE_DELIVERIES:
        errors["delivery"] = ["invalid"]
    if data.review_date_invalid:
        errors["review_due_on"] = ["invalid"]
    if data.unit_id is not None:
        unit_municipality = ctx.session.scalar(
            select(Unit.municipality_id).where(Unit.id == data.unit_id))
        if unit_municipality != ctx.actor.municipality_id:
            errors["unit_id"] = ["not_in_municipality"]
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
        unit_id=data.unit_id, provider=data.provider, delivery=data.delivery,
        review_due_on=data.review_due_on, created_at=now, updated_at=now)
    ctx.session.add(item)
    ctx.session.flush()
    audit.record(ctx, AuditAction.CATALOGUE_CREATED, object_type="measure_catalogue",
                 object_id=item.id, basis="catalogue_keeper", kind=item.kind)
    return item


def update_item(ctx: Ctx, item_id: int, data: ItemInput) -> MeasureCatalogueItem:
    _require(ctx, may_edit_catalogue)
    item = get_item(ctx, item_id)
    _validate(ctx, data, item.id)
    changed = sorted(k for k in _FIELDS if getattr(item, k) != getattr(data, k))
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


def mark_reviewed(ctx: Ctx, item_id: int) -> MeasureCatalogueItem:
    """The yearly review of an item is done today: the next one is due a year from now."""
    _require(ctx, may_edit_catalogue)
    item = get_item(ctx, item_id)
    today = ctx.today()
    item.reviewed_on = today
    item.review_due_on = one_year_after(today)
    item.updated_at = ctx.now()
    ctx.session.flush()
    audit.record(ctx, AuditAction.CATALOGUE_UPDATED, object_type="measure_catalogue",
                 object_id=item.id, basis="catalogue_keeper",
                 fields=["review_due_on", "reviewed_on"])
    return item


#: How far ahead an item counts as due for its review.
REVIEW_NOTICE_DAYS = 30


def due_for_review(ctx: Ctx) -> list[MeasureCatalogueItem]:
    """Active items whose review is past, due within ``REVIEW_NOTICE_DAYS``, or never set:
    never set first, then by the date."""
    _require(ctx, may_view_catalogue)
    limit = ctx.today() + timedelta(days=REVIEW_NOTICE_DAYS)
    items = ctx.session.scalars(select(MeasureCatalogueItem).where(
        MeasureCatalogueItem.municipality_id == ctx.actor.municipality_id,
        MeasureCatalogueItem.active.is_(True),
        or_(MeasureCatalogueItem.review_due_on.is_(None),
            MeasureCatalogueItem.review_due_on <= limit)))
    return sorted(items, key=lambda i: (i.review_due_on is not None,
                                        i.review_due_on or date.min, i.name))


# --- browsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """A measure's use and evaluated effect in the municipality, all time, suppressed like the
    dashboard: None where a figure could point to a child."""

    started: int | None
    evaluated: int | None
    effects: Mapping[str, int | None]
    effective_share: float | None  # good or some effect, of the evaluated


@dataclass(frozen=True)
class Query:
    """A search of the catalogue; every part optional."""

    text: str = ""
    kind: str | None = None
    age: int | None = None
    unit_id: int | None = None
    delivery: str | None = None
    #: Keepers only: deactivated items too.
    include_inactive: bool = False


@dataclass(frozen=True)
class Browse:
    items: list[MeasureCatalogueItem]
    effects: Mapping[int, Effect]
    #: The services named by the municipality's items, for the filter: (id, name).
    units: list[tuple[int, str]]
    unit_names: Mapping[int, str]
    #: Items in the catalogue before the search (active ones, or all for a keeper asking).
    total: int


def effects(ctx: Ctx, item_ids: list[int]) -> dict[int, Effect]:
    """The ``Effect`` of each item, from the municipality's aggregates (``ALL_UNITS``)."""
    if not item_ids:
        return {}
    c = AnalyticsCounter
    keys = [str(i) for i in item_ids]
    started = Counter({k: int(n) for k, n in ctx.session.execute(
        select(c.key, func.sum(c.n)).where(
            c.municipality_id == ctx.actor.municipality_id,
            c.unit_id == aggregates.ALL_UNITS, c.metric == aggregates.MEASURE_STARTED,
            c.key.in_(keys)).group_by(c.key))})
    evaluated: dict[str, Counter] = defaultdict(Counter)
    for key, n in ctx.session.execute(
            select(c.key, func.sum(c.n)).where(
                c.municipality_id == ctx.actor.municipality_id,
                c.unit_id == aggregates.ALL_UNITS, c.metric == aggregates.MEASURE_EVALUATED,
                c.key.in_([aggregates.evaluated_key(i, e) for i in item_ids for e in EFFECTS]))
            .group_by(c.key)):
        cat, effect = key.rsplit(":", 1)
        evaluated[cat][effect] += int(n)
    out = {}
    for i, key in zip(item_ids, keys, strict=True):
        eff = evaluated.get(key, Counter())
        total = sum(eff.values())
        cells = sup_group([eff.get(e, 0) for e in EFFECTS])
        out[i] = Effect(sup(started[key]), sup(total), dict(zip(EFFECTS, cells, strict=True)),
                        share(eff.get("good", 0) + eff.get("some", 0), total))
    return out


def fits_age(item: MeasureCatalogueItem, age: int | None) -> bool:
    return age is None or item.age_from <= age <= item.age_to


def _matches(item: MeasureCatalogueItem, q: Query, words: list[str]) -> bool:
    if q.kind and item.kind != q.kind:
        return False
    if q.unit_id is not None and item.unit_id != q.unit_id:
        return False
    if q.delivery and item.delivery != q.delivery:
        return False
    if not fits_age(item, q.age):
        return False
    text = f"{item.name} {item.description} {item.provider}".casefold()
    return all(w in text for w in words)


def browse(ctx: Ctx, q: Query) -> Browse:
    """The items that match ``q``, by name, with each one's effect. Deactivated items only for
    keepers who ask for them. Reads no case data (the effects are aggregates)."""
    _require(ctx, may_browse_catalogue)
    include_inactive = q.include_inactive and may_view_catalogue(ctx.actor)
    stmt = select(MeasureCatalogueItem).where(
        MeasureCatalogueItem.municipality_id == ctx.actor.municipality_id)
    if not include_inactive:
        stmt = stmt.where(MeasureCatalogueItem.active.is_(True))
    every = list(ctx.session.scalars(stmt.order_by(MeasureCatalogueItem.name,
                                                   MeasureCatalogueItem.id)))
    words = [w for w in q.text.casefold().split() if w]
    items = [i for i in every if _matches(i, q, words)]
    unit_names = dict(ctx.session.execute(select(Unit.id, Unit.name).where(
        Unit.municipality_id == ctx.actor.municipality_id)).all())
    used = sorted({i.unit_id for i in every if i.unit_id is not None},
                  key=lambda u: unit_names.get(u, ""))
    return Browse(items, effects(ctx, [i.id for i in items]),
                  [(u, unit_names[u]) for u in used if u in unit_names], unit_names, len(every))


def show(ctx: Ctx, item_id: int) -> tuple[MeasureCatalogueItem, Effect, str | None]:
    """One item for someone who plans measures, with its effect and its service's name; a
    deactivated one only for keepers (NotFound for others, like a missing one)."""
    _require(ctx, may_browse_catalogue)
    item = ctx.session.get(MeasureCatalogueItem, item_id)
    if (item is None or item.municipality_id != ctx.actor.municipality_id
            or (not item.active and not may_view_catalogue(ctx.actor))):
        raise NotFound("catalogue item", object_type="measure_catalogue", object_id=item_id)
    unit_name = ctx.session.scalar(select(Unit.name).where(Unit.id == item.unit_id)) \
        if item.unit_id is not None else None
    return item, effects(ctx, [item.id])[item.id], unit_name
