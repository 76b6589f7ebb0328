-- Take or renew a lease on one of a client's concurrent SSE streams: a new lease only while
-- the client holds fewer than MAX.
--
-- KEYS[1]  the client's sorted set of leases (member: lease id, score: expiry in Redis ms)
-- ARGV[1]  MAX, how many streams the client may hold at once
-- ARGV[2]  the lease's id (unique per stream); an unexpired lease of this id is renewed
-- ARGV[3]  TTL, milliseconds the lease lives unless renewed (the stream renews it well before)
--
-- Returns 1 with the lease taken or renewed (expiring TTL from now), or 0 when it is new and
-- the client holds MAX unexpired leases. Expired leases (of a web process that died without
-- releasing them) are dropped first, so they lapse by themselves within TTL. The caller
-- releases a lease with ZREM.

local key = KEYS[1]
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[3])

redis.call("ZREMRANGEBYSCORE", key, "-inf", now)
if not redis.call("ZSCORE", key, ARGV[2]) and redis.call("ZCARD", key) >= tonumber(ARGV[1]) then
  return 0
end
redis.call("ZADD", key, now + ttl, ARGV[2])
redis.call("PEXPIRE", key, ttl)
return 1
