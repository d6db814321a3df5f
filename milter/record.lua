-- record.lua - record a batch of mails of one list in Redis, atomically.
--
-- Called as EVALSHA <sha> 1 <base>meta <base> <retention-seconds> <list>
-- <opened> 4 <chain> (the list id; the time of the batch's first mail, the
-- window's opening time if the batch opens one; the values per mail; the
-- chain head the writer expects, below), then per mail in arrival order 4
-- values: <values> <packed rid..root> <packed
-- version..prefixes> <packed tr>.  <values> is a run of 21 MessagePack
-- strings, which the writer (store.c's append_group()) takes from the
-- record (include/pd_record.h) or computes:
--   <record-id> <mid> <class> <version> <index> <total> <name> <addr>
--   <subject> <root> <parent> <reviewers> <what> <ntrailers> <notice>
--   <sha1(mid)> <sha1(record id), 16 digits> <sha1(subject)>
--   <sha1(series key)> <sha1(title, blanks collapsed)> <sha1(root)>
-- One cmsgpack.unpack() makes them Lua strings: as 21 values of the call
-- they cost Redis about 700 instructions each more (parsed, made objects,
-- put in ARGV, freed), 7% of its work.
-- parent is In-Reply-To, else the last id of References; what holds t (the
-- mail was truncated), x (it has an excerpt), h (it has a header block);
-- ntrailers is how many review trailers a reply has ("" none); the writer
-- hashes what it can (subject, series and title only for covers and
-- patches, "" for other mail: it costs the writer a microsecond, Redis's
-- Lua more) and packs the mail's fixed values ("The mail" below).  Only
-- what the script reads comes: each byte costs Redis's Lua about 5
-- instructions.  The writer sent the excerpt and the header block ahead,
-- in the same round trip: SET <base>X:<sha1(mid)> <excerpt> NX EX
-- <retention> and SET <base>H:<sha1(mid)> <block> NX EX <retention>.  The
-- script
-- keeps the header block where the page can show it and the excerpt of every
-- new mail, and deletes them elsewhere: these texts (often 2-4 KB) never
-- pass through Lua, whose strings cost Redis about 5 ns a byte (hashed,
-- allocated, collected).  When two hosts record one Message-ID at the same
-- moment, the block kept may be the one the other host sent (the same mail,
-- with its own Received lines).  <base> is
-- "<KeyPrefix>{<list>}:", so every key of a list shares one hash tag (one
-- Redis Cluster slot).  Returns one result per mail, in order (below); a
-- mail Redis refused (a key of the wrong type) gives an error element, and
-- the mails after it are still recorded.
--
-- One call records the whole batch (the writer sends up to 128 mails, import
-- 64): the window's counters, tables and lists are summed in the script and
-- written once per batch, so a mail costs about a third of the Redis
-- commands it cost when each mail was its own call.  The batch is one
-- script, so a window's close (window.lua) happens before or after all of
-- it, never inside.
--
-- Keys (all under <base>):
--   meta                 hash: window (open window number), head (chain head), list
--                        layout ("2": mails are M: keys), legacy (unix time until
--                        which m:/mid: keys of an older version may exist: set
--                        when a list recorded before the packed layout is first
--                        recorded into, to now + twice the retention)
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
--   H:<sha1(mid)>        string: the mail's header block, where the page shows it
--                        (below; the mail's headers field is then true)
--   X:<sha1(mid)>        string: the mail's excerpt (the mail's excerpt field is
--                        then true; earlier versions kept it in the mail itself)
--   M:<sha1(mid)>        string: the mail, written once, expires after the
--                        retention (see "The mail" below).  It also holds the
--                        record that first recorded the Message-ID (rid: the
--                        first 16 hex digits of sha1(record id)): its existence
--                        is what makes a Message-ID counted once, and a record
--                        with that rid is a replay.
--   s:<sha1(series key)> hash: version, root, total, subject, ident, cover, hidx
--                        (subject and ident are the head's, hidx its index)
--   rid:<sha1(record id)> a duplicate delivery already counted
--   subj:<sha1(subject)> "1": a cover or patch had this subject (before 0.2: its
--                        Message-ID; nothing reads it)
-- Outcomes (DESIGN.md "Outcomes"; read at the flush by milter/outcomes.lua):
--   meta gseq            the list's mail counter across windows (mail: gseq, s: first)
--   s:<sha1(series key)> also: first (gseq of its first mail), p<index> ->
--                        sha1(mid) of its cover (p0) and patches (unnumbered: p1)
--   t:<sha1(title)>      zset series -> first: series whose cover or patch 1
--                        has this title (blanks collapsed), for Supersedes
--   r:<sha1(root)>       zset series -> first: the series of a thread
--   w:<N>:notices        list of sha1(mid) of the window's applied notices
--   w:<N>                also: applied (patches applied by notices), trailers
-- A window's own state (open, closed, sent) and the flush lock are kept by
-- milter/window.lua.
--
-- The mail (M:<sha1(mid)>): the values below, in this order, each a
-- MessagePack object (false for a field the mail has not), so a reader that
-- needs the first few decodes only those (cmsgpack.unpack_limit):
--   rid class parent series index total subject title mid addr name author
--   root | window seq gseq | version time flags prefixes | resend | tr |
--   nb napp excerpt headers
-- The writer packs the runs rid..root, version..prefixes and tr (they are
-- the record's own); the script packs the others (window, seq and gseq by
-- concatenation, MPSTR; nb and napp with cmsgpack.pack) and puts the runs
-- together: a mail's 26 values were 26 strings Lua built and
-- hashed, and packing them was a tenth of Redis's time.
-- title is a number n when it is the last n bytes of subject; author,
-- root and parent are true when they equal the identity ("name <addr>",
-- "<addr>" without a name), mid and root.  rid is the first 16 hex digits
-- of sha1(record id).  The fields: the record's (pd_record.h), plus
-- window, seq (arrival in the window), gseq, series (sha1 of its series
-- key: covers and patches), resend ("1"), parent (replies: the id they
-- answer), tr (trailers, "kind\taddr\tname" lines), nb (notices: branch),
-- napp (what a notice applies, JSON [[series, index, commit, label], ...],
-- index 0 for a whole series); excerpt (true: the text is X:<sha1(mid)>;
-- a string in mails recorded by earlier versions); headers (true: the block for the
-- patch page is H:<sha1(mid)>) only where the
-- page can show them: covers, patches without i/n, and a patch no
-- lower-numbered patch of its series preceded in the window; never for
-- resends.
--
-- Why a string and not the hash earlier versions kept (m:<sha1(mid)>, with
-- mid:<sha1(mid)> holding the record id): a mail is written once and never
-- changed, and a hash whose values exceed 64 bytes (a subject, the excerpt,
-- the headers) is a hash table, about 1.2 KB of overhead a mail; the string
-- holds the same values in about half the memory, in one key instead of
-- two, written by one command instead of five.  Mails recorded before the
-- upgrade keep their m:/mid: keys until they expire with the retention:
-- every reader here, in outcomes.lua and in mails.lua looks up M: first,
-- then m:, and a Message-ID recorded under mid: is a duplicate as before.
--
-- Results: 0 replayed record (nothing changed), 1 duplicate, 2 new mail,
-- 3 new mail that resends a known subject; then one more element, the
-- list's chain head after the batch ("" when no window is open).
--
-- The chain head (DESIGN.md, "Windows and their ids"): each new mail moves
-- it on, head = sha1(head .. "\n" .. mid).  The writer knows the head the
-- last batch left (the element above) and computes the batch's chain
-- itself, with the CPU's SHA instructions: <chain> is "" or the head it
-- expects before the batch (40 digits), the head after it (40), and one
-- digit a mail, 1 for a mail it expects to be new, 0 for one it expects
-- known (a Message-ID earlier in the batch, or in the import).  When the
-- head before the batch and every mail's newness are as expected, the
-- script takes the head after it as given; else (another host recorded
-- meanwhile, a mail was known) it computes the chain itself, as before.
-- redis.sha1hex was about 6% of Redis's work a mail.
local meta, base, ttl, LIST, OPENED = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local PER, FIRST = 4, 7    -- values per mail, where the first mail's begin
local CHAIN = ARGV[6]      -- the chain the writer expects (above)
if tonumber(ARGV[5]) ~= PER then
  return redis.error_reply('ERR record.lua: ' .. tostring(ARGV[5]) .. ' values a mail, not ' .. PER)
end
local call, sha1hex = redis.call, redis.sha1hex   -- (locals: no table lookups)


-- ---- the mail: M:<h> (packed: unpack_mail(), mailfmt.lua), else m:<h> (a hash,
-- before the upgrade) ----

-- The mail's fields up to field number n (all when nil), by name; nil when
-- Redis does not have the mail.  Decoded mails are kept for the batch (a
-- mail never changes once written); a missing one is asked again.
local mails = {}
local legacy = false   -- the list may hold mails of the hash layout (m:, mid:)
local function mail(h, n)
  if n and n < MFN.root then n = MFN.root end
  local m = mails[h]
  if m and (m._n >= (n or #MF)) then return m end
  local s = call('GET', base .. 'M:' .. h)
  if s then
    m = unpack_mail(s, n)
    m._n = n or #MF
  elseif legacy then
    local h2 = call('HGETALL', base .. 'm:' .. h)
    if #h2 == 0 then return nil end
    m = { _n = #MF }
    for i = 1, #h2, 2 do m[h2[i]] = h2[i + 1] end
    local rid = call('GET', base .. 'mid:' .. h)
    if rid then m.rid = rid end
  else
    return nil
  end
  mails[h] = m
  return m
end

-- The record id that first recorded the Message-ID whose sha1 is h, or
-- nil; and whether that mail kept its header block (H:<h>) and its excerpt
-- (X:<h>).
local function recorded(h, key)
  local s = call('GET', key)
  if s then
    local v = { cmsgpack.unpack(s) }
    return v[1], v[MFN.headers] == true, v[MFN.excerpt] == true
  end
  if legacy then return call('GET', base .. 'mid:' .. h), false, false end
  return nil
end

-- ---- the batch's state, written once at the end ----
local win, head, gseq, seq
local head0                -- the chain head before the batch's first new mail
local newmids = {}         -- the batch's new mails' Message-IDs, in order
local newflags = {}        -- per mail: '1' new (it moved the head on), '0' not
local moved                -- the mail being recorded moved the head on
local acc = { counters = {}, contributors = {}, domains = {}, reviewers = {}, threads = {},
              mails = {}, posts = {}, notices = {}, series = {}, sorder = {},
              names = {}, rnames = {}, troots = {}, tsubj = {}, new = 0 }
local fmt = string.format
-- MessagePack of the decided values that are constants (false, true, the
-- string "1", false twice), as cmsgpack.pack writes them: a call less a mail
-- for each
local MP_FALSE, MP_TRUE, MP_ONE, MP_FALSE2 = '\194', '\195', '\161' .. '1', '\194\194'
-- and the head of a MessagePack string of n bytes (n < 32: the window,
-- seq and gseq, decimal numbers), so that packing them is a concatenation,
-- not a cmsgpack.pack call a mail
local MPSTR = {}
for n = 0, 31 do MPSTR[n] = string.char(0xa0 + n) end
-- what a mail's what value says (t, x, h), and an address's domain: the
-- same few values and addresses come back in a batch, looked up once each
local WHATS, domain_of = {}, {}
local CLASSKEY = { patch = 'class:patch', cover = 'class:cover', reply = 'class:reply',
                   pull = 'class:pull', other = 'class:other' }
local function count(tbl, k, n)
  tbl[k] = (tbl[k] or 0) + (n or 1)
end

do
  local v = call('HMGET', meta, 'window', 'head', 'gseq', 'layout', 'legacy')
  win, head, gseq = v[1], v[2], tonumber(v[3]) or 0
  if v[1] and not v[4] then
    -- recorded by a version before the packed layout: its m: and mid: keys
    -- live until they expire; look for them until twice the retention from
    -- now (hosts not yet upgraded may still write some)
    local now = tonumber(call('TIME')[1])
    call('HSET', meta, 'layout', '2', 'legacy', tostring(now + 2 * tonumber(ttl)))
    legacy = true
  elseif v[5] then
    legacy = tonumber(call('TIME')[1]) < (tonumber(v[5]) or 0)
  end
end

local function open_window(list, time)
  if win then return end
  local h0 = sha1hex(list)
  call('HSET', meta, 'window', '1', 'head', h0, 'list', list, 'layout', '2')
  call('HSET', base .. 'w:1', 'from', h0, 'to', h0, 'opened', time)
  win, head = '1', h0
end

local wk, wkn   -- the window's key (wk: for window wkn), made once a batch
local knames, ktroots, ktsubj, krnames
local scache, sorder = {}, {}   -- series touched by the batch: their hash, cached

-- The title and thread indexes the batch added to: ZADD NX (the score is
-- the series' first mail, fixed) and their expiry, once.
local function write_indexes()
  for _, sh in ipairs(sorder) do
    for k, first in pairs(scache[sh].zadd) do
      call('ZADD', k, 'NX', first, sh)
      call('EXPIRE', k, ttl)
    end
    scache[sh].zadd = {}
  end
end

-- The cover or patch a reply answering <parent> is attributed to (sha1 of
-- its Message-ID), from what was recorded before; nil when none.
local function attribute(parent)
  for _ = 1, 200 do
    if parent == nil or parent == '' then return nil end
    local ph = sha1hex(parent)
    local v = mail(ph, MFN.parent)
    if not v then return nil end
    if v.class == 'cover' or v.class == 'patch' then return ph end
    if v.class ~= 'reply' then return nil end
    parent = v.parent
  end
  return nil
end

-- A series' patch whose title, blanks removed, is key: its index, or nil.
local titles
local function patch_with_title(sh, key)
  titles = titles or {}
  local t = titles[sh]
  if not t then
    t = {}
    local h = call('HGETALL', base .. 's:' .. sh)
    for i = 1, #h, 2 do
      local n = h[i]:match('^p(%d+)$')
      if n and tonumber(n) >= 1 then
        local m = mail(h[i + 1], MFN.title)
        local title = m and m.title
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
  local v = mail(ph, MFN.title) or {}
  local i, n = v.index, v.total
  if not i or i == '' then i, n = '1', '1' end
  if v.class == 'cover' then i = '0' end
  return i, '[' .. i .. '/' .. (n or '1') .. '] ' .. (v.title or '')
end

-- A reply: what it answers, its trailers, and what its notice applies,
-- decided now from what was recorded before it.
local function record_outcomes(midh, parent, NTR, NOTICE, rooth)
  if NTR ~= '' then count(acc.counters, 'trailers', tonumber(NTR)) end
  if NOTICE == '' then return end
  local lines = {}
  for l in (NOTICE .. '\n'):gmatch('([^\n]*)\n') do lines[#lines + 1] = l end
  local branch, nums = lines[1] or '', lines[2] or ''
  local att = attribute(parent)
  local am = att and mail(att, MFN.series)
  local ash = am and am.series or nil
  local applied, n = {}, 0
  if #lines > 2 then
    -- listed entries: matched by title in the attributed series, else in
    -- the most recent series of the thread holding that title
    write_indexes()
    local thread = call('ZREVRANGE', base .. 'r:' .. rooth, 0, -1)
    for k = 3, #lines do
      local i, nn, commit, title = lines[k]:match('^(%d+)\t(%d+)\t(%x*)\t(.*)$')
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
        applied[#applied + 1] = { sh or '', idx or '', commit, '[' .. i .. '/' .. nn .. '] ' .. title }
        n = n + 1
      end
    end
  elseif nums ~= '' then
    if ash then
      for num in nums:gmatch('%d+') do
        local ph = call('HGET', base .. 's:' .. ash, 'p' .. num)
        if ph and num ~= '0' then
          local _, l = label(ph)
          applied[#applied + 1] = { ash, num, '', l }
          n = n + 1
        end
      end
    end
  elseif att and ash then
    local i, l = label(att)
    applied[#applied + 1] = { ash, i, '', l }
    if i == '0' then
      n = n + (tonumber(call('HGET', base .. 's:' .. ash, 'total')) or 1)
    else
      n = n + 1
    end
  end
  acc.notices[#acc.notices + 1] = midh
  if n > 0 then count(acc.counters, 'applied', n) end
  return branch, cjson.encode(applied)
end

-- One mail: its PER values from ARGV[a] on (above).
local function record(a)
  local A = ARGV
  local rid, MID, CLASS, VER, IDX, TOT, NAME, ADDR, SUBJ, ROOT, PARENT, REVS, WHAT, NTR, NOTICE,
    midh, ridh, subjh, sh, titleh, rooth = cmsgpack.unpack(A[a])
  local what = WHATS[WHAT]
  if not what then
    what = { x = WHAT:find('x', 1, true) ~= nil, h = WHAT:find('h', 1, true) ~= nil,
             t = WHAT:find('t', 1, true) ~= nil }
    WHATS[WHAT] = what
  end
  local has_excerpt, has_headers = what.x, what.h
  titles = nil
  open_window(LIST, OPENED)
  if wkn ~= win then
    wk, wkn = base .. 'w:' .. win, win
    knames, ktroots, ktsubj, krnames = wk .. ':names', wk .. ':troots', wk .. ':tsubj',
      wk .. ':rnames'
  end
  if not seq then seq = tonumber(call('HGET', wk, 'mails')) or 0 end

  -- Duplicates: one count per Message-ID and list; a replayed record is a no-op.
  local mkey = base .. 'M:' .. midh
  local prev, kept, xkept = recorded(midh, mkey)
  -- the writer sent the header block and excerpt ahead (SET ... NX); not
  -- ours to keep
  if prev and has_headers and not kept then call('DEL', base .. 'H:' .. midh) end
  if prev and has_excerpt and not xkept then call('DEL', base .. 'X:' .. midh) end
  if prev then
    if prev == ridh or prev == rid then return 0 end
    if call('SET', base .. 'rid:' .. sha1hex(rid), '1', 'NX', 'EX', ttl) then
      count(acc.counters, 'duplicates')
      return 1
    end
    return 0
  end

  -- The chain head: computed once at the end of the batch (see the top)
  if not head0 then head0 = head or sha1hex(LIST) end
  newmids[#newmids + 1] = MID
  moved = true
  seq, gseq = seq + 1, gseq + 1
  acc.new = acc.new + 1
  local c = acc.counters
  c.mails = (c.mails or 0) + 1
  local ck = CLASSKEY[CLASS] or ('class:' .. CLASS)
  c[ck] = (c[ck] or 0) + 1
  if what.t then count(acc.counters, 'truncated') end

  if ADDR ~= '' then
    count(acc.contributors, ADDR)
    -- shown with the first name seen in the window
    if NAME ~= '' and not acc.names[ADDR] then
      acc.names[ADDR] = true
      call('HSETNX', knames, ADDR, ident_of(NAME, ADDR))
    end
    local dom = domain_of[ADDR]
    if dom == nil then
      dom = ADDR:match('@([^@]*)$') or false
      domain_of[ADDR] = dom
    end
    if dom and dom ~= '' then count(acc.domains, dom) end
  end

  -- The mail itself, for the digest.
  -- the values the script decides (locals: no table a mail)
  local resend, headers, nb, napp = false, false, false, false
  acc.mails[#acc.mails + 1] = midh

  local result = 2
  if CLASS == 'cover' or CLASS == 'patch' then
    -- Resends: a new Message-ID with a cover or patch subject seen before.
    local sk = base .. 'subj:' .. subjh
    if not call('SET', sk, '1', 'NX', 'EX', ttl) then
      count(acc.counters, 'resends')
      resend = '1'
      result = 3
    end
    -- Series: keyed by version and thread root; its hash and the window's
    -- index hash are read once a batch, written as they change.
    local skey = base .. 's:' .. sh
    local idx = IDX
    if idx == '' then idx = '1' end
    local sc = scache[sh]
    if not sc then
      local h = call('HGETALL', skey)
      local f = {}
      for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
      local w = {}
      for _, k in ipairs(call('HKEYS', wk .. ':s:' .. sh)) do w[k] = true end
      sc = { f = f, w = w, zadd = {} }
      scache[sh] = sc
      sorder[#sorder + 1] = sh
    end
    local cur = sc.f
    local set = {}
    local function put(k, v) set[#set + 1] = k; set[#set + 1] = v; cur[k] = v end
    if not cur.version then put('version', VER) end
    if not cur.root then put('root', ROOT) end
    if has_headers and result == 2 then
      local keep = true
      if CLASS == 'patch' and IDX ~= '' then
        local n = tonumber(IDX) or 1
        for k in pairs(sc.w) do
          local ki = tonumber(k)
          if ki and ki >= 1 and ki < n then keep = false; break end
        end
      end
      if keep then headers = true end
    end
    -- The head (DESIGN.md): the latest cover, else the latest patch 1 (or
    -- unnumbered patch), else the first of the lowest-numbered patches; the
    -- series' subject and identity are the head's.  hidx: the head's index.
    local n = CLASS == 'cover' and 0 or (tonumber(idx) or 1)
    local hidx = tonumber(cur.hidx)
    if not hidx and cur.subject then
      -- recorded before hidx was kept: its head was a cover, else taken as patch 1
      hidx = cur.cover and 0 or 1
    end
    if not hidx or n == 0 or (n == 1 and hidx ~= 0) or n < hidx then
      put('subject', SUBJ); put('ident', ident_of(NAME, ADDR)); put('hidx', fmt('%d', n))
    end
    if CLASS == 'cover' then put('cover', midh) end
    local total = tonumber(TOT) or 1
    if total > (tonumber(cur.total) or 0) then put('total', fmt('%d', total)) end
    -- outcomes: the series' mails across windows, its titles, its thread
    if not cur.first then put('first', fmt('%d', gseq)) end
    local first = cur.first
    if not cur['p' .. idx] then put('p' .. idx, midh) end
    if #set > 0 then call('HSET', skey, unpack(set)) end
    if not acc.series[sh] then
      acc.series[sh] = seq
      acc.sorder[#acc.sorder + 1] = sh
    end
    if not sc.w[idx] then
      sc.w[idx] = true
      call('HSET', wk .. ':s:' .. sh, idx, midh)
    end
    -- the title and thread indexes: once a batch per series and key
    if CLASS == 'cover' or idx == '1' then
      sc.zadd[base .. 't:' .. titleh] = first
    end
    sc.zadd[base .. 'r:' .. rooth] = first
    acc.posts[#acc.posts + 1] = midh
  elseif CLASS == 'reply' then
    local rh = rooth
    count(acc.threads, rh)
    if not acc.troots[rh] then
      acc.troots[rh] = true
      call('HSETNX', ktroots, rh, ROOT)
      call('HSETNX', ktsubj, rh, SUBJ)
    end
    for line in string.gmatch(REVS, '[^\n]+') do
      local a, n = line:match('^([^\t]*)\t(.*)$')
      if a and a ~= '' then
        count(acc.reviewers, a)
        if n ~= '' and not acc.rnames[a] then
          acc.rnames[a] = true
          call('HSETNX', krnames, a, n .. ' <' .. a .. '>')
        end
      end
    end
    nb, napp = record_outcomes(midh, PARENT, NTR, NOTICE, rooth)
  end
  if has_headers and not headers then call('DEL', base .. 'H:' .. midh) end
  local sq, gq = fmt('%d', seq), fmt('%d', gseq)
  local packed = A[a + 1] .. MPSTR[#win] .. win .. MPSTR[#sq] .. sq .. MPSTR[#gq] .. gq .. A[a + 2] ..
    (resend and MP_ONE or MP_FALSE) .. A[a + 3] ..
    ((nb or napp) and cmsgpack.pack(nb or false, napp or false) or MP_FALSE2) ..
    (has_excerpt and MP_TRUE or MP_FALSE) .. (headers and MP_TRUE or MP_FALSE)
  call('SET', mkey, packed, 'EX', ttl)
  return result
end

local results = {}
for a = FIRST, #ARGV - PER + 1, PER do
  moved = false
  local ok, res = pcall(record, a)
  newflags[#newflags + 1] = moved and '1' or '0'
  if ok then
    results[#results + 1] = res
  else
    results[#results + 1] = { err = type(res) == 'table' and res.err or tostring(res) }
  end
end

-- The series the batch touched: their expiry and indexes.
for _, sh in ipairs(sorder) do call('EXPIRE', base .. 's:' .. sh, ttl) end
write_indexes()

-- The chain head: the writer's, when it expected what came; else the
-- script's own.
if #newmids > 0 then
  if #CHAIN == 80 + #newflags and CHAIN:sub(1, 40) == head0 and
     CHAIN:sub(81) == table.concat(newflags) then
    head = CHAIN:sub(41, 80)
  else
    head = head0
    for _, m in ipairs(newmids) do head = sha1hex(head .. '\n' .. m) end
  end
end

-- The batch's sums, once.
if win then
  local wk = base .. 'w:' .. win
  if acc.new > 0 then
    call('HSET', meta, 'head', head, 'gseq', gseq)
    call('HSET', wk, 'to', head)
  end
  for k, n in pairs(acc.counters) do call('HINCRBY', wk, k, fmt('%d', n)) end
  local function zsum(key, tbl)
    for member, n in pairs(tbl) do call('ZINCRBY', key, fmt('%d', n), member) end
  end
  zsum(wk .. ':contributors', acc.contributors)
  zsum(wk .. ':domains', acc.domains)
  zsum(wk .. ':reviewers', acc.reviewers)
  zsum(wk .. ':threads', acc.threads)
  local function push(key, list)
    for i = 1, #list, 1000 do
      call('RPUSH', key, unpack(list, i, math.min(i + 999, #list)))
    end
  end
  push(wk .. ':mails', acc.mails)
  push(wk .. ':posts', acc.posts)
  push(wk .. ':notices', acc.notices)
  if #acc.sorder > 0 then
    local z = {}
    for _, sh in ipairs(acc.sorder) do z[#z + 1] = acc.series[sh]; z[#z + 1] = sh end
    for i = 1, #z, 1000 do
      call('ZADD', wk .. ':series', 'NX', unpack(z, i, math.min(i + 999, #z)))
    end
  end
end
results[#results + 1] = head or ''
return results
