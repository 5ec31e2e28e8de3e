"""Sign-in with a second factor, and the production headers, in a real browser: every page
here runs under the Content-Security-Policy (the e2e conftest fails a test on any violation)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.accounts.factories import PASSWORD, UserFactory
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_privacy_officer_enrols_an_authenticator_then_signs_in_with_a_recovery_code(
    live_server, page: Page
):
    UserFactory(username="petra", roles=["privacy_officer"])
    # the first sign-in leads to enrolment, with a QR code to scan
    sign_in(page, live_server.url, "petra")
    # (the helper checked the QR page, confirmed a code and kept the recovery codes)
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    sign_in(page, live_server.url, "petra")  # now through verification, with a recovery code
    page.goto(f"{live_server.url}/accounts/two-factor/")
    expect(page.get_by_test_id("second-factor-status")).to_contain_text("On")
    expect(page.get_by_text("9 unused recovery codes")).to_be_visible()


def test_the_qr_code_and_key_show_under_the_policy(live_server, page: Page):
    UserFactory(username="alice", roles=["steward"])
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/two-factor/setup/?next=%2F")
    expect(page.get_by_test_id("qr").locator("svg")).to_be_visible()
    expect(page.get_by_test_id("totp-secret")).to_have_text(
        re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$")
    )


def test_django_admin_and_the_api_docs_render_under_the_policy(live_server, page: Page):
    UserFactory(username="ada", roles=["admin"])
    sign_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Data governance")
    favicon = page.request.get(f"{live_server.url}/favicon.ico")
    assert favicon.ok
    assert favicon.headers["content-type"].startswith("image/svg")
