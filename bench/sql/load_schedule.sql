/*
 * bench/sql/load_schedule.sql: a clinic's schedule, :doctors doctors with
 * :per_doctor future slots of 15 minutes each (32 a day from 08:00, every
 * day from tomorrow on), loaded in two INSERT ... SELECT statements through
 * the real tables, so the exclusion constraint, indexes and foreign keys all
 * do their work as they would in production.
 */
INSERT INTO medreserve.doctors (name, specialization)
SELECT format('Dr. Bench %s', d),
       (ARRAY['cardiology', 'dermatology', 'general practice', 'neurology',
              'paediatrics', 'psychiatry', 'radiology', 'surgery'])[1 + d % 8]
  FROM generate_series(1, :doctors) AS d;

INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes)
SELECT doc.id,
       date_trunc('day', now()) + interval '1 day'
         + (k / 32) * interval '1 day' + interval '8 hours' + (k % 32) * interval '15 minutes',
       15
  FROM medreserve.doctors AS doc, generate_series(0, :per_doctor - 1) AS k
 ORDER BY doc.id, k;

VACUUM ANALYZE medreserve.doctors, medreserve.slots;
