#!/usr/bin/env bash
# backup_restore.sh: pg_dump -Fc and pg_restore carry the clinic over whole.
#
# The extension's four tables and their sequences are registered with
# pg_extension_config_dump, so a dump of a database must bring their rows
# (the tables themselves are made by CREATE EXTENSION on restore).  On a
# throwaway cluster this script:
#   1. builds a database with doctors, slots (one already started) and
#      bookings in every status: PENDING live, PENDING lapsed and unswept,
#      CONFIRMED (at once, and by confirming a hold), FAILED (by the sweep,
#      and released lazily by a later booking), CANCELLED (a booking and a
#      hold), single- and multi-slot, a rolled-back booking that used up an
#      id; login roles under medreserve_admin/medreserve_patient and a DBA's
#      own change to an extension function's grants;
#   2. pg_dump -Fc, then pg_restore into a fresh database: serially; in
#      parallel (-j 2) with the extension's table data loaded first, in dump
#      order (a plain -j fails: PostgreSQL does not order an extension's
#      table data by foreign keys in a parallel restore; noted, not
#      counted); a plain-format dump through psql; and into a new cluster
#      that first gets the roles from pg_dumpall --roles-only;
#   3. compares every row (md5 of each table in id order), the sequences,
#      the extension's catalog entries (version, config tables, grants on
#      every member object, row-level security and its policies, triggers);
#   4. in the restored database: patients see only their own bookings, the
#      DBA's grant works, the lapsed hold is released by a booking, the live
#      hold and the confirmed booking still refuse (23505), the started slot
#      refuses (PT409), the sweep settles what is left, and new bookings,
#      booking_slots rows, doctors and slots get ids after the old ones --
#      the very ids the source database would hand out next.
source "$(dirname "$0")/common.sh"

other_data=""
cleanup() {
    [ -n "$other_data" ] && mr_cluster_stop "$other_data"
    mr_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mr_make_workdir
port=$(mr_free_port 55200)
echo "# backup_restore: port $port"
mr_cluster_start "$port" "shared_preload_libraries = 'medreserve'"
src=clinic
dump=$MR_WORK/clinic.dump

q -d postgres -c "CREATE DATABASE $src"
q -d $src -c "SET client_min_messages = warning" -c "CREATE EXTENSION medreserve CASCADE"
# The group roles exist now (CREATE EXTENSION made them); roles are
# cluster-wide, so a restore in this cluster finds them.
q -d $src >/dev/null <<'SQL'
CREATE ROLE clinic_frontdesk LOGIN IN ROLE medreserve_admin;
CREATE ROLE clinic_patient LOGIN IN ROLE medreserve_patient;
CREATE ROLE clinic_reporting LOGIN;
GRANT USAGE ON SCHEMA medreserve TO clinic_reporting;
-- a DBA's own change to an extension member's privileges
GRANT EXECUTE ON FUNCTION medreserve_stats() TO clinic_reporting;
GRANT EXECUTE ON FUNCTION medreserve_counters() TO clinic_reporting;

SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology');
SELECT medreserve_add_doctor('Dr Zoë O''Brien', 'dermatology');
SELECT medreserve_add_doctor('Dr 李 "Quotes" \ Backslash', NULL);
SELECT (SELECT count(*) FROM medreserve_add_slots(d, date_trunc('hour', now()) + interval '2 days',
                                                  date_trunc('hour', now()) + interval '2 days 165 minutes'))
  FROM generate_series(1, 3) d;
-- a slot that has already started (only a direct insert can make one)
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, now() - interval '1 hour');

-- holds that will have lapsed (1 s): 8 and 9 stay unswept, 10 is swept, 11 released lazily
SET medreserve.hold_duration = '1s';
SELECT id FROM medreserve_hold(8, 'Lapsed Unswept', 'lapsed1@example.org');
SELECT id FROM medreserve_hold(ARRAY[9, 10], 'Lapsed Unswept Two', 'lapsed2@example.org');
SELECT id FROM medreserve_hold(11, 'Lapsed Swept', 'swept@example.org');
SELECT id FROM medreserve_hold(12, 'Lapsed Taken Over', 'takenover@example.org');
RESET medreserve.hold_duration;
SELECT pg_sleep(1.2);
SQL
# the sweep must settle the hold on slot 11 only: it skips rows locked by
# others, so another session locks the other lapsed holds meanwhile
coproc LOCKER { mr_as_pg "$PGBIN/psql" -X -q -At -d $src 2>&1; }
echo "BEGIN; SELECT count(*) FROM (SELECT id FROM medreserve.bookings WHERE slot_id IN (8, 9, 12) FOR UPDATE) l;" >&"${LOCKER[1]}"
read -r -t 10 locked <&"${LOCKER[0]}" || true
swept=$(q -d $src -c "SELECT medreserve_expire()")
echo "ROLLBACK;" >&"${LOCKER[1]}"; echo "\\q" >&"${LOCKER[1]}"
wait "$LOCKER_PID" 2>/dev/null || true
[ "$locked" = 3 ] && [ "$swept" = 1 ] || echo "# the sweep setup went wrong: locked $locked, swept $swept"

q -d $src >/dev/null <<'SQL'
SELECT id FROM medreserve_book(12, 'Takes Over', 'takes@example.org');      -- hold 4 FAILED lazily
SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@example.org');            -- CONFIRMED
SELECT id FROM medreserve_book(ARRAY[3, 2], 'Bob Marsh', 'bob@example.org');-- CONFIRMED, two slots
SELECT id FROM medreserve_confirm((SELECT id FROM medreserve_hold(4, 'Cy Park', 'cy@example.org'))); -- CONFIRMED via hold
SELECT id FROM medreserve_hold(5, 'Di Holt', 'di@example.org');             -- PENDING live
SELECT id FROM medreserve_hold(ARRAY[13, 14, 15], 'Ed Ng', 'ed@example.org');-- PENDING live, three slots
SELECT id FROM medreserve_cancel((SELECT id FROM medreserve_book(6, 'Flo Ruiz', 'flo@example.org')));   -- CANCELLED
SELECT id FROM medreserve_cancel((SELECT id FROM medreserve_hold(7, 'Gus Abe', 'gus@example.org')));    -- CANCELLED hold
SELECT id FROM medreserve_book(25, 'Hana Öz ''Quote''', NULL);                -- CONFIRMED, no email
BEGIN;
SELECT id FROM medreserve_book(26, 'Rolled Back', 'rb@example.org');        -- uses up an id
ROLLBACK;
SQL

# what the source holds, in every status
statuses=$(q -d $src -c "SELECT string_agg(k || ' ' || n, ', ' ORDER BY k) FROM (
    SELECT CASE WHEN status = 'PENDING' AND expires_at > now() THEN 'PENDING live'
                WHEN status = 'PENDING' THEN 'PENDING lapsed' ELSE status END AS k, count(*) AS n
      FROM medreserve.bookings GROUP BY 1) s")
echo "# source bookings: $statuses"
if [ "$(q -d $src -c "SELECT count(DISTINCT CASE WHEN status = 'PENDING' AND expires_at > now() THEN 'live'
                                              WHEN status = 'PENDING' THEN 'lapsed' ELSE status END)
                        FROM medreserve.bookings")" = 5 ]; then
    report ok "the source has bookings in all five states (PENDING live and lapsed, CONFIRMED, FAILED, CANCELLED)"
else
    report "not ok" "the source has bookings in all five states" "$statuses"
fi

# The state to compare: every row of every table, the sequences, and the
# extension's catalog entries (grants, RLS, policies, triggers, config).
state_sql() {
    cat <<'SQL'
SELECT 'table ' || t || ': ' || n || ' rows, md5 ' || h
  FROM (SELECT 'doctors' AS t, count(*) AS n, md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) AS h FROM medreserve.doctors x
        UNION ALL SELECT 'slots', count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) FROM medreserve.slots x
        UNION ALL SELECT 'bookings', count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) FROM medreserve.bookings x
        UNION ALL SELECT 'booking_slots', count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) FROM medreserve.booking_slots x) s
UNION ALL
SELECT * FROM (
SELECT 'sequence ' || s || ': last_value ' || v || ', is_called ' || c FROM (
    SELECT 'doctors_id_seq' AS s, last_value AS v, is_called AS c FROM medreserve.doctors_id_seq
    UNION ALL SELECT 'slots_id_seq', last_value, is_called FROM medreserve.slots_id_seq
    UNION ALL SELECT 'bookings_id_seq', last_value, is_called FROM medreserve.bookings_id_seq
    UNION ALL SELECT 'booking_slots_id_seq', last_value, is_called FROM medreserve.booking_slots_id_seq) q
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion || ' in ' || extnamespace::regnamespace
       || ', config ' || (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM unnest(extconfig) c)
       || ', conditions ' || array_to_string(extcondition, ',', '?')
  FROM pg_extension WHERE extname IN ('medreserve', 'btree_gist')
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' acl ' || coalesce(p.proacl::text, 'default')
       || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END || ' ' || coalesce(array_to_string(p.proconfig, ','), '')
  FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'medreserve')
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' acl ' || coalesce(c.relacl::text, 'default')
       || ' rls ' || c.relrowsecurity || ' force ' || c.relforcerowsecurity
  FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'medreserve')
UNION ALL
SELECT 'schema medreserve acl ' || nspacl::text FROM pg_namespace WHERE nspname = 'medreserve'
UNION ALL
SELECT 'policy ' || tablename || '.' || policyname || ' ' || permissive || ' ' || roles::text || ' ' || cmd
       || ' using ' || coalesce(qual, '') || ' check ' || coalesce(with_check, '')
  FROM pg_policies WHERE schemaname = 'medreserve'
UNION ALL
SELECT 'trigger ' || tgrelid::regclass || '.' || tgname || ' ' || pg_get_triggerdef(oid)
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'medreserve.%'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'medreserve'::regnamespace
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid::regclass::text LIKE 'medreserve.%'
ORDER BY 1) o;
SQL
}
state_sql | q -d $src > "$MR_WORK/state.src"

mr_as_pg "$PGBIN/pg_dump" -Fc -d $src -f "$dump" 2> "$MR_WORK/dump.err" \
    && [ ! -s "$MR_WORK/dump.err" ] \
    && report ok "pg_dump -Fc ran without error or warning ($(stat -c %s "$dump") bytes)" \
    || report "not ok" "pg_dump -Fc ran without error or warning" "$(head -5 "$MR_WORK/dump.err")"
entries=$(mr_as_pg "$PGBIN/pg_restore" -l "$dump" | grep -E 'TABLE DATA medreserve|SEQUENCE SET medreserve' | awk '{ print $(NF-1) }' | sort | tr '\n' ' ' || true)
if [ "$entries" = "booking_slots booking_slots_id_seq bookings bookings_id_seq doctors doctors_id_seq slots slots_id_seq " ]; then
    report ok "the dump has the data of the four tables and their sequences"
else
    report "not ok" "the dump has the data of the four tables and their sequences" "it lists: $entries"
fi

# restore_into DB HOW: a fresh database, restored; then compare with the source
restore_into() {
    local db=$1 how=$2 err=$MR_WORK/restore.$1.err rc=0
    q -d postgres -c "CREATE DATABASE $db TEMPLATE template0"
    case $how in
    serial)   mr_as_pg "$PGBIN/pg_restore" -d $db --exit-on-error "$dump" 2> "$err" || rc=$? ;;
    parallel)
        # pg_restore -j loads TABLE DATA entries in parallel and knows of no
        # order between them, but the extension's tables have foreign keys
        # from the start (CREATE EXTENSION made them): see the note below.
        # What works: the medreserve data alone in dump order (pg_dump sorts
        # config tables by their foreign keys), everything else in parallel.
        mr_as_pg "$PGBIN/pg_restore" -l "$dump" > "$MR_WORK/toc.all"
        grep -E '^[0-9]+; [0-9]+ [0-9]+ TABLE DATA medreserve ' "$MR_WORK/toc.all" > "$MR_WORK/toc.medreserve" || true
        grep -v -E '^[0-9]+; [0-9]+ [0-9]+ TABLE DATA medreserve ' "$MR_WORK/toc.all" > "$MR_WORK/toc.rest" || true
        { mr_as_pg "$PGBIN/pg_restore" -d $db --exit-on-error --section=pre-data "$dump" \
          && mr_as_pg "$PGBIN/pg_restore" -d $db --exit-on-error --section=data -L "$MR_WORK/toc.medreserve" "$dump" \
          && mr_as_pg "$PGBIN/pg_restore" -d $db --exit-on-error --section=data -j 2 -L "$MR_WORK/toc.rest" "$dump" \
          && mr_as_pg "$PGBIN/pg_restore" -d $db --exit-on-error --section=post-data -j 2 "$dump"; } 2> "$err" || rc=$? ;;
    plain)    mr_as_pg "$PGBIN/pg_dump" -Fp -d $src 2>>"$err" \
                | mr_as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null 2>> "$err" || rc=$? ;;
    esac
    if [ $rc -eq 0 ] && [ ! -s "$err" ]; then
        report ok "$how restore into $db: no error or warning"
    else
        report "not ok" "$how restore into $db: no error or warning" "exit $rc: $(head -5 "$err")"
    fi
    state_sql | q -d $db > "$MR_WORK/state.$db"
    if diff -u "$MR_WORK/state.src" "$MR_WORK/state.$db" > "$MR_WORK/state.$db.diff"; then
        report ok "$how restore into $db: same rows, sequences, grants, RLS, policies, triggers, constraints ($(wc -l < "$MR_WORK/state.src") facts compared)"
    else
        report "not ok" "$how restore into $db: same rows, sequences, grants, RLS, policies, triggers, constraints" \
            "$(grep -E '^[-+][^-+]' "$MR_WORK/state.$db.diff" | head -10 | tr '\n' ' ')"
    fi
}
restore_into restored serial
restore_into restored_parallel parallel

# A plain pg_restore -j fails on this dump, because PostgreSQL's parallel
# restore does not order the data of an extension's tables by their foreign
# keys (TimescaleDB documents the same limitation).  Recorded, not counted:
# nothing in the extension can change it.  The workaround above is counted.
q -d postgres -c "CREATE DATABASE restored_naive_j TEMPLATE template0"
if mr_as_pg "$PGBIN/pg_restore" -d restored_naive_j -j 2 --exit-on-error "$dump" 2> "$MR_WORK/naive_j.err"; then
    echo "# note: a plain pg_restore -j 2 worked this time (the data happened to load in a good order)"
else
    echo "# KNOWN LIMITATION: a plain pg_restore -j 2 fails: $(grep -m1 -o 'violates foreign key constraint "[a-z_]*"' "$MR_WORK/naive_j.err")"
    echo "#   (restore the medreserve.* TABLE DATA serially first, as the parallel restore above does)"
fi
restore_into restored_plain plain
grep '^table ' "$MR_WORK/state.src" | sed 's/^/# source /'

# A new machine: a fresh cluster gets the roles first (README: the group
# roles are cluster-wide, pg_dumpall --roles-only carries them), then the dump.
oport=$(mr_free_port $((port + 1)))
other_data=$MR_WORK/other
mr_as_pg "$PGBIN/initdb" -D "$other_data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
printf '%s\n' "port = $oport" "unix_socket_directories = '$MR_WORK'" "listen_addresses = ''" \
    "timezone = 'UTC'" "shared_preload_libraries = 'medreserve'" | mr_as_pg tee -a "$other_data/postgresql.conf" >/dev/null
mr_as_pg "$PGBIN/pg_ctl" -D "$other_data" -l "$MR_WORK/other.log" -w -t 60 start >/dev/null
mr_as_pg "$PGBIN/pg_dumpall" --roles-only > "$MR_WORK/roles.sql"
roles_err=$(mr_as_pg "$PGBIN/psql" -X -q -p "$oport" -d postgres -f "$MR_WORK/roles.sql" 2>&1 >/dev/null \
            | grep -v 'role "postgres" already exists' || true)
q -p "$oport" -d postgres -c "CREATE DATABASE restored_elsewhere"
rc=0
mr_as_pg "$PGBIN/pg_restore" -p "$oport" -d restored_elsewhere --exit-on-error "$dump" 2> "$MR_WORK/elsewhere.err" || rc=$?
if [ -z "$roles_err" ] && [ $rc -eq 0 ] && [ ! -s "$MR_WORK/elsewhere.err" ]; then
    report ok "restore into a new cluster (roles from pg_dumpall --roles-only, then pg_restore): no error or warning"
else
    report "not ok" "restore into a new cluster: no error or warning" "roles: $roles_err; restore exit $rc: $(head -3 "$MR_WORK/elsewhere.err")"
fi
state_sql | q -p "$oport" -d restored_elsewhere > "$MR_WORK/state.elsewhere"
if diff -u "$MR_WORK/state.src" "$MR_WORK/state.elsewhere" > "$MR_WORK/state.elsewhere.diff"; then
    report ok "restore into a new cluster: same rows, sequences, grants, RLS, policies, triggers, constraints"
else
    report "not ok" "restore into a new cluster: same rows, sequences, grants, RLS, policies, triggers, constraints" \
        "$(grep -E '^[-+][^-+]' "$MR_WORK/state.elsewhere.diff" | head -10 | tr '\n' ' ')"
fi

# Privileges at work in the restored database, the same as in the source.
privileges_sql() {
    cat <<'SQL'
\set ON_ERROR_STOP 0
\set VERBOSITY verbose
SET ROLE clinic_patient;
SET request.jwt.claims = '{"email": "ann@example.org"}';
SELECT 'patient ann sees bookings: ' || string_agg(patient_name, ',') FROM medreserve.bookings;
SELECT 'patient ann may cancel bob''s booking: ' || id FROM medreserve_cancel(:bob);
SELECT 'patient ann sees doctors: ' || count(*) FROM medreserve_list_doctors();
SELECT 'patient ann reads stats: ' || doctors FROM medreserve_stats();
RESET request.jwt.claims;
RESET ROLE;
SET ROLE clinic_reporting;
SELECT 'reporting reads stats: doctors ' || doctors || ', pending ' || pending_bookings || ', metrics ' || metrics_available FROM medreserve_stats();
SELECT 'reporting books: ' || id FROM medreserve_book(20, 'Reporting');
RESET ROLE;
SET ROLE clinic_frontdesk;
SELECT 'frontdesk sees bookings: ' || count(*) FROM medreserve.bookings;
RESET ROLE;
SQL
}
privileges_of() {
    local bob; bob=$(q -d "$1" -c "SELECT id FROM medreserve.bookings WHERE patient_name = 'Bob Marsh'")
    privileges_sql | mr_as_pg "$PGBIN/psql" -X -q -At -v bob="$bob" -d "$1" 2>&1 \
        | sed -E 's/^psql:[^ ]* //; /^LOCATION:/d'
}
privileges_of $src > "$MR_WORK/priv.src"
privileges_of restored > "$MR_WORK/priv.restored"
expected_priv=(
    "patient ann sees bookings: Ann Lee"
    "ERROR:  PT404: booking"
    "patient ann sees doctors: 3"
    "ERROR:  42501: permission denied for function medreserve_stats"
    "reporting reads stats: doctors 3,"
    "ERROR:  42501: permission denied for function medreserve_book"
    "frontdesk sees bookings: $(q -d $src -c "SELECT count(*) FROM medreserve.bookings")"
)
missing=""
for e in "${expected_priv[@]}"; do grep -qF "$e" "$MR_WORK/priv.restored" || missing+="[$e] "; done
if [ -z "$missing" ] && diff -q "$MR_WORK/priv.src" "$MR_WORK/priv.restored" >/dev/null; then
    report ok "restored: RLS and grants act as in the source (patient sees own rows only, PT404 on another's booking, 42501 without grant, the DBA's extra grant works)"
else
    report "not ok" "restored: RLS and grants act as in the source" \
        "missing: $missing; diff: $(diff "$MR_WORK/priv.src" "$MR_WORK/priv.restored" | tr '\n' ' ' | head -c 600)"
fi

# The restored clinic works on: states, refusals and ids.
next_ids() {  # the ids a database hands out next, without using them up
    q -d "$1" -c "SELECT string_agg(CASE WHEN is_called THEN last_value + 1 ELSE last_value END::text, ' ' ORDER BY n)
                    FROM (SELECT 1 AS n, * FROM medreserve.doctors_id_seq UNION ALL
                          SELECT 2, * FROM medreserve.slots_id_seq UNION ALL
                          SELECT 3, * FROM medreserve.bookings_id_seq UNION ALL
                          SELECT 4, * FROM medreserve.booking_slots_id_seq) s"
}
src_next=$(next_ids $src)
report_rows "restored: " -d restored <<SQL
\\set ON_ERROR_STOP 1
CREATE TEMP TABLE old_max AS
SELECT (SELECT max(id) FROM medreserve.doctors) AS doctors, (SELECT max(id) FROM medreserve.slots) AS slots,
       (SELECT max(id) FROM medreserve.bookings) AS bookings, (SELECT max(id) FROM medreserve.booking_slots) AS booking_slots;
$(outcome_sql)
SELECT pg_temp.try('a slot under a lapsed hold can be booked (the hold is released lazily)',
                   \$\$SELECT status FROM medreserve_book(8, 'After Restore')\$\$, 'CONFIRMED');
SELECT pg_temp.try('the lapsed hold is now FAILED',
                   \$\$SELECT status FROM medreserve.bookings WHERE patient_name = 'Lapsed Unswept'\$\$, 'FAILED');
SELECT pg_temp.try('a slot under a live hold refuses with 23505',
                   \$\$SELECT status FROM medreserve_book(5, 'After Restore')\$\$, '23505: slot 5 is already held');
SELECT pg_temp.try('a slot of a multi-slot live hold refuses with 23505',
                   \$\$SELECT status FROM medreserve_book(ARRAY[16, 15], 'After Restore')\$\$, '23505: slot 15 is already held');
SELECT pg_temp.try('a confirmed slot refuses with 23505',
                   \$\$SELECT status FROM medreserve_book(2, 'After Restore')\$\$, '23505: slot 2 is already booked');
SELECT pg_temp.try('a started slot refuses with PT409',
                   \$\$SELECT status FROM medreserve_book((SELECT max(id) FROM medreserve.slots), 'After Restore')\$\$, 'PT409: slot % has already started');
SELECT pg_temp.try('a cancelled booking''s slot is free',
                   \$\$SELECT status FROM medreserve_book(6, 'After Restore')\$\$, 'CONFIRMED');
SELECT pg_temp.try('a live hold can be confirmed',
                   \$\$SELECT status FROM medreserve_confirm((SELECT id FROM medreserve.bookings WHERE patient_name = 'Di Holt'))\$\$, 'CONFIRMED');
SELECT pg_temp.try('a confirmed booking can be cancelled',
                   \$\$SELECT status FROM medreserve_cancel((SELECT id FROM medreserve.bookings WHERE patient_name = 'Ann Lee'))\$\$, 'CANCELLED');
SELECT pg_temp.try('a FAILED booking cannot be cancelled (PT409)',
                   \$\$SELECT status FROM medreserve_cancel((SELECT id FROM medreserve.bookings WHERE patient_name = 'Lapsed Swept'))\$\$, 'PT409: booking % cannot be cancelled');
SELECT pg_temp.try('the sweep settles the one lapsed hold left',
                   \$\$SELECT medreserve_expire()\$\$, '1');
SELECT pg_temp.try('a new booking gets the id after every old one',
                   \$\$SELECT id > (SELECT bookings FROM old_max) FROM medreserve_book(ARRAY[27, 28], 'New Patient')\$\$, 'true');
SELECT pg_temp.try('a new doctor gets the id after every old one',
                   \$\$SELECT id > (SELECT doctors FROM old_max) FROM medreserve_add_doctor('Dr New')\$\$, 'true');
SELECT pg_temp.try('new slots get ids after every old one',
                   \$\$SELECT bool_and(id > (SELECT slots FROM old_max)) FROM medreserve_add_slots(4, now() + interval '3 days', now() + interval '3 days 1 hour')\$\$, 'true');
SELECT pg_temp.try('new booking_slots rows get ids after every old one',
                   \$\$SELECT min(id) > (SELECT booking_slots FROM old_max) FROM medreserve.booking_slots bs
                      WHERE bs.booking_id = (SELECT max(id) FROM medreserve.bookings)\$\$, 'true');
SELECT CASE WHEN ok THEN 'ok' ELSE 'not ok' END, step, CASE WHEN ok THEN '' ELSE detail END FROM outcome;
SELECT CASE WHEN bool_and(n = d) THEN 'ok' ELSE 'not ok' END, 'no table has a duplicate id',
       string_agg(t || ': ' || n || ' rows, ' || d || ' ids', ', ')
  FROM (SELECT 'doctors' t, count(*) n, count(DISTINCT id) d FROM medreserve.doctors
        UNION ALL SELECT 'slots', count(*), count(DISTINCT id) FROM medreserve.slots
        UNION ALL SELECT 'bookings', count(*), count(DISTINCT id) FROM medreserve.bookings
        UNION ALL SELECT 'booking_slots', count(*), count(DISTINCT id) FROM medreserve.booking_slots) x;
SQL
# the restored sequences went on from where the source's stand
restored_first=$(q -d restored -c "SELECT (SELECT min(id) FROM medreserve.doctors WHERE name = 'Dr New') || ' ' ||
                                          (SELECT min(id) FROM medreserve.slots WHERE doctor_id = 4) || ' ' ||
                                          (SELECT min(id) FROM medreserve.bookings WHERE patient_name = 'After Restore') || ' ' ||
                                          (SELECT min(bs.id) FROM medreserve.booking_slots bs JOIN medreserve.bookings b ON b.id = bs.booking_id
                                            WHERE b.patient_name = 'After Restore')")
if [ "$restored_first" = "$src_next" ]; then
    report ok "the restored database's first new ids are exactly the source's next ids ($src_next: doctors, slots, bookings, booking_slots)"
else
    report "not ok" "the restored database's first new ids are exactly the source's next ids" \
        "source would give $src_next, restored gave $restored_first"
fi
check_invariants "restored: " -d restored
check_invariants "source: " -d $src
finish
