"""A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fds 3 and 4, messages ended by
NUL): no websocket library, no port. Enough to load a page, watch its console, exceptions and network
requests, evaluate expressions and print it to PDF."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from typing import Optional

DEAD_PROXY = "http://127.0.0.1:9"     # the discard port: nothing listens, every fetch through it fails


def find_chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _high(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    def __init__(self, binary: str, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="pf-chromium-")
        # the child's ends moved above fd 10, so putting them on 3 and 4 cannot clobber one another
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        to_child_r, from_child_w = (_high(fd) for fd in (to_child_r, from_child_w))
        # the child reads commands on fd 3 and writes answers on fd 4
        argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--disable-features=Translate,MediaRouter,OptimizationHints",
                f"--proxy-server={DEAD_PROXY}", "--proxy-bypass-list=<-loopback>",
                "--enable-logging=stderr", "--v=0", "about:blank"]
        self.stderr = open(os.path.join(self.profile, "stderr.log"), "w+")

        def fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, preexec_fn=fds, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list = []

    # -- protocol ---------------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe: " + self.log()[-2000:])
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: Optional[dict] = None, session: Optional[str] = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, session: Optional[str] = None) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method and (session is None or e.get("sessionId") == session):
                return self.events.pop(i)
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("method") == method and (session is None or m.get("sessionId") == session):
                return m
            self.events.append(m)

    # -- a page -----------------------------------------------------------------------------------
    def open(self, url: str, width: int = 1280, height: int = 800) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        started = time.monotonic()
        page.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", session)
        page.load_seconds = time.monotonic() - started
        return page

    def log(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:   # noqa: BLE001 - it may be gone already
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    load_seconds = 0.0

    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def send(self, method: str, params: Optional[dict] = None) -> dict:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str):
        out = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def events(self, *methods: str) -> list:
        self.send("Runtime.evaluate", {"expression": "0"})      # flush what arrived so far
        return [e for e in self.browser.events if e.get("sessionId") == self.session and e.get("method") in methods]

    def problems(self) -> list:
        """Script exceptions, console errors and error log entries, as text."""
        out = []
        for e in self.events("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded"):
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: " + str((d.get("exception") or {}).get("description") or d.get("text"))[:500])
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + json.dumps(p.get("args"))[:500])
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append("log: " + p["entry"].get("text", "")[:500])
        return out

    def requests(self) -> list:
        """Every URL the page asked for (the page itself included)."""
        return [e["params"]["request"]["url"] for e in self.events("Network.requestWillBeSent")]

    def print_pdf(self) -> bytes:
        out = self.send("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True,
                                            "displayHeaderFooter": False})
        return base64.b64decode(out["data"])


def pdf_page_count(pdf: bytes) -> int:
    """Page objects in a PDF (Chromium's Skia writer keeps page dictionaries uncompressed)."""
    return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))
