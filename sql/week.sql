-- A clinic's week (issue 12): time zones, working hours (half-open blocks,
-- overlaps, validity, DST), generation (idempotent, respects hand-made
-- slots and time off), time off and closures, removing slots, search.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots,
         medreserve.working_hours, medreserve.time_off, medreserve.generation_state
    RESTART IDENTITY CASCADE;

-- time zones: the default comes from medreserve.default_time_zone, else TimeZone
SET medreserve.default_time_zone = 'Europe/Berlin';
SELECT id, name, time_zone FROM medreserve_add_doctor('Dr Ada Grey', 'cardiology');
RESET medreserve.default_time_zone;
SELECT id, name, time_zone FROM medreserve_add_doctor('Dr Ben Okafor', 'Cardiology', 'America/New_York');
SELECT id, name, time_zone FROM medreserve_add_doctor('Dr Chen Wu', 'dermatology');
SELECT id, name, time_zone FROM medreserve_add_doctor('Dr Dee Moss', 'dermatology', 'UTC');
-- unknown zones, POSIX strings TimeZone would take, and a bad default: 22023, no row
SELECT id FROM medreserve_add_doctor('Dr X', NULL, 'Mars/Olympus');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_add_doctor('Dr X', NULL, 'UTC+3');
\echo :LAST_ERROR_SQLSTATE
SET medreserve.default_time_zone = 'Nowhere/Land';
SELECT id FROM medreserve_add_doctor('Dr X');
\echo :LAST_ERROR_SQLSTATE
RESET medreserve.default_time_zone;
UPDATE medreserve.doctors SET time_zone = 'Europe/Nowhere' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS doctors FROM medreserve.doctors;
-- the horizon setting takes intervals from a day to ten years
SET medreserve.slot_horizon = 'soon';
\echo :LAST_ERROR_SQLSTATE
SET medreserve.slot_horizon = '0 days';
\echo :LAST_ERROR_SQLSTATE
SET medreserve.slot_horizon = '20 years';
\echo :LAST_ERROR_SQLSTATE
SHOW medreserve.slot_horizon;

-- working hours: refusals
SELECT id FROM medreserve_set_working_hours(NULL, 1, '09:00', '12:00');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_working_hours(1, 8, '09:00', '12:00');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_working_hours(1, 1, '12:00', '09:00');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_working_hours(1, 1, '09:00', '12:00', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_working_hours(1, 1, '09:00', '09:10', 15);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_working_hours(1, 1, '09:00', '12:00', 15, '2099-03-02', '2099-03-01');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_working_hours(1, 1, '09:00', '12:00', 15, 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_working_hours(4242, 1, '09:00', '12:00');
\echo :LAST_ERROR_SQLSTATE

-- The Berlin week of the README: Monday to Friday, 09:00-12:30 and
-- 13:30-17:00, 20-minute slots, for the week of 2 March 2099
SELECT count(*) AS blocks
FROM generate_series(1, 5) AS wd,
     (VALUES ('09:00'::time, '12:30'::time), ('13:30', '17:00')) AS b(starts, ends),
     medreserve_set_working_hours(1, wd, b.starts, b.ends, 20, '2099-03-02', '2099-03-08');
-- overlapping blocks of one weekday within their validity: 23P01
SELECT id FROM medreserve_set_working_hours(1, 1, '12:00', '13:00', 20, '2099-03-01', '2099-03-02');
\echo :LAST_ERROR_SQLSTATE
-- touching is not overlapping; nor is the same block in another validity
SELECT weekday, starts, ends FROM medreserve_set_working_hours(1, 1, '12:30', '13:30', 60, '2099-03-02', '2099-03-02');
SELECT weekday, starts, ends FROM medreserve_set_working_hours(1, 1, '09:00', '12:30', 30, '2099-03-09', '2099-03-15');
SELECT weekday, starts, ends, slot_minutes, valid_from, valid_until
FROM medreserve_list_working_hours(1) WHERE weekday = 1;
SELECT count(*) FROM medreserve_list_working_hours(4242);
\echo :LAST_ERROR_SQLSTATE

SELECT medreserve_generate_slots('2099-03-08') AS generated;
-- a second run makes nothing
SELECT medreserve_generate_slots('2099-03-08') AS generated_again;
-- per local day: 10 + 10 slots, Monday 11 with its 12:30-13:30 block; the
-- morning's last slot is 12:00-12:20 (12:20-12:40 would end after 12:30)
SELECT (s.start_time AT TIME ZONE 'Europe/Berlin')::date AS day, count(*) AS slots,
       min(s.start_time AT TIME ZONE 'Europe/Berlin')::time AS first,
       max(medreserve.slot_end(s.start_time, s.duration_minutes) AT TIME ZONE 'Europe/Berlin')::time AS last_end,
       count(*) FILTER (WHERE (s.start_time AT TIME ZONE 'Europe/Berlin')::time BETWEEN '12:00' AND '12:40') AS around_noon
FROM medreserve.slots s WHERE s.doctor_id = 1 GROUP BY 1 ORDER BY 1;
-- the week of 9 March is beyond until_date
SELECT count(*) FROM medreserve.slots WHERE start_time >= '2099-03-09';
-- until_date: NULL and absurd values
SELECT medreserve_generate_slots(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_generate_slots('infinity');
\echo :LAST_ERROR_SQLSTATE

-- half-open blocks: 09:00-17:00 in 20-minute slots is 24 slots, the last 16:40-17:00
SELECT id FROM medreserve_set_working_hours(4, 1, '09:00', '17:00', 20, '2099-03-02', '2099-03-02');
SELECT medreserve_generate_slots('2099-03-08') AS generated;
SELECT count(*), min(start_time), max(medreserve.slot_end(start_time, duration_minutes)) AS last_end
FROM medreserve.slots WHERE doctor_id = 4;

-- hand-made slots stay, and template slots that would overlap one are skipped
SELECT count(*) FROM medreserve_add_slots(4, '2099-03-03 10:10+00', '2099-03-03 10:10+00', 30);
SELECT id FROM medreserve_set_working_hours(4, 2, '09:00', '12:00', 30, '2099-03-03', '2099-03-03');
SELECT medreserve_generate_slots('2099-03-08') AS generated;
SELECT start_time, duration_minutes, generated FROM medreserve.slots
WHERE doctor_id = 4 AND start_time::date = '2099-03-03' ORDER BY start_time;

-- DST: a block is the real interval between its local start and end.
-- Europe/Berlin, spring forward (29 March 2099, 02:00 -> 03:00): 01:00-04:00 is 2 hours;
-- a block starting in the skipped hour (02:30) starts at 03:00 CEST.
SELECT id FROM medreserve_set_working_hours(1, 7, '01:00', '04:00', 60, '2099-03-29', '2099-03-29');
-- fall back (25 October 2099, 03:00 -> 02:00): 01:00 CEST to 04:00 CET is 4 hours
SELECT id FROM medreserve_set_working_hours(1, 7, '01:00', '04:00', 60, '2099-10-25', '2099-10-25');
-- America/New_York: spring forward 8 March 2099, fall back 1 November 2099
SELECT id FROM medreserve_set_working_hours(2, 7, '00:00', '04:00', 60, '2099-03-08', '2099-03-08');
SELECT id FROM medreserve_set_working_hours(2, 7, '00:00', '04:00', 60, '2099-11-01', '2099-11-01');
-- (a second block that day may not overlap the first)
SELECT id FROM medreserve_set_working_hours(2, 7, '02:30', '04:00', 30, '2099-03-08', '2099-03-08');
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_generate_slots('2099-11-02') AS generated;
SELECT d.time_zone, (s.start_time AT TIME ZONE d.time_zone)::date AS local_day, count(*) AS slots,
       min(s.start_time) AS first_start, max(medreserve.slot_end(s.start_time, s.duration_minutes)) AS last_end,
       max(medreserve.slot_end(s.start_time, s.duration_minutes)) - min(s.start_time) AS real_length
FROM medreserve.slots s JOIN medreserve.doctors d ON d.id = s.doctor_id
WHERE (s.start_time AT TIME ZONE d.time_zone)::date IN ('2099-03-29', '2099-10-25', '2099-03-08', '2099-11-01')
GROUP BY 1, 2 ORDER BY 1, 2;
-- a block starting in the skipped hour starts at the first valid instant after it
SELECT id FROM medreserve_set_working_hours(1, 7, '02:30', '05:00', 30, '2099-03-29', '2099-03-29');
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_clear_working_hours(1, 7);
-- (changes regenerate up to the horizon only: remove that far day by hand)
SELECT count(*) FROM medreserve_remove_slots(1, '2099-03-28 12:00+00', '2099-03-29 12:00+00');
SELECT id FROM medreserve_set_working_hours(1, 7, '02:30', '05:00', 30, '2099-03-29', '2099-03-29');
SELECT medreserve_generate_slots('2099-11-02') AS generated;
SELECT start_time, start_time AT TIME ZONE 'Europe/Berlin' AS local_start
FROM medreserve.slots WHERE doctor_id = 1 AND start_time::date = '2099-03-29' ORDER BY start_time;

-- time off: Dr Grey is ill on Tuesday 3 March 2099.  One confirmed booking,
-- one live hold, one lapsed hold in the morning.
SELECT id AS tue_0900 FROM medreserve.slots WHERE doctor_id = 1 AND start_time = '2099-03-03 08:00+00' \gset
SELECT status FROM medreserve_book(:tue_0900, 'Ann Lee');
SELECT status FROM medreserve_hold(:tue_0900 + 1, 'Bob Marsh');
SELECT status FROM medreserve_hold(:tue_0900 + 2, 'Cy Park');
UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE patient_name = 'Cy Park';
SELECT count(*) AS tuesday_slots FROM medreserve.slots
WHERE doctor_id = 1 AND start_time >= '2099-03-03 00:00+01' AND start_time < '2099-03-04 00:00+01';
-- returns the live bookings it overlaps, cancels none, removes the free slots
SELECT id, slot_id, patient_name, status
FROM medreserve_add_time_off(1, '2099-03-03 00:00+01', '2099-03-04 00:00+01', 'ill');
SELECT id, status FROM medreserve.bookings ORDER BY id;
SELECT id, start_time FROM medreserve.slots
WHERE doctor_id = 1 AND start_time >= '2099-03-03 00:00+01' AND start_time < '2099-03-04 00:00+01' ORDER BY 1;
-- generation stops there; other doctors are untouched
SELECT medreserve_generate_slots('2099-03-08') AS generated;
SELECT count(*) AS dr_moss_tuesday FROM medreserve.slots WHERE doctor_id = 4 AND start_time::date = '2099-03-03';
-- refusals
SELECT count(*) FROM medreserve_add_time_off(1, NULL, '2099-03-04');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_time_off(1, '2099-03-04', '2099-03-03');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_time_off(1, '2099-03-04', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_time_off(4242, '2099-03-03', '2099-03-04');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_time_off(1, '2099-03-03', '2099-03-04', E'flu\n');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS time_off_rows FROM medreserve.time_off;

-- a clinic-wide closure (doctor_id NULL) on Wednesday 4 March removes every
-- doctor's free slots that day; Dr Moss has a booking then
SELECT count(*) FROM medreserve_add_slots(4, '2099-03-04 10:00+00', '2099-03-04 11:00+00', 30);
SELECT id AS wed_slot FROM medreserve.slots WHERE doctor_id = 4 AND start_time = '2099-03-04 10:30+00' \gset
SELECT status FROM medreserve_book(:wed_slot, 'Dot Ray');
SELECT count(*) AS wednesday_slots FROM medreserve.slots WHERE start_time::date = '2099-03-04';
SELECT slot_id, patient_name FROM medreserve_add_time_off(NULL, '2099-03-04 00:00+00', '2099-03-05 00:00+00', 'holiday');
SELECT doctor_id, start_time FROM medreserve.slots WHERE start_time::date = '2099-03-04';
-- listings: a doctor's own time off plus closures; all without a doctor
SELECT id, doctor_id, from_time, until_time, reason FROM medreserve_list_time_off(1, '2099-03-01', '2099-03-31');
SELECT id, doctor_id, reason FROM medreserve_list_time_off(4, '2099-03-01', '2099-03-31');
SELECT id, doctor_id, reason FROM medreserve_list_time_off(NULL, '2099-03-01', '2099-03-31');
SELECT count(*) FROM medreserve_list_time_off(4242);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_list_time_off(1, NULL);
\echo :LAST_ERROR_SQLSTATE
-- removing the time off lets generation fill the period again (around the bookings)
SELECT id, doctor_id, reason FROM medreserve_remove_time_off(1);
SELECT medreserve_generate_slots('2099-03-08') AS generated;
SELECT count(*) AS tuesday_slots FROM medreserve.slots
WHERE doctor_id = 1 AND start_time >= '2099-03-03 00:00+01' AND start_time < '2099-03-04 00:00+01';
SELECT id FROM medreserve_remove_time_off(1);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_remove_time_off(NULL);
\echo :LAST_ERROR_SQLSTATE

-- removing slots: free ones and those under lapsed holds go; booked ones are returned
SELECT id, start_time FROM medreserve_remove_slots(1, '2099-03-03 00:00+01', '2099-03-04 00:00+01');
SELECT count(*) AS tuesday_slots FROM medreserve.slots
WHERE doctor_id = 1 AND start_time >= '2099-03-03 00:00+01' AND start_time < '2099-03-04 00:00+01';
SELECT count(*) FROM medreserve_remove_slots(1, '2099-03-04', '2099-03-03');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_remove_slots(4242, '2099-03-03', '2099-03-04');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_remove_slots(NULL, '2099-03-03', '2099-03-04');
\echo :LAST_ERROR_SQLSTATE

-- search: the earliest free slots across doctors, by start time
SELECT slot_id, doctor_id, doctor_name, doctor_specialization, doctor_time_zone, start_time, end_time
FROM medreserve_find_slots('CARDIOLOGY ', '2099-03-01', '2099-04-01', max_results => 4);
SELECT doctor_id, start_time FROM medreserve_find_slots(doctor_ids => ARRAY[2], from_time => '2099-03-01',
                                                        until_time => '2099-03-09', max_results => 2);
SELECT count(*) FROM medreserve_find_slots('dermatology', '2099-03-01', '2099-04-01');
-- a booked slot is not offered; a lapsed hold's slot is
SELECT id AS mon_slot FROM medreserve.slots WHERE doctor_id = 4 AND start_time = '2099-03-02 09:00+00' \gset
SELECT status FROM medreserve_book(:mon_slot, 'Eve Hart');
SELECT status FROM medreserve_hold(:mon_slot + 1, 'Fay Long');
UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE patient_name = 'Fay Long';
SELECT slot_id, start_time FROM medreserve_find_slots(doctor_ids => ARRAY[4], from_time => '2099-03-02',
                                                      max_results => 2, until_time => '2099-03-03');
-- all doctors: the walk in start order
SELECT slot_id, doctor_id, start_time FROM medreserve_find_slots(from_time => '2099-03-01', until_time => '2099-04-01', max_results => 3);
-- the two ways agree: three of four doctors (walk) against each one alone (per doctor)
SELECT array(SELECT slot_id FROM medreserve_find_slots(doctor_ids => '{1,2,3}', from_time => '2099-03-01',
                                                       until_time => '2099-12-01', max_results => 40))
     = array(SELECT f.slot_id
               FROM unnest('{1,2,3}'::int[]) AS d,
                    medreserve_find_slots(doctor_ids => ARRAY[d], from_time => '2099-03-01',
                                          until_time => '2099-12-01', max_results => 40) AS f
              ORDER BY f.start_time, f.slot_id LIMIT 40) AS same_slots;
SELECT count(*) FROM medreserve_find_slots('no such specialization');
SELECT count(*) FROM medreserve_find_slots(max_results => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_find_slots(from_time => NULL);
\echo :LAST_ERROR_SQLSTATE

-- changing working hours regenerates the doctor's free slots up to the
-- horizon; booked ones stay and are reported.  The week's blocks are set
-- from tomorrow's weekday on, so tomorrow's slots get the same ids on any
-- day the test runs (the NOTICEs below name one)
SELECT setval('medreserve.slots_id_seq', 5000) IS NOT NULL AS ids_from_5001;
SELECT count(*) AS blocks FROM generate_series(0, 6) AS k,
       medreserve_set_working_hours(3, (extract(isodow FROM CURRENT_DATE + 1)::int + k - 1) % 7 + 1,
                                    '10:00', '11:00', 30, CURRENT_DATE + 1);
SELECT count(*) AS slots, count(DISTINCT start_time::date) AS days,
       min(start_time::date) = CURRENT_DATE + 1 AS from_tomorrow,
       max(start_time::date) = CURRENT_DATE + 56 AS to_the_horizon
FROM medreserve.slots WHERE doctor_id = 3;
SELECT id AS dr_wu_slot FROM medreserve.slots WHERE doctor_id = 3 ORDER BY start_time OFFSET 1 LIMIT 1 \gset
SELECT status FROM medreserve_book(:dr_wu_slot, 'Gus Ito');
SELECT medreserve_clear_working_hours(3);
SELECT count(*) AS blocks FROM generate_series(1, 7) AS d,
       medreserve_set_working_hours(3, d, '10:00', '11:00', 20, CURRENT_DATE + 1);
-- 3 slots a day, but 2 fewer on the booked day (they would overlap the booked 10:30-11:00)
SELECT count(*) AS slots, count(*) FILTER (WHERE NOT generated) AS hand_made,
       count(*) FILTER (WHERE duration_minutes = 30) AS kept_booked
FROM medreserve.slots WHERE doctor_id = 3;
SELECT medreserve_clear_working_hours(3, 9);
\echo :LAST_ERROR_SQLSTATE

-- patients search, but cannot run the clinic's week
SET ROLE medreserve_patient;
SELECT count(*) > 0 AS patient_finds FROM medreserve_find_slots('cardiology', '2099-03-01', '2099-04-01');
SELECT id FROM medreserve_set_working_hours(1, 1, '18:00', '19:00');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_time_off(1, '2099-03-03', '2099-03-04');
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_generate_slots();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_remove_slots(1, '2099-03-03', '2099-03-04');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve.working_hours;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- scheduling needs pg_cron (not on this server): 55000
SELECT medreserve_schedule_generation();
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_unschedule_generation();
\echo :LAST_ERROR_SQLSTATE

-- health: the last run reached far enough (the week's problems only: this
-- server has no pg_cron, so no job sweeps it, which health also reports)
SELECT h->'generation'->'job' AS job,
       ARRAY(SELECT p FROM jsonb_array_elements_text(h->'problems') AS p
              WHERE p ~ 'horizon|generation') AS week_problems
FROM medreserve_health() AS h;
-- as if the daily job had stopped running six weeks ago: degraded
UPDATE medreserve.generation_state SET generated_until = CURRENT_DATE + 14;
SELECT h->'status' AS status,
       (SELECT count(*) FROM jsonb_array_elements_text(h->'problems') AS p
         WHERE p LIKE 'the slot horizon has fallen behind: slots are generated up to %') AS behind
FROM medreserve_health() AS h;
SELECT medreserve_generate_slots() >= 0 AS ran;
SELECT ARRAY(SELECT p FROM jsonb_array_elements_text(h->'problems') AS p
              WHERE p ~ 'horizon|generation') AS week_problems,
       (h->'generation'->>'generated_until')::date = CURRENT_DATE + 56 AS at_horizon
FROM medreserve_health() AS h;

-- the tables are consistent after all this
SELECT * FROM medreserve_verify();
-- a free generated slot slipped into time off behind the API's back is found
INSERT INTO medreserve.time_off (doctor_id, from_time, until_time)
SELECT doctor_id, start_time, start_time + interval '1 minute' FROM medreserve.slots
 WHERE doctor_id = 3 AND generated ORDER BY start_time DESC LIMIT 1;
SELECT problem, booking_id, slot_id = (SELECT max(id) FROM medreserve.slots WHERE doctor_id = 3 AND generated
                                        AND start_time = (SELECT max(start_time) FROM medreserve.slots WHERE doctor_id = 3))
       AS the_slot
FROM medreserve_verify();
