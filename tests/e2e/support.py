"""Helpers of the role journeys: sign in, accessibility (axe-core, vendored), sideways
scrolling at phone width, and the README's screenshots."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base: str, username: str) -> None:
    """Through the real forms, second factor included (tests/e2e/signin.py)."""
    from tests.e2e.signin import sign_in as through_the_forms

    through_the_forms(page, base, username)


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x A/AA and
    best practices), as 'rule: target' lines."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not added as a <script>: the page's
        # Content-Security-Policy (no inline scripts) stays on while axe looks at it.
        page.evaluate(AXE.read_text() + "\n;undefined")
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations
              .filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => v.id + ": " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
        }"""
    )
    return list(results)


def assert_accessible(page: Page, where: str) -> None:
    problems = serious_violations(page)
    assert not problems, f"{where}: " + "; ".join(problems)


def assert_no_sideways_scroll(page: Page, where: str) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{where} scrolls sideways by {overflow}px at {page.viewport_size}"


def shoot(page: Page, name: str, tmp_path: Path) -> Path:
    """The README's screenshots: written to docs/images with UPDATE_SCREENSHOTS=1, otherwise
    to the test's temporary folder (taken all the same, so the journey proves they can be)."""
    folder = IMAGES if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    path = folder / name
    page.screenshot(path=str(path), full_page=False)
    return path


def sweep(page: Page, base: str, paths: list[str], *, axe: bool = True) -> None:
    """Visit each page: no sideways scrolling, and (with ``axe``) no serious or critical
    accessibility violation."""
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, path
        assert_no_sideways_scroll(page, path)
        if axe:
            assert_accessible(page, path)
