-- bench/wrk/request.lua: the request bench/run.sh has wrk send (a GET with
-- the -H headers unless the settings say otherwise), and the p99.9 it
-- reports (done, at the end). Settings come from the
-- environment (so that no secret is ever on wrk's command line):
--
--   BENCH_WRK_METHOD        request method (default GET)
--   BENCH_WRK_BODY          request body (default none)
--   BENCH_WRK_CONTENT_TYPE  Content-Type, when there is a body
--                           (default application/x-www-form-urlencoded)
--   BENCH_WRK_TOKENS        a file with one credential per line
--   BENCH_WRK_TOKEN_HEADER  the header that carries it (default Authorization)
--   BENCH_WRK_TOKEN_PREFIX  what goes before it (default "Bearer ")
--   BENCH_WRK_THREADS       wrk's -t, to split the list between threads
--   BENCH_WRK_STATE         a file where a run leaves its position in the list
--
-- With one credential the request is static: wrk formats it once, exactly
-- as with -H, so the load generator costs the same as for a plain GET. With
-- several, each thread cycles through its share of the list (thread k takes
-- lines k, k+T, k+2T...), every request with the next one; the requests are
-- formatted once, in init, so that a request costs wrk one table lookup.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

wrk.method = env("BENCH_WRK_METHOD", "GET")
local body = os.getenv("BENCH_WRK_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = env("BENCH_WRK_CONTENT_TYPE", "application/x-www-form-urlencoded")
end

local header = env("BENCH_WRK_TOKEN_HEADER", "Authorization")
local prefix = env("BENCH_WRK_TOKEN_PREFIX", "Bearer ")
local tokens = {}
local save_position -- set when there is a position to keep between runs
local file = os.getenv("BENCH_WRK_TOKENS")
if file ~= nil and file ~= "" then
  local f = assert(io.open(file, "r"), "cannot open BENCH_WRK_TOKENS")
  for line in f:lines() do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  f:close()
  assert(#tokens > 0, "BENCH_WRK_TOKENS is empty")
end

if #tokens == 1 then
  wrk.headers[header] = prefix .. tokens[1]
elseif #tokens > 1 then
  local nthreads = tonumber(env("BENCH_WRK_THREADS", "1"))
  local threads = {}
  local reqs, n = {}, 0
  pos = 0 -- global: done() reads it from each thread

  -- BENCH_WRK_STATE keeps the position between runs, so that the next run
  -- goes on where this one stopped instead of replaying the tokens it just
  -- sent (which the gateway's caches would still hold).
  local state = os.getenv("BENCH_WRK_STATE")
  local start = 0
  if state ~= nil and state ~= "" then
    local f = io.open(state, "r")
    if f ~= nil then
      start = tonumber(f:read("*a")) or 0
      f:close()
    end
  end

  function setup(thread)
    thread:set("tid", #threads)
    threads[#threads + 1] = thread
  end

  function init(args)
    local me = tid or 0
    local h = {}
    for k, v in pairs(wrk.headers) do h[k] = v end
    for j = me + 1, #tokens, nthreads do
      h[header] = prefix .. tokens[j]
      n = n + 1
      reqs[n] = wrk.format(nil, nil, h)
    end
    tokens = nil
    assert(n > 0, "fewer tokens than threads")
    pos = (start or 0) % n
  end

  function request()
    pos = pos + 1
    if pos > n then pos = 1 end
    return reqs[pos]
  end

  save_position = function()
    if state == nil or state == "" then return end
    local low
    for _, t in ipairs(threads) do
      local p = t:get("pos")
      if low == nil or p < low then low = p end
    end
    local f = assert(io.open(state, "w"))
    f:write(tostring(low or 0))
    f:close()
  end
end

-- done prints the tail wrk's --latency leaves out (it stops at 99%): the
-- 99.9th and 99.99th percentiles, in microseconds, for bench/run.sh, which
-- runs every target with this script for that reason. A script that sets
-- no request() keeps wrk's static request, so it costs nothing per request.
function done(summary, latency, requests)
  io.write(string.format("Latency 99.9%%: %dus\nLatency 99.99%%: %dus\n",
    latency:percentile(99.9), latency:percentile(99.99)))
  if save_position ~= nil then save_position() end
end
