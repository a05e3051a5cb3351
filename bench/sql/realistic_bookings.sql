/*
 * bench/sql/realistic_bookings.sql: bookings for the availability case, by a
 * fixed pseudo-random draw per slot: 35% CONFIRMED, 5% live holds, 5% lapsed
 * holds (free again, but still listed in booking_slots until swept), the rest
 * free.  Valid by construction; the load skips the foreign-key triggers.
 */
TRUNCATE medreserve.booking_slots, medreserve.bookings RESTART IDENTITY;
SET session_replication_role = replica;
INSERT INTO medreserve.bookings (slot_id, patient_name, patient_email, status, expires_at,
                                 doctor_id, starts_at, ends_at)
SELECT id, 'Patient ' || id, 'patient' || id || '@example.org',
       CASE WHEN draw < 35 THEN 'CONFIRMED' ELSE 'PENDING' END,
       CASE WHEN draw < 35 THEN NULL
            WHEN draw < 40 THEN now() + interval '1 day'
            ELSE now() - interval '10 minutes' END,
       doctor_id, start_time, medreserve.slot_end(start_time, duration_minutes)
  FROM (SELECT s.*, abs(hashint4(s.id)) % 100 AS draw FROM medreserve.slots AS s) AS d
 WHERE draw < 45
 ORDER BY id;
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT id, slot_id FROM medreserve.bookings ORDER BY id;
RESET session_replication_role;
-- the slots' state, from the booking rows just loaded (fresh statistics first)
ANALYZE medreserve.bookings, medreserve.booking_slots;
SELECT medreserve.refresh_slot_state() \g /dev/null
VACUUM ANALYZE medreserve.bookings, medreserve.booking_slots, medreserve.slots;
CHECKPOINT;
