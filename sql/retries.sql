-- Safe retries and fair use (issue 14): idempotency keys on book, hold,
-- confirm and cancel; per-patient limits; the booking window; the cap on
-- hold_duration; answers a front end can act on.
--
-- A patient signed in through PostgREST is played exactly: the session user
-- is a gateway login (SET SESSION AUTHORIZATION), the role is switched, and
-- the JWT claims and headers are set as PostgREST sets them.
\set SHOW_CONTEXT never
SET timezone = 'America/New_York';   -- details must not depend on it

SET client_min_messages = warning;  -- TRUNCATE's notices name other issues' tables
TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots,
    medreserve.idempotency_keys RESTART IDENTITY CASCADE;
RESET client_min_messages;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, '2099-03-02 09:00+00'::timestamptz + (i - 1) * interval '15 minutes'
FROM generate_series(1, 30) AS i;

CREATE ROLE mr_gw LOGIN NOINHERIT;                 -- PostgREST's authenticator
CREATE ROLE mr_web NOLOGIN IN ROLE medreserve_patient;
CREATE ROLE mr_kiosk LOGIN IN ROLE medreserve_patient;
CREATE ROLE mr_desk NOLOGIN IN ROLE medreserve_admin;
GRANT mr_web, mr_desk TO mr_gw;
GRANT medreserve_gateway TO mr_gw;

-- what a request of patient :'email' (with optional headers) looks like
CREATE FUNCTION pg_temp.as_patient(email text, headers text DEFAULT '{}') RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('role', 'mr_web', false),
           set_config('request.jwt.claims', json_build_object('role', 'mr_web', 'email', email)::text, false),
           set_config('request.headers', headers, false);
$$;
-- and outside any request again
CREATE FUNCTION pg_temp.no_request() RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('request.jwt.claims', '', false), set_config('request.headers', '', false);
$$;
CREATE FUNCTION pg_temp.counter(name text) RETURNS bigint
LANGUAGE sql AS $$ SELECT (to_jsonb(c) ->> name)::bigint FROM medreserve_counters() c $$;

-- ==== Replays: same key, same call, same booking; nothing counted ====
SELECT pg_temp.counter('bookings_confirmed') AS booked_before \gset
SELECT id, slot_id, status FROM medreserve_book(1, 'Ann Lee', 'ann@example.org', idempotency_key => 'k-book');
SELECT id, slot_id, status FROM medreserve_book(1, 'Ann Lee', 'ann@example.org', idempotency_key => 'k-book');
SELECT pg_temp.counter('bookings_confirmed') - :booked_before AS counted_once,
       (SELECT count(*) FROM medreserve.bookings) AS bookings,
       (SELECT count(*) FROM medreserve.idempotency_keys) AS keys;
-- the email is compared by its key: the same address in other case is the same call
SELECT id, status FROM medreserve_book(1, 'Ann Lee', 'ANN@example.org', idempotency_key => 'k-book');

-- hold, confirm and cancel, each retried
SELECT id, status FROM medreserve_hold(ARRAY[3, 2], 'Ann Lee', 'ann@example.org', idempotency_key => 'k-hold');
SELECT id, status FROM medreserve_hold(ARRAY[2, 3], 'Ann Lee', 'ann@example.org', idempotency_key => 'k-hold');
SELECT id, status FROM medreserve_confirm(2, 'k-confirm');
SELECT id, status FROM medreserve_confirm(2, 'k-confirm');
SELECT id, status FROM medreserve_cancel(2, idempotency_key => 'k-cancel');
SELECT id, status FROM medreserve_cancel(2, idempotency_key => 'k-cancel');
-- without a key, the second confirm is refused as before
SELECT id FROM medreserve_confirm(2);
\echo :LAST_ERROR_SQLSTATE
-- a replay returns the booking as it is now, after later changes
SELECT id, status FROM medreserve_hold(ARRAY[2, 3], 'Ann Lee', 'ann@example.org', idempotency_key => 'k-hold');
SELECT count(*) AS bookings FROM medreserve.bookings;

-- ==== The same key for another call: PT422, naming the key ====
\set VERBOSITY terse
SELECT id FROM medreserve_book(4, 'Ann Lee', 'ann@example.org', idempotency_key => 'k-book');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lea', 'ann@example.org', idempotency_key => 'k-book');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_cancel(1, idempotency_key => 'k-book');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
DO $$
DECLARE
    detail text;
    hint text;
BEGIN
    PERFORM medreserve_hold(1, 'Ann Lee', 'ann@example.org', idempotency_key => 'k-book');
EXCEPTION WHEN SQLSTATE 'PT422' THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE 'detail names the first use in UTC: %; hint: %',
        detail ~ '^It was first used at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ with other arguments; a retry must repeat the same call\.$',
        hint;
END
$$;
SELECT count(*) AS bookings FROM medreserve.bookings;

-- ==== Keys are 1..200 printable ASCII characters ====
SELECT id FROM medreserve_book(4, 'Ann Lee', idempotency_key => '');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(4, 'Ann Lee', idempotency_key => repeat('k', 201));
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(4, 'Ann Lee', idempotency_key => 'ключ');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(4, 'Ann Lee', idempotency_key => E'k\n1');
\echo :LAST_ERROR_SQLSTATE
SELECT id, status FROM medreserve_book(4, 'Ann Lee', idempotency_key => repeat('k', 200));

-- ==== A refused call records nothing: its retry is tried afresh ====
SELECT id FROM medreserve_book(4, 'Bob Marsh', idempotency_key => 'k-refused');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS kept FROM medreserve.idempotency_keys WHERE key = 'k-refused';
SELECT id, status FROM medreserve_cancel(3);
SELECT id, slot_id, status FROM medreserve_book(4, 'Bob Marsh', idempotency_key => 'k-refused');

-- ==== Through PostgREST: the Idempotency-Key header, keys per patient ====
SET SESSION AUTHORIZATION mr_gw;
SELECT pg_temp.as_patient('cat@example.org', '{"idempotency-key": "h-1"}');
SELECT id, slot_id, patient_email, status FROM medreserve_book(5, 'Cat Ng');
SELECT id, slot_id, patient_email, status FROM medreserve_book(5, 'Cat Ng');
-- the argument wins over the header
SELECT id, slot_id, status FROM medreserve_book(6, 'Cat Ng', idempotency_key => 'h-2');
-- another patient's same key is theirs: a booking of their own, not Cat's
SELECT pg_temp.as_patient('dan@example.org', '{"idempotency-key": "h-1"}');
SELECT id, slot_id, patient_email, status FROM medreserve_book(7, 'Dan Oz');
-- the admin's (the desk's) same key is the desk's
SELECT set_config('role', 'mr_desk', false) IS NOT NULL AS desk;
SELECT id, slot_id, patient_email, status FROM medreserve_book(8, 'Eve Fox', 'eve@example.org');
-- a bad header is refused like a bad argument
SELECT set_config('request.headers', '{"idempotency-key": ""}', false) IS NOT NULL AS bad;
SELECT id FROM medreserve_book(9, 'Eve Fox', 'eve@example.org');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.no_request();
SELECT left(key, 10) AS key, booking_id FROM medreserve.idempotency_keys ORDER BY booking_id, key;

-- ==== The sweep prunes keys past medreserve.idempotency_window ====
UPDATE medreserve.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key LIKE 'k-%';
CALL medreserve_run_expiry();
SELECT left(key, 10) AS key FROM medreserve.idempotency_keys ORDER BY key;
-- a key past the window but not yet pruned starts afresh too
UPDATE medreserve.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'h-2';
SET SESSION AUTHORIZATION mr_gw;
SELECT pg_temp.as_patient('cat@example.org');
SELECT id, status FROM medreserve_cancel(6);
SELECT id, slot_id, status FROM medreserve_book(6, 'Cat Ng', idempotency_key => 'h-2');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.no_request();
SELECT * FROM medreserve_verify();
-- medreserve_verify() sees a kept key that names no booking
INSERT INTO medreserve.idempotency_keys (scope, key, fingerprint) VALUES ('role:0', 'broken', '\x00');
SELECT * FROM medreserve_verify();
DELETE FROM medreserve.idempotency_keys WHERE key = 'broken';

-- ==== Fair use: live holds per patient, counted in slots (default 3) ====
TRUNCATE medreserve.bookings, medreserve.booking_slots, medreserve.idempotency_keys
    RESTART IDENTITY CASCADE;
-- the slots' state follows their booking rows (issue 11): a fixture that
-- bypasses the API recomputes it
SELECT FROM medreserve.refresh_slot_state();
SHOW medreserve.max_live_holds_per_patient;
SET SESSION AUTHORIZATION mr_gw;
SELECT pg_temp.as_patient('cat@example.org');
SELECT id, status FROM medreserve_hold(1, 'Cat Ng');
SELECT id, status FROM medreserve_hold(ARRAY[2, 3], 'Cat Ng');   -- exactly at the limit
SELECT id FROM medreserve_hold(4, 'Cat Ng');                      -- one over
-- a retry of a hold she has gets it back, whether as hold or as booking
SELECT id, status FROM medreserve_hold(ARRAY[3, 2], 'Cat Ng');
SELECT id, status FROM medreserve_book(1, 'Cat Ng');
-- another patient is not limited by her holds, and a slot she holds is held for him
SELECT pg_temp.as_patient('dan@example.org');
SELECT id, status FROM medreserve_hold(ARRAY[4, 5, 6], 'Dan Oz');
SELECT id FROM medreserve_hold(ARRAY[7, 8, 9, 10], 'Dan Oz');     -- four at once
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.no_request();
-- a confirmed (or cancelled, or lapsed) hold no longer counts
SELECT id, status FROM medreserve_confirm(1);
SET SESSION AUTHORIZATION mr_gw;
SELECT pg_temp.as_patient('cat@example.org');
SELECT id, status FROM medreserve_hold(7, 'Cat Ng');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.no_request();
-- a kiosk (no identity) is limited by the email it books for, compared by its key
SET ROLE mr_kiosk;
SELECT id FROM medreserve_hold(9, 'Cat Ng', 'CAT@example.org');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- admins are exempt
SET ROLE mr_desk;
SELECT id, status FROM medreserve_hold(ARRAY[9, 10, 11, 12], 'Cat Ng', 'cat@example.org');
RESET ROLE;
-- 0 is no limit
SET medreserve.max_live_holds_per_patient = 0;
SET ROLE mr_kiosk;
SELECT id, status FROM medreserve_hold(13, 'Cat Ng', 'cat@example.org');
-- but an email proves nothing: a kiosk is not handed Cat's hold
\set VERBOSITY terse
SELECT id FROM medreserve_hold(7, 'Cat Ng', 'cat@example.org');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
RESET medreserve.max_live_holds_per_patient;

-- ==== Upcoming bookings per patient (default 0: no limit) ====
SET medreserve.max_future_bookings_per_patient = 2;
SET ROLE mr_kiosk;
SELECT id, status FROM medreserve_book(20, 'Gus Hale', 'gus@example.org');
SELECT id, status FROM medreserve_book(21, 'Gus Hale', 'gus@example.org');   -- exactly at it
SELECT id FROM medreserve_book(22, 'Gus Hale', 'gus@example.org');          -- one over
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_hold(23, 'Gus Hale', 'gus@example.org');          -- a hold is one too
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT id, status FROM medreserve_book(22, 'Gus Hale', 'gus@example.org');   -- admin
RESET medreserve.max_future_bookings_per_patient;

-- ==== The limits are the clinic's: a patient cannot raise them ====
SET ROLE mr_kiosk;
SET medreserve.max_live_holds_per_patient = 100;
SET medreserve.max_hold_duration = '7d';
SET medreserve.min_notice = 0;
RESET ROLE;

-- ==== hold_duration is capped by max_hold_duration (15 min by default) ====
SET ROLE mr_kiosk;
SET medreserve.hold_duration = '7d';
SELECT id, expires_at - created_at AS lasts FROM medreserve_hold(25, 'Ivy Jones', 'ivy@example.org');
SET medreserve.hold_duration = '90s';
SELECT id, expires_at - created_at AS lasts FROM medreserve_hold(26, 'Ivy Jones', 'ivy@example.org');
RESET ROLE;
SET medreserve.max_hold_duration = '1min';
SELECT id, expires_at - created_at AS lasts FROM medreserve_hold(27, 'Ivy Jones', 'ivy@example.org');
RESET medreserve.max_hold_duration;
RESET medreserve.hold_duration;

-- ==== Minimum notice and maximum advance, at their edges ====
-- now() is fixed within a transaction, so slots can sit exactly on the edges
BEGIN;
INSERT INTO medreserve.doctors (id, name) VALUES (2, 'Dr Bo Chan'), (3, 'Dr Cy Dunn');
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES
    (2, now() + interval '2 hours' - interval '1 second'),   -- 31: too soon
    (3, now() + interval '2 hours'),                         -- 32: just in time
    (2, now() + interval '30 days'),                         -- 33: just far enough
    (3, now() + interval '30 days' + interval '1 second');   -- 34: too far
SET LOCAL medreserve.min_notice = '2h';
SET LOCAL medreserve.max_advance = '30d';
SET LOCAL ROLE mr_kiosk;
SELECT slot_id, status FROM medreserve_hold(32, 'Joe King', 'joe@example.org');
SELECT slot_id, status FROM medreserve_book(33, 'Joe King', 'joe@example.org');
\set VERBOSITY terse
SAVEPOINT s;
SELECT id FROM medreserve_hold(31, 'Joe King', 'joe@example.org');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT id FROM medreserve_book(34, 'Joe King', 'joe@example.org');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
\set VERBOSITY default
DO $$
DECLARE
    detail text;
BEGIN
    PERFORM medreserve_hold(31, 'Joe King', 'joe@example.org');
EXCEPTION WHEN SQLSTATE 'PT409' THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'too soon: %', detail = format(
        'It starts at %s; bookings close 2h before the start (medreserve.min_notice).',
        to_char((now() + interval '2 hours' - interval '1 second') AT TIME ZONE 'UTC',
                'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
END
$$;
-- admins are exempt
SET LOCAL ROLE mr_desk;
SELECT slot_id, status FROM medreserve_hold(31, 'Joe King', 'joe@example.org');
SELECT slot_id, status FROM medreserve_book(34, 'Joe King', 'joe@example.org');
ROLLBACK;

-- ==== Details carry ISO 8601 UTC times, whatever the session's TimeZone ====
SELECT id AS held FROM medreserve_hold(28, 'Kim Lo', 'kim@example.org') \gset
DO $$
DECLARE
    message text;
    detail text;
BEGIN
    PERFORM medreserve_book(28, 'Len Moe', 'len@example.org');
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE '%: detail in the documented form, time in UTC: %', message,
        detail ~ '^Another patient holds it until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.$'
        AND (regexp_match(detail, 'until (.*)Z\.'))[1]::timestamp
            = date_trunc('second', (SELECT expires_at FROM medreserve.bookings
                                     WHERE slot_id = 28) AT TIME ZONE 'UTC');
END
$$;
SELECT id FROM medreserve_book(1, 'Len Moe', 'len@example.org');

-- ==== Reschedule and cancel with a reason, retried ====
-- a reschedule re-sent: the same new booking, the old one moved once
SELECT id AS moving FROM medreserve_book(14, 'Ann Lee', 'ann@example.org') \gset
SELECT slot_id, status, rescheduled_from = :moving AS moved FROM medreserve_reschedule(:moving, 15, idempotency_key => 'k-move');
SELECT slot_id, status, rescheduled_from = :moving AS moved FROM medreserve_reschedule(:moving, 15, idempotency_key => 'k-move');
SELECT count(*) AS bookings_of_the_move FROM medreserve.bookings WHERE slot_id IN (14, 15);
-- cancel with a reason and a key; the same key with another reason is another call
SELECT id AS moved_to FROM medreserve.bookings WHERE rescheduled_from = :moving \gset
SELECT status, cancel_reason FROM medreserve_cancel(:moved_to, 'ill', 'k-cancel-10');
SELECT status, cancel_reason FROM medreserve_cancel(:moved_to, 'ill', 'k-cancel-10');
\set VERBOSITY terse
SELECT id FROM medreserve_cancel(:moved_to, 'away', 'k-cancel-10');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- ==== A patient's reschedule obeys the rules of booking ====
-- the booking window for the new slots (PT409); the live-holds limit for
-- the slots a hold gains (PT429); no upcoming-bookings limit (a move adds no
-- booking); admins are exempt.  PT422 and PT429 are counted like the others.
SELECT pg_temp.counter('refused_over_limit') AS over_before,
       pg_temp.counter('refused_state_conflict') AS conflict_before,
       pg_temp.counter('refused_key_reused') AS reused_before \gset
BEGIN;
INSERT INTO medreserve.doctors (id, name) VALUES (4, 'Dr Di Eng');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 4, now() + interval '1 day' + i * interval '15 minutes' FROM generate_series(1, 6) AS i
UNION ALL VALUES (4, now() + interval '1 hour'), (4, now() + interval '40 days');
SELECT id AS soon FROM medreserve.slots WHERE doctor_id = 4 ORDER BY start_time LIMIT 1 \gset
SELECT id AS far FROM medreserve.slots WHERE doctor_id = 4 ORDER BY start_time DESC LIMIT 1 \gset
SELECT ids[2] AS a1, ids[3] AS a2, ids[4] AS a3, ids[5] AS a4, ids[6] AS a5, ids[7] AS a6
FROM (SELECT array_agg(id ORDER BY start_time) AS ids FROM medreserve.slots WHERE doctor_id = 4) s \gset
SET LOCAL medreserve.min_notice = '2h';
SET LOCAL medreserve.max_advance = '30d';
SET LOCAL medreserve.max_live_holds_per_patient = 2;
SET LOCAL medreserve.max_future_bookings_per_patient = 1;
SET SESSION AUTHORIZATION mr_gw;
SELECT pg_temp.as_patient('eve@example.org');
SELECT id AS eves FROM medreserve_book(:a1, 'Eve Ray') \gset
\set VERBOSITY terse
SAVEPOINT s;
-- at her one upcoming booking, a second booking is over the limit ...
SELECT id FROM medreserve_book(:a2, 'Eve Ray');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- ... but moving the one she has is not
SELECT slot_id = :a2 AS moved, status FROM medreserve_reschedule(:eves, :a2);
SELECT id AS eves FROM medreserve.bookings WHERE rescheduled_from = :eves \gset
SAVEPOINT s;
-- not into the notice window, nor beyond the advance
SELECT id FROM medreserve_reschedule(:eves, :soon);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT id FROM medreserve_reschedule(:eves, :far);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT slot_id = :a2 AS still_there, status FROM medreserve.bookings WHERE id = :eves;
-- a hold may move as long as it does not take her past two held slots
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET LOCAL medreserve.max_future_bookings_per_patient = 0;
SET SESSION AUTHORIZATION mr_gw;
SELECT pg_temp.as_patient('eve@example.org');
SELECT id AS eves_hold FROM medreserve_hold(:a3, 'Eve Ray') \gset
-- 1 slot held, 1 more: exactly at the limit
SELECT status, slot_id = :a4 AS moved FROM medreserve_reschedule(:eves_hold, ARRAY[:a4, :a5]);
SELECT id AS eves_hold FROM medreserve.bookings WHERE rescheduled_from = :eves_hold \gset
SAVEPOINT s;
-- 2 slots held, 1 more: over it (the detail says so)
\set VERBOSITY default
SELECT id FROM medreserve_reschedule(:eves_hold, ARRAY[:a3, :a4, :a6]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
\set VERBOSITY terse
-- moving to fewer slots is fine
SELECT status, slot_id = :a6 AS moved FROM medreserve_reschedule(:eves_hold, :a6);
-- an idempotency key sent again for another move: PT422, counted
SELECT slot_id = :a3 AS moved FROM medreserve_reschedule(:eves, :a3, idempotency_key => 'k-eve');
SELECT id AS eves FROM medreserve.bookings WHERE rescheduled_from = :eves \gset
SAVEPOINT s;
SELECT id FROM medreserve_reschedule(:eves, :a4, idempotency_key => 'k-eve');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
\set VERBOSITY default
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.no_request();
-- admins are exempt: the desk moves her booking into the notice window
SET LOCAL ROLE mr_desk;
SELECT slot_id = :soon AS moved_by_desk, status FROM medreserve_reschedule(:eves, :soon);
RESET ROLE;
SELECT count(*) AS problems FROM medreserve_verify();
ROLLBACK;
-- the refusals above were counted by kind: two PT429, two PT409 (window), one PT422
SELECT pg_temp.counter('refused_over_limit') - :over_before AS over_limit,
       pg_temp.counter('refused_state_conflict') - :conflict_before AS state_conflict,
       pg_temp.counter('refused_key_reused') - :reused_before AS key_reused;

-- ==== ALTER ROLE ... SET reaches the role's sessions ====
SELECT current_user AS superuser \gset
ALTER ROLE mr_kiosk SET medreserve.max_live_holds_per_patient = 1;
\c - mr_kiosk
SHOW medreserve.max_live_holds_per_patient;
SELECT status FROM medreserve_hold(29, 'Max Nye', 'max@example.org');
SELECT id FROM medreserve_hold(30, 'Max Nye', 'max@example.org');
\c - :superuser
ALTER ROLE mr_kiosk RESET ALL;

SELECT * FROM medreserve_verify();
DROP ROLE mr_gw, mr_web, mr_kiosk, mr_desk;
