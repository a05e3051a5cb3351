-- what a client had to do before find_slots: availability of each doctor, merged
SELECT count(*) FROM (
  SELECT s.id FROM medreserve.doctors d
   CROSS JOIN LATERAL medreserve_available_slots(d.id, now(), now() + interval '14 days') s
   WHERE lower(d.specialization) = 'cardiology'
   ORDER BY s.start_time, s.id LIMIT 20) x;
