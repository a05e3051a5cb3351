/* medreserve--1.0.sql: install script of version 1.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION medreserve" to load this file. \quit

/*
 * The tables always live in schema medreserve, so the C code can name them
 * without looking anything up.  The API functions go to the schema chosen at
 * CREATE EXTENSION (@extschema@), e.g. the schema PostgREST exposes.
 */
CREATE SCHEMA medreserve;
COMMENT ON SCHEMA medreserve IS 'medreserve: doctors, slots and bookings';

CREATE TABLE medreserve.doctors (
    id              serial PRIMARY KEY,
    name            text NOT NULL
                    CHECK (pg_catalog.btrim(name) <> '' AND pg_catalog.char_length(name) <= 200),
    specialization  text CHECK (pg_catalog.char_length(specialization) <= 200),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medreserve.doctors IS 'Doctors who offer appointment slots';

CREATE TABLE medreserve.slots (
    id                serial PRIMARY KEY,
    doctor_id         integer NOT NULL REFERENCES medreserve.doctors (id) ON DELETE CASCADE,
    start_time        timestamptz NOT NULL,
    duration_minutes  integer NOT NULL DEFAULT 15
                      CHECK (duration_minutes > 0 AND duration_minutes <= 1440),
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medreserve.slots IS 'Appointment slots of a doctor; a slot is free when no live booking covers it';
CREATE INDEX slots_doctor_id_start_time_idx ON medreserve.slots (doctor_id, start_time);

CREATE TABLE medreserve.bookings (
    id             serial PRIMARY KEY,
    slot_id        integer NOT NULL REFERENCES medreserve.slots (id) ON DELETE CASCADE,
    patient_name   text NOT NULL
                   CHECK (pg_catalog.btrim(patient_name) <> '' AND pg_catalog.char_length(patient_name) <= 200),
    patient_email  text CHECK (pg_catalog.char_length(patient_email) <= 254),
    status         text NOT NULL
                   CHECK (status IN ('PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED')),
    expires_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT bookings_pending_has_expiry CHECK (status <> 'PENDING' OR expires_at IS NOT NULL)
);
COMMENT ON TABLE medreserve.bookings IS 'Bookings: PENDING holds expire at expires_at; CONFIRMED bookings keep their slots until CANCELLED';
COMMENT ON COLUMN medreserve.bookings.slot_id IS 'The earliest slot the booking covers; booking_slots lists them all';
COMMENT ON COLUMN medreserve.bookings.expires_at IS 'When a PENDING hold lapses; NULL for bookings that were never holds or were confirmed';
CREATE INDEX bookings_pending_expires_at_idx ON medreserve.bookings (status, expires_at)
    WHERE status = 'PENDING';
CREATE INDEX bookings_slot_id_idx ON medreserve.bookings (slot_id);

CREATE TABLE medreserve.booking_slots (
    id          serial PRIMARY KEY,
    booking_id  integer NOT NULL REFERENCES medreserve.bookings (id) ON DELETE CASCADE,
    slot_id     integer NOT NULL REFERENCES medreserve.slots (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT booking_slots_slot_id_key UNIQUE (slot_id)
);
COMMENT ON TABLE medreserve.booking_slots IS 'Slots covered by live (PENDING or CONFIRMED) bookings; UNIQUE (slot_id) is the last line against double booking';
CREATE INDEX booking_slots_booking_id_idx ON medreserve.booking_slots (booking_id);

-- The tables hold the clinic's data, not the extension's: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('medreserve.doctors', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.doctors_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.slots', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.slots_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.bookings', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.bookings_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.booking_slots', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.booking_slots_id_seq', '');

/* Booking API (C, src/booking.c) */

CREATE FUNCTION @extschema@.medreserve_book(slot_id integer, patient_name text,
                                            patient_email text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_book_slot'
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer, text, text) IS
'Book one slot at once: returns the CONFIRMED booking, or fails with 23505 if the slot is taken';

CREATE FUNCTION @extschema@.medreserve_book(slot_ids integer[], patient_name text,
                                            patient_email text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_book_slots'
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer[], text, text) IS
'Book several slots of one doctor as one CONFIRMED booking, all or nothing';

CREATE FUNCTION @extschema@.medreserve_hold(slot_id integer, patient_name text,
                                            patient_email text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slot'
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer, text, text) IS
'Hold one slot: a PENDING booking that lapses after medreserve.hold_duration unless confirmed';

CREATE FUNCTION @extschema@.medreserve_hold(slot_ids integer[], patient_name text,
                                            patient_email text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slots'
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer[], text, text) IS
'Hold several slots of one doctor as one PENDING booking, all or nothing';

CREATE FUNCTION @extschema@.medreserve_confirm(booking_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_confirm'
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_confirm(integer) IS
'Turn a live hold into a CONFIRMED booking; PT409 if it is not pending or has expired';

CREATE FUNCTION @extschema@.medreserve_cancel(booking_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_cancel'
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_cancel(integer) IS
'Cancel a PENDING or CONFIRMED booking and free its slots';

CREATE FUNCTION @extschema@.medreserve_expire()
RETURNS integer
AS 'MODULE_PATHNAME', 'medreserve_expire'
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_expire() IS
'Mark every lapsed hold FAILED and release its slots, in batches that skip rows locked by others; returns how many holds lapsed';
