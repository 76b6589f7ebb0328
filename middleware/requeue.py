"""Putting a message that is being processed back on its queue, unchanged but for its options."""

#: Options of the delivery being processed that must not travel with a copy sent again: the
#: delay queue's due time, and the traceback of an earlier failed attempt.
DELIVERY_OPTIONS = ("eta", "traceback")


def enqueue_again(broker, message, *, delay=None, **options):
    """Send a copy of ``message`` (a MessageProxy) again, same id and arguments, with ``options``
    added: for a message that must run later without counting as a retry."""
    return broker.enqueue(copy_again(message, **options), delay=delay)


def copy_again(message, **options):
    """The copy of ``message`` that enqueue_again sends."""
    kept = {key: value for key, value in message.options.items() if key not in DELIVERY_OPTIONS}
    return message._message.copy(options={**kept, **options})
