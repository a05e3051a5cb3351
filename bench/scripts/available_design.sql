-- Case 5: the same week through a plain LEFT JOIN slots -> booking_slots ->
-- bookings, keeping the slots without a live (confirmed or unexpired) booking.
\set d random(:dmin, :dmax)
SELECT s.*
  FROM medreserve.slots s
  LEFT JOIN medreserve.booking_slots bs ON bs.slot_id = s.id
  LEFT JOIN medreserve.bookings b ON b.id = bs.booking_id
        AND (b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.expires_at > now()))
 WHERE s.doctor_id = :d::integer
   AND s.start_time >= :from::timestamptz AND s.start_time < :until::timestamptz
   AND s.start_time > now()
   AND b.id IS NULL
 ORDER BY s.start_time;
