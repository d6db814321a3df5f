-- outcomes.lua - what happened to the patches in one window (DESIGN.md,
-- "Outcomes: review, versions, applied, links"), read at the flush.
--
-- Called as EVAL <script> 1 <base>meta <base> <window> <archive-url>, with
-- <base> as in record.lua (whose header documents the keys).  Read only.
-- Attribution of the window's replies is decided here, from what Redis
-- holds now; what a notice applies was decided when it was recorded.
-- Returns three arrays:
--   1. per series of the window (w:<N>:series order): { sha1, line, ... },
--      its Supersedes:, Review:, Applied: and Link: lines
--   2. per earlier series with activity in the window, in order of its
--      first activity: { head line, identity line, outcome lines ... }
--   3. the lines of the "Applied in this time period" section ({} if none)
-- The lines are raw text from mails: the caller cleans them.
local base, win, url = ARGV[1], ARGV[2], ARGV[3] or ''
local wk = base .. 'w:' .. win

-- The mail whose Message-ID has sha1 h, by field name, or nil: M:<h> as
-- record.lua packs it, else the hash m:<h> mails recorded before the
-- packed form were kept in.  Keep in step with record.lua's mail().
local mails = {}
local function mail(h)
  if mails[h] ~= nil then return mails[h] or nil end
  local m = false
  local s = redis.call('GET', base .. 'M:' .. h)
  if s then
    m = unpack_mail(s)
  else
    local h2 = redis.call('HGETALL', base .. 'm:' .. h)
    if #h2 > 0 then
      m = {}
      for i = 1, #h2, 2 do m[h2[i]] = h2[i + 1] end
    end
  end
  mails[h] = m
  return m or nil
end
local function mf(h, f)
  local x = mail(h)
  return x and x[f] or nil
end

local function collapse(t)
  return (t:gsub('%s+', ' '):gsub('^ ', ''):gsub(' $', ''))
end

-- attribution: a reply -> the cover or patch above it (sha1), or false
local memo = {}
local function attribute(h)
  if memo[h] ~= nil then return memo[h] end
  local seen, cur, res = {}, h, false
  for _ = 1, 200 do
    seen[#seen + 1] = cur
    local parent = mf(cur, 'parent')
    if not parent or parent == '' then break end
    local ph = redis.sha1hex(parent)
    if memo[ph] ~= nil then res = memo[ph]; break end
    local c = mf(ph, 'class')
    if c == 'cover' or c == 'patch' then res = ph; break end
    if c ~= 'reply' then break end
    cur = ph
  end
  for _, x in ipairs(seen) do memo[x] = res end
  return res
end

-- a series as the outcome lines need it
local cache = {}
local function series(sh)
  if cache[sh] then return cache[sh] end
  local h = redis.call('HGETALL', base .. 's:' .. sh)
  local s = { sh = sh, p = {}, n = 0, version = 1, total = 1, first = 0, ident = '' }
  for i = 1, #h, 2 do
    local k, v = h[i], h[i + 1]
    local idx = k:match('^p(%d+)$')
    if idx then
      s.p[tonumber(idx)] = v
      if tonumber(idx) >= 1 then s.n = s.n + 1 end
    elseif k == 'version' then s.version = tonumber(v) or 1
    elseif k == 'total' then s.total = tonumber(v) or 1
    elseif k == 'first' then s.first = tonumber(v) or 0
    elseif k == 'ident' then s.ident = v
    elseif k == 'subject' then s.subject = v
    end
  end
  -- the head: the cover, else patch 1 (or the unnumbered patch), else the
  -- lowest-numbered patch; the link: the cover, else the lowest-numbered
  local low = nil
  for idx, _ in pairs(s.p) do
    if idx >= 1 and (not low or idx < low) then low = idx end
  end
  s.head = s.p[0] or s.p[1] or (low and s.p[low])
  s.linkmail = s.p[0] or (low and s.p[low])
  if s.head then
    local hm = mail(s.head) or {}
    local v = { hm.subject, hm.addr, hm.ident }
    s.headsubj = v[1] or s.subject or ''
    s.addr = v[2] or ((v[3] or ''):match('<([^<>]*)>$')) or ''
    s.author = v[3] or s.ident
  else
    s.headsubj = s.subject or ''
    s.addr = ''
    s.author = s.ident
  end
  s.exists = #h > 0
  -- its own title for Supersedes: the cover's, else patch 1's
  local own = s.p[0] or s.p[1]
  if own then s.title = mf(own, 'title') end
  cache[sh] = s
  return s
end

-- ---- the window's replies ----
local activity, order, pos = {}, {}, {}   -- sha1 -> arrival of its first activity
local function act(sh, seq)
  if not activity[sh] then
    activity[sh] = seq
    order[#order + 1] = sh
    pos[sh] = #order
  elseif seq < activity[sh] then
    activity[sh] = seq
  end
end
local review = {}
local mails = redis.call('LRANGE', wk .. ':mails', 0, -1)
for seq, h in ipairs(mails) do
  local hm = mail(h) or {}
  local v = { hm.class, hm.tr }
  if v[1] == 'reply' then
    local att = attribute(h)
    local sh = att and mf(att, 'series')
    if sh then
      local r = review[sh]
      if not r then
        r = { n = 0, seen = {}, count = { r = 0, a = 0, t = 0 } }
        review[sh] = r
      end
      r.n = r.n + 1
      act(sh, seq)
      for line in (v[2] or ''):gmatch('[^\n]+') do
        local kind, addr = line:match('^([rat])\t([^\t]*)')
        if kind and addr ~= '' and not r.seen[kind .. addr] then
          r.seen[kind .. addr] = true
          r.count[kind] = r.count[kind] + 1
        end
      end
    end
  end
end

-- ---- the window's notices ----
local groups, gorder = {}, {}
local applied = {}                 -- sha1 -> group key -> { index -> true, all }
for _, h in ipairs(redis.call('LRANGE', wk .. ':notices', 0, -1)) do
  local hm = mail(h) or {}
  local v = { hm.nb, hm.napp, hm.ident, hm.seq }
  local entries = v[2] and cjson.decode(v[2]) or {}
  local who = v[3] or ''
  if who == '' then who = '(no sender address)' end
  local gkey = (v[1] or '') .. '\n' .. who
  local seq = tonumber(v[4]) or 0
  for _, e in ipairs(entries) do
    local sh, idx, commit, lbl = e[1], e[2], e[3], e[4]
    local g = groups[gkey]
    if not g then
      local b = v[1] or ''
      if b == '' then b = '(unknown branch)' end
      g = { head = b .. ' by ' .. who, lines = {}, seen = {} }
      groups[gkey] = g
      gorder[#gorder + 1] = gkey
    end
    local key
    if commit ~= '' then key = 'c' .. commit else key = 'p' .. sh .. ':' .. idx end
    if not g.seen[key] then
      g.seen[key] = true
      if commit ~= '' then
        g.lines[#g.lines + 1] = '  ' .. commit .. ' ' .. lbl
      else
        g.lines[#g.lines + 1] = '  - ' .. lbl
      end
    end
    if sh ~= '' and idx ~= '' then
      applied[sh] = applied[sh] or {}
      local a = applied[sh][gkey]
      if not a then
        a = { set = {} }
        applied[sh][gkey] = a
      end
      if idx == '0' then a.all = true else a.set[tonumber(idx)] = true end
      act(sh, seq)
    end
  end
end

-- ---- the lines of one series ----
local function encode(mid)
  return (mid:gsub("[^A-Za-z0-9%-%._~!%$&'%(%)%*%+,;=:@]", function(c)
    return string.format('%%%02X', c:byte())
  end))
end

local function lines_of(sh)
  local s = series(sh)
  local out = {}
  if s.version > 1 and s.title then
    local best = nil
    local tk = base .. 't:' .. redis.sha1hex(collapse(s.title))
    for _, c in ipairs(redis.call('ZRANGE', tk, 0, -1)) do
      if c ~= sh then
        local o = series(c)
        if o.exists and o.version < s.version and o.first < s.first and o.addr == s.addr and
           (not best or o.first > best.first) then
          best = o
        end
      end
    end
    if best then out[#out + 1] = 'Supersedes: v' .. best.version .. ' ' .. best.headsubj end
  end
  local r = review[sh] or { n = 0, count = { r = 0, a = 0, t = 0 } }
  out[#out + 1] = 'Review: ' .. r.n .. (r.n == 1 and ' reply' or ' replies') ..
    ', Reviewed-by ' .. r.count.r .. ', Acked-by ' .. r.count.a .. ', Tested-by ' .. r.count.t
  for _, gkey in ipairs(gorder) do
    local a = applied[sh] and applied[sh][gkey]
    if a then
      -- distinct patches; a cover stands for 1..total (counted, not listed)
      local n = 0
      if a.all then n = s.total end
      for i in pairs(a.set) do
        if not a.all or i > s.total then n = n + 1 end
      end
      out[#out + 1] = 'Applied: ' .. n .. ' of ' .. s.total .. ' to ' .. groups[gkey].head
    end
  end
  if url ~= '' and s.linkmail then
    local mid = mf(s.linkmail, 'mid')
    if mid then
      out[#out + 1] = 'Link: ' .. url:gsub('%%m', function() return encode(mid) end)
    end
  end
  return out
end

local result = { {}, {}, {} }
local inwin = {}
for _, sh in ipairs(redis.call('ZRANGE', wk .. ':series', 0, -1)) do
  inwin[sh] = true
  local block = { sh }
  for _, l in ipairs(lines_of(sh)) do block[#block + 1] = l end
  result[1][#result[1] + 1] = block
end
local earlier = {}
for _, sh in ipairs(order) do
  if not inwin[sh] then earlier[#earlier + 1] = sh end
end
table.sort(earlier, function(a, b)
  if activity[a] ~= activity[b] then return activity[a] < activity[b] end
  return pos[a] < pos[b]
end)
for _, sh in ipairs(earlier) do
  local s = series(sh)
  local ident = s.author ~= '' and s.author or '(no sender address)'
  local block = { s.headsubj, '  ' .. ident .. ', v' .. s.version .. ', ' ..
    (s.p[0] and 'cover letter and ' or '') .. s.n .. ' of ' .. s.total ..
    ' patch' .. (s.total == 1 and '' or 'es') }
  for _, l in ipairs(lines_of(sh)) do block[#block + 1] = l end
  result[2][#result[2] + 1] = block
end
for _, gkey in ipairs(gorder) do
  local g = groups[gkey]
  result[3][#result[3] + 1] = g.head
  for _, l in ipairs(g.lines) do result[3][#result[3] + 1] = l end
end
return result
