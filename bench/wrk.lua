-- The request generator and reporter of bench/load.sh.
--
--   wrk -s bench/wrk.lua http://127.0.0.1:18080 -- PREFIX keys N
--       cycles through the N paths PREFIX0 .. PREFIX<N-1> (requests built once, in init)
--   wrk -s bench/wrk.lua http://127.0.0.1:18080 -- PREFIX unique SALT
--       a new path on every request: PREFIX<SALT>-<thread>-<sequence>
--
-- When the run ends, prints one machine-readable line:
--   RESULT requests=… duration_us=… errors=… non2xx=… timeouts=… p50_us=… p99_us=… mean_us=…

local thread_count = 0

function setup(thread)
   thread:set("thread_id", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   prefix = args[1] or "/"
   mode = args[2] or "keys"
   host = wrk.headers["Host"]
   if mode == "keys" then
      local n = tonumber(args[3] or "1")
      requests = {}
      for i = 0, n - 1 do
         requests[i + 1] = wrk.format("GET", prefix .. i)
      end
      count = n
      next_index = 0
   elseif mode == "unique" then
      head = "GET " .. prefix .. (args[3] or "0") .. "-" .. (thread_id or 0) .. "-"
      tail = " HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"
      sequence = 0
   else
      error("mode must be keys or unique, got " .. tostring(mode))
   end
end

function request()
   if mode == "keys" then
      next_index = next_index % count + 1
      return requests[next_index]
   end
   sequence = sequence + 1
   return head .. sequence .. tail
end

function done(summary, latency, _)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d errors=%d non2xx=%d timeouts=%d p50_us=%d p99_us=%d mean_us=%.1f\n",
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.mean))
end
