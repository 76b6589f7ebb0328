"""``POST /images/{id}/cancel`` and ``/retry``, and the step timeline of ``GET /images/{id}``,
with a real `dramatiq` worker started only once the images are cancelled."""

from imagepipe.event_stream import decode
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from models import DeadLetter, Image
from tests.helpers import finish, queued_messages, start_test_worker, submit, wait_until


def test_cancelled_images_messages_are_skipped_and_a_retry_completes_them(
    serve, redis_client, worker_env, storage, tmp_path
):
    client = serve()
    ids = [submit(storage, save_jpeg(make_photo(640, 480, seed=n), tmp_path / f"{n}.jpg")) for n in range(3)]

    answers = [client.post(f"/images/{image_id}/cancel") for image_id in ids[:2]]
    again = client.post(f"/images/{ids[0]}/cancel")
    unknown = client.post("/images/424242/cancel")
    worker = start_test_worker(worker_env, processes=1, threads=2)
    try:
        assert finish([ids[2]], timeout_s=60)[ids[2]].status == "completed"
        wait_until(lambda: queued_messages("images") == 0, 10, "the cancelled messages to be taken")
        detail = client.get(f"/images/{ids[0]}").json()
        retried = client.post(f"/images/{ids[0]}/retry")
        assert finish([ids[0]], timeout_s=60)[ids[0]].status == "completed"
        done = client.get(f"/images/{ids[0]}").json()
    finally:
        stop_worker(worker)

    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json() == {
        "id": ids[0],
        "status": "cancelled",
        "url": f"/images/{ids[0]}",
        "events": f"/images/{ids[0]}/events",
    }
    assert (again.status_code, again.json()["error"]) == (409, f"image {ids[0]} has ended: nothing to cancel")
    assert unknown.status_code == 404
    assert Image.get_by_id(ids[1]).status == "cancelled"  # its ingest message came and was skipped
    assert not DeadLetter.select().exists()
    assert {step["status"] for step in detail["steps"]} == {"cancelled"} and detail["status"] == "cancelled"
    assert [step["attempts"] for step in detail["steps"]] == [0] * len(detail["steps"])
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    assert {step["status"] for step in done["steps"]} == {"done"}
    assert all(step["worker"] and step["duration_ms"] is not None for step in done["steps"])
    events = [decode(fields) for _, fields in redis_client.xrange("imagepipe:events")]
    assert sorted(e["image_id"] for e in events if e["type"] == "image-cancelled") == sorted(ids[:2])
