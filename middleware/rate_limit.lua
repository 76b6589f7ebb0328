-- Reserve the next start slot under "at most LIMIT starts in any window of PERIOD ms".
--
-- KEYS[1]  the limit's sorted set of reserved start times (score: Redis time in ms)
-- KEYS[2]  the limit's hold: no slot before this Redis time in ms (set by rate_hold.lua when the
--          API behind the limit answered "too many requests, retry after ..."), if present
-- ARGV[1]  LIMIT, how many starts one window allows
-- ARGV[2]  PERIOD, the window in milliseconds (the caller adds its small safety guard)
-- ARGV[3]  a unique member for this reservation (message id plus a nonce)
-- ARGV[4]  GAP, the least milliseconds between two consecutive slots (spreads a burst a little,
--          so that the threads that own a window's slots do not all wake at the same instant)
--
-- Returns the reserved slot, in ms of Redis time (now or later). Slots are handed
-- out in order and the LIMIT-th latest slot is always at least PERIOD before the next one, so
-- the slots never put more than LIMIT starts in a window. One round trip, atomic, and on the
-- Redis clock, so every process and host sharing this Redis shares the budget (callers
-- compare the slot with their own clock: hosts must be NTP-synchronised).

local key = KEYS[1]
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- A slot at or before now - PERIOD cannot constrain a slot from now on.
redis.call("ZREMRANGEBYSCORE", key, "-inf", now - period)

local slot = math.max(now, tonumber(redis.call("GET", KEYS[2]) or 0))
local count = redis.call("ZCARD", key)
if count >= limit then
  local nth_latest = redis.call("ZRANGE", key, count - limit, count - limit, "WITHSCORES")
  slot = math.max(slot, tonumber(nth_latest[2]) + period)
end
local latest = redis.call("ZRANGE", key, -1, -1, "WITHSCORES")
if latest[2] then
  slot = math.max(slot, tonumber(latest[2]) + tonumber(ARGV[4]))
end

redis.call("ZADD", key, slot, ARGV[3])
redis.call("PEXPIRE", key, slot - now + period)
return slot
