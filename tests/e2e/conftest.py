from __future__ import annotations

import shutil

import pytest

CHROMIUM = "/usr/lib/chromium/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = CHROMIUM if shutil.which(CHROMIUM) else shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ],
    }


# --- every page runs under the production Content-Security-Policy ---------------------------
# Chromium reports each violation on the console ("Refused to apply inline style …"). Every
# browser context the tests open listens, and a test fails if any page reported one.
_CSP_VIOLATIONS: list[str] = []


def _listen_for_csp_violations(context) -> None:
    def record(message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            _CSP_VIOLATIONS.append(f"{message.page.url if message.page else '?'}: {text}")

    context.on("console", record)


def _patch_new_context():
    from playwright.sync_api import Browser

    original = Browser.new_context
    if getattr(original, "_listens_for_csp", False):
        return

    def new_context(self, *args, **kwargs):
        context = original(self, *args, **kwargs)
        _listen_for_csp_violations(context)
        return context

    new_context._listens_for_csp = True
    Browser.new_context = new_context


_patch_new_context()


@pytest.fixture(autouse=True)
def _no_csp_violations():
    _CSP_VIOLATIONS.clear()
    yield
    assert not _CSP_VIOLATIONS, "Content-Security-Policy violations:\n" + "\n".join(_CSP_VIOLATIONS)
