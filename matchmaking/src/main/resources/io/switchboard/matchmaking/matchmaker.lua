-- Random connect in Redis: every operation of RedisMatchmaker runs inside one call of this script (alone or in a
-- batch), so pairing is atomic and two instances can never hand out the same waiting user. All keys share the hash tag of KEYS[1]
-- ({mm}), so the script also runs on a Redis Cluster.
--   KEYS[1]  the key prefix, for instance "mm:{mm}"
--   ARGV     op, now (ms), interestWait, avoidRecent, resumeGrace, nodeLease, scanLimit, matchIdPrefix, maxBlocks,
--            announceTimeout, announceAttempts, announceBatch, args...; op 'batch' runs several operations in one
--            call (see the end of the script), which is how RedisMatchmaker calls it
-- The reply: status, partner, match, #ended, (match, by, partner, reason)..., #pairings,
--            (match, initiator, other, shared interests joined by \n, initiator waited ms, other waited ms)...
--            (for a batch, a list of such replies)
-- Keys of a user u: u:<u> (hash: session s, node n, interests i, join time j, queue seq q, match m, partner p,
-- dropped at d, interest wait passed w), r:<u> (recent partners), b:<u> (users u blocked, at most maxBlocks),
-- l:<u> (blocks loaded from the store). gone (zset): users whose connection dropped, scored by when they are
-- gone unless they connect again; the sweep deletes their keys. on:<node>: users connected on that instance.
-- Pairings and endings whose events are not confirmed yet (announced), by id f:<match> or e:<match>: ann (zset,
-- scored by when they are handed out again), annd (hash: attempts so far and the reply tuple, in JSON); the
-- partner told of an ending holds the field e:<match> in u:, so that forgetting it drops the ending.
local base = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local interestWait = tonumber(ARGV[3])
local avoid = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])
local lease = tonumber(ARGV[6])
local scanLimit = tonumber(ARGV[7])
local idPrefix = ARGV[8]
local maxBlocks = tonumber(ARGV[9])
local announceAfter = tonumber(ARGV[10])
local announceAttempts = tonumber(ARGV[11])
local announceBatch = tonumber(ARGV[12])
local FIRST_ARG = 13
local Q = base .. ':q'
local MATCHED = base .. ':mt'
local NODES = base .. ':nodes'
local GONE = base .. ':gone'
local ANN = base .. ':ann'
local ANND = base .. ':annd'
-- a safety net only: the keys of a user who is not connected expire after this long even if no sweep forgets it
local FORGET = math.max(600000, 2 * grace)
-- most gone users one sweep forgets
local FORGET_BATCH = 500
local made = 0

local function ukey(u) return base .. ':u:' .. u end
local function rkey(u) return base .. ':r:' .. u end
local function bkey(u) return base .. ':b:' .. u end
local function lkey(u) return base .. ':l:' .. u end
local function onkey(n) return base .. ':on:' .. n end
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

local function connected(u)
  return redis.call('ZSCORE', GONE, u) == false and redis.call('HEXISTS', ukey(u), 's') == 1
end

-- the keys of a connected, queued or matched user stay; the others' expire (the sweep forgets gone users first)
local function touch(u)
  local keys = {ukey(u), rkey(u), bkey(u), lkey(u)}
  if matched(u) or queued(u) or connected(u) then
    for _, k in ipairs(keys) do redis.call('PERSIST', k) end
  else
    for _, k in ipairs(keys) do redis.call('PEXPIRE', k, FORGET) end
  end
end

-- u is connected as session s on node n: not gone, listed under its instance
local function connect(u, s, n)
  local old = field(u, 'n')
  if old and old ~= n then redis.call('SREM', onkey(old), u) end
  redis.call('HSET', ukey(u), 's', s, 'n', n)
  redis.call('ZREM', GONE, u)
  redis.call('SADD', onkey(n), u)
end

-- a pairing or ending, to be handed out again unless confirmed within announceAfter
local function pend(id, tuple)
  redis.call('ZADD', ANN, now + announceAfter, id)
  redis.call('HSET', ANND, id, cjson.encode({0, tuple}))
end

-- confirmed, given up, or no longer worth telling
local function settle(id)
  if string.sub(id, 1, 2) == 'e:' then
    local data = redis.call('HGET', ANND, id)
    if data then redis.call('HDEL', ukey(cjson.decode(data)[2][3]), id) end
  end
  redis.call('ZREM', ANN, id)
  redis.call('HDEL', ANND, id)
end

-- u is gone: everything it made the matchmaker hold goes, the endings it was to be told included
local function forget(u)
  local n = field(u, 'n')
  if n then redis.call('SREM', onkey(n), u) end
  for _, f in ipairs(redis.call('HKEYS', ukey(u))) do
    if string.sub(f, 1, 2) == 'e:' then
      redis.call('ZREM', ANN, f)
      redis.call('HDEL', ANND, f)
    end
  end
  redis.call('DEL', ukey(u), rkey(u), bkey(u), lkey(u))
end

local function blocks(a, b)
  return redis.call('SISMEMBER', bkey(a), b) == 1 or redis.call('SISMEMBER', lkey(a), b) == 1
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
  if blocks(a, b) or blocks(b, a) then return false end
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
  local tuple = {match, init, other, table.concat(shared, '\n'),
                 now - tonumber(field(init, 'j')), now - tonumber(field(other, 'j'))}
  pend('f:' .. match, tuple)
  return tuple
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

-- a user whose match ends while its connection is down (d) is gone a grace after the drop unless it comes back
local function regone(u)
  local d = field(u, 'd')
  if d then redis.call('ZADD', GONE, 'NX', tonumber(d) + grace, u) end
end

local function finish(u, reason, recent)
  local match = field(u, 'm')
  local p = field(u, 'p')
  regone(u)
  redis.call('HDEL', ukey(u), 'm', 'p', 'd')
  redis.call('SREM', MATCHED, u)
  if p then
    regone(p)
    redis.call('HDEL', ukey(p), 'm', 'p', 'd')
    redis.call('SREM', MATCHED, p)
    if recent then
      remember(u, p)
      remember(p, u)
    end
  end
  -- a match.found of a match that has ended would only mislead
  settle('f:' .. match)
  local ended = {match, u, p or '', reason}
  if p then
    pend('e:' .. match, ended)
    redis.call('HSET', ukey(p), 'e:' .. match, 1)
    touch(p)
  end
  touch(u)
  return ended
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

-- one operation, as RedisMatchmaker names it, with its arguments (a list)
local function run(op, args)
  local a1, a2, a3, a4 = args[1], args[2], args[3], args[4]
  if op == 'join' then
    if matched(a1) or queued(a1) then return reply('conflict', nil, nil, {}, {}) end
    connect(a1, a2, a3)
    redis.call('HSET', ukey(a1), 'i', a4)
    return outcomeOf(a1, enqueue(a1), {})
  elseif op == 'next' then
    connect(a1, a2, a3)
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
    if redis.call('SISMEMBER', bkey(a1), a2) == 0 then
      if redis.call('SCARD', bkey(a1)) >= maxBlocks then return reply('too_many', nil, nil, {}, {}) end
      redis.call('SADD', bkey(a1), a2)
    end
    local ended = {}
    if field(a1, 'p') == a2 then ended[1] = finish(a1, 'left', false) end
    touch(a1)
    return reply('nothing', nil, nil, ended, {})
  elseif op == 'restore' then
    redis.call('SADD', lkey(a1), a2)
    touch(a1)
    return NOTHING
  elseif op == 'dropped' then
    if field(a1, 's') ~= a2 then return NOTHING end
    redis.call('ZADD', GONE, now + grace, a1)
    local n = field(a1, 'n')
    if n then redis.call('SREM', onkey(n), a1) end
    if redis.call('ZREM', Q, a1) == 1 then
      touch(a1)
      return reply('idle', nil, nil, {}, {})
    end
    local m = field(a1, 'm')
    if not m then
      touch(a1)
      return NOTHING
    end
    redis.call('HSET', ukey(a1), 'd', now)
    return reply('matched', field(a1, 'p'), m, {}, {})
  elseif op == 'returned' then
    connect(a1, a2, a3)
    touch(a1)
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
      -- the users connected on a dead instance are gone unless they connect again within the grace
      for _, n in ipairs(redis.call('ZRANGEBYSCORE', NODES, '-inf', now)) do
        for _, u in ipairs(redis.call('SMEMBERS', onkey(n))) do
          if field(u, 'n') == n then redis.call('ZADD', GONE, 'NX', now + grace, u) end
        end
        redis.call('DEL', onkey(n))
      end
      redis.call('ZREMRANGEBYSCORE', NODES, '-inf', now - 86400000)
    end
    -- forget the users who are gone; one still matched is listed again when its match ends (regone)
    for _, u in ipairs(redis.call('ZRANGEBYSCORE', GONE, '-inf', now, 'LIMIT', 0, FORGET_BATCH)) do
      redis.call('ZREM', GONE, u)
      if not matched(u) and not queued(u) then forget(u) end
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
  elseif op == 'announced' then
    for _, id in ipairs(args) do settle(id) end
    return NOTHING
  elseif op == 'unannounced' then
    local ended, pairings = {}, {}
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', ANN, '-inf', now, 'LIMIT', 0, announceBatch)) do
      local data = redis.call('HGET', ANND, id)
      if data then
        local d = cjson.decode(data)
        if string.sub(id, 1, 2) == 'f:' then pairings[#pairings + 1] = d[2] else ended[#ended + 1] = d[2] end
        if d[1] + 1 >= announceAttempts then
          settle(id)
        else
          redis.call('ZADD', ANN, now + announceAfter, id)
          redis.call('HSET', ANND, id, cjson.encode({d[1] + 1, d[2]}))
        end
      else
        redis.call('ZREM', ANN, id)
      end
    end
    return reply('nothing', nil, nil, ended, pairings)
  elseif op == 'renew' then
    redis.call('ZADD', NODES, now + lease, a1)
    return NOTHING
  elseif op == 'length' then
    return reply(tostring(redis.call('ZCARD', Q)), nil, nil, {}, {})
  end
  error('unknown matchmaker operation ' .. tostring(op))
end

if op ~= 'batch' then return run(op, {unpack(ARGV, FIRST_ARG)}) end
-- a batch: from FIRST_ARG, each operation's name, its number of arguments and those arguments. They run one
-- after the other, exactly as that many calls would; the reply holds each one's reply, or {'!', message} for
-- one that failed (what it wrote before it failed stays, as it would have alone, and the others still run)
local replies = {}
local i = FIRST_ARG
while i <= #ARGV do
  local name, argc = ARGV[i], tonumber(ARGV[i + 1])
  local args = {}
  for k = 1, argc do args[k] = ARGV[i + 1 + k] end
  i = i + 2 + argc
  local ok, r = pcall(run, name, args)
  if not ok then r = {'!', type(r) == 'table' and tostring(r.err) or tostring(r)} end
  replies[#replies + 1] = r
end
return replies
