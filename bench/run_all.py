"""Run every benchmark of bench/ in turn; each prints its own table."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = (
    "variants.py", "encoders.py", "throughput.py", "storage.py", "queues.py", "rss.py", "noop.py",
    "sse_latency.py", "faults.py", "operations.py", "web_security.py",
)  # fmt: skip

if __name__ == "__main__":
    here = Path(__file__).parent
    failed = [name for name in BENCHMARKS if subprocess.call([sys.executable, str(here / name)], cwd=here)]
    sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
