#!/usr/bin/env python
"""Take the README's retention screenshot from a running demo (`make run`, its worker runs the
deletion), with Debian's Chromium. The other screenshots are taken by the browser journeys
(tests/e2e/test_journeys.py with UPDATE_SCREENSHOTS=1).

.venv/bin/python bin/screenshots.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
SHOTS: list[tuple[str, str, str]] = [
    # (the role journeys in tests/e2e take the portal's other screenshots)
    ("alice", "/access/budgets/customer-events/", "budget.png"),
]


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-demo-2026")
    page.get_by_role("button", name="Sign in").click()


def retention_run(browser, base: str) -> None:
    """petra previews the next retention run of customer-events, runs it, and the run page
    shows the deletion certificate (needs the demo's worker running)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1250})
    _login(page, base, "petra")
    page.goto(f"{base}/retention/datasets/customer-events/")
    page.get_by_test_id("preview-button").click()
    page.get_by_test_id("preview-result").wait_for()
    page.get_by_test_id("run-now").click()
    page.get_by_test_id("confirm-slug").fill("customer-events")
    page.get_by_test_id("confirm-understood").check()
    page.get_by_test_id("confirm-run").click()
    page.get_by_test_id("certificate").wait_for(timeout=60_000)
    page.screenshot(path=str(OUT / "retention.png"), full_page=False)
    page.close()


def main(base: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/lib/chromium/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for username, path, name in SHOTS:
            page = browser.new_page(viewport={"width": 1280, "height": 1250})
            page.goto(f"{base}/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(f"{username}-demo-2026")
            page.get_by_role("button", name="Sign in").click()
            page.goto(f"{base}{path}")
            page.screenshot(path=str(OUT / name), full_page=False)
            page.close()
        retention_run(browser, base)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
