-- Case 1, diagnostic: the floor of 1.2, the bare writes a booking needs now
-- that the slot carries its state (the two inserts and the slot's counter),
-- in one statement and without any check.  The booking's doctor and span
-- are constants, as in book_floor.sql.
\set s :first + :client_id * :stride + :n
\set n :n + 1
WITH b AS (
    INSERT INTO medreserve.bookings (slot_id, patient_name, status, doctor_id, starts_at, ends_at)
    VALUES (:s::integer, 'Bench Patient', 'CONFIRMED', 1, now() + interval '1 day',
            now() + interval '1 day 15 minutes')
    RETURNING id),
s AS (
    UPDATE medreserve.slots SET seats_confirmed = seats_confirmed + 1 WHERE id = :s::integer)
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT b.id, :s::integer FROM b;
