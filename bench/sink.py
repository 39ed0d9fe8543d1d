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

from aiosmtpd.smtp import SMTP

_parser = BytesHeaderParser()


class LoggingHandler:
    def __init__(self, out) -> None:
        self.out = out

    async def handle_DATA(self, server, session, envelope) -> str:
        received = time.time()
        headers = _parser.parsebytes(envelope.original_content or envelope.content)
        subject = headers.get("subject", "")
        if "=?" in subject:  # RFC 2047 encoded words (non-ASCII subjects)
            subject = str(make_header(decode_header(subject)))
        subject = " ".join(subject.split())  # unfold long subjects
        to = getaddresses(headers.get_all("to", []))
        line = {"t": received, "rcpt": envelope.rcpt_tos, "to": len(to), "subject": subject}
        self.out.write(json.dumps(line) + "\n")
        return "250 OK"


async def serve(port: int, out_path: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    with out_path.open("a", buffering=1) as out:
        handler = LoggingHandler(out)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="bench-sink", data_size_limit=10_000_000),
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
    asyncio.run(serve(args.port, args.out))


if __name__ == "__main__":
    main()
