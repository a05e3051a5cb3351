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

/*
 * Adding whole minutes to a timestamptz does not depend on the time zone
 * (only days and months do), so this is honestly IMMUTABLE and may be used
 * in the exclusion constraint below.
 */
CREATE FUNCTION medreserve.slot_end(start_time timestamptz, duration_minutes integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN start_time + pg_catalog.make_interval(mins => duration_minutes);
COMMENT ON FUNCTION medreserve.slot_end(timestamptz, integer) IS
'End of a slot: start plus whole minutes (time-zone independent, hence IMMUTABLE)';

CREATE TABLE medreserve.slots (
    id                serial PRIMARY KEY,
    doctor_id         integer NOT NULL REFERENCES medreserve.doctors (id) ON DELETE CASCADE,
    start_time        timestamptz NOT NULL,
    duration_minutes  integer NOT NULL DEFAULT 15
                      CHECK (duration_minutes > 0 AND duration_minutes <= 1440),
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- a doctor's slots never overlap
    CONSTRAINT slots_no_overlap EXCLUDE USING gist (
        doctor_id WITH =,
        pg_catalog.tstzrange(start_time, medreserve.slot_end(start_time, duration_minutes)) WITH &&)
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
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer, text, text) IS
'Book one slot at once: returns the CONFIRMED booking, or fails with 23505 if the slot is taken';

CREATE FUNCTION @extschema@.medreserve_book(slot_ids integer[], patient_name text,
                                            patient_email text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_book_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer[], text, text) IS
'Book several slots of one doctor as one CONFIRMED booking, all or nothing';

CREATE FUNCTION @extschema@.medreserve_hold(slot_id integer, patient_name text,
                                            patient_email text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slot'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer, text, text) IS
'Hold one slot: a PENDING booking that lapses after medreserve.hold_duration unless confirmed';

CREATE FUNCTION @extschema@.medreserve_hold(slot_ids integer[], patient_name text,
                                            patient_email text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer[], text, text) IS
'Hold several slots of one doctor as one PENDING booking, all or nothing';

CREATE FUNCTION @extschema@.medreserve_confirm(booking_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_confirm'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_confirm(integer) IS
'Turn a live hold into a CONFIRMED booking; PT409 if it is not pending or has expired';

CREATE FUNCTION @extschema@.medreserve_cancel(booking_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_cancel'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_cancel(integer) IS
'Cancel a PENDING or CONFIRMED booking and free its slots';

CREATE FUNCTION @extschema@.medreserve_expire()
RETURNS integer
AS 'MODULE_PATHNAME', 'medreserve_expire'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_expire() IS
'Mark every lapsed hold FAILED and release its slots, in batches that skip rows locked by others; returns how many holds lapsed';

/* Metrics (C, src/stats.c), health and scheduling */

CREATE FUNCTION @extschema@.medreserve_counters(
    OUT bookings_confirmed bigint,
    OUT holds_taken bigint,
    OUT holds_confirmed bigint,
    OUT holds_expired bigint,
    OUT holds_released_lazily bigint,
    OUT cancellations bigint,
    OUT refused_slot_taken bigint,
    OUT refused_not_found bigint,
    OUT refused_invalid_input bigint,
    OUT refused_state_conflict bigint,
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'medreserve_counters'
LANGUAGE c STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_counters() IS
'Booking counters from shared memory since the last reset; no row when medreserve is not in shared_preload_libraries';

CREATE FUNCTION @extschema@.medreserve_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'medreserve_stats_reset'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_stats_reset() IS
'Zero the booking counters (55000 when medreserve is not preloaded)';

CREATE FUNCTION @extschema@.medreserve_stats(
    OUT doctors bigint,
    OUT future_slots bigint,
    OUT free_future_slots bigint,
    OUT pending_bookings bigint,
    OUT confirmed_bookings bigint,
    OUT failed_bookings bigint,
    OUT cancelled_bookings bigint,
    OUT overdue_holds bigint,
    OUT oldest_overdue_hold_age interval,
    OUT metrics_available boolean,
    OUT bookings_confirmed bigint,
    OUT holds_taken bigint,
    OUT holds_confirmed bigint,
    OUT holds_expired bigint,
    OUT holds_released_lazily bigint,
    OUT cancellations bigint,
    OUT refused_slot_taken bigint,
    OUT refused_not_found bigint,
    OUT refused_invalid_input bigint,
    OUT refused_state_conflict bigint,
    OUT stats_reset timestamptz)
RETURNS record
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT count(*) FROM medreserve.doctors),
           (SELECT count(*) FROM medreserve.slots WHERE start_time > now()),
           (SELECT count(*) FROM medreserve.slots s
             WHERE s.start_time > now()
               AND NOT EXISTS (SELECT 1
                                 FROM medreserve.booking_slots bs
                                 JOIN medreserve.bookings b ON b.id = bs.booking_id
                                WHERE bs.slot_id = s.id
                                  AND (b.status = 'CONFIRMED' OR b.expires_at > now()))),
           b.pending, b.confirmed, b.failed, b.cancelled,
           o.overdue, now() - o.oldest_expiry,
           c.stats_reset IS NOT NULL,
           c.bookings_confirmed, c.holds_taken, c.holds_confirmed, c.holds_expired,
           c.holds_released_lazily, c.cancellations, c.refused_slot_taken,
           c.refused_not_found, c.refused_invalid_input, c.refused_state_conflict,
           c.stats_reset
      FROM (SELECT count(*) FILTER (WHERE status = 'PENDING') AS pending,
                   count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
                   count(*) FILTER (WHERE status = 'FAILED') AS failed,
                   count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
              FROM medreserve.bookings) AS b,
           (SELECT count(*) AS overdue, min(expires_at) AS oldest_expiry
              FROM medreserve.bookings
             WHERE status = 'PENDING' AND expires_at <= now()) AS o
      LEFT JOIN @extschema@.medreserve_counters() AS c ON true
$$;
COMMENT ON FUNCTION @extschema@.medreserve_stats() IS
'One row for the admin dashboard: live figures from the tables and the booking counters (NULL when not preloaded)';

CREATE FUNCTION medreserve.require_pg_cron()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_version text;
BEGIN
    SELECT extversion INTO cron_version FROM pg_extension WHERE extname = 'pg_cron';
    IF cron_version IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Add pg_cron to shared_preload_libraries, set cron.database_name = %L, '
                                'restart the server, then run CREATE EXTENSION pg_cron.',
                                current_database());
    END IF;
    RETURN cron_version;
END
$$;
COMMENT ON FUNCTION medreserve.require_pg_cron() IS
'Internal: the installed pg_cron version, or error 55000 saying how to install it';

CREATE FUNCTION @extschema@.medreserve_schedule_expiry(schedule text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_version int[];
    sweep_command text;
BEGIN
    cron_version := (regexp_match(medreserve.require_pg_cron(), '^(\d+)\.(\d+)'))::int[];
    IF schedule IS NULL THEN
        -- pg_cron learned second-granular schedules in 1.5
        schedule := CASE WHEN cron_version >= ARRAY[1, 5] THEN '30 seconds' ELSE '* * * * *' END;
    END IF;
    SELECT format('SELECT %s.medreserve_expire()', e.extnamespace::regnamespace)
      INTO sweep_command
      FROM pg_extension e WHERE e.extname = 'medreserve';
    RETURN cron.schedule('medreserve-expire', schedule, sweep_command);
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_schedule_expiry(text) IS
'Create or replace the pg_cron job "medreserve-expire" running medreserve_expire() in this database; default every 30 seconds (pg_cron >= 1.5) or every minute; returns the job id';

CREATE FUNCTION @extschema@.medreserve_unschedule_expiry()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM medreserve.require_pg_cron();
    IF NOT EXISTS (SELECT 1 FROM cron.job
                    WHERE jobname = 'medreserve-expire' AND username = current_user) THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule('medreserve-expire');
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_unschedule_expiry() IS
'Remove the pg_cron job "medreserve-expire"; false when there was none';

CREATE FUNCTION @extschema@.medreserve_health()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    threshold interval := coalesce(current_setting('medreserve.health_overdue_threshold', true), '5min')::interval;
    overdue_count bigint;
    oldest_expiry timestamptz;
    job jsonb;
    problems text[] := '{}';
    health_status text := 'ok';
    metrics_available boolean;
BEGIN
    SELECT count(*), min(b.expires_at) INTO overdue_count, oldest_expiry
      FROM medreserve.bookings b WHERE b.status = 'PENDING' AND b.expires_at <= now();

    IF to_regclass('cron.job') IS NOT NULL THEN
        SELECT jsonb_build_object(
                   'scheduled', true, 'job_id', j.jobid, 'schedule', j.schedule, 'active', j.active,
                   'last_run_at', r.start_time, 'last_run_status', r.status)
          INTO job
          FROM cron.job j
          LEFT JOIN LATERAL (SELECT d.start_time, d.status FROM cron.job_run_details d
                              WHERE d.jobid = j.jobid ORDER BY d.runid DESC LIMIT 1) r ON true
         WHERE j.jobname = 'medreserve-expire'
         ORDER BY j.jobid LIMIT 1;
    END IF;
    job := coalesce(job, jsonb_build_object('scheduled', false,
                                            'pg_cron_installed', to_regclass('cron.job') IS NOT NULL));

    IF job->>'last_run_status' = 'failed' THEN
        health_status := 'error';
        problems := problems || 'the last run of the expiry job failed'::text;
    END IF;
    IF (job->>'active')::boolean IS FALSE THEN
        problems := problems || 'the expiry job is inactive'::text;
    END IF;
    IF now() - oldest_expiry > threshold THEN
        problems := problems || format('a hold has been overdue for more than %s seconds',
                                       extract(epoch FROM threshold)::bigint);
    END IF;
    IF health_status = 'ok' AND cardinality(problems) > 0 THEN
        health_status := 'degraded';
    END IF;
    metrics_available := EXISTS (SELECT 1 FROM @extschema@.medreserve_counters());

    RETURN jsonb_build_object(
        'status', health_status,
        'problems', to_jsonb(problems),
        'version', (SELECT extversion FROM pg_extension WHERE extname = 'medreserve'),
        'checked_at', now(),
        'expiry_job', job,
        'overdue_holds', overdue_count,
        'oldest_overdue_hold_seconds', extract(epoch FROM now() - oldest_expiry)::bigint,
        'overdue_threshold_seconds', extract(epoch FROM threshold)::bigint,
        'metrics_available', metrics_available);
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_health() IS
'Health check as jsonb: status ok/degraded/error, problems, version, expiry job and its last run, overdue holds, metrics availability';

/* Removing what is booked: refused, never cascaded away silently */

CREATE FUNCTION medreserve.refuse_removing_booked()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    live_slot integer;
BEGIN
    SELECT bs.slot_id INTO live_slot
      FROM medreserve.booking_slots bs
      JOIN medreserve.bookings b ON b.id = bs.booking_id
      JOIN medreserve.slots s ON s.id = bs.slot_id
     WHERE (b.status = 'CONFIRMED' OR b.expires_at > now())
       AND CASE TG_TABLE_NAME WHEN 'slots' THEN s.id = OLD.id ELSE s.doctor_id = OLD.id END
     LIMIT 1;
    IF live_slot IS NOT NULL THEN
        RAISE EXCEPTION '% % has live bookings', rtrim(TG_TABLE_NAME, 's'), OLD.id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Slot %s is booked or held.', live_slot),
                  HINT = 'Cancel its bookings first.';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION medreserve.refuse_removing_booked() IS
'Trigger: refuse (23503) to delete a doctor or slot while a live booking covers it';

CREATE TRIGGER doctors_refuse_removing_booked BEFORE DELETE ON medreserve.doctors
    FOR EACH ROW EXECUTE FUNCTION medreserve.refuse_removing_booked();
CREATE TRIGGER slots_refuse_removing_booked BEFORE DELETE ON medreserve.slots
    FOR EACH ROW EXECUTE FUNCTION medreserve.refuse_removing_booked();

CREATE FUNCTION medreserve.require_writable(action text)
RETURNS void
AS 'MODULE_PATHNAME', 'medreserve_require_writable_sql'
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION medreserve.require_writable(text) IS
'Internal: refuse (25006) on a standby or in a read-only transaction, naming the action';

/* Schedules and availability */

CREATE FUNCTION @extschema@.medreserve_add_doctor(name text, specialization text DEFAULT NULL)
RETURNS medreserve.doctors
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    doctor medreserve.doctors;
BEGIN
    PERFORM medreserve.require_writable('add doctors');
    IF name IS NULL THEN
        RAISE EXCEPTION 'name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    name := btrim(name);
    specialization := nullif(btrim(specialization), '');
    IF name = '' THEN
        RAISE EXCEPTION 'name must not be blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF name ~ '[[:cntrl:]]' OR specialization ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'name and specialization must not contain control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(name) > 200 OR char_length(specialization) > 200 THEN
        RAISE EXCEPTION 'name and specialization must not be longer than 200 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO medreserve.doctors (name, specialization)
    VALUES (name, specialization) RETURNING * INTO doctor;
    RETURN doctor;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_add_doctor(text, text) IS
'Add a doctor; returns the new row';

CREATE FUNCTION @extschema@.medreserve_add_slots(doctor_id integer, first_start timestamptz,
                                                 last_start timestamptz,
                                                 duration_minutes integer DEFAULT 15)
RETURNS SETOF medreserve.slots
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    slot_count bigint;
    overlap_detail text;
BEGIN
    PERFORM medreserve.require_writable('add slots');
    IF doctor_id IS NULL OR first_start IS NULL OR last_start IS NULL OR duration_minutes IS NULL THEN
        RAISE EXCEPTION 'doctor_id, first_start, last_start and duration_minutes must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF duration_minutes NOT BETWEEN 1 AND 1440 THEN
        RAISE EXCEPTION 'duration_minutes must be between 1 and 1440'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(first_start) OR NOT isfinite(last_start) THEN
        RAISE EXCEPTION 'first_start and last_start must be finite'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF last_start > now() + interval '100 years' THEN
        RAISE EXCEPTION 'slots cannot start more than 100 years ahead'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('last_start is %s.', last_start);
    END IF;
    IF last_start < first_start THEN
        RAISE EXCEPTION 'last_start must not be before first_start'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF first_start <= now() THEN
        RAISE EXCEPTION 'slots must start in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('first_start is %s.', first_start);
    END IF;
    slot_count := floor(extract(epoch FROM last_start - first_start) / (60 * duration_minutes)) + 1;
    IF slot_count > 10000 THEN
        RAISE EXCEPTION 'too many slots in one call'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The range holds %s slots; at most 10000 are allowed.', slot_count);
    END IF;
    -- the doctor must stay while we add slots to it
    PERFORM 1 FROM medreserve.doctors d WHERE d.id = medreserve_add_slots.doctor_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;

    BEGIN
        RETURN QUERY
        INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes)
        SELECT medreserve_add_slots.doctor_id,
               first_start + i * make_interval(mins => medreserve_add_slots.duration_minutes),
               medreserve_add_slots.duration_minutes
          FROM generate_series(0, slot_count - 1) AS i
        RETURNING *;
    EXCEPTION WHEN exclusion_violation THEN
        GET STACKED DIAGNOSTICS overlap_detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'new slots overlap existing slots of doctor %', doctor_id
            USING ERRCODE = 'exclusion_violation', DETAIL = overlap_detail,
                  HINT = 'No slot was added; choose a range that does not overlap.';
    END;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_add_slots(integer, timestamptz, timestamptz, integer) IS
'Add back-to-back slots from first_start up to and including last_start, all or nothing; 23P01 if any would overlap an existing slot of the doctor';

CREATE FUNCTION @extschema@.medreserve_available_slots(
    doctor_id integer,
    from_time timestamptz DEFAULT now(),
    until_time timestamptz DEFAULT now() + interval '7 days')
RETURNS SETOF medreserve.slots
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF doctor_id IS NULL OR from_time IS NULL OR until_time IS NULL THEN
        RAISE EXCEPTION 'doctor_id, from_time and until_time must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM medreserve.doctors d WHERE d.id = medreserve_available_slots.doctor_id) THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;
    -- a slot is free unless a live booking covers it; a lapsed hold does not count
    RETURN QUERY
    SELECT s.*
      FROM medreserve.slots s
     WHERE s.doctor_id = medreserve_available_slots.doctor_id
       AND s.start_time >= greatest(from_time, now())
       AND s.start_time < until_time
       AND s.start_time > now()
       AND NOT EXISTS (SELECT 1
                         FROM medreserve.booking_slots bs
                         JOIN medreserve.bookings b ON b.id = bs.booking_id
                        WHERE bs.slot_id = s.id
                          AND (b.status = 'CONFIRMED' OR b.expires_at > now()))
     ORDER BY s.start_time;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_available_slots(integer, timestamptz, timestamptz) IS
'Free future slots of a doctor between from_time and until_time (default: the next 7 days), by start time; a slot held by a lapsed hold counts as free';

CREATE FUNCTION @extschema@.medreserve_list_doctors(specialization text DEFAULT NULL)
RETURNS SETOF medreserve.doctors
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.* FROM medreserve.doctors d
     WHERE medreserve_list_doctors.specialization IS NULL
        OR lower(d.specialization) = lower(btrim(medreserve_list_doctors.specialization))
     ORDER BY d.name, d.id
$$;
COMMENT ON FUNCTION @extschema@.medreserve_list_doctors(text) IS
'Doctors, optionally of one specialization (case-insensitive), by name';

/* Roles and privileges */

-- Group roles, like PostgreSQL's predefined roles: granted to login roles
-- (or PostgREST's JWT roles), never logged in as.  They outlive the extension.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'medreserve_patient') THEN
        CREATE ROLE medreserve_patient NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'medreserve_admin') THEN
        CREATE ROLE medreserve_admin NOLOGIN;
    END IF;
END
$$;

-- PUBLIC gets nothing; each function is revoked by name (a schema-wide
-- REVOKE would also hit other extensions' functions).
REVOKE ALL ON FUNCTION
    @extschema@.medreserve_book(integer, text, text),
    @extschema@.medreserve_book(integer[], text, text),
    @extschema@.medreserve_hold(integer, text, text),
    @extschema@.medreserve_hold(integer[], text, text),
    @extschema@.medreserve_confirm(integer),
    @extschema@.medreserve_cancel(integer),
    @extschema@.medreserve_expire(),
    @extschema@.medreserve_counters(),
    @extschema@.medreserve_stats_reset(),
    @extschema@.medreserve_stats(),
    @extschema@.medreserve_schedule_expiry(text),
    @extschema@.medreserve_unschedule_expiry(),
    @extschema@.medreserve_health(),
    @extschema@.medreserve_add_doctor(text, text),
    @extschema@.medreserve_add_slots(integer, timestamptz, timestamptz, integer),
    @extschema@.medreserve_available_slots(integer, timestamptz, timestamptz),
    @extschema@.medreserve_list_doctors(text),
    medreserve.require_pg_cron(),
    medreserve.require_writable(text),
    medreserve.refuse_removing_booked(),
    medreserve.slot_end(timestamptz, integer)
FROM PUBLIC;
REVOKE ALL ON SCHEMA medreserve FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA medreserve FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA medreserve FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_book(integer, text, text),
    @extschema@.medreserve_book(integer[], text, text),
    @extschema@.medreserve_hold(integer, text, text),
    @extschema@.medreserve_hold(integer[], text, text),
    @extschema@.medreserve_confirm(integer),
    @extschema@.medreserve_cancel(integer),
    @extschema@.medreserve_available_slots(integer, timestamptz, timestamptz),
    @extschema@.medreserve_list_doctors(text)
TO medreserve_patient, medreserve_admin;
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_expire(),
    @extschema@.medreserve_counters(),
    @extschema@.medreserve_stats_reset(),
    @extschema@.medreserve_stats(),
    @extschema@.medreserve_schedule_expiry(text),
    @extschema@.medreserve_unschedule_expiry(),
    @extschema@.medreserve_health(),
    @extschema@.medreserve_add_doctor(text, text),
    @extschema@.medreserve_add_slots(integer, timestamptz, timestamptz, integer)
TO medreserve_admin;

-- Direct reads for those who want them; bookings are filtered per patient.
GRANT USAGE ON SCHEMA medreserve TO medreserve_patient, medreserve_admin;
GRANT SELECT ON medreserve.doctors, medreserve.slots, medreserve.bookings
    TO medreserve_patient;
GRANT SELECT ON ALL TABLES IN SCHEMA medreserve TO medreserve_admin;

ALTER TABLE medreserve.bookings ENABLE ROW LEVEL SECURITY;
CREATE POLICY bookings_admin_reads_all ON medreserve.bookings
    FOR SELECT TO medreserve_admin USING (true);
CREATE POLICY bookings_patient_reads_own ON medreserve.bookings
    FOR SELECT TO medreserve_patient
    USING (lower(patient_email) = lower(
        NULLIF(current_setting('request.jwt.claims', true), '')::json ->> 'email'));
