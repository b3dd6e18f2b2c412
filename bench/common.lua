-- Shared by every bench script (loaded with dofile from the script's own directory).
--
-- setup() numbers the threads (global `tid` in each thread, 0-based); response() counters
-- are per thread and summed in done(), which prints one machine-readable line:
--   BENCH_RESULT {"requests": ..., "statuses": {"200": n, ...}, "latency_us": {...}, ...}
-- run.py parses that line; wrk's own --latency report is printed above it.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}
accepted = 0

function count_status(status)
  statuses[status] = (statuses[status] or 0) + 1
end

local function json_object(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = string.format('"%s": %s', tostring(k), tostring(v))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local totals, acked = {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      totals[status] = (totals[status] or 0) + n
    end
    acked = acked + (thread:get("accepted") or 0)
  end
  local lat = {
    p50 = latency:percentile(50), p75 = latency:percentile(75),
    p90 = latency:percentile(90), p99 = latency:percentile(99),
    p999 = latency:percentile(99.9), mean = latency.mean, max = latency.max,
  }
  local e = summary.errors
  io.write("BENCH_RESULT {",
    string.format('"requests": %d, "duration_us": %d, "bytes": %d, ',
      summary.requests, summary.duration, summary.bytes),
    string.format('"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ',
      e.connect, e.read, e.write, e.status, e.timeout),
    '"statuses": ', json_object(totals), ", ",
    string.format('"accepted": %d, ', acked),
    '"latency_us": ', json_object(lat), "}\n")
end
