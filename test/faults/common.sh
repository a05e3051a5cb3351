# Shared helpers of the fault tests in test/faults/ (sourced, not run).
#
# Each fault script starts and stops its own throwaway cluster(s) through
# tools/lib.sh, prints one "ok - ..."/"not ok - ..." line per check and ends
# with "N passed, M failed".  This file adds the reporting, a few psql
# wrappers, and the booking invariants every script checks at the end.
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib.sh"

MR_FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mr_faults_started=$SECONDS
passed=0; failed=0

# report "ok"|"not ok" DESCRIPTION [DETAIL]
report() {
    if [ "$1" = ok ]; then
        passed=$((passed + 1)); echo "ok - $2"
    else
        failed=$((failed + 1)); echo "not ok - $2"
        [ -n "${3:-}" ] && printf '#   %s\n' "$3"
    fi
    return 0
}

# check DESCRIPTION COMMAND...: ok when the command succeeds
check() {
    local descr=$1; shift
    if "$@"; then report ok "$descr"; else report "not ok" "$descr"; fi
}

# The closing line and exit status of every fault script.
finish() {
    echo "# took $((SECONDS - mr_faults_started)) s"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# psql as the server user: -At output, stops at the first error.
q() { mr_as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# Run SQL that prints rows "ok|description|detail" or "not ok|..." (or lines
# starting with "# ") and turn each into a report line, with a prefix.
# Usage: report_rows PREFIX psql-args... (SQL on stdin or by -c/-f)
# SQL that makes pg_temp.try(step, call, want): it runs call, and records in
# the temp table outcome whether the answer, or "SQLSTATE: message" for an
# error, is LIKE want.  report_rows prints the outcome.
outcome_sql() {
    cat <<'SQL'
CREATE TEMP TABLE outcome (step text, ok boolean, detail text);
CREATE FUNCTION pg_temp.try(step text, call text, want text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE got text;
BEGIN
    BEGIN
        EXECUTE call INTO got;
    EXCEPTION WHEN OTHERS THEN
        got := SQLSTATE || ': ' || SQLERRM;
    END;
    INSERT INTO outcome VALUES (step, got LIKE want, format('got %s, want %s', got, want));
END $$;
SQL
}

report_rows() {
    local prefix=$1; shift
    local out rc=0 status descr detail
    out=$(q -F '|' "$@" 2>&1) || rc=$?
    while IFS='|' read -r status descr detail; do
        case $status in
        '') ;;
        '# '*) echo "$status" ;;
        ok|'not ok') report "$status" "$prefix$descr" "$detail" ;;
        *) report "not ok" "${prefix}unexpected output" "$status $descr $detail" ;;
        esac
    done <<< "$out"
    [ $rc -eq 0 ] || report "not ok" "${prefix}the checks ran" "psql exited with $rc"
}

# The invariants of the booking tables, as rows for report_rows.  A booking
# is live when CONFIRMED, or PENDING with expires_at > now().
invariants_sql() {
    cat <<'SQL'
WITH live AS (
    SELECT b.* FROM medreserve.bookings b
     WHERE b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.expires_at > now())),
covers AS (   -- what each live booking claims: its slot_id and its booking_slots rows
    SELECT id AS booking_id, slot_id FROM live
    UNION
    SELECT bs.booking_id, bs.slot_id FROM medreserve.booking_slots bs JOIN live ON live.id = bs.booking_id)
SELECT CASE WHEN bad = 0 THEN 'ok' ELSE 'not ok' END, descr, coalesce(detail, '')
  FROM (
    SELECT 1 AS nr, 'no slot has two live bookings' AS descr, count(*) AS bad,
           string_agg('slot ' || slot_id || ': bookings ' || ids, ', ') AS detail
      FROM (SELECT slot_id, string_agg(booking_id::text, ' ' ORDER BY booking_id) AS ids
              FROM covers GROUP BY slot_id HAVING count(DISTINCT booking_id) > 1) d
    UNION ALL
    SELECT 2, 'no live booking lacks its booking_slots rows', count(*),
           string_agg('booking ' || l.id || ' (' || l.status || ', slot ' || l.slot_id || ')', ', ')
      FROM live l
     WHERE NOT EXISTS (SELECT FROM medreserve.booking_slots bs
                        WHERE bs.booking_id = l.id AND bs.slot_id = l.slot_id)
    UNION ALL
    SELECT 3, 'no booking_slots row belongs to a FAILED or CANCELLED booking', count(*),
           string_agg('booking ' || b.id || ' (' || b.status || ') on slot ' || bs.slot_id, ', ')
      FROM medreserve.booking_slots bs JOIN medreserve.bookings b ON b.id = bs.booking_id
     WHERE b.status IN ('FAILED', 'CANCELLED')
    UNION ALL
    SELECT 4, 'every booking''s slots belong to one doctor, and slot_id is among them', count(*),
           string_agg('booking ' || booking_id, ', ')
      FROM (SELECT bs.booking_id
              FROM medreserve.booking_slots bs
              JOIN medreserve.slots s ON s.id = bs.slot_id
              JOIN medreserve.bookings b ON b.id = bs.booking_id
             GROUP BY bs.booking_id, b.slot_id
            HAVING count(DISTINCT s.doctor_id) > 1 OR NOT b.slot_id = ANY (array_agg(bs.slot_id))) d
    UNION ALL
    SELECT 5, 'CONFIRMED bookings have no expiry, PENDING ones have one', count(*),
           string_agg('booking ' || id || ' (' || status || ')', ', ')
      FROM medreserve.bookings
     WHERE (status = 'CONFIRMED' AND expires_at IS NOT NULL)
        OR (status = 'PENDING' AND expires_at IS NULL)
  ) c ORDER BY nr;
SQL
}

# check_invariants PREFIX psql-args... (e.g. -d clinic)
check_invariants() {
    local prefix=$1; shift
    invariants_sql | report_rows "$prefix" "$@"
}

# Every btree index of the medreserve tables is consistent with its heap
# (amcheck, contrib), as rows for report_rows.
amcheck_sql() {
    cat <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT 'ok', 'amcheck: ' || count(*) || ' btree indexes of the medreserve tables match their heaps', ''
  FROM (SELECT bt_index_check(c.oid, true)
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
          JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'medreserve') x;
SQL
}

# Sorted list of a process's children (by parent pid).
children_of() { pgrep -P "$1" 2>/dev/null | sort -n | tr '\n' ' '; }

# wait_gone PID...: wait (up to 30 s) until none of the processes exists,
# not even as a zombie: a new postmaster refuses to start while the pid in
# postmaster.pid answers kill -0, and killed processes whose parent died
# wait for init to reap them.
wait_gone() {
    local i p alive
    for ((i = 0; i < 300; i++)); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# A server log has no sign of a crash: no PANIC, no backend killed by a
# signal, no crash restart.  Prints the offending lines.
log_has_no_crash() {
    ! grep -E 'PANIC|terminated by signal|was terminated by|server process .* exited with exit code|terminating any other active server processes|all server processes terminated' "$1"
}
