"""The web app in a real headless Chromium: a project lead and the Sitzungsdienst at work.

Debian's chromium and chromium-driver, driven by selenium (no browser download); the app runs
as `lifecycle web` in its own process on loopback. Every page visited is checked with axe-core
(WCAG 2.1 A/AA rules): no serious or critical violation. `.ci/run` installs all of it; locally
the test skips loudly without it (set LIFECYCLE_AXE_JS to an axe.min.js).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, require_real
from web_support import PASSWORD, USERS

pytestmark = pytest.mark.browser
AXE_DEFAULT = ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT = ROOT / "docs" / "prozess.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _axe_source() -> str:
    path = Path(os.environ.get("LIFECYCLE_AXE_JS") or AXE_DEFAULT)
    if not path.is_file():
        require_real(f"axe-core not found at {path} (npm install axe-core, or LIFECYCLE_AXE_JS)")
    return path.read_text()


@pytest.fixture
def server(tmp_path, db_url) -> Iterator[str]:
    """`lifecycle web` on a fresh database with both processes and every user of web_support."""
    from web_support import make_app

    make_app(db_url)  # fills the database; the served app is a separate process
    port = _free_port()
    env = os.environ | {"LIFECYCLE_DATABASE_URL": db_url, "LIFECYCLE_OUTPUT": str(tmp_path / "out"),
                        "LIFECYCLE_WEB_SECRET": "browser-test-" + "y" * 32}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "lifecycle", "web", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"lifecycle web ended: {proc.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("lifecycle web did not listen within 60 s")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def browser(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        require_real("chromium and chromium-driver are not installed (Debian packages)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,1600",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(5)
    driver.downloads = downloads  # type: ignore[attr-defined]
    yield driver
    driver.quit()


class Page:
    """What a person does in the browser, and the accessibility check of every page seen."""

    def __init__(self, driver, base: str, axe: str):
        self.d, self.base, self.axe = driver, base, axe
        self.checked: dict[str, list[str]] = {}

    def open(self, path: str) -> None:
        self.d.get(self.base + path)
        self.check()

    def check(self) -> None:
        """axe-core on the page as it is now; remember serious and critical findings."""
        self.d.execute_script(self.axe)
        result = self.d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}).then(r => done(r.violations));"
        )
        path = self.d.current_url.removeprefix(self.base).split("?")[0]
        self.checked[path] = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in result if v["impact"] in ("serious", "critical")
        ]

    def login(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        self.open("/anmelden")
        self.d.find_element(By.ID, "name").send_keys(name)
        self.d.find_element(By.ID, "passwort").send_keys(PASSWORD)
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.check()

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.TAG_NAME, "main").text


def test_login_and_overview_are_accessible(server, browser):
    page = Page(browser, server, _axe_source())
    page.login("admin")
    assert "waiblingen-2017" in page.text() and "voelklingen-2017" in page.text()
    assert set(USERS) >= {"admin"}
    assert page.checked and all(not found for found in page.checked.values()), page.checked
    assert dt.date.today().strftime("%Y") in browser.find_element("tag name", "footer").text


def test_the_accessibility_check_is_not_blind(server, browser):
    """A form field without its label is found: the check above could fail."""
    page = Page(browser, server, _axe_source())
    page.open("/anmelden")
    browser.execute_script("document.querySelector('label[for=passwort]').remove()")
    page.check()
    assert any(f.startswith("label") for f in page.checked["/anmelden"]), page.checked
