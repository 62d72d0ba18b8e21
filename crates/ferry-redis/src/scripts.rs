//! The Lua scripts that change several keys at once, atomically.

/// Drop from a sorted-set index (KEYS[i]) the ids, among its `oldest` oldest and
/// `random` at random, whose task record (`prefix` + id) is gone. One `EXISTS` of the
/// whole sample answers the usual case (all there); only then id by id.
const PRUNE: &str = r"
local function prune(index, oldest, random, prefix)
  local sample = redis.call('ZRANGE', index, 0, oldest - 1)
  for _, id in ipairs(redis.call('ZRANDMEMBER', index, random)) do table.insert(sample, id) end
  if #sample == 0 then return end
  local keys = {}
  for i, id in ipairs(sample) do keys[i] = prefix .. id end
  if redis.call('EXISTS', unpack(keys)) == #keys then return end
  local dead = {}
  for i, id in ipairs(sample) do
    if redis.call('EXISTS', keys[i]) == 0 then table.insert(dead, id) end
  end
  if #dead > 0 then redis.call('ZREM', index, unpack(dead)) end
end
";

/// Submit a batch of tasks, each on its own and in order, as if one after the other:
/// store the record if new, within the limits; index it (its owner's index, and the
/// operator index of every task), queue the job, announce it.
///
/// KEYS: `P:jobs`, `P:seq`, `P:live`, `P:all`, then per task its record and its owner's
/// index. ARGV: the record key prefix, the limits (total count, per owner count, total
/// bytes, per owner bytes, argument bytes), the events channel, then per task its
/// record, id, job, account, owner (empty when not indexed) and argument bytes.
/// Returns per task `{1}`, `{0}` for a duplicate id, or `{-1, own count, own bytes,
/// total count, total bytes}` when a limit refuses it (the caller words the refusal).
///
/// What the batch shares is done once: one `MGET` (which ids are taken) and one `MSET` of
/// the new records, one `HMGET` of the counters of `P:live` it
/// touches and one `HSET` of their new values (the script is atomic, so this is what
/// `HINCRBY` each would do), one `INCRBY` of the sequence, one `ZADD` per index, one
/// `PUBLISH` (a JSON array of the records when there are several). The indexes are
/// pruned of ids whose task expired now and then rather than on every submission: the
/// owner's index every 8th submission (by the deployment's sequence: its 16 oldest ids
/// and 8 at random), the operator index every 16th (8 oldest, 8 at random); listing
/// drops every dead id it meets.
pub(crate) fn submit() -> String {
    format!("{PRUNE}{COUNTERS}{SUBMIT_BODY}")
}

/// The fields of `P:live` a call reads (`want` each, then one `HMGET` of `fields`) and
/// their values (`val`, numbers; 0 when absent).
const COUNTERS: &str = r"
local fields, val = {}, {}
local function want(f)
  if val[f] == nil then
    val[f] = 0
    table.insert(fields, f)
  end
end
";

const SUBMIT_BODY: &str = r"
local G, S, K = 7, 6, 4
local n = (#ARGV - G) / S
want('n')
want('b')
for i = 1, n do
  local a = G + (i - 1) * S
  want('n:' .. ARGV[a + 4])
  want('b:' .. ARGV[a + 4])
  if ARGV[a + 5] ~= '' then want('o:' .. ARGV[a + 5]) end
end
local v = redis.call('HMGET', KEYS[3], unpack(fields))
for i, f in ipairs(fields) do val[f] = tonumber(v[i] or '0') end
local none_ran = val['n'] == 0
local max_n, max_own_n, max_b = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local max_own_b, max_arg = tonumber(ARGV[5]), tonumber(ARGV[6])
local replies, taken, changed, u = {}, {}, {}, {}
local task_keys, stored, mset = {}, {}, {}
for i = 1, n do task_keys[i] = KEYS[K + 2 * i - 1] end
local found = redis.call('MGET', unpack(task_keys))
for i = 1, n do
  local a = G + (i - 1) * S
  local key = task_keys[i]
  if found[i] or stored[key] then
    replies[i] = {0}
  else
    local bytes, acct, owner = tonumber(ARGV[a + 6]), ARGV[a + 4], ARGV[a + 5]
    local fn, fb = 'n:' .. acct, 'b:' .. acct
    local own_n, own_b, all_n, all_b = val[fn], val[fb], val['n'], val['b']
    if bytes > max_arg or own_n >= max_own_n or own_b + bytes > max_own_b
       or all_n >= max_n or all_b + bytes > max_b then
      replies[i] = {-1, own_n, own_b, all_n, all_b}
    else
      val[fn], val[fb], val['n'], val['b'] = own_n + 1, own_b + bytes, all_n + 1, all_b + bytes
      changed[fn], changed[fb], changed['n'], changed['b'] = true, true, true, true
      if owner ~= '' then
        local fo = 'o:' .. owner
        if val[fo] == 0 then
          -- The index lives as long as its tasks: no expiry while one runs; remember the
          -- expiry it had, for when the last running one ends (-2: a new index; -1: one
          -- holding a task kept without limit).
          local had = redis.call('PEXPIRETIME', KEYS[K + 2 * i])
          if had ~= -2 then u['u:' .. owner] = had end
          if had > 0 then redis.call('PERSIST', KEYS[K + 2 * i]) end
        end
        val[fo] = val[fo] + 1
        changed[fo] = true
      end
      stored[key] = true
      table.insert(mset, key)
      table.insert(mset, ARGV[a + 1])
      table.insert(taken, i)
      replies[i] = {1}
    end
  end
end
if #taken == 0 then return replies end
redis.call('MSET', unpack(mset))
local last = redis.call('INCRBY', KEYS[2], #taken)
local first = last - #taken + 1
local set = {}
for f, _ in pairs(changed) do
  table.insert(set, f)
  table.insert(set, val[f])
end
for f, had in pairs(u) do
  table.insert(set, f)
  table.insert(set, had)
end
redis.call('HSET', KEYS[3], unpack(set))
-- The indexes, one ZADD each; the operator index of every task has no expiry while a
-- task runs (the swap that ends the last one sets it).
local by_owner, owners, all, records, prune_all = {}, {}, {}, {}, 0
for j, i in ipairs(taken) do
  local a = G + (i - 1) * S
  local seq = first + j - 1
  local index = KEYS[K + 2 * i]
  if ARGV[a + 5] ~= '' then
    if by_owner[index] == nil then
      by_owner[index] = {members = {}, prunes = 0}
      table.insert(owners, index)
    end
    local o = by_owner[index]
    table.insert(o.members, seq)
    table.insert(o.members, ARGV[a + 2])
    if seq % 8 == 0 then o.prunes = o.prunes + 1 end
  end
  table.insert(all, seq)
  table.insert(all, ARGV[a + 2])
  if seq % 16 == 0 then prune_all = prune_all + 1 end
  redis.call('XADD', KEYS[1], '*', 'job', ARGV[a + 3])
  table.insert(records, ARGV[a + 1])
end
for _, index in ipairs(owners) do
  local o = by_owner[index]
  redis.call('ZADD', index, unpack(o.members))
  if o.prunes > 0 then prune(index, 16 * o.prunes, 8 * o.prunes, ARGV[1]) end
end
redis.call('ZADD', KEYS[4], unpack(all))
if none_ran then redis.call('PERSIST', KEYS[4]) end
if prune_all > 0 then prune(KEYS[4], 8 * prune_all, 8 * prune_all, ARGV[1]) end
if #records == 1 then
  redis.call('PUBLISH', ARGV[7], records[1])
else
  redis.call('PUBLISH', ARGV[7], '[' .. table.concat(records, ',') .. ']')
end
return replies
";

/// A batch of compare-and-swaps, each on its own and in order, as if one after the
/// other. Each replaces its record only if it is still what the caller read; the new
/// states are announced together. Answers per swap 1 when it did, otherwise the record
/// as it is (nil when it is gone), so the caller can try again without reading it first.
///
/// KEYS: `P:inflight`, `P:jobs`, `P:live`, `P:input`, `P:all`, the ended sets of the
/// outcomes completed, failed, cancelled, this second's counters of the same outcomes,
/// then per swap its record and its owner's index. ARGV: the events channel, the
/// consumer group, now ms, then per swap: the record read, the new one, the task id to
/// release the job of (or empty), the expiry when the new state ends the task (ms, -1
/// for never, empty when it does not end it), account, argument bytes, owner (empty
/// when not indexed), `add`/`rem`/empty (the task starts or stops waiting for input),
/// task id, the job's stream entry (empty: as `P:inflight` says), new status.
///
/// The records are read with one `MGET` (a swap compares with what an earlier one of the
/// batch wrote, if any). A released job is acknowledged and its stream entry deleted (one `XACK`, one `XDEL`,
/// one `HDEL` of `P:inflight` for the batch). A swap that ends its task starts the
/// record's TTL and releases what the task held against the limits and its owner's
/// index (one `HMGET` for the batch, then one `HSET` of what is left and one `HDEL` of
/// what reached zero). For the operator read-outs: the set of tasks waiting for input
/// (KEYS[4]); an ended task is counted in this second's counter of its outcome (kept two
/// minutes; one `INCRBY` per outcome) and kept in the set of ended tasks of its outcome
/// (by expiry; expired ones dropped once a second; one `ZADD` per outcome) until its
/// record expires. When the last unfinished task ends, the operator index (KEYS[5])
/// expires with the latest-expiring ended task.
pub(crate) fn swap() -> String {
    format!("{COUNTERS}{SWAP_BODY}")
}

const SWAP_BODY: &str = r"
local G, S, K = 3, 11, 11
local n = (#ARGV - G) / S
local kept = {completed = KEYS[6], failed = KEYS[7], cancelled = KEYS[8]}
local done = {completed = KEYS[9], failed = KEYS[10], cancelled = KEYS[11]}
local replies, records, acks, released, ended = {}, {}, {}, {}, {}
local task_keys, written = {}, {}
for i = 1, n do task_keys[i] = KEYS[K + 2 * i - 1] end
local found = redis.call('MGET', unpack(task_keys))
for i = 1, n do
  local a = G + (i - 1) * S
  local key = task_keys[i]
  local cur = found[i]
  if written[key] ~= nil then cur = written[key] end
  if cur ~= ARGV[a + 1] then
    replies[i] = cur
  else
    local at = tonumber(ARGV[a + 4]) or 0
    if at > 0 then
      redis.call('SET', key, ARGV[a + 2], 'PXAT', at)
    else
      redis.call('SET', key, ARGV[a + 2], 'KEEPTTL')
    end
    written[key] = ARGV[a + 2]
    table.insert(records, ARGV[a + 2])
    local id = ARGV[a + 3]
    if id ~= '' then
      local entry = ARGV[a + 10]
      if entry == '' then entry = redis.call('HGET', KEYS[1], id) end
      if entry then
        table.insert(acks, entry)
        table.insert(released, id)
        table.insert(released, id .. '@')
      end
    end
    if ARGV[a + 8] == 'add' then
      redis.call('SADD', KEYS[4], ARGV[a + 9])
    elseif ARGV[a + 8] == 'rem' then
      redis.call('SREM', KEYS[4], ARGV[a + 9])
    end
    if ARGV[a + 4] ~= '' then table.insert(ended, i) end
    replies[i] = 1
  end
end
if #records == 1 then
  redis.call('PUBLISH', ARGV[1], records[1])
elseif #records > 1 then
  redis.call('PUBLISH', ARGV[1], '[' .. table.concat(records, ',') .. ']')
end
if #acks > 0 then
  redis.call('XACK', KEYS[2], ARGV[2], unpack(acks))
  redis.call('XDEL', KEYS[2], unpack(acks))
  redis.call('HDEL', KEYS[1], unpack(released))
end
if #ended == 0 then return replies end
want('n')
want('b')
for _, i in ipairs(ended) do
  local a = G + (i - 1) * S
  want('n:' .. ARGV[a + 5])
  want('b:' .. ARGV[a + 5])
  if ARGV[a + 7] ~= '' then
    want('o:' .. ARGV[a + 7])
    want('u:' .. ARGV[a + 7])
  end
end
local v = redis.call('HMGET', KEYS[3], unpack(fields))
for j, f in ipairs(fields) do val[f] = tonumber(v[j] or '0') end
local now = tonumber(ARGV[3])
local by_outcome, outcomes = {}, {}
for _, i in ipairs(ended) do
  local a = G + (i - 1) * S
  local at, bytes, acct, owner = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 6]), ARGV[a + 5], ARGV[a + 7]
  val['n:' .. acct] = val['n:' .. acct] - 1
  val['b:' .. acct] = val['b:' .. acct] - bytes
  val['n'] = val['n'] - 1
  val['b'] = val['b'] - bytes
  if owner ~= '' then
    local fo, fu = 'o:' .. owner, 'u:' .. owner
    local u = val[fu]
    if u ~= -1 and (at <= 0 or at > u) then u = at end
    val[fo] = val[fo] - 1
    if val[fo] <= 0 then
      -- (the index outlives its last running task as long as its ended ones)
      val[fu] = 0
      if u > 0 then redis.call('PEXPIREAT', KEYS[K + 2 * i], u) end
    else
      val[fu] = u
    end
  end
  local status = ARGV[a + 11]
  if by_outcome[status] == nil then
    by_outcome[status] = {members = {}, latest = 0, forever = false}
    table.insert(outcomes, status)
  end
  local o = by_outcome[status]
  table.insert(o.members, at > 0 and at or '+inf')
  table.insert(o.members, ARGV[a + 9])
  if at <= 0 then o.forever = true elseif at > o.latest then o.latest = at end
end
local set, gone = {}, {}
for _, f in ipairs(fields) do
  local x = val[f]
  -- (a `u:` of -1 stays: its index holds a task kept without limit)
  if x > 0 or (x == -1 and string.sub(f, 1, 2) == 'u:') then
    table.insert(set, f)
    table.insert(set, x)
  else
    table.insert(gone, f)
  end
end
if #set > 0 then redis.call('HSET', KEYS[3], unpack(set)) end
if #gone > 0 then redis.call('HDEL', KEYS[3], unpack(gone)) end
-- Throughput: this second's count of each outcome. Ended tasks kept, by outcome: the
-- set expires with the last of them (or never, holding one kept without limit); its
-- expired members go once a second.
for _, status in ipairs(outcomes) do
  local o = by_outcome[status]
  local count = #o.members / 2
  local first = redis.call('INCRBY', done[status], count) == count
  if first then redis.call('EXPIRE', done[status], 120) end
  local had = redis.call('PEXPIRETIME', kept[status])
  redis.call('ZADD', kept[status], unpack(o.members))
  if first then redis.call('ZREMRANGEBYSCORE', kept[status], '-inf', '(' .. now) end
  if o.forever then
    redis.call('PERSIST', kept[status])
  elseif had == -2 or (had > 0 and o.latest > had) then
    redis.call('PEXPIREAT', kept[status], o.latest)
  end
end
if val['n'] <= 0 then
  local last = 0
  for _, set_key in ipairs({KEYS[6], KEYS[7], KEYS[8]}) do
    local top = redis.call('ZRANGE', set_key, -1, -1, 'WITHSCORES')
    if top[2] then
      local score = tonumber(top[2])
      if score == nil or score == math.huge then last = -1 elseif last ~= -1 and score > last then last = score end
    end
  end
  if last > 0 then redis.call('PEXPIREAT', KEYS[5], last) end
end
return replies
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
