"""A message that kills its own process, under the real `dramatiq` runner restarted by a supervisor:
it fails for good after 3 deliveries, with one dead letter, and the worker goes on serving."""

import statistics

import pytest

from imagepipe.samples import make_photo, save_jpeg
from models import DeadLetter, Image, Step, register_image
from tests.helpers import epoch, finish, submit, wait_until
from tests.reliability.supervision import Supervisor, broker_env
from tests.worker_app import POISON_DELIVERIES_KEY, POISON_STEP, crashing_decode


@pytest.mark.timeout(120)
def test_a_message_that_kills_its_process_fails_after_3_deliveries_and_the_worker_survives(
    redis_client, worker_env, storage, tmp_path
):
    env = {
        **worker_env,
        "IMAGEPIPE_WIDTHS": "320",
        "IMAGEPIPE_FORMATS": "webp",
        **broker_env(),
    }
    # given: an image whose (test-only) poison step kills its process on every delivery
    poison = register_image("tests/poison.jpg", "poison.jpg")
    Step.create(image=poison.id, name=POISON_STEP)
    supervisor = Supervisor(env).start()
    try:
        crashing_decode.send(poison.id)

        # when: the worker dies under it, is restarted, and the broker redelivers it
        wait_until(lambda: Image.get_by_id(poison.id).status == Image.FAILED, 90, "the poison image to fail")
        survivor = supervisor.master

        # then: the next good image completes on the same worker
        good_id = submit(storage, save_jpeg(make_photo(400, 300, seed=3), tmp_path / "good.jpg"))
        good = finish([good_id], timeout_s=60)[good_id]
        assert good.status == Image.COMPLETED, good.error
        assert supervisor.master is survivor and survivor.poll() is None
    finally:
        supervisor.stop()

    deliveries = [float(entry.split()[0]) for entry in redis_client.lrange(POISON_DELIVERIES_KEY, 0, -1)]
    image = Image.get_by_id(poison.id)
    step = Step.get(Step.image == poison.id, Step.name == POISON_STEP)
    dead_letters = list(DeadLetter.select().where(DeadLetter.image_id == poison.id))
    assert len(deliveries) == 3
    assert image.error == f"{POISON_STEP} killed its worker process 3 times"
    assert (step.status, step.attempts, step.error) == (Step.FAILED, 3, image.error)
    assert len(dead_letters) == 1
    assert (dead_letters[0].error_type, dead_letters[0].attempts) == ("StepKillsItsWorker", 3)
    assert len(supervisor.masters) == 4  # the first worker and three restarts

    # the figure: from each kill (the moment the actor exits) to the next delivery, the last
    # one being the refused delivery that dead-lettered the message
    redelivered = deliveries[1:] + [epoch(dead_letters[0].failed_at)]
    gaps = [after - before for before, after in zip(deliveries, redelivered, strict=True)]
    print(
        f"FIGURE fault5: a message that kills its process failed after {len(deliveries)} deliveries, "
        f"{len(supervisor.masters) - 1} restarts; kill -> redelivery p50 {statistics.median(gaps):.1f}s "
        f"({', '.join(f'{g:.1f}' for g in gaps)}s)"
    )
