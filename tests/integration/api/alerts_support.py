"""Real receivers for alert notifications: an HTTP server in a thread recording every POST,
and aiosmtpd with STARTTLS (a throwaway self-signed certificate for 127.0.0.1)."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from ssl import PROTOCOL_TLS_SERVER, SSLContext
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    url: str
    posts: list[Received] = field(default_factory=list)
    status: int = 200


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                receiver.posts.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class SmtpReceiver:
    port: int
    cert: Path
    messages: list[Message] = field(default_factory=list)


class _Collect:
    def __init__(self, sink: list[Message]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sink.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@contextmanager
def smtp_receiver(tmp: Path) -> Iterator[SmtpReceiver]:
    cert, key = tmp / "smtp.crt", tmp / "smtp.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = SSLContext(PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:  # aiosmtpd's start-up check needs a concrete port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    received = SmtpReceiver(port, cert)
    controller = Controller(
        _Collect(received.messages),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    try:
        yield received
    finally:
        controller.stop()
