"""Latency of nearest_vectors at 10k and 100k stored vectors: exact in-process search on
SQLite and PostgreSQL, and pgvector's exact distance scan on PostgreSQL when it is installed.

Each store holds N random unit vectors of 168 dims (the pixel vector's size) under one model,
plus N/10 of a second model that every query filters out. Each figure is over ``--queries``
different random queries, k = 10, after one warm-up query (page cache, shared buffers).
PostgreSQL is a scratch database on ``IMAGEPIPE_BENCH_POSTGRES_URL`` (default the tests'
server), dropped at the end. With ``--hnsw`` it also times an HNSW index (pgvector's defaults)
and its recall against the exact answer: the reason nearest_vectors does not use one.
"""

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from common import print_table

from models import Embedding, Image, bind_database, database, migrate_schema
from models.vectors import (
    VEC_COLUMN,
    create_vector_search,
    exact_nearest_vectors,
    pgvector_nearest_vectors,
    uses_pgvector,
)

POSTGRES_URL = os.environ.get(
    "IMAGEPIPE_BENCH_POSTGRES_URL",
    os.environ.get("IMAGEPIPE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
MODEL, OTHER = "local-v1", "other-v1"
BATCH = 2000


def percentile(ordered, share):
    """Nearest-rank percentile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def load(count, dims, rng):
    """``count`` images with a ``MODEL`` vector, a tenth of them with an ``OTHER`` one too;
    wall seconds."""
    started = time.perf_counter()
    with database.atomic():
        for first in range(0, count, BATCH):
            size = min(BATCH, count - first)
            ids = [row[0] for row in Image.insert_many([{"source": f"bench/{first + i}.jpg"} for i in range(size)])
                   .returning(Image.id).tuples().execute()]  # fmt: skip
            vectors = rng.standard_normal((size, dims)).astype("<f4")
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows = [
                {"image": i, "model": MODEL, "dims": dims, "vector": v.tobytes()}
                for i, v in zip(ids, vectors, strict=True)
            ]
            rows += [dict(row, model=OTHER) for row in rows[::10]]
            Embedding.insert_many(rows).execute()
    return time.perf_counter() - started


def timed(search, queries, k):
    """p50, p99 and max in ms of ``search(query, k)`` over ``queries``, after one warm-up."""
    search(queries[0], k)
    latencies = []
    for query in queries:
        started = time.perf_counter()
        search(query, k)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return [f"{percentile(latencies, share):.1f}" for share in (0.5, 0.99)] + [f"{latencies[-1]:.1f}"]


def hnsw_search(dims):
    cast = f"{VEC_COLUMN}::vector({dims})"

    def search(query, k):
        literal = "[" + ",".join(map(repr, query.tolist())) + "]"
        sql = f"SELECT image_id FROM embedding WHERE model = %s ORDER BY {cast} <=> %s::vector({dims}) LIMIT %s"
        return [row[0] for row in database.execute_sql(sql, (MODEL, literal, k)).fetchall()]

    return search


def bench_database(label, url, count, args, rows):
    """Load ``count`` vectors into the database of ``url`` and add a row per way of searching it."""

    def add(search, figures=("", "", ""), seconds=""):
        rows.append([label, f"{count:,}", search, *figures, seconds])

    rng = np.random.default_rng(count)
    bind_database(url)
    migrate_schema()
    seconds = load(count, args.dims, rng)
    database.execute_sql("ANALYZE")  # both engines plan from statistics
    queries = [rng.standard_normal(args.dims).astype(np.float32) for _ in range(args.queries)]

    def exact(query, k):
        return exact_nearest_vectors(MODEL, query, k)

    def pgvector(query, k):
        return pgvector_nearest_vectors(MODEL, query, k)

    add("exact in-process", timed(exact, queries, args.k), f"{seconds:.1f}")
    if uses_pgvector(database.obj):
        add("pgvector scan", timed(pgvector, queries, args.k))
        for query in queries[:5]:  # the figures are of the same answers
            assert [i for i, _ in pgvector(query, args.k)] == [i for i, _ in exact(query, args.k)]
        started = time.perf_counter()
        with database.atomic():
            database.execute_sql(f"ALTER TABLE embedding DROP COLUMN {VEC_COLUMN}")
            create_vector_search(database.obj)
        add("(migration: vec for the rows there)", seconds=f"{time.perf_counter() - started:.1f}")
        if args.hnsw:
            add_hnsw(add, queries, exact, args)
    elif url.startswith("postgres"):
        add("pgvector: not installed")
    database.close()


def add_hnsw(add, queries, exact, args):
    """An HNSW index on MODEL's rows (pgvector's defaults: m 16, ef_construction 64, ef_search 40)."""
    started = time.perf_counter()
    database.execute_sql(
        f"CREATE INDEX embedding_vec_hnsw ON embedding USING hnsw (({VEC_COLUMN}::vector({args.dims}))"
        f" vector_cosine_ops) WHERE model = '{MODEL}'"
    )
    built = time.perf_counter() - started
    search = hnsw_search(args.dims)
    found = [len(set(search(q, args.k)) & {i for i, _ in exact(q, args.k)}) / args.k for q in queries]
    add(f"pgvector HNSW, recall@{args.k} {statistics.mean(found):.2f}", timed(search, queries, args.k), f"{built:.1f}")


def scratch_postgres():
    """A new database on POSTGRES_URL, and a function that drops it; (None, None) when none answers."""
    import psycopg2

    name = f"imagepipe_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(POSTGRES_URL, connect_timeout=2)
    except psycopg2.OperationalError:
        return None, None
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")

    def drop():
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name, drop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="vectors of the searched model, comma-separated")
    parser.add_argument("--dims", type=int, default=168)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--hnsw", action="store_true", help="also time an HNSW index and its recall")
    args = parser.parse_args()
    rows = []
    for count in [int(size) for size in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as folder:
            bench_database("SQLite", f"sqlite:///{Path(folder) / 'vectors.db'}", count, args, rows)
        url, drop = scratch_postgres()
        if url is None:
            rows.append(["PostgreSQL", f"{count:,}", f"not reachable at {POSTGRES_URL}", "", "", "", ""])
            continue
        try:
            bench_database("PostgreSQL", url, count, args, rows)
        finally:
            drop()
    print_table(
        f"nearest_vectors, {args.dims} dims, k = {args.k}, ms over {args.queries} queries",
        ["database", "vectors", "search", "p50", "p99", "max", "load / build s"],
        rows,
    )
    return rows


if __name__ == "__main__":
    main()
