-- The appointment's life (issue 13) as a front desk sees it in psql: what
-- each call answers, the text of its refusals (message, detail, hint; the
-- SQLSTATEs are asserted in test/pgtap/06_appointments.sql), and the
-- counters of the new transitions.  Refusals print no time that depends on
-- now(): those bookings are in 2099.
\set SHOW_CONTEXT never
\set VERBOSITY default
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
INSERT INTO medreserve.doctors (name, specialization) VALUES ('Dr Ada Grey', 'cardiology'),
                                                             ('Dr Ben Okafor', NULL);
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, '2099-03-02 09:00+00'::timestamptz + (i - 1) * interval '15 minutes'
FROM generate_series(1, 6) AS i;
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (2, '2099-03-02 09:00+00');
-- slots 8 and 9 start in 10 and 40 minutes
INSERT INTO medreserve.slots (doctor_id, start_time)
VALUES (2, now() + interval '10 minutes'), (2, now() + interval '40 minutes');
SELECT medreserve_stats_reset();

-- every answer says when and with whom
SELECT id, slot_id, doctor_id, starts_at, ends_at, status, patient_phone, reason
FROM medreserve_book(ARRAY[1, 2], 'Ann Lee', 'ann@example.org', '+1 (555) 010-0199', 'Chest pain');
SELECT id, slot_id, doctor_id, starts_at, ends_at, status FROM medreserve_hold(3, 'Bob Marsh');

-- moving Ann by one slot (slot 2 is both old and new), then Bob's hold to doctor 2
SELECT id, slot_id, starts_at, ends_at, status, rescheduled_from
FROM medreserve_reschedule(2, 7);
SELECT id, slot_id, starts_at, ends_at, status, rescheduled_from, patient_phone, reason
FROM medreserve_reschedule(1, ARRAY[2, 3]);
SELECT id, slot_id, status, cancel_reason, cancelled_by, rescheduled_to
FROM medreserve.bookings WHERE rescheduled_to IS NOT NULL ORDER BY id;
-- a two-slot booking may shrink to one of its slots
SELECT id, slot_id, starts_at, ends_at FROM medreserve_reschedule(4, ARRAY[2]);
-- refused: a taken slot, slots of two doctors, the same slots, a booking that is over
SELECT id FROM medreserve_reschedule(3, ARRAY[2]);
SELECT id FROM medreserve_reschedule(5, ARRAY[4, 7]);
SELECT id FROM medreserve_reschedule(3, ARRAY[7]);
SELECT id FROM medreserve_reschedule(2, 5);
SELECT id FROM medreserve_reschedule(4242, 5);

-- the desk: check-in, completion, no-show
SELECT id AS due FROM medreserve_book(8, 'Cy Park') \gset
SELECT id AS soon FROM medreserve_book(9, 'Dee Holt') \gset
-- Cy's appointment started 5 minutes ago (slot and booking move together;
-- booked slots cannot move, so the test turns the trigger off for this)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE medreserve.slots SET start_time = now() - interval '5 minutes' WHERE id = 8;
UPDATE medreserve.bookings SET starts_at = now() - interval '5 minutes',
                               ends_at = now() + interval '10 minutes' WHERE id = :due;
COMMIT;
SELECT status, arrived_at = now() AS arrived_now FROM medreserve_check_in(:due);
SELECT status, fulfilled_at = now() AS fulfilled_now FROM medreserve_complete(:due);
-- refused: twice, too early, wrong state
SELECT id FROM medreserve_complete(:due);
SELECT id FROM medreserve_mark_no_show(5);
SELECT id FROM medreserve_complete(5);
SELECT id FROM medreserve_check_in(3);
SELECT id FROM medreserve_check_in(4242);
-- a booking 40 minutes ahead is in the check-in window; cancelling it now is late
SELECT status, late_cancellation, cancel_reason, cancelled_by
FROM medreserve_cancel(:soon, 'Stuck in traffic');
SELECT id FROM medreserve_cancel(:due);
SELECT id FROM medreserve_mark_no_show(:due);
SELECT id FROM medreserve_book(4, 'Eve Stone', NULL, 'call me maybe');
SELECT id FROM medreserve_cancel(3, repeat('x', 501));

-- the counters count the new transitions (only what committed)
SELECT reschedules, check_ins, fulfilled, no_shows, late_cancellations, cancellations,
       refused_state_conflict, refused_slot_taken, refused_invalid_input
FROM medreserve_counters();

-- the day sheet
SELECT booking_id, doctor_name, starts_at, state, patient_name
FROM medreserve_appointments('2099-03-02', '2099-03-03');
SELECT doctor_id, doctor_name, appointments, arrived, fulfilled, no_shows, cancellations,
       late_cancellations, no_show_rate, late_cancellation_rate
FROM medreserve_attendance(now() - interval '1 day', now() + interval '1 day');
SELECT * FROM medreserve_verify();

-- leave the tables empty for the next test, as they were found
TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
