"""Full-text search over the descriptions, with the database's own engine.

SQLite: an FTS5 table over ``description`` (external content, kept by triggers, so every
write of a description, and its deletion with its image, updates the index in the same
transaction), ranked by BM25. PostgreSQL: a stored generated tsvector of the same columns
with a GIN index, ranked by ts_rank_cd (computing the tsvector for each match at query time
made a 100k-image search take 257 ms at the median, 75 ms stored: bench/search.py). Both stem
English words (porter / the english configuration), so "beaches" finds "beach", and a query's
common words ("a", "with", "of") are left out, as they would match nearly every image.
"""

import re

import peewee

from .database import database

#: The indexed columns of ``description``, and their weight in the ranking.
COLUMNS = {"searchable_text": 1.0, "tags": 2.0, "ocr_text": 1.0, "place_name": 2.0}
FTS_TABLE = "description_search"
#: PostgreSQL's stored tsvector column of ``description``.
PG_VECTOR_COLUMN = "search_vector"
#: Words of a query that say nothing of an image (PostgreSQL's english configuration drops
#: these itself; FTS5 would match them everywhere).
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the this to was with".split()
)
#: Words of a query: letters and digits only, so no query reaches the engine's own syntax.
_WORD = re.compile(r"\w+", re.UNICODE)
#: PostgreSQL's weights are letters (A the highest): the weightier columns get A, the rest C.
_PG_VECTOR = " || ".join(
    f"setweight(to_tsvector('english', coalesce({column}, '')), '{'A' if weight > 1 else 'C'}')"
    for column, weight in COLUMNS.items()
)


def _is_sqlite(db):
    return isinstance(db, peewee.SqliteDatabase)


def create_search_index(db):
    """Create the search index if missing; returns its name when it was created."""
    columns = ", ".join(COLUMNS)
    if _is_sqlite(db):
        if FTS_TABLE in db.get_tables():
            return None
        old = ", ".join(f"old.{column}" for column in COLUMNS)
        new = ", ".join(f"new.{column}" for column in COLUMNS)
        remove = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {columns}) VALUES ('delete', old.id, {old});"
        add = f"INSERT INTO {FTS_TABLE}(rowid, {columns}) VALUES (new.id, {new});"
        for statement in (
            f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({columns}, content='description', content_rowid='id',"
            " tokenize='porter unicode61 remove_diacritics 2')",
            f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON description BEGIN {add} END",
            f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON description BEGIN {remove} END",
            f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE ON description BEGIN {remove} {add} END",
            f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",  # rows written before the index
        ):
            db.execute_sql(statement)
        return FTS_TABLE
    if PG_VECTOR_COLUMN in {column.name for column in db.get_columns("description")}:
        return None
    db.execute_sql(
        f"ALTER TABLE description ADD COLUMN {PG_VECTOR_COLUMN} tsvector GENERATED ALWAYS AS ({_PG_VECTOR}) STORED"
    )
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {FTS_TABLE} ON description USING GIN ({PG_VECTOR_COLUMN})")
    return FTS_TABLE


def query_words(text):
    """The words of a search query, lower-cased, without its common words (unless it has no
    other)."""
    words = [word.lower() for word in _WORD.findall(text)]
    return [word for word in words if word not in STOPWORDS] or words


def search_descriptions(text, k):
    """The ``k`` best (image id, score) for ``text``, best first; any of its words may match,
    and an image matching more of them, or in its tags or place, ranks higher."""
    words = query_words(text)
    if not words or k <= 0:
        return []
    db = database.obj
    if _is_sqlite(db):
        weights = ", ".join(str(weight) for weight in COLUMNS.values())
        match = " OR ".join(f'"{word}"' for word in words)
        sql = (
            f"SELECT d.image_id, -bm25({FTS_TABLE}, {weights}) AS score FROM {FTS_TABLE}"
            f" JOIN description AS d ON d.id = {FTS_TABLE}.rowid"
            f" WHERE {FTS_TABLE} MATCH ? ORDER BY score DESC, d.image_id DESC LIMIT ?"
        )
        return [(image_id, float(score)) for image_id, score in db.execute_sql(sql, (match, k)).fetchall()]
    sql = (
        f"SELECT image_id, ts_rank_cd({PG_VECTOR_COLUMN}, query) AS score"
        " FROM description, to_tsquery('english', %s) AS query"
        f" WHERE {PG_VECTOR_COLUMN} @@ query ORDER BY score DESC, image_id DESC LIMIT %s"
    )
    return [(image_id, float(score)) for image_id, score in db.execute_sql(sql, (" | ".join(words), k)).fetchall()]
