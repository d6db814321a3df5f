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
-- Outcomes (DESIGN.md "Outcomes"; read at the flush by milter/outcomes.lua):
--   meta gseq            the list's mail counter across windows (m: gseq, s: first)
--   m:<sha1(mid)>        also: gseq, addr; replies: parent (the id they answer),
--                        tr (trailers, "kind\taddr\tname" lines); notices: nb
--                        (branch), napp (what it applies, JSON [[series, index,
--                        commit, label], ...], index 0 for a whole series)
--   s:<sha1(series key)> also: first (gseq of its first mail), p<index> ->
--                        sha1(mid) of its cover (p0) and patches (unnumbered: p1)
--   t:<sha1(title)>      zset series -> first: series whose cover or patch 1
--                        has this title (blanks collapsed), for Supersedes
--   r:<sha1(root)>       zset series -> first: the series of a thread
--   w:<N>:notices        list of sha1(mid) of the window's applied notices
--   w:<N>                also: applied (patches applied by notices), trailers
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
local IRT, REFS, TRAILERS, NOTICE = F(13), F(14), F(21) or '', F(22) or ''
local meta = KEYS[1]

-- Blanks collapsed: runs of blanks made one space, trimmed.
local function collapse(t)
  return (t:gsub('%s+', ' '):gsub('^ ', ''):gsub(' $', ''))
end

-- The cover or patch a reply answering <parent> is attributed to (sha1 of
-- its Message-ID), from what was recorded before; nil when none.
local function attribute(parent)
  for _ = 1, 200 do
    if parent == nil or parent == '' then return nil end
    local ph = redis.sha1hex(parent)
    local v = redis.call('HMGET', base .. 'm:' .. ph, 'class', 'parent')
    if v[1] == 'cover' or v[1] == 'patch' then return ph end
    if v[1] ~= 'reply' then return nil end
    parent = v[2]
  end
  return nil
end

-- A series' patch whose title, blanks removed, is key: its index, or nil.
local titles = {}
local function patch_with_title(sh, key)
  local t = titles[sh]
  if not t then
    t = {}
    local h = redis.call('HGETALL', base .. 's:' .. sh)
    for i = 1, #h, 2 do
      local n = h[i]:match('^p(%d+)$')
      if n and tonumber(n) >= 1 then
        local title = redis.call('HGET', base .. 'm:' .. h[i + 1], 'title')
        if title then t[#t + 1] = { tonumber(n), (title:gsub('%s', '')) } end
      end
    end
    table.sort(t, function(a, b) return a[1] < b[1] end)
    titles[sh] = t
  end
  for _, e in ipairs(t) do
    if e[2] == key then return tostring(e[1]) end
  end
  return nil
end

-- "[i/n] title" of a recorded cover or patch.
local function label(ph)
  local v = redis.call('HMGET', base .. 'm:' .. ph, 'class', 'index', 'total', 'title')
  local i, n = v[2], v[3]
  if not i or i == '' then i, n = '1', '1' end
  if v[1] == 'cover' then i = '0' end
  return i, '[' .. i .. '/' .. (n or '1') .. '] ' .. (v[4] or '')
end

-- A reply: what it answers, its trailers, and what its notice applies,
-- decided now from what was recorded before it.
local function record_outcomes(mk, midh)
  local parent = IRT
  if parent == '' then parent = REFS:match('([^\n]+)$') or '' end
  if parent ~= '' then redis.call('HSET', mk, 'parent', parent) end
  if TRAILERS ~= '' then
    redis.call('HSET', mk, 'tr', TRAILERS)
    local n = 0
    for _ in TRAILERS:gmatch('[^\n]+') do n = n + 1 end
    redis.call('HINCRBY', base .. 'w:' .. redis.call('HGET', meta, 'window'), 'trailers', n)
  end
  if NOTICE == '' then return end
  local lines = {}
  for l in (NOTICE .. '\n'):gmatch('([^\n]*)\n') do lines[#lines + 1] = l end
  local branch, nums = lines[1] or '', lines[2] or ''
  local att = attribute(parent)
  local ash = att and redis.call('HGET', base .. 'm:' .. att, 'series') or nil
  local applied, count = {}, 0
  if #lines > 2 then
    -- listed entries: matched by title in the attributed series, else in
    -- the most recent series of the thread holding that title
    local thread = redis.call('ZREVRANGE', base .. 'r:' .. redis.sha1hex(ROOT), 0, -1)
    for k = 3, #lines do
      local i, n, commit, title = lines[k]:match('^(%d+)\t(%d+)\t(%x*)\t(.*)$')
      if i then
        local key = title:gsub('%s', '')
        local sh, idx = nil, nil
        if ash then
          idx = patch_with_title(ash, key)
          if idx then sh = ash end
        end
        if not sh then
          for _, cand in ipairs(thread) do
            idx = patch_with_title(cand, key)
            if idx then sh = cand; break end
          end
        end
        applied[#applied + 1] = { sh or '', idx or '', commit, '[' .. i .. '/' .. n .. '] ' .. title }
        count = count + 1
      end
    end
  elseif nums ~= '' then
    if ash then
      for num in nums:gmatch('%d+') do
        local ph = redis.call('HGET', base .. 's:' .. ash, 'p' .. num)
        if ph and num ~= '0' then
          local _, l = label(ph)
          applied[#applied + 1] = { ash, num, '', l }
          count = count + 1
        end
      end
    end
  elseif att and ash then
    local i, l = label(att)
    applied[#applied + 1] = { ash, i, '', l }
    if i == '0' then
      count = count + (tonumber(redis.call('HGET', base .. 's:' .. ash, 'total')) or 1)
    else
      count = count + 1
    end
  end
  redis.call('HSET', mk, 'nb', branch, 'napp', cjson.encode(applied))
  local wk = base .. 'w:' .. redis.call('HGET', meta, 'window')
  redis.call('RPUSH', wk .. ':notices', midh)
  if count > 0 then redis.call('HINCRBY', wk, 'applied', count) end
end

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
local gseq = redis.call('HINCRBY', meta, 'gseq', 1)
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
  'prefixes', PREFIXES, 'gseq', gseq, 'addr', ADDR)
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
  -- outcomes: the series' mails across windows, its titles, its thread
  redis.call('HSETNX', skey, 'first', gseq)
  redis.call('HSETNX', skey, 'p' .. idx, midh)
  local first = tonumber(redis.call('HGET', skey, 'first'))
  if CLASS == 'cover' or idx == '1' then
    local tk = base .. 't:' .. redis.sha1hex(collapse(TITLE))
    redis.call('ZADD', tk, 'NX', first, sh)
    redis.call('EXPIRE', tk, ttl)
  end
  local rk = base .. 'r:' .. redis.sha1hex(ROOT)
  redis.call('ZADD', rk, 'NX', first, sh)
  redis.call('EXPIRE', rk, ttl)
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
  record_outcomes(mk, midh)
end
return result
