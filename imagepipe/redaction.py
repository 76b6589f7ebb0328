"""Credentials out of text that leaves the process: a log line, a probe's answer, an error report."""

import re

#: ``scheme://user:password@`` up to the last ``@`` before the host, so a password that
#: contains an unescaped ``@`` is redacted whole.
URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/?#'\"]*@", re.IGNORECASE)


def without_url_credentials(text, mark="[Filtered]"):
    """``text`` with the user and password of every URL in it replaced by ``mark``."""
    return URL_CREDENTIALS.sub(rf"\1{mark}@", text)
