-- mailfmt.lua - the mail as Redis keeps it, for the scripts that read it.
--
-- A mail is M:<sha1(mid)>, a run of MessagePack values in MF's order
-- (record.lua, "The mail", says what each is and what packing leaves
-- out).  The Makefile puts this file in front of record.lua, mails.lua and
-- outcomes.lua when it builds them, so the three read a mail alike; a test
-- that runs one of them by itself does the same (tests/integration/pdtest.py).
--
--   local m = unpack_mail(s)        every value, by name
--   local m = unpack_mail(s, n)     the first n only (n >= MFN.root)
local MF = { 'rid', 'class', 'parent', 'series', 'index', 'total', 'subject', 'title', 'mid',
             'addr', 'name', 'author', 'root', 'window', 'seq', 'gseq', 'version', 'time',
             'flags', 'prefixes', 'resend', 'tr', 'nb', 'napp', 'excerpt', 'headers' }
local MFN = {}
for i, f in ipairs(MF) do MFN[f] = i end

-- "Name <addr>", "<addr>" without a name, "" without an address.
local function ident_of(name, addr)
  if not addr or addr == '' then return '' end
  if name and name ~= '' then return name .. ' <' .. addr .. '>' end
  return '<' .. addr .. '>'
end

-- The values of the packed mail s (up to value n, all when nil) by name,
-- false ones left out, and what packing left out put back: the title
-- (packed as its length when it ends the subject), the author (true: the
-- identity), the root (true: the mail itself), the parent (true: the
-- root); ident is the identity.
local function unpack_mail(s, n)
  local v
  if n then
    v = { cmsgpack.unpack_limit(s, n) }
    table.remove(v, 1)   -- unpack_limit's first value: where it stopped
  else
    v = { cmsgpack.unpack(s) }
  end
  local m = {}
  for i = 1, n or #MF do
    if v[i] ~= false then m[MF[i]] = v[i] end
  end
  if type(m.title) == 'number' then m.title = m.subject:sub(-m.title) end
  m.ident = ident_of(m.name, m.addr)
  if m.author == true then m.author = m.ident end
  if m.root == true then m.root = m.mid end
  if m.parent == true then m.parent = m.root end
  return m
end

