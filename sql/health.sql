-- medreserve_health() and the pg_cron scheduling functions on a server
-- without pg_cron: the extension works, scheduling refuses with 55000.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
-- no sweep has run in this database yet, whichever tests ran before
UPDATE medreserve.sweep_status SET last_started_at = NULL, last_finished_at = NULL,
    last_holds_expired = NULL, last_slots_released = NULL, runs = 0;
-- and no slot generation either
DELETE FROM medreserve.generation_state;

SELECT medreserve_schedule_expiry();
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_unschedule_expiry();
\echo :LAST_ERROR_SQLSTATE

SELECT h - 'checked_at' - 'version' AS health,
       h->>'version' = (SELECT extversion FROM pg_extension WHERE extname = 'medreserve') AS version_matches
FROM medreserve_health() AS h;

-- a hold left overdue past medreserve.health_overdue_threshold degrades health
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, '2099-03-02 09:00+00');
SELECT status FROM medreserve_hold(1, 'Ann Lee');
UPDATE medreserve.bookings SET expires_at = now() - interval '6 minutes';
SELECT h->'status' AS status, h->'problems' AS problems, h->'overdue_holds' AS overdue
FROM medreserve_health() AS h;
SET medreserve.health_overdue_threshold = '1h';
SELECT h->'status' AS status, h->'overdue_threshold_seconds' AS threshold
FROM medreserve_health() AS h;
RESET medreserve.health_overdue_threshold;
-- the sweep puts it right
SELECT medreserve_expire();
SELECT h->'status' AS status, h->'overdue_holds' AS overdue FROM medreserve_health() AS h;
