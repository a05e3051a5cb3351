-- tools/serve-setup.sql: the clinic stack's database (run by tools/serve.sh at
-- every start, as the superuser, in database "clinic").  Every statement is
-- idempotent: the first start creates, later starts update and top up.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- The API in schema api (the schema PostgREST exposes), tables in medreserve.
CREATE SCHEMA IF NOT EXISTS api;
COMMENT ON SCHEMA api IS 'The HTTP API: PostgREST exposes the functions of this schema';
CREATE EXTENSION IF NOT EXISTS btree_gist;          -- stays in public, off the HTTP surface
CREATE EXTENSION IF NOT EXISTS medreserve SCHEMA api;
ALTER EXTENSION medreserve UPDATE;                   -- a newer checkout brings its upgrade
CREATE EXTENSION IF NOT EXISTS pg_cron;

-- PostgREST logs in as authenticator and switches to the JWT's role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'web_anon') THEN
        CREATE ROLE web_anon NOLOGIN;       -- no token: may call nothing (401)
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'web_patient') THEN
        CREATE ROLE web_patient NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'web_admin') THEN
        CREATE ROLE web_admin NOLOGIN;
    END IF;
    -- From 1.2 a JWT's email claim counts only in a session that came through
    -- a member of medreserve_gateway (the role comes with the extension).
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'medreserve_gateway') THEN
        GRANT medreserve_gateway TO authenticator;
    END IF;
END
$$;
GRANT medreserve_patient TO web_patient;
GRANT medreserve_admin TO web_admin;
GRANT web_anon, web_patient, web_admin TO authenticator;
GRANT USAGE ON SCHEMA api TO web_anon, web_patient, web_admin;
-- Schema medreserve is PostgREST's second schema (Accept-Profile: medreserve),
-- read-only by the extension's own grants: patients read doctors, slots and
-- (by row-level security) their own bookings; admins read everything.

-- pg_cron sweeps lapsed holds (every 30 seconds; replaces the job if present).
SELECT api.medreserve_schedule_expiry() AS expiry_job;

-- The sample clinic: its doctors, open Monday to Saturday, 09:00-12:00 and
-- 13:00-17:00 (the server's time zone).  With medreserve's working hours (1.2)
-- those are the doctors' weekly hours, and pg_cron generates their slots
-- daily; before, slots for the next three weeks are added on every day that
-- has none yet.
BEGIN;
CREATE TEMP TABLE sample_doctor (name text, specialization text, minutes int) ON COMMIT DROP;
INSERT INTO sample_doctor VALUES
    ('Dr Ada Grey',      'cardiology',    20),
    ('Dr Ben Okafor',    'dermatology',   15),
    ('Dr Chen Wu',       'pediatrics',    30),
    ('Dr Dana Novak',    'pediatrics',    15),
    ('Dr Emil Sørensen', 'general practice', 15);

SELECT count(*) AS doctors_added
  FROM sample_doctor s,
       LATERAL api.medreserve_add_doctor(s.name, s.specialization) AS added
 WHERE NOT EXISTS (SELECT FROM medreserve.doctors d WHERE d.name = s.name);

DO $$
BEGIN
    IF to_regprocedure('api.medreserve_set_working_hours(integer, integer, time, time, integer, date, date, integer)') IS NULL THEN
        RETURN;
    END IF;
    PERFORM api.medreserve_set_working_hours(d.id, weekday, block.starts, block.ends, s.minutes)
       FROM sample_doctor s
       JOIN medreserve.doctors d ON d.name = s.name
      CROSS JOIN generate_series(1, 6) AS weekday
      CROSS JOIN (VALUES (time '09:00', time '12:00'), (time '13:00', time '17:00')) AS block (starts, ends)
      WHERE NOT EXISTS (SELECT FROM medreserve.working_hours w WHERE w.doctor_id = d.id);
    -- fill the horizon now (and record it, which health checks); the daily
    -- job keeps it filled
    PERFORM api.medreserve_generate_slots();
    PERFORM api.medreserve_schedule_generation();
END
$$;

SELECT count(*) AS slots_added
  FROM sample_doctor s
  JOIN medreserve.doctors d ON d.name = s.name
 CROSS JOIN generate_series(current_date::timestamp, current_date + 20, interval '1 day') AS day
 CROSS JOIN (VALUES (interval '9 hours', interval '12 hours'),
                    (interval '13 hours', interval '17 hours')) AS block (opens, closes)
 CROSS JOIN LATERAL api.medreserve_add_slots(
                d.id, day + block.opens, day + block.closes - make_interval(mins => s.minutes), s.minutes)
                AS added
 WHERE to_regclass('medreserve.working_hours') IS NULL
   AND extract(isodow FROM day) < 7
   AND (day + block.opens)::timestamptz > now()
   AND NOT EXISTS (SELECT FROM medreserve.slots x
                    WHERE x.doctor_id = d.id
                      AND x.start_time >= (day + block.opens)::timestamptz
                      AND x.start_time < (day + block.closes)::timestamptz);

-- A few appointments, once, so that the front desk has something to show.
SELECT count(*) AS sample_bookings
  FROM (SELECT s.id, row_number() OVER (PARTITION BY s.doctor_id ORDER BY s.start_time) AS n
          FROM medreserve.slots s
          JOIN sample_doctor sd ON sd.name = (SELECT name FROM medreserve.doctors WHERE id = s.doctor_id)
         WHERE s.start_time > now() + interval '1 hour'
           AND NOT EXISTS (SELECT FROM medreserve.bookings)) AS pick
 CROSS JOIN LATERAL api.medreserve_book(pick.id, 'Sample Patient ' || pick.id,
                                        'patient' || pick.id || '@example.org') AS booked
 WHERE pick.n IN (2, 5);
COMMIT;
