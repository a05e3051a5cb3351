-- 04_booking.sql: booking at once and cancelling, one slot or many: what the
-- calls return, what they store (bookings and booking_slots), the limits that
-- are still accepted, and that a cancelled booking gives its slots back.
BEGIN;
SELECT plan(37);

INSERT INTO medreserve.doctors (name) VALUES ('Dr Book') RETURNING id AS doc \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '1 day') RETURNING id AS s1 \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '1 day 30 minutes') RETURNING id AS s_late \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '1 day 15 minutes') RETURNING id AS s_early \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '2 days') RETURNING id AS s2 \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '3 days') RETURNING id AS s3 \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '4 days') RETURNING id AS s4 \gset

-- One slot ----------------------------------------------------------------
SELECT * FROM medreserve_book(:s1, E'  Ann Lee \t', 'ann@example.org') \gset b1_
SELECT is(:'b1_status'::text, 'CONFIRMED', 'book returns a CONFIRMED booking');
SELECT is(:b1_slot_id, :s1, 'the booking names its slot');
SELECT is(:'b1_patient_name'::text, 'Ann Lee', 'surrounding blanks are trimmed from patient_name');
SELECT is(:'b1_patient_email'::text, 'ann@example.org', 'patient_email is stored as given');
SELECT ok((SELECT expires_at IS NULL FROM medreserve.bookings WHERE id = :b1_id),
          'a booking made at once has no expiry');
SELECT is(:'b1_created_at'::timestamptz, now(), 'created_at is the transaction time');
SELECT results_eq(format('SELECT b.*::text FROM medreserve.bookings b WHERE id = %s', :b1_id),
                  format('SELECT ROW(%s, %s, %L, %L, %L, NULL::timestamptz, %L::timestamptz, %L::timestamptz,'
                         ' %s, %L::timestamptz, %L::timestamptz, NULL, NULL, NULL, NULL, NULL, NULL,'
                         ' NULL, NULL, NULL, NULL, NULL)::medreserve.bookings::text',
                         :b1_id, :s1, 'Ann Lee', 'ann@example.org', 'CONFIRMED', :'b1_created_at', :'b1_updated_at',
                         :doc, :'b1_starts_at', :'b1_ends_at'),
                  'the returned row is the stored row');
SELECT results_eq(format('SELECT booking_id, slot_id FROM medreserve.booking_slots WHERE booking_id = %s', :b1_id),
                  format('VALUES (%s, %s)', :b1_id, :s1),
                  'one booking_slots row ties the booking to its slot');

SELECT * FROM medreserve_book(:s2, 'Bo') \gset b2_
SELECT is(:'b2_status'::text, 'CONFIRMED', 'patient_email is optional');
SELECT ok((SELECT patient_email IS NULL FROM medreserve.bookings WHERE id = :b2_id),
          'a missing email is stored as NULL');

SELECT lives_ok(format('SELECT medreserve_book(%s, %L, %L)', :s3, repeat('é', 200),
                       repeat('p', 64) || '@' || repeat('d', 185) || '.org'),
                'a name of 200 characters and an email of 254 bytes are accepted');
SELECT is((SELECT char_length(patient_name) FROM medreserve.bookings b
             JOIN medreserve.booking_slots bs ON bs.booking_id = b.id WHERE bs.slot_id = :s3),
          200, 'the 200-character name is stored whole');
SELECT lives_ok(format('SELECT medreserve_book(slot_id => %s, patient_name => %L, patient_email => %L)',
                       :s4, 'Mary-Jane O''Neil', 'mary.jane+clinic@mail.example.co.uk'),
                'named arguments as PostgREST sends them; apostrophes and plus addresses are fine');

-- Several slots -----------------------------------------------------------
-- s_late has the smaller id but the later start: the booking is filed under
-- the earliest slot by time, not by id.
SELECT * FROM medreserve_book(ARRAY[:s_late, :s_early], 'Cy', 'cy@example.org') \gset m_
SELECT is(:'m_status'::text, 'CONFIRMED', 'book of several slots returns a CONFIRMED booking');
SELECT is(:m_slot_id, :s_early, 'bookings.slot_id is the earliest slot by start time');
SELECT results_eq(format('SELECT slot_id FROM medreserve.booking_slots WHERE booking_id = %s ORDER BY slot_id', :m_id),
                  format('VALUES (%s), (%s)', least(:s_late, :s_early), greatest(:s_late, :s_early)),
                  'one booking_slots row per slot of the booking');
SELECT is((SELECT count(*)::int FROM medreserve.bookings WHERE id = :m_id), 1,
          'several slots make one booking');
SELECT throws_ok(format('SELECT medreserve_book(%s, ''Dee'')', :s_late), '23505',
                 format('slot %s is already booked', :s_late), 'each slot of it is taken');

-- All or nothing: one taken slot refuses the lot.
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '5 days') RETURNING id AS s5 \gset
SELECT throws_ok(format('SELECT medreserve_book(ARRAY[%s, %s], ''Dee'')', :s5, :s1), '23505',
                 format('slot %s is already booked', :s1), 'a free slot with a taken one is refused');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE slot_id = :s5), 0,
          'and the free slot stays free');

-- The largest booking allowed: 100 slots.
INSERT INTO medreserve.doctors (name) VALUES ('Dr Busy') RETURNING id AS busy \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT :busy, now() + interval '10 days' + g * interval '15 minutes' FROM generate_series(1, 100) g;
SELECT * FROM medreserve_book(ARRAY(SELECT id FROM medreserve.slots WHERE doctor_id = :busy ORDER BY id DESC),
                              'Eve') \gset big_
SELECT is(:'big_status'::text, 'CONFIRMED', 'a booking of 100 slots is accepted');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :big_id), 100,
          'it holds 100 booking_slots rows');
SELECT is(:big_slot_id, (SELECT id FROM medreserve.slots WHERE doctor_id = :busy ORDER BY start_time LIMIT 1),
          'and is filed under its earliest slot');

-- Cancel ------------------------------------------------------------------
SELECT * FROM medreserve_cancel(:b1_id) \gset c1_
SELECT is(:'c1_status'::text, 'CANCELLED', 'cancel returns the CANCELLED booking');
SELECT is(:c1_id, :b1_id, 'of the same id');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :b1_id), 0,
          'a cancelled booking keeps no booking_slots row');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :b1_id), 'CANCELLED',
          'the booking row stays, CANCELLED');
SELECT * FROM medreserve_book(:s1, 'Fay') \gset again_
SELECT is(:'again_status'::text, 'CONFIRMED', 'a cancelled booking''s slot can be booked again');
SELECT isnt(:again_id, :b1_id, 'by a new booking');

SELECT * FROM medreserve_cancel(:m_id) \gset c2_
SELECT is(:'c2_status'::text, 'CANCELLED', 'a booking of several slots can be cancelled');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :m_id), 0,
          'all its slots are released');
SELECT lives_ok(format('SELECT medreserve_book(ARRAY[%s, %s], ''Gus'')', :s_early, :s_late),
                'and can be booked together again');

SELECT * FROM medreserve_cancel(:big_id) \gset c3_
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots bs
             JOIN medreserve.slots s ON s.id = bs.slot_id WHERE s.doctor_id = :busy), 0,
          'cancelling the 100-slot booking frees the 100 slots');

-- Invariants over everything this file did.
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots bs
             JOIN medreserve.bookings b ON b.id = bs.booking_id
            WHERE b.status NOT IN ('PENDING', 'CONFIRMED')),
          0, 'no booking_slots row belongs to a cancelled or failed booking');
SELECT is((SELECT count(*)::int FROM medreserve.bookings b
            WHERE b.status = 'CONFIRMED'
              AND NOT EXISTS (SELECT FROM medreserve.booking_slots bs
                               WHERE bs.booking_id = b.id AND bs.slot_id = b.slot_id)),
          0, 'every confirmed booking has a booking_slots row for its slot_id');
SELECT is((SELECT count(*)::int FROM medreserve.bookings WHERE status = 'CONFIRMED' AND expires_at IS NOT NULL),
          0, 'no confirmed booking carries an expiry');
SELECT is((SELECT count(*)::int FROM medreserve.bookings b JOIN medreserve.slots s ON s.id = b.slot_id
            WHERE s.doctor_id IN (:doc, :busy)), 8,
          'eight bookings were made, none by a refused call');

SELECT * FROM finish();
ROLLBACK;
