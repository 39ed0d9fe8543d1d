"""The SMTP sink: receives the service's mail and logs one JSON line per message.

Runs as its own process (`python -m bench.sink --port P --out FILE`), so that its CPU is
not counted as the load generator's. Each accepted message appends
`{"t": <unix time received>, "rcpt": [envelope recipients], "to": <addresses in To>,
"subject": "<decoded subject>"}` to FILE, flushed line by line; the bench process tails the
file with `SinkLog`. Nothing is stored but the log line.
"""

import argparse
import asyncio
import json
import re
import signal
import time
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path

from aiosmtpd.smtp import SMTP, syntax

from bench.loadgen import loop_run

_parser = BytesHeaderParser()


class LoggingHandler:
    def __init__(self, out) -> None:
        self.out = out

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:
        # PIPELINING, as most mail servers offer it (aiosmtpd reads commands in order).
        session.host_name = hostname
        responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server, session, envelope) -> str:
        received = time.time()
        content = envelope.original_content or envelope.content
        # The header block only: the parser would otherwise read every line of the body.
        headers = _parser.parsebytes(content.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        subject = headers.get("subject", "")
        if "=?" in subject:  # RFC 2047 encoded words (non-ASCII subjects)
            subject = str(make_header(decode_header(subject)))
        subject = " ".join(subject.split())  # unfold long subjects
        to = getaddresses(headers.get_all("to", []))
        line = {"t": received, "rcpt": envelope.rcpt_tos, "to": len(to), "subject": subject}
        self.out.write(json.dumps(line) + "\n")
        return "250 OK"


# A plain `<local@domain>` path, local part and domain dot-atoms (RFC 5321), and what follows
# it (the parameters: ` SIZE=1234`).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(.*)", re.DOTALL
)


class Sink(SMTP):
    """aiosmtpd's SMTP server, reading a message's content in a few reads instead of one
    coroutine step per line, and reading plain addresses without the email package's parser.

    aiosmtpd reads DATA line by line: about a millisecond of CPU for a message of a hundred
    lines, on the cores the bench measures, for a process that stands in for a mail server
    on another machine. It also parses the path of every MAIL and RCPT command with the
    email package's full header grammar, and defines a class each time it does (a fifth of
    the sink's CPU in `hot`). Same protocol, same replies, same envelope for the handler.
    """

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's `_getaddr`, answered directly for a plain `<local@domain>` path (the
        same address and rest); any other path goes to aiosmtpd's parser."""
        match = _PLAIN_PATH.fullmatch(arg)
        rest = match.group(2).lstrip(" \t") if match else ""  # aiosmtpd's parser eats the
        if match is None or rest.startswith("(") or self.local_part_limit:  # blanks after it
            return super()._getaddr(arg)
        return match.group(1), rest

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        parts = []
        while True:  # the reader's limit is one line: long content comes in pieces
            try:
                parts.append(await self._reader.readuntil(b"\r\n.\r\n"))
                break
            except asyncio.LimitOverrunError as exc:
                parts.append(await self._reader.readexactly(exc.consumed))
        content = b"".join(parts)[:-3]  # the final CRLF is the content's; ".CRLF" is not
        content = content.replace(b"\r\n..", b"\r\n.")  # RFC 5321 4.5.2: dot-unstuffing
        if content.startswith(b".."):
            content = content[1:]
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)


async def serve(port: int, out_path: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    with out_path.open("a", buffering=1) as out:
        handler = LoggingHandler(out)
        server = await loop.create_server(
            lambda: Sink(handler, hostname="bench-sink", data_size_limit=10_000_000),
            host="127.0.0.1",
            port=port,
        )
        async with server:
            await stop


class SinkLog:
    """The bench side: reads the sink's log incrementally and indexes it by bench tag.

    A bench tag is the unique token a scenario puts in an auction's title
    (`fanout-3fa9c1`, `closing-3fa9c1-0007`); every message whose subject carries one is
    kept under it, the others are only counted.
    """

    TAG = re.compile(r"\b((?:fanout|closing)-[0-9a-f]{6}(?:-\d{4})?)\b")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.total = 0
        self.multi_recipient = 0  # messages addressed to more than one person
        self.by_tag: dict[str, list[dict]] = {}

    def poll(self) -> int:
        """Read what arrived since the last call; returns how many new messages."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            message = json.loads(raw)
            self.total += 1
            if len(message["rcpt"]) != 1 or message["to"] > 1:
                self.multi_recipient += 1
            match = self.TAG.search(message["subject"])
            if match:
                self.by_tag.setdefault(match.group(1), []).append(message)
        return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    loop_run(serve(args.port, args.out))


if __name__ == "__main__":
    main()
