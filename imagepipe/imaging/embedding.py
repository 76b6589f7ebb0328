"""Image embeddings for "find similar": a protocol, a local deterministic embedder, storage helpers.

The Embedder protocol is the seam for a learned model or a remote API later; LocalEmbedder
needs no network or weights, so the pipeline and its tests work anywhere.
"""

from typing import Protocol

import numpy as np
from PIL import Image

from imagepipe.imaging.colors import flatten

_WORK_SIDE = 64
_HUE_BINS, _SATURATION_BINS, _VALUE_BINS = 8, 3, 3
_LAYOUT_SIDE = 8
_EDGE_BINS, _EDGE_GRID = 8, 2
# Share of the cosine similarity each block contributes (when no block is all zeros).
_COLOR_WEIGHT, _LAYOUT_WEIGHT, _EDGE_WEIGHT = 0.5, 0.3, 0.2


class Embedder(Protocol):
    """Turns a picture into a unit-length float32 vector; similar pictures get close vectors."""

    name: str
    dims: int

    def embed(self, image: Image.Image) -> np.ndarray:
        """The (dims,) float32, L2-normalised embedding of ``image``."""
        ...


class LocalEmbedder:
    """A hand-made embedding of colour, layout and texture, identical on every machine.

    The image (transparency over white) is resized to 64x64, ignoring its aspect ratio, and
    three blocks are concatenated:

    - colour: a histogram of its HSV pixels, 8 hue x 3 saturation x 3 value bins (72 values),
      square-rooted (so large flat areas do not drown the rest);
    - layout: its greyscale thumbnail at 8x8, minus its mean (64 values);
    - edges: for each quarter of a 2x2 grid, a histogram of gradient orientations (8 bins over
      0-180 degrees) weighted by gradient strength (32 values).

    Each block is L2-normalised and multiplied by the square root of its weight (colour 0.5,
    layout 0.3, edges 0.2), and the whole vector L2-normalised: the cosine of two embeddings
    is then the weighted sum of the three blocks' cosines. 168 dimensions.
    """

    name = "local-v1"
    dims = _HUE_BINS * _SATURATION_BINS * _VALUE_BINS + _LAYOUT_SIDE**2 + _EDGE_BINS * _EDGE_GRID**2

    def embed(self, image):
        """The (168,) float32, L2-normalised embedding of ``image``."""
        work = flatten(image).resize((_WORK_SIDE, _WORK_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
        grey = work.convert("L")
        blocks = (
            (_color_histogram(work), _COLOR_WEIGHT),
            (_layout(grey), _LAYOUT_WEIGHT),
            (_edge_histograms(grey), _EDGE_WEIGHT),
        )
        vector = np.concatenate([_unit(block) * np.sqrt(weight) for block, weight in blocks])
        return _unit(vector).astype(np.float32)


def get_embedder(name):
    """The embedder called ``name`` in the settings ("local"); ValueError for an unknown name."""
    factories = {"local": LocalEmbedder}
    if name not in factories:
        raise ValueError(f"unknown embedder {name!r}; choose from: {', '.join(sorted(factories))}")
    return factories[name]()


def to_bytes(vector):
    """``vector`` as little-endian float32 bytes, 4 per dimension, for compact storage."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data, dims):
    """The float32 vector stored by to_bytes(); ValueError when ``data`` is not ``dims`` long."""
    if len(data) != 4 * dims:
        raise ValueError(f"expected {4 * dims} bytes for {dims} dimensions, got {len(data)}")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def cosine_top_k(query, matrix, k):
    """The ``k`` rows of ``matrix`` most similar to ``query``, as [(row index, cosine)], best first.

    Ties keep row order, also among rows as good as the k-th (duplicates, one photo uploaded
    twice, tie exactly). Rows (or a query) of all zeros score 0; a row holding a NaN or an
    infinity is left out.
    """
    query = np.asarray(query, dtype=np.float32).ravel()
    matrix = np.asarray(matrix, dtype=np.float32).reshape(-1, query.size)
    if k <= 0 or not len(matrix):
        return []
    # Row sums rather than a matrix product: BLAS's result depends on each row's alignment in
    # memory, so equal rows could score a last bit apart and lose their row order.
    norms = np.sqrt(np.square(matrix).sum(axis=1))
    with np.errstate(invalid="ignore", over="ignore"):
        scores = (matrix * _unit(query)).sum(axis=1) / np.where(norms > 0, norms, 1)
    candidates = np.flatnonzero(np.isfinite(scores))
    if k < len(candidates):
        # Every row as good as the k-th, not only the k that argpartition picks among equals.
        kth = np.partition(-scores[candidates], k - 1)[k - 1]
        candidates = candidates[-scores[candidates] <= kth]
    best = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
    return [(int(index), float(scores[index])) for index in best]


def _unit(vector):
    norm = np.linalg.norm(vector)
    return vector / norm if norm > 0 else vector


def _color_histogram(rgb):
    hsv = np.asarray(rgb.convert("HSV"), dtype=np.int64).reshape(-1, 3)
    hue = hsv[:, 0] * _HUE_BINS // 256
    saturation = hsv[:, 1] * _SATURATION_BINS // 256
    value = hsv[:, 2] * _VALUE_BINS // 256
    index = (hue * _SATURATION_BINS + saturation) * _VALUE_BINS + value
    counts = np.bincount(index, minlength=_HUE_BINS * _SATURATION_BINS * _VALUE_BINS)
    return np.sqrt(counts / len(index))


def _layout(grey):
    small = np.asarray(grey.resize((_LAYOUT_SIDE, _LAYOUT_SIDE), Image.Resampling.BOX), dtype=np.float64)
    return (small - small.mean()).ravel()


def _edge_histograms(grey):
    pixels = np.asarray(grey, dtype=np.float64)
    dy, dx = np.gradient(pixels)
    strength = np.hypot(dx, dy)
    orientation = np.mod(np.arctan2(dy, dx), np.pi)
    bins = np.minimum((orientation / np.pi * _EDGE_BINS).astype(np.int64), _EDGE_BINS - 1)
    cell = _WORK_SIDE // _EDGE_GRID
    histograms = [
        np.bincount(
            bins[row : row + cell, col : col + cell].ravel(),
            weights=strength[row : row + cell, col : col + cell].ravel(),
            minlength=_EDGE_BINS,
        )
        for row in range(0, _WORK_SIDE, cell)
        for col in range(0, _WORK_SIDE, cell)
    ]
    return np.concatenate(histograms)
