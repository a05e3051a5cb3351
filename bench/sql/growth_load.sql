/*
 * bench/sql/growth_load.sql: grow the 1M schedule of load_schedule.sql to the
 * growth case's size in bulk (bench/growth.sh), for each of the :doctors
 * doctors:
 *   :past_per_doctor slots before today, each with one past booking: about
 *     70% FULFILLED, 12% CONFIRMED (never closed), 3% NOSHOW (live statuses
 *     that keep their seat, with their booking_slots row) and 15% CANCELLED
 *     (seat given back, no booking_slots row);
 *   :more_per_doctor future slots after its :per_doctor existing ones, free.
 * The rows are valid by construction and each slot's state is written with
 * it, so the load skips the per-row foreign-key and event triggers
 * (session_replication_role = replica, as pg_restore --disable-triggers
 * does) and drops the exclusion constraint (GiST) for the load: checking it
 * row by row costs about five times what rebuilding it once does.  The
 * constraint is re-made from its own definition, read from the catalog.
 * medreserve_verify() must find nothing afterwards (bench/growth.sh checks).
 * Times: bench/growth.sh times each \echo'd step from psql's \timing.
 */
\set ON_ERROR_STOP 1
SET maintenance_work_mem = '512MB';
SELECT pg_get_constraintdef(c.oid) AS no_overlap_def
  FROM pg_constraint c WHERE c.conrelid = 'medreserve.slots'::regclass AND c.conname = 'slots_no_overlap' \gset
SELECT coalesce(max(id), 0) AS slots_before FROM medreserve.slots \gset
SELECT coalesce(max(id), 0) AS bookings_before FROM medreserve.bookings \gset
SET session_replication_role = replica;
\timing on

\echo step drop_exclusion
ALTER TABLE medreserve.slots DROP CONSTRAINT slots_no_overlap;

\echo step past_slots
-- the seat of a slot whose booking was cancelled is free (seats_confirmed 0)
INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes, seats_confirmed)
SELECT doc.id,
       date_trunc('day', now()) - interval '1 day'
         - (k / 32) * interval '1 day' + interval '8 hours' + (k % 32) * interval '15 minutes',
       15,
       CASE WHEN abs(hashint4(doc.id * 100003 + k)) % 100 < 85 THEN 1 ELSE 0 END
  FROM medreserve.doctors AS doc, generate_series(0, :past_per_doctor - 1) AS k
 ORDER BY doc.id, k;
SELECT max(id) AS past_last FROM medreserve.slots \gset

\echo step future_slots
INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes)
SELECT doc.id,
       date_trunc('day', now()) + interval '1 day'
         + (k / 32) * interval '1 day' + interval '8 hours' + (k % 32) * interval '15 minutes',
       15
  FROM medreserve.doctors AS doc, generate_series(:per_doctor, :per_doctor + :more_per_doctor - 1) AS k
 ORDER BY doc.id, k;

\echo step past_bookings
INSERT INTO medreserve.bookings (slot_id, patient_name, patient_email, status, created_at, updated_at,
                                 doctor_id, starts_at, ends_at,
                                 fulfilled_at, no_show_at, cancelled_at, cancelled_by, late_cancellation)
SELECT p.id, 'Past Patient ' || p.id, 'past' || p.id || '@example.org', p.status,
       p.start_time - interval '7 days', p.start_time + interval '1 hour',
       p.doctor_id, p.start_time, medreserve.slot_end(p.start_time, p.duration_minutes),
       CASE WHEN p.status = 'FULFILLED' THEN p.start_time + interval '20 minutes' END,
       CASE WHEN p.status = 'NOSHOW' THEN p.start_time + interval '30 minutes' END,
       CASE WHEN p.status = 'CANCELLED' THEN p.start_time - interval '2 days' END,
       CASE WHEN p.status = 'CANCELLED' THEN 'patient' END,
       CASE WHEN p.status = 'CANCELLED' THEN false END
  FROM (SELECT s.*,
               CASE WHEN s.seats_confirmed = 0 THEN 'CANCELLED'
                    WHEN abs(hashint4(s.id)) % 85 < 70 THEN 'FULFILLED'
                    WHEN abs(hashint4(s.id)) % 85 < 82 THEN 'CONFIRMED'
                    ELSE 'NOSHOW' END AS status
          FROM medreserve.slots s
         WHERE s.id > :slots_before AND s.id <= :past_last) AS p
 ORDER BY p.id;

\echo step past_booking_slots
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT id, slot_id FROM medreserve.bookings
 WHERE id > :bookings_before AND status <> 'CANCELLED'
 ORDER BY id;

\echo step add_exclusion
ALTER TABLE medreserve.slots ADD CONSTRAINT slots_no_overlap :no_overlap_def;
\timing off
RESET session_replication_role;
