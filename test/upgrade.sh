#!/usr/bin/env bash
# Upgrade chain: install the oldest version with data in it, ALTER EXTENSION
# medreserve UPDATE, and check that the schema equals a fresh install
# (catalog description diff is empty) and the data is what was there.
# A fresh install runs the same script chain (1.0 then 1.0--1.1, as pg_cron
# does), so the diff guards against upgrade steps that behave differently on
# a database with data, and against a future full-version script drifting
# from the chain.  Needs a running cluster (PGHOST/PGPORT).
source "$(dirname "$0")/../tools/lib.sh"

oldest=1.0
latest=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$MR_TOP/medreserve.control")
checks=0; failures=0
check() {  # check DESCRIPTION EXPECTED ACTUAL
    checks=$((checks + 1))
    if [ "$2" = "$3" ]; then echo "ok - $1"
    else echo "not ok - $1"; diff <(echo "$2") <(echo "$3") | head -40; failures=$((failures + 1)); fi
}
export PGOPTIONS="-c client_min_messages=warning"
q() { mr_as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# Everything the extension owns, described without OIDs.
catalog_description() {
    q "$1" "
    WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'medreserve'),
    members AS (
        SELECT d.classid, d.objid FROM pg_depend d, ext
        WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
    SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
           || E'\nacl ' || coalesce(p.proacl::text, '') || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
      FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid AND c.relnamespace = 'medreserve'::regnamespace AND c.relkind = 'r'
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'medreserve'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid AND c.relnamespace = 'medreserve'::regnamespace
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid AND c.relnamespace = 'medreserve'::regnamespace
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' ' || coalesce(qual, '')
      FROM pg_policies WHERE schemaname = 'medreserve'
    UNION ALL
    SELECT 'table ' || c.oid::regclass || ' acl=' || coalesce(c.relacl::text, '') || ' rls=' || c.relrowsecurity
           || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
      FROM pg_class c WHERE c.relnamespace = 'medreserve'::regnamespace AND c.relkind IN ('r', 'S')
    UNION ALL
    SELECT 'config ' || unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'medreserve'
    ORDER BY 1"
}

table_contents() {
    q "$1" "SELECT string_agg(t, E'\n' ORDER BY t) FROM (
              SELECT 'doctor ' || d::text AS t FROM medreserve.doctors d
              UNION ALL SELECT 'slot ' || s::text FROM medreserve.slots s
              -- the columns bookings had in $oldest (1.2 adds more, checked below)
              UNION ALL SELECT 'booking ' || (b.id, b.slot_id, b.patient_name, b.patient_email, b.status,
                                              b.expires_at, b.created_at, b.updated_at)::text
                          FROM medreserve.bookings b
              UNION ALL SELECT 'booking_slot ' || bs::text FROM medreserve.booking_slots bs) x"
}

mr_psql -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS medreserve_upgraded" -c "DROP DATABASE IF EXISTS medreserve_fresh" \
    -c "CREATE DATABASE medreserve_upgraded" -c "CREATE DATABASE medreserve_fresh"

echo "installing $oldest with data, then updating to $latest"
mr_psql -d medreserve_upgraded >/dev/null <<SQL
CREATE EXTENSION medreserve VERSION '$oldest' CASCADE;
-- The rows a $oldest installation holds, written directly: its SQL functions
-- would run this tree's library, which needs the new version's objects.
INSERT INTO medreserve.doctors (name, specialization) VALUES ('Dr Ada Grey', 'cardiology');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, date_trunc('day', now()) + interval '1 day 9 hours' + i * interval '15 minutes'
  FROM generate_series(0, 8) i;
INSERT INTO medreserve.bookings (slot_id, patient_name, patient_email, status, expires_at) VALUES
    (1, 'Ann Lee', 'ann@example.org', 'CONFIRMED', NULL),
    (2, 'Bob Marsh', NULL, 'PENDING', now() + interval '10 minutes'),
    (4, 'Cy Park', NULL, 'FAILED', now() - interval '1 minute'),
    (5, 'Dee Holt', NULL, 'CONFIRMED', NULL),
    (4, 'Gil Sun', NULL, 'CANCELLED', NULL),
    (6, 'Eve Stone', NULL, 'PENDING', now() + interval '10 minutes');
INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (1, 1), (2, 2), (2, 3), (4, 5), (6, 6);
SQL
before=$(table_contents medreserve_upgraded)
check "installed version" "$oldest" "$(q medreserve_upgraded "SELECT extversion FROM pg_extension WHERE extname = 'medreserve'")"
q medreserve_upgraded "ALTER EXTENSION medreserve UPDATE"
check "updated version" "$latest" "$(q medreserve_upgraded "SELECT extversion FROM pg_extension WHERE extname = 'medreserve'")"
check "the data is what was there" "$before" "$(table_contents medreserve_upgraded)"

# 1.2 (issue 13): every booking got its doctor and span from its slots
check "bookings made before 1.2 say when and with whom (slots from 09:00 tomorrow)" \
      "1|1|09:00:00|09:15:00|
2|1|09:15:00|09:45:00|
3|1|09:45:00|10:00:00|
4|1|10:00:00|10:15:00|
5|1|09:45:00|10:00:00|t
6|1|10:15:00|10:30:00|" \
      "$(q medreserve_upgraded "SELECT b.id, b.doctor_id,
                b.starts_at - (date_trunc('day', now()) + interval '1 day'),
                b.ends_at - (date_trunc('day', now()) + interval '1 day'),
                b.cancelled_at = b.updated_at
           FROM medreserve.bookings b ORDER BY b.id")"
check "the invariants hold after the update" "" \
      "$(q medreserve_upgraded "SELECT string_agg(problem, '; ') FROM medreserve_verify()")"

q medreserve_fresh "CREATE EXTENSION medreserve CASCADE"
check "the updated schema equals a fresh install of $latest" \
      "$(catalog_description medreserve_fresh)" "$(catalog_description medreserve_upgraded)"
check "the catalog description is not empty" "yes" \
      "$([ "$(catalog_description medreserve_fresh | wc -l)" -gt 50 ] && echo yes || echo no)"

# the updated database keeps working, ids continue
check "booking after the update continues the ids" "7|CONFIRMED" \
      "$(q medreserve_upgraded "SELECT id, status FROM medreserve_book(7, 'Fay Lin')")"
check "the available update paths from $oldest" "$oldest--$latest" \
      "$(q medreserve_upgraded "SELECT string_agg(source || '--' || target, ',') FROM pg_extension_update_paths('medreserve') WHERE source = '$oldest' AND target = '$latest' AND path IS NOT NULL")"

mr_psql -d postgres -c "DROP DATABASE medreserve_upgraded" -c "DROP DATABASE medreserve_fresh"
echo "$((checks - failures)) passed, $failures failed"
[ $failures -eq 0 ]
