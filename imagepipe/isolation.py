"""Image work in a killable child process: a hard time limit and crash isolation.

Dramatiq's TimeLimit raises into the worker thread, which cannot happen while Pillow sits in a
C decoder or encoder, and a segfaulting codec takes the whole worker process (and its other
threads' messages) down with it. ``run_isolated`` runs the call in a child process instead: on
timeout the child is SIGKILLed and the step fails with ImageWorkTimedOut; if the child dies
(a signal, ``os._exit``) the step fails with ImageWorkCrashed. Both are permanent: the same
file hangs or crashes the decoder again.

Each worker thread has one child of its own, forked by a "forkserver" that has imported
imagepipe.imaging already (forking the multi-threaded worker process itself is unsafe: a lock
held by another thread stays locked in the child; "spawn" re-imports Pillow and numpy, ~0.3 s).
The child serves that thread's calls one at a time and is replaced after CALLS_PER_CHILD calls,
and at once when it timed out, crashed or was abandoned: a fresh child a call cost the pipeline
13 % of its throughput (bench/throughput.py), a reused one 4 %. The function travels by
reference (module and name) and runs in the child as the forkserver imported it, so it must be
a module-level function; a test replaces the attribute an actor reads (``imaging.describe``)
with an importable function to reach it.
"""

import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
import traceback
import weakref

from imagepipe.errors import ImageWorkAbandoned, ImageWorkCrashed, ImageWorkTimedOut
from imagepipe.progress import stop_if_cancelled

logger = logging.getLogger(__name__)

#: Imported once by the forkserver: it runs each step once on a tiny picture, so every child
#: starts with Pillow, numpy, codecs, colour profiles and the embedder loaded.
PRELOAD = ["imagepipe.imaging.warmup"]

_POLL_SLICE_S = 0.1
#: A child serves this many calls, then a fresh one takes over: whatever a codec leaks or
#: fragments in a long-lived process is given back.
CALLS_PER_CHILD = 200
#: How long a retired idle child may take to exit before it is killed.
_EXIT_GRACE_S = 5

_context = None
_threads = threading.local()  # each worker thread has its own child: one call at a time
_children: weakref.WeakSet = weakref.WeakSet()  # every child of this process, for _kill_children at exit
_exiting = threading.Event()  # set by _kill_children: a child that dies now did not crash


def _get_context():
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _context = context
    return _context


def run_isolated(function, *args, timeout_s, enabled=True, **kwargs):
    """``function(*args, **kwargs)`` in a child process that is killed after ``timeout_s``.

    Returns the function's (picklable) result; an exception raised in the child is raised here
    as the same class with the same message and attributes. ``enabled=False`` calls the function
    in this process (debugging, tests of pure logic): no time limit, no isolation.
    """
    if not enabled:
        return function(*args, **kwargs)
    child = _thread_child()
    answered = False
    try:
        child.connection.send((function, args, kwargs))
        if not _wait(child.connection, timeout_s):
            raise ImageWorkTimedOut(f"decoding/encoding took longer than {timeout_s:g} s", timeout_s=timeout_s)
        try:
            ok, payload = child.connection.recv()
        except EOFError:
            child.process.join()
            if _exiting.is_set():  # killed by _kill_children, not by its image
                raise ImageWorkAbandoned("the worker process exited during the image work") from None
            raise _crashed(child.process.exitcode) from None
        answered = True
    finally:
        # A child that did not answer (timed out, crashed, or this thread was interrupted by
        # TimeLimit or a shutdown) must not outlive the message it worked for, nor serve again.
        child.calls += 1
        if not answered:
            _retire(child, kill=True)
        elif child.calls >= CALLS_PER_CHILD:
            _retire(child, kill=False)
    if ok:
        return payload
    raise _rebuild(payload)


class _Child:
    """A forkserver child that runs one call at a time for one worker thread."""

    def __init__(self, context):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_end,), daemon=True)
        self.process.start()
        child_end.close()  # so that the child's death reads as EOF here
        self.calls = 0


def _thread_child():
    child = getattr(_threads, "child", None)
    if child is None:
        child = _threads.child = _Child(_get_context())
        _children.add(child.process)
    return child


def _kill_children():
    """At exit, before multiprocessing terminates and joins its daemon children: a child still
    busy (its thread abandoned at shutdown) ignores that SIGTERM, and would hang the exit of
    the worker process until the platform's SIGKILL. The thread that waited for such a child
    gets ImageWorkAbandoned, not a crash that would fail its image for good."""
    _exiting.set()
    for process in list(_children):
        if process.exitcode is None:
            _kill(process)


# A finalizer with an exit priority runs in multiprocessing's exit function before it stops
# the children, in the main process and in a Dramatiq worker process (which skips atexit).
multiprocessing.util.Finalize(None, _kill_children, exitpriority=10)


def _retire(child, *, kill):
    """Stop using this thread's child: killed when busy or broken, else let go (it reads EOF)."""
    _threads.child = None
    child.connection.close()
    if not kill:
        child.process.join(_EXIT_GRACE_S)
    if child.process.exitcode is None:
        _kill(child.process)


def _wait(receiver, timeout_s):
    """Whether the child answered (or died) within ``timeout_s``. Waits in short slices: TimeLimit
    and ShutdownNotifications raise into this thread only between bytecodes, never inside one
    long select(); and between two, a cancel of the image stops the wait (JobCancelled)."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if receiver.poll(min(remaining, _POLL_SLICE_S)):
            return True
        stop_if_cancelled()


def _kill(process):
    try:
        os.kill(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.join()


def _crashed(exitcode):
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        return ImageWorkCrashed(f"the decoder crashed (signal {number}, {name})", exitcode=exitcode)
    return ImageWorkCrashed(f"the decoder's process exited with code {exitcode} before answering", exitcode=exitcode)


def _serve(connection):
    """The child's loop: run each call it is sent, answer, until the worker closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            function, args, kwargs = connection.recv()
        except EOFError:
            return
        # A platform's SIGTERM reaches the whole process group, this child included: during a
        # call the worker decides what a shutdown means for its message (requeue it, then kill
        # this child), so it must not read as a crash that fails the image for good. Idle, the
        # child stops on SIGTERM like any process (multiprocessing's exit handler sends it).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            result = (True, function(*args, **kwargs))
        except BaseException as exc:  # noqa: B036 - everything goes to the parent, which decides
            result = (False, _flatten(exc))
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            connection.send(result)
        except Exception as exc:  # an unpicklable result or exception: say so rather than die silently
            connection.send((False, _flatten(TypeError(f"the isolated call's outcome cannot be sent: {exc}"))))


def _flatten(exc):
    """An exception as (class, args, attributes, traceback text): classes whose __init__ takes
    keyword-only data (PixelLimitExceeded) do not survive a plain pickle round trip."""
    attributes = {key: value for key, value in vars(exc).items() if not key.startswith("__")}
    return type(exc), exc.args, attributes, "".join(traceback.format_exception(exc))


def _rebuild(payload):
    cls, args, attributes, child_traceback = payload
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(attributes)
    exc.add_note(f"Raised in an isolated child process:\n{child_traceback}")
    return exc
