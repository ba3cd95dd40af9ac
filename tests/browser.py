"""Headless Chromium for the browser tests: the driver, a static server, console and network checks.

Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run`` installs them; elsewhere
``sudo apt-get install chromium chromium-driver``). Every host except 127.0.0.1 is mapped to
nothing, so a page that reaches for a CDN shows up as a failed request.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_HINT = (
    "the browser tests need Chromium and its driver: on Debian/Ubuntu `sudo apt-get install chromium "
    "chromium-driver` (.ci/run does this in CI), or set CNNLIB_CHROMIUM and CNNLIB_CHROMEDRIVER to their paths"
)


def chromium_paths() -> tuple[str, str]:
    """The Chromium binary and its driver; skips the test (fails it in CI) when they are missing."""
    browser = os.environ.get("CNNLIB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CNNLIB_CHROMEDRIVER") or shutil.which("chromedriver")
    if not (browser and driver):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(CHROMIUM_HINT)
        pytest.skip(CHROMIUM_HINT)
    return browser, driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def static_server(folder: Path):
    """``folder`` served on http://127.0.0.1:PORT/ from a thread; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium(width: int = 1280, height: int = 720):
    """A headless Chromium driven by Selenium, with console and network logs, offline but for 127.0.0.1."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium_paths()
    profile = tempfile.mkdtemp(prefix="cnnlib-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # the tests wait for what they need themselves; "normal" would also wait for documents that a
    # script writes and never closes (reveal.js's speaker view), and time out
    options.page_load_strategy = "none"
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    # the page's viewport exactly (the window size includes the browser's frame)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(driver, width: int = 1280, height: int = 720) -> None:
    """The current tab's viewport, exactly (the window size includes the browser's frame)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def console_errors(driver) -> list[str]:
    """SEVERE console messages since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def failed_requests(driver) -> list[str]:
    """Requests that failed or answered 4xx/5xx since the last call (from the performance log)."""
    failed, urls = [], {}
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg.get("method") == "Network.requestWillBeSent":
            urls[params.get("requestId")] = params.get("request", {}).get("url", "")
        if msg.get("method") == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params.get("requestId"), "unknown address")
            failed.append(f"{params.get('errorText')} ({params.get('type')}): {url[:120]}")
        elif msg.get("method") == "Network.responseReceived":
            response = params.get("response", {})
            if response.get("status", 200) >= 400:
                failed.append(f"HTTP {response['status']}: {response.get('url')}")
        elif msg.get("method") == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if url.startswith("http") and not url.startswith("http://127.0.0.1"):
                failed.append(f"request off this machine: {url}")
    return failed


def wait_for(driver, script: str, timeout: float = 30.0, what: str = ""):
    """Poll a JavaScript expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or script}")
        time.sleep(0.1)


def screenshot(driver, path: Path) -> dict:
    """Save a PNG of the viewport; returns how much of it is not background (a blank page is ~0)."""
    import numpy as np
    from PIL import Image

    png = driver.get_screenshot_as_png()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
    background = np.median(grey)
    return {"std": float(grey.std()), "ink": float((np.abs(grey - background) > 24).mean())}
