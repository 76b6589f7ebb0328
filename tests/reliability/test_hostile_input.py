"""Hostile input under the real `dramatiq tests.worker_app` runner (issue 5, fault 4).

Every file of the corpus's bad/ folder and generated attacks (zero bytes, random bytes, a PNG
bomb, a 100000 x 100000 header, polyglots, paths out of MEDIA_ROOT, a 1 MB message) must fail
its image on the first attempt with its specific reason and one dead letter, while the same
worker process keeps serving: after each case a good image completes.

One test walks every case with one worker, in order. The fixtures that a worker shares with
the test (database, Redis, MEDIA_ROOT) are function-scoped, so a parametrized test would start
a worker per case (~2 s each, and forkserver children on a 2-core machine); one walk costs one
start. Each case is checked completely and the outcomes are collected, so a failure lists
every case that went wrong with what was seen, and ``-s`` prints the whole table.
"""

import io
import os
import random
import time
import zipfile
from dataclasses import dataclass, field

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import DeadLetter, Image, Step, register_image
from tests.helpers import finish, submit, wait_until
from tests.imaging.helpers import png_bomb, png_header_only
from tests.imaging.test_opening import BAD
from tests.reliability.supervision import child_pids

#: How long one bad image may take to fail, and one good image to complete.
CASE_TIMEOUT_S = 20
MEGABYTE = "x" * 1_000_000


@dataclass
class Case:
    """One hostile input: how to send it, and the error it must fail with."""

    name: str
    error_type: str
    reason: str  # the stored error starts with this
    send: object  # (storage, tmp_path) -> image id
    step_attempts: int = 1
    #: A path trick that only a filesystem can fall for (with S3, keys are names, not paths).
    local_only: bool = False
    seen: dict = field(default_factory=dict)


def _file_case(name, error_type, reason, content):
    """A case whose source is a file put in storage: ``content()`` gives its bytes."""

    def send(storage, tmp_path):
        path = tmp_path / name
        path.write_bytes(content())
        return submit(storage, path, name=f"hostile-{name}")

    return Case(name, error_type, reason, send)


def _corpus_cases(corpus):
    return [
        _file_case(name, error.__name__, reason, (corpus / "bad" / name).read_bytes)
        for name, (error, reason) in BAD.items()
    ]


def _jpeg(**options):
    buffer = io.BytesIO()
    make_photo(160, 120, seed=11).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _zip_polyglot():
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as files:
        files.writestr("evil.html", "<script>alert(1)</script>")
    return _jpeg() + archive.getvalue()


def _outside_media_root(storage, tmp_path):
    """A source named by a path that climbs out of MEDIA_ROOT to a real image."""
    target = save_jpeg(make_photo(64, 48), tmp_path / "outside.jpg")
    image = register_image(os.path.relpath(target, storage.root), "outside.jpg")
    _send_ingest(image.id)
    return image.id


def _symlink_out(storage, tmp_path):
    """A symlink inside MEDIA_ROOT whose target is outside it."""
    target = save_jpeg(make_photo(64, 48), tmp_path / "secret.jpg")
    link = storage.root / "tests" / "hostile-link.jpg"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    image = register_image(link.relative_to(storage.root).as_posix(), "link.jpg")
    _send_ingest(image.id)
    return image.id


def _one_megabyte_message(storage, tmp_path):
    """An ingest message carrying 1 MB, sent by code without the size limit (raw to the queue)."""
    from actors import ingest

    image = register_image("tests/never-read.jpg", "never-read.jpg")
    message = dramatiq.Message(
        queue_name=ingest.queue_name,
        actor_name=ingest.actor_name,
        args=(image.id,),
        kwargs={"note": MEGABYTE},
        options={},
    )
    foreign = RedisBroker(url=os.environ["REDIS_URL"], middleware=[])
    try:
        foreign.enqueue(message)
    finally:
        foreign.close()
    return image.id


def _send_ingest(image_id):
    from actors import ingest

    ingest.send(image_id)


def _generated_cases():
    outside = "source 'outside.jpg' resolves outside MEDIA_ROOT"
    return [
        _file_case("zero-bytes.jpg", "EmptyFile", "empty file (0 bytes)", lambda: b""),
        _file_case(
            "random.jpg", "UnsupportedFormat", "not a recognised image format", lambda: random.Random(4).randbytes(4096)
        ),
        _file_case(
            "bomb.png",  # 105 kB on disk, 81 MB of pixels
            "PixelLimitExceeded",
            "image is 9000x9000 = 81.0 MP, over the 50.0 MP limit",
            lambda: png_bomb(9000, 9000),
        ),
        _file_case(
            "huge-header.png",
            "PixelLimitExceeded",
            "image is 10000.0 MP, over the 50.0 MP limit (a likely decompression bomb)",
            lambda: png_header_only(100_000, 100_000),
        ),
        _file_case(
            "polyglot-zip.jpg",
            "HiddenPayload",
            "the file is also a ZIP archive (end of central directory at byte ",
            _zip_polyglot,
        ),
        _file_case(
            "polyglot-html.jpg",
            "HiddenPayload",
            "the file is also HTML or script (<script at byte ",
            lambda: _jpeg(comment=b"<script>fetch('/steal?'+document.cookie)</script>"),
        ),
        Case("path outside MEDIA_ROOT", "SourceRejected", outside, _outside_media_root, local_only=True),
        Case(
            "symlink out of MEDIA_ROOT",
            "SourceRejected",
            "source 'hostile-link.jpg' resolves outside MEDIA_ROOT",
            _symlink_out,
            local_only=True,
        ),
        # Refused before StepTracking starts the step: the message never runs, so no attempt.
        Case(
            "1 MB message",
            "MessageTooLarge",
            "message of ingest is 1,000,",
            _one_megabyte_message,
            step_attempts=0,
        ),
    ]


def _check(case, image_id, *, master, children, storage, good_path):
    """Every expectation of one case, then a good image; returns what went wrong (empty when nothing)."""
    problems = []
    image = finish([image_id], timeout_s=CASE_TIMEOUT_S)[image_id]
    ingest = Step.get(Step.image == image_id, Step.name == "ingest")
    try:
        wait_until(lambda: DeadLetter.select().where(DeadLetter.image_id == image_id).exists(), 5, "the dead letter")
    except AssertionError:
        pass
    letters = list(DeadLetter.select().where(DeadLetter.image_id == image_id))
    case.seen = {
        "status": image.status,
        "attempts": ingest.attempts,
        "dead letters": len(letters),
        "error type": letters[0].error_type if letters else None,
        "error": image.error,
    }
    if image.status != Image.FAILED:
        problems.append(f"ended {image.status}, not failed")
    if not (image.error or "").startswith(case.reason):
        problems.append(f"reason {image.error!r}, expected to start with {case.reason!r}")
    if ingest.attempts != case.step_attempts:
        problems.append(f"ingest ran {ingest.attempts} times, expected {case.step_attempts}")
    if len(letters) != 1 or letters[0].error_type != case.error_type or letters[0].attempts != 1:
        found = [(letter.error_type, letter.attempts) for letter in letters]
        problems.append(f"dead letters {found}, expected one {case.error_type} after 1 attempt")

    good_id = submit(storage, save_jpeg(make_photo(96, 64), good_path))
    good = finish([good_id], timeout_s=CASE_TIMEOUT_S)[good_id]
    case.seen["next good image"] = good.status
    if good.status != Image.COMPLETED:
        problems.append(f"the next good image ended {good.status}: {good.error}")
    if master.poll() is not None:
        problems.append(f"the worker exited with {master.returncode}")
    if child_pids(master.pid) != children:
        problems.append(f"worker processes {child_pids(master.pid)}, expected the same {children}")
    return problems


@pytest.mark.timeout(120)
def test_hostile_input_fails_at_once_and_the_same_worker_keeps_serving(worker_env, storage, corpus, tmp_path):
    env = {**worker_env, "IMAGEPIPE_WIDTHS": "320", "IMAGEPIPE_FORMATS": "webp"}
    log = tmp_path / "worker.log"
    cases = [
        case for case in _corpus_cases(corpus) + _generated_cases() if storage.scheme == "file" or not case.local_only
    ]
    started = time.monotonic()
    with open(log, "wb") as output:
        master = start_worker(
            env, module="tests.worker_app", processes=1, threads=2, cwd=os.getcwd(), stdout=output, stderr=output
        )
    try:
        # given: a worker that has served one good image
        warm = submit(storage, save_jpeg(make_photo(96, 64), tmp_path / "warm.jpg"))
        assert finish([warm], timeout_s=60)[warm].status == Image.COMPLETED, log.read_text()[-3000:]
        children = child_pids(master.pid)
        assert len(children) == 1, f"expected one worker process, found {children}"

        # when: each hostile input is sent, then a good image
        failures = {}
        for number, case in enumerate(cases):
            image_id = case.send(storage, tmp_path)
            good_path = tmp_path / f"good-{number}.jpg"
            problems = _check(case, image_id, master=master, children=children, storage=storage, good_path=good_path)
            if problems:
                failures[case.name] = problems
    finally:
        stop_worker(master)

    # then: every case failed at once, once, with its reason, and the worker went on
    print(f"\n{len(cases)} hostile inputs in {time.monotonic() - started:.1f} s, worker pid {children[0]}")
    for case in cases:
        seen = case.seen
        print(
            f"  {case.name:52} {seen.get('status', '-'):9} attempts={seen.get('attempts')} "
            f"dead letters={seen.get('dead letters')} ({seen.get('error type')}) "
            f"next={seen.get('next good image')} | {seen.get('error')}"
        )
    print(
        f"FIGURE fault4: {len(cases) - len(failures)} of {len(cases)} hostile inputs failed on their first "
        "attempt with their own reason and one dead letter, the same worker process serving the next good image"
    )
    report = "\n".join(f"{name}: {'; '.join(problems)}" for name, problems in failures.items())
    assert not failures, f"{len(failures)} of {len(cases)} cases went wrong:\n{report}"
    # and each input left one WARNING line with its reason, and no traceback (the dead letter
    # has it). The raw 1 MB message is refused by a before hook, which Dramatiq reads before
    # the actor's ``throws``: it logs that one as an unhandled error.
    lines = log.read_text().splitlines()
    warnings = [line for line in lines if "[WARNING]" in line and "failed for good" in line]
    errors = [line for line in lines if "[ERROR]" in line]
    assert len(warnings) == len(cases), "\n".join(warnings)
    assert len(errors) == 1 and "x" * 100 in errors[0], "\n".join(errors)
    assert log.read_text().count("Traceback (most recent call last)") == 1
