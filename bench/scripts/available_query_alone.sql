-- Case 5, diagnostic: the statement inside medreserve_available_slots(), run
-- bare (no function call, no doctor check): what the function costs above
-- its own query.
\set d random(:dmin, :dmax)
SELECT s.*
  FROM medreserve.slots s
 WHERE s.doctor_id = :d::integer
   AND s.start_time >= greatest(:from::timestamptz, now())
   AND s.start_time < :until::timestamptz
   AND s.start_time > now()
   AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
 ORDER BY s.start_time;
