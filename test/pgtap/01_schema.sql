-- 01_schema.sql: the tables of medreserve, their columns, keys, indexes and
-- checks, as sql/medreserve--1.0.sql promises them.  Run by pg_prove in a
-- database where pgtap and medreserve were created.
BEGIN;
SELECT plan(80);

-- Schema and tables -------------------------------------------------------
SELECT has_schema('medreserve', 'schema medreserve exists');
SELECT has_table('medreserve', 'doctors', 'table doctors exists');
SELECT has_table('medreserve', 'slots', 'table slots exists');
SELECT has_table('medreserve', 'bookings', 'table bookings exists');
SELECT has_table('medreserve', 'booking_slots', 'table booking_slots exists');

-- Columns and types -------------------------------------------------------
SELECT columns_are('medreserve', 'doctors',
                   ARRAY['id', 'name', 'specialization', 'created_at', 'time_zone'],
                   'doctors has the expected columns (time_zone: 1.2)');
SELECT col_type_is('medreserve', 'doctors', 'id', 'integer', 'doctors.id is integer');
SELECT col_type_is('medreserve', 'doctors', 'name', 'text', 'doctors.name is text');
SELECT col_type_is('medreserve', 'doctors', 'specialization', 'text', 'doctors.specialization is text');
SELECT col_type_is('medreserve', 'doctors', 'created_at', 'timestamp with time zone', 'doctors.created_at is timestamptz');
SELECT col_not_null('medreserve', 'doctors', 'name', 'doctors.name is NOT NULL');
SELECT col_is_null('medreserve', 'doctors', 'specialization', 'doctors.specialization may be NULL');
SELECT col_not_null('medreserve', 'doctors', 'created_at', 'doctors.created_at is NOT NULL');

SELECT columns_are('medreserve', 'slots',
                   ARRAY['id', 'doctor_id', 'start_time', 'duration_minutes', 'created_at',
                         'generated',  -- 1.2, issue 12
                         'capacity', 'seats_confirmed', 'seats_held', 'hold_lapses_at'],  -- 1.2, issue 11
                   'slots has the expected columns');
SELECT col_type_is('medreserve', 'slots', 'id', 'integer', 'slots.id is integer');
SELECT col_type_is('medreserve', 'slots', 'doctor_id', 'integer', 'slots.doctor_id is integer');
SELECT col_type_is('medreserve', 'slots', 'start_time', 'timestamp with time zone', 'slots.start_time is timestamptz');
SELECT col_type_is('medreserve', 'slots', 'duration_minutes', 'integer', 'slots.duration_minutes is integer');
SELECT col_type_is('medreserve', 'slots', 'created_at', 'timestamp with time zone', 'slots.created_at is timestamptz');
SELECT col_not_null('medreserve', 'slots', 'doctor_id', 'slots.doctor_id is NOT NULL');
SELECT col_not_null('medreserve', 'slots', 'start_time', 'slots.start_time is NOT NULL');
SELECT col_not_null('medreserve', 'slots', 'duration_minutes', 'slots.duration_minutes is NOT NULL');
SELECT col_default_is('medreserve', 'slots', 'duration_minutes', 15, 'slots.duration_minutes defaults to 15');

SELECT columns_are('medreserve', 'bookings',
                   ARRAY['id', 'slot_id', 'patient_name', 'patient_email', 'status',
                         'expires_at', 'created_at', 'updated_at',
                         -- 1.2, issue 13
                         'doctor_id', 'starts_at', 'ends_at', 'patient_phone', 'reason',
                         'cancel_reason', 'cancelled_by', 'cancelled_at', 'late_cancellation',
                         'rescheduled_from', 'rescheduled_to', 'arrived_at', 'fulfilled_at',
                         'no_show_at'],
                   'bookings has the expected columns');
SELECT col_type_is('medreserve', 'bookings', 'id', 'integer', 'bookings.id is integer');
SELECT col_type_is('medreserve', 'bookings', 'slot_id', 'integer', 'bookings.slot_id is integer');
SELECT col_type_is('medreserve', 'bookings', 'patient_name', 'text', 'bookings.patient_name is text');
SELECT col_type_is('medreserve', 'bookings', 'patient_email', 'text', 'bookings.patient_email is text');
SELECT col_type_is('medreserve', 'bookings', 'status', 'text', 'bookings.status is text');
SELECT col_type_is('medreserve', 'bookings', 'expires_at', 'timestamp with time zone', 'bookings.expires_at is timestamptz');
SELECT col_type_is('medreserve', 'bookings', 'created_at', 'timestamp with time zone', 'bookings.created_at is timestamptz');
SELECT col_type_is('medreserve', 'bookings', 'updated_at', 'timestamp with time zone', 'bookings.updated_at is timestamptz');
SELECT col_not_null('medreserve', 'bookings', 'slot_id', 'bookings.slot_id is NOT NULL');
SELECT col_not_null('medreserve', 'bookings', 'patient_name', 'bookings.patient_name is NOT NULL');
SELECT col_not_null('medreserve', 'bookings', 'status', 'bookings.status is NOT NULL');
SELECT col_is_null('medreserve', 'bookings', 'patient_email', 'bookings.patient_email may be NULL');
SELECT col_is_null('medreserve', 'bookings', 'expires_at', 'bookings.expires_at may be NULL (not a hold)');

SELECT columns_are('medreserve', 'booking_slots',
                   ARRAY['id', 'booking_id', 'slot_id', 'created_at', 'slot_capacity', 'seat'],
                   'booking_slots has the expected columns');
SELECT col_type_is('medreserve', 'booking_slots', 'id', 'integer', 'booking_slots.id is integer');
SELECT col_type_is('medreserve', 'booking_slots', 'booking_id', 'integer', 'booking_slots.booking_id is integer');
SELECT col_type_is('medreserve', 'booking_slots', 'slot_id', 'integer', 'booking_slots.slot_id is integer');
SELECT col_not_null('medreserve', 'booking_slots', 'booking_id', 'booking_slots.booking_id is NOT NULL');
SELECT col_not_null('medreserve', 'booking_slots', 'slot_id', 'booking_slots.slot_id is NOT NULL');

-- Primary keys ------------------------------------------------------------
SELECT col_is_pk('medreserve', 'doctors', 'id', 'doctors.id is the primary key');
SELECT col_is_pk('medreserve', 'slots', 'id', 'slots.id is the primary key');
SELECT col_is_pk('medreserve', 'bookings', 'id', 'bookings.id is the primary key');
SELECT col_is_pk('medreserve', 'booking_slots', 'id', 'booking_slots.id is the primary key');

-- UNIQUE (slot_id, seat), seat <= capacity: the last line against overbooking (1.2)
SELECT col_is_unique('medreserve', 'booking_slots', ARRAY['slot_id', 'seat'],
                     'booking_slots (slot_id, seat) is UNIQUE');
SELECT is((SELECT contype::text FROM pg_catalog.pg_constraint
            WHERE conrelid = 'medreserve.booking_slots'::regclass
              AND conname = 'booking_slots_slot_id_seat_key'),
          'u', 'the unique constraint is named booking_slots_slot_id_seat_key');
SELECT index_is_unique('medreserve', 'booking_slots', 'booking_slots_slot_id_seat_key',
                       'its index is unique');
SELECT col_has_check('medreserve', 'booking_slots', ARRAY['seat', 'slot_capacity'],
                     'booking_slots.seat is checked against slot_capacity');
SELECT col_is_unique('medreserve', 'slots', ARRAY['id', 'capacity'],
                     'slots (id, capacity) is UNIQUE, for the seat foreign key');

-- Indexes -----------------------------------------------------------------
SELECT has_index('medreserve', 'slots', 'slots_doctor_id_start_time_idx',
                 ARRAY['doctor_id', 'start_time'], 'index on slots (doctor_id, start_time)');
SELECT has_index('medreserve', 'bookings', 'bookings_slot_id_idx',
                 ARRAY['slot_id'], 'index on bookings (slot_id)');
SELECT has_index('medreserve', 'bookings', 'bookings_pending_expires_at_idx',
                 ARRAY['status', 'expires_at'], 'index on bookings (status, expires_at)');
SELECT is((SELECT pg_catalog.pg_get_expr(indpred, indrelid) FROM pg_catalog.pg_index
            WHERE indexrelid = 'medreserve.bookings_pending_expires_at_idx'::regclass),
          '(status = ''PENDING''::text)',
          'bookings_pending_expires_at_idx is partial: WHERE status = ''PENDING''');
SELECT has_index('medreserve', 'booking_slots', 'booking_slots_booking_id_idx',
                 ARRAY['booking_id'], 'index on booking_slots (booking_id)');

-- Foreign keys, each ON DELETE CASCADE -----------------------------------------
SELECT fk_ok('medreserve', 'slots', 'doctor_id', 'medreserve', 'doctors', 'id',
             'slots.doctor_id references doctors.id');
SELECT fk_ok('medreserve', 'bookings', 'slot_id', 'medreserve', 'slots', 'id',
             'bookings.slot_id references slots.id');
SELECT fk_ok('medreserve', 'booking_slots', 'booking_id', 'medreserve', 'bookings', 'id',
             'booking_slots.booking_id references bookings.id');
SELECT fk_ok('medreserve', 'booking_slots', ARRAY['slot_id', 'slot_capacity'],
             'medreserve', 'slots', ARRAY['id', 'capacity'],
             'booking_slots (slot_id, slot_capacity) references slots (id, capacity)');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_constraint
            WHERE contype = 'f' AND confdeltype = 'c'
              AND conrelid IN ('medreserve.slots'::regclass, 'medreserve.bookings'::regclass,
                               'medreserve.booking_slots'::regclass)),
          4, 'all four foreign keys are ON DELETE CASCADE');

-- Check constraints -------------------------------------------------------
SELECT col_has_check('medreserve', 'bookings', 'status', 'bookings.status has a check');
SELECT col_has_check('medreserve', 'bookings', 'patient_name', 'bookings.patient_name has a check');
SELECT col_has_check('medreserve', 'doctors', 'name', 'doctors.name has a check');
SELECT col_has_check('medreserve', 'slots', 'duration_minutes', 'slots.duration_minutes has a check');
SELECT col_has_check('medreserve', 'slots', 'capacity', 'slots.capacity has a check');

-- A slot to hang test bookings on (direct inserts: the API is tested elsewhere).
INSERT INTO medreserve.doctors (name) VALUES ('Dr Schema') RETURNING id AS doc \gset
INSERT INTO medreserve.slots (doctor_id, start_time)
     VALUES (:doc, now() + interval '1 day') RETURNING id AS slot \gset

PREPARE bad_status(text, timestamptz) AS
    INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at,
                                     doctor_id, starts_at, ends_at, cancelled_at)
    VALUES (:slot, 'Pat', $1, $2, :doc, now() + interval '1 day',
            now() + interval '1 day 15 minutes', CASE WHEN $1 = 'CANCELLED' THEN now() END);

SELECT throws_ok('EXECUTE bad_status(''BOGUS'', NULL)', '23514',
                 'new row for relation "bookings" violates check constraint "bookings_status_check"',
                 'status BOGUS is refused');
SELECT throws_ok('EXECUTE bad_status(''pending'', now())', '23514',
                 'new row for relation "bookings" violates check constraint "bookings_status_check"',
                 'status is case sensitive: pending is refused');
SELECT throws_ok('EXECUTE bad_status(''EXPIRED'', NULL)', '23514',
                 'new row for relation "bookings" violates check constraint "bookings_status_check"',
                 'status EXPIRED is refused');
SELECT throws_ok('EXECUTE bad_status(''PENDING'', NULL)', '23514',
                 'new row for relation "bookings" violates check constraint "bookings_pending_has_expiry"',
                 'a PENDING booking must have expires_at');
SELECT lives_ok('EXECUTE bad_status(''PENDING'', now() + interval ''1 minute'')',
                'status PENDING with an expiry is accepted');
SELECT lives_ok('EXECUTE bad_status(''CONFIRMED'', NULL)', 'status CONFIRMED is accepted');
SELECT lives_ok('EXECUTE bad_status(''FAILED'', NULL)', 'status FAILED is accepted');
SELECT lives_ok('EXECUTE bad_status(''CANCELLED'', NULL)', 'status CANCELLED is accepted');
SELECT throws_ok(format('INSERT INTO medreserve.bookings (slot_id, patient_name, status, doctor_id, starts_at, ends_at) VALUES (%s, %L, %L, %s, now(), now() + interval ''15 minutes'')',
                        :slot, '   ', 'CONFIRMED', :doc),
                 '23514', NULL, 'a blank patient_name is refused by the table too');
SELECT throws_ok(format('INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes) VALUES (%s, now(), 0)', :doc),
                 '23514', NULL, 'a slot of 0 minutes is refused');

-- The unique constraint itself refuses a second row for a slot.
INSERT INTO medreserve.booking_slots (booking_id, slot_id)
SELECT id, :slot FROM medreserve.bookings WHERE status = 'CONFIRMED' AND slot_id = :slot;
SELECT throws_ok(format('INSERT INTO medreserve.booking_slots (booking_id, slot_id)'
                        ' SELECT id, %s FROM medreserve.bookings WHERE status = %L AND slot_id = %s',
                        :slot, 'PENDING', :slot),
                 '23505',
                 'duplicate key value violates unique constraint "booking_slots_slot_id_seat_key"',
                 'a second booking_slots row for the one seat of a slot is refused');

-- The extension keeps the clinic's data in pg_dump ---------------------------
SELECT is((SELECT array_agg(c ORDER BY c)
             FROM pg_catalog.pg_extension e, unnest(e.extconfig::regclass[]::text[]) AS c
            WHERE e.extname = 'medreserve'),
          ARRAY['medreserve.booking_slots', 'medreserve.booking_slots_id_seq',
                'medreserve.bookings', 'medreserve.bookings_id_seq',
                'medreserve.doctors', 'medreserve.doctors_id_seq',
                -- 1.2 (issue 15): the outbox, its consumers, the reminders sent
                'medreserve.event_consumers', 'medreserve.event_deliveries',
                'medreserve.events', 'medreserve.events_id_seq',
                'medreserve.generation_state',
                'medreserve.reminders_sent',
                'medreserve.slots', 'medreserve.slots_id_seq',
                'medreserve.time_off', 'medreserve.time_off_id_seq',
                'medreserve.working_hours', 'medreserve.working_hours_id_seq'],
          'the tables and their sequences are dumped by pg_dump');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_class
            WHERE relnamespace = 'medreserve'::regnamespace AND relkind = 'r'
              AND obj_description(oid, 'pg_class') IS NULL),
          0, 'every table of schema medreserve has a comment');

SELECT * FROM finish();
ROLLBACK;
