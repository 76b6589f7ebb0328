"""Search the images by what they show: full-text over their words, merged with the nearest
texts by meaning when a text embedder is configured. The CLI's and the web's one engine."""

import logging
from dataclasses import dataclass

from imagepipe import imaging
from imagepipe.description.providers import get_text_embedder
from imagepipe.errors import ProviderError, first_line
from models import Description, Image
from models.search import search_descriptions
from models.vectors import nearest_vectors, similar_images

logger = logging.getLogger(__name__)

#: Reciprocal rank fusion's constant (Cormack et al. 2009): a hit's share is 1 / (K + rank),
#: so the first places of either ranking count most and neither's scale matters.
RRF_K = 60
#: How many of each ranking are merged, for k results: enough that a hit found by both
#: rankings but low in one still counts.
CANDIDATES_PER_RESULT = 3


@dataclass(frozen=True)
class Hit:
    image_id: int
    score: float
    #: "text", "meaning" or "text+meaning": which rankings found it.
    found_by: str


def search(query, k=20):
    """The ``k`` best images for ``query``, best first."""
    candidates = max(k, k * CANDIDATES_PER_RESULT)
    rankings = {"text": search_descriptions(query, candidates)}
    embedder = get_text_embedder()
    if embedder is not None and query.strip():
        try:
            (vector,) = embedder.embed_texts([query])
        except ProviderError as error:  # the API throttled, timed out...: the words still answer
            logger.warning("Searching by text only: the query could not be embedded: %s", first_line(error))
        else:
            rankings["meaning"] = nearest_vectors(embedder.name, vector, candidates)
    if len(rankings) == 1:
        return [Hit(image_id, score, "text") for image_id, score in rankings["text"][:k]]
    return fuse(rankings, k)


def fuse(rankings, k):
    """Reciprocal rank fusion of ``{name: [(image id, score), ...]}``, best first."""
    scores, found_by = {}, {}
    for name, ranking in rankings.items():
        for rank, (image_id, _) in enumerate(ranking, start=1):
            scores[image_id] = scores.get(image_id, 0.0) + 1.0 / (RRF_K + rank)
            found_by.setdefault(image_id, []).append(name)
    best = sorted(scores, key=lambda image_id: (-scores[image_id], image_id))[:k]
    return [Hit(image_id, scores[image_id], "+".join(found_by[image_id])) for image_id in best]


def similar(image_id, k, settings):
    """The ``k`` images nearest to ``image_id`` by their pixel vectors, as Hits."""
    model = imaging.get_embedder(settings.embedder).name
    return [Hit(other, score, "pixels") for other, score in similar_images(image_id, k, model)]


def hit_rows(hits):
    """Each hit as plain values with its image's name, description and tags, in the hits' order."""
    ids = [hit.image_id for hit in hits]
    names = {image.id: image.original_name or image.source for image in Image.select().where(Image.id.in_(ids))}
    words = {row.image_id: row for row in Description.select().where(Description.image.in_(ids))}
    return [
        {
            "id": hit.image_id,
            "score": round(hit.score, 4),
            "found_by": hit.found_by,
            "name": names.get(hit.image_id, ""),
            "description": words[hit.image_id].description if hit.image_id in words else "",
            "tags": words[hit.image_id].tags if hit.image_id in words else [],
        }
        for hit in hits
    ]
