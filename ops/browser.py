"""Headless Chromium over the Chrome DevTools Protocol: dashboard screenshots and page tests.

No driver binary: Chromium is started with ``--remote-debugging-port=0``, the port is read from
``DevToolsActivePort`` and the first tab is driven over its websocket.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from core.settings import Settings

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or a page call failed or timed out."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


class Browser:
    """One headless Chromium with one tab. Use as a context manager."""

    def __init__(self, width: int = 1440, height: int = 1100) -> None:
        binary = chromium_path()
        if binary is None:
            raise BrowserError("Chromium not found (Debian: apt-get install -y chromium)")
        self._profile = Path(tempfile.mkdtemp(prefix="pvara-chromium-"))
        self._proc = subprocess.Popen(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own process group: Chromium's helpers (zygote, renderers, crashpad) are
            # stopped together with it, so none is still writing into the profile at cleanup.
            start_new_session=True,
        )
        self._ids = 0
        self._ws: ClientConnection | None = None
        self._ws_exit = contextlib.ExitStack()
        try:
            self._ws = self._ws_exit.enter_context(
                connect(self._page_ws_url(), max_size=None, open_timeout=10)
            )
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except Exception:
            self.close()
            raise

    def _page_ws_url(self, timeout_s: float = 20) -> str:
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrowserError(f"Chromium exited with {self._proc.returncode}")
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                port = port_file.read_text().splitlines()[0]
                try:
                    targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                except httpx.HTTPError:
                    targets = []
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.05)
        raise BrowserError("Chromium's DevTools endpoint did not come up")

    def send(self, method: str, timeout_s: float = 30, **params: Any) -> dict[str, Any]:
        """Call one CDP method and return its result (events received meanwhile are dropped)."""
        assert self._ws is not None
        self._ids += 1
        call_id = self._ids
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method} timed out")
            reply = json.loads(self._ws.recv(timeout=left))
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float = 20) -> Any:
        """Poll ``expression`` until it is truthy (errors count as not yet); return its value."""
        deadline = time.monotonic() + timeout_s
        guarded = f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        while True:
            value = self.evaluate(guarded)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression}")
            time.sleep(0.1)

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        if not box:
            raise BrowserError(f"no element {selector}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box["x"],
                y=box["y"],
                button="left",
                clickCount=1,
            )

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        self._ws_exit.close()
        self._ws = None
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(10)
        self._signal_group(signal.SIGKILL)
        self._proc.wait(5)
        self._remove_profile()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def _remove_profile(self, timeout_s: float = 5) -> None:
        # A helper that outlived the group kill can still flush a file for a moment.
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                shutil.rmtree(self._profile)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def capture_dashboard(settings: Settings, base_url: str, token: str, path: Path) -> Path:
    """Open ``/ops`` with an ops-role ``token``, wait for live data, save a PNG at ``path``."""
    with Browser() as browser:
        browser.navigate(f"{base_url.rstrip('/')}/ops#token={token}")
        browser.wait_for("document.body.dataset.loaded === '1'", timeout_s=30)
        return browser.screenshot(Path(path))
