-- 05_holds.sql: holds, their confirmation, and their end.  A hold is a
-- PENDING booking that lapses at expires_at = now() + medreserve.hold_duration.
-- A lapsed hold is released lazily by the next book or hold that wants one of
-- its slots (it becomes FAILED and loses its booking_slots rows), or by the
-- sweep medreserve_expire().
--
-- now() is fixed for the whole test transaction, so a hold is made to lapse
-- by moving its expires_at into the past, never by waiting.
BEGIN;
SELECT plan(48);

-- Fixtures: slots s1..s15 of one doctor, a day apart.
INSERT INTO medreserve.doctors (name) VALUES ('Dr Hold') RETURNING id AS doc \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT :doc, now() + g * interval '1 day' FROM generate_series(1, 15) g;
SELECT a[1] AS s1, a[2] AS s2, a[3] AS s3, a[4] AS s4, a[5] AS s5, a[6] AS s6, a[7] AS s7,
       a[8] AS s8, a[9] AS s9, a[10] AS s10, a[11] AS s11, a[12] AS s12, a[13] AS s13, a[14] AS s14,
       a[15] AS s15
  FROM (SELECT array_agg(id ORDER BY id) AS a FROM medreserve.slots WHERE doctor_id = :doc) AS x \gset

-- Make a booking's hold lapse one second ago.
PREPARE lapse(integer) AS
    UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = $1;

-- Holding ------------------------------------------------------------------
SELECT * FROM medreserve_hold(:s1, 'Ann', 'ann@example.org') \gset h1_
SELECT is(:'h1_status'::text, 'PENDING', 'hold returns a PENDING booking');
SELECT is(:'h1_expires_at'::timestamptz - now(), interval '120 seconds',
          'by default a hold lasts 120 seconds');
SELECT is((SELECT boot_val FROM pg_catalog.pg_settings WHERE name = 'medreserve.hold_duration'),
          '120', 'medreserve.hold_duration is built in as 120 s');
SELECT results_eq(format('SELECT booking_id, slot_id FROM medreserve.booking_slots WHERE booking_id = %s', :h1_id),
                  format('VALUES (%s, %s)', :h1_id, :s1),
                  'a hold takes its slot in booking_slots');
SELECT throws_ok(format('SELECT medreserve_book(%s, ''Bob'')', :s1), '23505',
                 format('slot %s is already held', :s1), 'a held slot cannot be booked');

SET LOCAL medreserve.hold_duration = '10min';
SELECT * FROM medreserve_hold(:s2, 'Cy') \gset h2_
SELECT is(:'h2_expires_at'::timestamptz - now(), interval '10 minutes',
          'hold_duration = ''10min'' gives a hold of 10 minutes');
SET LOCAL medreserve.hold_duration = 30;
SELECT * FROM medreserve_hold(:s3, 'Dee') \gset h3_
SELECT is(:'h3_expires_at'::timestamptz - now(), interval '30 seconds',
          'a bare number is seconds');
SELECT throws_ok('SET LOCAL medreserve.hold_duration = 0', '22023', NULL,
                 'a hold_duration of 0 is refused');
SELECT throws_ok('SET LOCAL medreserve.hold_duration = ''8 days''', '22023', NULL,
                 'a hold_duration over a week is refused');
SELECT throws_ok('SET LOCAL medreserve.hold_duraton = 60', '42602', NULL,
                 'the medreserve. prefix is reserved: a misspelt setting is refused');
RESET medreserve.hold_duration;

SELECT * FROM medreserve_hold(ARRAY[:s5, :s4], 'Eve') \gset h4_
SELECT is(:'h4_status'::text, 'PENDING', 'a hold of several slots is PENDING');
SELECT is(:h4_slot_id, :s4, 'and filed under its earliest slot');
SELECT is((SELECT array_agg(slot_id ORDER BY slot_id) FROM medreserve.booking_slots WHERE booking_id = :h4_id),
          ARRAY[:s4, :s5], 'it takes all its slots');

-- Confirming ----------------------------------------------------------------
SELECT * FROM medreserve_confirm(:h1_id) \gset c1_
SELECT is(:'c1_status'::text, 'CONFIRMED', 'confirm turns a live hold CONFIRMED');
SELECT is(:c1_id, :h1_id, 'the same booking');
SELECT ok((SELECT expires_at IS NULL FROM medreserve.bookings WHERE id = :h1_id),
          'a confirmed booking has no expiry any more');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :h1_id), 1,
          'it keeps its slot');
SELECT throws_ok(format('SELECT medreserve_book(%s, ''Bob'')', :s1), '23505',
                 format('slot %s is already booked', :s1), 'the slot now reads as booked');
-- it stays CONFIRMED when its old expiry would have passed
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :h1_id), 'CONFIRMED',
          'confirmed stays confirmed');
SELECT is(medreserve_expire(), 0, 'the sweep finds nothing to do with live holds only');

SELECT * FROM medreserve_confirm(:h4_id) \gset c4_
SELECT is(:'c4_status'::text, 'CONFIRMED', 'a hold of several slots can be confirmed');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :h4_id), 2,
          'it keeps both slots');

-- A hold whose expires_at is exactly now() has lapsed.
SELECT id AS h_edge FROM medreserve_hold(:s6, 'Fay') \gset
UPDATE medreserve.bookings SET expires_at = now() WHERE id = :h_edge;
SELECT throws_ok(format('SELECT medreserve_confirm(%s)', :h_edge), 'PT409',
                 format('booking %s has expired', :h_edge), 'a hold cannot be confirmed at its expiry');

-- Lazy release ----------------------------------------------------------------
-- A lapsed hold on s7+s8: booking s7 releases the whole hold.
SELECT id AS h_lazy FROM medreserve_hold(ARRAY[:s7, :s8], 'Gus') \gset
EXECUTE lapse(:h_lazy);
SELECT * FROM medreserve_book(:s7, 'Hal') \gset lz_
SELECT is(:'lz_status'::text, 'CONFIRMED', 'the slot of a lapsed hold can be booked');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :h_lazy), 'FAILED',
          'the lapsed hold is now FAILED');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :h_lazy), 0,
          'its booking_slots rows are gone, the other slot''s too');
SELECT results_eq(format('SELECT booking_id FROM medreserve.booking_slots WHERE slot_id = %s', :s7),
                  format('VALUES (%s)', :lz_id), 'the slot belongs to the new booking');
SELECT lives_ok(format('SELECT medreserve_hold(%s, ''Ivy'')', :s8),
                'the other slot of the lapsed hold is free as well');
SELECT throws_ok(format('SELECT medreserve_confirm(%s)', :h_lazy), 'PT409',
                 format('booking %s is not pending', :h_lazy), 'the failed hold cannot be confirmed');

-- Holding releases lazily too, and so does the edge hold at exactly now().
SELECT * FROM medreserve_hold(:s6, 'Jo') \gset lz2_
SELECT is(:'lz2_status'::text, 'PENDING', 'a hold may take the slot of a hold that lapsed at now()');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :h_edge), 'FAILED',
          'which is now FAILED');

-- One booking over two slots with two different lapsed holds.
SELECT id AS h_a FROM medreserve_hold(:s9, 'Kit') \gset
SELECT id AS h_b FROM medreserve_hold(:s10, 'Lou') \gset
EXECUTE lapse(:h_a);
EXECUTE lapse(:h_b);
SELECT lives_ok(format('SELECT medreserve_book(ARRAY[%s, %s], ''Max'')', :s10, :s9),
                'two slots held by two lapsed holds can be booked together');
SELECT is((SELECT array_agg(status ORDER BY id) FROM medreserve.bookings WHERE id IN (:h_a, :h_b)),
          ARRAY['FAILED', 'FAILED'], 'both lapsed holds are FAILED');

-- A lapsed hold on one slot does not excuse a live hold on another.
SELECT id AS h_dead FROM medreserve_hold(:s11, 'Ned') \gset
SELECT id AS h_live FROM medreserve_hold(:s12, 'Oz') \gset
EXECUTE lapse(:h_dead);
SELECT throws_ok(format('SELECT medreserve_book(ARRAY[%s, %s], ''Pam'')', :s11, :s12), '23505',
                 format('slot %s is already held', :s12), 'a lapsed hold and a live one: refused');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :h_dead), 'PENDING',
          'and the refused call released nothing');

-- Cancel of holds ---------------------------------------------------------------
SELECT * FROM medreserve_cancel(:h_live) \gset cl_
SELECT is(:'cl_status'::text, 'CANCELLED', 'a live hold can be cancelled');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :h_live), 0,
          'which frees its slot');
SELECT throws_ok(format('SELECT medreserve_confirm(%s)', :h_live), 'PT409',
                 format('booking %s is not pending', :h_live), 'a cancelled hold cannot be confirmed');

-- The sweep -----------------------------------------------------------------
-- Now lapsed: h_dead (s11).  Add: a lapsed hold over two slots, a lapsed one
-- over one, and a live hold that must survive.
SELECT id AS h_x FROM medreserve_hold(ARRAY[:s13, :s12], 'Quin') \gset
SELECT id AS h_y FROM medreserve_hold(:s14, 'Rex') \gset
SELECT id AS h_keep FROM medreserve_hold(:s15, 'Sue') \gset
EXECUTE lapse(:h_x);
EXECUTE lapse(:h_y);
SELECT is((SELECT count(*)::int FROM medreserve.bookings b JOIN medreserve.slots s ON s.id = b.slot_id
            WHERE s.doctor_id = :doc AND b.status = 'PENDING' AND b.expires_at <= now()),
          3, 'three holds have lapsed');
SET LOCAL medreserve.expire_batch_size = 1;
SELECT is(medreserve_expire(), 3, 'medreserve_expire() returns how many holds it settled, over batches of 1');
RESET medreserve.expire_batch_size;
SELECT is((SELECT array_agg(status ORDER BY id) FROM medreserve.bookings WHERE id IN (:h_dead, :h_x, :h_y)),
          ARRAY['FAILED', 'FAILED', 'FAILED'], 'they are FAILED');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id IN (:h_dead, :h_x, :h_y)),
          0, 'and their slots are released');
SELECT lives_ok(format('SELECT medreserve_book(ARRAY[%s, %s, %s], ''Tom'')', :s11, :s12, :s13),
                'so the released slots can be booked');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :h_keep), 'PENDING',
          'a live hold is left alone by the sweep');
SELECT is(medreserve_expire(), 0, 'a second sweep finds nothing');
SELECT is((SELECT array_agg(status ORDER BY id) FROM medreserve.bookings WHERE id IN (:h1_id, :h4_id)),
          ARRAY['CONFIRMED', 'CONFIRMED'], 'confirmed bookings are left alone by the sweep');

-- Invariants over everything this file did.
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots bs
             JOIN medreserve.bookings b ON b.id = bs.booking_id
            WHERE b.status NOT IN ('PENDING', 'CONFIRMED')),
          0, 'no booking_slots row belongs to a FAILED or CANCELLED booking');
SELECT is((SELECT count(*)::int FROM medreserve.bookings b
            WHERE (b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.expires_at > now()))
              AND NOT EXISTS (SELECT FROM medreserve.booking_slots bs
                               WHERE bs.booking_id = b.id AND bs.slot_id = b.slot_id)),
          0, 'every live booking has the booking_slots row of its slot_id');

SELECT * FROM finish();
ROLLBACK;
