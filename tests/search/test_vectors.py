"""Nearest vectors: the exact search on SQLite and PostgreSQL, and pgvector's, which must give
the exact search's ids and cosines wherever the extension is installed."""

import numpy as np
import pytest

from models import Image, database, migrate_schema, register_image, save_embedding
from models.vectors import (
    VEC_COLUMN,
    exact_nearest_vectors,
    forget_pgvector,
    nearest_vectors,
    pgvector_nearest_vectors,
    similar_images,
    uses_pgvector,
)
from tests.conftest import with_postgres

PIXELS, TEXT = "local-v1", "openai:text-embedding-3-small"
DIMS = {PIXELS: 168, TEXT: 1536}


def store(vectors_by_model):
    """One image per row; each model's vectors go to the same images in order. Returns the ids."""
    count = max(len(vectors) for vectors in vectors_by_model.values())
    ids = [register_image(f"tests/v{index}.jpg").id for index in range(count)]
    for model, vectors in vectors_by_model.items():
        for image_id, vector in zip(ids, vectors, strict=False):
            save_embedding(image_id, model, len(vector), np.asarray(vector, dtype="<f4").tobytes())
    return ids


def random_unit(rng, count, dims):
    vectors = rng.standard_normal((count, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(ids, vectors, query, k, exclude=None):
    """The answer worked out in float64, best first, ties by id."""
    scores = vectors.astype(np.float64) @ query / np.linalg.norm(query)
    ranked = sorted((-score, image_id) for image_id, score in zip(ids, scores, strict=True) if image_id != exclude)
    return [(image_id, -score) for score, image_id in ranked[:k]]


def assert_same(found, expected):
    """Same ids and cosines within 1e-5; neighbours closer than that may swap places."""
    assert sorted(image_id for image_id, _ in found) == sorted(image_id for image_id, _ in expected)
    assert np.allclose([score for _, score in found], [score for _, score in expected], atol=1e-5)
    scores = dict(found)
    assert all(abs(scores[image_id] - score) <= 1e-5 for image_id, score in expected)


@with_postgres
def test_exact_search_finds_the_nearest_of_one_model(database_url):
    # given two models on the same images, and an image with a pixel vector only
    rng = np.random.default_rng(12)
    pixels, text = random_unit(rng, 40, DIMS[PIXELS]), random_unit(rng, 30, DIMS[TEXT])
    ids = store({PIXELS: pixels, TEXT: text})
    query = rng.standard_normal(DIMS[PIXELS])

    # then each model is searched on its own, excluding one image, k past the rows
    assert_same(exact_nearest_vectors(PIXELS, query, 5), brute_force(ids, pixels, query, 5))
    assert_same(exact_nearest_vectors(PIXELS, query, 5, exclude=ids[0]), brute_force(ids, pixels, query, 5, ids[0]))
    assert_same(exact_nearest_vectors(PIXELS, query, 100), brute_force(ids, pixels, query, 100))
    text_query = rng.standard_normal(DIMS[TEXT])
    assert_same(exact_nearest_vectors(TEXT, text_query, 100), brute_force(ids[:30], text, text_query, 100))
    assert exact_nearest_vectors("no-such-model", query, 5) == []
    assert nearest_vectors(PIXELS, query, 0) == []
    assert_same(nearest_vectors(PIXELS, list(query), 3), brute_force(ids, pixels, query, 3))  # a list is fine


@with_postgres
def test_similar_images_leaves_the_image_out_and_needs_its_embedding(database_url):
    rng = np.random.default_rng(3)
    pixels = random_unit(rng, 10, DIMS[PIXELS])
    ids = store({PIXELS: pixels})
    assert_same(similar_images(ids[4], 3, PIXELS), brute_force(ids, pixels, pixels[4], 3, exclude=ids[4]))
    lonely = register_image("tests/lonely.jpg").id
    with pytest.raises(ValueError, match="no local-v1 embedding"):
        similar_images(lonely, 3, PIXELS)
    with pytest.raises(ValueError, match="NaN"):
        nearest_vectors(PIXELS, [float("nan")] * DIMS[PIXELS], 3)


@with_postgres
def test_exact_ties_go_to_the_lowest_ids_and_broken_vectors_are_left_out(database_url):
    # given one photo stored 30 times (its vectors tie exactly), a worse one, and a NaN vector
    rng = np.random.default_rng(4)
    photo, other = random_unit(rng, 2, 16)
    ids = store({PIXELS: [other] + [photo] * 30 + [np.full(16, np.nan, dtype=np.float32)]})
    assert [i for i, _ in nearest_vectors(PIXELS, photo, 5)] == ids[1:6]
    assert [i for i, _ in nearest_vectors(PIXELS, photo, 40)] == ids[1:31] + ids[:1]


def test_sqlite_never_uses_pgvector(database_url):
    assert not uses_pgvector(database.obj)


@pytest.fixture
def pgvector_database(database_url):
    """A fresh PostgreSQL database whose migration made ``embedding.vec``; a skip otherwise,
    under CI=true too: pgvector is optional by design (the exact search is the fallback), and
    most PostgreSQL servers, Debian bookworm's own included, do not have it."""
    if not uses_pgvector(database.obj):
        pytest.skip(
            "pgvector is not installed on this PostgreSQL (pg_available_extensions has no 'vector'),"
            " so nearest_vectors uses the exact search there, which the tests above cover; the"
            " extension is optional by design, hence a skip under CI=true too"
        )
    return database_url


pgvector_path = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pgvector_path
def test_pgvector_agrees_with_the_exact_search(pgvector_database):
    # given ~500 random vectors of two models, some images with one model only
    rng = np.random.default_rng(2024)
    pixels, text = random_unit(rng, 300, DIMS[PIXELS]), random_unit(rng, 200, DIMS[TEXT])
    ids = store({PIXELS: pixels, TEXT: text})

    for model, dims in DIMS.items():
        for query in rng.standard_normal((5, dims)):
            for k in (1, 10, 60, 1000):  # 1000: more than the rows
                expected = exact_nearest_vectors(model, query.astype(np.float32), k)
                found = nearest_vectors(model, query, k)
                assert_same(found, expected)
                assert len(found) == min(k, 300 if model == PIXELS else 200)
            excluded = ids[7]
            assert_same(
                nearest_vectors(model, query, 20, exclude=excluded),
                exact_nearest_vectors(model, query.astype(np.float32), 20, exclude=excluded),
            )
            assert excluded not in dict(nearest_vectors(model, query, 1000, exclude=excluded))
    assert nearest_vectors("no-such-model", pixels[0], 5) == []
    assert_same(similar_images(ids[5], 8, PIXELS), brute_force(ids, pixels, pixels[5], 8, exclude=ids[5]))


@pgvector_path
def test_the_copy_is_exact_and_follows_rewrites_and_deletions(pgvector_database):
    rng = np.random.default_rng(5)
    odd = np.array([1.0, -2.5, 1e-45, -1e-40, 3.4e38, 0.0, 0.1, -1.17e-38], dtype=np.float32)  # subnormals
    (image_id,) = store({PIXELS: [odd]})
    assert _vec_of(image_id) == odd.tobytes()  # bit for bit, subnormals and extremes included

    # a rewrite (the actors' upsert) and a deletion keep the copy in step
    fresh = random_unit(rng, 1, 8)[0]
    save_embedding(image_id, PIXELS, 8, fresh.astype("<f4").tobytes())
    assert _vec_of(image_id) == fresh.astype("<f4").tobytes()
    assert [i for i, _ in nearest_vectors(PIXELS, fresh, 3)] == [image_id]
    Image.delete().where(Image.id == image_id).execute()
    assert nearest_vectors(PIXELS, fresh, 3) == []

    # a NaN is stored (the exact search would see it) but has no copy, rather than failing the save
    (broken,) = store({PIXELS: [np.array([np.nan] + [1.0] * 7, dtype=np.float32)]})
    assert _vec_of(broken) is None


@pgvector_path
def test_pgvector_breaks_exact_ties_as_the_exact_search(pgvector_database):
    rng = np.random.default_rng(6)
    photo, other = random_unit(rng, 2, DIMS[PIXELS])
    ids = store({PIXELS: [other] + [photo] * 30})
    for k in (1, 5, 30, 31):
        assert pgvector_nearest_vectors(PIXELS, photo, k) == exact_nearest_vectors(PIXELS, photo, k)
        assert [i for i, _ in nearest_vectors(PIXELS, photo, k)] == (ids[1:] + ids[:1])[:k]


@pgvector_path
def test_zero_vectors_rank_as_in_the_exact_search(pgvector_database):
    # a zero vector's cosine is 0 in the exact search (NaN in pgvector's own distance)
    vectors = [np.array([1.0, 0.0]), np.array([0.0, 0.0]), np.array([-1.0, 0.0]), np.array([0.6, 0.8])]
    store({PIXELS: vectors})
    query = np.array([1.0, 0.0], dtype=np.float32)
    assert pgvector_nearest_vectors(PIXELS, query, 4) == exact_nearest_vectors(PIXELS, query, 4)
    assert [round(score, 6) for _, score in nearest_vectors(PIXELS, query, 4)] == [1.0, 0.6, 0.0, -1.0]


@pgvector_path
def test_migration_copies_the_rows_already_there_and_runs_once(pgvector_database):
    # given rows written before the column was there
    database.execute_sql(f"ALTER TABLE embedding DROP COLUMN {VEC_COLUMN}")
    rng = np.random.default_rng(9)
    pixels = random_unit(rng, 20, DIMS[PIXELS])
    ids = store({PIXELS: pixels})

    # then the migration adds it, computed for them, once
    assert migrate_schema() == [f"embedding.{VEC_COLUMN} (pgvector)"]
    assert migrate_schema() == []
    query = rng.standard_normal(DIMS[PIXELS])
    assert_same(pgvector_nearest_vectors(PIXELS, query.astype(np.float32), 20), brute_force(ids, pixels, query, 20))


@pgvector_path
def test_dropping_the_extension_leaves_saves_working_and_search_exact(pgvector_database):
    rng = np.random.default_rng(10)
    pixels = random_unit(rng, 20, DIMS[PIXELS])
    ids = store({PIXELS: pixels[:10]})
    database.execute_sql("DROP EXTENSION vector CASCADE")  # takes the column and its function along
    ids += store({PIXELS: pixels[10:]})
    forget_pgvector(database.obj)  # as a restarted process would see it
    assert not uses_pgvector(database.obj)
    query = rng.standard_normal(DIMS[PIXELS])
    assert_same(nearest_vectors(PIXELS, query, 20), brute_force(ids, pixels, query, 20))

    # and the migration brings it back when the extension is available
    assert migrate_schema() == ["extension vector", f"embedding.{VEC_COLUMN} (pgvector)"]
    assert uses_pgvector(database.obj)
    assert_same(pgvector_nearest_vectors(PIXELS, query.astype(np.float32), 20), brute_force(ids, pixels, query, 20))


def _vec_of(image_id):
    """The image's pgvector copy as float32 bytes, or None."""
    sql = f"SELECT {VEC_COLUMN}::real[] FROM embedding WHERE image_id = %s"
    (value,) = database.execute_sql(sql, (image_id,)).fetchone()
    return None if value is None else np.asarray(value, dtype="<f4").tobytes()
