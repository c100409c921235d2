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
# A phone's viewport (an iPhone 12–15), emulated through the DevTools protocol: headless
# Chromium keeps its window at least about 500 px wide, whatever set_window_size asks (which
# viewport a narrower request gives depends on the version), and it is not a mobile browser.
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}


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
        self.widths: dict[str, list[int]] = {}  # the viewport's and the page's width

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
        self.widths[path] = self.d.execute_script(
            "const html = document.documentElement;"
            "return [window.innerWidth, html.clientWidth, html.scrollWidth];"
        )
        self.checked[path] = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in result if v["impact"] in ("serious", "critical")
        ]

    def follow(self, element) -> None:
        """Click a link or a submit button, wait for the page it leads to, and check that one.

        A click returns once the event is dispatched, not once the browser has left the page:
        checking at once could inject axe into the old page and run it in the new one."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        # A mark on the window goes with the old document; Chrome answers an element of the old
        # document with errors of its own, not always with a StaleElementReferenceException.
        self.d.execute_script("window.lifecycleOldPage = true;")
        element.click()
        WebDriverWait(self.d, 30, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return !window.lifecycleOldPage && document.readyState === 'complete';"
            )
        )
        self.check()

    def login(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        self.open("/anmelden")
        self.d.find_element(By.ID, "name").send_keys(name)
        self.d.find_element(By.ID, "passwort").send_keys(PASSWORD)
        self.follow(self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]"))

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


def _set(driver, element_id: str, value: str) -> None:
    """Fill a field the way a browser would (date fields take ISO values from script)."""
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].value = arguments[1];", element, value)


def test_a_project_lead_and_the_sitzungsdienst_walk_the_process(server, browser, tmp_path):
    """Log in, complete a task, approve a gate, edit the Begründung, download the DOCX and read
    it back; then the Sitzungsdienst moves a Sitzung after its preview. axe on every page."""
    import docx
    from selenium.webdriver.common.by import By

    page = Page(browser, server, _axe_source())
    page.login("ortolf")
    page.open("/prozess/waiblingen-2017")
    assert "Zeitleiste" in page.text() and "Förderantrag stellen" in page.text()

    # complete a task on a date of 2017
    button = browser.find_element(By.XPATH, "//button[contains(., 'Förderantrag stellen')]")
    form = button.find_element(By.XPATH, "./ancestor::form")
    date_field = form.find_element(By.CSS_SELECTOR, "input[type=date]")
    browser.execute_script("arguments[0].value = '2017-03-14';", date_field)
    page.follow(button)
    assert "erledigt" in page.text().lower()

    # approve the Grundsatzbeschluss (the remaining tasks done in the old procedure)
    browser.find_element(By.ID, "ergebnis-approve").click()
    _set(browser, "gate-datum", "2017-04-27")
    browser.find_element(By.ID, "gate-aktenzeichen").send_keys("BSV 3/2017")
    browser.find_element(By.ID, "gate-erzwingen").send_keys("im Altverfahren erledigt")
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Entscheidung speichern')]"))
    assert "Auftaktworkshop" in page.text()
    if os.environ.get("LIFECYCLE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
    else:
        browser.save_screenshot(str(tmp_path / "prozess.png"))

    # edit the first Begründung section of the Sitzungsvorlage, save a version
    sentence = "Der Integrationsbeirat hat den Entwurf am 2. Oktober 2017 einstimmig empfohlen."
    page.open("/prozess/waiblingen-2017/vorlage/vorlage")
    section = browser.find_element(By.ID, "abschnitt-0")
    section.clear()
    section.send_keys(sentence)
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Als neue Version')]"))

    # generate the Sitzungsvorlage and download the DOCX
    page.open("/prozess/waiblingen-2017")
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Erzeugen') and "
                                               "contains(., 'Sitzungsvorlage')]"))  # fmt: skip
    link = browser.find_element(By.XPATH, "//a[contains(@href, '.docx') and "
                                          "contains(., 'Sitzungsvorlage')]")  # fmt: skip
    link.click()
    downloads = browser.downloads  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [
        f for f in downloads.iterdir() if f.suffix == ".docx"
    ]:
        time.sleep(0.2)
    [file] = [f for f in downloads.iterdir() if f.suffix == ".docx"]
    text = "\n".join(p.text for p in docx.Document(str(file)).paragraphs)
    assert sentence in text

    # the Sitzungsdienst moves the Vorberatung after looking at the preview
    page.d.delete_all_cookies()
    page.login("sd")
    page.open("/sitzungsdienst")
    page.open("/sitzungen/waiblingen/bsv-2017-12-06/verlegen")
    _set(browser, "datum", "2017-12-13")
    _set(browser, "uhrzeit", "17:00")
    page.follow(browser.find_element(By.CSS_SELECTOR, "form[action$='/vorschau'] button"))
    preview = page.text()
    assert "Vorschau" in preview and "verschieben sich" in preview
    page.follow(browser.find_element(By.CSS_SELECTOR, "form[action$='/verlegen'] button"))
    assert "13. Dezember 2017" in page.text() or "13.12.2017" in page.text()

    assert len(page.checked) >= 6
    assert all(not found for found in page.checked.values()), page.checked


def set_width(driver, width: int) -> None:
    """A desktop's window, or the emulated phone."""
    if width == PHONE["width"]:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    else:
        driver.set_window_size(width, 1200)


def assert_fits(page: Page, width: int) -> None:
    """Every page seen had the viewport asked for (the phone really emulated, not a window
    Chromium kept wider), and none was wider than that: nothing to scroll sideways."""
    assert {inner for inner, _, _ in page.widths.values()} == {width}, page.widths
    assert all(scroll <= client for _, client, scroll in page.widths.values()), page.widths


@pytest.mark.parametrize("width", [1280, PHONE["width"]])
def test_every_page_is_accessible_wide_and_narrow(server, browser, width):
    """axe on each page an administrator can reach, on a desktop and on a phone's width; no
    page is wider than the screen (a wide Zeitleiste scrolls in its own box)."""
    set_width(browser, width)
    page = Page(browser, server, _axe_source())
    page.login("admin")
    for path in ("/", "/aufgaben", "/sitzungsdienst?ab=2017-11-01", "/prozess/waiblingen-2017",
                 "/prozess/voelklingen-2017", "/prozess/waiblingen-2017/vorlage/vorlage",
                 "/prozess/waiblingen-2017/vorlage/ratsbeschluss",
                 "/sitzungen/waiblingen/bsv-2017-12-06/verlegen", "/verwaltung",
                 "/prozess/gibt-es-nicht"):  # fmt: skip
        page.open(path)
    assert "Nicht gefunden" in page.text()  # the last one: the error page is checked too
    assert len(page.checked) == 11  # the login page and these ten
    assert all(not found for found in page.checked.values()), page.checked
    assert_fits(page, width)


def test_a_sections_mark_stands_above_its_field_on_a_wide_screen(server, browser):
    """The Vorlage editor's "(Entwurf aus dem Prozess)" belongs to the field below it: on a
    desktop it must not sit in the free space to the field's left, at the field's foot."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/anmelden")
    browser.find_element(By.ID, "name").send_keys("ortolf")
    browser.find_element(By.ID, "passwort").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 30).until(lambda d: "/anmelden" not in d.current_url)
    browser.get(server + "/prozess/waiblingen-2017/vorlage/vorlage")
    label = browser.find_element(By.CSS_SELECTOR, "label[for=abschnitt-0]").rect
    mark = browser.find_element(By.ID, "stand-0")
    field = browser.find_element(By.ID, "abschnitt-0").rect
    assert mark.text == "(Entwurf aus dem Prozess)"
    # (rects come rounded to whole pixels: one pixel of slack)
    assert label["y"] + label["height"] <= mark.rect["y"] + 1
    assert mark.rect["y"] + mark.rect["height"] <= field["y"] + 1, (mark.rect, field)
    assert abs(mark.rect["x"] - field["x"]) < 2  # left-aligned with the field, as the label



CELLS = """
const [table] = arguments;
const headings = [...table.querySelectorAll('thead th')].map(th => th.textContent.trim());
return [...table.querySelectorAll('tbody tr')].map(row => [...row.children].map((cell, i) => {
  const before = getComputedStyle(cell, '::before').content;  // '"Stand: " / ""', or 'none'
  const label = before.startsWith('"') ? JSON.parse(before.match(/^"(?:[^"\\\\]|\\\\.)*"/)[0]) : '';
  return [headings[i], label + cell.innerText.trim(), label, getComputedStyle(cell).display];
}));
"""


@pytest.mark.parametrize(("path", "captions"), [
    ("/prozess/waiblingen-2017", ("Phasen", "Sitzungen der Beratungsfolge")),
    ("/", ("Fortschreibungen",)),
    ("/sitzungsdienst?ab=2017-11-01", ("Sitzungen vom",)),  # the row's heading in column 2
])  # fmt: skip
def test_a_table_on_a_phone_says_what_each_stacked_value_is(server, browser, path, captions):
    """On a phone a table's rows stack their cells; each cell shows its column's heading in
    front ("Stand: offen", not a bare "offen"). On a desktop the columns say it: no label. A
    screen reader has the table itself: the cell stays a cell, its name without the label."""
    from selenium.webdriver.common.by import By

    def cells(caption: str) -> list[list[list[str]]]:
        table = browser.find_element(By.XPATH, f"//table[contains(caption, '{caption}')]")
        rows: list[list[list[str]]] = browser.execute_script(CELLS, table)
        assert rows and all(rows), caption
        return rows

    set_width(browser, PHONE["width"])
    page = Page(browser, server, _axe_source())
    page.login("admin")
    page.open(path)
    assert browser.execute_script("return window.innerWidth") == PHONE["width"]
    for caption in captions:
        for row in cells(caption):
            for heading, shown, label, display in row:
                assert display == "block" and label == f"{heading}: ", (caption, heading, shown)
    if "Phasen" in captions:
        first = [shown for _, shown, _, _ in cells("Phasen")[0]]
        assert first[3:5] == ["Stand: offen", "Aufgaben erledigt: 0 von 7"], first
        cell = browser.find_element(By.XPATH, "//table[caption='Phasen']/tbody/tr[1]/td[3]")
        [node] = browser.execute_cdp_cmd("Accessibility.getPartialAXTree", {
            "backendNodeId": _backend_id(browser, cell), "fetchRelatives": False})["nodes"]
        assert (node["role"]["value"], node["name"]["value"]) == ("cell", "offen")
    assert all(not found for found in page.checked.values()), page.checked

    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    set_width(browser, 1280)
    browser.refresh()
    for caption in captions:
        for row in cells(caption):
            assert all(d == "table-cell" and not label for _, _, label, d in row), row


def _backend_id(driver, element) -> int:
    """The DevTools protocol's id of a selenium element (for the accessibility tree)."""
    driver.execute_script("window.lifecycleProbe = arguments[0];", element)
    remote = driver.execute_cdp_cmd("Runtime.evaluate", {"expression": "window.lifecycleProbe"})
    described = driver.execute_cdp_cmd("DOM.describeNode",
                                       {"objectId": remote["result"]["objectId"]})  # fmt: skip
    return int(described["node"]["backendNodeId"])
