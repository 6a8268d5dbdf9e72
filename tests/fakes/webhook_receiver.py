"""A webhook receiver on a real socket: verifies signatures, answers from a script."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, SignatureError, verify


@dataclass
class Delivery:
    status: int
    signature_ok: bool
    delivery_id: str
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    """``script`` holds the status codes to answer, in order; then ``default_status``."""

    secret: bytes
    default_status: int = 204
    script: deque[int] = field(default_factory=deque)
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify(receiver.secret, raw, self.headers.get(SIGNATURE_HEADER, ""))
                    ok = True
                except SignatureError:
                    ok = False
                status = receiver.script.popleft() if receiver.script else receiver.default_status
                if not ok:
                    status = 401
                self.send_response(status)
                self.end_headers()
                with receiver.arrived:
                    receiver.deliveries.append(
                        Delivery(status, ok, self.headers.get(DELIVERY_HEADER, ""), json.loads(raw))
                    )
                    receiver.arrived.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float = 30) -> list[Delivery]:
        """Block until ``count`` deliveries arrived (or fail)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout_s):
                raise AssertionError(
                    f"only {len(self.deliveries)} of {count} webhook deliveries arrived"
                )
            return list(self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
