-- Booking slots at once: one slot, several slots, and every refusal.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;

INSERT INTO medreserve.doctors (name, specialization)
VALUES ('Dr Ada Grey', 'cardiology'), ('Dr Ben Okafor', 'dermatology');
-- doctor 1: slots 1..6 on a far future morning; doctor 2: slot 7; slot 8 is past
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, '2099-03-02 09:00+00'::timestamptz + (i - 1) * interval '15 minutes'
FROM generate_series(1, 6) AS i;
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES
    (2, '2099-03-02 09:00+00'),
    (1, '2020-01-06 09:00+00');

-- one slot: a CONFIRMED booking with no expiry, name trimmed
SELECT id, slot_id, patient_name, patient_email, status, expires_at
FROM medreserve_book(1, '  Ann Lee ', 'ann.lee@example.org');
SELECT booking_id, slot_id FROM medreserve.booking_slots ORDER BY slot_id;

-- the same slot again: 23505, nothing new left behind
SELECT id FROM medreserve_book(1, 'Bob Marsh');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS bookings FROM medreserve.bookings;

-- several slots of one doctor as one booking; slot_id is the earliest slot
SELECT id, slot_id, patient_name, status FROM medreserve_book(ARRAY[4, 3], 'Cy Park');
SELECT booking_id, slot_id FROM medreserve.booking_slots ORDER BY slot_id;

-- all or nothing: slot 2 is free but slot 3 is taken, so neither is booked
SELECT id FROM medreserve_book(ARRAY[2, 3], 'Dee Holt');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS slot_2_rows FROM medreserve.booking_slots WHERE slot_id = 2;

-- slots of different doctors
SELECT id FROM medreserve_book(ARRAY[2, 7], 'Dee Holt');
\echo :LAST_ERROR_SQLSTATE

-- unknown slots: the missing one is named
SELECT id FROM medreserve_book(4242, 'Dee Holt');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(ARRAY[2, 4242, 5], 'Dee Holt');
\echo :LAST_ERROR_SQLSTATE

-- a slot that has already started
SELECT id FROM medreserve_book(8, 'Dee Holt');
\echo :LAST_ERROR_SQLSTATE

-- cancelling frees the slots; cancelling twice is refused
SELECT id, status FROM medreserve_cancel(2);
SELECT count(*) AS rows_of_booking_2 FROM medreserve.booking_slots WHERE booking_id = 2;
SELECT id, slot_id, status FROM medreserve_book(ARRAY[2, 3], 'Dee Holt');
SELECT id FROM medreserve_cancel(2);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_cancel(4242);
\echo :LAST_ERROR_SQLSTATE

-- a confirmed booking cannot be confirmed
SELECT id FROM medreserve_confirm(1);
\echo :LAST_ERROR_SQLSTATE

-- the last line of defence: a second row for a slot is refused by the table
INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (1, 2);
\echo :LAST_ERROR_SQLSTATE

-- invariant: every live booking owns its slots, no dead one owns any
SELECT b.id, b.status, array_agg(bs.slot_id ORDER BY bs.slot_id) AS slots
FROM medreserve.bookings b LEFT JOIN medreserve.booking_slots bs ON bs.booking_id = b.id
GROUP BY b.id, b.status ORDER BY b.id;
