#!/usr/bin/env bash
# End to end: pg_cron runs the sweep.  Schedules the job, leaves a hold to
# lapse, waits (bounded) for pg_cron to record a successful run after the
# lapse, and checks the hold is FAILED and its slot free.  Needs a running
# cluster with pg_cron preloaded and cron.database_name = $MR_CRON_DB.
source "$(dirname "$0")/../tools/lib.sh"

db=${MR_CRON_DB:?set MR_CRON_DB to cron.database_name}
wait_limit=${MR_CRON_WAIT:-100}
checks=0; failures=0
check() {  # check DESCRIPTION EXPECTED ACTUAL
    checks=$((checks + 1))
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: expected '$2', got '$3'"; failures=$((failures + 1)); fi
}
q() { mr_as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

mr_psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mr_psql -d "$db" <<'SQL'
CREATE EXTENSION pg_cron;
CREATE EXTENSION medreserve CASCADE;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, now() + interval '1 day');
SQL

job=$(q "SELECT medreserve_schedule_expiry()")
check "scheduling again replaces the job" "$job" "$(q "SELECT medreserve_schedule_expiry()")"
check "one job, the default schedule for pg_cron $(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")" \
      "1|* * * * *|CALL public.medreserve_run_expiry()" \
      "$(q "SELECT count(*) OVER (), schedule, command FROM cron.job WHERE jobname = 'medreserve-expire:' || current_database()")"

booking=$(q "SET medreserve.hold_duration = '1s'; SELECT id FROM medreserve_hold(1, 'Ann Lee')" | tail -1)
lapsed_at=$(q "SELECT expires_at FROM medreserve.bookings WHERE id = $booking")
echo "hold $booking lapses at $lapsed_at; waiting up to ${wait_limit}s for pg_cron to run the sweep"
start=$SECONDS; runs=0
while [ $((SECONDS - start)) -lt "$wait_limit" ]; do
    runs=$(q "SELECT count(*) FROM cron.job_run_details
              WHERE jobid = $job AND status = 'succeeded' AND start_time > '$lapsed_at'")
    [ "$runs" -gt 0 ] && break
    sleep 2
done
echo "waited $((SECONDS - start))s"
check "pg_cron recorded a successful sweep after the hold lapsed" "1" "$([ "$runs" -gt 0 ] && echo 1 || echo 0)"
check "the sweep marked the hold FAILED" "FAILED" "$(q "SELECT status FROM medreserve.bookings WHERE id = $booking")"
check "the slot is free again" "0" "$(q "SELECT count(*) FROM medreserve.booking_slots WHERE slot_id = 1")"
check "health sees the job and its successful run" "ok|true|succeeded" \
      "$(q "SELECT h->>'status', h->'expiry_job'->>'scheduled', h->'expiry_job'->>'last_run_status' FROM medreserve_health() h")"
check "unscheduling removes the job" "t" "$(q "SELECT medreserve_unschedule_expiry()")"
check "unscheduling again finds nothing" "f" "$(q "SELECT medreserve_unschedule_expiry()")"

mr_psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
echo "$((checks - failures)) passed, $failures failed"
[ $failures -eq 0 ]
