-- 07_appointments.sql: the appointment's life (issue 13).  Every booking
-- says when and with whom; phone and reason; cancel reasons and late
-- cancellations at the window's edge; reschedule and each of its refusals;
-- check-in, completion, no-show (by hand and by the sweep) and their
-- refusals; slots stay consumed; the listings under the identity rules; the
-- derived EXPIRED state; attendance.  Refusals change no row.
BEGIN;
SELECT plan(124);

SET LOCAL medreserve.check_in_window = '1h';
SET LOCAL medreserve.late_cancel_window = '24h';

INSERT INTO medreserve.doctors (name, specialization) VALUES ('Dr Appt', 'gp') RETURNING id AS doc \gset
INSERT INTO medreserve.doctors (name) VALUES ('Dr Other') RETURNING id AS doc2 \gset
-- slot k of doctor doc starts k hours after now() + 2 days; 15 minutes each
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT :doc, now() + interval '2 days' + k * interval '1 hour' FROM generate_series(1, 40) AS k;
CREATE FUNCTION pg_temp.slot(k integer) RETURNS integer LANGUAGE sql AS $$
    SELECT id FROM medreserve.slots
     WHERE start_time = now() + interval '2 days' + k * interval '1 hour'
$$;
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc2, now() + interval '2 days 1 hour') RETURNING id AS other_slot \gset

-- Move a booking and its slots by an interval (to put it in the past):
-- slots keep their times relative to the booking, so the invariants hold.
-- Booked slots cannot move (a trigger refuses), so it is off while we do.
CREATE FUNCTION pg_temp.shift(booking integer, by_interval interval) RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('session_replication_role', 'replica', true);
    UPDATE medreserve.slots s SET start_time = s.start_time + by_interval
      FROM medreserve.booking_slots bs WHERE bs.slot_id = s.id AND bs.booking_id = booking;
    UPDATE medreserve.bookings SET starts_at = starts_at + by_interval,
                                   ends_at = ends_at + by_interval
     WHERE id = booking;
    SELECT set_config('session_replication_role', 'origin', true);
$$;

-- SECURITY DEFINER: it also runs under the patient's role below
CREATE FUNCTION pg_temp.tables_digest() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
    SELECT concat_ws(' ',
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

-- When and with whom ---------------------------------------------------------
SELECT * FROM medreserve_book(pg_temp.slot(1), 'Ann Lee', 'ann@example.org',
                              '+44 (20) 7946-0958', '  Annual check-up  ') \gset b1_
SELECT is(:b1_doctor_id, :doc, 'a booking names its doctor');
SELECT is(:'b1_starts_at'::timestamptz, now() + interval '2 days 1 hour', 'a booking says when it starts');
SELECT is(:'b1_ends_at'::timestamptz, now() + interval '2 days 1 hour 15 minutes', 'and when it ends');
SELECT is(:'b1_patient_phone'::text, '+442079460958', 'the phone is stored without separators');
SELECT is(:'b1_reason'::text, 'Annual check-up', 'the reason is stored trimmed');
SELECT * FROM medreserve_book(ARRAY[pg_temp.slot(3), pg_temp.slot(2)], 'Bob Hale') \gset b2_
SELECT is(ARRAY[:b2_slot_id, :b2_doctor_id], ARRAY[pg_temp.slot(2), :doc],
          'a multi-slot booking names its earliest slot and its doctor');
SELECT is(tstzrange(:'b2_starts_at', :'b2_ends_at'),
          tstzrange(now() + interval '2 days 2 hours', now() + interval '2 days 3 hours 15 minutes'),
          'a multi-slot booking spans its slots');
SELECT is((SELECT ROW(patient_phone, reason)::text FROM medreserve.bookings WHERE id = :b2_id), '(,)',
          'phone and reason are optional');

SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'', NULL, ''call me'')', pg_temp.slot(4)),
       '22023', 'patient_phone is not a valid phone number', 'book: a phone with letters');
SELECT pg_temp.refused(format('SELECT medreserve_hold(%s, ''Pat'', NULL, ''+1234567890123456'')', pg_temp.slot(4)),
       '22023', 'patient_phone is not a valid phone number', 'hold: a phone of 16 digits');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'', NULL, NULL, repeat(''x'', 501))', pg_temp.slot(4)),
       '22023', 'reason is too long', 'book: a reason of 501 characters');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Pat'', NULL, NULL, E''a\nb'')', pg_temp.slot(4)),
       '22023', 'reason must not contain control characters', 'book: a reason with a newline');
SELECT lives_ok(format('SELECT medreserve_book(%s, ''Pat'', NULL, NULL, repeat(''x'', 500))', pg_temp.slot(4)),
                'a reason of 500 characters is accepted');

-- Cancellation reasons and late cancellations -------------------------------
SELECT * FROM medreserve_cancel(:b2_id, ' moved away ') \gset c2_
SELECT is(ARRAY[:'c2_status', :'c2_cancel_reason', :'c2_cancelled_by'],
          ARRAY['CANCELLED', 'moved away', 'clinic'], 'an admin''s cancel stores the reason and "clinic"');
SELECT is(:'c2_cancelled_at'::timestamptz, now(), 'and when');
SELECT is(:'c2_late_cancellation'::boolean, false, 'two days ahead is not late');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id = :b2_id), 0,
          'a cancelled booking gives its slots back');
SELECT is((SELECT cancel_reason FROM medreserve_cancel((medreserve_book(pg_temp.slot(5), 'Cy')).id)), NULL,
          'the one-argument cancel still works, without a reason');

-- the window's edge: exactly 24 hours left is not late, a second less is
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc2, now() + interval '24 hours') RETURNING id AS edge_slot \gset
INSERT INTO medreserve.doctors (name) VALUES ('Dr Third') RETURNING id AS doc3 \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc3, now() + interval '23 hours 59 minutes 59 seconds') RETURNING id AS late_slot \gset
SELECT is((SELECT late_cancellation FROM medreserve_cancel((medreserve_book(:edge_slot, 'Dee')).id)), false,
          'cancelled with exactly medreserve.late_cancel_window left: not late');
SELECT is((SELECT late_cancellation FROM medreserve_cancel((medreserve_book(:late_slot, 'Dee')).id)), true,
          'cancelled with a second less left: late');
SELECT is((SELECT late_cancellation FROM medreserve_cancel((medreserve_hold(:late_slot, 'Dee')).id)), false,
          'a hold cancelled late is not a late cancellation');

-- Reschedule -------------------------------------------------------------------
SELECT * FROM medreserve_reschedule(:b1_id, pg_temp.slot(6)) \gset r1_
SELECT is(ARRAY[:'r1_status', :'r1_patient_name', :'r1_patient_email', :'r1_patient_phone', :'r1_reason'],
          ARRAY['CONFIRMED', 'Ann Lee', 'ann@example.org', '+442079460958', 'Annual check-up'],
          'the new booking keeps the status and the patient data');
SELECT is(ARRAY[:r1_slot_id, :r1_rescheduled_from], ARRAY[pg_temp.slot(6), :b1_id],
          'it covers the new slot and names the old booking');
SELECT is(:'r1_starts_at'::timestamptz, now() + interval '2 days 6 hours', 'its times are the new slot''s');
SELECT results_eq(format('SELECT status, cancel_reason, rescheduled_to, late_cancellation FROM medreserve.bookings WHERE id = %s', :b1_id),
                  format('VALUES (%L, %L, %s, false)', 'CANCELLED', 'rescheduled', :r1_id),
                  'the old booking is CANCELLED as rescheduled and names the new one');
SELECT is((SELECT array_agg(slot_id) FROM medreserve.booking_slots WHERE booking_id IN (:b1_id, :r1_id)),
          ARRAY[pg_temp.slot(6)], 'only the new slot is taken');

-- a hold stays a hold, with a fresh expiry
SELECT id AS h1 FROM medreserve_hold(pg_temp.slot(7), 'Eve', NULL, NULL, 'flu') \gset
UPDATE medreserve.bookings SET expires_at = now() + interval '5 seconds' WHERE id = :h1;
SELECT * FROM medreserve_reschedule(:h1, ARRAY[pg_temp.slot(8)]) \gset r2_
SELECT is(ARRAY[:'r2_status', :'r2_reason'], ARRAY['PENDING', 'flu'], 'a rescheduled hold stays a hold');
SELECT is(:'r2_expires_at'::timestamptz, now() + interval '120 seconds',
          'with a fresh expiry of medreserve.hold_duration');

-- a two-slot booking moved by one slot: slot 10 is both old and new
SELECT id AS two FROM medreserve_book(ARRAY[pg_temp.slot(9), pg_temp.slot(10)], 'Fay') \gset
SELECT * FROM medreserve_reschedule(:two, ARRAY[pg_temp.slot(10), pg_temp.slot(11)]) \gset r3_
SELECT is((SELECT array_agg(slot_id ORDER BY slot_id) FROM medreserve.booking_slots WHERE booking_id = :r3_id),
          ARRAY[pg_temp.slot(10), pg_temp.slot(11)], 'a slot may be both old and new');
SELECT is(tstzrange(:'r3_starts_at', :'r3_ends_at'),
          tstzrange(now() + interval '2 days 10 hours', now() + interval '2 days 11 hours 15 minutes'),
          'the new span is the new slots''');

-- refusals: nothing changes
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() - interval '1 hour') RETURNING id AS past_slot \gset
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, %s)', :r1_id, pg_temp.slot(10)),
       '23505', format('slot %s is already booked', pg_temp.slot(10)), 'reschedule: a taken slot');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, %s)', :r1_id, :past_slot),
       'PT409', format('slot %s has already started', :past_slot), 'reschedule: a started slot');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, ARRAY[%s, %s])', :r1_id, pg_temp.slot(12), :other_slot),
       '22023', 'slots of different doctors cannot be booked together', 'reschedule: slots of two doctors');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, 2147483647)', :r1_id),
       'PT404', 'slot 2147483647 does not exist', 'reschedule: a missing slot');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, %s)', :b1_id, pg_temp.slot(12)),
       'PT409', format('booking %s cannot be rescheduled', :b1_id), 'reschedule: a cancelled booking');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, %s)', 2147483647, pg_temp.slot(12)),
       'PT404', 'booking 2147483647 does not exist', 'reschedule: a missing booking');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(NULL, %s)', pg_temp.slot(12)),
       '22004', 'booking_id must not be null', 'reschedule: NULL booking_id');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, NULL::integer[])', :r1_id),
       '22004', 'slot_ids must not be null', 'reschedule: NULL slot_ids');
SELECT id AS lapsed FROM medreserve_hold(pg_temp.slot(13), 'Gus') \gset
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = :lapsed;
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, %s)', :lapsed, pg_temp.slot(12)),
       'PT409', format('booking %s has expired', :lapsed), 'reschedule: a lapsed hold');
SELECT id AS started FROM medreserve_book(pg_temp.slot(14), 'Hal') \gset
SELECT pg_temp.shift(:started, -interval '2 days 17 hours');   -- started 3 hours ago
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, %s)', :started, pg_temp.slot(12)),
       'PT409', format('booking %s has already started', :started), 'reschedule: a started booking');

-- Check-in, completion, no-show --------------------------------------------------
-- soon: starts in 30 minutes; due: started 5 minutes ago; over: ended 10 minutes ago
SELECT id AS soon FROM medreserve_book(pg_temp.slot(15), 'Ida') \gset
SELECT pg_temp.shift(:soon, -interval '2 days 14 hours 30 minutes');
SELECT id AS due FROM medreserve_book(pg_temp.slot(16), 'Jon') \gset
SELECT pg_temp.shift(:due, -interval '2 days 16 hours 5 minutes');
SELECT id AS over FROM medreserve_book(pg_temp.slot(17), 'Kim') \gset
SELECT pg_temp.shift(:over, -interval '2 days 17 hours 25 minutes');
SELECT id AS early FROM medreserve_book(pg_temp.slot(18), 'Lea') \gset
SELECT pg_temp.shift(:early, -interval '2 days 16 hours');   -- starts in 2 hours

SELECT pg_temp.refused(format('SELECT medreserve_check_in(%s)', :early),
       'PT409', format('cannot check in booking %s yet', :early), 'check-in: before the window');
SELECT pg_temp.refused(format('SELECT medreserve_check_in(%s)', :over),
       'PT409', format('cannot check in booking %s after it has ended', :over), 'check-in: after the end');
SELECT pg_temp.refused(format('SELECT medreserve_check_in(%s)', :r2_id),
       'PT409', format('cannot check in booking %s', :r2_id), 'check-in: a hold');
SELECT pg_temp.refused('SELECT medreserve_check_in(2147483647)',
       'PT404', 'booking 2147483647 does not exist', 'check-in: a missing booking');
SELECT pg_temp.refused('SELECT medreserve_check_in(NULL)',
       '22004', 'booking_id must not be null', 'check-in: NULL');
SELECT * FROM medreserve_check_in(:soon) \gset k_
SELECT is(:'k_status'::text, 'ARRIVED', 'check-in within the window: ARRIVED');
SELECT is(:'k_arrived_at'::timestamptz, now(), 'arrived_at is stored');
SELECT pg_temp.refused(format('SELECT medreserve_check_in(%s)', :soon),
       'PT409', format('cannot check in booking %s', :soon), 'check-in: twice');
SELECT pg_temp.refused(format('SELECT medreserve_complete(%s)', :soon),
       'PT409', format('cannot complete booking %s before it starts', :soon), 'complete: before the start');
SELECT pg_temp.refused(format('SELECT medreserve_mark_no_show(%s)', :soon),
       'PT409', format('cannot mark as a no-show booking %s', :soon), 'no-show: an arrived booking');
SELECT pg_temp.refused(format('SELECT medreserve_mark_no_show(%s)', :early),
       'PT409', format('cannot mark as a no-show booking %s before it starts', :early), 'no-show: before the start');
SELECT pg_temp.refused(format('SELECT medreserve_complete(%s)', :b1_id),
       'PT409', format('cannot complete booking %s', :b1_id), 'complete: a cancelled booking');

SELECT * FROM medreserve_complete(:due) \gset f_
SELECT is((SELECT ROW(status, arrived_at)::text FROM medreserve.bookings WHERE id = :due), '(FULFILLED,)',
          'a confirmed booking that started can be completed directly');
SELECT is(:'f_fulfilled_at'::timestamptz, now(), 'fulfilled_at is stored');
SELECT * FROM medreserve_mark_no_show(:over) \gset n_
SELECT is(:'n_status'::text, 'NOSHOW', 'a confirmed booking that started can be marked a no-show');
SELECT is(:'n_no_show_at'::timestamptz, now(), 'no_show_at is stored');

-- they keep their slots: the slots stay taken, the sweep leaves them alone
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE booking_id IN (:soon, :due, :over)), 3,
          'ARRIVED, FULFILLED and NOSHOW keep their slots');
SELECT ok((SELECT bool_and(medreserve.booking_is_live(status, expires_at)) FROM medreserve.bookings
            WHERE id IN (:soon, :due, :over)), 'booking_is_live() counts them as holding their slots');
SELECT slot_id AS soon_slot FROM medreserve.bookings WHERE id = :soon \gset
SELECT ok(NOT EXISTS (SELECT 1 FROM medreserve_available_slots(:doc, now(), now() + interval '1 hour')
                    WHERE id = :soon_slot),
          'the slot of an ARRIVED booking that has not started is not listed as free');
SELECT pg_temp.refused(format('SELECT medreserve_book(%s, ''Zed'')', :soon_slot),
       '23505', format('slot %s is already booked', :soon_slot), 'book: the slot of an ARRIVED booking');
SELECT medreserve_expire();
SELECT is((SELECT array_agg(status ORDER BY id) FROM medreserve.bookings WHERE id IN (:soon, :due, :over)),
          ARRAY['ARRIVED', 'FULFILLED', 'NOSHOW'], 'the sweep leaves them alone');

-- automatic no-shows: off by default; when set, only CONFIRMED ones that long past
SELECT id AS missed FROM medreserve_book(pg_temp.slot(19), 'Max') \gset
SELECT pg_temp.shift(:missed, -interval '2 days 21 hours');   -- started 2 hours ago
SELECT id AS recent FROM medreserve_book(pg_temp.slot(20), 'Ned') \gset
SELECT pg_temp.shift(:recent, -interval '2 days 20 hours 40 minutes');    -- started 40 minutes ago
SELECT medreserve_expire();
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :missed), 'CONFIRMED',
          'medreserve.no_show_after is off by default');
SET LOCAL medreserve.no_show_after = '1h';
SELECT medreserve_expire();
SELECT is((SELECT array_agg(status ORDER BY id) FROM medreserve.bookings WHERE id IN (:missed, :recent)),
          ARRAY['NOSHOW', 'CONFIRMED'], 'the sweep marks CONFIRMED bookings started medreserve.no_show_after ago');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :started), 'NOSHOW', 'however long ago');
SELECT is((SELECT status FROM medreserve.bookings WHERE id = :soon), 'ARRIVED', 'never one that arrived');
RESET medreserve.no_show_after;

SELECT is((SELECT count(*)::int FROM medreserve_verify()), 0, 'the invariants hold');

-- Identity rules (the clinic's functions are not even granted to patients) -------
CREATE ROLE mr_appt_patient;
GRANT medreserve_patient TO mr_appt_patient;
SELECT id AS ann_hold FROM medreserve_hold(pg_temp.slot(21), 'Ann Lee', 'ann@example.org') \gset
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = :ann_hold;
SELECT id AS bob_booking FROM medreserve_book(pg_temp.slot(22), 'Bob', 'bob@example.org') \gset
SET LOCAL ROLE mr_appt_patient;
SELECT set_config('request.jwt.claims', '{"email":"ANN@example.org"}', true) IS NOT NULL;

SELECT is((SELECT array_agg(booking_id) FROM medreserve_my_appointments()),
          ARRAY[:ann_hold, :r1_id, :b1_id], 'a patient lists their own appointments, latest first');
SELECT is((SELECT state FROM medreserve_my_appointments() WHERE booking_id = :ann_hold), 'EXPIRED',
          'a lapsed hold not yet swept shows as EXPIRED');
SELECT is((SELECT ROW(doctor_name, starts_at)::text FROM medreserve_my_appointments() WHERE booking_id = :r1_id),
          ROW('Dr Appt', now() + interval '2 days 6 hours')::text, 'with the doctor and the time');
SELECT is((SELECT array_agg(booking_id) FROM medreserve_my_appointments(now() + interval '2 days 5 hours',
                                                                        now() + interval '2 days 7 hours')),
          ARRAY[:r1_id], 'limited to a time range');
SELECT pg_temp.refused(format('SELECT medreserve_reschedule(%s, %s)', :bob_booking, pg_temp.slot(23)),
       'PT404', format('booking %s does not exist', :bob_booking), 'reschedule: another patient''s booking');
SELECT pg_temp.refused(format('SELECT medreserve_check_in(%s)', :r1_id),
       '42501', 'permission denied for function medreserve_check_in', 'check-in: a patient');
SELECT pg_temp.refused(format('SELECT medreserve_complete(%s)', :r1_id),
       '42501', 'permission denied for function medreserve_complete', 'complete: a patient');
SELECT pg_temp.refused(format('SELECT medreserve_mark_no_show(%s)', :r1_id),
       '42501', 'permission denied for function medreserve_mark_no_show', 'no-show: a patient');
SELECT throws_ok('SELECT * FROM medreserve_appointments(now(), now() + interval ''1 day'')',
       '42501', 'permission denied for function medreserve_appointments', 'a patient cannot read the day sheet');
SELECT throws_ok('SELECT * FROM medreserve_attendance(now(), now() + interval ''1 day'')',
       '42501', 'permission denied for function medreserve_attendance', 'nor attendance');
SELECT * FROM medreserve_reschedule(:r1_id, pg_temp.slot(23)) \gset p_
SELECT is(ARRAY[:p_rescheduled_from, :p_slot_id], ARRAY[:r1_id, pg_temp.slot(23)],
          'a patient reschedules their own booking');
SELECT is((SELECT cancelled_by FROM medreserve_my_appointments() WHERE booking_id = :r1_id), 'patient',
          'the old one is marked as moved by the patient');
SELECT is((SELECT ROW(cancelled_by, cancel_reason)::text FROM medreserve_cancel(:p_id, 'feeling better')),
          ROW('patient', 'feeling better')::text, 'a patient cancels with a reason');
SELECT set_config('request.jwt.claims', '', true) IS NOT NULL;
SELECT throws_ok('SELECT * FROM medreserve_my_appointments()', '42501',
                 'only a signed-in patient can list their appointments', 'no identity: no appointments');
RESET ROLE;

SELECT throws_ok('SELECT * FROM medreserve_my_appointments()', '42501',
                 'only a signed-in patient can list their appointments', 'an admin has no own appointments');
SELECT throws_ok('SELECT * FROM medreserve_my_bookings()', '42501',
                 'medreserve_my_bookings() lists a signed-in patient''s own bookings', 'medreserve_my_bookings() tells an admin it lists patients'' own bookings');

-- The day sheet and attendance (admins) --------------------------------------------
SELECT results_eq(format($q$SELECT booking_id FROM medreserve_appointments(now(), now() + interval '3 days', %s)$q$, :doc),
                  format($q$SELECT id FROM medreserve.bookings WHERE doctor_id = %s AND starts_at >= now()
                             AND starts_at < now() + interval '3 days' ORDER BY starts_at, id$q$, :doc),
                  'the day sheet of one doctor: their bookings by start time');
SELECT is((SELECT array_agg(DISTINCT doctor_id ORDER BY doctor_id) FROM medreserve_appointments(now() - interval '1 day', now() + interval '3 days')),
          ARRAY[:doc, :doc2, :doc3], 'without a doctor: every doctor''s, doctor by doctor');
SELECT is((SELECT array_agg(booking_id) FROM medreserve_appointments(now() - interval '1 day', now() + interval '3 days', NULL, 'EXPIRED')),
          ARRAY[:ann_hold], 'filtered by state: EXPIRED finds the lapsed hold');
SELECT is((SELECT array_agg(booking_id) FROM medreserve_appointments(now() - interval '1 day', now() + interval '3 days', NULL, 'ARRIVED')),
          ARRAY[:soon], 'filtered by state: ARRIVED');
SELECT is((SELECT ROW(patient_name, patient_phone, reason)::text
             FROM medreserve_appointments(now(), now() + interval '3 days', :doc) WHERE booking_id = :r1_id),
          ROW('Ann Lee', '+442079460958', 'Annual check-up')::text, 'with the patient''s contact and reason');
SELECT throws_ok('SELECT * FROM medreserve_appointments(now(), now() - interval ''1 hour'')', '22023',
                 'until_time must be after from_time', 'day sheet: an empty range');
SELECT throws_ok('SELECT * FROM medreserve_appointments(now(), now() + interval ''32 days'')', '22023',
                 'the range is too long', 'day sheet: more than 31 days');
SELECT throws_ok('SELECT * FROM medreserve_appointments(NULL, now())', '22004',
                 'from_time and until_time must not be null', 'day sheet: NULL');
SELECT throws_ok('SELECT * FROM medreserve_appointments(now(), now() + interval ''1 day'', NULL, ''BOOKED'')', '22023',
                 'status is not a booking status', 'day sheet: an unknown state');

SELECT results_eq(format($q$SELECT appointments, arrived, fulfilled, no_shows, late_cancellations
                             FROM medreserve_attendance(now() - interval '1 day', now() + interval '1 day', %s)$q$, :doc),
                  'VALUES (7::bigint, 1::bigint, 1::bigint, 3::bigint, 0::bigint)',
                  'attendance counts arrivals, fulfilments and no-shows');
SELECT results_eq(format($q$SELECT no_show_rate FROM medreserve_attendance(now() - interval '1 day', now() + interval '1 day', %s)$q$, :doc),
                  'VALUES (0.4286)', 'and the no-show rate');
SELECT results_eq(format($q$SELECT late_cancellations, cancellations FROM medreserve_attendance(now(), now() + interval '2 days', %s)$q$, :doc3),
                  'VALUES (1::bigint, 2::bigint)', 'late cancellations per doctor');

SELECT is((SELECT count(*)::int FROM medreserve_verify()), 0, 'the invariants still hold');

SELECT * FROM finish();
ROLLBACK;
