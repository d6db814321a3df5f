-- mails.lua - fields of recorded mails, for the digest (store.c).  Read only.
--
-- Called as EVAL <script> 0 <base> <nfields> <field>... <sha1(mid)>...,
-- with <base> as in record.lua (whose header documents the keys).  Returns,
-- per sha1 in order, the values of the fields asked for (nil where the mail
-- or the field is missing), as HMGET would from a hash.  A mail is M:<h> as
-- record.lua packs it, else the hash m:<h> of a mail recorded before the
-- packed form; its header block is H:<h> and its excerpt X:<h> (or in M:
-- itself, in mails recorded by earlier versions).  Keep the decoding in step with
-- record.lua's mail().
local base, nf = ARGV[1], tonumber(ARGV[2])
local fields = {}
for i = 1, nf do fields[i] = ARGV[2 + i] end
local out = {}
for a = 3 + nf, #ARGV do
  local h = ARGV[a]
  local s = redis.call('GET', base .. 'M:' .. h)
  local row = {}
  if s then
    local m = unpack_mail(s)
    -- the texts kept beside the mail, read only when asked for
    for _, t in ipairs({ { 'excerpt', 'X:' }, { 'headers', 'H:' } }) do
      local f = t[1]
      if m[f] == true then
        m[f] = false
        for i = 1, nf do
          if fields[i] == f then m[f] = redis.call('GET', base .. t[2] .. h) or false end
        end
      end
    end
    for i = 1, nf do row[i] = m[fields[i]] or false end
  else
    row = redis.call('HMGET', base .. 'm:' .. h, unpack(fields))
  end
  out[#out + 1] = row
end
return out
