"""The web tests' real server and browser (tests/web/conftest.py), and a page that records
what a security test must see none of."""

from urllib.parse import urlsplit

import pytest

from tests.web.conftest import api, chromium, open_page, serve, sign_in  # noqa: F401

# Before the page's own script: every CSP violation, recorded in the page.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
"""


@pytest.fixture
def watched(open_page):  # noqa: F811
    """``watched(url, token=None)`` -> a page at ``url`` (signed in with ``token`` first, when
    given) recording CSP violations (``window.__violations``), dialogs, script errors, console
    errors and failed loads in ``watched.seen``."""
    seen = {"dialogs": [], "errors": []}

    def open_(url, token=None):
        page = open_page(viewport={"width": 1280, "height": 900})
        if token:
            origin = urlsplit(url)
            sign_in(page, f"{origin.scheme}://{origin.netloc}", token)
        page.add_init_script(LISTEN)
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("console", lambda message: message.type == "error" and seen["errors"].append(message.text))
        page.on("response", lambda r: r.status >= 400 and seen["errors"].append(f"{r.status} {r.url}"))
        page.goto(url)
        return page

    open_.seen = seen
    return open_


def assert_clean(page, seen):
    """No CSP violation, dialog, script or console error on ``page`` so far."""
    assert page.evaluate("window.__violations") == []
    assert seen == {"dialogs": [], "errors": []}
