"""Browser fixtures shared by the page tests that read what Chromium drew."""

import pytest
from playwright.sync_api import sync_playwright

from pipeline.benchmarks.browser import CHROMIUM, CHROMIUM_ARGS

VIEWPORT = {"width": 1280, "height": 900}  # the width the pages are laid out for


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, once per test module."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page at VIEWPORT (its own context: no cookies or storage from another test)."""
    context = browser.new_context(viewport=VIEWPORT)
    yield context.new_page()
    context.close()
