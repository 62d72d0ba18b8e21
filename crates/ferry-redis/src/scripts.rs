//! The Lua scripts that change several keys at once, atomically.

/// Store the record if new, within the limits; index it (its owner's index, and the
/// operator index of every task), queue the job, announce it.
/// Returns `{1}`, `{0}` for a duplicate id, or `{-1, own count, own bytes, total count, total bytes}`
/// when a limit refuses it (the caller words the refusal).
pub(crate) const SUBMIT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local bytes = tonumber(ARGV[8])
local acct = ARGV[6]
local own_n = tonumber(redis.call('HGET', KEYS[5], 'n:' .. acct) or '0')
local own_b = tonumber(redis.call('HGET', KEYS[5], 'b:' .. acct) or '0')
local all_n = tonumber(redis.call('HGET', KEYS[5], 'n') or '0')
local all_b = tonumber(redis.call('HGET', KEYS[5], 'b') or '0')
if bytes > tonumber(ARGV[13]) or own_n >= tonumber(ARGV[10]) or own_b + bytes > tonumber(ARGV[12])
   or all_n >= tonumber(ARGV[9]) or all_b + bytes > tonumber(ARGV[11]) then
  return {-1, own_n, own_b, all_n, all_b}
end
redis.call('HINCRBY', KEYS[5], 'n:' .. acct, 1)
redis.call('HINCRBY', KEYS[5], 'b:' .. acct, bytes)
redis.call('HINCRBY', KEYS[5], 'n', 1)
redis.call('HINCRBY', KEYS[5], 'b', bytes)
local seq = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[7] ~= '' then
  -- The index lives as long as its tasks: no expiry while one runs; remember the
  -- expiry it had, for when the last running one ends.
  local had = redis.call('PEXPIRETIME', KEYS[3])
  redis.call('ZADD', KEYS[3], seq, ARGV[3])
  if redis.call('HINCRBY', KEYS[5], 'o:' .. ARGV[7], 1) == 1 then
    -- -2: a new index; -1: one holding a task kept without limit.
    if had ~= -2 then redis.call('HSET', KEYS[5], 'u:' .. ARGV[7], had) end
    redis.call('PERSIST', KEYS[3])
  end
  -- Keep the index from filling with expired ids when nobody lists it: check the
  -- two oldest ids and two at random, and drop those whose task is gone.
  local sample = redis.call('ZRANGE', KEYS[3], 0, 1)
  for _, id in ipairs(redis.call('ZRANDMEMBER', KEYS[3], 2)) do table.insert(sample, id) end
  for _, id in ipairs(sample) do
    if redis.call('EXISTS', ARGV[5] .. id) == 0 then redis.call('ZREM', KEYS[3], id) end
  end
end
-- The operator index of every task: no expiry while a task runs (the swap that ends
-- the last one sets it). Every 16th submission drops the ids of expired tasks among
-- its eight oldest and eight at random (amortized, it stays within about twice what it indexes).
redis.call('ZADD', KEYS[6], seq, ARGV[3])
if all_n == 0 then redis.call('PERSIST', KEYS[6]) end
if seq % 16 == 0 then
  local sample = redis.call('ZRANGE', KEYS[6], 0, 7)
  for _, id in ipairs(redis.call('ZRANDMEMBER', KEYS[6], 8)) do table.insert(sample, id) end
  for _, id in ipairs(sample) do
    if redis.call('EXISTS', ARGV[5] .. id) == 0 then redis.call('ZREM', KEYS[6], id) end
  end
end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[4])
redis.call('PUBLISH', ARGV[14], ARGV[1])
return {1}
";

/// Replace the record only if it is still what we read; announce the new state.
/// With a task id in ARGV[5], also release its job (ack and delete the stream entry).
/// When the new state ends the task (ARGV[6] = expiry ms, or -1 for never): start
/// its TTL and release what it held against the limits and its owner's index.
///
/// For the operator read-outs (ARGV[10] = `add`/`rem`/empty: the task starts or stops
/// waiting for input; ARGV[11] = now ms; ARGV[12] = id): keep the set of tasks waiting
/// for input (KEYS[6]); when the task ends, count it in this second's counter of its
/// outcome (KEYS[8], kept two minutes) and keep it in the set of ended tasks of its
/// outcome (KEYS[7], by expiry; expired ones dropped once a second) until its record
/// expires. When the last unfinished task ends, the operator index (KEYS[9]) expires
/// with the latest-expiring ended task (KEYS[10..12]: the ended sets of every outcome).
pub(crate) const SWAP: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
redis.call('PUBLISH', ARGV[3], ARGV[2])
if ARGV[5] ~= '' then
  local entry = redis.call('HGET', KEYS[2], ARGV[5])
  if entry then
    redis.call('XACK', KEYS[3], ARGV[4], entry)
    redis.call('XDEL', KEYS[3], entry)
    redis.call('HDEL', KEYS[2], ARGV[5], ARGV[5] .. '@')
  end
end
if ARGV[10] == 'add' then
  redis.call('SADD', KEYS[6], ARGV[12])
elseif ARGV[10] == 'rem' then
  redis.call('SREM', KEYS[6], ARGV[12])
end
if ARGV[6] ~= '' then
  local at = tonumber(ARGV[6])
  if at > 0 then redis.call('PEXPIREAT', KEYS[1], at) end
  local function down(field, by)
    local left = redis.call('HINCRBY', KEYS[4], field, -by)
    if left <= 0 then redis.call('HDEL', KEYS[4], field) end
    return left
  end
  local bytes = tonumber(ARGV[8])
  down('n:' .. ARGV[7], 1)
  down('b:' .. ARGV[7], bytes)
  local running = down('n', 1)
  down('b', bytes)
  if ARGV[9] ~= '' then
    local owner = ARGV[9]
    local u = tonumber(redis.call('HGET', KEYS[4], 'u:' .. owner) or '0')
    if u ~= -1 and (at <= 0 or at > u) then u = at end
    if redis.call('HINCRBY', KEYS[4], 'o:' .. owner, -1) <= 0 then
      redis.call('HDEL', KEYS[4], 'o:' .. owner, 'u:' .. owner)
      if u > 0 then redis.call('PEXPIREAT', KEYS[5], u) end
    else
      redis.call('HSET', KEYS[4], 'u:' .. owner, u)
    end
  end
  -- Throughput: this second's count of the outcome. Ended tasks kept, by outcome: the
  -- set expires with the last of them; its expired members go once a second.
  local first = redis.call('INCR', KEYS[8]) == 1
  if first then redis.call('EXPIRE', KEYS[8], 120) end
  local had = redis.call('PEXPIRETIME', KEYS[7])
  redis.call('ZADD', KEYS[7], at > 0 and at or '+inf', ARGV[12])
  if first then redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. ARGV[11]) end
  if at <= 0 then
    redis.call('PERSIST', KEYS[7])
  elseif had == -2 or (had > 0 and at > had) then
    redis.call('PEXPIREAT', KEYS[7], at)
  end
  if running <= 0 then
    local last = 0
    for i = 10, 12 do
      local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
      if top[2] then
        local score = tonumber(top[2])
        if score == nil or score == math.huge then last = -1 elseif last ~= -1 and score > last then last = score end
      end
    end
    if last > 0 then redis.call('PEXPIREAT', KEYS[9], last) end
  end
end
return 1
";

/// Record a worker's report (KEYS[1]: hash name -> JSON, KEYS[2]: sorted set name ->
/// last report ms; ARGV: name, JSON, now ms, how long a silent worker stays listed ms).
/// Forgets up to 100 workers silent longer than that; both keys expire when no worker
/// has reported for that long.
pub(crate) const WORKER_SEEN: &str = r"
local cutoff = tonumber(ARGV[3]) - tonumber(ARGV[4])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff, 'LIMIT', 0, 100)
for _, name in ipairs(old) do
  redis.call('HDEL', KEYS[1], name)
  redis.call('ZREM', KEYS[2], name)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
";

/// Move due delayed jobs onto the stream.
pub(crate) const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
";
