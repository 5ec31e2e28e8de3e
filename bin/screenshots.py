#!/usr/bin/env python
"""Take the README's screenshots from a running demo (`make run`), with Debian's Chromium.

.venv/bin/python bin/screenshots.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
SHOTS = [
    ("alice", "/datasets/customer-events/", "dataset-page.png"),
    ("alice", "/datasets/health-survey/review/", "review-queue.png"),
]


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
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
