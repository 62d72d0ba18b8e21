//! The Lua scripts that change several keys at once, atomically.

/// Drop from a sorted-set index (KEYS[i]) the ids, among its `oldest` oldest and
/// `random` at random, whose task record (prefix `ARGV[5]` + id) is gone. One `EXISTS`
/// of the whole sample answers the usual case (all there); only then id by id.
const PRUNE: &str = r"
local function prune(index, oldest, random)
  local sample = redis.call('ZRANGE', index, 0, oldest - 1)
  for _, id in ipairs(redis.call('ZRANDMEMBER', index, random)) do table.insert(sample, id) end
  if #sample == 0 then return end
  local keys = {}
  for i, id in ipairs(sample) do keys[i] = ARGV[5] .. id end
  if redis.call('EXISTS', unpack(keys)) == #keys then return end
  local dead = {}
  for i, id in ipairs(sample) do
    if redis.call('EXISTS', keys[i]) == 0 then table.insert(dead, id) end
  end
  if #dead > 0 then redis.call('ZREM', index, unpack(dead)) end
end
";

/// Store the record if new, within the limits; index it (its owner's index, and the
/// operator index of every task), queue the job, announce it.
/// Returns `{1}`, `{0}` for a duplicate id, or `{-1, own count, own bytes, total count, total bytes}`
/// when a limit refuses it (the caller words the refusal).
///
/// The counters of `P:live` are read with one `HMGET` and written with one `HSET` (the
/// script is atomic, so this is what `HINCRBY` each would do). The indexes are pruned of
/// ids whose task expired now and then rather than on every submission: the owner's
/// index every 8th submission (by the deployment's sequence: its 16 oldest ids and 8 at
/// random), the operator index every 16th (8 oldest, 8 at random); listing drops every
/// dead id it meets.
pub(crate) fn submit() -> String {
    format!("{PRUNE}{SUBMIT_BODY}")
}

const SUBMIT_BODY: &str = r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return {0} end
local bytes = tonumber(ARGV[8])
local acct, owner = ARGV[6], ARGV[7]
local fields = {'n:' .. acct, 'b:' .. acct, 'n', 'b'}
if owner ~= '' then fields[5] = 'o:' .. owner end
local v = redis.call('HMGET', KEYS[5], unpack(fields))
local own_n, own_b = tonumber(v[1] or '0'), tonumber(v[2] or '0')
local all_n, all_b = tonumber(v[3] or '0'), tonumber(v[4] or '0')
if bytes > tonumber(ARGV[13]) or own_n >= tonumber(ARGV[10]) or own_b + bytes > tonumber(ARGV[12])
   or all_n >= tonumber(ARGV[9]) or all_b + bytes > tonumber(ARGV[11]) then
  redis.call('DEL', KEYS[1])
  return {-1, own_n, own_b, all_n, all_b}
end
local seq = redis.call('INCR', KEYS[4])
local set = {fields[1], own_n + 1, fields[2], own_b + bytes, 'n', all_n + 1, 'b', all_b + bytes}
if owner ~= '' then
  local running = tonumber(v[5] or '0')
  table.insert(set, fields[5])
  table.insert(set, running + 1)
  if running == 0 then
    -- The index lives as long as its tasks: no expiry while one runs; remember the
    -- expiry it had, for when the last running one ends (-2: a new index; -1: one
    -- holding a task kept without limit).
    local had = redis.call('PEXPIRETIME', KEYS[3])
    if had ~= -2 then
      table.insert(set, 'u:' .. owner)
      table.insert(set, had)
    end
    if had > 0 then redis.call('PERSIST', KEYS[3]) end
  end
  redis.call('ZADD', KEYS[3], seq, ARGV[3])
  if seq % 8 == 0 then prune(KEYS[3], 16, 8) end
end
redis.call('HSET', KEYS[5], unpack(set))
-- The operator index of every task: no expiry while a task runs (the swap that ends
-- the last one sets it).
redis.call('ZADD', KEYS[6], seq, ARGV[3])
if all_n == 0 then redis.call('PERSIST', KEYS[6]) end
if seq % 16 == 0 then prune(KEYS[6], 8, 8) end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[4])
redis.call('PUBLISH', ARGV[14], ARGV[1])
return {1}
";

/// Replace the record only if it is still what the caller read (ARGV[1]); announce the
/// new state. Returns 1 when it did; otherwise the record as it is (nil when it is gone),
/// so the caller can try again without reading it first.
///
/// With a task id in ARGV[5], also release its job (ack and delete the stream entry
/// ARGV[13], or the one `P:inflight` names when that is empty). When the new state ends
/// the task (ARGV[6] = expiry ms, or -1 for never): start its TTL and release what it
/// held against the limits and its owner's index (one `HMGET`, then one `HSET` of what
/// is left and one `HDEL` of what reached zero).
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
if cur ~= ARGV[1] then return cur end
local at = tonumber(ARGV[6]) or 0
if at > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', at)
else
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
redis.call('PUBLISH', ARGV[3], ARGV[2])
if ARGV[5] ~= '' then
  local entry = ARGV[13]
  if entry == '' then entry = redis.call('HGET', KEYS[2], ARGV[5]) end
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
  local bytes = tonumber(ARGV[8])
  local owner = ARGV[9]
  local fields = {'n:' .. ARGV[7], 'b:' .. ARGV[7], 'n', 'b'}
  if owner ~= '' then
    fields[5] = 'o:' .. owner
    fields[6] = 'u:' .. owner
  end
  local v = redis.call('HMGET', KEYS[4], unpack(fields))
  local left = {tonumber(v[1] or '0') - 1, tonumber(v[2] or '0') - bytes, tonumber(v[3] or '0') - 1,
    tonumber(v[4] or '0') - bytes}
  local set, gone = {}, {}
  local function keep(field, value)
    if value > 0 then
      table.insert(set, field)
      table.insert(set, value)
    else
      table.insert(gone, field)
    end
  end
  for i = 1, 4 do keep(fields[i], left[i]) end
  local running = left[3]
  if owner ~= '' then
    local u = tonumber(v[6] or '0')
    if u ~= -1 and (at <= 0 or at > u) then u = at end
    local others = tonumber(v[5] or '0') - 1
    if others <= 0 then
      table.insert(gone, fields[5])
      table.insert(gone, fields[6])
      if u > 0 then redis.call('PEXPIREAT', KEYS[5], u) end
    else
      table.insert(set, fields[5])
      table.insert(set, others)
      table.insert(set, fields[6])
      table.insert(set, u)
    end
  end
  if #set > 0 then redis.call('HSET', KEYS[4], unpack(set)) end
  if #gone > 0 then redis.call('HDEL', KEYS[4], unpack(gone)) end
  -- Throughput: this second's count of the outcome. Ended tasks kept, by outcome: the
  -- set expires with the last of them (or never, holding one kept without limit); its
  -- expired members go once a second.
  local first = redis.call('INCR', KEYS[8]) == 1
  if first then redis.call('EXPIRE', KEYS[8], 120) end
  -- (`PEXPIREAT ... GT` would save the read when the expiry moves, but tasks that end in
  -- the same millisecond, as a worker's batch does, make it fail and need the read anyway.)
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
