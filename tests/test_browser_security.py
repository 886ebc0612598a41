"""In the browser: the CSP violation check of every browser test, and the login lockout message."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from .waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_inline_script_or_style_is_refused_and_reported(page, live_server, csp_violations):
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
        document.querySelector("h1").setAttribute("style", "color: red");
    }""")
    assert page.evaluate("() => window.injected === undefined")
    wait_until(lambda: len(csp_violations) >= 2, timeout=30, describe=lambda: f"two reports, got {csp_violations}")
    assert {v["directive"] for v in csp_violations} == {"script-src-elem", "style-src-attr"}
    csp_violations.clear()  # seen and checked: this test must not fail on them


def test_a_locked_out_user_is_told_when_to_try_again(page, live_server, project):
    page.goto(f"{live_server.url}/accounts/login/")
    for attempt in range(1, settings.AXES_FAILURE_LIMIT + 1):
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        if attempt < settings.AXES_FAILURE_LIMIT:
            expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    expect(page.get_by_role("heading", name="Login paused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again in 30 minutes")
    expect(page.get_by_role("alert")).to_contain_text("ask a site admin (staff) to unlock you")


def test_the_admin_and_settings_pages_pass_the_csp(page, live_server, project, admin_user, login):
    login(page, "admin")
    for path in ("/admin/", "/admin/projects/project/add/", "/admin/axes/accessattempt/", "/settings/",
                 "/projects/new/", "/projects/demo/hpo-jobs/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    # The teardown fails the test on any violation these pages caused.


def test_the_api_docs_page_renders_under_the_csp(page, live_server, project, login):
    login(page, "alice")
    response = page.goto(f"{live_server.url}/api/v1/docs/")
    assert response.status == 200
    expect(page.get_by_role("heading", name="HPO Portal API")).to_be_visible()
    expect(page.get_by_text("/api/v1/projects/", exact=True).first).to_be_visible()
    # The teardown fails the test on any violation the page caused.
