"""The report opened from disk in a real browser (headless Chromium from Debian's packages)."""

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO
from karman.duffing.report import FIGURES as DUFFING_FIGURES
from karman.vortex.report import FIGURES as VORTEX_FIGURES
from karman.vortex.report import FORECAST_FIGURES

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("KARMAN_TEST_ARTIFACTS", REPO / "test-artifacts"))

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (installed by .ci/run)",
)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def open_page(browser, page: Path) -> dict:
    """Open `page` from disk; return its images, the URLs it requested and its console errors."""
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.execute_script("return Array.from(document.images).map(i => [i.id || i.src.slice(0, 40), i.complete && i.naturalWidth > 0]);")
    events = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    # the requests this page made (the browser's own start page loads chrome:// resources meanwhile)
    urls = [e["params"]["request"]["url"] for e in events
            if e["method"] == "Network.requestWillBeSent" and e["params"].get("documentURL") == page.as_uri()]
    return {
        "broken_images": [name for name, decoded in images if not decoded],
        "n_images": len(images),
        "requests": urls,
        "network_requests": [url for url in urls if not url.startswith(("file:", "data:"))],
        "console_errors": [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"],
    }


def test_report_opens_from_disk_with_every_image_and_no_request(tiny_run, browser):
    page = tiny_run / "results/report/index.html"
    seen = open_page(browser, page)
    assert page.as_uri() in seen["requests"]
    assert seen["n_images"] == len(VORTEX_FIGURES) + len(FORECAST_FIGURES) + len(DUFFING_FIGURES) and seen["broken_images"] == []  # both systems' figures
    assert seen["network_requests"] == []
    assert seen["console_errors"] == []
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('#metrics tr')).slice(1).map(r => Array.from(r.cells).map(c => c.innerText));")
    metrics = json.loads((tiny_run / "results/models/cnn/metrics.json").read_text())
    assert next(c for c in cells if c[0] == "cnn")[:3] == ["cnn", "cnn", "%.4f" % metrics["val"]["r2"]]
    # a screenshot of the whole page, kept as a test artifact
    browser.set_window_size(1280, browser.execute_script("return document.documentElement.scrollHeight"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))


def test_the_checks_catch_a_page_that_reaches_out(tiny_run, browser, tmp_path):
    html = (tiny_run / "results/report/index.html").read_text()
    doctored = tmp_path / "index.html"
    doctored.write_text(html.replace("</body>", '<img id="remote" src="http://127.0.0.1:9/logo.png"><script>console.error("boom")</script></body>'))
    seen = open_page(browser, doctored)
    assert seen["network_requests"] == ["http://127.0.0.1:9/logo.png"]
    assert seen["broken_images"] == ["remote"]
    assert any("boom" in message for message in seen["console_errors"])
