"""Signing in through the real forms in the browser, second factor included: the first time a
person whose role requires it signs in, they enrol (the test reads the key from the page, as
a person would type it into an authenticator app) and the recovery codes are kept; later
sign-ins in the same test use a code (a recovery code when the authenticator's code of this
30-second window was used already)."""

from __future__ import annotations

import base64

from django_otp.oath import totp
from playwright.sync_api import Page, expect

from tests.accounts.factories import PASSWORD

_RECOVERY: dict[str, list[str]] = {}


def authenticator_code(secret_text: str) -> str:
    secret = secret_text.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, step=30, t0=0, digits=6):06d}"


def sign_in(page: Page, base: str, username: str, password: str = PASSWORD) -> Page:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if "/accounts/two-factor/setup/" in page.url:
        secret = page.get_by_test_id("totp-secret").inner_text()
        page.get_by_label("Code from the app").fill(authenticator_code(secret))
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
        _RECOVERY[username] = list(codes)
        page.get_by_role("button", name="I have saved them — continue").click()
    elif "/accounts/two-factor/verify/" in page.url:
        page.get_by_label("Code").fill(_RECOVERY[username].pop())
        page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page
