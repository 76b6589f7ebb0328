"""Seeded, reproducible damage to the corpus's good files: what bench/fuzz.py feeds a worker.

Each kind imitates a way real uploads get damaged: flipped bits (bad storage or memory),
overwritten header bytes, truncation (an interrupted upload), a splice of another file's bytes,
a zeroed run (a lost disk block) and a duplicated chunk (a retried write).
"""

import random
from dataclasses import dataclass
from pathlib import Path

GOOD_FOLDERS = ("camera", "formats", "orientation")
# Pillow opens these formats; the HEIF sample needs an extra that a fuzz run should not need.
_SUFFIXES = {".jpg", ".png", ".gif", ".webp", ".tif", ".avif"}
_HEADER_BYTES = 512


@dataclass(frozen=True)
class Mutant:
    name: str
    original: Path
    kind: str
    data: bytes


def good_files(corpus):
    """The corpus files that must complete, in a fixed order."""
    return sorted(p for folder in GOOD_FOLDERS for p in (Path(corpus) / folder).iterdir() if p.suffix in _SUFFIXES)


def mutants(corpus, count, seed):
    """``count`` mutants of ``good_files(corpus)``, the same for the same arguments."""
    rng = random.Random(seed)
    originals = good_files(corpus)
    contents = {path: path.read_bytes() for path in originals}
    kinds = sorted(_MUTATIONS)
    for number in range(count):
        original, kind = rng.choice(originals), kinds[number % len(kinds)]
        donor = contents[rng.choice(originals)]
        data = _MUTATIONS[kind](bytearray(contents[original]), rng, donor)
        yield Mutant(f"{number:05d}-{kind}-{original.stem}{original.suffix}", original, kind, bytes(data))


def _bit_flips(data, rng, _donor):
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    return data


def _header_bytes(data, rng, _donor):
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(min(len(data), _HEADER_BYTES))] = rng.randrange(256)
    return data


def _truncation(data, rng, _donor):
    return data[: max(1, int(len(data) * rng.uniform(0.05, 0.995)))]


def _splice(data, rng, donor):
    length = rng.randint(16, max(16, len(data) // 8))
    at, source = rng.randrange(len(data)), rng.randrange(max(1, len(donor) - length))
    data[at : at + length] = donor[source : source + length]
    return data


def _zeroed_run(data, rng, _donor):
    length = rng.randint(16, 4096)
    at = rng.randrange(len(data))
    data[at : at + length] = bytes(len(data[at : at + length]))
    return data


def _duplicated_chunk(data, rng, _donor):
    length = rng.randint(16, max(16, len(data) // 16))
    at = rng.randrange(len(data))
    return data[: at + length] + data[at : at + length] + data[at + length :]


_MUTATIONS = {
    "bit-flips": _bit_flips,
    "header-bytes": _header_bytes,
    "truncation": _truncation,
    "splice": _splice,
    "zeroed-run": _zeroed_run,
    "duplicated-chunk": _duplicated_chunk,
}
