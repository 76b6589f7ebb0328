"""imagepipe.queues and `imagepipe queues`: the figures read from a real broker's own keys."""

import dataclasses
import datetime
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from imagepipe.queues import pipeline_queues, rabbitmq_figures, read_all, read_worker_list
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from models import DeadLetter
from tests.conftest import sending_to_rabbitmq
from tests.helpers import start_test_worker, submit, wait_until
from tests.worker_app import SLOW_STARTS_KEY

local_storage = pytest.mark.parametrize("storage", ["local"], indirect=True)
EMPTY = {"ready": 0, "delayed": 0, "in_flight": 0, "in_flight_by_worker": [], "broker_dead": 0, "dead_letters": 0}


def dead_letter(queue, replayed=False):
    return DeadLetter.create(
        message_id="m",
        actor="ingest",
        queue=queue,
        message="{}",
        error_type="ImageNotFound",
        error="gone",
        traceback="",
        attempts=1,
        replayed_at=datetime.datetime(2024, 1, 1) if replayed else None,
    )


def fill(broker):
    """Given: on the pipeline's real broker, images with 4 ready, 2 delayed, 1 in flight (fetched
    by a consumer, not acked) and 1 in Dramatiq's dead-letter queue; encode with 2 ready; and in
    the database 2 dead letters of images not replayed, 1 replayed. Returns the consumer."""
    from actors import ingest, make_variants

    for image_id in range(1, 7):
        ingest.send(image_id)
    for image_id in (1, 2):
        make_variants.send(image_id)
        ingest.send_with_options(args=(image_id,), delay=60_000)
    consumer = broker.consume("images", prefetch=1)
    dead = next(consumer)
    consumer.nack(dead)
    held = next(consumer)
    assert held is not None
    for replayed in (False, False, True):
        dead_letter("images", replayed)
    return consumer


def test_pipeline_queues_come_from_the_graph_and_the_queue_setting(settings):
    assert pipeline_queues(settings) == ["encode", "images"]
    assert pipeline_queues(dataclasses.replace(settings, queues={"variants": "images"})) == ["images"]


def test_each_figure_counts_exactly_what_the_redis_broker_holds(broker, settings):
    consumer = fill(broker)

    snapshot = read_all(settings)

    assert snapshot["broker"] == "redis"
    encode, images = snapshot["queues"]
    assert encode == {"name": "encode", **EMPTY, "ready": 2}
    holder = {"broker_id": broker.broker_id, "worker": None, "in_flight": 1, "alive": True}
    assert images == {
        **EMPTY,
        "name": "images",
        "ready": 4,
        "delayed": 2,
        "in_flight": 1,
        "in_flight_by_worker": [holder],
        "broker_dead": 1,
        "dead_letters": 2,
    }
    consumer.close()


def test_a_held_message_of_a_process_whose_broker_heartbeat_stopped_is_flagged(broker, settings):
    """A process silent longer than the broker's heartbeat timeout is dead: Dramatiq hands its
    messages back; until then they are in flight with alive false."""
    fill(broker)

    (holder,) = read_all(settings, now=time.time() + 60)["queues"][1]["in_flight_by_worker"]

    assert holder["alive"] is False


@local_storage
@pytest.mark.timeout(120)
def test_a_real_workers_running_step_is_in_flight_by_that_worker_and_stale_once_killed(
    redis_client, worker_env, storage, settings, tmp_path
):
    marker = tmp_path / "slow"
    marker.touch()
    env = {**worker_env, "IMAGEPIPE_TEST_SLOW_MARKER": str(marker), "IMAGEPIPE_HEARTBEAT_INTERVAL_S": "0.3"}
    worker = start_test_worker(env, processes=1, threads=2)
    try:
        # when: the metadata step of an image runs for 60 s in a real `dramatiq` worker
        submit(storage, save_jpeg(make_photo(640, 480), tmp_path / "a.jpg"))
        wait_until(lambda: redis_client.llen(SLOW_STARTS_KEY) == 1, 60, "the slow step to start")

        # then: it is in flight on images, held by that worker, whose heartbeat says active 1
        def running():
            snapshot = read_all(settings)
            return snapshot["queues"][1]["in_flight"] == 1 and [w["active"] for w in snapshot["workers"]] == [1]

        wait_until(running, 10, lambda: read_all(settings))
        snapshot = read_all(settings)
        (worker_row,) = snapshot["workers"]
        (holder,) = snapshot["queues"][1]["in_flight_by_worker"]
        assert holder == {
            "broker_id": worker_row["broker_id"],
            "worker": worker_row["name"],
            "in_flight": 1,
            "alive": True,
        }
        assert worker_row["in_flight"] == 1 and worker_row["stale"] is False
        assert worker_row["pid"] != worker.pid  # the process that runs jobs, not the master

        # when: the worker dies without a word; then: its heartbeat is flagged stale
        os.killpg(worker.pid, signal.SIGKILL)
        wait_until(lambda: read_worker_list(settings)["stale"] == 1, 10, lambda: read_worker_list(settings))
        assert read_worker_list(settings)["healthy"] == 0
    finally:
        marker.unlink(missing_ok=True)
        stop_worker(worker)


@pytest.mark.timeout(120)
def test_rabbitmq_counts_ready_delayed_and_dead_and_says_in_flight_is_unknown(
    rabbitmq_url, redis_client, database_url, settings
):
    from actors import ingest, make_variants

    with sending_to_rabbitmq(rabbitmq_url) as rabbitmq:
        for image_id in (1, 2, 3):
            ingest.send(image_id)
        make_variants.send(1)
        ingest.send_with_options(args=(4,), delay=60_000)
        consumer = rabbitmq.consume("images", prefetch=1, timeout=1000)
        consumer.nack(next(message for message in consumer if message is not None))
        consumer.close()
        expected = {
            "encode": {"ready": 1, "delayed": 0, "in_flight": None, "in_flight_by_worker": None, "broker_dead": 0},
            "images": {"ready": 2, "delayed": 1, "in_flight": None, "in_flight_by_worker": None, "broker_dead": 1},
        }
        wait_until(lambda: rabbitmq_figures(rabbitmq_url, ["encode", "images"]) == expected, 10, "the counts")
        snapshot = read_all(dataclasses.replace(settings, broker_url=rabbitmq_url))

    assert snapshot["broker"] == "rabbitmq"
    assert [q["name"] for q in snapshot["queues"]] == ["encode", "images"]
    assert snapshot["queues"][1] == {"name": "images", **expected["images"], "dead_letters": 0}
    assert rabbitmq_figures(rabbitmq_url, ["never-declared"])["never-declared"]["ready"] == 0


def queues_command(*args, env):
    """`imagepipe queues ARGS` in a process of its own (as the CLI's COMMANDS would run it)."""
    code = (
        "import argparse, sys\n"
        "from imagepipe.cli import queues\n"
        "from imagepipe.settings import get_settings\n"
        "parser = argparse.ArgumentParser()\n"
        "queues.add_arguments(parser)\n"
        "sys.exit(queues.run(parser.parse_args(sys.argv[1:]), get_settings()))\n"
    )
    return [sys.executable, "-c", code, *args], {**os.environ, **env}


def test_the_command_prints_the_tables_or_one_json_object(broker, database_url, settings):
    fill(broker)
    command, env = queues_command(env={"DATABASE_URL": database_url})

    text = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    as_json = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=60, check=True)

    assert "broker: redis" in text
    row = next(line for line in text.splitlines() if line.startswith("images "))
    assert row.split()[1:6] == ["4", "2", "1", "1", "2"]
    assert "0 healthy worker(s), 0 stale" in text
    (line,) = as_json.stdout.splitlines()
    snapshot = json.loads(line)
    assert [q["ready"] for q in snapshot["queues"]] == [2, 4] and snapshot["workers"] == []


@pytest.mark.timeout(60)
def test_watch_redraws_every_two_seconds_until_ctrl_c(broker, database_url):
    from actors import ingest

    command, env = queues_command("--watch", "--json", env={"DATABASE_URL": database_url})
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as watching:
        try:
            first = json.loads(watching.stdout.readline())
            ingest.send(1)
            second = json.loads(watching.stdout.readline())
            watching.send_signal(signal.SIGINT)
            assert watching.wait(timeout=10) == 0
        finally:
            watching.kill()

    assert 1.5 < second["measured_at"] - first["measured_at"] < 4
    assert (first["queues"][1]["ready"], second["queues"][1]["ready"]) == (0, 1)


def test_the_webhooks_queue_is_watched_once_webhooks_are_configured(settings):
    configured = dataclasses.replace(settings, webhooks=(("https://app.example/hooks", ("image.completed",)),))

    assert pipeline_queues(configured) == ["encode", "images", "webhooks"]
