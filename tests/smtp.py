"""A real SMTP server on loopback for the e-mail tests: aiosmtpd's ``Controller`` on a free
port of 127.0.0.1, keeping what it accepted, able to go down mid-run and come back."""

from __future__ import annotations

import email
import re
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller

from bti.config import MailSettings

#: The link to a notice in the mails the tests send (BASE_URL + /varsler/<id>).
BASE_URL = "https://bti.kommune.invalid"
LINK = re.compile(r"https://bti\.kommune\.invalid/varsler/(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every message it accepted. ``accept``: accept that many,
    then answer 421 and shut the server down (the outage). ``refuse``: addresses answered 550."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.lock = threading.Lock()
        self.accept: int | None = None
        self.refuse: set[str] = set()
        self.on_full = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.accept is not None and len(self.messages) >= self.accept:
                if self.on_full is not None:
                    self.on_full()
                    self.on_full = None
                return "421 4.3.2 Service shutting down"
            self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted"

    def parsed(self):
        return [email.message_from_bytes(raw, policy=policy.default) for _, raw in self.messages]

    def notification_ids(self) -> list[int]:
        ids = []
        for msg in self.parsed():
            ids += [int(i) for i in LINK.findall(msg.get_body(("plain",)).get_content())]
        return ids


class Server:
    """aiosmtpd on 127.0.0.1, stoppable and restartable on the same port."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller: Controller | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        with self._lock:
            if self.controller is not None:
                self.controller.stop()
                self.controller = None

    def go_down_after(self, n: int) -> None:
        """Accept ``n`` more messages, then refuse and stop (from another thread: the handler
        runs in the server's own loop)."""
        self.inbox.accept = len(self.inbox.messages) + n
        self.inbox.on_full = lambda: threading.Thread(target=self.stop).start()

    def settings(self, **kw) -> MailSettings:
        base = dict(host="127.0.0.1", port=self.port, security="none",
                    mail_from="BTI <bti@kommune.invalid>", reply_to="hjelp@kommune.invalid",
                    base_url=BASE_URL)
        return MailSettings(**{**base, **kw})
