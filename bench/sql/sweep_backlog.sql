/*
 * bench/sql/sweep_backlog.sql: the backlog both sweeps face, identical each
 * time: :holds lapsed holds (one slot each, taken one after the other, so
 * that they lapsed in the order they were taken, 5 ms apart, the last one a
 * minute ago), :holds CONFIRMED bookings and :holds/10 live holds that must
 * stay.
 * The rows are valid by construction, so the load skips the foreign-key
 * triggers (session_replication_role = replica, as pg_restore
 * --disable-triggers does) to stay fast.
 */
TRUNCATE medreserve.booking_slots, medreserve.bookings RESTART IDENTITY;
SET session_replication_role = replica;
INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at, created_at, updated_at,
                                 doctor_id, starts_at, ends_at)
SELECT s.id, 'Lapsed ' || s.id, 'PENDING', e.expires_at,
       e.expires_at - interval '2 minutes', e.expires_at - interval '2 minutes',
       s.doctor_id, s.start_time, medreserve.slot_end(s.start_time, s.duration_minutes)
  FROM medreserve.slots AS s,
       LATERAL (SELECT now() - interval '1 minute'
                       - (:first + 4 * :holds - s.id) * interval '1.25 ms' AS expires_at) AS e
 WHERE (s.id - :first) % 4 = 0 ORDER BY s.id LIMIT :holds;
INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at,
                                 doctor_id, starts_at, ends_at)
SELECT s.id, 'Confirmed ' || s.id, 'CONFIRMED', NULL,
       s.doctor_id, s.start_time, medreserve.slot_end(s.start_time, s.duration_minutes)
  FROM medreserve.slots AS s WHERE (s.id - :first) % 4 = 1 ORDER BY s.id LIMIT :holds;
INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at,
                                 doctor_id, starts_at, ends_at)
SELECT s.id, 'Holding ' || s.id, 'PENDING', now() + interval '1 hour',
       s.doctor_id, s.start_time, medreserve.slot_end(s.start_time, s.duration_minutes)
  FROM medreserve.slots AS s WHERE (s.id - :first) % 4 = 2 ORDER BY s.id LIMIT :holds / 10;
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT id, slot_id FROM medreserve.bookings ORDER BY id;
RESET session_replication_role;
-- the slots' state, from the booking rows just loaded (fresh statistics first)
ANALYZE medreserve.bookings, medreserve.booking_slots;
SELECT medreserve.refresh_slot_state() \g /dev/null
VACUUM ANALYZE medreserve.bookings, medreserve.booking_slots, medreserve.slots;
CHECKPOINT;
