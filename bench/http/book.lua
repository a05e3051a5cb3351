-- bench/http/book.lua: wrk script of bench/run.sh case 8.  Every request
-- POSTs one booking of a slot no other request books: wrk thread t walks its
-- own range first + t * stride, first + t * stride + 1, ...
--
--   wrk -t2 -c8 -d10s -s book.lua URL -- postgrest|design FIRST STRIDE [TOKEN]
--
-- postgrest: POST /rpc/medreserve_book {"slot_id", "patient_name"} with the
--            JWT in Authorization (the patient's email is its claim)
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
  n = 0
  if kind == "postgrest" then
    path = "/rpc/medreserve_book"
    headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[4] }
    body = '{"slot_id":%d,"patient_name":"Bench Patient"}'
  elseif kind == "design" then
    path = "/api/slots/book"
    headers = { ["Content-Type"] = "application/json" }
    body = '{"slotId":%d,"patientName":"Bench Patient","patientEmail":"bench@example.org"}'
  else
    error("book.lua: the first argument is postgrest or design, not " .. tostring(kind))
  end
end

function request()
  local slot = first + tid * stride + n
  n = n + 1
  return wrk.format("POST", path, headers, string.format(body, slot))
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
