"""``imagepipe similar IMAGE_ID -k 5``: the nearest images by cosine similarity."""

import numpy as np

from imagepipe import imaging
from models import Embedding, Image, bind_database

from .table import render_table

NAME = "similar"
HELP = "list the images most similar to one image"


def add_arguments(parser):
    parser.add_argument("image_id", type=int)
    parser.add_argument("-k", type=int, default=5, help="how many neighbours (default 5)")


def nearest(image_id, k):
    """(image id, cosine score) of the ``k`` nearest images embedded with the same model."""
    query = Embedding.get_or_none(Embedding.image == image_id)
    if query is None:
        raise ValueError(f"image {image_id} has no embedding yet (is it completed?)")
    others = list(
        Embedding.select(Embedding.image, Embedding.vector)
        .where(Embedding.model == query.model, Embedding.image != image_id)
        .tuples()
    )
    if not others:
        return []
    matrix = np.stack([imaging.from_bytes(vector, query.dims) for _, vector in others])
    hits = imaging.cosine_top_k(imaging.from_bytes(query.vector, query.dims), matrix, k)
    return [(others[index][0], score) for index, score in hits]


def run(args, settings):
    bind_database(settings.database_url)
    hits = nearest(args.image_id, args.k)
    names = {i.id: i.original_name or i.source for i in Image.select().where(Image.id.in_([h[0] for h in hits]))}
    print(render_table(["id", "score", "name"], [[i, round(float(s), 4), names.get(i, "")] for i, s in hits]))
