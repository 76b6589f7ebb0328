"""Latency of ``imagepipe.search.search`` at 10k and 100k stored descriptions, SQLite and PostgreSQL.

Each database is fresh and migrated (SQLite: a temporary file; PostgreSQL: a new database on
IMAGEPIPE_BENCH_POSTGRES_URL's server, dropped after), then filled with N synthetic
descriptions shaped like the describers' Words: a sentence, a detailed sentence with the local
describer's boilerplate, tags, colours, OCR text on a quarter of the images and a place on 40 %
of the photos, drawn from the word lists below with a Zipf-like skew, so that a query word hits
about 0.1 to 5 % of the rows. The rows go into ``image`` and ``description`` in batches: the
FTS5 triggers (SQLite) and the GIN index (PostgreSQL) that migrate_schema made index them as
they do each ``save_description``, and are what the search reads.

Then ``search(query, k=20)`` is timed for ``--queries`` queries of 1 to 4 words drawn from the
same lists (after ``WARMUP`` untimed ones), and for ``--queries // 4`` that also hold "photo", a
word of nearly every row (what a person types, "photo of a dog", makes the engine rank all of
them). Text search only: IMAGEPIPE_TEXT_EMBEDDER is unset for the run. Last, `imagepipe
search` runs once as a subprocess against the same database, for the wall time a person sees
(interpreter start and imports included).
"""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import print_table

from imagepipe.description.record import Words
from imagepipe.search import search
from imagepipe.settings import get_settings
from models import Description, Image, bind_database, database, migrate_schema
from models.description import place_name

POSTGRES_URL = os.environ.get("IMAGEPIPE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SIZES = (10_000, 100_000)
K = 20
WARMUP = 20
BATCH = 500
#: How skewed the word lists are drawn: weight of the i-th word is 1 / (i + 1) ** ZIPF.
ZIPF = 0.3

SUBJECTS = """
beach sea wave sand sunset sunrise sky cloud mountain hill valley river lake waterfall forest tree
leaf flower garden park field meadow grass snow ice rock cliff desert island harbour boat ship
sail bridge road street city town village house building tower church castle ruin wall window
door roof stairs kitchen table chair sofa bed room office desk laptop screen keyboard phone
book paper document receipt invoice ticket menu sign poster map chart diagram logo drawing
painting sculpture statue museum market shop cafe restaurant bar food pizza pasta bread cake
coffee tea wine beer fruit apple orange banana vegetable salad soup dinner lunch breakfast dog cat
horse cow sheep bird duck chicken fish insect butterfly bee spider lizard iguana snake deer fox
bear rabbit squirrel child baby man woman family friends crowd wedding party birthday concert
festival stage music guitar piano car bus train bicycle motorcycle plane airport station
platform tram truck tractor farm barn fence lamp light candle fireworks night moon star storm
rain fog mist lightning rainbow autumn winter spring summer holiday travel hiking camping tent
picnic swimming pool skiing football tennis game toy balloon gift flag crowd portrait selfie
""".split()
OCR_WORDS = """
acme total subtotal tax cash card change thank you receipt invoice order number date time open
closed exit entrance stop parking hotel pharmacy bakery bank post office police taxi sale
discount price free new menu today special coffee espresso latte burger fries welcome hello
login password email settings account profile search home cart checkout error warning success
cancel save delete upload download share report dashboard monday tuesday friday saturday sunday
january june december street avenue road square platform gate track departure arrival
""".split()
PLACES = [
    ("Arezzo", "Tuscany", "Italy"), ("Florence", "Tuscany", "Italy"), ("Rome", "Lazio", "Italy"),
    ("Milan", "Lombardy", "Italy"), ("Venice", "Veneto", "Italy"), ("Naples", "Campania", "Italy"),
    ("Paris", "Île-de-France", "France"), ("Lyon", "Auvergne-Rhône-Alpes", "France"),
    ("Nice", "Provence-Alpes-Côte d'Azur", "France"), ("Marseille", "Provence-Alpes-Côte d'Azur", "France"),
    ("Berlin", "Berlin", "Germany"), ("Munich", "Bavaria", "Germany"), ("Hamburg", "Hamburg", "Germany"),
    ("Madrid", "Madrid", "Spain"), ("Barcelona", "Catalonia", "Spain"), ("Seville", "Andalusia", "Spain"),
    ("Lisbon", "Lisbon", "Portugal"), ("Porto", "Porto", "Portugal"), ("London", "England", "United Kingdom"),
    ("Edinburgh", "Scotland", "United Kingdom"), ("Dublin", "Leinster", "Ireland"),
    ("Amsterdam", "North Holland", "Netherlands"), ("Brussels", "Brussels Capital", "Belgium"),
    ("Vienna", "Vienna", "Austria"), ("Zurich", "Zurich", "Switzerland"), ("Prague", "Prague", "Czechia"),
    ("Athens", "Attica", "Greece"), ("Istanbul", "Istanbul", "Turkey"), ("New York City", "New York", "United States"),
    ("San Francisco", "California", "United States"), ("Chicago", "Illinois", "United States"),
    ("Toronto", "Ontario", "Canada"), ("Mexico City", "Mexico City", "Mexico"), ("Tokyo", "Tokyo", "Japan"),
    ("Kyoto", "Kyoto", "Japan"), ("Seoul", "Seoul", "South Korea"), ("Sydney", "New South Wales", "Australia"),
    ("Cape Town", "Western Cape", "South Africa"), ("Marrakesh", "Marrakesh-Safi", "Morocco"),
    ("Reykjavik", "Capital Region", "Iceland"),
]  # fmt: skip
CAMERAS = [
    ("Canon", "Canon EOS 40D"), ("Canon", "Canon EOS R6"), ("NIKON", "NIKON D70"), ("NIKON", "NIKON Z6"),
    ("SONY", "ILCE-7M3"), ("FUJIFILM", "X-T30"), ("Apple", "iPhone 13"), ("Apple", "iPhone 15 Pro"),
    ("samsung", "SM-G991B"), ("Google", "Pixel 7"), ("OLYMPUS", "E-M10"), ("Panasonic", "DMC-GX80"),
]  # fmt: skip
COLORS = """
black white grey grey-blue grey-brown grey-green blue brown green yellow orange red pink purple
""".split()


def weights(words):
    return [1 / (rank + 1) ** ZIPF for rank in range(len(words))]


SUBJECTS = list(dict.fromkeys(SUBJECTS))
SUBJECT_WEIGHTS, OCR_WEIGHTS, COLOR_WEIGHTS = weights(SUBJECTS), weights(OCR_WORDS), weights(COLORS)


def synthetic_words(rng):
    """One image's Words, the local describer's shape with a model's tags (see the docstring)."""
    kind = rng.choices(["photo", "screenshot", "graphic"], [80, 12, 8])[0]
    orientation = rng.choices(["landscape", "portrait", "square"], [60, 30, 10])[0]
    subjects = list(dict.fromkeys(rng.choices(SUBJECTS, SUBJECT_WEIGHTS, k=rng.randint(2, 5))))
    colors = list(dict.fromkeys(rng.choices(COLORS, COLOR_WEIGHTS, k=rng.randint(1, 3))))
    make, model = rng.choice(CAMERAS) if kind == "photo" and rng.random() < 0.7 else ("", "")
    city, region, country = rng.choice(PLACES) if kind == "photo" and rng.random() < 0.4 else ("", "", "")
    place = {"city": city, "region": region, "country": country} if city else {}
    text = ""
    if kind == "screenshot" or rng.random() < 0.2:
        text = " ".join(rng.choices(OCR_WORDS, OCR_WEIGHTS, k=rng.randint(2, 10)))
        text += f"\n{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
    head = f"A {orientation} {kind} of " + " and ".join(subjects)
    head += f" taken with a {model}" if model else ""
    head += f" in {place_name(place)}" if place else ""
    description = "; ".join([head, "mostly " + " and ".join(colors[:2])] + ([f"text: {text[:60]}"] if text else []))
    detailed = (
        f"Measured without a model: a 4000x3000 {orientation} {kind}. Dominant colours: {', '.join(colors)}."
        + (f" Place (nearest town within 20 km of its GPS position, GeoNames): {place_name(place)}." if place else "")
        + " Frontal faces found (OpenCV cascade): 0."
        + (f" Text read in the image (OCR): {text}." if text else "")
    )
    named = [kind, orientation, *subjects, *colors, make.lower(), city.lower(), region.lower(), country.lower()]
    tags = [tag for tag in dict.fromkeys(named) if tag]
    return Words(
        description=description,
        detailed_description=detailed,
        tags=tags,
        objects=subjects,
        colors=colors,
        searchable_text="\n".join([description, detailed, " ".join(tags)]),
        ocr_text=text,
        place=place,
        kind=kind,
        provider="local",
        model="bench",
    )


_TOKEN = re.compile(r"\w+")


def fill(count, seed):
    """Store ``count`` synthetic images and descriptions; returns the rows' word sets (for the
    hit shares) and the seconds the inserts took."""
    rng = random.Random(seed)
    tokens = []
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        size = min(BATCH, count - first)
        batch = [synthetic_words(rng) for _ in range(size)]
        with database.atomic():
            images = [{"source": f"bench/{first + i}.jpg", "status": "completed"} for i in range(size)]
            Image.insert_many(images).execute()
            ids = [row.id for row in Image.select(Image.id).order_by(Image.id.desc()).limit(size)][::-1]
            rows = [description_row(image_id, words) for image_id, words in zip(ids, batch, strict=True)]
            Description.insert_many(rows).execute()
        for words in batch:
            tokens.append(set(_TOKEN.findall(" ".join([words.searchable_text, words.ocr_text]).lower())))
    return tokens, time.perf_counter() - started


def description_row(image_id, words):
    """The row ``save_description`` writes for ``words``."""
    row = dict(words.as_row(), image=image_id)
    row["face_count"] = len(row["faces"])
    row["place_name"] = place_name(row["place"])
    return row


def make_queries(count, seed, *, common=False):
    """``count`` queries of 1 to 4 words from the lists; with ``common``, "photo" is one of them."""
    rng = random.Random(seed)
    pools = (
        (SUBJECTS, 60),
        ([city for city, _, _ in PLACES] + [country for _, _, country in PLACES], 15),
        (OCR_WORDS, 15),
        ([make for make, _ in CAMERAS], 5),
        (COLORS, 5),
    )
    queries = []
    for _ in range(count):
        words = [rng.choice(rng.choices([pool for pool, _ in pools], [share for _, share in pools])[0])]
        words += [rng.choice(SUBJECTS) for _ in range(rng.randint(0, 3 - common))]
        if common:
            words.insert(0, "photo of a")
        queries.append(" ".join(words))
    return queries


def hit_share(query, tokens):
    """The share of rows holding any word of ``query`` (as the engines' OR match; unstemmed)."""
    words = set(_TOKEN.findall(query.lower())) - {"of", "a"}
    return sum(1 for row in tokens if row & words) / len(tokens)


def timed(queries):
    """Milliseconds of each ``search(query, K)``, after WARMUP untimed ones."""
    for query in queries[:WARMUP]:
        search(query, K)
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query, K)
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentile(values, share):
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1]


def cli_wall(url):
    """Wall seconds of one `imagepipe search` run against ``url``, from process start to exit."""
    command = [str(Path(sys.executable).with_name("imagepipe")), "search", "beach sunset", "-k", str(K)]
    environment = dict(os.environ, DATABASE_URL=url)
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def postgres_database():
    """A fresh PostgreSQL database: (its URL, a function that drops it), or (None, reason)."""
    import psycopg2

    name = f"imagepipe_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(POSTGRES_URL, connect_timeout=3)
    except psycopg2.OperationalError as error:
        return None, f"PostgreSQL not reachable at {POSTGRES_URL}: {str(error).strip()}"
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()

    def drop():
        admin = psycopg2.connect(POSTGRES_URL, connect_timeout=10)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name, drop


def bench_one(engine, url, count, args):
    bind_database(url)
    migrate_schema()
    tokens, load_s = fill(count, seed=count)
    if engine == "postgresql":
        # Steady state, as autovacuum leaves a table: statistics, GIN pending list merged.
        database.execute_sql("VACUUM ANALYZE description")
    rows = []
    for label, queries in (
        ("1-4 words", make_queries(args.queries, seed=1)),
        ("with 'photo of a'", make_queries(args.queries // 4, seed=2, common=True)),
    ):
        shares = [hit_share(query, tokens) * 100 for query in queries]
        times = timed(queries)
        rows.append(
            [
                engine,
                f"{count:,}",
                label,
                len(queries),
                " / ".join(f"{percentile(shares, share):.1f}" for share in (10, 50, 90)),
                f"{statistics.median(times):.1f}",
                f"{percentile(times, 99):.1f}",
                f"{max(times):.1f}",
            ]
        )
    database.close()
    cli = cli_wall(url)
    for row in rows:
        row += [f"{count / load_s:,.0f}", f"{cli:.2f}"]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    os.environ.pop("IMAGEPIPE_TEXT_EMBEDDER", None)
    get_settings.cache_clear()
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as folder:
        for count in args.sizes:
            for engine in args.engines:
                if engine == "sqlite":
                    rows += bench_one(engine, f"sqlite:///{Path(folder) / f'search-{count}.db'}", count, args)
                    continue
                url, drop = postgres_database()
                if url is None:
                    notes.append(drop)
                    continue
                try:
                    rows += bench_one(engine, url, count, args)
                finally:
                    if not database.is_closed():
                        database.close()
                    drop()
    print_table(
        f"search(query, k={K}) latency, ms, text only (CPU: {os.cpu_count()} cores)",
        ["engine", "images", "queries", "n", "rows hit % p10/p50/p90", "p50", "p99", "max", "inserts/s", "CLI s"],
        rows,
    )
    print(
        "\nrows hit: share of rows holding a query word (unstemmed). inserts/s: image + description rows with the"
        " FTS5 triggers / GIN index. CLI s: one `imagepipe search` subprocess, start to exit."
    )
    for note in notes:
        print(f"skipped: {note}")
    return rows


if __name__ == "__main__":
    main()
