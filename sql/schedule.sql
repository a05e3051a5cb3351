-- Doctors, schedules and availability: slots never overlap, adding is all
-- or nothing, removing what is booked is refused.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;

SELECT id, name, specialization FROM medreserve_add_doctor(' Dr Ada Grey ', 'Cardiology');
SELECT id, name, specialization FROM medreserve_add_doctor('Dr Ben Okafor', 'dermatology');
SELECT id, name, specialization FROM medreserve_add_doctor('Dr Chen Wu');
SELECT id FROM medreserve_add_doctor(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_add_doctor('  ');
\echo :LAST_ERROR_SQLSTATE
SELECT name FROM medreserve_list_doctors();
SELECT name FROM medreserve_list_doctors('cardiology');

-- back-to-back slots, first to last start inclusive
SELECT id, start_time, duration_minutes
FROM medreserve_add_slots(1, '2099-03-02 09:00+00', '2099-03-02 10:00+00', 15);
SELECT count(*) AS half_hour_slots
FROM medreserve_add_slots(2, '2099-03-02 09:00+00', '2099-03-02 11:59+00', 30);

-- overlapping an existing slot: 23P01, and none of the range is added
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-02 07:00+00', '2099-03-02 09:10+00', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS doctor_1_slots FROM medreserve.slots WHERE doctor_id = 1;
-- the table itself refuses an overlap too
INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes)
VALUES (1, '2099-03-02 09:50+00', 30);
\echo :LAST_ERROR_SQLSTATE
-- touching is not overlapping; another doctor at the same time is fine
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-02 10:15+00', '2099-03-02 10:15+00');
SELECT count(*) FROM medreserve_add_slots(3, '2099-03-02 09:00+00', '2099-03-02 09:00+00');

-- bad ranges
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-03 10:00+00', '2099-03-03 09:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-03 09:00+00', '2099-03-03 10:00+00', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(1, '2020-03-03 09:00+00', '2020-03-03 10:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-03 00:00+00', '2099-06-03 00:00+00', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(4242, '2099-03-03 09:00+00', '2099-03-03 10:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(1, NULL, '2099-03-03 10:00+00');
\echo :LAST_ERROR_SQLSTATE

-- availability: booked and live-held slots are hidden, a lapsed hold's slot is free
SELECT status FROM medreserve_book(2, 'Ann Lee');
SELECT status FROM medreserve_hold(3, 'Bob Marsh');
SELECT status FROM medreserve_hold(4, 'Cy Park');
UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE patient_name = 'Cy Park';
SELECT id, start_time FROM medreserve_available_slots(1, '2099-03-02 00:00+00', '2099-03-03 00:00+00');
-- the window is half open, and the default window (next 7 days) has nothing this far out
SELECT id FROM medreserve_available_slots(1, '2099-03-02 09:15+00', '2099-03-02 09:45+00');
SELECT count(*) FROM medreserve_available_slots(1);
SELECT count(*) FROM medreserve_available_slots(4242);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_available_slots(NULL);
\echo :LAST_ERROR_SQLSTATE

-- removing a booked slot or a doctor with live bookings is refused
DELETE FROM medreserve.slots WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM medreserve.doctors WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
-- a slot whose hold lapsed, and a doctor with nothing live, can go
DELETE FROM medreserve.slots WHERE id = 4;
DELETE FROM medreserve.doctors WHERE id = 3;
SELECT id FROM medreserve.doctors ORDER BY id;

-- infinite or absurdly distant ranges are refused before any arithmetic
SELECT count(*) FROM medreserve_add_slots(1, '2099-01-01', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(1, '294276-12-31 23:50+00', '294276-12-31 23:55+00');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_add_doctor(E'Dr\tTab');
\echo :LAST_ERROR_SQLSTATE
