-- 03_errors.sql: every refusal of the API, with the SQLSTATE and primary
-- message that are part of the contract (PostgREST turns the SQLSTATE into
-- the HTTP status): 22004 for a NULL, 22023 for an unusable value, PT404 for
-- a missing slot or booking, 23505 for a taken slot, PT409 for a state that
-- forbids the change.  Each refusal is also checked to leave every row of
-- the four tables as it was.
BEGIN;
SELECT plan(152);

-- Fixtures ----------------------------------------------------------------
INSERT INTO medreserve.doctors (name) VALUES ('Dr One') RETURNING id AS doc1 \gset
INSERT INTO medreserve.doctors (name) VALUES ('Dr Two') RETURNING id AS doc2 \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '1 day') RETURNING id AS free \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '1 day 15 minutes') RETURNING id AS free2 \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc2, now() + interval '1 day') RETURNING id AS other_doc \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '2 days') RETURNING id AS booked \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '3 days') RETURNING id AS held \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '4 days') RETURNING id AS lapsed_slot \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '5 days') RETURNING id AS cancelled_slot \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '6 days') RETURNING id AS failed_slot \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() - interval '1 hour') RETURNING id AS past \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now()) RETURNING id AS starting_now \gset
SELECT coalesce(max(id), 0) + 1000 AS missing_slot FROM medreserve.slots \gset

INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc1, now() + interval '7 days') RETURNING id AS booked_after \gset

SELECT id AS booking_confirmed FROM medreserve_book(:booked, 'Ann') \gset
SELECT id AS booking_after FROM medreserve_book(:booked_after, 'Ann') \gset
SELECT id AS booking_held FROM medreserve_hold(:held, 'Ben') \gset
SELECT id AS booking_cancelled, status AS cancelled_status
  FROM medreserve_cancel((SELECT id FROM medreserve_book(:cancelled_slot, 'Dee'))) \gset
-- a hold that lapsed and was swept: FAILED
SELECT id AS booking_failed FROM medreserve_hold(:failed_slot, 'Eve') \gset
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second'
 WHERE id = :booking_failed;
SELECT medreserve_expire() AS swept \gset
-- a hold that lapsed but was not swept yet: still PENDING
SELECT id AS booking_lapsed FROM medreserve_hold(:lapsed_slot, 'Cid') \gset
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second'
 WHERE id = :booking_lapsed;
SELECT coalesce(max(id), 0) + 1000 AS missing_booking FROM medreserve.bookings \gset

-- A digest of every row of the four tables, and refused(): throws_ok plus a
-- second test that the refused call changed no row of them.
CREATE FUNCTION pg_temp.tables_digest() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ',
        (SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))
           FROM medreserve.doctors t),
        (SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))
           FROM medreserve.slots t),
        (SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))
           FROM medreserve.bookings t),
        (SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))
           FROM medreserve.booking_slots t))
$$;
CREATE FUNCTION pg_temp.refused(call text, code char(5), message text, description text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.tables_digest();
BEGIN
    RETURN NEXT throws_ok(call, code, message, description);
    RETURN NEXT is(pg_temp.tables_digest(), before, description || ': no row changed');
END
$$;
SELECT pg_temp.tables_digest() AS digest_before \gset

-- 22004: NULL where a value is required -----------------------------------
SELECT pg_temp.refused('SELECT medreserve_book(NULL::integer, ''Pat'')', '22004',
                 'slot_id must not be null', 'book: NULL slot_id');
SELECT pg_temp.refused('SELECT medreserve_book(NULL::integer[], ''Pat'')', '22004',
                 'slot_ids must not be null', 'book: NULL slot_ids');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s, NULL], ''Pat'')', :free), '22004',
                 'slot_ids must not contain null', 'book: NULL element in slot_ids');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, NULL)', :free), '22004',
                 'patient_name must not be null', 'book: NULL patient_name');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s], NULL)', :free), '22004',
                 'patient_name must not be null', 'book many: NULL patient_name');
SELECT pg_temp.refused('SELECT medreserve_hold(NULL::integer, ''Pat'')', '22004',
                 'slot_id must not be null', 'hold: NULL slot_id');
SELECT pg_temp.refused('SELECT medreserve_hold(NULL::integer[], ''Pat'')', '22004',
                 'slot_ids must not be null', 'hold: NULL slot_ids');
SELECT pg_temp.refused(format('SELECT medreserve_hold(ARRAY[NULL, %s], ''Pat'')', :free), '22004',
                 'slot_ids must not contain null', 'hold: NULL element in slot_ids');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, NULL)', :free), '22004',
                 'patient_name must not be null', 'hold: NULL patient_name');
SELECT pg_temp.refused('SELECT medreserve_confirm(NULL)', '22004',
                 'booking_id must not be null', 'confirm: NULL booking_id');
SELECT pg_temp.refused('SELECT medreserve_cancel(NULL)', '22004',
                 'booking_id must not be null', 'cancel: NULL booking_id');
SELECT pg_temp.refused('SELECT medreserve_book(slot_id => NULL, patient_name => ''Pat'')', '22004',
                 'slot_id must not be null', 'book by named arguments (PostgREST): NULL slot_id');

-- 22023: patient_name -----------------------------------------------------
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, '''')', :free), '22023',
                 'patient_name must not be blank', 'book: empty patient_name');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, %L)', :free, E' \t\n\r '), '22023',
                 'patient_name must not be blank', 'book: patient_name of blanks only');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, %L)', :free, '   '), '22023',
                 'patient_name must not be blank', 'hold: patient_name of spaces only');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, %L)', :free, repeat('x', 201)), '22023',
                 'patient_name is too long', 'book: patient_name of 201 characters');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, %L)', :free, repeat('é', 201)), '22023',
                 'patient_name is too long', 'hold: patient_name of 201 two-byte characters');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s], %L)', :free, repeat('x', 201)), '22023',
                 'patient_name is too long', 'book many: patient_name of 201 characters');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, %L)', :free, E'Pat\x01'), '22023',
                 'patient_name must not contain control characters', 'book: patient_name with \x01');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, %L)', :free, E'Pat\nSmith'), '22023',
                 'patient_name must not contain control characters', 'book: patient_name with an inner newline');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, %L)', :free, E'Pat\tSmith'), '22023',
                 'patient_name must not contain control characters', 'book: patient_name with an inner tab');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, %L)', :free, E'Pat\x7f'), '22023',
                 'patient_name must not contain control characters', 'hold: patient_name with DEL');

-- 22023: patient_email ----------------------------------------------------
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'', %L)', :free, e.addr), '22023',
                 'patient_email is not a valid email address',
                 format('book: malformed email %s', e.why))
  FROM (VALUES ('', 'empty'),
               ('pat.example.org', 'without @'),
               ('pat@@example.org', 'with two @'),
               ('pat@home@example.org', 'with @ twice apart'),
               ('@example.org', 'with nothing before @'),
               (repeat('p', 65) || '@example.org', 'with 65 characters before @'),
               ('pat@example', 'whose domain has no dot'),
               ('pat@', 'with nothing after @'),
               ('pat@.example.org', 'whose domain starts with a dot'),
               ('pat@example.org.', 'ending with a dot'),
               ('pat@example..org', 'with two dots in a row'),
               ('pat smith@example.org', 'with a blank'),
               (' pat@example.org', 'with a leading blank'),
               (E'pat@example.org\n', 'with a newline'),
               (E'pat\x01@example.org', 'with a control character'),
               ('p@' || repeat('d', 249) || '.org', 'of 255 bytes')
       ) AS e(addr, why);
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, ''Pat'', %L)', :free, 'pat@example'), '22023',
                 'patient_email is not a valid email address', 'hold: malformed email');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s], ''Pat'', %L)', :free, 'pat'), '22023',
                 'patient_email is not a valid email address', 'book many: malformed email');

-- 22023: slot_ids ---------------------------------------------------------
SELECT pg_temp.refused('SELECT medreserve_book(''{}''::integer[], ''Pat'')', '22023',
                 'slot_ids must not be empty', 'book: empty slot_ids');
SELECT pg_temp.refused('SELECT medreserve_hold(ARRAY[]::integer[], ''Pat'')', '22023',
                 'slot_ids must not be empty', 'hold: empty slot_ids');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s, %s, %s], ''Pat'')', :free, :free2, :free), '22023',
                 format('slot %s is listed more than once', :free), 'book: a slot listed twice');
SELECT pg_temp.refused(format('SELECT medreserve_hold(ARRAY[%s, %s], ''Pat'')', :free2, :free2), '22023',
                 format('slot %s is listed more than once', :free2), 'hold: a slot listed twice');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[[%s, %s], [%s, %s]], ''Pat'')', :free, :free2, :held, :booked),
                 '22023', 'slot_ids must be a one-dimensional array', 'book: a two-dimensional slot_ids');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s, %s], ''Pat'')', :free, :other_doc), '22023',
                 'slots of different doctors cannot be booked together', 'book: slots of two doctors');
SELECT pg_temp.refused(format('SELECT medreserve_hold(ARRAY[%s, %s], ''Pat'')', :other_doc, :free2), '22023',
                 'slots of different doctors cannot be booked together', 'hold: slots of two doctors');
SELECT pg_temp.refused('SELECT medreserve_book(ARRAY(SELECT generate_series(1, 101)), ''Pat'')', '22023',
                 'too many slots in one booking', 'book: 101 slots');
SELECT pg_temp.refused('SELECT medreserve_hold(ARRAY(SELECT generate_series(1, 101)), ''Pat'')', '22023',
                 'too many slots in one booking', 'hold: 101 slots');
-- 100 is allowed: the call gets as far as looking the slots up.
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY(SELECT generate_series(%s, %s + 99)), ''Pat'')',
                        :missing_slot, :missing_slot),
                 'PT404', format('slot %s does not exist', :missing_slot), 'book: 100 slots pass the size check');

-- PT404: unknown slot or booking ------------------------------------------
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'')', :missing_slot), 'PT404',
                 format('slot %s does not exist', :missing_slot), 'book: unknown slot');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, ''Pat'')', :missing_slot), 'PT404',
                 format('slot %s does not exist', :missing_slot), 'hold: unknown slot');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s, %s], ''Pat'')', :missing_slot, :free), 'PT404',
                 format('slot %s does not exist', :missing_slot), 'book many: one unknown slot among free ones');
SELECT pg_temp.refused(format('SELECT medreserve_hold(ARRAY[%s, %s], ''Pat'')', :free, :missing_slot), 'PT404',
                 format('slot %s does not exist', :missing_slot), 'hold many: one unknown slot among free ones');
SELECT pg_temp.refused('SELECT medreserve_book(-1, ''Pat'')', 'PT404',
                 'slot -1 does not exist', 'book: negative slot id');
SELECT pg_temp.refused(format('SELECT medreserve_confirm(%s)', :missing_booking), 'PT404',
                 format('booking %s does not exist', :missing_booking), 'confirm: unknown booking');
SELECT pg_temp.refused(format('SELECT medreserve_cancel(%s)', :missing_booking), 'PT404',
                 format('booking %s does not exist', :missing_booking), 'cancel: unknown booking');

-- 23505: the slot is taken ------------------------------------------------
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'')', :booked), '23505',
                 format('slot %s is already booked', :booked), 'book: a booked slot');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, ''Pat'')', :booked), '23505',
                 format('slot %s is already booked', :booked), 'hold: a booked slot');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s, %s], ''Pat'')', :free, :booked), '23505',
                 format('slot %s is already booked', :booked), 'book many: a free slot and a booked one');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'')', :held), '23505',
                 format('slot %s is already held', :held), 'book: a held slot');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, ''Pat'')', :held), '23505',
                 format('slot %s is already held', :held), 'hold: a held slot');
SELECT pg_temp.refused(format('SELECT medreserve_hold(ARRAY[%s, %s], ''Pat'')', :held, :free), '23505',
                 format('slot %s is already held', :held), 'hold many: a free slot and a held one');
-- a lapsed hold is released, but a live booking on another slot still refuses
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s, %s], ''Pat'')', :booked_after, :lapsed_slot), '23505',
                 format('slot %s is already booked', :booked_after), 'book many: a lapsed hold''s slot and a booked one');

-- PT409: started slots and bookings in the wrong state ----------------------
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'')', :past), 'PT409',
                 format('slot %s has already started', :past), 'book: a slot in the past');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, ''Pat'')', :past), 'PT409',
                 format('slot %s has already started', :past), 'hold: a slot in the past');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'')', :starting_now), 'PT409',
                 format('slot %s has already started', :starting_now), 'book: a slot starting right now');
SELECT pg_temp.refused(format('SELECT medreserve_book(ARRAY[%s, %s], ''Pat'')', :free, :past), 'PT409',
                 format('slot %s has already started', :past), 'book many: a future slot and a past one');
SELECT pg_temp.refused(format('SELECT medreserve_confirm(%s)', :booking_confirmed), 'PT409',
                 format('booking %s is not pending', :booking_confirmed), 'confirm: a confirmed booking');
SELECT pg_temp.refused(format('SELECT medreserve_confirm(%s)', :booking_cancelled), 'PT409',
                 format('booking %s is not pending', :booking_cancelled), 'confirm: a cancelled booking');
SELECT pg_temp.refused(format('SELECT medreserve_confirm(%s)', :booking_failed), 'PT409',
                 format('booking %s is not pending', :booking_failed), 'confirm: a failed hold');
SELECT pg_temp.refused(format('SELECT medreserve_confirm(%s)', :booking_lapsed), 'PT409',
                 format('booking %s has expired', :booking_lapsed), 'confirm: a hold that lapsed');
SELECT pg_temp.refused(format('SELECT medreserve_cancel(%s)', :booking_cancelled), 'PT409',
                 format('booking %s cannot be cancelled', :booking_cancelled), 'cancel: a cancelled booking');
SELECT pg_temp.refused(format('SELECT medreserve_cancel(%s)', :booking_failed), 'PT409',
                 format('booking %s cannot be cancelled', :booking_failed), 'cancel: a failed hold');

-- A refused call leaves no row behind ---------------------------------------
-- Each refusal above was checked on its own; now all of them together.  An
-- ERROR undoes everything the call did: not a booking, not a booking_slots
-- row, not even the release of the lapsed hold survives.
SELECT is(pg_temp.tables_digest(), :'digest_before',
          'the refusals left every table exactly as it was');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots
            WHERE slot_id IN (:free, :free2, :other_doc, :past, :starting_now)),
          0, 'no refused call took a free slot');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :booking_lapsed),
          'PENDING', 'the lapsed hold is still PENDING: its release was rolled back with the refusal');
SELECT is((SELECT count(*)::int FROM medreserve.bookings WHERE patient_name = 'Pat'),
          0, 'no booking of the refused patient exists');

SELECT * FROM finish();
ROLLBACK;
