"""Queues by cost: does a backlog of large encodes delay the cheap steps of images sent after it?

The same inputs through three deployments with the same 2 processes x 2 threads in all, in
each of ``--rounds`` rounds, against one private Redis and a fresh SQLite database each:

* one queue (the baseline, every step on ``images``, as before the encoder had a queue of its
  own): ``IMAGEPIPE_QUEUES=variants=images``, ``dramatiq actors --processes 2 --threads 2``;
* two queues, one worker: the Procfile's ``worker`` line as it ships (it consumes both);
* split: the README's two worker lines, ``--queues images --processes 1 --threads 2`` and
  ``--queues encode --processes 1 --threads 2``.

``--backlog`` photos of ``--megapixels`` MP are sent, then ``--later`` 2 MP photos. For the
later ones: seconds from their row's creation to their metadata step done (median and
slowest), from the database's own timestamps; and the seconds until every image has ended.
"""

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import photo_file, pipeline_environment, print_table, redis_for_bench

#: Each deployment's workers: (environment, processes, --queues or every queue).
DEPLOYMENTS = {
    "one queue (baseline)": [({"IMAGEPIPE_QUEUES": "variants=images"}, 2, ())],
    "two queues, one worker": [({}, 2, ())],
    "split: --queues images / encode": [({}, 1, ("images",)), ({}, 1, ("encode",))],
}


def run(folder, redis_url, deployment, backlog, later):
    """(metadata latencies of the later images, seconds until all ended) for one deployment."""
    import actors
    from imagepipe.cli.process import enqueue, wait_for
    from imagepipe.worker_process import start_worker, stop_worker
    from models import Image, Step

    pipeline_environment(folder, redis_url)
    actors.broker.flush_all()  # nothing left by an earlier run may reach these workers
    with contextlib.ExitStack() as stack:
        for env, processes, queues in DEPLOYMENTS[deployment]:
            arguments = ["--queues", *queues] if queues else []
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            worker = start_worker(env, processes=processes, threads=2, extra_args=arguments, **quiet)
            stack.callback(stop_worker, worker)
        warm = enqueue(later[:1])  # every worker booted before the clock starts
        if not wait_for(warm, 120, report=lambda line: None):
            raise RuntimeError("the workers did not start")
        first = enqueue(backlog)
        ids = enqueue(later)
        if not wait_for(first + ids, 1800, report=lambda line: None):
            raise RuntimeError("pipeline did not finish in time")
        images = {image.id: image for image in Image.select().where(Image.id.in_(first + ids))}
        metadata = Step.select().where(Step.image.in_(ids), Step.name == "metadata")
        latencies = [(step.finished_at - images[step.image_id].created_at).total_seconds() for step in metadata]
        start = min(image.created_at for image in images.values())
        ended = max(image.completed_at or image.updated_at for image in images.values())
    return latencies, (ended - start).total_seconds()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=16)
    parser.add_argument("--megapixels", type=float, default=24)
    parser.add_argument("--later", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, redis_for_bench() as redis_url:
        backlog = [photo_file(Path(folder) / "in", args.megapixels, seed=s) for s in range(args.backlog)]
        later = [photo_file(Path(folder) / "in", 2, seed=s) for s in range(args.later + 1)]
        results = {name: [] for name in DEPLOYMENTS}
        for round_number in range(args.rounds):
            for name in DEPLOYMENTS:
                run_folder = Path(folder) / f"{round_number}-{len(results[name])}-{name.split()[0]}"
                results[name].append(run(run_folder, redis_url, name, backlog, later[1:]))
                print(f"round {round_number + 1}, {name}: {results[name][-1]}", file=sys.stderr)

    baseline = [statistics.median(latencies) for latencies, _ in results["one queue (baseline)"]]
    rows = []
    for name, runs in results.items():
        medians = [statistics.median(latencies) for latencies, _ in runs]
        rows.append(
            [
                name,
                round(statistics.median(medians), 2),
                round(statistics.median(max(latencies) for latencies, _ in runs), 2),
                round(statistics.median(medians[n] / baseline[n] for n in range(len(runs))), 3),
                round(statistics.median(total for _, total in runs), 1),
            ]
        )
    print_table(
        f"{args.later} photos of 2 MP sent after {args.backlog} of {args.megapixels:g} MP; "
        f"2 processes x 2 threads in all; median of {args.rounds} rounds",
        ["deployment", "metadata done, s (median)", "slowest, s", "ratio to one queue", "all ended, s"],
        rows,
    )


if __name__ == "__main__":
    main()
