"""Sending the outbox: ``deliver_due`` claims the e-mail delivery rows that are due, sends them
through SMTP outside any database transaction, and records each result (``bti notify send``,
from cron or a systemd timer; docs/deployment.md). The request that caused a notification never
sends mail, so a slow or failing mail server cannot fail or slow it.

Claiming. A short transaction marks up to ``batch`` due rows as this sender's
(``claimed_by``/``claimed_until``, a lease of ``LEASE``): one ``UPDATE … WHERE id IN (SELECT …
FOR UPDATE SKIP LOCKED) RETURNING`` on PostgreSQL, so concurrent senders take disjoint rows
without waiting; on SQLite the same conditional UPDATE under ``BEGIN IMMEDIATE`` (writers queue).
A row is due when it is pending, its ``next_attempt_at`` has come and no live lease holds it.
Each result is committed right after its message was sent (or refused), releasing the row.

Guarantees. Two live senders never send the same row: a row is claimed by one of them, and a
sender stops sending its batch when half its lease has gone (the rest is released unsent). A
sender that dies leaves its claimed rows to the next sender once the lease lapses: nothing is
lost. The one window for a second copy is a crash between the server accepting a message and the
commit of its result: that row is sent again after the lease (at-least-once delivery; the copy
carries the same ``Message-ID``, so mail clients can tell).

Failures. A refused or failed send counts an attempt, records the error's class and SMTP code
only (``last_error``, never message content) and retries after ``BACKOFF`` (1, 5, 15, 60, 240
minutes); after ``MAX_ATTEMPTS`` the row is ``failed``. A permanent refusal of the recipient
(SMTP 5xx) fails the row at once. A user who was deactivated or has no e-mail address any more
fails with ``inactive`` / ``no_address``, without contacting the server, and an address no mail
can carry with ``bad_address``. The in-app notice
(``Notification``) always stands.

Digest. Rows in mode ``digest`` go out once a day: from ``digest_hour`` (Oslo time) every row
created before that day's hour is due, and a user's due rows go in one mail listing their titles
and links.

Content. Subject and body hold what kind of task it is (``texts.title``) and a link to the
notice in the app, in the recipient's language: nothing about the child, no names (Normen's rule
for e-mail)."""

from __future__ import annotations

import hashlib
import html
import json
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from bti.config import MailSettings
from bti.domain.cases import Notification
from bti.domain.clock import OSLO
from bti.domain.clock import local
from bti.domain.notifications import NotificationDelivery
from bti.domain.org import MALFORMS
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.render.i18n import translations
from bti.services.notify import calendar
from bti.services.notify import texts
from bti.services.notify.events import Event
from bti.services.notify.texts import N_

#: Minutes before the 2nd, 3rd … attempt; the attempt after the last of them is the final one.
BACKOFF = (1, 5, 15, 60, 240)
MAX_ATTEMPTS = len(BACKOFF) + 1
#: How long a claim holds a row. A sender stops sending its batch at half of it.
LEASE = timedelta(minutes=10)
#: Where a notice is in the app (after BTI_BASE_URL).
NOTIFICATION_PATH = "/varsler/{id}"
#: The languages a mail can be in (as the web UI: bti.web.i18n.LANGUAGES).
LANGUAGES = ("nb", "nn", "en")
DEFAULT_LANGUAGE = "nb"


#: Kinds that are never listed in a digest: a digest user gets each at the digest hour, in a
#: mail of its own (a calendar client reads one invitation per message).
OWN_MAIL = frozenset({Event.MEETING_INVITATION.value})

SUBJECT_DIGEST = N_("BTI: your notifications of the day")
INTRO_ONE = N_("You have a new notification in BTI:")
INTRO_DIGEST = N_("Your new notifications in BTI:")
OPEN = N_("Open in BTI")
FOOTER = N_("This e-mail holds nothing about the child. Sign in to BTI to read more. "
            "You choose which notifications you get by e-mail in BTI's settings.")


@dataclass
class Counts:
    """What one run did: sent (rows delivered), retried (failed, will be tried again), failed
    (given up: after the last attempt, refused for good, or no address), released (claimed but
    left unsent for the next run when the lease ran short)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0

    def add(self, other: Counts) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.released += other.released

    def __str__(self) -> str:
        return f"sent {self.sent}, retried {self.retried}, failed {self.failed}"


def language_of(locale: str | None, malform: str | None) -> str:
    """The user's chosen language, else the municipality's målform, else bokmål (the rule of
    ``bti.web.i18n.select_locale`` without a browser)."""
    if locale in LANGUAGES:
        return str(locale)
    if malform in MALFORMS:
        return str(malform)
    return DEFAULT_LANGUAGE


def digest_cutoff(now: datetime, hour: int) -> datetime:
    """The latest digest time (``hour`` o'clock in Oslo) at or before ``now``: digest rows
    created before it are due."""
    today = local(now).date()
    at = _at_hour(today, hour)
    if at > now:
        at = _at_hour(today - timedelta(days=1), hour)
    return at


def _at_hour(day, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=OSLO).astimezone(UTC)


# --- claiming ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A claimed delivery with what its mail needs (ids, kind, address, language)."""

    id: int
    notification_id: int
    kind: str
    attempts: int
    mode: str
    created_at: datetime
    user_id: int
    email: str | None
    active: bool
    lang: str
    case_id: int | None = None
    details: str = "{}"

    def details_dict(self) -> dict[str, Any]:
        try:
            value = json.loads(self.details or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def _due(now: datetime):
    d = NotificationDelivery
    return and_(d.status == "pending", d.channel == "email", d.next_attempt_at <= now,
                or_(d.claimed_until.is_(None), d.claimed_until < now))


def claim(session: Session, now: datetime, *, worker_id: str, batch: int,
          digest_before: datetime | None) -> list[Row]:
    """Claim up to ``batch`` due rows of mode ``now`` and, when ``digest_before`` is given, the
    due digest rows created before it (all of a user's at once), in the caller's transaction."""
    d = NotificationDelivery
    claimed: list[int] = []
    lease = now + LEASE
    wanted = [select(d.id).where(_due(now), d.mode == "now").order_by(d.next_attempt_at, d.id)
              .limit(batch)]
    if digest_before is not None:
        wanted.append(select(d.id).where(_due(now), d.mode == "digest",
                                         d.created_at < digest_before)
                      .order_by(d.user_id, d.id).limit(batch * 20))
    for sub in wanted:
        ids = sub.with_for_update(skip_locked=True).scalar_subquery()
        stmt = (update(d).where(d.id.in_(ids), _due(now))
                .values(claimed_by=worker_id, claimed_until=lease)
                .returning(d.id, d.user_id))
        got: list[tuple[int, int]] = [(i, u) for i, u in session.execute(
            stmt, execution_options={"synchronize_session": False})]
        if sub is wanted[-1] and digest_before is not None and len(got) == batch * 20:
            # the limit may have cut the last user's digest in two: leave that user for later
            last = max(u for _, u in got)
            if any(u != last for _, u in got):
                back = [i for i, u in got if u == last]
                session.execute(update(d).where(d.id.in_(back))
                                .values(claimed_by=None, claimed_until=None),
                                execution_options={"synchronize_session": False})
                got = [(i, u) for i, u in got if u != last]
        claimed.extend(i for i, _ in got)
    if not claimed:
        return []
    rows = session.execute(
        select(d.id, d.notification_id, Notification.kind, d.attempts, d.mode, d.created_at,
               User.id, User.email, User.active, User.locale, Municipality.malform,
               Notification.case_id, Notification.details)
        .join(Notification, Notification.id == d.notification_id)
        .join(User, User.id == d.user_id)
        .join(Municipality, Municipality.id == User.municipality_id)
        .where(d.id.in_(claimed)).order_by(d.id)).all()
    return [Row(id=r[0], notification_id=r[1], kind=r[2], attempts=r[3], mode=r[4],
                created_at=r[5], user_id=r[6], email=r[7], active=bool(r[8]),
                lang=language_of(r[9], r[10]), case_id=r[11], details=r[12]) for r in rows]


# --- recording results ------------------------------------------------------------------------


def _record(session_factory: sessionmaker[Session], rows: list[Row], worker_id: str,
            now: datetime, *, sent: bool = False, error: str | None = None,
            permanent: bool = False, release: bool = False) -> Counts:
    """One short transaction: the result of ``rows`` (one mail), only where this sender still
    holds the claim."""
    d = NotificationDelivery
    counts = Counts()
    with session_factory.begin() as session:
        for row in rows:
            mine = (d.id == row.id, d.claimed_by == worker_id, d.status == "pending")
            free = dict(claimed_by=None, claimed_until=None)
            if release:
                values: dict = free
                counts.released += 1
            elif sent:
                values = dict(free, status="sent", sent_at=now, attempts=row.attempts + 1,
                              last_error=None)
                counts.sent += 1
            else:
                attempts = row.attempts + 1
                final = permanent or attempts >= MAX_ATTEMPTS
                values = dict(free, attempts=attempts, last_error=(error or "error")[:200])
                if final:
                    values["status"] = "failed"
                    counts.failed += 1
                else:
                    values["next_attempt_at"] = now + timedelta(minutes=BACKOFF[attempts - 1])
                    counts.retried += 1
            session.execute(update(d).where(*mine).values(**values),
                            execution_options={"synchronize_session": False})
    return counts


def error_code(err: BaseException) -> str:
    """The error's class and SMTP code, never its text (which may quote the message)."""
    code = getattr(err, "smtp_code", None)
    if code is None and isinstance(err, smtplib.SMTPRecipientsRefused) and err.recipients:
        code = next(iter(err.recipients.values()))[0]
    return f"{type(err).__name__} {code}" if code else type(err).__name__


def _permanent(err: BaseException) -> bool:
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return bool(err.recipients) and all(500 <= c < 600 for c, _ in err.recipients.values())
    return False


# --- the message ------------------------------------------------------------------------------


def link(settings: MailSettings, notification_id: int) -> str:
    return settings.base_url + NOTIFICATION_PATH.format(id=notification_id)


def message_id(settings: MailSettings, rows: list[Row]) -> str:
    """The same for every copy of one delivery (a re-send after a crash is recognisable)."""
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "bti.invalid"
    seed = "|".join([settings.base_url] + [f"{r.id}:{r.created_at.isoformat()}" for r in rows])
    return f"<bti.{rows[0].id}.{hashlib.sha256(seed.encode()).hexdigest()[:20]}@{domain}>"


def build_message(settings: MailSettings, rows: list[Row], now: datetime) -> EmailMessage:
    """One mail to one user: one notice (mode now) or their digest. Plain text and HTML."""
    t = translations(rows[0].lang)
    items = [(texts.title(r.kind, lang=r.lang, details=r.details_dict()),
              link(settings, r.notification_id)) for r in rows]
    digest = rows[0].mode == "digest" and rows[0].kind not in OWN_MAIL
    subject = t.gettext(SUBJECT_DIGEST) if digest else f"BTI: {items[0][0]}"
    intro = t.gettext(INTRO_DIGEST if digest else INTRO_ONE)
    footer = t.gettext(FOOTER)
    opener = t.gettext(OPEN)

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = str(rows[0].email)
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(settings, rows)
    msg["Auto-Submitted"] = "auto-generated"
    lines = [intro, ""]
    for title, url in items:
        lines += [f"- {title}", f"  {opener}: {url}"]
    lines += ["", "-- ", footer]
    msg.set_content("\n".join(lines) + "\n")
    entries = "".join(
        f'<li>{html.escape(title)}<br><a href="{html.escape(url)}">{html.escape(opener)}</a></li>'
        for title, url in items)
    msg.add_alternative(
        f'<!DOCTYPE html>\n<html lang="{rows[0].lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head><body>"
        f"<p>{html.escape(intro)}</p><ul>{entries}</ul>"
        f"<p><small>{html.escape(footer)}</small></p></body></html>\n", subtype="html")
    if len(rows) == 1 and rows[0].kind == Event.MEETING_INVITATION.value:
        _attach_invitation(msg, settings, rows[0], now)
    msg["Content-Language"] = rows[0].lang  # after the parts: set_content drops Content-*
    return msg


def invitation(settings: MailSettings, row: Row, now: datetime) -> tuple[str, bytes] | None:
    """The iTIP method and ICS of a meeting invitation, built now from the notice's details
    (the case number, the date, the change and the case's version at the time): the feed's
    UID, ``SEQUENCE`` the case's version, the recipient the one attendee, the sender the
    organiser; the summary names only "BTI" and the case number, and links to the notice.
    None when the details do not describe a meeting (the mail goes without it)."""
    d = row.details_dict()
    case_id = d.get("case_id", row.case_id)
    if not isinstance(case_id, int) or not isinstance(d.get("sequence"), int):
        return None
    try:
        on = date.fromisoformat(str(d.get("on")))
    except ValueError:
        return None
    method = calendar.CANCEL if d.get("change") == "cancelled" else calendar.REQUEST
    host = urlsplit(settings.base_url).hostname or "bti"
    ics = calendar.invitation_ics(
        case_id=case_id, on=on, sequence=d["sequence"], host=host, method=method,
        gettext=translations(row.lang).gettext, stamp=now, modified=row.created_at,
        attendees=[str(row.email)], organizer=parseaddr(settings.mail_from)[1] or None,
        url=link(settings, row.notification_id))
    return method, ics


def _attach_invitation(msg: EmailMessage, settings: MailSettings, row: Row,
                       now: datetime) -> None:
    """The invitation as calendar clients look for it: a ``text/calendar; method=…``
    alternative beside the text and HTML, and the same ICS as an ``invite.ics`` attachment."""
    built = invitation(settings, row, now)
    if built is None:
        return
    method, ics = built
    text = ics.decode()
    msg.add_alternative(text, subtype="calendar", params={"method": method})
    msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")


# --- SMTP -------------------------------------------------------------------------------------


@contextmanager
def connect(settings: MailSettings) -> Iterator[smtplib.SMTP]:
    """An SMTP session as ``settings`` say: STARTTLS required on ``smtp://`` (the mail is not
    sent to a server that does not offer it), TLS on ``smtps://``, certificates verified."""
    context = ssl.create_default_context()
    server: smtplib.SMTP
    if settings.security == "tls":
        server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                  context=context)
    else:
        server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        server.ehlo()
        if settings.security == "starttls":
            server.starttls(context=context)  # SMTPNotSupportedError if not offered
            server.ehlo()
        if settings.username:
            server.login(settings.username, settings.password or "")
        yield server
    finally:
        try:
            server.quit()
        except (smtplib.SMTPException, OSError):
            server.close()


# --- the run ----------------------------------------------------------------------------------


def deliver_due(session_factory: sessionmaker[Session], smtp: MailSettings, now: datetime, *,
                worker_id: str, batch: int = 50) -> Counts:
    """Claim the rows due at ``now`` (up to ``batch`` single notices, and the digests when the
    day's digest hour has come), send them, record each result. Returns the counts."""
    cutoff = digest_cutoff(now, smtp.digest_hour)
    with session_factory.begin() as session:
        rows = claim(session, now, worker_id=worker_id, batch=batch, digest_before=cutoff)
    counts = Counts()
    if not rows:
        return counts
    mails: list[list[Row]] = []
    digests: dict[int, list[Row]] = {}
    for row in rows:
        if row.mode == "digest" and row.kind not in OWN_MAIL:
            digests.setdefault(row.user_id, []).append(row)
        else:
            mails.append([row])
    mails.extend(digests.values())

    started = time.monotonic()
    deadline = started + LEASE.total_seconds() / 2
    server: smtplib.SMTP | None = None
    session_cm = None
    down: str | None = None  # the server cannot be reached: the rest of the batch waits
    try:
        for mail in mails:
            first = mail[0]
            if not first.active or not first.email:
                counts.add(_record(session_factory, mail, worker_id, now, permanent=True,
                                   error="inactive" if not first.active else "no_address"))
                continue
            if down is not None:
                counts.add(_record(session_factory, mail, worker_id, now, error=down))
                continue
            if time.monotonic() > deadline:
                counts.add(_record(session_factory, mail, worker_id, now, release=True))
                continue
            if server is None:
                try:
                    session_cm = connect(smtp)
                    server = session_cm.__enter__()
                except (smtplib.SMTPException, OSError) as err:
                    session_cm = None
                    down = error_code(err)
                    counts.add(_record(session_factory, mail, worker_id, now, error=down))
                    continue
            try:
                message = build_message(smtp, mail, now)
            except (ValueError, TypeError):  # an address no header can hold (a line break …)
                counts.add(_record(session_factory, mail, worker_id, now, permanent=True,
                                   error="bad_address"))
                continue
            try:
                server.send_message(message)
            except UnicodeEncodeError:  # a non-ASCII address and a server without SMTPUTF8
                counts.add(_record(session_factory, mail, worker_id, now, permanent=True,
                                   error="bad_address"))
                continue
            except (smtplib.SMTPException, OSError) as err:
                counts.add(_record(session_factory, mail, worker_id, now, error=error_code(err),
                                   permanent=_permanent(err)))
                if not isinstance(err, (smtplib.SMTPRecipientsRefused,
                                        smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) \
                        or getattr(err, "smtp_code", 0) == 421:
                    _close(session_cm)  # the connection is gone: the next mail reconnects
                    server = session_cm = None
                continue
            counts.add(_record(session_factory, mail, worker_id, now, sent=True))
    finally:
        _close(session_cm)
    return counts


def _close(session_cm) -> None:
    if session_cm is None:
        return
    with suppress(smtplib.SMTPException, OSError):
        session_cm.__exit__(None, None, None)
