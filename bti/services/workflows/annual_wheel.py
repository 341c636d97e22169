"""The annual wheel (årshjul) of the municipality's BTI routines: its trainings, mapping periods
(kartleggingsperiodar), yearly reviews, network meetings … A list leaders keep and every member of
staff sees, and downloads for their calendar.

Who keeps what
    The municipality's administrator keeps every routine of the municipality (for the whole
    municipality or for one of its units); a leader keeps the routines of their own unit
    (``bti.domain.policy.may_edit_annual_wheel_item``). A routine another keeper's answers like a
    missing one. Every change is audited with ids and field names only; bad input
    (``InvalidInput``: no title, an end before the start, a unit that is not the municipality's)
    writes nothing.

What staff see
    ``year_ahead``: the twelve months from the current one, each with the routines that start in
    it (a yearly routine on its dates of that year; one that is going on now in the current
    month); the routines for the whole municipality and for the reader's own unit. The
    catalogue's yearly reviews (``measure_catalogue.review_due_on``) are added for those who keep
    the catalogue (leaders and administrators, ``may_view_catalogue``): automatically, from the
    catalogue, never copied.

The calendar
    ``calendar_ics``: the same routines as an ICS file, every routine one all-day event
    (``bti-wheel-<id>@<host>``), a yearly one with ``RRULE:FREQ=YEARLY``; a catalogue review
    (``bti-catalogue-review-<id>@<host>``) on its date. ``vevents`` gives the events alone, for
    the user's private calendar feed (``bti.services.notify.calendar``). Nothing in them names a
    person or a case: the routines are organisation data.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from icalendar import Calendar
from icalendar import Event as VEvent
from sqlalchemy import ColumnElement
from sqlalchemy import or_
from sqlalchemy import select

from bti.domain.analytics import WHEEL_KINDS
from bti.domain.analytics import AnnualWheelItem
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.org import Unit
from bti.domain.policy import ADMIN
from bti.domain.policy import may_edit_annual_wheel_item
from bti.domain.policy import may_keep_annual_wheel
from bti.domain.policy import may_read_annual_wheel
from bti.domain.policy import may_view_catalogue
from bti.domain.vocabulary import AuditAction
from bti.engine.inputs import parse_date
from bti.engine.inputs import parse_int
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound

TITLE_MAX = 120
DESCRIPTION_MAX = 2000
RESPONSIBLE_MAX = 200
#: The longest period a routine may span (a yearly one must end before it starts again).
PERIOD_MAX_DAYS = 365
#: How many months ``year_ahead`` shows, the current one first.
MONTHS = 12
#: The kind a catalogue review is shown as.
CATALOGUE_REVIEW = "review"

PRODID = "-//BTI//Arshjul//NB"

#: Fields an update compares and audits by name.
_FIELDS = ("kind", "title", "description", "starts_on", "ends_on", "yearly", "unit_id",
           "responsible")


def N_(message: str) -> str:
    """Marks a message id for extraction; translated where it is shown."""
    return message


CALENDAR_NAME = N_("BTI annual wheel")
SUMMARY = N_("BTI: %(title)s")
REVIEW_SUMMARY = N_("BTI: yearly review of «%(name)s» in the catalogue of measures")


@dataclass(frozen=True)
class ItemInput:
    kind: str
    title: str
    starts_on: date | None
    description: str = ""
    ends_on: date | None = None
    yearly: bool = True
    #: The unit it is for; None: the whole municipality; 0: a value that names no unit.
    unit_id: int | None = None
    responsible: str = ""
    #: The form gave a date that is not one (refused).
    starts_invalid: bool = False
    ends_invalid: bool = False


def _date(raw: Any) -> tuple[date | None, bool]:
    text = str(raw or "").strip()
    if not text:
        return None, False
    value = parse_date(text)
    return value, value is None


def parse(form: Mapping[str, Any]) -> ItemInput:
    """An ``ItemInput`` from a form (a mapping of strings)."""
    starts_on, starts_invalid = _date(form.get("starts_on"))
    ends_on, ends_invalid = _date(form.get("ends_on"))
    unit = str(form.get("unit_id") or "").strip()
    return ItemInput(
        kind=str(form.get("kind") or "").strip(), title=str(form.get("title") or "").strip(),
        description=str(form.get("description") or "").strip(),
        starts_on=starts_on, ends_on=ends_on,
        yearly=str(form.get("repeat") or "yearly") != "once",
        unit_id=(parse_int(unit, minimum=1) or 0) if unit else None,
        responsible=str(form.get("responsible") or "").strip(),
        starts_invalid=starts_invalid, ends_invalid=ends_invalid)


def _text_error(value: str, maximum: int) -> list[str] | None:
    if "\x00" in value:
        return ["nul"]
    if len(value) > maximum:
        return ["too_long"]
    return None


def _validate(ctx: Ctx, data: ItemInput) -> None:
    """``InvalidInput`` with every problem of ``data``; nothing is written before this passes."""
    errors: dict[str, list[str]] = {}
    if data.kind not in WHEEL_KINDS:
        errors["kind"] = ["not_a_choice"]
    if not data.title:
        errors["title"] = ["required"]
    elif e := _text_error(data.title, TITLE_MAX):
        errors["title"] = e
    if e := _text_error(data.description, DESCRIPTION_MAX):
        errors["description"] = e
    if e := _text_error(data.responsible, RESPONSIBLE_MAX):
        errors["responsible"] = e
    if data.starts_invalid:
        errors["starts_on"] = ["invalid"]
    elif data.starts_on is None:
        errors["starts_on"] = ["required"]
    if data.ends_invalid:
        errors["ends_on"] = ["invalid"]
    elif data.ends_on is not None and data.starts_on is not None:
        if data.ends_on < data.starts_on:
            errors["ends_on"] = ["before_start"]
        elif (data.ends_on - data.starts_on).days >= PERIOD_MAX_DAYS:
            errors["ends_on"] = ["period_too_long"]
    if data.unit_id is not None:
        unit = ctx.session.get(Unit, data.unit_id) if data.unit_id else None
        if unit is None or unit.municipality_id != ctx.actor.municipality_id:
            errors["unit_id"] = ["not_in_municipality"]
        elif not unit.active:
            errors["unit_id"] = ["inactive_unit"]
    if "unit_id" not in errors and not may_edit_annual_wheel_item(
            ctx.actor, ctx.actor.municipality_id, data.unit_id):
        errors["unit_id"] = ["own_unit_only"]
    if errors:
        raise InvalidInput(errors)


def _require(ctx: Ctx, may: Callable[..., bool]) -> None:
    if not may(ctx.actor):
        raise NotFound("annual wheel")


# --- keeping the wheel ----------------------------------------------------------------------


def kept_items(ctx: Ctx) -> list[AnnualWheelItem]:
    """The routines the actor keeps (every one of the municipality for its administrator,
    their unit's for a leader), by date."""
    _require(ctx, may_keep_annual_wheel)
    stmt = select(AnnualWheelItem).where(
        AnnualWheelItem.municipality_id == ctx.actor.municipality_id)
    if ADMIN not in ctx.actor.roles:
        stmt = stmt.where(AnnualWheelItem.unit_id == ctx.actor.unit_id)
    return list(ctx.session.scalars(stmt.order_by(AnnualWheelItem.starts_on,
                                                  AnnualWheelItem.title, AnnualWheelItem.id)))


def keeper_units(ctx: Ctx) -> list[tuple[int, str]]:
    """The units the actor may keep routines for: every active unit of the municipality for its
    administrator, their own unit for a leader."""
    _require(ctx, may_keep_annual_wheel)
    stmt = select(Unit.id, Unit.name).where(Unit.municipality_id == ctx.actor.municipality_id,
                                            Unit.active.is_(True))
    if ADMIN not in ctx.actor.roles:
        stmt = stmt.where(Unit.id == ctx.actor.unit_id)
    return [(r[0], r[1]) for r in ctx.session.execute(stmt.order_by(Unit.name, Unit.id))]


def get_item(ctx: Ctx, item_id: int) -> AnnualWheelItem:
    """A routine the actor keeps; any other (another unit's, another municipality's) answers
    like none."""
    _require(ctx, may_keep_annual_wheel)
    item = ctx.session.get(AnnualWheelItem, item_id)
    if item is None or not may_edit_annual_wheel_item(ctx.actor, item.municipality_id,
                                                      item.unit_id):
        raise NotFound("annual wheel item", object_type="annual_wheel", object_id=item_id)
    return item


def create_item(ctx: Ctx, data: ItemInput) -> AnnualWheelItem:
    _require(ctx, may_keep_annual_wheel)
    _validate(ctx, data)
    assert data.starts_on is not None  # noqa: S101 # nosec B101 - _validate refuses None
    now = ctx.now()
    item = AnnualWheelItem(
        municipality_id=ctx.actor.municipality_id, unit_id=data.unit_id, kind=data.kind,
        title=data.title, description=data.description, starts_on=data.starts_on,
        ends_on=data.ends_on, yearly=data.yearly, responsible=data.responsible,
        created_at=now, updated_at=now)
    ctx.session.add(item)
    ctx.session.flush()
    audit.record(ctx, AuditAction.ANNUAL_WHEEL_CREATED, object_type="annual_wheel",
                 object_id=item.id, basis="annual_wheel_keeper", kind=item.kind,
                 unit_id=item.unit_id)
    return item


def update_item(ctx: Ctx, item_id: int, data: ItemInput) -> AnnualWheelItem:
    item = get_item(ctx, item_id)
    _validate(ctx, data)
    changed = sorted(k for k in _FIELDS if getattr(item, k) != getattr(data, k))
    for k in changed:
        setattr(item, k, getattr(data, k))
    if changed:
        item.updated_at = ctx.now()
        ctx.session.flush()
        audit.record(ctx, AuditAction.ANNUAL_WHEEL_UPDATED, object_type="annual_wheel",
                     object_id=item.id, basis="annual_wheel_keeper", fields=changed)
    return item


def delete_item(ctx: Ctx, item_id: int) -> str:
    """Remove a routine (it holds no personal data, and nothing refers to it); returns its
    title, for the confirmation."""
    item = get_item(ctx, item_id)
    title = item.title
    audit.record(ctx, AuditAction.ANNUAL_WHEEL_DELETED, object_type="annual_wheel",
                 object_id=item.id, basis="annual_wheel_keeper", kind=item.kind,
                 unit_id=item.unit_id)
    ctx.session.delete(item)
    ctx.session.flush()
    return title


# --- what staff see -------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """A routine on its dates in one year (or a catalogue review on its date)."""

    kind: str
    title: str
    starts_on: date
    ends_on: date  # the last day (the start for a one-day routine)
    description: str = ""
    yearly: bool = False
    unit_name: str | None = None  # None: the whole municipality
    responsible: str = ""
    item_id: int | None = None
    #: A catalogue item's yearly review (its id), not a routine of the wheel.
    catalogue_item_id: int | None = None
    overdue: bool = False


@dataclass(frozen=True)
class Month:
    first: date
    occurrences: list[Occurrence] = field(default_factory=list)


def _in_year(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=year, day=28)


def _month_start(day: date, months: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def visible_items(ctx: Ctx) -> list[AnnualWheelItem]:
    """The routines the actor sees: the whole municipality's and their own unit's."""
    _require(ctx, may_read_annual_wheel)
    where: list[ColumnElement[bool]] = [AnnualWheelItem.unit_id.is_(None)]
    if ctx.actor.unit_id is not None:
        where.append(AnnualWheelItem.unit_id == ctx.actor.unit_id)
    return list(ctx.session.scalars(select(AnnualWheelItem).where(
        AnnualWheelItem.municipality_id == ctx.actor.municipality_id, or_(*where))
        .order_by(AnnualWheelItem.starts_on, AnnualWheelItem.title, AnnualWheelItem.id)))


def _unit_names(ctx: Ctx, items: list[AnnualWheelItem]) -> dict[int, str]:
    ids = {i.unit_id for i in items if i.unit_id is not None}
    if not ids:
        return {}
    rows = ctx.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids)))
    return {r[0]: r[1] for r in rows}


def _reviews(ctx: Ctx) -> list[MeasureCatalogueItem]:
    """The catalogue's active items with a review date, for the catalogue's keepers."""
    if not may_view_catalogue(ctx.actor):
        return []
    return list(ctx.session.scalars(select(MeasureCatalogueItem).where(
        MeasureCatalogueItem.municipality_id == ctx.actor.municipality_id,
        MeasureCatalogueItem.active.is_(True),
        MeasureCatalogueItem.review_due_on.is_not(None))
        .order_by(MeasureCatalogueItem.review_due_on, MeasureCatalogueItem.name)))


def year_ahead(ctx: Ctx) -> list[Month]:
    """The twelve months from the current one, each with what starts in it, by date; a routine
    going on today, and an overdue catalogue review, in the current month."""
    items = visible_items(ctx)
    today = ctx.today()
    first = _month_start(today)
    end = _month_start(today, MONTHS)  # exclusive
    units = _unit_names(ctx, items)
    months = [Month(_month_start(today, n)) for n in range(MONTHS)]

    def place(o: Occurrence) -> None:
        start = max(o.starts_on, first)
        months[(start.year - first.year) * 12 + start.month - first.month].occurrences.append(o)

    for item in items:
        length = (item.ends_on - item.starts_on) if item.ends_on else timedelta(0)
        years = (range(max(first.year - 1, item.starts_on.year), end.year + 1) if item.yearly
                 else (item.starts_on.year,))
        for year in years:
            start = _in_year(item.starts_on, year) if item.yearly else item.starts_on
            last = start + length
            if start >= end or (start < first and last < today):
                continue  # after the twelve months, or over before today
            place(Occurrence(
                kind=item.kind, title=item.title, starts_on=start, ends_on=last,
                description=item.description, yearly=item.yearly,
                unit_name=units.get(item.unit_id) if item.unit_id is not None else None,
                responsible=item.responsible, item_id=item.id))
    for c in _reviews(ctx):
        due = c.review_due_on
        if due is None or due >= end:
            continue
        place(Occurrence(kind=CATALOGUE_REVIEW, title=c.name, starts_on=due, ends_on=due,
                         catalogue_item_id=c.id, overdue=due < today))
    for m in months:
        m.occurrences.sort(key=lambda o: (o.starts_on, o.catalogue_item_id is not None, o.title))
    return months


# --- the calendar ---------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def vevents(ctx: Ctx, *, host: str, gettext: Callable[[str], str],
            kind_label: Callable[[str], str] | None = None) -> list[VEvent]:
    """The actor's annual wheel as calendar events (see the module text); none for an actor
    who may not read it."""
    if not may_read_annual_wheel(ctx.actor):
        return []
    out: list[VEvent] = []
    for item in visible_items(ctx):
        ev = VEvent()
        ev.add("uid", f"bti-wheel-{item.id}@{host}")
        ev.add("dtstamp", _utc(item.updated_at))
        ev.add("last-modified", _utc(item.updated_at))
        ev.add("dtstart", item.starts_on)
        ev.add("dtend", (item.ends_on or item.starts_on) + timedelta(days=1))
        ev.add("summary", gettext(SUMMARY) % {"title": item.title})
        if item.description or item.responsible:
            ev.add("description", "\n\n".join(t for t in (item.description, item.responsible)
                                              if t))
        if kind_label is not None:
            ev.add("categories", [kind_label(item.kind)])
        if item.yearly:
            ev.add("rrule", {"freq": "yearly"})
        ev.add("transp", "TRANSPARENT")
        out.append(ev)
    for c in _reviews(ctx):
        if c.review_due_on is None:
            continue
        ev = VEvent()
        ev.add("uid", f"bti-catalogue-review-{c.id}@{host}")
        ev.add("dtstamp", _utc(c.updated_at))
        ev.add("last-modified", _utc(c.updated_at))
        ev.add("dtstart", c.review_due_on)
        ev.add("dtend", c.review_due_on + timedelta(days=1))
        ev.add("summary", gettext(REVIEW_SUMMARY) % {"name": c.name})
        ev.add("transp", "TRANSPARENT")
        out.append(ev)
    return out


def calendar_ics(ctx: Ctx, *, host: str, gettext: Callable[[str], str],
                 kind_label: Callable[[str], str] | None = None) -> bytes:
    """The actor's annual wheel as an ICS file (every routine they see, yearly ones with
    ``RRULE:FREQ=YEARLY``, and for the catalogue's keepers its reviews)."""
    _require(ctx, may_read_annual_wheel)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", gettext(CALENDAR_NAME))
    for ev in vevents(ctx, host=host, gettext=gettext, kind_label=kind_label):
        cal.add_component(ev)
    return cal.to_ical()
