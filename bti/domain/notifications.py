"""The notification outbox: delivery rows written in the same transaction as the event that
causes them, per-user delivery preferences, and private calendar feeds.

``Notification`` (``bti.domain.cases``) is the in-app notice; a ``NotificationDelivery`` is its
e-mail, waiting in the outbox until ``bti notify send`` claims and sends it. Neither holds
anything about the child: ids in ``details``, a kind, and a link.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from bti.domain.base import Base

#: How a user wants an event: each one by e-mail now, in a daily digest, or in the app only.
DELIVERY_MODES = ("now", "digest", "app")

#: A delivery row's life: waiting (or waiting to be retried), sent, or given up after the last
#: retry (the in-app notice still stands).
DELIVERY_STATUSES = ("pending", "sent", "failed")


class NotificationDelivery(Base):
    """One e-mail of one notification (the outbox row). ``next_attempt_at`` is when a sender
    may take it next; a sender claims it by setting ``claimed_by``/``claimed_until`` (on
    PostgreSQL under ``FOR UPDATE SKIP LOCKED``), so two senders never send it twice and a
    sender that died releases it when its claim lapses. ``last_error`` is the SMTP error's class
    and code, never message content."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel"),
        CheckConstraint("mode in ('now', 'digest')", name="notification_delivery_mode"),
        CheckConstraint("status in ('pending', 'sent', 'failed')",
                        name="notification_delivery_status"),
        Index("ix_notification_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: No index of its own: the unique (notification_id, channel) leads with it.
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"))
    #: No index: no query looks deliveries up by user (the sender claims by due time).
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    channel: Mapped[str] = mapped_column(String(10), default="email")
    mode: Mapped[str] = mapped_column(String(10), default="now")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class NotificationPreference(Base):
    """A user's choice for one event kind; without a row the event's default applies
    (``bti.services.notify.events``)."""

    __tablename__ = "notification_preference"
    __table_args__ = (
        CheckConstraint("mode in ('now', 'digest', 'app')", name="notification_preference_mode"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))


class CalendarFeed(Base):
    """A user's private ICS feed. Only the token's SHA-256 is stored (the token is shown once);
    revoking sets ``revoked_at`` and the URL stops answering at once."""

    __tablename__ = "calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
