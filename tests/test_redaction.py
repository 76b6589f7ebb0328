"""imagepipe.redaction: the log filter that is the last line of defence for credentials."""

import logging

from uvicorn.logging import AccessFormatter

from imagepipe.redaction import CredentialFilter, guard_loggers, without_credentials

SECRET = "tok-3f9a"


def test_every_kind_of_credential_is_filtered_out_of_text():
    cases = {
        "GET /images?token=tok-3f9a&page=2": "GET /images?token=[Filtered]&page=2",
        "GET /media/v/1.webp?expires=9&signature=ab12": "GET /media/v/1.webp?expires=9&signature=[Filtered]",
        "https://b.s3/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff": "https://b.s3/k?X-Amz-Credential=[Filtered]&X-Amz-Signature=[Filtered]",
        "Authorization: Bearer abc.def": "Authorization: Bearer [Filtered]",
        "Cookie: imagepipe_session=v1.admin.x.1.sig; other=1": "Cookie: imagepipe_session=[Filtered]; other=1",
        "redis://:pw@host:6379/0": "redis://[Filtered]@host:6379/0",
        "the token is tok-3f9a, said nobody": "the token is [Filtered], said nobody",
    }  # fmt: skip
    for text, expected in cases.items():
        assert without_credentials(text, secrets=(SECRET,)) == expected


def test_the_access_log_keeps_its_format_with_the_credentials_filtered():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/events?token=tok-3f9a", "1.1", 400), None,
    )  # fmt: skip
    assert CredentialFilter((SECRET,)).filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '127.0.0.1:5000 - "GET /events?token=[Filtered] HTTP/1.1" 400 Bad Request'


def test_a_traceback_is_filtered_too_and_guarding_twice_keeps_one_filter(caplog):
    logger = logging.getLogger("imagepipe.test.redaction")
    guard_loggers([logger.name], secrets=(SECRET,))
    guard_loggers([logger.name], secrets=(SECRET,))
    assert sum(isinstance(f, CredentialFilter) for f in logger.filters) == 1
    try:
        raise ValueError(f"connecting with {SECRET}")
    except ValueError:
        with caplog.at_level(logging.ERROR, logger=logger.name):
            logger.exception("failed for Bearer %s", SECRET)
            logger.error("sent %s to %s", "Authorization: Bearer guessed-one", "/images")
    assert SECRET not in caplog.text and "guessed-one" not in caplog.text
    assert "failed for Bearer [Filtered]" in caplog.text and "connecting with [Filtered]" in caplog.text
    assert "sent Authorization: Bearer [Filtered] to /images" in caplog.text


def test_without_root_handlers_the_app_loggers_records_still_pass_a_filter(capsys):
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        guard_loggers(["uvicorn.access"], secrets=(SECRET,))
        logging.getLogger("web.app").error("GET /livez failed: %s", f"Bearer {SECRET}")
    finally:
        root.handlers[:] = saved
    assert capsys.readouterr().err == "GET /livez failed: Bearer [Filtered]\n"
