"""Faces: boxes from OpenCV's bundled frontal-face Haar cascade (opencv-python-headless 4.x).

The choices were measured on the corpus (tests/corpus, every decodable image, plus Grace
Hopper's portrait pasted three times into a landscape photo):

- ``haarcascade_frontalface_alt2``, not ``_default``: the default cascade found "faces" in the
  waterfall of orientation/Landscape and Portrait and in the leaf of camera/jolla at every
  minNeighbors from 3 to 8; alt2 found none there at 1024 px.
- A copy of ``LONG_SIDE_PX`` = 1024 on its long side: at 640 and 800 px the jolla leaf still
  gave alt2 one or two faces, at 960 and 1280 px the Reconyx forest gave one; 1024 px was right
  on every image (and a face of 1/30 of a 12 MP photo's width is ~34 px there, above the
  cascade's 20 px window).
- ``minNeighbors`` = 8 on the plain grey levels (no histogram equalisation), on the copy
  describe_locally makes (a JPEG decoded at reduced scale, then thumbnailed): right on every
  image from 6 to 10; with equalisation, the Reconyx forest gave a face up to 7.
- ``minSize`` = 1/30 of the long side (at least 24 px): a face smaller than that is a crowd in
  the background, where the cascade's false positives live.

A Haar cascade sees frontal, upright faces only: a face in profile or from behind is not
counted (the corpus' Portrait shows a person from behind: zero faces, which is the truth for a
frontal detector but not a claim that nobody is there).
"""

import functools

import numpy as np

from imagepipe.imaging.colors import flatten

#: The long side of the copy the cascade runs on, in pixels (never upscaled).
LONG_SIDE_PX = 1024
CASCADE = "haarcascade_frontalface_alt2.xml"
_MIN_NEIGHBORS = 8
_SCALE_FACTOR = 1.1
#: The smallest face, as a fraction of the picture's long side, and in pixels.
_MIN_FACE_SHARE = 1 / 30
_MIN_FACE_PX = 24


@functools.cache
def load():
    """The cascade, loaded once per process (the forkserver loads it for its children)."""
    import cv2  # optional extra, loaded on first use

    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if classifier.empty():
        raise RuntimeError(f"OpenCV could not load its bundled {CASCADE}")
    return classifier


def find_faces(picture, scale):
    """Boxes [x, y, w, h] of the frontal faces in ``picture`` (a downscaled upright copy of the
    image), in pixels of the upright original: each coordinate is multiplied by ``scale``."""
    grey = np.asarray(flatten(picture).convert("L"))
    smallest = max(_MIN_FACE_PX, round(max(picture.size) * _MIN_FACE_SHARE))
    found = load().detectMultiScale(
        grey, scaleFactor=_SCALE_FACTOR, minNeighbors=_MIN_NEIGHBORS, minSize=(smallest, smallest)
    )
    boxes = [[round(float(value) * scale) for value in box] for box in found]
    return sorted(boxes, key=lambda box: (box[0], box[1]))
