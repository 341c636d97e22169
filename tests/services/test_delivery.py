"""E-mail delivery from the outbox (``bti.services.notify.delivery``) through a real SMTP server
(aiosmtpd) on loopback: the mails received (headers, both parts, the recipient's language,
nothing about the child), retries with backoff across a server that goes down mid-run, nothing
lost and nothing sent twice, the final failure keeping the in-app notice, the daily digest, and
two senders against one outbox."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy import update

from bti.config import ConfigError
from bti.config import MailSettings
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Notification
from bti.domain.notifications import NotificationDelivery
from bti.domain.notifications import NotificationPreference
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.notify import delivery
from bti.services.notify.delivery import BACKOFF
from bti.services.notify.delivery import MAX_ATTEMPTS
from bti.services.notify.delivery import deliver_due
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit
from bti.services.notify.texts import title
from tests.conftest import World
from tests.dbs import ON_POSTGRES
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import make_user
from tests.smtp import LINK
from tests.smtp import Server

PSEUDONYM = "Testbarn Fjordheim"
@pytest.fixture
def smtp():
    server = Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def factory(engine):
    return make_session_factory(engine)


@pytest.fixture
def w(factory, registry):
    """The ``World`` of tests/conftest.py, committed (the sender works in its own sessions)."""
    with factory.begin() as session:
        world = World(session, registry, "bti-standard")
    return world


def notify(factory, registry, w, event: Event, user_ids, *, key, case_id=None, at=FIXED_NOW):
    with factory.begin() as s:
        ctx = Ctx(session=s, actor=s.get(User, w.admin.id), workflows=registry, now=lambda: at)
        return emit(ctx, event, user_ids, key=key, case_id=case_id)


def rows(factory) -> list[NotificationDelivery]:
    with factory() as s:
        return list(s.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def run(factory, server: Server, at, *, worker="w1", batch=50, **kw):
    return deliver_due(factory, server.settings(**kw), at, worker_id=worker, batch=batch)


# --- settings ---------------------------------------------------------------------------------

MAIL_ENV = {"BTI_MAIL_FROM": "BTI <bti@kommune.invalid>", "BTI_BASE_URL": "https://bti.invalid"}


def test_the_smtp_url_scheme():
    s = MailSettings.from_env({**MAIL_ENV, "BTI_SMTP_URL":
                               "smtp://bti%40kommune.invalid:p%40ss%3Aord@smtp.kommune.invalid"})
    assert (s.host, s.port, s.security) == ("smtp.kommune.invalid", 587, "starttls")
    assert (s.username, s.password) == ("bti@kommune.invalid", "p@ss:ord")
    assert "p@ss" not in repr(s)
    assert "bti@kommune.invalid:" not in repr(s)
    assert s.server == "smtp://smtp.kommune.invalid:587"
    s = MailSettings.from_env({**MAIL_ENV, "BTI_SMTP_URL": "smtps://smtp.kommune.invalid",
                               "BTI_MAIL_REPLY_TO": "hjelp@kommune.invalid",
                               "BTI_DIGEST_HOUR": "6"})
    assert (s.port, s.security, s.reply_to, s.digest_hour) == (465, "tls",
                                                               "hjelp@kommune.invalid", 6)
    s = MailSettings.from_env({**MAIL_ENV, "BTI_SMTP_URL": "smtp://127.0.0.1:2525?tls=none"})
    assert (s.port, s.security) == (2525, "none")


@pytest.mark.parametrize(("env", "message"), [
    ({}, "BTI_SMTP_URL is not set"),
    ({"BTI_SMTP_URL": "http://smtp.kommune.invalid"}, "must start with smtp://"),
    ({"BTI_SMTP_URL": "smtp://u:hemmeleg@smtp.kommune.invalid:99999"}, "not a valid URL"),
    ({"BTI_SMTP_URL": "smtp://u:hemmeleg@smtp.kommune.invalid?tls=none"}, "this machine only"),
    ({"BTI_SMTP_URL": "smtps://127.0.0.1?tls=none"}, "the only tls parameter"),
    ({"BTI_SMTP_URL": "smtp://smtp.kommune.invalid?verify=0"}, "unknown parameter 'verify'"),
    ({"BTI_SMTP_URL": "smtp://smtp.kommune.invalid", "BTI_MAIL_FROM": "bti"},
     "BTI_MAIL_FROM is not an e-mail address"),
    ({"BTI_SMTP_URL": "smtp://smtp.kommune.invalid", "BTI_BASE_URL": "bti.invalid"},
     "BTI_BASE_URL must be"),
    ({"BTI_SMTP_URL": "smtp://smtp.kommune.invalid", "BTI_DIGEST_HOUR": "24"},
     "BTI_DIGEST_HOUR must be an hour"),
])
def test_a_bad_mail_setting_is_named_and_the_password_never_shown(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        MailSettings.from_env({**MAIL_ENV, **env})
    assert "hemmeleg" not in str(err.value)


def test_the_digest_cutoff_is_the_hour_in_oslo():
    # FIXED_NOW is 2026-03-02 09:00 UTC, 10:00 in Oslo (winter time)
    assert delivery.digest_cutoff(FIXED_NOW, 7) == FIXED_NOW.replace(hour=6)
    assert delivery.digest_cutoff(FIXED_NOW, 11) == FIXED_NOW.replace(day=1, hour=10)
    summer = FIXED_NOW.replace(month=7)
    assert delivery.digest_cutoff(summer, 7) == summer.replace(hour=5)


# --- sending ----------------------------------------------------------------------------------


def test_each_notice_is_mailed_once_in_the_recipients_language_without_the_child(
        factory, registry, w, smtp):
    with factory.begin() as s:
        nn_town = s.get(Municipality, w.municipality.id)
        nn_town.malform = "nn"
        s.get(User, w.teacher.id).locale = "nb"
        s.get(User, w.nurse.id).locale = "en"
        # the new concern's notice to the unit's leader stays in the app: only the
        # appointments below are mailed
        s.add(NotificationPreference(user_id=w.leader.id, event=Event.CONCERN_NEW.value,
                                     mode="app"))
        ctx = Ctx(session=s, actor=s.get(User, w.teacher.id), workflows=registry,
                  now=lambda: FIXED_NOW)
        case_id = cases.open_case(ctx, unit_id=w.school.id, child_pseudonym=PSEUDONYM,
                                  child_birth_year=2016, concern=CONCERN).case.id
        names = [u.display_name for u in s.scalars(select(User))]
    # the coordinator has no language of their own: the municipality's målform (nn)
    recipients = {w.teacher.id: "nb", w.coordinator.id: "nn", w.nurse.id: "en"}
    notify(factory, registry, w, Event.APPOINTED, recipients, key=case_id, case_id=case_id)

    counts = run(factory, smtp, FIXED_NOW)
    assert (counts.sent, counts.retried, counts.failed) == (3, 0, 0)
    got = {m["To"].addresses[0].addr_spec: m for m in smtp.inbox.parsed()}
    assert len(smtp.inbox.messages) == 3
    with factory() as s:
        emails = {u.id: u.email for u in s.scalars(select(User))}
        notes = {n.user_id: n.id for n in s.scalars(select(Notification))}
    for user_id, lang in recipients.items():
        msg = got[emails[user_id]]
        expected = title(Event.APPOINTED, lang=lang)
        assert msg["Subject"] == f"BTI: {expected}"
        assert msg["From"] == "BTI <bti@kommune.invalid>"
        assert msg["Reply-To"] == "hjelp@kommune.invalid"
        assert msg["Date"].datetime == FIXED_NOW
        assert re.fullmatch(r"<bti\.\d+\.[0-9a-f]{20}@kommune\.invalid>", msg["Message-ID"])
        assert msg["Content-Language"] == lang
        assert msg.get_content_type() == "multipart/alternative"
        plain = msg.get_body(("plain",)).get_content()
        html_part = msg.get_body(("html",)).get_content()
        url = f"https://bti.kommune.invalid/varsler/{notes[user_id]}"
        for part in (plain, html_part):
            assert expected in part
            assert url in part
        assert f'lang="{lang}"' in html_part
    assert got[emails[w.coordinator.id]]["Subject"] == "BTI: Du er utnemnd til stafetthaldar"
    assert got[emails[w.nurse.id]]["Subject"] == "BTI: You were appointed stafettholder"
    # nothing about the child, nobody's name: in the raw message or any decoded part
    for (_, raw), msg in zip(smtp.inbox.messages, smtp.inbox.parsed(), strict=True):
        decoded = "\n".join(p.get_content() for p in msg.walk() if not p.is_multipart())
        for text in (raw.decode("utf-8", "replace"), decoded, str(msg["Subject"])):
            assert PSEUDONYM not in text
            assert "Fjordheim" not in text
            assert not [n for n in names if n in text]
            assert "2016" not in text

    for row in rows(factory):
        assert (row.status, row.attempts, row.sent_at, row.claimed_by, row.last_error) == (
            "sent", 1, FIXED_NOW, None, None)
    again = run(factory, smtp, FIXED_NOW + timedelta(hours=1))
    assert (again.sent, again.retried, again.failed) == (0, 0, 0)
    assert len(smtp.inbox.messages) == 3


def test_the_server_going_down_mid_run_loses_nothing_and_sends_nothing_twice(
        factory, registry, w, smtp):
    users = [make_user_committed(factory, w, f"mottakar{i}") for i in range(10)]
    notify(factory, registry, w, Event.PARTICIPANT_ADDED, users, key=1)
    smtp.go_down_after(4)

    first = run(factory, smtp, FIXED_NOW)
    assert (first.sent, first.retried, first.failed) == (4, 6, 0)
    waiting = [r for r in rows(factory) if r.status == "pending"]
    assert len(waiting) == 6
    for r in waiting:
        assert r.attempts == 1
        assert r.next_attempt_at == FIXED_NOW + timedelta(minutes=BACKOFF[0])
        assert r.last_error in ("SMTPDataError 421", "SMTPServerDisconnected",
                                "ConnectionRefusedError", "SMTPSenderRefused 421")
        assert r.claimed_by is None
    assert smtp.controller is None or wait_stopped(smtp)

    # before the backoff has passed nothing is due; then the server is still down
    assert run(factory, smtp, FIXED_NOW + timedelta(seconds=30)).retried == 0
    t = FIXED_NOW + timedelta(minutes=BACKOFF[0])
    second = run(factory, smtp, t)
    assert (second.sent, second.retried, second.failed) == (0, 6, 0)
    for r in rows(factory):
        if r.status == "pending":
            assert r.attempts == 2
            assert r.last_error == "ConnectionRefusedError"
            assert r.next_attempt_at == t + timedelta(minutes=BACKOFF[1])

    smtp.inbox.accept = None
    smtp.start()
    third = run(factory, smtp, t + timedelta(minutes=BACKOFF[1]))
    assert (third.sent, third.retried, third.failed) == (6, 0, 0)
    ids = smtp.inbox.notification_ids()
    with factory() as s:
        every = sorted(s.scalars(select(Notification.id)))
    assert sorted(ids) == every
    assert len(ids) == 10
    assert {r.status for r in rows(factory)} == {"sent"}
    assert sorted(r.attempts for r in rows(factory)) == [1] * 4 + [3] * 6


def wait_stopped(server: Server) -> bool:
    for _ in range(200):
        if server.controller is None:
            return True
        threading.Event().wait(0.05)
    return False


def make_user_committed(factory, w, username: str) -> int:
    with factory.begin() as s:
        m = s.get(Municipality, w.municipality.id)
        return make_user(s, m, None, username=username).id


def test_after_the_last_attempt_the_row_fails_and_the_in_app_notice_stands(
        factory, registry, w):
    down = Server()  # never started: nothing listens on its port
    notify(factory, registry, w, Event.CONSENT_EXPIRED, [w.coordinator.id], key=7)
    at = FIXED_NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        counts = run(factory, down, at)
        (row,) = rows(factory)
        assert row.attempts == attempt
        assert row.last_error == "ConnectionRefusedError"
        if attempt < MAX_ATTEMPTS:
            assert (counts.retried, counts.failed, row.status) == (1, 0, "pending")
            at = row.next_attempt_at
        else:
            assert (counts.retried, counts.failed, row.status) == (0, 1, "failed")
    assert run(factory, down, at + timedelta(days=1)).failed == 0  # never tried again
    with factory() as s:
        (note,) = s.scalars(select(Notification)).all()
        assert (note.user_id, note.kind, note.read_at) == (w.coordinator.id, "consent_expired",
                                                           None)


def test_a_recipient_refused_for_good_fails_at_once_and_the_others_are_sent(
        factory, registry, w, smtp):
    with factory() as s:
        refused = s.get(User, w.nurse.id).email
    smtp.inbox.refuse.add(refused)
    notify(factory, registry, w, Event.PARTICIPANT_ADDED,
           [w.nurse.id, w.teacher.id, w.coordinator.id], key=3)
    counts = run(factory, smtp, FIXED_NOW)
    assert (counts.sent, counts.retried, counts.failed) == (2, 0, 1)
    by_user = {r.user_id: r for r in rows(factory)}
    assert (by_user[w.nurse.id].status, by_user[w.nurse.id].last_error) == (
        "failed", "SMTPRecipientsRefused 550")
    assert len(smtp.inbox.messages) == 2


def test_an_inactive_user_or_one_without_address_fails_without_a_mail(
        factory, registry, w, smtp):
    notify(factory, registry, w, Event.PARTICIPANT_ADDED,
           [w.nurse.id, w.teacher.id, w.coordinator.id], key=4)
    with factory.begin() as s:
        s.get(User, w.nurse.id).active = False
        s.get(User, w.teacher.id).email = None
    counts = run(factory, smtp, FIXED_NOW)
    assert (counts.sent, counts.retried, counts.failed) == (1, 0, 2)
    by_user = {r.user_id: (r.status, r.last_error) for r in rows(factory)}
    assert by_user == {w.nurse.id: ("failed", "inactive"),
                       w.teacher.id: ("failed", "no_address"),
                       w.coordinator.id: ("sent", None)}
    assert len(smtp.inbox.messages) == 1


def test_an_address_that_would_inject_a_header_fails_without_a_mail(factory, registry, w, smtp):
    notify(factory, registry, w, Event.PARTICIPANT_ADDED, [w.nurse.id, w.teacher.id], key=8)
    with factory.begin() as s:
        s.get(User, w.nurse.id).email = "helse@bti-test.invalid\nBcc: ute@bti-test.invalid"
    counts = run(factory, smtp, FIXED_NOW)
    assert (counts.sent, counts.retried, counts.failed) == (1, 0, 1)
    by_user = {r.user_id: (r.status, r.last_error) for r in rows(factory)}
    assert by_user[w.nurse.id] == ("failed", "bad_address")
    assert [to for to, _ in smtp.inbox.messages] == [["kari@bti-test.invalid"]]


def test_smtp_without_starttls_sends_nothing_in_clear(factory, registry, w, smtp):
    notify(factory, registry, w, Event.PARTICIPANT_ADDED, [w.nurse.id], key=5)
    counts = run(factory, smtp, FIXED_NOW, security="starttls")  # the server offers no STARTTLS
    assert (counts.sent, counts.retried) == (0, 1)
    assert rows(factory)[0].last_error == "SMTPNotSupportedError"
    assert smtp.inbox.messages == []


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 (made up here), and a server TLS context holding it."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = FIXED_NOW.replace(year=2020)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now.replace(year=2100))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_tls_with_a_verified_certificate_and_a_login(
        factory, registry, w, tmp_path, monkeypatch, security):
    from aiosmtpd.smtp import AuthResult

    cert_file, context = self_signed(tmp_path)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password, bool(session.ssl)))
        ok = (auth_data.login, auth_data.password) == (b"bti@kommune.invalid", b"p@ss:ord")
        return AuthResult(success=ok)

    tls = ({"tls_context": context, "require_starttls": True, "auth_required": True}
           if security == "starttls"
           # aiosmtpd offers AUTH only after its own STARTTLS unless told the line is TLS
           else {"ssl_context": context, "auth_require_tls": False})
    server = Server(authenticator=authenticator, **tls)
    server.start()
    try:
        notify(factory, registry, w, Event.PARTICIPANT_ADDED, [w.nurse.id], key=11)
        # not trusted yet: the certificate is refused, nothing is sent, the row waits
        refused = run(factory, server, FIXED_NOW, security=security)
        assert (refused.sent, refused.retried) == (0, 1)
        assert rows(factory)[0].last_error == "SSLCertVerificationError"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the system's trust store here
        url = (f"{'smtps' if security == 'tls' else 'smtp'}://bti%40kommune.invalid:p%40ss%3Aord"
               f"@127.0.0.1:{server.port}")
        settings = MailSettings.from_env({**MAIL_ENV, "BTI_SMTP_URL": url,
                                          "BTI_BASE_URL": "https://bti.kommune.invalid"})
        counts = deliver_due(factory, settings, FIXED_NOW + timedelta(minutes=1), worker_id="t")
        assert (counts.sent, counts.retried) == (1, 0), rows(factory)[0].last_error
        # the URL's user and password, URL-decoded; under STARTTLS after the handshake (aiosmtpd
        # does not mark a connection that was TLS from the first byte, refused above unverified)
        assert logins == [(b"bti@kommune.invalid", b"p@ss:ord", security == "starttls")]
        assert len(server.inbox.messages) == 1
    finally:
        server.stop()


def test_the_daily_digest_is_one_mail_per_user_from_the_digest_hour(factory, registry, w, smtp):
    # consent_expiring is a digest event by default; created 10:00 Oslo time on 2 March
    notify(factory, registry, w, Event.CONSENT_EXPIRING, [w.coordinator.id, w.nurse.id], key=1)
    notify(factory, registry, w, Event.CONSENT_EXPIRING, [w.coordinator.id], key=2)
    notify(factory, registry, w, Event.APPOINTED, [w.coordinator.id], key=9)  # now: at once
    assert sorted(r.mode for r in rows(factory)) == ["digest"] * 3 + ["now"]
    assert run(factory, smtp, FIXED_NOW).sent == 1
    assert run(factory, smtp, FIXED_NOW + timedelta(hours=10)).sent == 0
    next_day_0659 = FIXED_NOW.replace(day=3, hour=5, minute=59)
    assert run(factory, smtp, next_day_0659).sent == 0
    counts = run(factory, smtp, FIXED_NOW.replace(day=3, hour=6))
    assert (counts.sent, counts.retried, counts.failed) == (3, 0, 0)  # rows, in two mails
    assert len(smtp.inbox.messages) == 3
    with factory() as s:
        emails = {u.id: u.email for u in s.scalars(select(User))}
        coordinator_notes = sorted(s.scalars(select(Notification.id).where(
            Notification.user_id == w.coordinator.id, Notification.kind == "consent_expiring")))
    digests = [m for m in smtp.inbox.parsed() if m["Subject"] == "BTI: dagens varsler"]
    assert len(digests) == 2
    (mine,) = [m for m in digests if m["To"].addresses[0].addr_spec == emails[w.coordinator.id]]
    plain = mine.get_body(("plain",)).get_content()
    assert sorted(int(i) for i in LINK.findall(plain)) == coordinator_notes
    assert plain.count(title(Event.CONSENT_EXPIRING)) == 2
    assert run(factory, smtp, FIXED_NOW.replace(day=4, hour=6)).sent == 0


def test_a_live_claim_is_left_alone_and_a_lapsed_one_taken_over(factory, registry, w, smtp):
    notify(factory, registry, w, Event.PARTICIPANT_ADDED, [w.nurse.id], key=6)
    with factory.begin() as s:  # another sender claimed the row and died before sending
        (claimed,) = delivery.claim(s, FIXED_NOW, worker_id="dead", batch=10, digest_before=None)
    assert run(factory, smtp, FIXED_NOW + timedelta(minutes=1), worker="w2").sent == 0
    after = FIXED_NOW + delivery.LEASE + timedelta(seconds=1)
    assert run(factory, smtp, after, worker="w2").sent == 1
    (row,) = rows(factory)
    assert (row.status, row.claimed_by) == ("sent", None)
    # the dead sender's late result changes nothing: the claim is not its own any more
    with factory.begin() as s:
        s.execute(update(NotificationDelivery).values(status="pending", claimed_by="w3"))
    delivery._record(factory, [claimed], "dead", after, error="late")
    assert rows(factory)[0].last_error is None
    assert smtp.inbox.notification_ids() == [claimed.notification_id]


# --- two senders, one outbox ------------------------------------------------------------------


@pytest.fixture
def shared_engine(request, tmp_path):
    """PostgreSQL in the PostgreSQL run; a SQLite file (several connections) otherwise."""
    if ON_POSTGRES:
        yield request.getfixturevalue("pg_engine")
        return
    eng = make_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    create_schema(eng)
    yield eng
    eng.dispose()


def test_two_senders_deliver_every_row_exactly_once(shared_engine, registry, smtp):
    factory = make_session_factory(shared_engine)
    with factory.begin() as session:
        w = World(session, registry, "bti-standard")
    users = [make_user_committed(factory, w, f"sendar{i}") for i in range(20)]
    for key in range(10):
        notify(factory, registry, w, Event.PARTICIPANT_ADDED, users, key=key)
    assert len(rows(factory)) == 200
    settings = smtp.settings()
    barrier = threading.Barrier(2)
    results: dict[str, list] = {"a": [], "b": []}

    def sender(name: str) -> None:
        barrier.wait()
        try:
            while True:
                got = deliver_due(factory, settings, FIXED_NOW, worker_id=name, batch=10)
                results[name].append(got)
                if got.sent + got.retried + got.failed + got.released == 0:
                    return
        except Exception as err:  # noqa: BLE001 - reported below
            results[name].append(err)

    threads = [threading.Thread(target=sender, args=(n,)) for n in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, got in results.items():
        assert not [g for g in got if isinstance(g, Exception)], (name, got)
    sent = sum(g.sent for got in results.values() for g in got)
    assert sent == 200
    ids = smtp.inbox.notification_ids()
    with factory() as s:
        every = sorted(s.scalars(select(Notification.id)))
    assert sorted(ids) == every
    assert len(set(ids)) == 200
    assert {(r.status, r.attempts) for r in rows(factory)} == {("sent", 1)}
