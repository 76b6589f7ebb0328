"""Custom Dramatiq middleware of imagepipe, one module each; ``actors.broker`` orders them."""

from .database import DatabaseConnections
from .dead_letters import DeadLetters
from .events import EventPublisher
from .health import WorkerHealth
from .message_size import MessageSizeLimit
from .orphans import StopWhenOrphaned
from .poll_interval import PollInterval
from .rate_limit import RateLimits
from .retries import PipelineRetries
from .sentry_tags import SentryTags
from .shutdown import ShutdownTimeouts
from .steps import StepTracking
from .sweeper import Sweeper
from .webhooks import WebhookDispatch

__all__ = [
    "DatabaseConnections",
    "DeadLetters",
    "EventPublisher",
    "MessageSizeLimit",
    "PipelineRetries",
    "PollInterval",
    "RateLimits",
    "SentryTags",
    "ShutdownTimeouts",
    "StopWhenOrphaned",
    "StepTracking",
    "Sweeper",
    "WebhookDispatch",
    "WorkerHealth",
]
