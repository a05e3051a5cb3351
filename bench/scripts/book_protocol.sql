-- Case 1: the design document's Express controller protocol, six round trips:
-- BEGIN; lock the slot; insert a PENDING booking; insert booking_slots;
-- mark it CONFIRMED; COMMIT.  \gset carries the booking id to the next command.
\set s :first + :client_id * :stride + :n
\set n :n + 1
BEGIN;
SELECT doctor_id, start_time, medreserve.slot_end(start_time, duration_minutes) AS end_time
  FROM medreserve.slots WHERE id = :s::integer FOR UPDATE \gset
INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at, doctor_id, starts_at, ends_at)
VALUES (:s::integer, 'Bench Patient', 'PENDING', now() + interval '2 minutes',
        :doctor_id::integer, :start_time::timestamptz, :end_time::timestamptz)
RETURNING id AS booking_id \gset
INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (:booking_id::integer, :s::integer);
UPDATE medreserve.bookings SET status = 'CONFIRMED', updated_at = now() WHERE id = :booking_id::integer;
COMMIT;
