-- 06_trust.sql: the trust boundary of 1.2, tried as an attacker would.
--
-- A JWT email claim is an ordinary setting; it counts only in a session that
-- came through a member of medreserve_gateway with a switched role (as
-- PostgREST's authenticator does).  A direct login in the patient role that
-- sets the claim itself has no identity: it can book (the kiosk case) but
-- not read, confirm or cancel anybody's bookings.  Emails compare by ASCII
-- folding only (a KELVIN SIGN look-alike is another address).  Names follow
-- one rule everywhere; booked slots cannot be moved.
--
-- SET SESSION AUTHORIZATION makes the session user what a direct login would
-- make it, so the attacks run exactly as they would over a real connection.
BEGIN;
SELECT plan(41);

-- Fixtures ----------------------------------------------------------------
CREATE ROLE mr_mallory LOGIN IN ROLE medreserve_patient;        -- a direct login
CREATE ROLE mr_web_patient NOLOGIN IN ROLE medreserve_patient;  -- PostgREST's role
CREATE ROLE mr_authenticator LOGIN NOINHERIT;                   -- PostgREST's login
GRANT mr_web_patient TO mr_authenticator;
GRANT mr_web_patient TO mr_mallory;
CREATE ROLE mr_outsider LOGIN NOINHERIT;                         -- a login without the gateway
GRANT mr_web_patient TO mr_outsider;
GRANT medreserve_gateway TO mr_authenticator;

INSERT INTO medreserve.doctors (name) VALUES ('Dr One') RETURNING id AS doc \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT :doc, now() + interval '1 day' + i * interval '15 minutes' FROM generate_series(0, 9) i;
SELECT min(id) AS s0 FROM medreserve.slots \gset
SELECT id AS vic_booking FROM medreserve_book(:s0, 'Vic Tim', 'vic@example.org') \gset
SELECT id AS kate_booking FROM medreserve_book(:s0 + 1, 'Kate Lee', 'kate@example.org') \gset
SELECT id AS vic_hold FROM medreserve_hold(:s0 + 2, 'Vic Tim', 'vic@example.org') \gset

-- The attack of the issue: a direct login sets Vic's claim --------------------
SET SESSION AUTHORIZATION mr_mallory;
SELECT set_config('request.jwt.claims', '{"email":"vic@example.org"}', false) IS NOT NULL AS claimed;
SELECT is(medreserve.current_patient_email(), NULL, 'a direct login has no identity, whatever it claims');
SELECT throws_ok('SELECT * FROM medreserve_my_bookings()', '42501', NULL,
                 'a direct login cannot list the claimed patient''s bookings');
SELECT throws_ok(format('SELECT * FROM medreserve_cancel(%s)', :vic_booking), '42501', NULL,
                 'a direct login cannot cancel the claimed patient''s booking');
SELECT throws_ok(format('SELECT * FROM medreserve_confirm(%s)', :vic_hold), '42501', NULL,
                 'a direct login cannot confirm the claimed patient''s hold');
SELECT is((SELECT count(*) FROM medreserve.bookings), 0::bigint,
          'a direct login reads no rows of bookings through the RLS policy');
-- switching role does not help either: the session user is not a gateway
SET ROLE mr_web_patient;
SELECT is(medreserve.current_patient_email(), NULL, 'nor after SET ROLE, without the gateway');
SELECT throws_ok('SELECT * FROM medreserve_my_bookings()', '42501', NULL,
                 'nor can it list bookings after SET ROLE');
SELECT is((SELECT count(*) FROM medreserve.bookings), 0::bigint, 'nor read rows after SET ROLE');
-- booking still works, without identity (the kiosk case)
SELECT is((SELECT status FROM medreserve_book(:s0 + 3, 'Mal Lory', 'mal@example.org')), 'CONFIRMED',
          'a caller without identity may still book (kiosk)');
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- Another login with the patient role but outside the gateway -----------------
SET SESSION AUTHORIZATION mr_outsider;
SET ROLE mr_web_patient;
SELECT set_config('request.jwt.claims', '{"email":"vic@example.org"}', false) IS NOT NULL AS claimed;
SELECT is(medreserve.current_patient_email(), NULL, 'a NOINHERIT login that is not a gateway has no identity');
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- The gateway: PostgREST's authenticator switches to the patient role ---------
SET SESSION AUTHORIZATION mr_authenticator;
SELECT set_config('request.jwt.claims', '{"email":"vic@example.org"}', false) IS NOT NULL AS claimed;
SET ROLE mr_web_patient;
SELECT is(medreserve.current_patient_email(), 'vic@example.org',
          'through the gateway with a switched role the claim counts');
SELECT is((SELECT array_agg(id ORDER BY id) FROM medreserve_my_bookings()),
          ARRAY[:vic_booking, :vic_hold], 'the patient lists exactly their bookings');
SELECT is((SELECT array_agg(id ORDER BY id) FROM medreserve.bookings),
          ARRAY[:vic_booking, :vic_hold], 'the RLS policy shows exactly their rows');
SELECT is((SELECT status FROM medreserve_confirm(:vic_hold)), 'CONFIRMED', 'they confirm their hold');
SELECT throws_ok(format('SELECT * FROM medreserve_cancel(%s)', :kate_booking), 'PT404', NULL,
                 'another patient''s booking does not exist for them');

-- Look-alike emails: KELVIN SIGN (U+212A) is not "K" -----------------------------
SELECT set_config('request.jwt.claims', U&'{"email":"\212Aate@example.org"}', false) IS NOT NULL AS claimed;
SELECT is(medreserve.current_patient_email(), U&'\212Aate@example.org', 'the look-alike claim is taken as it is');
SELECT is((SELECT count(*) FROM medreserve_my_bookings()), 0::bigint,
          'a look-alike of kate@example.org lists none of Kate''s bookings');
SELECT is((SELECT count(*) FROM medreserve.bookings), 0::bigint,
          'nor reads Kate''s rows through the RLS policy');
SELECT throws_ok(format('SELECT * FROM medreserve_cancel(%s)', :kate_booking), 'PT404', NULL,
                 'nor cancels Kate''s booking');
-- ASCII case still folds
SELECT set_config('request.jwt.claims', '{"email":"KATE@Example.ORG"}', false) IS NOT NULL AS claimed;
SELECT is((SELECT array_agg(id) FROM medreserve_my_bookings()), ARRAY[:kate_booking],
          'ASCII letters compare without case');
SELECT throws_ok(format('SELECT * FROM medreserve_book(%s, %L, %L)', :s0 + 4, 'Kate Lee', U&'\212Aate@example.org'),
                 '42501', 'cannot book for another patient',
                 'a signed-in patient cannot book under a look-alike of their email');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is(medreserve.email_key(U&'\212Aate@Example.ORG'), U&'\212Aate@example.org',
          'email_key folds ASCII letters only');
SELECT isnt(medreserve.email_key(U&'\212Aate@example.org'), medreserve.email_key('kate@example.org'),
            'email_key keeps look-alikes apart, unlike lower()');

-- Admins ---------------------------------------------------------------------
CREATE ROLE mr_desk IN ROLE medreserve_admin;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS signed_out;
SET ROLE mr_desk;
SELECT ok(medreserve.caller_is_admin(), 'a medreserve_admin member is an admin');
SELECT throws_ok('SELECT * FROM medreserve_my_bookings()', '42501',
                 'medreserve_my_bookings() lists a signed-in patient''s own bookings',
                 'an admin gets a clear answer from my_bookings');
RESET ROLE;

-- Names: one rule for doctors and patients ----------------------------------------
SELECT throws_ok($$SELECT medreserve_add_doctor(U&'\00A0\00A0')$$, '22023', 'name must not be blank',
                 'a doctor named only by no-break spaces is refused');
SELECT throws_ok($$SELECT medreserve_add_doctor(U&'\200B')$$, '22023', 'name must not be blank',
                 'a doctor named by a zero-width space is refused');
SELECT throws_ok($$SELECT medreserve_add_doctor(NULL)$$, '22004', 'name must not be null',
                 'a doctor without a name is refused');
SELECT throws_ok($$SELECT medreserve_add_doctor('Dr X', 'card' || chr(9) || 'iology')$$, '22023',
                 'specialization must not contain control characters',
                 'a specialization with a tab is refused');
SELECT is((SELECT name FROM medreserve_add_doctor(U&'\00A0Dr Seán O’Brien ', U&' \3000')),
          'Dr Seán O’Brien', 'surrounding Unicode blanks are trimmed');
SELECT is((SELECT specialization FROM medreserve.doctors WHERE name = 'Dr Seán O’Brien'), NULL,
          'a blank specialization is none');
SELECT throws_ok(format($$SELECT medreserve_add_doctor(%L)$$, repeat('é', 201)), '22023', 'name is too long',
                 'a name of 201 characters is refused');
SELECT lives_ok(format($$SELECT medreserve_add_doctor(%L)$$, repeat('é', 200)),
                'a name of 200 two-byte characters (400 bytes) is accepted: the limit is in characters');
SELECT throws_ok($$INSERT INTO medreserve.doctors (name) VALUES (U&'\00A0')$$, '23514', NULL,
                 'the table CHECK applies the same name rule to direct inserts');
-- emails: the limit is in bytes, in the C check and the CHECK alike
\set long_email '\'' `printf 'a%.0s' $(seq 60)` '@' `printf 'é%.0s' $(seq 95)` '.org\''
SELECT is(octet_length(:long_email) || '/' || char_length(:long_email), '255/160', 'fixture: 160 characters, 255 bytes');
SELECT throws_ok(format($$INSERT INTO medreserve.bookings (slot_id, patient_name, patient_email, status,
                                                      doctor_id, starts_at, ends_at, cancelled_at)
                          VALUES (%s, 'A', %L, 'CANCELLED', %s, now() + interval '1 day',
                                  now() + interval '1 day 15 minutes', now())$$, :s0, :long_email, :doc),
                 '23514', NULL, 'an email of 255 bytes (160 characters) is refused by the table');
SELECT throws_ok(format($$SELECT medreserve_book(%s, 'A', %L)$$, :s0 + 5, :long_email),
                 '22023', 'patient_email is not a valid email address', 'and by the API, with the same limit');

-- Booked slots stay where they are ------------------------------------------------
SELECT throws_ok(format($$UPDATE medreserve.slots SET start_time = start_time + interval '1 day' WHERE id = %s$$, :s0),
                 '23503', format('slot %s is covered by live booking %s', :s0, :vic_booking),
                 'a booked slot cannot be moved');
SELECT throws_ok(format($$UPDATE medreserve.slots SET duration_minutes = 30 WHERE id = %s$$, :s0 + 1),
                 '23503', NULL, 'nor lengthened');
SELECT lives_ok(format($$UPDATE medreserve.slots SET start_time = start_time + interval '1 day' WHERE id = %s$$, :s0 + 9),
                'a free slot can be moved');

-- Functions whose results change within a statement are VOLATILE -----------------
SELECT is((SELECT array_agg(provolatile::text ORDER BY proname) FROM pg_proc
            WHERE proname IN ('medreserve_stats', 'medreserve_counters', 'medreserve_health')),
          ARRAY['v', 'v', 'v'], 'stats, counters and health are VOLATILE');

SELECT * FROM finish();
ROLLBACK;
