-- Take or keep the sweeper lock: one worker process sweeps at a time, across all hosts.
--
-- KEYS[1]  the lock key (imagepipe:sweeper)
-- ARGV[1]  this process's token (host:pid:random)
-- ARGV[2]  the lock's lifetime in ms (two sweep intervals, so a dead holder's lock expires)
--
-- Returns 1 when this process holds the lock now (taken, or renewed because it held it
-- already), 0 when another process holds it.
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  return 1
end
return 0
