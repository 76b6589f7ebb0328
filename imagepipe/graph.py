"""The pipeline's shape, declared once: its steps, what each waits for, and its queue.

Everything else derives from ``PIPELINE``: the step rows of a new image (models), the first
messages sent (imagepipe.submission), the fan-out (StepTracking sends a step once all it
waits for are done), the completion rule (an image is completed when all its rows are done),
the sweeper's prerequisites (models/sweep.py), and each actor's step and queue
(``actors.pipeline`` declares its actors through ``step_actor``). Adding a step is one actor
and one ``PIPELINE.add(...)``.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One step: its row's name, the actor that does it, the steps it waits for, its queue, and
    its Dramatiq priority (among the messages a worker holds, lower runs first)."""

    name: str
    actor: str
    after: tuple = ()
    queue: str = "images"  # IMAGEPIPE_QUEUES=step=queue,... overrides it
    priority: int = 0


class Graph:
    """Steps in an order where each comes after all it waits for (so there is no cycle)."""

    def __init__(self, steps=()):
        self._steps = {}
        for step in steps:
            self.add(step)

    def add(self, step):
        """Add ``step``; ValueError if its name or actor is taken or it waits for an unknown step."""
        if step.name in self._steps or step.actor in {s.actor for s in self._steps.values()}:
            raise ValueError(f"step {step.name!r} or actor {step.actor!r} is in the pipeline already")
        unknown = [name for name in step.after if name not in self._steps]
        if unknown:
            raise ValueError(f"step {step.name!r} waits for unknown steps: {', '.join(unknown)}")
        self._steps[step.name] = step
        return step

    def __getitem__(self, name):
        return self._steps[name]

    def __iter__(self):
        return iter(self._steps.values())

    @property
    def names(self):
        return tuple(self._steps)

    @property
    def first(self):
        """The steps that wait for nothing: sent when an image is registered."""
        return tuple(step for step in self if not step.after)

    def dependents(self, name):
        """The steps that wait for ``name`` (among others, maybe)."""
        return tuple(step for step in self if name in step.after)

    def of_actor(self, actor_name):
        """The step an actor does, or None."""
        return next((step for step in self if step.actor == actor_name), None)


#: The step whose outputs are the variants (the metrics count the bytes they save).
VARIANTS = "variants"

PIPELINE = Graph(
    [
        Step("ingest", actor="ingest"),
        # The encoders on a queue of their own, so that they scale apart (dramatiq actors
        # --queues encode), and last among what a worker holds: a backlog of big encodes then
        # delays no cheap step, also in a worker that consumes both queues (bench/queues.py).
        Step(VARIANTS, actor="make_variants", after=("ingest",), queue="encode", priority=10),
        Step("metadata", actor="extract_metadata", after=("ingest",)),
        Step("embed", actor="embed", after=("metadata",)),
        # Words for search (imagepipe.description): local models by default, else a paid API
        # behind the rate limiter; on the cheap queue, as it needs no full-size decode.
        Step("describe", actor="describe", after=("ingest",)),
    ]
)
