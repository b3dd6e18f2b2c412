-- Shared by overload_resend.lua and overload_polite.lua (bench/overload.py): batches of
-- events whose answers are logged one line each, so that overload.py can check every
-- acknowledged event in the database, and every refused one.
--
-- args: publishable key, announcement id, phase nonce (8 hex digits), events per batch,
--       directory for the per-thread logs.
--
-- Event ids: <nonce>-<thread, 4 hex>-4<event, 3 hex>-8000-<batch, 12 hex>. Each request
-- carries X-Request-Id <nonce>.<thread>.<batch>.<attempt>, which the server echoes on every
-- answer (503s included): that is how an answer is matched to its batch, since wrk's
-- response() does not say which connection it came from. A refused batch is sent again
-- with the same body (same event ids), as a new attempt.
--
-- Per-thread log lines (<directory>/thread-<tid>.log):
--   S <batch> <attempt>                                    a request was written
--   R <batch> <attempt> <status> <ms> <accepted> <duplicates> <rejected> <closed>
-- where <ms> is the time from request() to response(), on CLOCK_MONOTONIC.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } overload_timespec;
int clock_gettime(int clock_id, overload_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("overload_timespec")

function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local key, announcement, nonce, size, log
local path
local made = 0      -- batches this thread has made
local bodies = {}   -- batch -> JSON body, until an answer settles the batch
local attempts = {} -- batch -> attempts so far
local started = {}  -- request id -> now_ms() when request() built it
local reactions = { "positive", "neutral", "negative" }

function init(args)
  key, announcement, nonce, size = args[1], args[2], args[3], tonumber(args[4])
  path = "/v1/widget/events?key=" .. key
  log = assert(io.open(string.format("%s/thread-%d.log", args[5], tid), "w"))
  log:setvbuf("full", 65536)
  math.randomseed(tonumber(nonce, 16) + tid)
end

local function event(n, k, at)
  local id = string.format("%s-%04x-4%03x-8000-%012x", nonce, tid, k, n)
  local kind, extra = "impression", ',"surface":"feed"'
  if k % 10 == 7 then
    kind, extra = "click", ""
  elseif k % 10 == 8 then
    kind, extra = "dismiss", ""
  elseif k % 10 == 9 then
    kind, extra = "reaction", string.format(',"value":"%s"', reactions[n % 3 + 1])
  end
  return string.format('{"id":"%s","type":"%s","announcement_id":"%s","occurred_at":"%s"%s}',
    id, kind, announcement, at, extra)
end

-- A new batch: its number.
function new_batch()
  made = made + 1
  local at = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
  local parts = {}
  for k = 1, size do
    parts[k] = event(made, k, at)
  end
  bodies[made] = string.format('{"user_id":"load-%d-%03d","events":[%s]}',
    tid, made % 1000, table.concat(parts, ","))
  attempts[made] = 0
  return made
end

-- The request that sends batch n (a new attempt of it).
function send(n)
  local attempt = attempts[n] + 1
  attempts[n] = attempt
  local id = string.format("%s.%d.%d.%d", nonce, tid, n, attempt)
  log:write("S ", n, " ", attempt, "\n")
  started[id] = now_ms()
  return wrk.format("POST", path, {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["X-Request-Id"] = id,
  }, bodies[n])
end

local function header(headers, name)
  return headers[name] or headers[name:lower()]
end

-- Each script defines refused(n, headers) (a 503 for batch n) and answered(status)
-- (called after every answer, refused ones included).
function response(status, headers, body)
  count_status(status)
  local id = header(headers, "X-Request-Id")
  local began = id and started[id]
  if not began then
    log:write("R 0 0 ", status, " 0 0 0 0 0\n") -- not a request of ours: counted apart
    answered(status)
    return
  end
  started[id] = nil
  local n, attempt = id:match("%.(%d+)%.(%d+)$")
  n = tonumber(n)
  local ok, duplicates, rejected = 0, 0, 0
  if status == 202 then
    ok = tonumber(body:match('"accepted":%s*(%d+)')) or 0
    duplicates = tonumber(body:match('"duplicates":%s*(%d+)')) or 0
    rejected = select(2, body:gsub('"index"', ""))
    accepted = accepted + ok
  end
  local closed = (header(headers, "Connection") or ""):lower() == "close" and 1 or 0
  log:write(string.format("R %d %s %d %.3f %d %d %d %d\n",
    n, attempt, status, now_ms() - began, ok, duplicates, rejected, closed))
  if status == 503 then
    refused(n, headers)
  else
    bodies[n], attempts[n] = nil, nil -- settled: acknowledged, or refused for good (4xx)
  end
  answered(status)
end

function retry_after_ms(headers)
  return (tonumber(header(headers, "Retry-After")) or 1) * 1000
end
