-- Case 1: the floor, the bare writes a booking needs, in one statement and
-- without any check (no slot lock, no occupant look-up).  Since 1.2 a
-- booking row also carries its doctor and span: written as constants here,
-- so the floor writes the same row without reading the slot.
\set s :first + :client_id * :stride + :n
\set n :n + 1
WITH b AS (
    INSERT INTO medreserve.bookings (slot_id, patient_name, status, doctor_id, starts_at, ends_at)
    VALUES (:s::integer, 'Bench Patient', 'CONFIRMED', 1, now() + interval '1 day',
            now() + interval '1 day 15 minutes')
    RETURNING id)
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT b.id, :s::integer FROM b;
