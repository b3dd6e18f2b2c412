-- Resend at once (bench/overload.py): a batch answered 503 goes out again, same body and
-- same event ids, as this thread's very next request, without waiting.
--
-- wrk's request() does not say which connection asks, so the refused batches of a thread
-- wait in one queue and the thread's next request takes the oldest: the connection whose
-- answer was the 503 usually asks next, and when another one does, it sends the batch at
-- the same moment. The load is the same: no request ever waits. args: overload_common.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "overload_common.lua")

local queue, first, last = {}, 1, 0

function refused(n, headers)
  last = last + 1
  queue[last] = n
end

function answered(status) end

function request()
  if first <= last then
    local n = queue[first]
    queue[first] = nil
    first = first + 1
    return send(n)
  end
  return send(new_batch())
end
