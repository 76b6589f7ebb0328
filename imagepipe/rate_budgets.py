"""The rate-limit budgets of the pipeline's actors, declared once, and how much of each is used.

``actors.pipeline`` declares each step's actor with ``rate_options`` from here, and
``GET /api/rate-limits`` lists the same budgets without importing the actors (which builds
the broker): each step's key and limit are resolved by RateLimits itself (its ``key_for`` and
``limit_for``: IMAGEPIPE_RATE_LIMITS, else the actor's own limit).
"""

import time
from types import SimpleNamespace

from imagepipe.description.providers import REMOTE_BUDGET, remote_rate_limit
from imagepipe.graph import PIPELINE
from middleware.rate_limit import HOLD_SUFFIX, KEY_PREFIX, RateLimits

#: The budget of a remote embedding API; not limited unless IMAGEPIPE_RATE_LIMITS=embed=10/m.
EMBEDDING_BUDGET = "embedding-api"
#: Per step, the budget its actor spends (``rate_limit_key``), when not its own actor's name.
BUDGET_KEYS = {"embed": EMBEDDING_BUDGET, "describe": REMOTE_BUDGET}
#: Per step, the limit its actor declares (``rate_limit``), read from the settings when asked.
DECLARED_LIMITS = {"describe": remote_rate_limit}


def rate_options(step_name, settings):
    """The ``rate_limit_key`` and ``rate_limit`` options of the actor of ``step_name``."""
    options = {}
    if step_name in BUDGET_KEYS:
        options["rate_limit_key"] = BUDGET_KEYS[step_name]
    if step_name in DECLARED_LIMITS:
        options["rate_limit"] = DECLARED_LIMITS[step_name](settings=settings)
    return options


def budgets(settings):
    """``[(key without its prefix, count, period_ms)]`` of the pipeline's limited actors, in
    pipeline order, each key once (actors that share a budget name the same key)."""
    limiter = RateLimits(redis_url=settings.redis_url, overrides=settings.rate_limits)
    found = {}
    for step in PIPELINE:
        actor = SimpleNamespace(actor_name=step.actor, options=rate_options(step.name, settings))
        limit = limiter.limit_for(actor)
        if limit is not None:
            found.setdefault(limiter.key_for(actor).removeprefix(KEY_PREFIX), limit)
    return [(key, count, period_ms) for key, (count, period_ms) in found.items()]


def read_rate_limits(client, settings, now=None):
    """Each budget as ``GET /api/rate-limits`` returns it (README, "Queues and workers"), read
    in one round trip from the limiter's Redis (``client``, on ``settings.redis_url``):
    ``used`` counts the slots that started in the last period (middleware/rate_limit.lua keeps
    one sorted-set entry a slot, scored by its start in ms), ``held_until`` is the end of an
    API's "too many requests" hold (unix s), or None."""
    now_ms = (time.time() if now is None else now) * 1000
    limits = budgets(settings)
    with client.pipeline(transaction=False) as pipe:
        for key, _, period_ms in limits:
            pipe.zcount(KEY_PREFIX + key, f"({now_ms - period_ms}", now_ms)
            pipe.get(KEY_PREFIX + key + HOLD_SUFFIX)
        answers = pipe.execute()
    keys = []
    for index, (key, count, period_ms) in enumerate(limits):
        used, hold = answers[2 * index : 2 * index + 2]
        held_until = int(hold) / 1000 if hold is not None and int(hold) > now_ms else None
        keys.append({"key": key, "limit": count, "period_ms": period_ms, "used": used, "held_until": held_until})
    return {"keys": keys}
