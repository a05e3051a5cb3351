/*
 * bench/sql/growth_backlog.sql: the sweep's backlog for bench/growth.sh,
 * added to whatever the tables hold (the growth case's past bookings stay):
 * :holds lapsed holds on free future slots (every other one, in id order;
 * each lapsed 1.25 ms after the one before, the last a minute ago) and
 * :holds / 10 live holds between them that the sweep must keep.  Valid by
 * construction: the load skips the per-row triggers and writes each slot's
 * state (one held seat, its lapse time) with it.
 */
\set ON_ERROR_STOP 1
SELECT coalesce(max(id), 0) AS backlog_after FROM medreserve.bookings \gset
SET session_replication_role = replica;
INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at, created_at, updated_at,
                                 doctor_id, starts_at, ends_at)
SELECT f.id, CASE WHEN f.rn % 2 = 0 THEN 'Lapsed ' ELSE 'Holding ' END || f.id, 'PENDING', e.expires_at,
       now() - interval '1 hour', now() - interval '1 hour',
       f.doctor_id, f.start_time, medreserve.slot_end(f.start_time, f.duration_minutes)
  FROM (SELECT s.*, row_number() OVER (ORDER BY s.id) AS rn
          FROM (SELECT * FROM medreserve.slots s
                 WHERE s.start_time > now() AND s.seats_confirmed = 0 AND s.seats_held = 0
                 ORDER BY s.id LIMIT 2 * :holds) AS s) AS f,
       LATERAL (SELECT CASE WHEN f.rn % 2 = 0
                            THEN now() - interval '1 minute' - (2 * :holds - f.rn) * interval '0.625 ms'
                            ELSE now() + interval '1 hour' END AS expires_at) AS e
 WHERE f.rn % 2 = 0 OR f.rn <= :holds / 5
 ORDER BY f.id;
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT id, slot_id FROM medreserve.bookings WHERE id > :backlog_after ORDER BY id;
UPDATE medreserve.slots s SET seats_held = 1, hold_lapses_at = b.expires_at
  FROM medreserve.bookings b WHERE b.id > :backlog_after AND s.id = b.slot_id;
RESET session_replication_role;
VACUUM ANALYZE medreserve.bookings, medreserve.booking_slots, medreserve.slots;
CHECKPOINT;
