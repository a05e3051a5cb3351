-- 06_week.sql: a clinic's week (issue 12): the tables, constraints and
-- functions as the 1.2 upgrade script promises them, who may call what, and
-- the rules at their edges (half-open blocks, the skipped hour, idempotent
-- generation, time off that cancels nothing).
BEGIN;
SELECT plan(50);

-- Tables and constraints ----------------------------------------------------
SELECT has_table('medreserve', 'working_hours', 'table working_hours exists');
SELECT has_table('medreserve', 'time_off', 'table time_off exists');
SELECT has_table('medreserve', 'generation_state', 'table generation_state exists');
SELECT columns_are('medreserve', 'working_hours',
                   ARRAY['id', 'doctor_id', 'weekday', 'starts', 'ends', 'slot_minutes',
                         'capacity', 'valid_from', 'valid_until', 'created_at'],
                   'working_hours has the expected columns');
SELECT columns_are('medreserve', 'time_off',
                   ARRAY['id', 'doctor_id', 'from_time', 'until_time', 'reason', 'created_at'],
                   'time_off has the expected columns');
SELECT col_not_null('medreserve', 'doctors', 'time_zone', 'doctors.time_zone is NOT NULL');
SELECT col_is_null('medreserve', 'time_off', 'doctor_id', 'time_off.doctor_id may be NULL (the whole clinic)');
SELECT col_default_is('medreserve', 'slots', 'generated', 'false', 'slots.generated defaults to false');
SELECT is((SELECT contype::text FROM pg_constraint WHERE conname = 'working_hours_no_overlap'),
          'x', 'working_hours_no_overlap is an exclusion constraint');
SELECT fk_ok('medreserve', 'working_hours', 'doctor_id', 'medreserve', 'doctors', 'id');
SELECT fk_ok('medreserve', 'time_off', 'doctor_id', 'medreserve', 'doctors', 'id');
SELECT has_index('medreserve', 'slots', 'slots_start_time_id_idx', ARRAY['start_time', 'id'],
                 'slots are indexed in (start_time, id) order for search');

-- Functions -------------------------------------------------------------------
SELECT has_function('medreserve_add_doctor', ARRAY['text', 'text', 'text'], 'medreserve_add_doctor(text,text,text) exists');
SELECT hasnt_function('medreserve_add_doctor', ARRAY['text', 'text'], 'the two-argument medreserve_add_doctor is gone');
SELECT has_function('medreserve_set_working_hours',
                    ARRAY['integer', 'integer', 'time without time zone', 'time without time zone', 'integer', 'date', 'date', 'integer'],
                    'medreserve_set_working_hours exists, capacity last');
SELECT col_default_is('medreserve', 'working_hours', 'capacity', '1', 'working hours make slots of one seat by default');
SELECT has_function('medreserve_find_slots',
                    ARRAY['text', 'timestamp with time zone', 'timestamp with time zone', 'integer[]', 'integer'],
                    'medreserve_find_slots exists');
SELECT volatility_is('medreserve_find_slots',
                     ARRAY['text', 'timestamp with time zone', 'timestamp with time zone', 'integer[]', 'integer'],
                     's', 'medreserve_find_slots is STABLE (PostgREST: GET)');
SELECT volatility_is('medreserve_generate_slots', ARRAY['date'], 'v', 'medreserve_generate_slots is VOLATILE');
SELECT isnt_strict('medreserve_add_time_off',
                   ARRAY['integer', 'timestamp with time zone', 'timestamp with time zone', 'text'],
                   'medreserve_add_time_off is not STRICT (a NULL doctor is the whole clinic)');
SELECT is((SELECT proargnames FROM pg_proc
            WHERE oid = 'medreserve_find_slots(text,timestamptz,timestamptz,integer[],integer)'::regprocedure),
          '{specialization,from_time,until_time,doctor_ids,max_results,slot_id,doctor_id,doctor_name,doctor_specialization,doctor_time_zone,start_time,end_time}'::text[],
          'medreserve_find_slots names its arguments and columns');

-- Who may call what ---------------------------------------------------------
SELECT ok(has_function_privilege('medreserve_patient',
          'medreserve_find_slots(text,timestamptz,timestamptz,integer[],integer)', 'EXECUTE'),
          'patients may search');
SELECT ok(NOT has_function_privilege('medreserve_patient',
          'medreserve_set_working_hours(integer,integer,time,time,integer,date,date,integer)', 'EXECUTE'),
          'patients may not set working hours');
SELECT ok(NOT has_function_privilege('medreserve_patient',
          'medreserve_add_time_off(integer,timestamptz,timestamptz,text)', 'EXECUTE'),
          'patients may not add time off');
SELECT ok(has_function_privilege('medreserve_admin', 'medreserve_generate_slots(date)', 'EXECUTE'),
          'admins may generate');
SELECT ok(NOT has_table_privilege('medreserve_patient', 'medreserve.working_hours', 'SELECT'),
          'patients do not read working hours');

-- The rules at their edges ---------------------------------------------------
SET LOCAL timezone = 'UTC';
SELECT id AS doc FROM medreserve_add_doctor('Dr Tap', 'tapology', 'America/New_York') \gset
SELECT lives_ok(format($$SELECT medreserve_set_working_hours(%s, 7, '01:00', '04:00', 30, '2099-03-08', '2099-03-08')$$, :doc),
                'a block over the spring-forward night');
SELECT lives_ok(format($$SELECT medreserve_set_working_hours(%s, 1, '09:00', '17:00', 20, '2099-03-09', '2099-03-09')$$, :doc),
                'a Monday block 09:00-17:00 in 20-minute slots');
SELECT is(medreserve_generate_slots('2099-03-10'), 28::bigint,
          'generation makes 4 slots in the 2 real hours of 01:00-04:00 and 24 in 09:00-17:00');
SELECT is(medreserve_generate_slots('2099-03-10'), 0::bigint, 'a second run makes nothing');
SELECT is((SELECT max(medreserve.slot_end(start_time, duration_minutes)) FROM medreserve.slots
            WHERE doctor_id = :doc AND start_time >= '2099-03-09'),
          '2099-03-09 17:00 America/New_York'::timestamptz, 'the last slot of the day ends at 17:00: the block is half-open');
SELECT is((SELECT min(start_time) FROM medreserve.slots WHERE doctor_id = :doc),
          '2099-03-08 01:00 America/New_York'::timestamptz, 'the night block starts at 01:00 EST');
SELECT is((SELECT count(*)::int FROM medreserve.slots WHERE doctor_id = :doc
            AND start_time >= '2099-03-08 02:00 EST' AND start_time < '2099-03-08 03:00 EDT'), 0,
          'no slot in the skipped hour (the block is real time: 01:00 EST to 04:00 EDT)');
SELECT throws_ok(format($$SELECT medreserve_set_working_hours(%s, 1, '16:00', '18:00', 20, '2099-03-01', '2099-03-31')$$, :doc),
                 '23P01', NULL, 'a block overlapping another of the same weekday and days is refused');
SELECT is((SELECT count(*)::int FROM medreserve_add_time_off(:doc, '2099-03-09 00:00 America/New_York',
                                                            '2099-03-10 00:00 America/New_York')), 0,
          'time off over a day without bookings returns none');
SELECT is((SELECT count(*)::int FROM medreserve.slots WHERE doctor_id = :doc AND start_time >= '2099-03-09'), 0,
          'and removes that day''s free slots');

-- Working hours take a capacity (issue 11: group sessions) --------------------
SELECT id AS grp FROM medreserve_add_doctor('Dr Group', 'group therapy', 'UTC') \gset
SELECT throws_ok(format($$SELECT medreserve_set_working_hours(%s, 2, '10:00', '12:00', 60, '2099-03-10', '2099-03-10', 0)$$, :grp),
                 '22023', 'capacity must be between 1 and 1000', 'capacity 0 is refused');
SELECT throws_ok(format($$SELECT medreserve_set_working_hours(%s, 2, '10:00', '12:00', 60, '2099-03-10', '2099-03-10', 1001)$$, :grp),
                 '22023', 'capacity must be between 1 and 1000', 'capacity 1001 is refused');
SELECT throws_ok(format($$SELECT medreserve_set_working_hours(%s, 2, '10:00', '12:00', 60, '2099-03-10', '2099-03-10', NULL)$$, :grp),
                 '22004', NULL, 'a NULL capacity is refused');
SELECT is((SELECT count(*)::int FROM medreserve.working_hours WHERE doctor_id = :grp), 0,
          'the refusals left no block');
SELECT is((SELECT capacity FROM medreserve_set_working_hours(doctor_id => :grp, weekday => 2, starts => '10:00',
                                                             ends => '12:00', slot_minutes => 60,
                                                             valid_from => '2099-03-10', valid_until => '2099-03-10',
                                                             capacity => 3)), 3,
          'a block of 3 seats (named arguments)');
SELECT is((SELECT capacity FROM medreserve_set_working_hours(doctor_id => :grp, weekday => 3, starts => '10:00',
                                                             ends => '11:00', valid_from => '2099-03-11',
                                                             valid_until => '2099-03-11')), 1,
          'the old call form without capacity still works and makes blocks of one seat');
SELECT results_eq(format('SELECT weekday, capacity FROM medreserve_list_working_hours(%s)', :grp),
                  $$VALUES (2, 3), (3, 1)$$, 'the listing shows each block''s capacity');
SELECT is(medreserve_generate_slots('2099-03-11'), 6::bigint, 'generation makes 2 slots on Tuesday and 4 on Wednesday');
SELECT results_eq(format($$SELECT extract(isodow FROM start_time)::int, capacity, count(*)::int
                             FROM medreserve.slots WHERE doctor_id = %s GROUP BY 1, 2 ORDER BY 1$$, :grp),
                  $$VALUES (2, 3, 2), (3, 1, 4)$$, 'each generated slot has its block''s capacity');
SELECT id AS grp_slot FROM medreserve.slots WHERE doctor_id = :grp ORDER BY start_time LIMIT 1 \gset
SELECT lives_ok(format($$SELECT medreserve_book(%1$s, 'Ann Lee'), medreserve_book(%1$s, 'Bob Marsh'),
                                medreserve_hold(%1$s, 'Cy Park')$$, :grp_slot),
                'three patients take the three seats of a generated slot');
SELECT throws_ok(format($$SELECT medreserve_book(%s, 'Dee Holt')$$, :grp_slot),
                 '23505', NULL, 'a fourth is refused: the slot is full');
SELECT is((SELECT count(*)::int FROM medreserve.booking_slots WHERE slot_id = :grp_slot), 3,
          'exactly three seats are taken');
SELECT is((SELECT count(*)::int FROM medreserve_available_slots(:grp, '2099-03-10', '2099-03-11')), 1,
          'the full slot is no longer available, the other one is');
SELECT is_empty('SELECT * FROM medreserve_verify()', 'the invariants hold');

SELECT * FROM finish();
ROLLBACK;
