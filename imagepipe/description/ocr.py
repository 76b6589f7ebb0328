"""Text in the image, read by RapidOCR (PP-OCR detection and recognition models in ONNX, carried
by the ``rapidocr`` wheel: nothing is downloaded).

Measured on a 12 MP photo with five lines drawn from 200 px down to 32 px high, and a
2560x1440 screenshot of 14, 18 and 24 px text (bench/describe.py measures the cost in place):

- The copy read is ``LONG_SIDE_PX`` = 1600 on its long side. At 960 px even the 32 px line of
  the photo (7 px high there) was read, but 14 px screenshot text was lost at 1280 px (4 of 5
  lines, one garbled), and read whole at 1600 px; above that the detector merged the small lines
  and read fewer (1 and 2 of 5 at 1920 and 2560 px) for 30-70 % more CPU.
- ``MIN_SCORE`` = 0.8: every real line scored 0.97 or more, while the rounded shapes of a
  photo without text gave single letters ("O") at 0.55-0.75, above RapidOCR's own 0.5.
- Lines without a letter or a digit are dropped too: the stars on Grace Hopper's uniform
  (corpus formats/hopper.jpg) read as "***".
- One ONNX Runtime thread per session: its default (one thread a core) took 1.64 CPU s for a
  0.83 s image against 1.08 CPU s with one thread; the worker already runs a thread a core, so
  the extra threads only spin against each other.
"""

import functools
import logging

from imagepipe.imaging.colors import flatten

#: The long side of the copy that is read, in pixels (never upscaled).
LONG_SIDE_PX = 1600
#: Lines that RapidOCR scores lower than this (0..1) are dropped.
MIN_SCORE = 0.8
# RapidOCR logs every image's timing at INFO and "The text detection result is empty" at
# WARNING for each picture without text, through a handler of its own: its records join the
# application's logging instead, from ERROR up.
_LOGGER = "RapidOCR"


@functools.cache
def _engine():
    from rapidocr import RapidOCR  # optional extra, loaded on first use (~0.6 s)

    engine = RapidOCR(
        params={
            "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )
    quiet = logging.getLogger(_LOGGER)
    quiet.setLevel(logging.ERROR)
    quiet.handlers.clear()
    quiet.propagate = True
    return engine


def read_text(picture):
    """The lines of text in ``picture`` (an upright copy of at most LONG_SIDE_PX), top to bottom
    and left to right, joined by newlines; "" when none scores MIN_SCORE."""
    result = _engine()(flatten(picture))
    lines = zip(result.txts or (), result.scores or (), strict=False)
    return "\n".join(text.strip() for text, score in lines if score >= MIN_SCORE and _has_word(text))


def _has_word(text):
    """Whether a line holds a letter or a digit: "***" (the stars of a uniform) is no text."""
    return any(character.isalnum() for character in text)


def load():
    """Build this process's engine now (a warm-up, or a benchmark that times the model load)."""
    _engine()
