"""A steward signs in with a real browser against a live server."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.accounts.factories import UserFactory
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_steward_signs_in_and_sees_the_dashboard(live_server, page: Page):
    UserFactory(username="alice", roles=["steward"])
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    sign_in(page, live_server.url, "alice")  # her first sign-in: she sets up her authenticator
    expect(page.get_by_role("heading", name="Your datasets")).to_be_visible()
    expect(page.locator('[data-nav="service-accounts"]')).to_have_count(0)
    # the vendored stylesheet loaded (Pico sets the body font), no CDN involved
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "system-ui" in font
    assert page.evaluate("typeof htmx") == "object"


def test_wrong_password_shows_a_form_error(live_server, page: Page):
    UserFactory(username="alice", roles=["steward"])
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")


def test_signing_out_returns_to_the_login_page(live_server, page: Page):
    UserFactory(username="alice", roles=["steward"])
    sign_in(page, live_server.url, "alice")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
