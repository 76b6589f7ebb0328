"""Pipeline throughput under `dramatiq actors --processes 2` against the floor.

The floor is the same image work (check decode, variants written to disk, metadata,
embedding, the local describer's default parts) done by a plain two-process
`multiprocessing` loop over the same files in the same run: no broker, no database, no
middleware. The ratio floor_time / pipeline_time says how much of the machine the pipeline
keeps for image work (goal >= 0.85). Rows marked "no isolation" run with IMAGEPIPE_ISOLATE=0
(image work in the worker thread, no child process per step), so the cost of the hard time
limit shows in the same run.
"""

import argparse
import multiprocessing
import os
import tempfile
from pathlib import Path

from common import measured, photo_file, pipeline_worker, print_table, redis_for_bench, submit_and_wait

LIMITS = {"max_pixels": 60_000_000, "max_file_bytes": 200 * 1024 * 1024}


def pillow_work(job):
    """What the actors do to one file, minus Dramatiq and the database."""
    from imagepipe import imaging
    from imagepipe.description.local import describe_locally
    from imagepipe.description.providers import local_parts
    from imagepipe.settings import get_settings
    from imagepipe.storage.local import write_atomically

    path, out = job
    settings = get_settings()
    imaging.inspect_file(path, **LIMITS)
    picture = imaging.load_upright(path, max_width=max(settings.variant_widths), **LIMITS)
    widths = imaging.plan_widths(picture.width, settings.variant_widths)
    for variant in imaging.render_variants(
        picture, widths, settings.variant_formats, imaging.EncoderOptions.from_settings(settings)
    ):
        write_atomically(Path(out) / f"{Path(path).stem}-{variant.width}.{variant.format}", variant.data)
    imaging.describe(path, **LIMITS)
    thumbnail = imaging.load_upright(path, max_width=256, **LIMITS)
    imaging.get_embedder(settings.embedder).embed(thumbnail)
    describe_locally(path, parts=local_parts(), **LIMITS)


def floor(paths, out):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(pillow_work, [(paths[0], out)])  # warm both the pool and the imports
        with measured() as cost:
            pool.map(pillow_work, [(p, out) for p in paths], chunksize=1)
    return cost["wall"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--megapixels", type=float, default=12)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4], help="threads per worker process")
    parser.add_argument(
        "--no-isolation-threads",
        type=int,
        nargs="*",
        default=[2],
        help="threads per worker process for extra runs with IMAGEPIPE_ISOLATE=0 (none: skip them)",
    )
    parser.add_argument("--database-url", help="an empty database to use instead of a new SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, redis_for_bench() as redis_url:
        paths = [photo_file(Path(folder) / "in", args.megapixels, seed=s) for s in range(args.images)]
        floor_s = floor(paths, Path(folder) / "floor")
        rows = [
            ["floor: multiprocessing.Pool(2), image work only", round(floor_s, 2), round(args.images / floor_s, 2), 1]
        ]
        runs = [(threads, True) for threads in args.threads] + [(t, False) for t in args.no_isolation_threads]
        for threads, isolate in runs:
            run = Path(folder) / f"threads-{threads}{'' if isolate else '-no-isolation'}"
            os.environ["IMAGEPIPE_ISOLATE"] = "1" if isolate else "0"  # read by the worker it starts
            with pipeline_worker(run, redis_url, processes=2, threads=threads, database_url=args.database_url):
                submit_and_wait(paths[:1])  # the worker is booted and warm once one image went through
                pipeline_s, _ = submit_and_wait(paths)
            ratio = round(floor_s / pipeline_s, 3)
            name = f"dramatiq actors --processes 2 --threads {threads}{'' if isolate else ', no isolation'}"
            rows.append([name, round(pipeline_s, 2), round(args.images / pipeline_s, 2), ratio])
    title = f"{args.images} photos of {args.megapixels:g} MP, all steps"
    print_table(title, ["run", "seconds", "images/s", "ratio to floor"], rows)


if __name__ == "__main__":
    main()
