-- Event ingestion: POST /v1/widget/events, 10 events per request, as navigator.sendBeacon
-- sends them (text/plain). Ids look like UUIDs and are unique: run nonce, thread, counter.
-- Mix per request: 7 impressions, 1 click, 1 dismiss, 1 reaction, on 10 distinct
-- announcements, for identified users rotating over all of them.
-- args: publishable key, number of users, run nonce (8 hex digits),
--       path of a generated Lua file returning the announcement ids.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local key, users, nonce, announcements, n
local path
local reactions = { "positive", "neutral", "negative" }

function init(args)
  key, users, nonce = args[1], tonumber(args[2]), args[3]
  announcements = dofile(args[4])
  path = "/v1/widget/events?key=" .. key
  n = tid * math.floor(users / 2)
end

local function event(id, kind, announcement, at, extra)
  return string.format('{"id":"%s","type":"%s","announcement_id":"%s","occurred_at":"%s"%s}',
    id, kind, announcement, at, extra)
end

function request()
  n = n + 1
  local at = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
  local first = (n * 7) % #announcements
  local parts = {}
  for k = 0, 9 do
    local id = string.format("%s-%04x-4000-8000-%012x", nonce, tid, n * 10 + k)
    local announcement = announcements[(first + k) % #announcements + 1]
    if k < 7 then
      parts[k + 1] = event(id, "impression", announcement, at, ',"surface":"feed"')
    elseif k == 7 then
      parts[k + 1] = event(id, "click", announcement, at, "")
    elseif k == 8 then
      parts[k + 1] = event(id, "dismiss", announcement, at, "")
    else
      parts[k + 1] = event(id, "reaction", announcement, at,
        string.format(',"value":"%s"', reactions[n % 3 + 1]))
    end
  end
  local body = string.format('{"user_id":"user-%05d","events":[%s]}',
    n % users + 1, table.concat(parts, ","))
  return wrk.format("POST", path, { ["Content-Type"] = "text/plain;charset=UTF-8" }, body)
end

function response(status, headers, body)
  count_status(status)
  if status == 202 then
    accepted = accepted + (tonumber(body:match('"accepted":%s*(%d+)')) or 0)
  end
end
