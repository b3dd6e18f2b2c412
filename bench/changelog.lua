-- Public changelog: GET one path, optionally revalidating with an ETag (then every answer
-- is a 304), as a browser or a feed reader does.
-- args: path, If-None-Match value ("-" for none), Accept-Language, User-Agent (the widget
-- feed's ETag depends on the device it names).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local path, headers

function init(args)
  path = args[1]
  headers = { ["Accept-Language"] = args[3], ["User-Agent"] = args[4] }
  if args[2] ~= "-" then
    headers["If-None-Match"] = args[2]
  end
end

function request()
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  count_status(status)
end
