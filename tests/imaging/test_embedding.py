"""Embeddings: deterministic unit vectors that put a resized copy nearer than another picture."""

import numpy as np
import pytest
from PIL import Image

from imagepipe.imaging import LocalEmbedder, cosine_top_k, from_bytes, get_embedder, load_upright, to_bytes
from tests.imaging.helpers import LIMITS


@pytest.fixture(scope="module")
def pictures(corpus):
    def load(name):
        return load_upright(corpus / name, **LIMITS, max_width=640)

    return {
        "landscape": load("orientation/Landscape_1.jpg"),
        "portrait": load("orientation/Portrait_1.jpg"),
        "hopper": load("formats/hopper.png"),
        "flower": load("formats/flower.webp"),
    }


def test_local_embedder_is_deterministic_and_unit_length(pictures):
    embedder = get_embedder("local")

    first, second = embedder.embed(pictures["landscape"]), embedder.embed(pictures["landscape"].copy())

    assert (embedder.name, embedder.dims) == ("local-v1", 168)
    assert first.dtype == np.float32 and first.shape == (168,)
    assert to_bytes(first) == to_bytes(second)
    assert np.linalg.norm(first) == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("name", ["landscape", "portrait", "hopper", "flower"])
def test_resized_copy_is_nearer_than_any_other_picture(pictures, name):
    embedder = LocalEmbedder()
    original = pictures[name]
    copy = original.resize((original.width // 3, original.height // 3), Image.Resampling.BILINEAR)
    others = [embedder.embed(image) for other, image in pictures.items() if other != name]

    matrix = np.stack([embedder.embed(copy), *others])
    ranking = cosine_top_k(embedder.embed(original), matrix, k=len(matrix))

    assert ranking[0][0] == 0 and ranking[0][1] > 0.95
    assert ranking[0][1] - ranking[1][1] > 0.1


def test_grey_and_transparent_images_embed():
    embedder = LocalEmbedder()
    flat = embedder.embed(Image.new("L", (10, 10), 128))
    clear = embedder.embed(Image.new("RGBA", (10, 10), (0, 0, 0, 0)))

    assert np.linalg.norm(flat) == pytest.approx(1, abs=1e-6)
    assert np.array_equal(clear, embedder.embed(Image.new("RGB", (10, 10), "white")))


def test_bytes_round_trip():
    vector = np.random.default_rng(0).normal(size=168).astype(np.float32)

    data = to_bytes(vector)

    assert len(data) == 168 * 4 and data[:4] == vector[:1].astype("<f4").tobytes()
    assert np.array_equal(from_bytes(data, 168), vector)
    with pytest.raises(ValueError, match="672 bytes"):
        from_bytes(data[:-4], 168)


def test_cosine_top_k_orders_by_similarity_and_keeps_row_order_on_ties():
    matrix = np.array([[0, 1], [1, 0], [1, 1], [2, 0], [0, 0]], dtype=np.float32)

    ranking = cosine_top_k(np.array([1, 0], dtype=np.float32), matrix, k=4)

    assert [index for index, _ in ranking] == [1, 3, 2, 0]
    assert [score for _, score in ranking] == pytest.approx([1, 1, 2**-0.5, 0])
    assert cosine_top_k(np.array([1, 0]), matrix, k=0) == []
    assert cosine_top_k(np.array([1, 0]), np.empty((0, 2)), k=3) == []


def test_unknown_embedder_lists_the_choices():
    with pytest.raises(ValueError, match="unknown embedder 'clip'; choose from: local"):
        get_embedder("clip")
