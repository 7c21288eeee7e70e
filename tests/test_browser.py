"""The HTML reports in a real browser: no console error, sorting works, plots are drawn.

Needs Debian's chromium and chromium-driver (.ci/run installs them); skipped with the reason otherwise.
Screenshots are saved under the test's tmp dir.
"""

from __future__ import annotations

import shutil

import pytest


CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMEDRIVER and CHROMIUM),
                                 reason="chromium and chromium-driver are not installed (apt-get install chromium "
                                        "chromium-driver)")]


@pytest.fixture(scope="module")
def reports(example_class):
    return example_class[1]  # the example class, graded once per session (English reports)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update", "--disable-sync", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _totals(driver) -> list[float]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#students tbody tr")
    return [float(row.find_elements(By.TAG_NAME, "td")[1].get_attribute("data-value")) for row in rows]


def test_index_sorts_filters_and_draws_the_histogram(reports, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get((reports / "index.html").as_uri())
    assert _console_errors(browser) == []
    histogram = browser.find_element(By.CSS_SELECTOR, "#histogram svg")
    assert histogram.size["width"] > 100 and histogram.size["height"] > 50
    assert browser.find_elements(By.CSS_SELECTOR, "#histogram svg path")
    total_header = browser.find_elements(By.CSS_SELECTOR, "#students thead th")[1]
    total_header.click()
    ascending = _totals(browser)
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    total_header.click()
    assert _totals(browser) == sorted(ascending, reverse=True)
    search = browser.find_element(By.ID, "filter")
    search.send_keys("grace")
    visible = [row for row in browser.find_elements(By.CSS_SELECTOR, "#students tbody tr") if row.is_displayed()]
    assert [row.find_element(By.TAG_NAME, "a").text for row in visible] == ["grace"]
    browser.save_screenshot(str(tmp_path / "index.png"))
    assert (tmp_path / "index.png").stat().st_size > 10_000
    assert _console_errors(browser) == []


def test_student_page_draws_the_loss_curve(reports, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get((reports / "students" / "frank.html").as_uri())
    assert _console_errors(browser) == []
    plots = browser.find_elements(By.CSS_SELECTOR, "figure.plot svg")
    assert len(plots) >= 3  # two hello curves and the seq2seq curve with its threshold
    assert all(plot.size["width"] > 100 for plot in plots)
    assert "threshold" in plots[-1].get_attribute("innerHTML")
    browser.save_screenshot(str(tmp_path / "frank.png"))
    assert (tmp_path / "frank.png").stat().st_size > 10_000
