"""A real SMTP server (aiosmtpd) in the test process that keeps what it receives."""

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller


@dataclass
class Received:
    """One SMTP transaction: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: Message
    peer: tuple = ()  # the client's address and port: one per SMTP connection

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part.get_payload(decode=True).decode()
        raise LookupError(content_type)


@dataclass
class Mailbox:
    """What the server accepted, in order. `delay` slows each message down (seconds);
    recipients in `refuse` are refused (550), those in `refuse_for_now` too (450), those in
    `closing` with the server's "closing the session" (421), and
    messages to those in `refuse_content` after their content (554, at the end of DATA);
    `pipelining` offers PIPELINING in EHLO; `on_data`, when set, is called with each
    message's envelope before it is answered (a relay that takes its time)."""

    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    refuse: set[str] = field(default_factory=set)
    refuse_for_now: set[str] = field(default_factory=set)
    refuse_content: set[str] = field(default_factory=set)
    closing: set[str] = field(default_factory=set)
    on_data: Callable[[object], None] | None = None
    pipelining: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:
        session.host_name = hostname
        if self.pipelining:  # as most mail servers do; aiosmtpd reads commands in order
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refuse:
            return "550 No such user here"
        if address in self.refuse_for_now:
            return "450 Mailbox busy, try again later"
        if address in self.closing:
            return "421 Service not available, closing transmission channel"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            time.sleep(self.delay)  # blocks the server's loop: a slow mail server
        if self.on_data is not None:
            self.on_data(envelope)
        if self.refuse_content & set(envelope.rcpt_tos):
            return "554 Message content rejected"
        item = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            message=message_from_bytes(envelope.original_content or envelope.content),
            peer=tuple(session.peer or ()),
        )
        with self.lock:
            self.received.append(item)
        return "250 OK"

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [item for item in self.snapshot() if address in item.rcpt_tos]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """Start, stop and restart on the same port, to play a mail server that goes down."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"
