"""The web tests' real server and browser fixtures, for the attacks tried on them."""

from tests.web.conftest import api, chromium, open_page, serve  # noqa: F401 (fixtures)
