"""The municipality's catalogue of measures (tiltaksoversikt), its annual wheel (årshjul) of BTI
routines, and the write-time aggregates the leaders' dashboards read.

``analytics_counter`` holds counts only (no case ids, no names): one row per municipality, unit,
month, metric, key and whole days. It is maintained in the same transaction as the event by
``bti.services.analytics.aggregates`` and can be rebuilt from the source tables and the stafettlogg
with ``bti.services.analytics.aggregates.recompute``.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from bti.domain.base import Base

#: Kinds of prevention a measure belongs to (universal / selective / indicated).
CATALOGUE_KINDS = ("universal", "selective", "indicated")
AGE_MIN, AGE_MAX = 0, 24
#: Who delivers a measure: the municipality's own service, an inter-municipal service
#: (interkommunalt samarbeid) or a service the municipality buys (kjøpt tjeneste).
CATALOGUE_DELIVERIES = ("own", "inter_municipal", "bought")


class MeasureCatalogueItem(Base):
    """One measure of the municipality's tiltaksoversikt, chosen from when a measure starts."""

    __tablename__ = "measure_catalogue"
    __table_args__ = (
        UniqueConstraint("municipality_id", "name"),
        CheckConstraint("age_from BETWEEN 0 AND 24 AND age_to BETWEEN 0 AND 24 "
                        "AND age_from <= age_to", name="age_range"),
        CheckConstraint("kind IN ('universal', 'selective', 'indicated')", name="kind"),
        CheckConstraint("delivery IN ('own', 'inter_municipal', 'bought')", name="delivery"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20))
    age_from: Mapped[int]
    age_to: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    #: The municipal service (unit) that offers the measure, if one does.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    #: Who runs it (a service, a team, a partner), as the municipality names it.
    provider: Mapped[str] = mapped_column(String(200), default="", server_default="")
    #: ``CATALOGUE_DELIVERIES``: own service, inter-municipal or bought.
    delivery: Mapped[str] = mapped_column(String(20), default="own", server_default="own")
    #: When the item is next to be reviewed (the yearly review, "årleg oppdatering").
    review_due_on: Mapped[date | None]
    #: When it was last reviewed.
    reviewed_on: Mapped[date | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<MeasureCatalogueItem {self.id}>"


#: Kinds of routine in the annual wheel (årshjul): a training, a mapping period
#: (kartleggingsperiode), a yearly review, a network meeting, anything else.
WHEEL_KINDS = ("training", "mapping", "review", "network", "other")


class AnnualWheelItem(Base):
    """One routine of the municipality's annual wheel (årshjul) of BTI: for the whole
    municipality (``unit_id`` None) or for one unit, on a date or over a range of dates, once or
    every year. Organisation data, no personal data (``bti.services.workflows.annual_wheel``)."""

    __tablename__ = "annual_wheel_item"
    __table_args__ = (
        CheckConstraint("kind IN ('training', 'mapping', 'review', 'network', 'other')",
                        name="kind"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="date_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    #: The unit it is for; None: the whole municipality.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    starts_on: Mapped[date]
    #: The last day of a period; None: one day.
    ends_on: Mapped[date | None]
    #: Every year on the same dates (True) or once.
    yearly: Mapped[bool] = mapped_column(default=True)
    #: Who is responsible, as the municipality names it (a role or a service, never a person).
    responsible: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<AnnualWheelItem {self.id}>"


class AnalyticsCounter(Base):
    """A count kept at write time. ``metric``/``key``:

    - ``flow`` / ``"n1>n2"``: a case left level n1 for n2 (or ``closed``) this month;
    - ``stay`` / ``"n1"``: a case left level n1 this month after ``days`` whole days there;
    - ``handover`` / ``proposed``, ``accepted`` (``days`` after it was proposed), ``declined``;
    - ``evaluation`` / ``voice`` or ``no_voice``: an evaluation with or without the child's
      own words recorded;
    - ``measure_started`` / catalogue id (``"-"`` for free text): a measure was started;
    - ``measure_evaluated`` / ``"<catalogue id>:<effect>"``: a measure was evaluated.
    """

    __tablename__ = "analytics_counter"
    __table_args__ = (
        UniqueConstraint("municipality_id", "metric", "month", "unit_id", "key", "days",
                         name="uq_analytics_counter_cell"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    #: The unit of the cases counted, or 0 for the whole municipality (every cell is kept for
    #: both). Not a foreign key because of that 0.
    unit_id: Mapped[int]
    #: "YYYY-MM", the month of the event in Norwegian time.
    month: Mapped[str] = mapped_column(String(7))
    metric: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(60))
    days: Mapped[int] = mapped_column(default=0)
    n: Mapped[int] = mapped_column(default=0)
