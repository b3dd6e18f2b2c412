-- Polite clients (bench/overload.py): after a 503, wait Retry-After x a random factor of
-- 0.5-1.5 (jitter), then send the refused batch again, same body and same event ids.
--
-- wrk calls delay() before each request of a connection, without saying which one, in
-- the order the answers came in (an answer, then its connection's next request): a
-- per-thread queue pairs each answer with the next delay() (0 after anything but a 503).
-- A connection's first request (and one after a reconnect) has no answer before it; the
-- queue is empty then at the start, and overload.py reports socket errors, after which
-- the pairing may be off by one. A refused batch goes out again only once its wait is
-- over, by whichever connection asks first after that (in practice the one that waited).
-- args: overload_common.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "overload_common.lua")

local waits, first, last = {}, 1, 0 -- per answer, in order: how long its connection waits
local due = {} -- refused batch -> when (now_ms()) it may be sent again

function refused(n, headers)
  local wait = retry_after_ms(headers) * (0.5 + math.random())
  due[n] = now_ms() + wait
  last = last + 1
  waits[last] = wait
end

function answered(status)
  if status ~= 503 then
    last = last + 1
    waits[last] = 0
  end
end

function delay()
  if first > last then
    return 0
  end
  local wait = waits[first]
  waits[first] = nil
  first = first + 1
  return math.floor(wait)
end

function request()
  local now, best = now_ms(), nil
  for n, at in pairs(due) do
    if at <= now + 1 and (best == nil or at < due[best]) then
      best = n
    end
  end
  if best ~= nil then
    due[best] = nil
    return send(best)
  end
  return send(new_batch())
end
