"""The review page in a real browser, behind a real JupyterHub, with hub OAuth login.

A minimal hub of this module's own (the sandbox's ``sandbox_world`` hub needs root and Unix accounts,
and its config has no review service): configurable-http-proxy from ``sandbox/node_modules``, the
shared-password authenticator, and the review page as a *managed* service configured exactly as
production wires it (:func:`~hdc_toolkit.outputs.review_app.service_definition` and
:func:`~hdc_toolkit.outputs.review_app.service_roles`). No single-user server is ever started, so
no root is needed. Debian's chromium runs through Playwright's ``executable_path`` (no download).

People of project ``p2026-900-review``: ``erin`` (researcher, the author), ``olav`` and ``kari``
(output checkers), ``dave`` (no role anywhere).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hdc_toolkit.config import Settings

from .conftest import register_project

pytestmark = [pytest.mark.e2e]

PROJECT = "p2026-900-review"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HUB_CONFIG = """
import os
from hdc_toolkit.outputs.review_app import service_definition, service_roles

c = get_config()  # noqa: F821
env = os.environ.get
state = env("HDC_SANDBOX_STATE")
c.JupyterHub.bind_url = f"http://127.0.0.1:{env('HDC_SANDBOX_PORT')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{env('HDC_SANDBOX_HUB_PORT')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('HDC_SANDBOX_PROXY_API_PORT')}"
c.ConfigurableHTTPProxy.command = [env("HDC_TEST_PROXY")]
c.ConfigurableHTTPProxy.pid_file = f"{state}/proxy.pid"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = env("HDC_SANDBOX_PASSWORD")
c.Authenticator.allow_all = True
c.JupyterHub.services = [
    service_definition(
        port=int(env("HDC_TEST_REVIEW_PORT")),
        environment={"HDC_HOME": env("HDC_HOME"), "HDC_DATABASE_URL": env("HDC_DATABASE_URL")},
    )
]
c.JupyterHub.load_roles = service_roles()
"""


@dataclass
class ReviewWorld:
    settings: Settings
    hub: Any
    password: str
    request_id: int

    @property
    def page_url(self) -> str:
        return f"{self.hub.url}/services/hdc-review/"


def _populate(settings: Settings) -> int:
    from hdc_toolkit.outputs.airlock import Airlock
    from hdc_toolkit.outputs.tables import frequency_table
    from hdc_toolkit.projects.registry import open_registry

    registry = open_registry(settings)
    ws = register_project(
        settings, PROJECT, "Review page test", {"erin": "researcher", "olav": "output_checker", "kari": "output_checker"}
    )
    people = pd.DataFrame(
        {"county": ["Trøndelag"] * 60 + ["Nordland"] * 4, "sex": (["F", "M"] * 30) + ["F", "F", "F", "M"]}
    )
    csv = frequency_table(people, "county", "sex", name="county_by_sex").save(ws.root / "outputs")
    req = Airlock(settings, registry=registry).request(
        PROJECT, [csv], context="Table 1 of the paper: <b>patients</b> by county & sex", author="erin"
    )
    return req.id


def _wait_for_service(url: str, hub: Any, timeout: float = 30) -> None:
    """The managed service starts after the hub answers: wait until it redirects to the hub login."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in (302, 403):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the review service did not answer at {url}\n{hub.log_tail()}")


@pytest.fixture(scope="module")
def review_world() -> Iterator[ReviewWorld]:
    from hdc_toolkit.hub.runner import HubPorts, LocalHub, ensure_proxy, free_port
    from hdc_toolkit.projects.registry import dispose_engines

    home = Path(tempfile.mkdtemp(prefix="hdc-reviewtest-"))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'registry.sqlite'}")
    password = secrets.token_urlsafe(12)
    config = home / "jupyterhub_config.py"
    config.write_text(HUB_CONFIG)
    hub = None
    try:
        request_id = _populate(settings)
        hub = LocalHub(
            state_dir=home / "hub",
            env={
                "HDC_HOME": str(home),
                "HDC_DATABASE_URL": settings.database_url,
                "HDC_SANDBOX_PASSWORD": password,
                "HDC_TEST_PROXY": str(ensure_proxy(log=lambda m: print(f"[review test] {m}"))),
                "HDC_TEST_REVIEW_PORT": str(free_port()),
            },
            ports=HubPorts.free(),
            config=config,
        )
        hub.start()
        hub.wait_ready(timeout=60)
        world = ReviewWorld(settings, hub, password, request_id)
        _wait_for_service(world.page_url, hub)
        yield world
    finally:
        if hub is not None:
            hub.stop()
        dispose_engines()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def login(browser: Any, world: ReviewWorld, username: str) -> Any:
    """A fresh browser context logged in as ``username``, on the review page."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(world.page_url)
    page.wait_for_selector("#username_input")  # the hub's login page
    page.fill("#username_input", username)
    page.fill("#password_input", world.password)
    page.click("#login_submit")
    page.wait_for_url(f"{world.page_url}**")
    return page


def test_checkers_review_in_the_browser(browser: Any, review_world: ReviewWorld) -> None:
    from hdc_toolkit.audit import AuditLog
    from hdc_toolkit.outputs.airlock import Airlock

    rid = review_world.request_id
    page = login(browser, review_world, "olav")
    assert page.text_content("#user") == "olav"
    row = page.locator(f'#requests tr[data-request="{rid}"]')
    assert "submitted" in row.inner_text() and "awaits your review" in row.inner_text()

    row.locator("a").first.click()
    page.wait_for_selector("#context")
    # the context is shown as text, not markup
    assert page.text_content("#context") == "Table 1 of the paper: <b>patients</b> by county & sex"
    flagged = page.locator("td.flagged")
    assert flagged.count() == 2  # Nordland: F 3 and M 1, suppressed
    assert flagged.first.get_attribute("data-rules") == "threshold"
    assert "Nordland" in page.locator("tr", has=flagged.first).inner_text()
    assert page.locator("#state").inner_text() == "submitted"

    page.fill("#comment", "Nordland suppressed; margins recomputed")
    page.click("#approve")
    page.wait_for_selector("#message")
    assert "partially_reviewed" in page.text_content("#message")
    assert page.locator("#state").inner_text() == "partially_reviewed"
    assert "You cannot review this request" in page.text_content("#no-review")  # not twice

    second = login(browser, review_world, "kari")
    second.goto(f"{review_world.page_url}requests/{rid}")
    second.fill("#comment", "agree")
    second.click("#approve")
    second.wait_for_selector("#message")
    assert second.locator("#state").inner_text() == "approved"
    assert "olav · approve" in second.text_content("#reviews")

    req = Airlock(review_world.settings).get(rid)
    assert req.state == "approved" and req.reviewers == ["olav", "kari"]
    actions = [(e["action"], e["actor"]) for e in AuditLog(review_world.settings).entries(project=PROJECT)]
    assert ("output.reviewed", "olav") in actions and ("output.reviewed", "kari") in actions


@pytest.mark.parametrize("who", ["erin", "dave"])
def test_people_who_check_no_outputs_are_turned_away(
    browser: Any, review_world: ReviewWorld, who: str
) -> None:
    page = login(browser, review_world, who)
    assert "not an output checker" in page.text_content("#error")
    response = page.goto(f"{review_world.page_url}requests/{review_world.request_id}")
    assert response is not None and response.status == 403


def test_posts_need_the_xsrf_token(browser: Any, review_world: ReviewWorld) -> None:
    page = login(browser, review_world, "olav")
    response = page.request.post(
        f"{review_world.page_url}requests/{review_world.request_id}/review",
        form={"decision": "reject", "comment": "forged"},
        max_redirects=0,
    )
    assert response.status in (302, 403)  # no review without the form's token: login again or refused
    from hdc_toolkit.outputs.airlock import Airlock

    assert "reject" not in [
        r.decision for r in Airlock(review_world.settings).get(review_world.request_id).history
    ]
