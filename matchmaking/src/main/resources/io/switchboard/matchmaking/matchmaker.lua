-- Random connect in Redis: every operation of RedisMatchmaker is one call of this script, so pairing is
-- atomic and two instances can never hand out the same waiting user. All keys share the hash tag of KEYS[1]
-- ({mm}), so the script also runs on a Redis Cluster.
--   KEYS[1]  the key prefix, for instance "mm:{mm}"
--   ARGV     op, now (ms), interestWait, avoidRecent, resumeGrace, nodeLease, scanLimit, matchIdPrefix, args...
-- The reply: status, partner, match, #ended, (match, by, partner, reason)..., #pairings,
--            (match, initiator, other, shared interests joined by \n, initiator waited ms, other waited ms)...
local base = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local interestWait = tonumber(ARGV[3])
local avoid = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])
local lease = tonumber(ARGV[6])
local scanLimit = tonumber(ARGV[7])
local idPrefix = ARGV[8]
local a1, a2, a3, a4 = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local Q = base .. ':q'
local MATCHED = base .. ':mt'
local NODES = base .. ':nodes'
local FORGET = 600000
local made = 0

local function ukey(u) return base .. ':u:' .. u end
local function rkey(u) return base .. ':r:' .. u end
local function bkey(u) return base .. ':b:' .. u end
local function field(u, f) return redis.call('HGET', ukey(u), f) end

local function split(s)
  local parts = {}
  if not s or s == '' then return parts end
  for part in string.gmatch(s, '[^\n]+') do parts[#parts + 1] = part end
  return parts
end

local function alive(node)
  if not node then return true end
  local untilMs = redis.call('ZSCORE', NODES, node)
  if not untilMs then return true end
  return tonumber(untilMs) > now
end

local function queued(u) return redis.call('ZSCORE', Q, u) ~= false end
local function matched(u) return redis.call('HEXISTS', ukey(u), 'm') == 1 end

-- an idle user is forgotten after a while; a queued or matched one is kept
local function touch(u)
  if matched(u) or queued(u) then
    redis.call('PERSIST', ukey(u))
    redis.call('PERSIST', rkey(u))
  else
    redis.call('PEXPIRE', ukey(u), FORGET)
    redis.call('PEXPIRE', rkey(u), FORGET)
  end
end

local function isRecent(a, b) return redis.call('LPOS', rkey(a), b) ~= false end

local function remember(a, b)
  redis.call('LREM', rkey(a), 0, b)
  if avoid > 0 then
    redis.call('LPUSH', rkey(a), b)
    redis.call('LTRIM', rkey(a), 0, avoid - 1)
  end
end

local function shares(ia, ib)
  for _, x in ipairs(ia) do
    for _, y in ipairs(ib) do
      if x == y then return true end
    end
  end
  return false
end

local function acceptsAnyone(interests, joined) return #interests == 0 or now - joined >= interestWait end

local function compatible(a, b)
  if a == b or matched(b) or matched(a) then return false end
  if not alive(field(b, 'n')) then return false end
  if redis.call('SISMEMBER', bkey(a), b) == 1 then return false end
  return not isRecent(a, b) and not isRecent(b, a)
end

local function pair(a, b)
  redis.call('ZREM', Q, a, b)
  local init, other = a, b
  if tonumber(field(b, 'q')) < tonumber(field(a, 'q')) then init, other = b, a end
  made = made + 1
  local match = idPrefix .. made
  redis.call('HSET', ukey(a), 'm', match, 'p', b)
  redis.call('HSET', ukey(b), 'm', match, 'p', a)
  redis.call('HDEL', ukey(a), 'd', 'w')
  redis.call('HDEL', ukey(b), 'd', 'w')
  redis.call('SADD', MATCHED, a, b)
  touch(a)
  touch(b)
  local shared = {}
  local otherInterests = split(field(other, 'i'))
  for _, x in ipairs(split(field(init, 'i'))) do
    for _, y in ipairs(otherInterests) do
      if x == y then shared[#shared + 1] = x end
    end
  end
  return {match, init, other, table.concat(shared, '\n'),
          now - tonumber(field(init, 'j')), now - tonumber(field(other, 'j'))}
end

-- the longest-waiting compatible partner sharing an interest, else the longest-waiting acceptable one
local function tryPair(u)
  local interests = split(field(u, 'i'))
  local uAny = acceptsAnyone(interests, tonumber(field(u, 'j')))
  local acceptable = nil
  for _, c in ipairs(redis.call('ZRANGE', Q, 0, scanLimit - 1)) do
    if c ~= u and compatible(u, c) then
      local theirs = split(field(c, 'i'))
      if shares(interests, theirs) then return pair(u, c) end
      if acceptable == nil and uAny and acceptsAnyone(theirs, tonumber(field(c, 'j'))) then acceptable = c end
    end
  end
  if acceptable then return pair(u, acceptable) end
  return nil
end

local function enqueue(u)
  local seq = redis.call('INCR', base .. ':seq')
  redis.call('HSET', ukey(u), 'j', now, 'q', seq)
  redis.call('HDEL', ukey(u), 'w')
  redis.call('ZADD', Q, seq, u)
  touch(u)
  return tryPair(u)
end

local function finish(u, reason, recent)
  local match = field(u, 'm')
  local p = field(u, 'p')
  redis.call('HDEL', ukey(u), 'm', 'p', 'd')
  redis.call('SREM', MATCHED, u)
  if p then
    redis.call('HDEL', ukey(p), 'm', 'p', 'd')
    redis.call('SREM', MATCHED, p)
    if recent then
      remember(u, p)
      remember(p, u)
    end
    touch(p)
  end
  touch(u)
  return {match, u, p or '', reason}
end

local function reply(status, partner, match, ended, pairings)
  local r = {status, partner or '', match or '', #ended}
  for _, e in ipairs(ended) do
    for _, x in ipairs(e) do r[#r + 1] = x end
  end
  r[#r + 1] = #pairings
  for _, p in ipairs(pairings) do
    for _, x in ipairs(p) do r[#r + 1] = x end
  end
  return r
end

local function outcomeOf(u, p, ended)
  if p then
    local partner = p[2]
    if partner == u then partner = p[3] end
    return reply('matched', partner, p[1], ended, {p})
  end
  return reply('queued', nil, nil, ended, {})
end

local NOTHING = reply('nothing', nil, nil, {}, {})

if op == 'join' then
  if matched(a1) or queued(a1) then return reply('conflict', nil, nil, {}, {}) end
  redis.call('HSET', ukey(a1), 's', a2, 'n', a3, 'i', a4)
  return outcomeOf(a1, enqueue(a1), {})
elseif op == 'next' then
  redis.call('HSET', ukey(a1), 's', a2, 'n', a3)
  local ended = {}
  if matched(a1) then
    ended[1] = finish(a1, 'next', true)
  elseif queued(a1) then
    return reply('queued', nil, nil, {}, {})
  end
  return outcomeOf(a1, enqueue(a1), ended)
elseif op == 'leave' then
  local ended = {}
  if matched(a1) then ended[1] = finish(a1, 'left', true) end
  redis.call('ZREM', Q, a1)
  if redis.call('EXISTS', ukey(a1)) == 1 then touch(a1) end
  return reply('idle', nil, nil, ended, {})
elseif op == 'partner' then
  local m = field(a1, 'm')
  if m and m == a2 then return reply('matched', field(a1, 'p'), m, {}, {}) end
  return NOTHING
elseif op == 'block' then
  redis.call('SADD', bkey(a1), a2)
  redis.call('SADD', bkey(a2), a1)
  local ended = {}
  if field(a1, 'p') == a2 then ended[1] = finish(a1, 'left', false) end
  return reply('nothing', nil, nil, ended, {})
elseif op == 'dropped' then
  if field(a1, 's') ~= a2 then return NOTHING end
  if redis.call('ZREM', Q, a1) == 1 then
    touch(a1)
    return reply('idle', nil, nil, {}, {})
  end
  local m = field(a1, 'm')
  if not m then return NOTHING end
  redis.call('HSET', ukey(a1), 'd', now)
  return reply('matched', field(a1, 'p'), m, {}, {})
elseif op == 'returned' then
  if redis.call('EXISTS', ukey(a1)) == 0 then return NOTHING end
  redis.call('HSET', ukey(a1), 's', a2, 'n', a3)
  local m = field(a1, 'm')
  if m and redis.call('HEXISTS', ukey(a1), 'd') == 1 then
    redis.call('HDEL', ukey(a1), 'd')
    return reply('matched', field(a1, 'p'), m, {}, {})
  end
  return NOTHING
elseif op == 'expire' then
  if field(a1, 's') ~= a2 or not matched(a1) then return NOTHING end
  local d = field(a1, 'd')
  if not d or now - tonumber(d) < grace then return NOTHING end
  return reply('idle', nil, nil, {finish(a1, 'disconnected', false)}, {})
elseif op == 'sweep' then
  local ended = {}
  -- only when some instance's lease ran out: release its queue entries, and end its matches after the grace
  if #redis.call('ZRANGEBYSCORE', NODES, '-inf', now, 'LIMIT', 0, 1) > 0 then
    for _, u in ipairs(redis.call('ZRANGE', Q, 0, -1)) do
      if not alive(field(u, 'n')) then
        redis.call('ZREM', Q, u)
        touch(u)
      end
    end
    for _, u in ipairs(redis.call('SMEMBERS', MATCHED)) do
      if matched(u) and not alive(field(u, 'n')) then
        local d = field(u, 'd')
        if not d then
          redis.call('HSET', ukey(u), 'd', now)
        elseif now - tonumber(d) >= grace and matched(u) then
          ended[#ended + 1] = finish(u, 'disconnected', false)
        end
      end
    end
    redis.call('ZREMRANGEBYSCORE', NODES, '-inf', now - 86400000)
  end
  -- one more pairing attempt for each user whose interest wait has just passed
  local pairings = {}
  for _, u in ipairs(redis.call('ZRANGE', Q, 0, scanLimit - 1)) do
    if queued(u) and redis.call('HEXISTS', ukey(u), 'w') == 0
        and now - tonumber(field(u, 'j')) >= interestWait then
      redis.call('HSET', ukey(u), 'w', 1)
      local p = tryPair(u)
      if p then pairings[#pairings + 1] = p end
    end
  end
  return reply('nothing', nil, nil, ended, pairings)
elseif op == 'renew' then
  redis.call('ZADD', NODES, now + lease, a1)
  return NOTHING
elseif op == 'length' then
  return reply(tostring(redis.call('ZCARD', Q)), nil, nil, {}, {})
end
return redis.error_reply('unknown matchmaker operation ' .. tostring(op))
