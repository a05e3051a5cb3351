-- a plain query over all slots: every free slot of the specialization in the window, sorted
SELECT count(*) FROM (
  SELECT s.id FROM medreserve.slots s
    JOIN medreserve.doctors d ON d.id = s.doctor_id
    LEFT JOIN (medreserve.booking_slots bs JOIN medreserve.bookings b
               ON b.id = bs.booking_id AND medreserve.booking_is_live(b.status, b.expires_at))
      ON bs.slot_id = s.id
   WHERE lower(d.specialization) = 'cardiology'
     AND s.start_time > now() AND s.start_time < now() + interval '14 days'
     AND bs.id IS NULL
   ORDER BY s.start_time, s.id LIMIT 20) x;
