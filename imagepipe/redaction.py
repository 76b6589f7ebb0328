"""Credentials out of text that leaves the process: a log line, a probe's answer, an error report."""

import logging
import re

#: ``scheme://user:password@`` up to the last ``@`` before the host, so a password that
#: contains an unescaped ``@`` is redacted whole.
URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/?#'\"]*@", re.IGNORECASE)
#: Query parameters (in a URL, or a query string on its own) that carry a credential or a
#: capability: a token (refused, but a client may still send one), a signed media URL's
#: signature, a presigned S3 URL's parts.
URL_SECRETS = re.compile(
    r"((?:^|[?&\s])(?:token|access_token|signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)"
    r"[^&\s\"']*",
    re.IGNORECASE,
)
#: A bearer header or a session cookie quoted in a message.
HEADER_SECRETS = re.compile(r"(\bbearer\s+|\bimagepipe_session=)[^\s;,\"']+", re.IGNORECASE)


def without_url_credentials(text, mark="[Filtered]"):
    """``text`` with the user and password of every URL in it replaced by ``mark``."""
    return URL_CREDENTIALS.sub(rf"\1{mark}@", text)


def without_query_values(url, mark="[Filtered]"):
    """``url`` with every query parameter's value replaced by ``mark``: for showing a URL
    whose query may carry a key (a webhook receiver's ``?key=...``)."""
    return re.sub(r"([?&][^=&#]*=)[^&#]*", rf"\1{mark}", url)


def without_credentials(text, secrets=(), mark="[Filtered]"):
    """``text`` without URL passwords, credential query parameters, bearer tokens, session
    cookies, nor any of ``secrets`` (the configured tokens) wherever they appear."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mark)
    text = URL_SECRETS.sub(rf"\1{mark}", text)
    text = HEADER_SECRETS.sub(rf"\1{mark}", text)
    return without_url_credentials(text, mark)


class CredentialFilter(logging.Filter):
    """A log filter that rewrites each record's message with ``without_credentials``: the
    last line of defence, for the access log (uvicorn writes every URL it serves) and errors."""

    def __init__(self, secrets=()):
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record):
        # Each argument apart first: uvicorn's access formatter reads the five arguments of its
        # records (client, method, path, version, status). Only a message still holding a
        # credential after that (one in its template) is collapsed into plain text.
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self._clean(arg) for key, arg in record.args.items()}
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)  # a malformed record: logging reports it; keep it clean
            record.args = ()
        cleaned = without_credentials(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = without_credentials(logging.Formatter().formatException(record.exc_info), self.secrets)
        return True

    def _clean(self, value):
        return without_credentials(value, self.secrets) if isinstance(value, str) else value


def guard_loggers(names, secrets=()):
    """Put one CredentialFilter (replacing an earlier one) on the loggers ``names`` and on the
    root logger's handlers, which every propagated record passes through.

    A root logger without handlers (uvicorn configures only its own) would hand records to
    logging's last resort, which no filter reaches: it gets a stderr handler like that one
    (warnings and above, the bare message), filtered.
    """
    root = logging.getLogger()
    if not root.handlers:
        fallback = logging.StreamHandler()
        fallback.setLevel(logging.WARNING)
        root.addHandler(fallback)
    guard = CredentialFilter(secrets)
    for target in [logging.getLogger(name) for name in names] + list(root.handlers):
        for old in [f for f in target.filters if isinstance(f, CredentialFilter)]:
            target.removeFilter(old)
        target.addFilter(guard)
