#!/usr/bin/env bash
# replica.sh: a streaming hot standby serves availability, refuses changes
# with 25006, sees the primary's bookings, and takes over cleanly.
#
# A throwaway primary (wal_level, max_wal_senders and the replication lines
# of pg_hba.conf are initdb's defaults, checked first), a standby made with
# pg_basebackup -R and started on another port.  On the standby:
# medreserve_available_slots, medreserve_list_doctors, medreserve_stats and
# medreserve_health work and agree with the primary; a booking, a hold and a
# cancellation made on the primary show up (polled, bounded); a hold that
# lapsed on the primary counts as free on the standby too; every changing
# API call is refused with SQLSTATE 25006 and a message naming the standby
# (the exact messages are printed), and leaves the standby as it was.
# Finally the standby is promoted: it books, refuses what the primary had
# booked, and hands out ids that clash with none of the primary's.
source "$(dirname "$0")/common.sh"

standby_data=""
cleanup() {
    [ -n "$standby_data" ] && mr_cluster_stop "$standby_data"
    mr_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mr_make_workdir
port=$(mr_free_port 55300)
mr_cluster_start "$port" "shared_preload_libraries = 'medreserve'"
sport=$(mr_free_port $((port + 1)))
echo "# replica: primary on port $port, standby on port $sport"
db=clinic

# what initdb -A trust gave us, which the standby needs
settings=$(q -d postgres -F ' ' -c "SELECT current_setting('wal_level'), current_setting('max_wal_senders'), current_setting('hot_standby')")
hba=$(q -d postgres -c "SELECT string_agg(type || ' ' || array_to_string(database, ',') || ' ' || coalesce(address, '') || ' ' || auth_method, '; ')
                          FROM pg_hba_file_rules WHERE 'replication' = ANY (database)")
if [[ $settings == "replica "* ]] && [ "$(cut -d' ' -f2 <<< "$settings")" -gt 0 ] && grep -q 'local replication  trust' <<< "$hba"; then
    report ok "the primary can stream: wal_level, max_wal_senders, hot_standby = $settings; pg_hba: $hba"
else
    report "not ok" "the primary can stream" "settings $settings; pg_hba: $hba"
fi

q -d postgres -c "CREATE DATABASE $db"
q -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION medreserve CASCADE;
SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology');
SELECT medreserve_add_doctor('Dr Ben Okafor', 'dermatology');
SELECT count(*) FROM medreserve_add_slots(1, date_trunc('hour', now()) + interval '1 day',
                                          date_trunc('hour', now()) + interval '1 day 105 minutes');
SELECT count(*) FROM medreserve_add_slots(2, date_trunc('hour', now()) + interval '1 day',
                                          date_trunc('hour', now()) + interval '1 day 105 minutes');
SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@example.org');
SELECT id FROM medreserve_hold(2, 'Bob Marsh', 'bob@example.org');
SQL

# the standby
standby_data=$MR_WORK/standby
if mr_as_pg "$PGBIN/pg_basebackup" -h "$MR_WORK" -p "$PGPORT" -U postgres -D "$standby_data" -R -X stream -c fast 2> "$MR_WORK/basebackup.err"; then
    report ok "pg_basebackup -R made a standby"
else
    report "not ok" "pg_basebackup -R made a standby" "$(head -3 "$MR_WORK/basebackup.err")"
    finish; exit 1
fi
printf '%s\n' "port = $sport" "hot_standby = on" | mr_as_pg tee -a "$standby_data/postgresql.conf" >/dev/null
if mr_as_pg "$PGBIN/pg_ctl" -D "$standby_data" -l "$MR_WORK/standby.log" -w -t 60 start >/dev/null; then
    report ok "the standby started on port $sport"
else
    report "not ok" "the standby started"; tail -20 "$MR_WORK/standby.log"; finish; exit 1
fi
qs() { q -p "$sport" "$@"; }

# poll_standby SQL WANT: wait (up to 30 s) until the standby answers WANT
poll_standby() {
    local i got=""
    for ((i = 0; i < 300; i++)); do
        got=$(qs -d $db -c "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && { echo "$((i / 10)).$((i % 10))"; return 0; }
        sleep 0.1
    done
    echo "gave up after 30 s with '$got'"
    return 1
}

# replay_caught_up: the standby has replayed everything the primary wrote so far
replay_caught_up() {
    local lsn; lsn=$(q -d postgres -c "SELECT pg_current_wal_lsn()")
    poll_standby "SELECT pg_last_wal_replay_lsn() >= '$lsn'" t >/dev/null
}

if [ "$(qs -d postgres -c "SELECT pg_is_in_recovery()")" = t ] \
   && [ "$(q -d postgres -c "SELECT state FROM pg_stat_replication")" = streaming ]; then
    report ok "the standby is in recovery and streaming from the primary"
else
    report "not ok" "the standby is in recovery and streaming from the primary"
fi
replay_caught_up || true

# Read-only API on the standby: same answers as on the primary.
reads_sql() {
    cat <<'SQL'
SELECT 'available doctor 1: ' || coalesce(string_agg(id::text, ',' ORDER BY start_time), '') FROM medreserve_available_slots(1);
SELECT 'available doctor 2: ' || coalesce(string_agg(id::text, ',' ORDER BY start_time), '') FROM medreserve_available_slots(2, now(), now() + interval '30 days');
SELECT 'doctors: ' || string_agg(name, ',') FROM medreserve_list_doctors();
SELECT 'dermatology: ' || string_agg(name, ',') FROM medreserve_list_doctors('Dermatology');
SELECT 'stats: ' || doctors || ' doctors, ' || future_slots || ' slots, ' || free_future_slots || ' free, '
       || pending_bookings || ' pending, ' || confirmed_bookings || ' confirmed' FROM medreserve_stats();
SELECT 'health: ' || (medreserve_health() ->> 'overdue_holds');
SELECT 'bookings: ' || string_agg(id || ' ' || status, ', ' ORDER BY id) FROM medreserve.bookings;
SQL
}
reads_sql | q -d $db > "$MR_WORK/reads.primary" 2>&1 || true
reads_sql | qs -d $db > "$MR_WORK/reads.standby" 2>&1 || true
if diff -q "$MR_WORK/reads.primary" "$MR_WORK/reads.standby" >/dev/null && ! grep -q ERROR "$MR_WORK/reads.standby"; then
    report ok "on the standby available_slots, list_doctors, stats and health work and agree with the primary"
    sed 's/^/#   /' "$MR_WORK/reads.standby"
else
    report "not ok" "on the standby available_slots, list_doctors, stats and health work and agree with the primary" \
        "$(diff "$MR_WORK/reads.primary" "$MR_WORK/reads.standby" | tr '\n' ' ')"
fi

# Changes made on the primary reach the standby.
booked=$(q -d $db -c "SELECT id FROM medreserve_book(ARRAY[4, 3], 'Cy Park', 'cy@example.org')")
if t=$(poll_standby "SELECT status || ' ' || (SELECT string_agg(slot_id::text, ',' ORDER BY slot_id) FROM medreserve.booking_slots WHERE booking_id = $booked)
                     FROM medreserve.bookings WHERE id = $booked" "CONFIRMED 3,4"); then
    report ok "a booking made on the primary (id $booked) is visible on the standby after ${t} s"
else
    report "not ok" "a booking made on the primary is visible on the standby" "$t"
fi
if [ "$(qs -d $db -c "SELECT count(*) FROM medreserve_available_slots(1) WHERE id IN (3, 4)")" = 0 ]; then
    report ok "its slots are no longer available on the standby"
else
    report "not ok" "its slots are no longer available on the standby"
fi
q -d $db -c "SELECT medreserve_cancel($booked)" >/dev/null
if t=$(poll_standby "SELECT count(*) FROM medreserve_available_slots(1) WHERE id IN (3, 4)" 2); then
    report ok "a cancellation on the primary frees the slots on the standby after ${t} s"
else
    report "not ok" "a cancellation on the primary frees the slots on the standby" "$t"
fi
# a hold that lapses on the primary (never swept) is free on the standby too
q -d $db -c "SET medreserve.hold_duration = '1s'" -c "SELECT medreserve_hold(5, 'Di Holt')" >/dev/null
replay_caught_up || true
sleep 1.2
if [ "$(qs -d $db -c "SELECT count(*) FROM medreserve_available_slots(1) WHERE id = 5")" = 1 ] \
   && [ "$(qs -d $db -c "SELECT status FROM medreserve.bookings WHERE slot_id = 5")" = PENDING ]; then
    report ok "a hold that lapsed on the primary (still PENDING, unswept) counts as free on the standby"
else
    report "not ok" "a hold that lapsed on the primary counts as free on the standby"
fi

# Every changing call is refused on the standby with 25006.
before=$(qs -d $db -c "SELECT md5(string_agg(b::text, '' ORDER BY id)) FROM medreserve.bookings b")
declare -A refusals=(
    [book]="SELECT medreserve_book(6, 'Eve Standby')"
    [book_many]="SELECT medreserve_book(ARRAY[6, 7], 'Eve Standby')"
    [hold]="SELECT medreserve_hold(6, 'Eve Standby')"
    [hold_many]="SELECT medreserve_hold(ARRAY[6, 7], 'Eve Standby')"
    [confirm]="SELECT medreserve_confirm(2)"
    [cancel]="SELECT medreserve_cancel(1)"
    [expire]="SELECT medreserve_expire()"
    [book_missing_slot]="SELECT medreserve_book(4242, 'Eve Standby')"
    [add_doctor]="SELECT medreserve_add_doctor('Dr Standby')"
    [add_slots]="SELECT medreserve_add_slots(1, now() + interval '9 days', now() + interval '9 days')"
    [stats_reset]="SELECT medreserve_stats_reset()"
)
for name in book book_many hold hold_many confirm cancel expire book_missing_slot add_doctor add_slots stats_reset; do
    out=$(mr_as_pg "$PGBIN/psql" -X -q -At -p "$sport" -d $db -c '\set VERBOSITY verbose' -c "${refusals[$name]}" 2>&1 || true)
    err=$(grep -m1 'ERROR:' <<< "$out" | sed 's/^.*ERROR:  //' || true)
    case $name in
    add_doctor|add_slots|stats_reset)
        # PL/pgSQL and SQL functions: PostgreSQL's own refusal, or none at all
        if [[ $err == 25006:* ]]; then
            report ok "on the standby $name is refused: $err"
        elif [ "$name" = stats_reset ] && [ -z "$err" ]; then
            echo "# on the standby stats_reset succeeds: the counters live in the standby's own shared memory"
        else
            report "not ok" "on the standby $name is refused with 25006" "$out"
        fi ;;
    *)
        if [[ $err == "25006: cannot "*" on a standby server" ]]; then
            report ok "on the standby $name is refused: $err"
        elif [[ $err == 25006:* ]]; then
            report ok "on the standby $name is refused with 25006 (PostgreSQL's own message): $err"
        else
            report "not ok" "on the standby $name is refused with 25006" "$out"
        fi ;;
    esac
done
hint=$(mr_as_pg "$PGBIN/psql" -X -q -At -p "$sport" -d $db -c "SELECT medreserve_book(6, 'Eve Standby')" 2>&1 | grep -m1 HINT || true)
echo "# the refusal's ${hint:-(no hint)}"
after=$(qs -d $db -c "SELECT md5(string_agg(b::text, '' ORDER BY id)) FROM medreserve.bookings b")
[ "$before" = "$after" ] && report ok "the refused calls left the standby's bookings as they were" \
    || report "not ok" "the refused calls left the standby's bookings as they were"
# a read-only transaction on the primary is refused the same way
out=$(mr_as_pg "$PGBIN/psql" -X -q -At -d $db -c '\set VERBOSITY verbose' \
      -c "BEGIN READ ONLY" -c "SELECT medreserve_book(6, 'Eve ReadOnly')" 2>&1 || true)
err=$(grep -m1 'ERROR:' <<< "$out" | sed 's/^.*ERROR:  //' || true)
[[ $err == 25006:* ]] && report ok "in a read-only transaction on the primary, book is refused: $err" \
    || report "not ok" "in a read-only transaction on the primary, book is refused with 25006" "$out"

# Fail-over: promote the standby; it books on, with no id clash.
replay_caught_up || true
primary_max=$(q -d $db -c "SELECT max(id) FROM medreserve.bookings")
q -d $db -c "SELECT medreserve_book(8, 'Late On Primary')" >/dev/null    # the old primary goes on a little
replay_caught_up || true
mr_cluster_stop                                          # the primary is gone
if mr_as_pg "$PGBIN/pg_ctl" -D "$standby_data" -w -t 60 promote >/dev/null \
   && [ "$(qs -d postgres -c "SELECT pg_is_in_recovery()")" = f ]; then
    report ok "the standby was promoted"
else
    report "not ok" "the standby was promoted"
fi
report_rows "promoted: " -p "$sport" -d $db <<SQL
$(outcome_sql)
SELECT pg_temp.try('the slot booked on the primary before fail-over refuses with 23505',
                   \$\$SELECT status FROM medreserve_book(8, 'After Failover')\$\$, '23505: slot 8 is already booked');
SELECT pg_temp.try('the confirmed booking of the primary refuses with 23505',
                   \$\$SELECT status FROM medreserve_book(1, 'After Failover')\$\$, '23505: slot 1 is already booked');
SELECT pg_temp.try('a free slot can be booked',
                   \$\$SELECT status FROM medreserve_book(ARRAY[9, 10], 'After Failover')\$\$, 'CONFIRMED');
SELECT pg_temp.try('the new booking''s id is after every id the primary used',
                   \$\$SELECT (max(id) > $primary_max + 1)::text FROM medreserve.bookings WHERE patient_name = 'After Failover'\$\$, 'true');
SELECT pg_temp.try('the lapsed hold is released by a booking',
                   \$\$SELECT status FROM medreserve_book(5, 'After Failover')\$\$, 'CONFIRMED');
SELECT pg_temp.try('the live hold can be confirmed',
                   \$\$SELECT status FROM medreserve_confirm(2)\$\$, 'CONFIRMED');
SELECT CASE WHEN ok THEN 'ok' ELSE 'not ok' END, step, CASE WHEN ok THEN '' ELSE detail END FROM outcome;
SQL
check_invariants "promoted: " -p "$sport" -d $db
check "the standby's log has no crash" log_has_no_crash "$MR_WORK/standby.log"
finish
