-- Case 1: the floor, the bare writes a booking needs, in one statement and
-- without any check (no slot lock, no occupant look-up).
\set s :first + :client_id * :stride + :n
\set n :n + 1
WITH b AS (
    INSERT INTO medreserve.bookings (slot_id, patient_name, status)
    VALUES (:s::integer, 'Bench Patient', 'CONFIRMED')
    RETURNING id)
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT b.id, :s::integer FROM b;
