-- Case 5, diagnostic: the same week from bench.slots_state, a copy of the
-- slots that carries each slot's state in a column (busy_until), so that one
-- index range scan answers without probing booking_slots and bookings.
\set d random(:dmin, :dmax)
SELECT s.id, s.doctor_id, s.start_time, s.duration_minutes, s.created_at
  FROM bench.slots_state s
 WHERE s.doctor_id = :d::integer
   AND s.start_time >= :from::timestamptz AND s.start_time < :until::timestamptz
   AND s.start_time > now()
   AND (s.busy_until IS NULL OR s.busy_until <= now())
 ORDER BY s.start_time;
