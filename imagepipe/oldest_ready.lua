-- The send time of the message at the head of each of Dramatiq's Redis queues: the oldest
-- ready one, as the broker delivers from the head (fetch is LPOP, enqueue and requeue RPUSH).
--
-- KEYS[2i-1]  a queue's list of message ids (dramatiq:<queue>)
-- KEYS[2i]    its hash of message id -> encoded message (dramatiq:<queue>.msgs)
-- ARGV[1]     how many ids from the head to try when one has no message (acked meanwhile)
--
-- Returns one integer a queue: the head message's message_timestamp (Unix ms), or 0 when the
-- queue is empty or its head cannot be read (not JSON, no timestamp). One call: the head
-- cannot be fetched between reading its id and its message.

local tries = tonumber(ARGV[1])
local sent = {}
for i = 1, #KEYS, 2 do
  local timestamp = 0
  for index = 0, tries - 1 do
    local id = redis.call("LINDEX", KEYS[i], index)
    if not id then
      break
    end
    local data = redis.call("HGET", KEYS[i + 1], id)
    if data then
      local ok, message = pcall(cjson.decode, data)
      if ok and type(message) == "table" and type(message.message_timestamp) == "number" then
        timestamp = message.message_timestamp
      end
      break
    end
  end
  sent[#sent + 1] = timestamp
end
return sent
