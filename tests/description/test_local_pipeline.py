"""The local describer through real `dramatiq` workers: text drawn into images is found by
`imagepipe search`, faces are counted, GPS photos get their place; `imagepipe describe`
back-fills and redoes words through the workers."""

import json
import os
import subprocess
import sys

import pytest
from PIL import ImageDraw, ImageFont

from imagepipe.samples import make_photo
from imagepipe.worker_process import start_worker, stop_worker
from models import Description, Image, Step
from tests.helpers import finish, submit

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
local_storage = pytest.mark.parametrize("storage", ["local"], indirect=True)


def text_photo(path, lines, seed):
    """A photo with ``lines`` drawn on a white card, as a phone picture of a receipt would be."""
    picture = make_photo(1600, 1200, seed=seed)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((200, 200, 1400, 1000), fill="white")
    font = ImageFont.truetype(FONT, 72)
    for row, line in enumerate(lines):
        draw.text((260, 260 + row * 120), line, fill="black", font=font)
    picture.save(path, quality=90)
    return path


def cli(env, *args):
    done = subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", *args], env={**os.environ, **env}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def found(env, query):
    return [json.loads(line)["id"] for line in cli(env, "search", query, "--json").splitlines()]


@local_storage
@pytest.mark.timeout(240)
def test_words_read_off_the_pixels_are_searchable_and_redone_through_the_workers(worker_env, storage, corpus, tmp_path):
    env = {**worker_env, "IMAGEPIPE_DESCRIBE_PARTS": "facts,places,faces,ocr"}
    worker = start_worker(env, processes=1, threads=2, cwd=".")
    try:
        receipt = submit(storage, text_photo(tmp_path / "r.jpg", ["ACME Hardware", "TOTAL 42.50"], seed=1))
        sign = submit(storage, text_photo(tmp_path / "s.jpg", ["Harbour Street"], seed=2))
        hopper = submit(storage, corpus / "formats" / "hopper.jpg")
        arezzo = submit(storage, corpus / "camera" / "DSCN0010.jpg")
        ids = [receipt, sign, hopper, arezzo]
        images = finish(ids, timeout_s=180)
        assert {images[i].status for i in ids} == {Image.COMPLETED}, [images[i].error for i in ids]

        # then: the text in the images is found, each by its own words, first
        assert found(env, "ACME receipt")[0] == receipt
        assert found(env, "total 42.50")[0] == receipt
        assert found(env, "harbour street")[0] == sign
        assert found(env, "photos from Tuscany")[0] == arezzo
        words = {row.image_id: row for row in Description.select()}
        assert "ACME Hardware" in words[receipt].ocr_text and "text" in words[receipt].tags
        # and: Grace Hopper's portrait has one face, the Tuscan hills none; the place is real
        assert (words[hopper].face_count, words[arezzo].face_count) == (1, 0)
        assert words[arezzo].place_name == "Arezzo, Tuscany, Italy"
        assert {w.provider for w in words.values()} == {"local"}
        assert all("ocr:rapidocr" in w.model for w in words.values())

        # when: an image lost its words and its describe step (as one made before the step
        # existed), and --all back-fills while an explicit id is redone
        Description.delete().where(Description.image == sign).execute()
        Step.delete().where(Step.image == sign, Step.name == "describe").execute()
        before = words[hopper].described_at
        progress = cli(env, "describe", "--all")
        assert progress.splitlines()[-1] == "described 1 of 1"
        assert found(env, "harbour street")[0] == sign
        assert cli(env, "describe", str(hopper)).splitlines()[-1] == "described 1 of 1"
        assert Description.get(Description.image == hopper).described_at > before
        assert cli(env, "describe", "--all") == "nothing to describe\n"
    finally:
        assert stop_worker(worker) == 0
