"""A real headless Chromium driven over the DevTools protocol, for tests that need the DOM after scripts ran and
while they keep running (the console's live debugger): open a page, evaluate JavaScript in it, wait for a condition.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

_LISTENING = re.compile(r"DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)")


def chromium_path() -> str:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(chromium):
        pytest.fail(f"Chromium is needed for this test and was not found at {chromium}; "
                    "`make test` installs it (apt-get install chromium)")
    return chromium


class Browser:
    """One headless Chromium process on a free DevTools port, stopped on exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "chromium.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> Browser:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                 f"--user-data-dir={self.directory / 'profile'}", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while not (match := _LISTENING.search(self.log.read_text(errors="replace"))):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                pytest.fail(f"Chromium did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        self.port = int(match.group(2))
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def open(self, url: str) -> Page:
        """A new tab at `url`, once its load event fired."""
        target = httpx.put(f"http://127.0.0.1:{self.port}/json/new?about:blank", timeout=10).json()
        page = Page(target["webSocketDebuggerUrl"])
        page.go(url)
        return page


class Page:
    def __init__(self, ws_url: str) -> None:
        self.ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=10).__enter__()
        self._ids = itertools.count(1)
        self.call("Page.enable")

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        """Send a DevTools command and return its result (events that arrive meanwhile are passed to `_event`)."""
        mid = next(self._ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == mid:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self._event(message)

    def _event(self, message: dict) -> None:
        if message.get("method") == "Page.loadEventFired":
            self._loaded = True

    def go(self, url: str, timeout: float = 30) -> None:
        self._loaded = False
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not self._loaded:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            try:
                self._event(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
            except TimeoutError:
                continue

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15):
        """Evaluate `expression` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still falsy after {timeout} s: {expression}\n{self.dom()[:3000]}")
            time.sleep(0.1)

    def dom(self) -> str:
        return self.eval("document.documentElement.outerHTML")

    def url(self) -> str:
        return self.eval("location.href")

    def close(self) -> None:
        self.ws.close()
