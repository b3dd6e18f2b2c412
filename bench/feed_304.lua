-- Feed 304: each request carries the If-None-Match its user got before, so nothing changed.
-- args: publishable key, path of a generated Lua file returning {{user_id, etag}, ...},
--       User-Agent (the one the ETags were fetched with: the feed depends on it).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local key, pairs_, n, agent

function init(args)
  key = args[1]
  pairs_ = dofile(args[2])
  agent = args[3]
  n = tid * math.floor(#pairs_ / 2)
end

function request()
  n = n + 1
  local pair = pairs_[n % #pairs_ + 1]
  local path = "/v1/widget/announcements?key=" .. key .. "&user_id=" .. pair[1]
  return wrk.format("GET", path, { ["If-None-Match"] = pair[2], ["User-Agent"] = agent })
end

function response(status, headers, body)
  count_status(status)
end
