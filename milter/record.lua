-- record.lua - record one mail of one list in Redis, atomically.
--
-- Called as EVALSHA <sha> 1 <base>meta <base> <record-id> <retention-seconds>
-- <field 0> ... <field N> with the fields of include/pd_record.h in order.
-- <base> is "<KeyPrefix>{<list>}:", so every key of a list shares one hash
-- tag (one Redis Cluster slot).  Keys (all under <base>):
--   meta                 hash: window (open window number), head (chain head), list
--   w:<N>                hash: from, to, opened, mails, duplicates, resends,
--                              truncated, class:<class>
--   w:<N>:contributors   zset addr -> mails      w:<N>:names   hash addr -> "Name <addr>"
--                        (first name seen; an address never seen with a name shows as <addr>)
--   w:<N>:domains        zset domain -> mails
--   w:<N>:reviewers      zset addr -> replies with a trailer   w:<N>:rnames hash
--   w:<N>:threads        zset sha1(root) -> replies   w:<N>:troots hash sha1(root) -> root,
--                        w:<N>:tsubj hash sha1(root) -> subject of the first reply seen
--   w:<N>:mails          list of sha1(mid), arrival order
--   w:<N>:posts          list of sha1(mid) of the covers and patches, arrival order
--   w:<N>:series         zset sha1(series key) -> arrival number of its first mail
--   w:<N>:s:<sha1>       hash index -> sha1(mid) of the series' mails in the window
--   m:<sha1(mid)>        hash: the mail (subject, title, class, ident, author,
--                        excerpt, headers ...), expires after the retention;
--                        headers (for the patch page) only where the page can
--                        show them: covers, patches without i/n, and a patch
--                        no lower-numbered patch of its series preceded in
--                        the window; never for resends
--   s:<sha1(series key)> hash: version, root, total, subject, ident, cover, hidx
--                        (subject and ident are the head's, hidx its index)
--   mid:<sha1(mid)>      the record id that first recorded the Message-ID
--   rid:<sha1(record id)> a duplicate delivery already counted
--   subj:<sha1(subject)> Message-ID of the first cover/patch with this subject
-- A window's own state (open, closed, sent) and the flush lock are kept by
-- milter/window.lua.
-- Returns 0 replayed record (nothing changed), 1 duplicate, 2 new mail,
-- 3 new mail that resends a known subject.
local base, rid, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function F(i) return ARGV[4 + i] end
local LIST, MID, CLASS, VER, IDX, TOT = F(1), F(2), F(3), F(4), F(5), F(6)
local NAME, ADDR, SUBJ, TITLE, AUTHOR = F(7), F(8), F(9), F(10), F(11)
local ROOT, REVS, TIME, FLAGS = F(12), F(15), F(16), F(17)
local EXCERPT, HEADERS, PREFIXES = F(18), F(19), F(20)
local meta = KEYS[1]

local win = redis.call('HGET', meta, 'window')
if not win then
  local h0 = redis.sha1hex(LIST)
  redis.call('HSET', meta, 'window', '1', 'head', h0, 'list', LIST)
  redis.call('HSET', base .. 'w:1', 'from', h0, 'to', h0, 'opened', TIME)
  win = '1'
end
local wk = base .. 'w:' .. win

-- Duplicates: one count per Message-ID and list; a replayed record is a no-op.
local midh = redis.sha1hex(MID)
local midkey = base .. 'mid:' .. midh
local prev = redis.call('GET', midkey)
if prev then
  if prev == rid then return 0 end
  if redis.call('SET', base .. 'rid:' .. redis.sha1hex(rid), '1', 'NX', 'EX', ttl) then
    redis.call('HINCRBY', wk, 'duplicates', 1)
    return 1
  end
  return 0
end
redis.call('SET', midkey, rid, 'EX', ttl)

-- The chain head.
local head = redis.sha1hex((redis.call('HGET', meta, 'head') or redis.sha1hex(LIST)) .. '\n' .. MID)
redis.call('HSET', meta, 'head', head)

local seq = redis.call('HINCRBY', wk, 'mails', 1)
redis.call('HSET', wk, 'to', head)
redis.call('HINCRBY', wk, 'class:' .. CLASS, 1)
if FLAGS:find('t', 1, true) then redis.call('HINCRBY', wk, 'truncated', 1) end

local ident = ''
if ADDR ~= '' then
  if NAME ~= '' then ident = NAME .. ' <' .. ADDR .. '>' else ident = '<' .. ADDR .. '>' end
  redis.call('ZINCRBY', wk .. ':contributors', 1, ADDR)
  -- shown with the first name seen in the window
  if NAME ~= '' then redis.call('HSETNX', wk .. ':names', ADDR, ident) end
  local dom = ADDR:match('@([^@]*)$')
  if dom and dom ~= '' then redis.call('ZINCRBY', wk .. ':domains', 1, dom) end
end

-- The mail itself, for the digest.
local mk = base .. 'm:' .. midh
redis.call('HSET', mk, 'mid', MID, 'class', CLASS, 'window', win, 'seq', seq,
  'subject', SUBJ, 'title', TITLE, 'version', VER, 'index', IDX, 'total', TOT,
  'ident', ident, 'author', AUTHOR, 'root', ROOT, 'time', TIME, 'flags', FLAGS,
  'prefixes', PREFIXES)
if EXCERPT ~= '' then redis.call('HSET', mk, 'excerpt', EXCERPT) end
redis.call('EXPIRE', mk, ttl)
redis.call('RPUSH', wk .. ':mails', midh)

local result = 2
if CLASS == 'cover' or CLASS == 'patch' then
  -- Resends: a new Message-ID with a cover or patch subject seen before.
  local sk = base .. 'subj:' .. redis.sha1hex(SUBJ)
  if not redis.call('SET', sk, MID, 'NX', 'EX', ttl) then
    redis.call('HINCRBY', wk, 'resends', 1)
    redis.call('HSET', mk, 'resend', '1')
    result = 3
  end
  -- Series: keyed by version and thread root.
  local sh = redis.sha1hex(VER .. ' ' .. ROOT)
  local skey = base .. 's:' .. sh
  redis.call('HSETNX', skey, 'version', VER)
  redis.call('HSETNX', skey, 'root', ROOT)
  redis.call('HSETNX', skey, 'ident', ident)
  local idx = IDX
  if idx == '' then idx = '1' end
  if HEADERS ~= '' and result == 2 then
    local keep = true
    if CLASS == 'patch' and IDX ~= '' then
      local n = tonumber(IDX) or 1
      for _, k in ipairs(redis.call('HKEYS', wk .. ':s:' .. sh)) do
        local ki = tonumber(k)
        if ki and ki >= 1 and ki < n then keep = false; break end
      end
    end
    if keep then redis.call('HSET', mk, 'headers', HEADERS) end
  end
  -- The head (DESIGN.md): the latest cover, else the latest patch 1 (or
  -- unnumbered patch), else the first of the lowest-numbered patches; the
  -- series' subject and identity are the head's.  hidx: the head's index.
  local n = CLASS == 'cover' and 0 or (tonumber(idx) or 1)
  local hidx = tonumber(redis.call('HGET', skey, 'hidx'))
  if not hidx and redis.call('HEXISTS', skey, 'subject') == 1 then
    -- recorded before hidx was kept: its head was a cover, else taken as patch 1
    hidx = redis.call('HEXISTS', skey, 'cover') == 1 and 0 or 1
  end
  if not hidx or n == 0 or (n == 1 and hidx ~= 0) or n < hidx then
    redis.call('HSET', skey, 'subject', SUBJ, 'ident', ident, 'hidx', n)
  end
  if CLASS == 'cover' then redis.call('HSET', skey, 'cover', midh) end
  local total = tonumber(TOT) or 1
  if total > (tonumber(redis.call('HGET', skey, 'total')) or 0) then
    redis.call('HSET', skey, 'total', total)
  end
  redis.call('EXPIRE', skey, ttl)
  redis.call('ZADD', wk .. ':series', 'NX', seq, sh)
  redis.call('HSETNX', wk .. ':s:' .. sh, idx, midh)
  redis.call('HSET', mk, 'series', sh)
  redis.call('RPUSH', wk .. ':posts', midh)
elseif CLASS == 'reply' then
  local rh = redis.sha1hex(ROOT)
  redis.call('ZINCRBY', wk .. ':threads', 1, rh)
  redis.call('HSETNX', wk .. ':troots', rh, ROOT)
  redis.call('HSETNX', wk .. ':tsubj', rh, SUBJ)
  for line in string.gmatch(REVS, '[^\n]+') do
    local a, n = line:match('^([^\t]*)\t(.*)$')
    if a and a ~= '' then
      redis.call('ZINCRBY', wk .. ':reviewers', 1, a)
      if n ~= '' then redis.call('HSETNX', wk .. ':rnames', a, n .. ' <' .. a .. '>') end
    end
  end
end
return result
