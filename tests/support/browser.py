"""A real headless Chromium (Debian's `chromium` and `chromium-driver`), driven by Selenium
through the system's chromedriver: pages are tested as a browser shows them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
)
WAIT = 15
"""Seconds a lookup waits for its element (a page still loading after a click, a loaded machine)."""


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium, quit afterwards. The system's browser and driver, never one that
    Selenium would fetch: both must be installed (scripts/install-system-deps.sh)."""
    driver_path, browser_path = shutil.which("chromedriver"), shutil.which("chromium")
    assert driver_path and browser_path, "chromium and chromium-driver are not installed"
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in (*FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(WAIT)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
