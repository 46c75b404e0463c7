"""The console in a real browser (Debian's Chromium, headless, at phone width): log in, see an incident,
approve a pending action, see the cluster change in the fake API server and the audit entry."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from remediator.api import build_web_app
from tests.api.conftest import ADMIN, ADMIN_NAME, Api, am_alert

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="Chromium and chromedriver are not installed"
)
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0}


@pytest.fixture
async def served(api: Api) -> AsyncIterator[str]:
    """The daemon's web app on a real loopback port (the browser needs one)."""
    runner = web.AppRunner(build_web_app(api.app.api_state()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def browser(tmp_path: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(arg)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def gone(element: Any) -> bool:
    """The element's page has been replaced. While Chromium tears the old document down, asking about
    one of its nodes can answer "Node with given id does not belong to the document" (an inspector
    error, not a StaleElementReferenceException): that says the same thing, the node is gone."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as e:
        if "does not belong to the document" in (e.msg or ""):
            return True
        raise
    return False


def click_to_load(driver: Any, element: Any) -> str:
    """Click something that loads a page, wait for the new page, and return its main text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(lambda _: gone(old))
    text: str = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "main")).text
    return text


async def in_browser(step: Callable[[], Any]) -> Any:
    """Selenium blocks: run a step in a thread so the daemon's event loop keeps serving the browser."""
    return await asyncio.to_thread(step)


async def test_log_in_see_an_incident_approve_and_see_the_change(
    api: Api, served: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    await api.alert(am_alert(severity="critical"))  # restart-on-errors acts on its own
    await api.alert(am_alert("CacheStale", deployment="search"))  # flush-cache waits for a human
    before = api.kube.get("Deployment", "shop", "search")
    assert before is not None
    assert RESTARTED_AT not in (before["spec"]["template"]["metadata"].get("annotations") or {})

    def log_in() -> str:
        browser.get(served + "/ui/")  # not logged in: the login page, then back here
        assert "/ui/login" in browser.current_url
        browser.find_element(By.NAME, "token").send_keys(ADMIN)
        return click_to_load(browser, browser.find_element(By.CSS_SELECTOR, "form.act button[type=submit]"))

    now = await in_browser(log_in)
    assert "RUNNING: remediator acts on alerts" in now
    assert "Waiting for you (1)" in now and "Open incidents (2)" in now
    width = await in_browser(lambda: browser.execute_script("return document.documentElement.scrollWidth"))
    assert width <= PHONE["width"], "the page must not scroll sideways on a phone"

    def open_incident() -> str:
        text = click_to_load(
            browser, browser.find_element(By.PARTIAL_LINK_TEXT, "HighErrorRate on shop/checkout")
        )
        browser.save_screenshot(str(tmp_path / "incident.png"))
        return text

    incident = await in_browser(open_incident)
    assert "Decided act restart-on-errors → shop/Deployment/checkout" in incident
    assert "succeeded rollout_restart on shop/Deployment/checkout" in incident
    assert "+++ applied/apps.v1.Deployment.shop.checkout" in incident  # as `kubectl diff` shows it
    assert re.search(rf"^\+\s+{re.escape(RESTARTED_AT)}: ", incident, re.M)

    def approve() -> str:
        click_to_load(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "Approvals"))
        card = browser.find_element(By.CSS_SELECTOR, "[id^=approval-]")
        assert "What would change" in card.text and RESTARTED_AT in card.text
        card.find_element(By.CSS_SELECTOR, "form[action$='/approve'] input[name=reason]").send_keys(
            "cache is stale for real"
        )
        text = click_to_load(browser, card.find_element(By.CSS_SELECTOR, "form[action$='/approve'] button"))
        browser.save_screenshot(str(tmp_path / "approved.png"))
        return text

    approved = await in_browser(approve)
    assert "Approved #1 (flush-cache on shop/Deployment/search): decided act" in approved
    await api.app.drained()
    after = api.kube.get("Deployment", "shop", "search")
    assert after is not None
    assert RESTARTED_AT in (after["spec"]["template"]["metadata"].get("annotations") or {})

    def audit() -> str:
        return click_to_load(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "Audit"))

    trail = await in_browser(audit)
    assert f"approve by {ADMIN_NAME}" in trail and "cache is stale for real" in trail
