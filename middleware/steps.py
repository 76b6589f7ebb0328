"""Keeping each image's step rows in step with its messages."""

import dramatiq
import peewee
from dramatiq.logging import get_logger
from dramatiq.middleware import MiddlewareError, SkipMessage

from imagepipe.errors import JobCancelled, PermanentError, Throttled, first_line
from imagepipe.graph import PIPELINE
from imagepipe.progress import set_watch
from imagepipe.settings import DEFAULT_MAX_DELIVERIES
from models import (
    Image,
    database,
    fail_step,
    finish_step,
    give_back_attempt,
    postpone_step,
    record_step_error,
    start_step,
    unended_attempts,
    waiting_after,
    was_deleted,
)

from .health import worker_name
from .requeue import enqueue_again
from .retries import enqueue_patiently
from .step_watch import StepWatch

#: The reason stored when a middleware (AgeLimit) fails a message without running it.
SKIPPED_REASON = "the message expired before it could run (max_age)"
#: When the database refuses to record a finished step, the message runs again after this.
RECORD_RETRY_DELAY_MS = 5_000


class StepKillsItsWorker(PermanentError, MiddlewareError):
    """A step's every delivery killed its worker process (a poison message); it is not run again."""

    def __init__(self, step, deliveries):
        super().__init__(f"{step} killed its worker process {deliveries} times")
        self.step = step
        self.deliveries = deliveries


def describe_error(exception):
    """The reason stored on a failed image: the message of an imagepipe error, else type: text."""
    if getattr(exception, "permanent", False):
        return str(exception)
    return f"{type(exception).__name__}: {exception}"


def image_id_of(broker, message):
    """The image a message works on: the first argument of actors declared with ``step``, else None."""
    if message.args and broker.get_actor(message.actor_name).options.get("step"):
        return message.args[0]
    return None


class StepTracking(dramatiq.Middleware):
    """Records step state for actors declared with ``step="name"`` (first argument: image id).

    Before a message runs, its step becomes ``processing`` and its attempt is counted; a step
    that is already done is skipped, so a redelivered or replayed message repeats no work.
    After it runs, the step is done (and the image ``completed`` once all are; the steps it
    was the last prerequisite of are sent, each exactly once), or, when the
    message has failed for good, the step and image are ``failed`` with the reason.

    It must come *before* Retries in the middleware list: ``after_*`` hooks run in reverse
    order, and only after Retries has run is ``message.failed`` final.

    Each attempt records the worker process that runs it (``host:pid``), and its thread gets a
    StepWatch (middleware/step_watch.py): its progress reports are kept on the step's row, and
    a cancel of its image (``imagepipe cancel``) stops it at its next progress call or
    isolation wait. A cancelled image's messages are skipped without error or dead letter.

    A poison message, one whose deliveries keep killing their process (a crashing decoder),
    would be redelivered for ever: each death leaves the step ``processing`` with no error, and
    the broker requeues the message. Once ``max_deliveries`` attempts have started and none
    ended, the next delivery does not run: it raises StepKillsItsWorker, a permanent error,
    so the usual final-failure path fails the step and image, stores a dead letter and
    publishes the events. Failures that end (an exception) record their error and are
    limited by Retries' ``max_retries`` instead.

    Parameters:
      events(EventPublisher): publishes ``image-completed`` and ``image-failed`` when this
        middleware makes the move (exactly once per image, kept in the database's outbox in
        the move's transaction, so a kill before publishing loses neither); default none.
      max_deliveries(int): attempts of a step that may die with their process before the
        step fails for good; default 3, 0 for no limit.
      graph(Graph): the pipeline whose steps this sends once all they wait for are done;
        default imagepipe.graph.PIPELINE.
    """

    actor_options = {"step"}

    def __init__(self, *, events=None, max_deliveries=DEFAULT_MAX_DELIVERIES, graph=PIPELINE):
        self.logger = get_logger(__name__, type(self))
        self.graph = graph
        self.events = events
        self.max_deliveries = max_deliveries
        self._broker = None

    def before_worker_boot(self, broker, worker):
        self._broker = broker  # for waiting(), which RateLimits calls with the message only

    def before_process_message(self, broker, message):
        step = self._step(broker, message)
        if not step:
            return
        try:
            self._start(broker, message, step)
        except peewee.PeeweeException as error:
            # Dramatiq would log this and run the actor with its step unrecorded. The database
            # is away (a restart, a failover): run the message later, no retry spent, on a new
            # connection (the broken one would fail every later message of this thread).
            self.logger.warning(
                "Database unavailable before %s of image %s (%s); running it again in %d ms.",
                step,
                message.args[0],
                first_line(error),
                RECORD_RETRY_DELAY_MS,
            )
            database.close()
            enqueue_again(broker, message, delay=RECORD_RETRY_DELAY_MS)
            raise SkipMessage() from None

    def _start(self, broker, message, step):
        if self.max_deliveries:
            died = unended_attempts(message.args[0], step)
            if died >= self.max_deliveries:
                # Raised from a before hook, it reaches every after_process_message hook as
                # the message's exception, exactly like a permanent error of the actor.
                raise StepKillsItsWorker(step, died)
        try:
            started = start_step(message.args[0], step, worker=worker_name())
        except Image.DoesNotExist:
            if not was_deleted(message.args[0]):
                return  # never existed: the actor fails it with ImageNotFound, a permanent error
            # Deleted while its steps were in flight (DELETE /images/ID): nothing left to do,
            # and nothing wrong either, so no error and no dead letter.
            self.logger.info("Skipping %s of image %s: the image was deleted.", step, message.args[0])
            raise SkipMessage() from None
        if not started:
            self.logger.info("Skipping %s of image %s: done, or the image gave up.", step, message.args[0])
            # Its finisher may have died after the commit and before sending what the step made
            # ready (it acks only after sending): then this delivery is all that is left of them.
            self._send_ready(broker, message.args[0], waiting_after(message.args[0], step, self.graph))
            raise SkipMessage()
        set_watch(StepWatch(message.args[0], step))

    def after_process_message(self, broker, message, *, result=None, exception=None):
        step = self._step(broker, message)
        if not step:
            return
        set_watch(None)
        image_id = message.args[0]
        try:
            if exception is None:
                completed = self._terminal("image-completed", message)
                finished = finish_step(image_id, step, self.graph, event=completed)
                if finished.completed:
                    self.logger.info("Image %s completed.", image_id)
                    self._announce(finished.event)
                self._send_ready(broker, image_id, finished.ready)
            elif isinstance(exception, Throttled):
                give_back_attempt(image_id, step)  # RateLimits sends it again: no attempt spent
            elif isinstance(exception, JobCancelled):
                self.logger.info("Stopped %s of image %s: the image was cancelled.", step, image_id)
            elif message.failed:
                self._fail(message, image_id, step, describe_error(exception))
            else:
                record_step_error(image_id, step, describe_error(exception))
        except peewee.PeeweeException:
            # Dramatiq swallows errors of after-hooks and acks the message anyway: without
            # this the step would stay "processing" for ever. Run a finished message again
            # instead (its work is idempotent); a failed one was retried by Retries already,
            # or is in the dead letters.
            self.logger.exception("Could not record %s of image %s.", step, image_id)
            database.close()  # broken by a database restart: the next message needs a new one
            if exception is None:
                enqueue_again(broker, message, delay=RECORD_RETRY_DELAY_MS)

    def waiting(self, message, delay_ms):
        """``RateLimits(on_throttle=...)``: the message comes back in ``delay_ms`` (its slot, or
        its API's Retry-After), which may be longer than the sweeper's deadline; its step shows
        that as its last activity."""
        step = self._step(broker, message) if (broker := self._broker) else None
        if not step:
            return
        try:
            postpone_step(message.args[0], step, delay_ms)
        except peewee.PeeweeException as error:  # the sweeper may send it again: harmless, idempotent
            self.logger.warning("Could not record the wait of %s of image %s: %s", step, message.args[0], error)

    def _send_ready(self, broker, image_id, ready):
        """Send the steps that this one made ready: finish_step reports each exactly once."""
        for name in ready:
            actor_name = self.graph[name].actor
            if actor_name not in broker.actors:
                continue  # a broker with only some of the pipeline's actors (tests, tools)
            try:
                # Waits out a broker outage, as a retry does: nothing else would send it.
                enqueue_patiently(broker, broker.get_actor(actor_name).message(image_id), None, self.logger)
            except Exception:
                # Its row stays queued with every prerequisite done: the sweeper re-sends it.
                self.logger.exception("Could not send %s of image %s.", name, image_id)

    def after_skip_message(self, broker, message):
        step = self._step(broker, message)
        set_watch(None)
        if step and message.failed:
            self._fail(message, message.args[0], step, SKIPPED_REASON)

    def _fail(self, message, image_id, step, error):
        failed = fail_step(image_id, step, error, event=self._terminal("image-failed", message, error=error))
        if failed.failed:
            self.logger.info("Image %s failed in %s: %s", image_id, step, error)
            self._announce(failed.event)

    def _terminal(self, event_type, message, **fields):
        """The encoded terminal event, for the transaction that may make the move; None
        without an EventPublisher."""
        return None if self.events is None else self.events.terminal(event_type, message, **fields)

    def _announce(self, event):
        if event is not None:
            self.events.announce(event)

    @staticmethod
    def _step(broker, message):
        return broker.get_actor(message.actor_name).options.get("step")
