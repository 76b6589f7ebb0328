"""Custom Dramatiq middleware of imagepipe, one module each; ``actors.broker`` orders them."""

from .database import DatabaseConnections
from .retries import PipelineRetries
from .steps import StepTracking

__all__ = ["DatabaseConnections", "PipelineRetries", "StepTracking"]
