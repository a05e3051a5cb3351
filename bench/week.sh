#!/usr/bin/env bash
# bench/week.sh: the figures of issue 12 (a clinic's week), written into
# bench/RESULTS.md between the markers "<!-- week:begin -->" and
# "<!-- week:end -->" (appended when missing; bench/run.sh leaves them be
# only if it keeps the file's tail, so rerun this after it).
#
#   PG_CONFIG=/path/to/pg_config bash bench/week.sh
#
# medreserve must already be installed for that PG_CONFIG (a private copy
# made by tools/private-pg.sh is right: this script installs nothing).  It
# starts its own throwaway cluster (fsync on, defaults but for
# shared_preload_libraries) on BENCH_PORT (57700), and measures:
#
#   1 generation: 200 doctors, each Mon-Fri 09:00-12:30 and 13:30-17:00 in
#     Berlin, 20-minute slots, the default 8-week horizon; BENCH_RUNS (3)
#     runs from empty, each followed by a second run that must make nothing
#   2 search: the first 20 free cardiology slots with 30% of slots booked,
#     when the 200 are all the doctors and when 800 doctors of 4 other
#     specializations (and their slots) are added: the plan medreserve_find_slots()
#     runs (auto_explain, with the index entries it read), and pgbench
#     (BENCH_SECONDS, 10 s, 2 clients) against a per-doctor
#     medreserve_available_slots() merge and a plain query over all slots.
#
# Invariants are checked (slot counts, idempotence, no overlap, medreserve_verify());
# timings are reported, never asserted.  Exit status non-zero on a failed check.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
port=${BENCH_PORT:-57700}
runs=${BENCH_RUNS:-3}
seconds=${BENCH_SECONDS:-10}
out=${BENCH_OUT:-$top/bench/RESULTS.md}

scratch=$(mktemp -d /tmp/medreserve-week-bench.XXXXXX)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$scratch"
stop() { as_pg "$bindir/pg_ctl" -D "$scratch/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$scratch"; }
trap stop EXIT

as_pg "$bindir/initdb" -D "$scratch/data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$scratch/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$scratch'
shared_preload_libraries = 'medreserve'
timezone = 'UTC'
CONF
as_pg "$bindir/pg_ctl" -D "$scratch/data" -l "$scratch/log" -w start >/dev/null
q() { as_pg "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$scratch" -p "$port" -d postgres "$@"; }
failures=0
check() {  # check DESCRIPTION EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: expected '$2', got '$3'"; failures=$((failures + 1)); fi
}
ms() { sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1; }

q -c 'CREATE EXTENSION medreserve CASCADE' 2>/dev/null
q <<'SQL'
INSERT INTO medreserve.doctors (name, specialization, time_zone)
SELECT format('Dr. Week %s', d), 'cardiology', 'Europe/Berlin' FROM generate_series(1, 200) AS d;
-- the README's week, straight into the table (the API would regenerate per block)
INSERT INTO medreserve.working_hours (doctor_id, weekday, starts, ends, slot_minutes, valid_from)
SELECT d.id, wd, b.starts, b.ends, 20, CURRENT_DATE
  FROM medreserve.doctors d, generate_series(1, 5) AS wd,
       (VALUES ('09:00'::time, '12:30'::time), ('13:30', '17:00')) AS b(starts, ends);
SQL

echo "# generation: 200 doctors x 8 weeks"
gen_ms=() again_ms=()
for r in $(seq 1 "$runs"); do
    q -c 'TRUNCATE medreserve.slots CASCADE' -c 'CHECKPOINT' 2>/dev/null
    t=$(q -c '\timing on' -c 'SELECT medreserve_generate_slots()' | tee "$scratch/gen")
    made=$(head -1 "$scratch/gen"); gen_ms+=("$(echo "$t" | ms)")
    t=$(q -c '\timing on' -c 'SELECT medreserve_generate_slots()' | tee "$scratch/gen")
    again=$(head -1 "$scratch/gen"); again_ms+=("$(echo "$t" | ms)")
    expected=$(q -c "SELECT count(*) * 20 FROM generate_series(CURRENT_DATE, CURRENT_DATE + 56, '1 day') AS g
                     WHERE extract(isodow FROM g) <= 5" )
    # slots of today that have already begun are not made
    today=$(q -c "SELECT count(*) FROM medreserve.template_slots(NULL, CURRENT_DATE - 1, CURRENT_DATE + 56) t
                  WHERE t.start_time <= now()")
    check "run $r made the week's slots" "$((expected * 200 - today))" "$made"
    check "run $r: a second run makes nothing" 0 "$again"
    echo "run $r: $made slots in ${gen_ms[-1]} ms; second run ${again_ms[-1]} ms"
done
slots=$made
# the floor: the same rows inserted into the empty table by a bare INSERT ... SELECT
floor_ms=()
for r in $(seq 1 "$runs"); do
    t=$(q -c 'CREATE TEMP TABLE wanted AS SELECT * FROM medreserve.template_slots(NULL, CURRENT_DATE - 1, CURRENT_DATE + 56) WHERE start_time > now()' \
          -c 'TRUNCATE medreserve.slots CASCADE' -c 'CHECKPOINT' -c '\timing on' \
          -c 'INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes, generated)
              SELECT doctor_id, start_time, duration_minutes, true FROM wanted ORDER BY 1, 2' 2>/dev/null)
    floor_ms+=("$(echo "$t" | ms)")
    echo "run $r: bare insert of the same rows ${floor_ms[-1]} ms"
done
check "the bare insert made as many slots" "$slots" "$(q -c 'SELECT count(*) FROM medreserve.slots')"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gen_median=$(median "${gen_ms[@]}"); again_median=$(median "${again_ms[@]}"); floor_median=$(median "${floor_ms[@]}")
check "no two slots of a doctor overlap" 0 "$(q -c "SELECT count(*) FROM medreserve.slots a JOIN medreserve.slots b
    ON a.doctor_id = b.doctor_id AND a.id < b.id
   AND medreserve.slot_period(a.start_time, a.duration_minutes) && medreserve.slot_period(b.start_time, b.duration_minutes)")"

# 30% of the slots booked
q <<'SQL'
WITH b AS (
    INSERT INTO medreserve.bookings (slot_id, patient_name, status)
    SELECT id, 'Bench patient', 'CONFIRMED' FROM medreserve.slots WHERE hashint4(id) % 10 IN (0, 3, 6)
    RETURNING id, slot_id)
INSERT INTO medreserve.booking_slots (booking_id, slot_id) SELECT id, slot_id FROM b;
VACUUM ANALYZE;
SQL

plan() {  # plan ARGS: the plan find_slots runs inside, with index rows read
    q -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
      -c "SET auto_explain.log_analyze = on" -c "SET auto_explain.log_buffers = on" \
      -c "SET auto_explain.log_timing = off" -c "SET auto_explain.log_nested_statements = on" \
      -c "SET auto_explain.log_level = notice" -c "SET client_min_messages = notice" \
      -c "SELECT count(*) FROM medreserve_find_slots($1)" 2>&1 >/dev/null \
      | awk '/Query Text: SELECT s.id, d.id/ { q = 1; next }
             q && /^NOTICE/ { exit }
             q && /cost=/ { p = 1 }
             p { sub(/^  /, ""); if (length($0) > 160) $0 = substr($0, 1, 157) "..."; print }' || true
}
bench() {  # bench SCRIPT: tps with 2 clients
    as_pg "$bindir/pgbench" -n -h "$scratch" -p "$port" -c 2 -j 2 -M prepared -T "$seconds" \
        -f "$top/bench/scripts/$1.sql" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | cut -d. -f1
}
same() {  # the three queries find the same 20 slots
    q -c "SELECT array(SELECT slot_id FROM medreserve_find_slots('cardiology', max_results => 20))
             = array(SELECT s.id FROM medreserve.doctors d
                      CROSS JOIN LATERAL medreserve_available_slots(d.id, now(), now() + interval '14 days') s
                      WHERE d.specialization = 'cardiology' ORDER BY s.start_time, s.id LIMIT 20)"
}

echo "# search, 200 doctors"
plan200=$(plan "'cardiology', max_results => 20")
check "find_slots agrees with per-doctor availability (200 doctors)" t "$(same)"
tps200=("$(bench find_medreserve)" "$(bench find_per_doctor)" "$(bench find_naive)")

echo "# search, 200 of 1000 doctors"
q <<'SQL'
INSERT INTO medreserve.doctors (name, specialization, time_zone)
SELECT format('Dr. Other %s', d),
       (ARRAY['dermatology', 'neurology', 'paediatrics', 'radiology'])[1 + d % 4], 'Europe/Berlin'
  FROM generate_series(1, 800) AS d;
INSERT INTO medreserve.working_hours (doctor_id, weekday, starts, ends, slot_minutes, valid_from)
SELECT d.id, wd, b.starts, b.ends, 20, CURRENT_DATE
  FROM medreserve.doctors d, generate_series(1, 5) AS wd,
       (VALUES ('09:00'::time, '12:30'::time), ('13:30', '17:00')) AS b(starts, ends)
 WHERE d.specialization <> 'cardiology';
SELECT medreserve_generate_slots();
WITH b AS (
    INSERT INTO medreserve.bookings (slot_id, patient_name, status)
    SELECT s.id, 'Bench patient', 'CONFIRMED' FROM medreserve.slots s
     WHERE hashint4(s.id) % 10 IN (0, 3, 6)
       AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs WHERE bs.slot_id = s.id)
       AND s.doctor_id > 200
    RETURNING id, slot_id)
INSERT INTO medreserve.booking_slots (booking_id, slot_id) SELECT id, slot_id FROM b;
VACUUM ANALYZE;
SQL
plan1000=$(plan "'cardiology', max_results => 20")
plan_one=$(plan "doctor_ids => '{500}', max_results => 20")
check "find_slots agrees with per-doctor availability (1000 doctors)" t "$(same)"
tps1000=("$(bench find_medreserve)" "$(bench find_per_doctor)" "$(bench find_naive)")
check "medreserve_verify() finds nothing" "" "$(q -c 'SELECT problem FROM medreserve_verify()')"
all_slots=$(q -c 'SELECT count(*) FROM medreserve.slots')

server=$(q -c 'SELECT version()')
cpus=$(nproc)
{
echo "<!-- week:begin -->"
echo "## A clinic's week: generation and search (issue 12)"
echo
echo "Generated by \`bash bench/week.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $cpus CPUs,"
echo "$server; medreserve $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'); a throwaway cluster with default settings."
echo
echo "### Generation: 200 doctors x 8 weeks"
echo
echo "Each doctor works Monday to Friday, 09:00-12:30 and 13:30-17:00 Europe/Berlin, in"
echo "20-minute slots; \`medreserve_generate_slots()\` makes the default horizon (8 weeks)"
echo "from empty, in one set-based INSERT ... SELECT."
echo
echo "| | median of $runs runs | all runs (ms) |"
echo "|---|---|---|"
echo "| first run: $slots slots | $gen_median ms | ${gen_ms[*]} |"
echo "| second run: nothing to make | $again_median ms | ${again_ms[*]} |"
echo "| floor: the same rows by a bare INSERT ... SELECT into the empty table | $floor_median ms | ${floor_ms[*]} |"
echo
echo "The floor is what the table itself costs per row (the exclusion constraint's GiST index,"
echo "three btree indexes, the foreign key): generation adds to it computing the template"
echo "(one row per block and day, each distinct wall-clock time converted once) and the checks"
echo "against time off and existing slots.  The load average is printed below: other work on"
echo "this 2-core machine slows every figure alike."
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "### Search: the first 20 free cardiology slots"
echo
echo "30% of the slots are booked. Transactions per second with 2 clients, $seconds s each"
echo "(\`bench/scripts/find_*.sql\`): \`medreserve_find_slots('cardiology', max_results => 20)\`,"
echo "the per-doctor merge a client had to write before (\`medreserve_available_slots()\` for each"
echo "cardiologist), and a plain query over all slots (LEFT JOIN to live bookings, sort, limit)."
echo
echo "| doctors (cardiologists) | slots | find_slots | per-doctor availability | plain query |"
echo "|---|---|---|---|---|"
echo "| 200 (200) | $slots | ${tps200[0]} | ${tps200[1]} | ${tps200[2]} |"
echo "| 1000 (200) | $all_slots | ${tps1000[0]} | ${tps1000[1]} | ${tps1000[2]} |"
echo
echo "The plan \`medreserve_find_slots()\` runs (auto_explain, nested statements, no timing): the"
echo "rows of the index scan on slots are the index entries read for 20 results."
echo
echo "200 doctors, all cardiologists (the walk in start order, no doctor filter):"
echo
echo '```'
echo "$plan200"
echo '```'
echo
echo "200 cardiologists among 1000 doctors (the walk, keeping the cardiologists' slots). Caveat:"
echo "here every doctor works the same hours and the cardiologists' slots, made first, have the"
echo "lowest ids, so at each start time the walk meets them first and skips almost nothing; with"
echo "ids interleaved it reads about 20 / (0.7 x 200/1000) = 143 entries (a fifth of the doctors, 70% free):"
echo
echo '```'
echo "$plan1000"
echo '```'
echo
echo "One doctor among 1000 (per doctor, from \`slots_doctor_id_start_time_idx\`):"
echo
echo '```'
echo "$plan_one"
echo '```'
echo "<!-- week:end -->"
} > "$scratch/section.md"

if grep -q '<!-- week:begin -->' "$out" 2>/dev/null; then
    awk -v f="$scratch/section.md" '
        /<!-- week:begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- week:end -->/ { skip = 0; next }
        !skip' "$out" > "$scratch/out.md"
    cp "$scratch/out.md" "$out"
else
    { echo; cat "$scratch/section.md"; } >> "$out"
fi
echo "# wrote the section into $out; $failures failed"
[ "$failures" -eq 0 ]
