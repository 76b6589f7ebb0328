-- Hold a rate limit's budget: no slot of it starts before now + DELAY (the API behind the
-- limit said "retry after DELAY"). A hold only ever moves later, never earlier.
--
-- KEYS[1]  the limit's hold (rate_limit.lua's KEYS[2])
-- ARGV[1]  DELAY, in milliseconds from now (Redis time)
--
-- Returns the end of the hold, in ms of Redis time.

local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local hold = now + tonumber(ARGV[1])
local current = tonumber(redis.call("GET", KEYS[1]) or 0)
if hold > current then
  redis.call("SET", KEYS[1], hold, "PX", tonumber(ARGV[1]))
  return hold
end
return current
