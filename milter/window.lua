-- window.lua - a list's windows: the flush lock, closing the open window,
-- marking a closed window's digest sent.  One script, atomic per call.
--
-- Called as EVAL <script> 1 <base>meta <op> <base> <token> <args...>, where
-- <base> is "<KeyPrefix>{<list>}:" as in record.lua (whose header documents
-- the keys a mail writes).  The keys kept here, all under <base>:
--   lock          string: the token of the flush holding the list, with a TTL
--   pending       zset window -> window: closed, digest not sent yet
--   w:<N>         hash, besides the counters: state (closed|sent), closed
--                 (unix time), sent (unix time), message_id
-- A window is open while meta.window names it.  Closing sets its "to" to
-- the chain head, records it as pending and opens N+1 from that head, in one
-- step, so a mail recorded during a flush lands in exactly one window.
--
-- Ops (every op but lock, steal checks that <token> still holds the lock):
--   lock <ttl-ms>            -> 1 taken, else the holder's token
--   steal <ttl-ms> <old>     -> 1 when the lock still held <old> and is now ours, else 0
--   refresh <ttl-ms>         -> 1 still ours (TTL renewed), 0 lost
--   unlock                   -> 1 released, 0 not ours
--   close <list> <now> <mode>
--                            -> { closed window number or 0, pending windows... }
--                               mode 0: close the open window if it holds mail;
--                               1: close it even empty; -: close nothing.
--   sent <window> <now> <message-id> <retention-seconds>
--                            -> 1; the window's keys then expire with the retention
local meta = KEYS[1]
local op, base, token = ARGV[1], ARGV[2], ARGV[3]
local lock = base .. 'lock'

if op == 'lock' then
  if redis.call('SET', lock, token, 'NX', 'PX', tonumber(ARGV[4])) then return 1 end
  return redis.call('GET', lock) or ''
elseif op == 'steal' then
  if redis.call('GET', lock) ~= ARGV[5] then return 0 end
  redis.call('SET', lock, token, 'PX', tonumber(ARGV[4]))
  return 1
end

if redis.call('GET', lock) ~= token then
  if op == 'refresh' or op == 'unlock' then return 0 end
  return redis.error_reply('LOST the flush lock of this list was lost')
end

if op == 'refresh' then
  redis.call('PEXPIRE', lock, tonumber(ARGV[4]))
  return 1
elseif op == 'unlock' then
  redis.call('DEL', lock)
  return 1
elseif op == 'close' then
  local list, now, force = ARGV[4], ARGV[5], ARGV[6] == '1'
  local closing = ARGV[6] ~= '-'
  local pending = base .. 'pending'
  local closed = 0
  local win = redis.call('HGET', meta, 'window')
  if not win and force then
    -- nothing recorded yet: the first window, as record.lua would open it
    -- (layout 2 too: else record.lua takes the list for one of the older
    -- layout, and looks for its m:/mid: keys for twice the retention)
    local h0 = redis.sha1hex(list)
    redis.call('HSET', meta, 'window', '1', 'head', h0, 'list', list, 'layout', '2')
    redis.call('HSET', base .. 'w:1', 'from', h0, 'to', h0, 'opened', now)
    win = '1'
  end
  if win and closing then
    local wk = base .. 'w:' .. win
    local mails = tonumber(redis.call('HGET', wk, 'mails')) or 0
    if mails > 0 or force then
      local head = redis.call('HGET', meta, 'head') or redis.sha1hex(list)
      redis.call('HSET', wk, 'to', head, 'closed', now, 'state', 'closed')
      redis.call('ZADD', pending, tonumber(win), win)
      local nw = tostring(tonumber(win) + 1)
      redis.call('HSET', meta, 'window', nw)
      redis.call('HSET', base .. 'w:' .. nw, 'from', head, 'to', head, 'opened', now)
      closed = tonumber(win)
    end
  end
  local out = { closed }
  for _, w in ipairs(redis.call('ZRANGE', pending, 0, -1)) do out[#out + 1] = tonumber(w) end
  return out
elseif op == 'sent' then
  local win, now, msgid, ttl = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
  local wk = base .. 'w:' .. win
  redis.call('HSET', wk, 'state', 'sent', 'sent', now, 'message_id', msgid)
  redis.call('ZREM', base .. 'pending', win)
  for _, sh in ipairs(redis.call('ZRANGE', wk .. ':series', 0, -1)) do
    redis.call('EXPIRE', wk .. ':s:' .. sh, ttl)
  end
  for _, k in ipairs({ '', ':contributors', ':names', ':domains', ':reviewers', ':rnames',
                       ':threads', ':troots', ':tsubj', ':mails', ':posts', ':series',
                       ':notices' }) do
    redis.call('EXPIRE', wk .. k, ttl)
  end
  return 1
end
return redis.error_reply('ERR unknown window op ' .. tostring(op))
