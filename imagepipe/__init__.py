"""imagepipe: a background image pipeline for Python web apps, built on Dramatiq.

``imagepipe.submit(source, name=None)`` stores an image and queues it; ``imagepipe.wait(id)``
follows it to its end (both in ``imagepipe.submission``, imported on first use: it declares
the broker).
"""

__version__ = "0.1.0"


def __getattr__(name):
    if name in ("submit", "wait"):
        from imagepipe import submission

        return getattr(submission, name)
    raise AttributeError(f"module 'imagepipe' has no attribute {name!r}")
