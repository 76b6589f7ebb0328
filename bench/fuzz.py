"""Damaged images: seeded mutations of the corpus's good files (bench/mutations.py) through a
real `dramatiq actors --processes 2 --threads 2`, and the same inputs through sharp with its
defaults (``failOn: 'warning'``), side by side.

Reported for each: completed, failed by reason, and damaged outputs published: completed
images whose 640 px output differs from the undamaged original's by more than 8 levels (mean
absolute difference over the pixels, RGB). For imagepipe also: worker processes that died,
images not ended when the run's time is up (hangs), and failures without a specific reason.
The originals go through both first, so each mutant is compared with its own pipeline's
rendering of the original (imagepipe's WebP q80 variant, sharp's lossless PNG).

    python bench/fuzz.py --count 10000 --seed 1 [--json report.json]

Goals (issue 11): 0 worker deaths, 0 hangs, 0 failures without a specific reason, and fewer
damaged outputs published than sharp.
"""

import argparse
import collections
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import CORPUS, pipeline_worker, print_table, redis_for_bench
from mutations import good_files, mutants
from PIL import Image

#: Mean absolute difference (levels) above which an output shows damage; JPEG noise between a
#: corpus photo's own orientations measures 1.4-3.3 (tests/imaging/test_opening.py).
DAMAGE_LEVELS = 8
WIDTH = 640
SHARP = Path(__file__).resolve().parent / "sharp"
#: Error types of imagepipe.errors that name what is wrong with the file; a failure recorded
#: with any other type (or none, or no message) is one without a specific reason.
SPECIFIC = {
    "CorruptImage",
    "TruncatedImage",
    "UnsupportedFormat",
    "PixelLimitExceeded",
    "HiddenPayload",
    "EmptyFile",
    "FileTooLarge",
    "ShapeUnsupported",
    "ImageWorkTimedOut",
    "ImageWorkCrashed",
}


def reason_class(error):
    """An error with its numbers (offsets, sizes, markers) taken out, to count alike reasons."""
    return re.sub(r"0x[0-9a-fA-F]+|\d+", "N", error or "no error recorded")[:90]


def mean_difference(reference, output):
    """Mean absolute RGB difference in levels; ``output`` resized to ``reference``'s size."""
    reference, output = reference.convert("RGB"), output.convert("RGB")
    if output.size != reference.size:
        output = output.resize(reference.size, Image.Resampling.BILINEAR)
    return float(np.abs(np.asarray(reference, np.int16) - np.asarray(output, np.int16)).mean())


class DeathWatch:
    """Counts the worker's processes (the master's direct children) that exit while it runs."""

    def __init__(self, master_pid):
        self.master_pid, self.seen, self._stop = master_pid, set(), threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _children(self):
        try:
            with open(f"/proc/{self.master_pid}/task/{self.master_pid}/children") as children:
                return {int(pid) for pid in children.read().split()}
        except FileNotFoundError:
            return set()

    def _watch(self):
        while not self._stop.wait(0.2):
            self.seen |= self._children()

    def __enter__(self):
        self.seen = self._children()
        self.thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self.thread.join()
        self.deaths = len(self.seen - self._children())


def through_imagepipe(folder, redis_url, originals, inputs, timeout_s):
    """Run ``originals`` then ``inputs`` (paths) through a real worker; per input path:
    ("completed", 640 px output) / ("failed", (error type, error)) / ("hang", None); and the
    worker deaths. The error type is the dead letter's: every permanent failure leaves one."""
    from imagepipe.cli.process import enqueue, wait_for
    from imagepipe.storage import get_storage
    from models import Image as ImageRow

    def outcomes(ids):
        storage, results = get_storage(), {}
        rows = list(ImageRow.select().where(ImageRow.id.in_(ids)))
        types = dead_letter_types([row.id for row in rows if row.status == ImageRow.FAILED])
        for row in rows:
            if row.status == ImageRow.COMPLETED:
                variant = min((v for v in row.variants if v.format == "webp"), key=lambda v: v.width)
                with storage.local_copy(variant.path, max_bytes=1 << 30) as path:
                    results[row.id] = ("completed", Image.open(io.BytesIO(Path(path).read_bytes())))
            elif row.status == ImageRow.FAILED:
                results[row.id] = ("failed", (types.get(row.id), row.error))
            else:
                results[row.id] = ("hang", None)
        return results

    with pipeline_worker(folder, redis_url, processes=2, threads=2) as worker, DeathWatch(worker.pid) as watch:
        reference_ids = enqueue(originals)
        wait_for(reference_ids, timeout_s, report=lambda line: None)
        input_ids = enqueue(inputs)
        wait_for(input_ids, timeout_s, report=lambda line: None)
        references, results = outcomes(reference_ids), outcomes(input_ids)
    pairs = zip(originals, reference_ids, strict=True)
    unmade = [path.name for path, id_ in pairs if references[id_][0] != "completed"]
    if unmade:
        raise RuntimeError(f"originals that did not complete: {', '.join(unmade)}")
    reference = {path: references[id_][1] for path, id_ in zip(originals, reference_ids, strict=True)}
    return reference, {path: results[id_] for path, id_ in zip(inputs, input_ids, strict=True)}, watch.deaths


def dead_letter_types(image_ids, timeout_s=30):
    """Image id -> the error type of its dead letter, which the worker writes just after the
    image's failure: waits until each has one (those still missing after the wait: None)."""
    from models import DeadLetter

    deadline, types = time.monotonic() + timeout_s, {}
    while len(types) < len(image_ids) and time.monotonic() < deadline:
        letters = DeadLetter.select().where(DeadLetter.image_id.in_(image_ids))
        types = {letter.image_id: letter.error_type for letter in letters}
        time.sleep(0.2)
    return types


def through_sharp(folder, originals, inputs):
    """The same through sharp: per path ("completed", output) or ("failed", error)."""
    out = Path(folder) / "sharp"
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(path, out / f"{number}.png") for number, path in enumerate([*originals, *inputs])]
    lines = "".join(json.dumps({"input": str(p), "output": str(o), "width": WIDTH}) + "\n" for p, o in jobs)
    done = subprocess.run(["node", str(SHARP / "fuzz.mjs")], input=lines, capture_output=True, text=True, check=True)
    errors = {Path(answer["input"]): answer["error"] for answer in map(json.loads, done.stdout.splitlines())}
    results = {
        path: ("failed", (None, errors[path])) if errors[path] else ("completed", Image.open(output))
        for path, output in jobs
    }
    return {path: results[path][1] for path in originals}, {path: results[path] for path in inputs}


def summarise(name, references, results, originals_of, *, typed):
    """Counts for one pipeline: completed, damaged published (by format), failed by reason;
    with ``typed`` errors, the failures whose type names no specific reason."""
    summary = {"pipeline": name, "inputs": len(results), "completed": 0, "damaged published": 0, "hangs": 0}
    reasons, unexplained, damaged = collections.Counter(), [], collections.Counter()
    for path, (status, value) in results.items():
        if status == "completed":
            summary["completed"] += 1
            if mean_difference(references[originals_of[path]], value) > DAMAGE_LEVELS:
                damaged[originals_of[path].suffix] += 1
        elif status == "failed":
            error_type, error = value
            reasons[reason_class(error)] += 1
            if typed and (error_type not in SPECIFIC or not error):
                unexplained.append(f"{path.name}: {error_type}: {error}")
        else:
            summary["hangs"] += 1
    summary["damaged published"] = sum(damaged.values())
    summary["damaged published by format"] = dict(sorted(damaged.items()))
    summary["failed"] = sum(reasons.values())
    summary["failures without a specific reason"] = unexplained if typed else None
    summary["failed by reason"] = dict(reasons.most_common())
    return summary


def run(count, seed, folder, redis_url, timeout_s):
    inputs, originals_of = [], {}
    (Path(folder) / "in").mkdir(parents=True, exist_ok=True)
    for mutant in mutants(CORPUS, count, seed):
        path = Path(folder) / "in" / mutant.name
        path.write_bytes(mutant.data)
        inputs.append(path)
        originals_of[path] = mutant.original
    originals = good_files(CORPUS)
    started = time.perf_counter()
    references, results, deaths = through_imagepipe(Path(folder) / "imagepipe", redis_url, originals, inputs, timeout_s)
    ours = summarise("imagepipe", references, results, originals_of, typed=True) | {"worker deaths": deaths}
    ours["seconds"] = round(time.perf_counter() - started, 1)
    report = {"count": count, "seed": seed, "imagepipe": ours}
    if shutil.which("node") and (SHARP / "node_modules" / "sharp").is_dir():
        started = time.perf_counter()
        references, results = through_sharp(folder, originals, inputs)
        report["sharp"] = summarise("sharp", references, results, originals_of, typed=False)
        report["sharp"]["seconds"] = round(time.perf_counter() - started, 1)
    return report


def print_report(report):
    pipelines = [report[name] for name in ("imagepipe", "sharp") if name in report]
    keys = ["inputs", "completed", "damaged published", "failed", "hangs", "worker deaths", "seconds"]
    rows = [[key, *(p.get(key, "n/a") for p in pipelines)] for key in keys]
    unexplained = (p["failures without a specific reason"] for p in pipelines)
    rows.append(["failures without a specific reason", *("n/a" if u is None else len(u) for u in unexplained)])
    for suffix in sorted({s for p in pipelines for s in p["damaged published by format"]}):
        by_format = (p["damaged published by format"].get(suffix, 0) for p in pipelines)
        rows.append([f"damaged published, {suffix}", *by_format])
    print_table(
        f"{report['count']} mutations (seed {report['seed']}) of the corpus's good files: imagepipe "
        "(dramatiq actors --processes 2 --threads 2) and sharp (defaults, failOn 'warning')",
        ["", *(p["pipeline"] for p in pipelines)],
        rows,
    )
    for pipeline in pipelines:
        print_table(
            f"{pipeline['pipeline']}: failed by reason (the 12 most common)",
            ["failures", "reason"],
            [[n, reason] for reason, n in list(pipeline["failed by reason"].items())[:12]],
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds until unended images count as hangs")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, redis_for_bench() as redis_url:
        report = run(args.count, args.seed, folder, redis_url, args.timeout)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
