-- Feed 200: GET /v1/widget/announcements for identified users, rotating over all of them.
-- args: publishable key, number of users (ids are user-00001 ... user-NNNNN), User-Agent.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local key, users, n, headers

function init(args)
  key, users = args[1], tonumber(args[2])
  headers = { ["User-Agent"] = args[3] }
  n = tid * math.floor(users / 2)  -- threads start half-way apart
end

function request()
  n = n + 1
  local path = string.format("/v1/widget/announcements?key=%s&user_id=user-%05d",
    key, n % users + 1)
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  count_status(status)
end
