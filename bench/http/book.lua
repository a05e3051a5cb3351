-- bench/http/book.lua: wrk script of bench/run.sh case 8.  Every request
-- POSTs one booking of a slot no other request books: wrk thread t walks its
-- own range first + t * stride, first + t * stride + 1, ...  Thread t's
-- n-th request is of patient k = (n * THREADS + t) mod PATIENTS
-- (patient-<k>@bench.example), so the requests in flight, in all threads,
-- are of different patients, and each patient books a few slots in a run,
-- with the same token each time, as a browser would.
--
--   wrk -t2 -c8 -d10s -s book.lua URL -- postgrest|design FIRST STRIDE TOKENS_FILE THREADS
--
-- TOKENS_FILE: the patients' JWTs, line k+1 for patient k (tokens.js)
-- postgrest: POST /rpc/medreserve_book {"slot_id", "patient_name"} with the
--            patient's JWT in Authorization (the email is its claim)
-- design:    POST /api/slots/book {"slotId", "patientName", "patientEmail"}
-- At the end it prints one line for bench/http/lib.sh:
--   MRBENCH requests=.. duration_us=.. non2xx=.. socket_errors=.. p50_us=.. p99_us=.. max_used=..
-- (non2xx: wrk's count of answers with a status >= 400; max_used: the most
-- slots one thread took, which must stay below STRIDE).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  kind = args[1]
  first = tonumber(args[2])
  stride = tonumber(args[3])
  threads = tonumber(args[5])
  n = 0
  tokens = {}
  for line in io.lines(args[4]) do tokens[#tokens + 1] = line end
  if #tokens == 0 then error("book.lua: no tokens in " .. tostring(args[4])) end
  if kind == "postgrest" then
    path = "/rpc/medreserve_book"
    body = '{"slot_id":%d,"patient_name":"Bench Patient %d"}'
  elseif kind == "design" then
    path = "/api/slots/book"
    body = '{"slotId":%d,"patientName":"Bench Patient %d","patientEmail":"patient-%d@bench.example"}'
  else
    error("book.lua: the first argument is postgrest or design, not " .. tostring(kind))
  end
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  local slot = first + tid * stride + n
  local k = (n * threads + tid) % #tokens
  n = n + 1
  if kind == "postgrest" then
    headers["Authorization"] = "Bearer " .. tokens[k + 1]
  end
  return wrk.format("POST", path, headers, string.format(body, slot, k, k))
end

function done(summary, latency, requests)
  local max_used = 0
  for _, t in ipairs(threads) do
    local used = t:get("n") or 0
    if used > max_used then max_used = used end
  end
  local e = summary.errors
  io.write(string.format(
    "MRBENCH requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d max_used=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), max_used))
end
