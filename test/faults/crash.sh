#!/usr/bin/env bash
# crash.sh: what a client was told is committed survives a crash of the
# whole server, and crash recovery leaves no double booking behind.
#
# On a throwaway cluster of its own, each round:
#   1. adds 5 doctors with 60 future slots each (300 slots);
#   2. starts 16 psql clients, each running a few thousand random calls on
#      those slots: book one slot, book 2-3 slots, hold (then mostly
#      confirm), hold for 1 second and abandon, cancel what it just got, run
#      the sweep, list free slots.  Every change runs in an explicit
#      transaction and the client logs "KIND id slots" only after its COMMIT
#      returned (gen_client.awk);
#   3. mid-run (once at least 150 new bookings exist, plus a random pause)
#      stops the postmaster (SIGSTOP, so it forks nothing more), lists its
#      children, and SIGKILLs every child and the postmaster by pid: the
#      whole server dies at once, as in a power cut of the processes (the OS
#      page cache survives: this is not an OS crash);
#   4. restarts with pg_ctl start, which runs crash recovery;
#   5. checks, over the logs of this and every earlier round: every booking
#      a client saw committed exists, in the state the client last saw
#      (live unless the client itself cancelled it); no id was handed out
#      twice; live bookings cover exactly the slots asked for; at most one
#      booking per client and crash committed without its client hearing of
#      it; the table invariants; amcheck on every btree index; and that the
#      recovered server still books and still refuses a taken slot.
# Three rounds, so later crashes also recover what earlier ones left.
#
# Tunables: MR_CRASH_CLIENTS (16), MR_CRASH_ROUNDS (3), MR_CRASH_OPS (3000
# calls per client), MR_CRASH_SEED (random; printed), MR_CRASH_CONF (more
# postgresql.conf lines, e.g. to try synchronous_commit = off: its window of
# loss is the last partial WAL page, so a process crash seldom hits it).  To
# prove the checks can fail, MR_CRASH_AFTER_SQL runs after each restart,
# before the checks (e.g. "DELETE FROM medreserve.bookings WHERE id = 7").
source "$(dirname "$0")/common.sh"

clients=${MR_CRASH_CLIENTS:-16}
rounds=${MR_CRASH_ROUNDS:-3}
ops=${MR_CRASH_OPS:-3000}
seed=${MR_CRASH_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed
doctors=5; per_doctor=60
db=clinic

client_pids=()
cleanup() {
    local p
    for p in "${client_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    mr_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mr_make_workdir
port=$(mr_free_port 55100)
echo "# crash: $clients clients, $rounds rounds, up to $ops calls per client, seed $seed, port $port"
mr_cluster_start "$port" "shared_preload_libraries = 'medreserve'" \
    "log_line_prefix = '%m [%p] '" "log_min_error_statement = panic" "${MR_CRASH_CONF:-}"
log=$MR_WORK/server.log
q -d postgres -c "CREATE DATABASE $db"
q -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION medreserve CASCADE"

run_round() {
    local round=$1 start=$SECONDS out
    mr_say "round $round"

    # the round's doctors and slots: per_doctor consecutive ids per doctor
    local first_doctor first_slot nslots
    read -r first_doctor first_slot nslots < <(q -F ' ' -d $db <<SQL
WITH d AS (
    INSERT INTO medreserve.doctors (name, specialization)
    SELECT 'Dr Crash $round.' || g, 'crash' FROM generate_series(1, $doctors) g RETURNING id),
s AS (
    INSERT INTO medreserve.slots (doctor_id, start_time)
    SELECT d.id, date_trunc('hour', now()) + interval '1 day' + $round * interval '1 day'
                 + k * interval '15 minutes'
      FROM d, generate_series(0, $per_doctor - 1) k ORDER BY d.id, k RETURNING id, doctor_id)
SELECT min(doctor_id), min(id), count(*) FROM s
 HAVING max(id) - min(id) + 1 = count(*);
SQL
    )
    if [ "${nslots:-0}" != $((doctors * per_doctor)) ]; then
        report "not ok" "round $round: $((doctors * per_doctor)) slots with consecutive ids were created"
        return
    fi
    # one more slot, after the clients' range, for the check after recovery
    local spare
    spare=$(q -d $db -c "INSERT INTO medreserve.slots (doctor_id, start_time)
                         VALUES ($first_doctor, date_trunc('hour', now()) + interval '300 days') RETURNING id")

    local before; before=$(q -d $db -c "SELECT count(*) FROM medreserve.bookings")
    local n f
    client_pids=()
    for ((n = 1; n <= clients; n++)); do
        f=$MR_WORK/r${round}c$n
        awk -v seed=$((seed * 1000 + round * 100 + n)) -v client=$n -v round="$round" -v ops="$ops" \
            -v first_doctor="$first_doctor" -v first_slot="$first_slot" \
            -v doctors=$doctors -v per_doctor=$per_doctor \
            -f "$MR_FAULTS_DIR/gen_client.awk" > "$f.sql"
        ( rc=0; mr_as_pg "$PGBIN/psql" -X -q -At -d $db -f "$f.sql" > "$f.out" 2> "$f.err" || rc=$?
          echo $rc > "$f.rc" ) &
        client_pids+=($!)
    done

    # let the load build up, then crash mid-run
    local made=0 i
    for ((i = 0; i < 300; i++)); do
        made=$(( $(q -d $db -c "SELECT count(*) FROM medreserve.bookings") - before ))
        [ $made -ge 150 ] && break
        sleep 0.1
    done
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
    local pm kids
    pm=$(head -1 "$MR_DATA/postmaster.pid")
    kill -STOP "$pm"                    # no new children from here on
    kids=$(children_of "$pm")
    # the children first, so none sees its postmaster gone and exits on its own
    # shellcheck disable=SC2086
    kill -KILL $kids "$pm"
    echo "# SIGKILL to postmaster $pm and its $(wc -w <<< "$kids") children after $((SECONDS - start)) s, $made+ new bookings"
    # shellcheck disable=SC2086
    if wait_gone "$pm" $kids; then
        report ok "round $round: the postmaster and all its children are dead"
    else
        report "not ok" "round $round: the postmaster and all its children are dead"
    fi

    local p cut=0
    for p in "${client_pids[@]}"; do wait "$p" || true; done
    client_pids=()
    for ((n = 1; n <= clients; n++)); do
        [ "$(cat "$MR_WORK/r${round}c$n.rc")" = 2 ] && cut=$((cut + 1))
    done
    if [ $cut -ge 1 ]; then
        report ok "round $round: the crash cut off $cut of $clients clients mid-run"
    else
        report "not ok" "round $round: the crash cut off clients mid-run" "no client lost its connection"
    fi

    # restart: crash recovery
    # (pg_ctl warns that "another server might be running": the stale
    # postmaster.pid of the killed server, which the new postmaster replaces)
    local t0=$SECONDS
    if out=$(mr_as_pg "$PGBIN/pg_ctl" -D "$MR_DATA" -l "$log" -w -t 120 start 2>&1); then
        report ok "round $round: the server restarted ($((SECONDS - t0)) s)"
    else
        report "not ok" "round $round: the server restarted" "$out"; tail -20 "$log"; return
    fi
    local recoveries
    recoveries=$(grep -c 'database system was not properly shut down; automatic recovery in progress' "$log" || true)
    if [ "$recoveries" = "$round" ] && [ "$(head -1 "$MR_DATA/postmaster.pid")" != "$pm" ]; then
        report ok "round $round: it ran crash recovery ($(grep 'redo done at' "$log" | tail -1 | sed 's/.*LOG: *//'))"
    else
        report "not ok" "round $round: it ran crash recovery" "$recoveries recoveries logged after $round crashes"
    fi

    if [ -n "${MR_CRASH_AFTER_SQL:-}" ]; then
        echo "# MR_CRASH_AFTER_SQL: $MR_CRASH_AFTER_SQL"
        q -d $db -c "$MR_CRASH_AFTER_SQL" >/dev/null || true
    fi

    # what the clients were told, over all rounds so far
    local r
    for ((r = 1; r <= round; r++)); do
        for ((n = 1; n <= clients; n++)); do
            awk -v r=$r -v c=$n '{ printf "%d\t%d\t%d\t%s\t%s\t{%s}\n", r, c, NR, $1, $2, ($3 == "" ? "" : $3) }' \
                "$MR_WORK/r${r}c$n.out"
        done
    done > "$MR_WORK/seen.tsv"
    echo "# $(awk -v r="$round" '$1 == r' "$MR_WORK/seen.tsv" | cut -f4 | sort | uniq -c | awk '{ printf "%s %s, ", $1, $2 }')lines logged by the clients this round"

    report_rows "round $round: " -d $db <<SQL
CREATE TEMP TABLE seen (round int, client int, line int, kind text, id int, slots int[]);
\copy seen FROM '$MR_WORK/seen.tsv'
CREATE TEMP VIEW claim AS
    SELECT s.round, s.client, s.kind, s.id, s.slots,
           EXISTS (SELECT FROM seen c WHERE c.id = s.id AND c.kind = 'CANCEL') AS cancelled,
           EXISTS (SELECT FROM seen c WHERE c.id = s.id AND c.kind = 'TRYCANCEL') AS tried_cancel,
           EXISTS (SELECT FROM seen c WHERE c.id = s.id AND c.kind = 'CONFIRM') AS confirmed,
           b.id IS NOT NULL AS present, b.status, b.expires_at, b.slot_id,
           b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.expires_at > now()) AS live,
           (SELECT array_agg(bs.slot_id ORDER BY bs.slot_id) FROM medreserve.booking_slots bs
             WHERE bs.booking_id = s.id) AS has,
           (SELECT array_agg(x ORDER BY x) FROM unnest(s.slots) x) AS asked
      FROM seen s LEFT JOIN medreserve.bookings b ON b.id = s.id
     WHERE s.kind IN ('BOOK', 'HOLD', 'ABANDON');
SELECT CASE WHEN bad = 0 THEN 'ok' ELSE 'not ok' END, descr, coalesce(detail, '')
  FROM (
    SELECT 1 AS nr, format('all %s bookings clients saw committed are there', count(*)) AS descr,
           count(*) FILTER (WHERE NOT present) AS bad,
           string_agg(format('r%sc%s %s %s', round, client, kind, id), ', ') FILTER (WHERE NOT present) AS detail
      FROM claim
    UNION ALL
    SELECT 2, 'no booking id was handed to two clients', count(*), string_agg(id::text, ', ')
      FROM (SELECT id FROM claim GROUP BY id HAVING count(*) > 1) d
    UNION ALL
    SELECT 3, format('the %s bookings clients saw cancelled are CANCELLED', count(*)),
           count(*) FILTER (WHERE status IS DISTINCT FROM 'CANCELLED'),
           string_agg(format('%s is %s', id, status), ', ') FILTER (WHERE status IS DISTINCT FROM 'CANCELLED')
      FROM claim WHERE cancelled
    UNION ALL
    SELECT 4, format('the %s bookings booked or confirmed (and not cancelled) are CONFIRMED', count(*)),
           count(*) FILTER (WHERE status IS DISTINCT FROM 'CONFIRMED'),
           string_agg(format('%s %s is %s', kind, id, status), ', ') FILTER (WHERE status IS DISTINCT FROM 'CONFIRMED')
      FROM claim WHERE NOT tried_cancel AND (kind = 'BOOK' OR (kind = 'HOLD' AND confirmed))
    UNION ALL
    SELECT 5, format('the %s holds neither confirmed nor cancelled are live', count(*)),
           count(*) FILTER (WHERE NOT coalesce(live, false)),
           string_agg(format('%s is %s until %s', id, status, expires_at), ', ') FILTER (WHERE NOT coalesce(live, false))
      FROM claim WHERE kind = 'HOLD' AND NOT confirmed AND NOT tried_cancel
    UNION ALL
    SELECT 6, format('the %s bookings whose cancel was cut off are CANCELLED or live', count(*)),
           count(*) FILTER (WHERE NOT (status = 'CANCELLED' OR coalesce(live, false))),
           string_agg(format('%s is %s', id, status), ', ') FILTER (WHERE NOT (status = 'CANCELLED' OR coalesce(live, false)))
      FROM claim WHERE tried_cancel AND NOT cancelled
    UNION ALL
    SELECT 7, format('the %s abandoned 1-second holds are PENDING or FAILED', count(*)),
           count(*) FILTER (WHERE status NOT IN ('PENDING', 'FAILED') OR status IS NULL),
           string_agg(format('%s is %s', id, status), ', ') FILTER (WHERE status NOT IN ('PENDING', 'FAILED') OR status IS NULL)
      FROM claim WHERE kind = 'ABANDON'
    UNION ALL
    SELECT 8, 'every live booking covers exactly the slots its client asked for, slot_id the earliest',
           count(*), string_agg(format('%s asked %s has %s (slot_id %s)', id, asked, has, slot_id), ', ')
      FROM claim WHERE live AND (has IS DISTINCT FROM asked OR slot_id <> asked[1])
    UNION ALL
    SELECT 9, 'at most one booking per client and crash committed without its client hearing of it',
           count(*), string_agg(format('%s: %s', patient_name, ids), ', ')
      FROM (SELECT b.patient_name, string_agg(b.id::text, ' ') AS ids
              FROM medreserve.bookings b
             WHERE b.patient_name LIKE 'crash r% c%'
               AND NOT EXISTS (SELECT FROM seen s WHERE s.id = b.id)
             GROUP BY b.patient_name HAVING count(*) > 1) d
  ) c ORDER BY nr;
SELECT '# ' || count(*) || ' bookings were committed unheard of by their clients'
  FROM medreserve.bookings b
 WHERE b.patient_name LIKE 'crash r% c%' AND NOT EXISTS (SELECT FROM seen s WHERE s.id = b.id);
SQL
    check_invariants "round $round: " -d $db
    amcheck_sql | report_rows "round $round: " -d $db

    # the recovered server still books, and still refuses a taken slot
    local taken
    taken=$(q -d $db -c "SELECT bs.slot_id FROM medreserve.booking_slots bs
                           JOIN medreserve.bookings b ON b.id = bs.booking_id
                          WHERE b.status = 'CONFIRMED' ORDER BY bs.slot_id DESC LIMIT 1")
    out=$(q -d $db -c "SELECT status FROM medreserve_book($spare, 'after crash $round')" 2>&1 || true)
    if [ "$out" = CONFIRMED ]; then
        report ok "round $round: after recovery a free slot ($spare) can be booked"
    else
        report "not ok" "round $round: after recovery a free slot can be booked" "slot $spare: $out"
    fi
    out=$(mr_as_pg "$PGBIN/psql" -X -q -At -d $db -v VERBOSITY=verbose \
          -c "\\set VERBOSITY verbose" -c "SELECT medreserve_book($taken, 'after crash $round')" 2>&1 || true)
    if grep -q "ERROR:  23505: slot $taken is already booked" <<< "$out"; then
        report ok "round $round: after recovery a booked slot ($taken) is refused with 23505"
    else
        report "not ok" "round $round: after recovery a booked slot is refused with 23505" "$out"
    fi
    echo "# round $round took $((SECONDS - start)) s"
}

for ((round = 1; round <= rounds; round++)); do
    run_round "$round"
done
echo "# seed $seed (MR_CRASH_SEED=$seed repeats the client scripts; the kill moment varies)"
finish
