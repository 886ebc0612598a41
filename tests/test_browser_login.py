"""The browser harness: Playwright driving Debian's Chromium against Django's live server."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_logs_in_sees_demo_and_logs_out(page, live_server, project, login, screenshot_dir):
    login(page, "alice")
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    expect(page.get_by_role("link", name="Demo")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "projects.png"), full_page=True)
    page.get_by_role("link", name="Demo").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    page.locator("summary", has_text="alice").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/projects/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/projects/")


def test_a_wrong_password_says_so(page, live_server, project):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")


def test_owner_adds_a_member_and_sees_an_error_for_an_unknown_user(page, live_server, project, charlie, login):
    login(page, "alice")
    page.goto(f"{live_server.url}/projects/demo/")
    page.get_by_label("Username").fill("nobody")
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".field-error")).to_have_text("No user is called “nobody”.")
    page.get_by_label("Username").fill("charlie")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("tr[data-member=charlie]")).to_be_visible()
