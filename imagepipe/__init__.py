"""imagepipe: a background image pipeline for Python web apps, built on Dramatiq."""

__version__ = "0.1.0"
