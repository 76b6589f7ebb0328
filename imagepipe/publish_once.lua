-- Append events to the capped stream, each at most once whoever sends it and however often,
-- and count each image that ended in its minute's activity hash (imagepipe/activity.py).
--
-- KEYS[1]  the stream
-- ARGV[1]  about how many entries the stream keeps (XADD MAXLEN ~)
-- ARGV[2]  the field that holds each event
-- ARGV[3]  seconds a sent event's marker is kept
-- ARGV[4]  seconds of one activity bucket
-- ARGV[5]  seconds an activity hash lives after its last count
-- ARGV[6..] the encoded events
--
-- Returns how many were appended (not sent before). The marker is the SHA-1 of the event,
-- which holds its time and job id: two processes draining the same row, or one retrying after
-- a lost reply, append it once, and count it once. (Not the row's id: SQLite hands a deleted
-- row's id out again.)

local counted = {["image-completed"] = "images_completed", ["image-failed"] = "images_failed"}
local bucket = tonumber(ARGV[4])
local appended = 0
for i = 6, #ARGV do
  if redis.call("SET", KEYS[1] .. ":sent:" .. redis.sha1hex(ARGV[i]), 1, "NX", "EX", ARGV[3]) then
    redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[1], "*", ARGV[2], ARGV[i])
    appended = appended + 1
    local event = cjson.decode(ARGV[i])
    local field = counted[event.type]
    if field and tonumber(event.ts) then
      local minute = KEYS[1] .. ":activity:" .. string.format("%d", math.floor(event.ts / bucket) * bucket)
      redis.call("HINCRBY", minute, field, 1)
      redis.call("EXPIRE", minute, ARGV[5])
    end
  end
end
return appended
