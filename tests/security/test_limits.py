"""The web app's abuse limits (web/limits.py) against a real uvicorn server and a real Redis:
streams and uploads per client, failed authentications per address, body sizes, fail-open."""

import asyncio
import io
import logging
import time

import pytest

from imagepipe.redis_server import free_port
from imagepipe.samples import make_photo
from middleware.rate_limit import parse_rate
from tests.security.conftest import OTHER_ADDRESS, RawConnection, client_from, get, port_of
from tests.web.conftest import SseClient
from web import limits

pytestmark = pytest.mark.parametrize("storage", ["local"], indirect=True)

TOKEN = "s3cret"


def upload(client, data, **kwargs):
    return client.post("/images", files={"file": ("photo.jpg", data, "image/jpeg")}, **kwargs)


def test_one_client_is_held_to_its_streams_while_another_gets_one_at_once(serve, settings, redis_client):
    api = serve()  # no token: each address is a client
    most = settings.web_max_streams_per_client
    assert most == 10

    async def scenario():
        port = port_of(api)

        async def open_stream(address):
            connection = await RawConnection.open(port, address)
            await connection.send(get("/events"))
            status, headers = await connection.head(timeout=20)
            if status == 200:
                await asyncio.wait_for(connection.reader.readuntil(b": connected\n"), 20)
            return connection, status, headers

        # given one client opening 300 streams at once
        burst = [asyncio.ensure_future(open_stream("127.0.0.1")) for _ in range(300)]
        await asyncio.sleep(0.05)
        # when another client asks for one in the middle of it
        started = time.monotonic()
        other, other_status, _ = await open_stream(OTHER_ADDRESS)
        other_s = time.monotonic() - started
        opened = await asyncio.gather(*burst)
        # then that client had its stream within a second, and the first exactly its ten
        statuses = [status for _, status, _ in opened]
        refused = [headers for _, status, headers in opened if status == 429]
        leased = redis_client.zcard("imagepipe:web:streams:address:127.0.0.1")
        for connection, _, _ in [*opened, (other, None, None)]:
            connection.close()
        return other_status, other_s, statuses, refused, leased

    other_status, other_s, statuses, refused, leased = asyncio.run(scenario())
    print(f"other client's stream in {other_s * 1000:.0f} ms; statuses {sorted(set(statuses))}")
    assert other_status == 200 and other_s < 1.0
    assert statuses.count(200) == most and statuses.count(429) == 300 - most
    assert all(headers["retry-after"] == str(limits.STREAM_RETRY_AFTER_S) for headers in refused)
    assert leased == most
    # and closing the streams releases their leases
    deadline = time.monotonic() + 5
    while redis_client.zcard("imagepipe:web:streams:address:127.0.0.1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis_client.zcard("imagepipe:web:streams:address:127.0.0.1") == 0


def test_a_burst_of_uploads_is_throttled_while_another_clients_goes_through(serve, settings, small_jpeg):
    api = serve()
    count, period_ms = parse_rate(settings.web_upload_rate)
    assert (count, period_ms) == (60, 60_000)
    started = time.monotonic()
    burst = [upload(api, small_jpeg) for _ in range(100)]
    burst_s = time.monotonic() - started
    statuses = [response.status_code for response in burst]
    print(f"100 uploads in {burst_s:.2f} s")
    assert statuses == [202] * count + [429] * (100 - count)
    refusal = burst[-1]
    assert 1 <= int(refusal.headers["retry-after"]) <= 60
    assert "upload limit reached" in refusal.json()["error"]
    with client_from(api, OTHER_ADDRESS) as other:
        assert upload(other, small_jpeg).status_code == 202


def test_every_upload_form_spends_one_budget_of_the_token_whatever_the_address(serve, small_jpeg):
    api = serve(api_token=TOKEN, web_upload_rate="3/m")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    form = {"name": "a.jpg", "content_type": "image/jpeg", "bytes": len(small_jpeg)}
    assert api.post("/uploads", json=form, headers=auth).status_code == 201
    assert api.post("/images", json={"key": "nope"}, headers=auth).status_code == 400  # counted all the same
    with client_from(api, OTHER_ADDRESS) as other:
        assert upload(other, small_jpeg, headers=auth).status_code == 202
        refused = upload(other, small_jpeg, headers=auth)  # the same token from another address
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert api.post("/uploads", json=form, headers=auth).status_code == 429


def test_wrong_tokens_from_one_address_are_held_while_the_right_token_elsewhere_works(serve, settings):
    api = serve(api_token=TOKEN)
    limit, _ = parse_rate(settings.web_auth_failure_rate)
    assert limit == 20

    async def guesses(connections=10, each=100):
        """1,000 wrong tokens, pipelined on ten keep-alive connections."""

        async def one_connection(n):
            connection = await RawConnection.open(port_of(api))
            await connection.send(
                b"".join(get("/images", f"Authorization: Bearer wrong-{n}-{i}\r\n") for i in range(each))
            )
            responses = [await connection.response() for _ in range(each)]
            connection.close()
            return responses

        batches = await asyncio.gather(*(one_connection(n) for n in range(connections)))
        return [response for batch in batches for response in batch]

    started = time.monotonic()
    responses = asyncio.run(guesses())
    guesses_s = time.monotonic() - started
    statuses = [status for status, _, _ in responses]
    print(f"1,000 wrong tokens in {guesses_s:.2f} s: {statuses.count(401)} x 401, {statuses.count(429)} x 429")
    assert statuses.count(401) == limit and statuses.count(429) == 1000 - limit
    assert all(1 <= int(headers["retry-after"]) <= 60 for status, headers, _ in responses if status == 429)
    assert b"too many failed authentications" in next(body for status, _, body in responses if status == 429)
    # the held address gets 429 even with the right token (it is not checked); no credential: 401
    assert api.get("/images", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
    assert api.get("/images", params={"token": TOKEN}).status_code == 400  # refused before any check
    assert api.get("/images").status_code == 401
    with client_from(api, OTHER_ADDRESS) as other:
        assert other.get("/images", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert other.get("/images", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_bodies_are_held_to_their_routes_limits(serve, settings, small_jpeg):
    api = serve(max_upload_bytes=200_000)
    json_limit = settings.web_max_json_bytes
    assert json_limit == 64 * 1024
    # a JSON route with a 1 MB body: refused by its Content-Length
    huge = b'{"name": "' + b"x" * 1_000_000 + b'"}'
    response = api.post("/uploads", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "65,536 byte limit" in response.json()["error"]
    # a chunked body past the limit: refused once it passes
    assert chunked_post(api, "/uploads", b"x" * (json_limit + 1), "application/json") == 413
    assert chunked_post(api, "/uploads", b'{"name": 1}', "application/json") == 400  # under it: read
    # multipart: the upload limit, not the JSON one
    big = make_large_jpeg(json_limit)
    assert upload(api, big).status_code == 202
    over = api.post("/images", files={"file": ("a.jpg", b"\xff" * 300_000, "image/jpeg")})
    assert over.status_code == 413 and "byte limit" in over.json()["error"]
    boundary = "b0undary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + b"\xff" * 300_000
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert chunked_post(api, "/images", multipart, f"multipart/form-data; boundary={boundary}") == 413


def chunked_post(api, path, body, content_type, chunk=16 * 1024):
    """Status of a POST whose body is sent chunked, without a Content-Length; the server closes after a 413."""

    async def post():
        connection = await RawConnection.open(port_of(api))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        await connection.send(head.encode() + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n")
        status, headers, _ = await connection.response()
        if status == 413:
            assert headers["connection"] == "close"
            assert await connection.closed_by_server(timeout=2)
        connection.close()
        return status

    return asyncio.run(post())


def make_large_jpeg(at_least):
    out = io.BytesIO()
    make_photo(800, 600, seed=3).save(out, "JPEG", quality=95)
    assert len(out.getvalue()) > at_least
    return out.getvalue()


def test_requests_go_through_while_the_limits_redis_is_unreachable(serve, small_jpeg, caplog):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    api = serve(api_token=TOKEN, redis_url=dead, web_upload_rate="1/m", web_auth_failure_rate="1/m")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with caplog.at_level(logging.WARNING, logger="web.limits"):
        assert [upload(api, small_jpeg, headers=auth).status_code for _ in range(3)] == [202] * 3
        assert [api.get("/images", headers={"Authorization": "Bearer no"}).status_code for _ in range(5)] == [401] * 5
        SseClient(api, "/events", headers=auth).close()
    warnings = [record for record in caplog.records if record.name == "web.limits"]
    assert len(warnings) == 1 and "requests go through unlimited" in warnings[0].getMessage()


def test_many_clients_each_within_its_limit_all_get_their_streams(serve, settings):
    api = serve()
    addresses = [f"127.0.0.{n}" for n in range(2, 14)]  # 12 clients x 10 streams: past redis-py's 100 connections
    most = settings.web_max_streams_per_client

    async def streams():
        async def open_stream(address):
            connection = await RawConnection.open(port_of(api), address)
            await connection.send(get("/events"))
            status, _ = await connection.head(timeout=20)
            await asyncio.wait_for(connection.reader.readuntil(b": connected\n"), 20)
            # open for two reads each, every stream blocked in XREAD at once: no EOF meanwhile
            alive = not await connection.closed_by_server(timeout=2.5)
            connection.close()
            return status, alive

        return await asyncio.gather(*(open_stream(address) for address in addresses for _ in range(most)))

    assert asyncio.run(streams()) == [(200, True)] * len(addresses) * most
