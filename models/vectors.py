"""Nearest vectors by cosine over one model's embeddings: pgvector on PostgreSQL when the
extension is there, else exact search in this process.

Exact search reads every vector of the model and scores them all in numpy: 100k vectors of
168 float32s are 67 MB, which is fine to about that many (bench/vectors.py measures it). On
PostgreSQL with pgvector, ``migrate_schema`` adds ``embedding.vec``, a ``vector`` copy of each
row's float32 bytes that the database computes itself (a stored generated column), so that
every writer (the actors, a bulk insert, a restored dump) keeps it without knowing of it. There
the database picks the ``k`` nearest by an exact distance scan (``<=>``, no approximate index: its answers
would no longer be the exact search's), and this process scores those ``k`` as the exact
search does, so both paths give the same ids and cosines. pgvector is optional by design: a
database without it, or a role that may not create it, keeps the exact search.
"""

import logging
import threading
import weakref

import numpy as np
import peewee

from imagepipe import imaging

from .database import database
from .outputs import Embedding

log = logging.getLogger(__name__)

#: The pgvector copy of ``embedding.vector``, on PostgreSQL with the extension only.
VEC_COLUMN = "vec"
#: Little-endian float32 bytes to a pgvector ``vector``; NULL when one is NaN or infinite
#: (pgvector refuses those, and a save must not fail for it). IEEE 754 by hand: sign,
#: exponent, mantissa of each 4-byte word; subnormals have no implicit bit and exponent 1.
#: The type is named with its schema: a restore (pg_dump sets an empty search_path) computes
#: the generated column again with this function.
CONVERT_FUNCTION = "imagepipe_float32le_to_vector"
_CONVERT_SQL = """
CREATE OR REPLACE FUNCTION {function}(data bytea) RETURNS {vector}
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN bool_and(e < 255) THEN array_agg(
           (1 - 2 * s) * CASE WHEN e = 0 THEN m ELSE m + 8388608 END * 2::float8 ^ (greatest(e, 1) - 150)
           ORDER BY i)::real[]::{vector} END
  FROM (SELECT i, b >> 31 AS s, (b >> 23) & 255 AS e, b & 8388607 AS m
        FROM (SELECT i, get_byte(data, 4 * i)::bigint | (get_byte(data, 4 * i + 1)::bigint << 8)
                     | (get_byte(data, 4 * i + 2)::bigint << 16) | (get_byte(data, 4 * i + 3)::bigint << 24) AS b
              FROM generate_series(0, length(data) / 4 - 1) AS i) AS words) AS parts
$$"""
#: A stored generated column, not a trigger: every writer keeps it without knowing of it, and
#: it depends on the function and the type, so DROP EXTENSION vector CASCADE takes it away
#: cleanly and saves go on (a trigger naming the column would then break every save).
_ADD_COLUMN_SQL = "ALTER TABLE embedding ADD COLUMN {column} {vector} GENERATED ALWAYS AS ({function}(vector)) STORED"
#: Whether a database has pgvector and ``embedding.vec``, asked once per bound database:
#: ``migrate_schema`` forgets its answer, other processes see a new column when they restart.
_uses_pgvector: "weakref.WeakKeyDictionary[peewee.Database, bool]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_USES_PGVECTOR_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AND EXISTS (SELECT 1 FROM pg_attribute"
    " WHERE attrelid = to_regclass('embedding') AND attname = %s AND NOT attisdropped)"
)


def nearest_vectors(model, query, k, *, exclude=None):
    """(image id, cosine) of the ``k`` images whose ``model`` embedding is nearest ``query``,
    best first, ties by image id; ValueError when ``query`` holds a NaN or an infinity."""
    query = np.asarray(query, dtype=np.float32).ravel()
    if not np.isfinite(query).all():
        raise ValueError("the query vector holds NaN or infinite values")
    if k <= 0:
        return []
    if uses_pgvector(database.obj):
        return pgvector_nearest_vectors(model, query, k, exclude=exclude)
    return exact_nearest_vectors(model, query, k, exclude=exclude)


def similar_images(image_id, k, model):
    """(image id, cosine) of the ``k`` images nearest to image ``image_id`` by its ``model``
    embedding (the pixel vector's, for "similar"); ValueError when it has none yet."""
    own = Embedding.get_or_none(Embedding.image == image_id, Embedding.model == model)
    if own is None:
        raise ValueError(f"image {image_id} has no {model} embedding yet (is it completed?)")
    return nearest_vectors(model, imaging.from_bytes(own.vector, own.dims), k, exclude=image_id)


def exact_nearest_vectors(model, query, k, *, exclude=None):
    """nearest_vectors by reading every vector of ``model`` into this process."""
    query = np.asarray(query, dtype=np.float32).ravel()
    rows = Embedding.select(Embedding.image, Embedding.dims, Embedding.vector).where(Embedding.model == model)
    if exclude is not None:
        rows = rows.where(Embedding.image != exclude)
    # The cursor's plain tuples: at 100k rows peewee's own row building costs more than the search.
    return _scored(query, database.obj.execute(rows).fetchall(), k)


def pgvector_nearest_vectors(model, query, k, *, exclude=None):
    """nearest_vectors with the database choosing the ``k`` candidates by pgvector's cosine
    distance; they are then scored here as the exact search scores them. A zero vector's
    distance is NaN in pgvector and its cosine 0 in the exact search: it ranks as distance 1."""
    query = np.asarray(query, dtype=np.float32).ravel()
    literal = "[" + ",".join(map(repr, query.tolist())) + "]"
    sql = (
        f"SELECT image_id, dims, vector FROM embedding WHERE model = %s AND {VEC_COLUMN} IS NOT NULL"
        + (" AND image_id <> %s" if exclude is not None else "")
        + f" ORDER BY coalesce(nullif({VEC_COLUMN} <=> %s::vector, 'NaN'), 1), image_id LIMIT %s"
    )
    params = (model, *([exclude] if exclude is not None else []), literal, k)
    return _scored(query, database.obj.execute_sql(sql, params).fetchall(), k)


def _scored(query, found, k):
    """[(image id, cosine)] of the best ``k`` of ``found`` [(image id, dims, float32 bytes)],
    best first, ties by image id; ValueError when the rows' lengths disagree with their dims or
    each other. A zero vector scores 0; one holding a NaN or an infinity is left out (pgvector
    refuses those: such a row has no ``vec``)."""
    if not found:
        return []
    found.sort(key=lambda row: row[0])
    dims = found[0][1]
    if any(row[1] != dims or len(row[2]) != 4 * dims for row in found):
        raise ValueError(f"the vectors of one model must all be {dims} float32s long")
    # One buffer rather than a vector per row: at 100k rows, stacking them costs more than the search.
    matrix = np.frombuffer(b"".join(row[2] for row in found), dtype="<f4").reshape(len(found), dims)
    return [(found[index][0], score) for index, score in imaging.cosine_top_k(query, matrix, k)]


def uses_pgvector(db):
    """Whether ``db`` answers nearest_vectors with pgvector: PostgreSQL with the extension
    installed and ``embedding.vec`` made by ``migrate_schema``."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return False
    with _lock:
        known = _uses_pgvector.get(db)
    if known is None:
        known = bool(db.execute_sql(_USES_PGVECTOR_SQL, (VEC_COLUMN,)).fetchone()[0])
        with _lock:
            _uses_pgvector[db] = known
    return known


def forget_pgvector(db):
    """Ask again next time whether ``db`` has pgvector (after a migration, say)."""
    with _lock:
        _uses_pgvector.pop(db, None)


def create_vector_search(db):
    """On PostgreSQL where pgvector is available: the extension (when this role may create
    it), the conversion function and ``embedding.vec``, computed for the rows already there.
    Returns the names of what it created; [] elsewhere, or when all is there. Runs inside
    ``migrate_schema``'s transaction."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return []
    forget_pgvector(db)
    available, installed = db.execute_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'),"
        " EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')"
    ).fetchone()
    if not available:
        return []
    changes = []
    if not installed:
        try:
            with db.atomic():  # a savepoint: the rest of the migration goes on without pgvector
                db.execute_sql("CREATE EXTENSION IF NOT EXISTS vector")
        except peewee.DatabaseError as error:
            log.warning(
                "pgvector is available but this role cannot create it (%s); vector search stays exact"
                " until a superuser runs CREATE EXTENSION vector and imagepipe migrate runs again",
                " ".join(str(error).split()),
            )
            return []
        changes.append("extension vector")
    if VEC_COLUMN not in {column.name for column in db.get_columns("embedding")}:
        (schema,) = db.execute_sql(
            "SELECT quote_ident(extnamespace::regnamespace::text) FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        names = {"function": CONVERT_FUNCTION, "vector": f"{schema}.vector", "column": VEC_COLUMN}
        db.execute_sql(_CONVERT_SQL.format(**names))
        db.execute_sql(_ADD_COLUMN_SQL.format(**names))  # computes it for the rows already there
        changes.append(f"embedding.{VEC_COLUMN} (pgvector)")
    return changes
