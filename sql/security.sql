-- Roles: PUBLIC gets nothing, patients act only on their own bookings
-- (identified by PostgREST's JWT email claim), admins act on any.  The
-- SECURITY DEFINER functions cannot be hijacked through search_path.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, '2099-03-02 09:00+00'::timestamptz + (i - 1) * interval '15 minutes'
FROM generate_series(1, 8) AS i;

CREATE ROLE mr_nobody;
CREATE ROLE mr_ann IN ROLE medreserve_patient;
CREATE ROLE mr_kiosk IN ROLE medreserve_patient;
CREATE ROLE mr_desk IN ROLE medreserve_admin;

-- what each role may execute
SELECT p.proname, count(*) AS overloads,
       bool_and(has_function_privilege('mr_nobody', p.oid, 'EXECUTE')) AS nobody,
       bool_and(has_function_privilege('mr_ann', p.oid, 'EXECUTE')) AS patient,
       bool_and(has_function_privilege('mr_desk', p.oid, 'EXECUTE')) AS admin
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'medreserve\_%'
GROUP BY p.proname ORDER BY p.proname;

-- no grant: 42501, for functions and tables alike
SET ROLE mr_nobody;
SELECT id FROM medreserve_book(1, 'Nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve.bookings;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- a patient signed in through PostgREST books under the claimed email
SET ROLE mr_ann;
SELECT set_config('request.jwt.claims', '{"role":"mr_ann","email":"Ann@Example.org"}', false) IS NOT NULL AS signed_in;
SELECT id, patient_email, status FROM medreserve_hold(1, 'Ann Lee');
SELECT id, patient_email, status FROM medreserve_book(2, 'Ann Lee', 'ann@example.org');
SELECT id FROM medreserve_book(3, 'Ann Lee', 'bob@example.org');
\echo :LAST_ERROR_SQLSTATE
SELECT id, status FROM medreserve_confirm(1);
-- callers need no table privileges beyond what was granted
INSERT INTO medreserve.bookings (slot_id, patient_name, status) VALUES (5, 'Ann', 'CONFIRMED');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Bob's booking, made by the desk
SET ROLE mr_desk;
SELECT id, patient_email, status FROM medreserve_hold(ARRAY[4, 5], 'Bob Marsh', 'bob@example.org');
RESET ROLE;

-- Ann cannot see, confirm or cancel Bob's booking: it does not exist for her
SET ROLE mr_ann;
SELECT id FROM medreserve_confirm(3);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_cancel(3);
\echo :LAST_ERROR_SQLSTATE
-- reading the table directly shows her own bookings only (row-level security)
SELECT id, patient_email FROM medreserve.bookings ORDER BY id;
-- and so does the API (1.1)
SELECT id, status FROM medreserve_my_bookings();
SELECT medreserve_expire();
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS signed_out;
RESET ROLE;

-- a patient role without a claim (a kiosk) may book, but not confirm or cancel
SET ROLE mr_kiosk;
SELECT id, patient_email, status FROM medreserve_book(6, 'Walk In', 'walk.in@example.org');
SELECT id FROM medreserve_cancel(4);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_my_bookings();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS visible_bookings FROM medreserve.bookings;
RESET ROLE;

-- the desk acts on any booking and sees them all
SET ROLE mr_desk;
SELECT id, status FROM medreserve_confirm(3);
SELECT id, status FROM medreserve_cancel(4);
SELECT id, patient_email, status FROM medreserve.bookings ORDER BY id;
SELECT doctors FROM medreserve_stats();
RESET ROLE;

-- search_path hijack: objects named like the ones the functions use, in a
-- schema first on the caller's path, are never picked up
CREATE SCHEMA evil;
CREATE TABLE evil.bookings (id int);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT timestamptz '2000-01-01' $$;
CREATE FUNCTION evil.btrim(text) RETURNS text LANGUAGE sql AS $$ SELECT 'hijacked' $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'hijacked' $$;
CREATE FUNCTION evil.unnest(integer[]) RETURNS SETOF integer LANGUAGE sql AS $$ SELECT 1 $$;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
SET search_path = evil, public;
SET ROLE mr_desk;
SELECT id, slot_id, patient_name, status FROM medreserve_book(7, 'Eve Stone');
SELECT count(*) AS free FROM medreserve_available_slots(1, '2099-03-02', '2099-03-03');
RESET ROLE;
RESET search_path;
SELECT count(*) AS evil_rows FROM evil.bookings;
DROP SCHEMA evil CASCADE;

DROP ROLE mr_nobody, mr_ann, mr_kiosk, mr_desk;
