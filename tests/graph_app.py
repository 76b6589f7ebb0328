"""The pipeline with one step more, as an app adds one: an actor and one line in the graph.

``summary`` waits for two steps (variants and metadata). Run by tests/test_graph.py under a
real `dramatiq tests.graph_app`; it records each run in Redis, and fails for good for an
image whose name starts with ``bad-summary``.
"""

import functools
import os

import redis

from actors.pipeline import step_actor
from imagepipe.errors import CorruptImage
from imagepipe.graph import PIPELINE
from imagepipe.graph import Step as GraphStep
from models import Image, Step

SUMMARY_RUNS_KEY = "tests:summary-runs"

PIPELINE.add(GraphStep("summary", actor="summarize", after=("variants", "metadata")))


@functools.cache
def _redis():
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@step_actor("summary")
def summarize(image_id):
    """Record the run and whether everything it waits for was done when it started."""
    before = Step.select().where(Step.image == image_id, Step.name.in_(["variants", "metadata"]))
    ready = all(step.status == Step.DONE for step in before)
    _redis().rpush(SUMMARY_RUNS_KEY, f"{image_id} {int(ready)}")
    if Image.get_by_id(image_id).original_name.startswith("bad-summary"):
        raise CorruptImage("the summary cannot be made")
