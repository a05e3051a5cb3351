/* medreserve--1.1--1.2.sql: upgrade from 1.1 to 1.2 (unreleased) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION medreserve UPDATE TO '1.2'" to load this file. \quit

/*
 * Every schema change of 1.2 lives in this one script, in sections, one per
 * concern.  A fresh install runs 1.0, 1.0--1.1 and this script in turn, so
 * the upgrade path and the fresh install cannot drift apart.
 */

/* ======================================================================
 * 1. Trust boundary: one definition of each rule (identity, emails,
 *    names, the live booking), the gateway role, the sweep per batch.
 * ====================================================================== */

/*
 * The live booking, defined once: it holds its slots.  A CONFIRMED booking
 * always does, and so do the statuses it moves on to (ARRIVED, FULFILLED,
 * NOSHOW: the visit took, or was owed, that time; issue 13); a PENDING hold
 * does until it lapses, and a lapsed hold holds nothing even before the
 * sweep marks it FAILED.  The C statements, the
 * listings, availability, the RLS policy, medreserve_verify() and the test
 * suites all call this function (it is inlined, so indexes still apply).
 */
CREATE FUNCTION medreserve.booking_is_live(status text, expires_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN status IN ('CONFIRMED', 'ARRIVED', 'FULFILLED', 'NOSHOW')
       OR (status = 'PENDING' AND expires_at > pg_catalog.now());
COMMENT ON FUNCTION medreserve.booking_is_live(text, timestamptz) IS
'The one definition of a live booking: CONFIRMED (or ARRIVED, FULFILLED, NOSHOW after it), or PENDING whose hold has not lapsed';

/*
 * Its complement for holds, next to it: a hold that lapsed but was not yet
 * settled (marked FAILED) by the sweep or a booker.  Written out rather than
 * as NOT booking_is_live(), so that once inlined it is an index range on
 * (status, expires_at).
 */
CREATE FUNCTION medreserve.hold_has_lapsed(status text, expires_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN status = 'PENDING' AND expires_at <= pg_catalog.now();
COMMENT ON FUNCTION medreserve.hold_has_lapsed(text, timestamptz) IS
'A PENDING hold whose time is up and that nobody has settled yet (the complement of booking_is_live among holds)';

/*
 * What must always be true of the tables, as rows of problems (none when all
 * is well): the race and fault tests run it after every run, and a DBA after
 * a restore or an upgrade, as amcheck is run for indexes.
 */
CREATE FUNCTION @extschema@.medreserve_verify(
    OUT problem text, OUT booking_id integer, OUT slot_id integer)
RETURNS SETOF record
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    -- a live booking covers at least its first slot
    SELECT 'live booking without its slots', b.id, b.slot_id
      FROM medreserve.bookings b
     WHERE medreserve.booking_is_live(b.status, b.expires_at)
       AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                        WHERE bs.booking_id = b.id AND bs.slot_id = b.slot_id)
    UNION ALL
    -- only live bookings, and holds that lapsed but are not yet settled, cover slots
    SELECT 'slot covered by a booking that is over', b.id, bs.slot_id
      FROM medreserve.booking_slots bs
      JOIN medreserve.bookings b ON b.id = bs.booking_id
     WHERE NOT medreserve.booking_is_live(b.status, b.expires_at)
       AND b.status <> 'PENDING'
    UNION ALL
    -- a live booking's doctor and span are those of its slots (issue 13)
    SELECT 'booking doctor or times differ from its slots', bs.booking_id, min(bs.slot_id)
      FROM medreserve.booking_slots bs
      JOIN medreserve.slots s ON s.id = bs.slot_id
      JOIN medreserve.bookings b ON b.id = bs.booking_id
     GROUP BY bs.booking_id, b.doctor_id, b.starts_at, b.ends_at, b.slot_id
    HAVING min(s.doctor_id) <> b.doctor_id OR max(s.doctor_id) <> b.doctor_id
        OR min(s.start_time) <> b.starts_at
        OR max(medreserve.slot_end(s.start_time, s.duration_minutes)) <> b.ends_at
    UNION ALL
    -- a rescheduled pair names each other
    SELECT 'reschedule links do not match', b.id, b.slot_id
      FROM medreserve.bookings b
      LEFT JOIN medreserve.bookings n ON n.id = b.rescheduled_to
     WHERE b.rescheduled_to IS NOT NULL
       AND (n.id IS NULL OR n.rescheduled_from IS DISTINCT FROM b.id
            OR b.status <> 'CANCELLED')
    UNION ALL
    -- a booking's slots belong to one doctor
    SELECT 'booking covers slots of several doctors', bs.booking_id, min(bs.slot_id)
      FROM medreserve.booking_slots bs
      JOIN medreserve.slots s ON s.id = bs.slot_id
     GROUP BY bs.booking_id
    HAVING count(DISTINCT s.doctor_id) > 1
    ORDER BY 2, 3
$$;
COMMENT ON FUNCTION @extschema@.medreserve_verify() IS
'Check the invariants of the booking tables; returns one row per problem, none when consistent';

/* --- The trusted gateway and the caller's identity (src/identity.c) --- */

-- Granted by the DBA to PostgREST's authenticator: a JWT email claim counts
-- only in a session whose session user is a member and that switched role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'medreserve_gateway') THEN
        CREATE ROLE medreserve_gateway NOLOGIN;
    END IF;
END
$$;
COMMENT ON ROLE medreserve_gateway IS
'medreserve: grant to the role a trusted gateway (PostgREST''s authenticator) logs in as; JWT email claims count only in its sessions';

CREATE FUNCTION medreserve.current_patient_email()
RETURNS text
AS 'MODULE_PATHNAME', 'medreserve_current_patient_email_sql'
LANGUAGE c STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION medreserve.current_patient_email() IS
'The signed-in patient''s email: the JWT email claim of a request that came through a member of medreserve_gateway with a switched role; NULL anywhere else';

CREATE FUNCTION medreserve.caller_is_admin()
RETURNS boolean
AS 'MODULE_PATHNAME', 'medreserve_caller_is_admin_sql'
LANGUAGE c STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION medreserve.caller_is_admin() IS
'True when the outer role (SET ROLE, PostgREST''s role) is a superuser or has the privileges of medreserve_admin';

CREATE FUNCTION medreserve.email_key(email text)
RETURNS text
AS 'MODULE_PATHNAME', 'medreserve_email_key_sql'
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION medreserve.email_key(text) IS
'The form in which emails are compared: ASCII letters folded to lower case, nothing else changed (never lower(), which folds look-alikes such as KELVIN SIGN)';

/* --- Names and emails: one rule each (src/validate.c) --- */

CREATE FUNCTION medreserve.clean_name(value text, field text, blank_ok boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'medreserve_clean_name_sql'
LANGUAGE c IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION medreserve.clean_name(text, text, boolean) IS
'The name rule: trims blanks (Unicode ones too); 22023 when blank, longer than 200 characters or with control characters, naming field; 22004 on NULL; with blank_ok, blank or NULL gives NULL';

CREATE FUNCTION medreserve.name_is_clean(value text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'medreserve_name_is_clean'
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION medreserve.name_is_clean(text) IS
'The name rule as a boolean, for CHECK constraints: a non-blank name of at most 200 characters, no control characters, nothing to trim';

CREATE FUNCTION medreserve.email_is_valid(value text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'medreserve_email_is_valid'
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION medreserve.email_is_valid(text) IS
'The email rule as a boolean, for CHECK constraints: local@domain, at most 254 bytes, no blanks or control characters';

/*
 * The tables' checks call the same C rules as the API.  Rows written by
 * 1.0/1.1 under the older, looser checks may fail them (a doctor named only
 * by no-break spaces, say): the constraints are then left NOT VALID, new rows
 * are checked, and medreserve_verify() lists the old ones.
 */
ALTER TABLE medreserve.doctors
    DROP CONSTRAINT doctors_name_check,
    DROP CONSTRAINT doctors_specialization_check,
    ADD CONSTRAINT doctors_name_check CHECK (medreserve.name_is_clean(name)) NOT VALID,
    ADD CONSTRAINT doctors_specialization_check
        CHECK (specialization IS NULL OR medreserve.name_is_clean(specialization)) NOT VALID;
ALTER TABLE medreserve.bookings
    DROP CONSTRAINT bookings_patient_name_check,
    DROP CONSTRAINT bookings_patient_email_check,
    ADD CONSTRAINT bookings_patient_name_check CHECK (medreserve.name_is_clean(patient_name)) NOT VALID,
    ADD CONSTRAINT bookings_patient_email_check
        CHECK (patient_email IS NULL OR medreserve.email_is_valid(patient_email)) NOT VALID;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM medreserve.doctors
                    WHERE NOT medreserve.name_is_clean(name)
                       OR NOT medreserve.name_is_clean(specialization)) THEN
        ALTER TABLE medreserve.doctors VALIDATE CONSTRAINT doctors_name_check;
        ALTER TABLE medreserve.doctors VALIDATE CONSTRAINT doctors_specialization_check;
    ELSE
        RAISE WARNING 'some doctors have names that medreserve 1.2 would refuse'
            USING HINT = 'SELECT * FROM medreserve_verify() lists them; correct them, then VALIDATE the constraints of medreserve.doctors.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM medreserve.bookings
                    WHERE NOT medreserve.name_is_clean(patient_name)
                       OR NOT medreserve.email_is_valid(patient_email)) THEN
        ALTER TABLE medreserve.bookings VALIDATE CONSTRAINT bookings_patient_name_check;
        ALTER TABLE medreserve.bookings VALIDATE CONSTRAINT bookings_patient_email_check;
    ELSE
        RAISE WARNING 'some bookings have patient names or emails that medreserve 1.2 would refuse'
            USING HINT = 'SELECT * FROM medreserve_verify() lists them; correct them, then VALIDATE the constraints of medreserve.bookings.';
    END IF;
END
$$;

-- Own-booking lookups compare email keys, never lower().
DROP INDEX IF EXISTS medreserve.bookings_lower_patient_email_idx;
CREATE INDEX bookings_patient_email_key_idx
    ON medreserve.bookings (medreserve.email_key(patient_email));

DROP POLICY bookings_patient_reads_own ON medreserve.bookings;
CREATE POLICY bookings_patient_reads_own ON medreserve.bookings
    FOR SELECT TO medreserve_patient
    USING (medreserve.email_key(patient_email)
           = medreserve.email_key((SELECT medreserve.current_patient_email())));

CREATE OR REPLACE FUNCTION @extschema@.medreserve_my_bookings()
RETURNS SETOF medreserve.bookings
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    signed_in_email text := medreserve.current_patient_email();
BEGIN
    IF signed_in_email IS NULL THEN
        IF medreserve.caller_is_admin() THEN
            RAISE EXCEPTION 'medreserve_my_bookings() lists a signed-in patient''s own bookings'
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'An admin has no bookings of their own.',
                      HINT = 'Admins read all bookings in table medreserve.bookings.';
        END IF;
        RAISE EXCEPTION 'only a signed-in patient can list their bookings'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'An email claim counts only in a request that came through a member of medreserve_gateway.';
    END IF;
    RETURN QUERY
    SELECT b.* FROM medreserve.bookings b
     WHERE medreserve.email_key(b.patient_email) = medreserve.email_key(signed_in_email)
     ORDER BY b.created_at DESC, b.id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_my_bookings() IS
'The signed-in patient''s bookings (identity: medreserve.current_patient_email()), newest first; 42501 without an identity';

CREATE OR REPLACE FUNCTION @extschema@.medreserve_add_doctor(name text, specialization text DEFAULT NULL)
RETURNS medreserve.doctors
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    doctor medreserve.doctors;
BEGIN
    PERFORM medreserve.require_writable('medreserve_add_doctor()');
    INSERT INTO medreserve.doctors (name, specialization)
    VALUES (medreserve.clean_name(name, 'name'),
            medreserve.clean_name(specialization, 'specialization', true))
    RETURNING * INTO doctor;
    RETURN doctor;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_add_doctor(text, text) IS
'Add a doctor; names follow medreserve.clean_name(); returns the new row';

/* --- Booked slots stay where they are --- */

CREATE OR REPLACE FUNCTION medreserve.refuse_removing_booked()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    live_slot integer;
    live_booking integer;
BEGIN
    SELECT bs.slot_id, b.id INTO live_slot, live_booking
      FROM medreserve.booking_slots bs
      JOIN medreserve.bookings b ON b.id = bs.booking_id
      JOIN medreserve.slots s ON s.id = bs.slot_id
     WHERE medreserve.booking_is_live(b.status, b.expires_at)
       AND CASE TG_TABLE_NAME WHEN 'slots' THEN s.id = OLD.id ELSE s.doctor_id = OLD.id END
     ORDER BY bs.slot_id
     LIMIT 1;
    IF live_slot IS NULL THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'slot % is covered by live booking %', OLD.id, live_booking
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'A booked slot keeps its doctor, start time and duration.',
                  HINT = 'Cancel or move the booking first.';
    ELSIF TG_TABLE_NAME = 'slots' THEN
        RAISE EXCEPTION 'slot % has live bookings', OLD.id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Booking %s covers it.', live_booking),
                  HINT = 'Cancel its bookings first.';
    ELSE
        RAISE EXCEPTION 'doctor % has live bookings', OLD.id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Slot %s is covered by booking %s.', live_slot, live_booking),
                  HINT = 'Cancel its bookings first.';
    END IF;
END
$$;
COMMENT ON FUNCTION medreserve.refuse_removing_booked() IS
'Trigger: refuse (23503) to delete a doctor or slot, or to move a slot, while a live booking covers it';

CREATE TRIGGER slots_refuse_moving_booked
    BEFORE UPDATE OF doctor_id, start_time, duration_minutes ON medreserve.slots
    FOR EACH ROW
    WHEN (OLD.doctor_id IS DISTINCT FROM NEW.doctor_id
          OR OLD.start_time IS DISTINCT FROM NEW.start_time
          OR OLD.duration_minutes IS DISTINCT FROM NEW.duration_minutes)
    EXECUTE FUNCTION medreserve.refuse_removing_booked();

/* --- Counters: the 1.2 entry point; stats and health change within a statement --- */

CREATE OR REPLACE FUNCTION @extschema@.medreserve_counters(
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
AS 'MODULE_PATHNAME', 'medreserve_counters_1_2'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.medreserve_stats() VOLATILE;

/* --- The sweep: one batch at a time, committed per batch by the procedure --- */

CREATE TABLE medreserve.sweep_status (
    singleton           boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_started_at     timestamptz,
    last_finished_at    timestamptz,
    last_holds_expired  bigint,
    last_slots_released bigint,
    runs                bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE medreserve.sweep_status IS
'One row: when the sweep of this database last ran and what it settled (medreserve_health() reports it)';
INSERT INTO medreserve.sweep_status DEFAULT VALUES;

CREATE FUNCTION medreserve.expire_batch(resume_from timestamptz,
    OUT holds_expired integer, OUT slots_released integer, OUT last_expiry timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'medreserve_expire_batch_sql'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION medreserve.expire_batch(timestamptz) IS
'Internal: settle one batch (medreserve.expire_batch_size) of lapsed holds expiring at or after resume_from; last_expiry is where the next batch resumes (NULL: nothing found)';

CREATE FUNCTION medreserve.note_sweep(holds_expired bigint, slots_released bigint,
                                      started_at timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'medreserve_note_sweep_sql'
LANGUAGE c VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION medreserve.note_sweep(bigint, bigint, timestamptz) IS
'Internal: record a finished sweep in medreserve.sweep_status and log its counts';

/*
 * A procedure may COMMIT only when it is neither SECURITY DEFINER nor has SET
 * clauses, so this one runs as its caller and does all its work through the
 * SECURITY DEFINER functions above (the caller needs only EXECUTE).  Inside
 * a transaction block it cannot commit (2D000): use medreserve_expire() there.
 */
CREATE PROCEDURE @extschema@.medreserve_run_expiry()
LANGUAGE plpgsql
AS $$
DECLARE
    batch record;
    resume_from timestamptz := '-infinity';
    holds bigint := 0;
    slots bigint := 0;
    started_at timestamptz := pg_catalog.clock_timestamp();
    batch_size integer := pg_catalog.current_setting('medreserve.expire_batch_size')::integer;
BEGIN
    LOOP
        SELECT * INTO batch FROM medreserve.expire_batch(resume_from);
        holds := holds + batch.holds_expired;
        slots := slots + batch.slots_released;
        COMMIT;
        EXIT WHEN batch.last_expiry IS NULL OR batch.holds_expired < batch_size;
        resume_from := batch.last_expiry;
    END LOOP;
    PERFORM medreserve.note_sweep(holds, slots, started_at);
END
$$;
COMMENT ON PROCEDURE @extschema@.medreserve_run_expiry() IS
'The sweep for pg_cron: settle lapsed holds in batches of medreserve.expire_batch_size, committing after each, so a booker waits at most for one batch';

COMMENT ON FUNCTION @extschema@.medreserve_expire() IS
'Mark every lapsed hold FAILED and release its slots, all in the caller''s transaction (rows stay locked until it ends; pg_cron uses medreserve_run_expiry()); returns how many holds lapsed';

/* --- pg_cron jobs belong to their database --- */

CREATE FUNCTION medreserve.job_name(kind text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN 'medreserve-' || kind || ':' || pg_catalog.current_database();
COMMENT ON FUNCTION medreserve.job_name(text) IS
'The pg_cron job name of a medreserve job of this database, e.g. medreserve-expire:clinic';

CREATE OR REPLACE FUNCTION medreserve.require_pg_cron()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_version text;
    cron_db text := current_setting('cron.database_name', true);
BEGIN
    SELECT extversion INTO cron_version FROM pg_extension WHERE extname = 'pg_cron';
    IF cron_version IS NULL AND cron_db IS NOT NULL AND cron_db <> current_database() THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('pg_cron runs its jobs from database %s (cron.database_name).', cron_db),
                  HINT = format('In database %s, run: SELECT cron.schedule_in_database(%L, ''* * * * *'', %L, %L);',
                                cron_db, medreserve.job_name('expire'),
                                format('CALL %s.medreserve_run_expiry()',
                                       (SELECT quote_ident(n.nspname) FROM pg_extension e
                                          JOIN pg_namespace n ON n.oid = e.extnamespace
                                         WHERE e.extname = 'medreserve')),
                                current_database());
    ELSIF cron_version IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Add pg_cron to shared_preload_libraries, set cron.database_name = %L, '
                                'restart the server, then run CREATE EXTENSION pg_cron.',
                                current_database());
    END IF;
    RETURN cron_version;
END
$$;

CREATE FUNCTION medreserve.schedule_job(kind text, schedule text, command text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM medreserve.require_pg_cron();
    -- by name and database: another database's job of the same kind is never touched
    RETURN cron.schedule_in_database(medreserve.job_name(kind), schedule, command,
                                     current_database());
END
$$;
COMMENT ON FUNCTION medreserve.schedule_job(text, text, text) IS
'Internal: create or replace this database''s pg_cron job of a kind (expire, generate, ...); returns the job id';

CREATE FUNCTION medreserve.unschedule_job(kind text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM medreserve.require_pg_cron();
    SELECT jobid INTO job FROM cron.job
     WHERE jobname = medreserve.job_name(kind) AND database = current_database()
       AND username = current_user;
    IF job IS NULL THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule(job);
END
$$;
COMMENT ON FUNCTION medreserve.unschedule_job(text) IS
'Internal: remove this database''s pg_cron job of a kind; false when there was none';

CREATE FUNCTION medreserve.job_health(kind text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job jsonb;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        -- pg_cron lives in another database (or nowhere): we cannot see the job
        RETURN jsonb_build_object('pg_cron_installed', false, 'scheduled', NULL);
    END IF;
    SELECT jsonb_build_object(
               'pg_cron_installed', true, 'scheduled', true, 'job_id', j.jobid,
               'name', j.jobname, 'schedule', j.schedule, 'active', j.active,
               'last_run_at', r.start_time, 'last_run_status', r.status)
      INTO job
      FROM cron.job j
      LEFT JOIN LATERAL (SELECT d.start_time, d.status FROM cron.job_run_details d
                          WHERE d.jobid = j.jobid ORDER BY d.runid DESC LIMIT 1) r ON true
     WHERE j.jobname = medreserve.job_name(kind) AND j.database = current_database()
     ORDER BY j.jobid LIMIT 1;
    RETURN coalesce(job, jsonb_build_object('pg_cron_installed', true, 'scheduled', false));
END
$$;
COMMENT ON FUNCTION medreserve.job_health(text) IS
'Internal: this database''s pg_cron job of a kind as jsonb (scheduled, schedule, active, last run); scheduled is null when pg_cron is not visible here';

CREATE OR REPLACE FUNCTION @extschema@.medreserve_schedule_expiry(schedule text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_version int[];
BEGIN
    cron_version := (regexp_match(medreserve.require_pg_cron(), '^(\d+)\.(\d+)'))::int[];
    IF schedule IS NULL THEN
        -- pg_cron learned second-granular schedules in 1.5
        schedule := CASE WHEN cron_version >= ARRAY[1, 5] THEN '30 seconds' ELSE '* * * * *' END;
    END IF;
    RETURN medreserve.schedule_job('expire', schedule,
        format('CALL %s.medreserve_run_expiry()',
               (SELECT quote_ident(n.nspname) FROM pg_extension e
                  JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'medreserve')));
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_schedule_expiry(text) IS
'Create or replace this database''s pg_cron job medreserve-expire:<database>, which CALLs medreserve_run_expiry(); default every 30 seconds (pg_cron >= 1.5) or every minute; returns the job id';

CREATE OR REPLACE FUNCTION @extschema@.medreserve_unschedule_expiry()
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN medreserve.unschedule_job('expire');
COMMENT ON FUNCTION @extschema@.medreserve_unschedule_expiry() IS
'Remove this database''s pg_cron job medreserve-expire:<database>; false when there was none';

-- A 1.0/1.1 job ("medreserve-expire", calling medreserve_expire()) for this
-- database becomes this database's job, calling the procedure.
DO $$
DECLARE
    old_job record;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RETURN;
    END IF;
    FOR old_job IN SELECT jobid, schedule FROM cron.job
                    WHERE jobname = 'medreserve-expire' AND database = current_database()
                      AND command LIKE '%medreserve_expire()%'
    LOOP
        PERFORM cron.unschedule(old_job.jobid);
        PERFORM cron.schedule_in_database(medreserve.job_name('expire'), old_job.schedule,
            format('CALL %s.medreserve_run_expiry()', '@extschema@'), current_database());
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.medreserve_health()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    threshold interval := coalesce(current_setting('medreserve.health_overdue_threshold', true), '5min')::interval;
    overdue_count bigint;
    oldest_expiry timestamptz;
    job jsonb := medreserve.job_health('expire');
    sweep medreserve.sweep_status;
    problems text[] := '{}';
    health_status text := 'ok';
    metrics_available boolean;
BEGIN
    SELECT count(*), min(b.expires_at) INTO overdue_count, oldest_expiry
      FROM medreserve.bookings b WHERE medreserve.hold_has_lapsed(b.status, b.expires_at);
    SELECT * INTO sweep FROM medreserve.sweep_status;

    IF job->>'last_run_status' = 'failed' THEN
        health_status := 'error';
        problems := problems || 'the last run of the expiry job failed'::text;
    END IF;
    IF (job->>'scheduled')::boolean IS FALSE THEN
        problems := problems || 'no pg_cron job sweeps this database'::text;
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
        'database', current_database(),
        'checked_at', now(),
        'expiry_job', job,
        'last_sweep', jsonb_build_object(
            'started_at', sweep.last_started_at, 'finished_at', sweep.last_finished_at,
            'holds_expired', sweep.last_holds_expired,
            'slots_released', sweep.last_slots_released, 'runs', sweep.runs),
        'overdue_holds', overdue_count,
        'oldest_overdue_hold_seconds', extract(epoch FROM now() - oldest_expiry)::bigint,
        'overdue_threshold_seconds', extract(epoch FROM threshold)::bigint,
        'metrics_available', metrics_available);
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_health() IS
'Health check as jsonb: status ok/degraded/error, problems, version, this database''s expiry job and its last run, the last sweep, overdue holds, metrics availability';

-- end of section 1


/* ======================================================================
 * 2. Slot state on the slot, and group sessions (capacity).
 * ====================================================================== */

-- end of section 2


/* ======================================================================
 * 3. A clinic's week: time zones, working hours, time off, generation,
 *    search across doctors.
 * ====================================================================== */

-- end of section 3


/* ======================================================================
 * 4. The appointment's life: when and with whom, listings, reschedule,
 *    arrival, fulfilment, no-show.
 * ====================================================================== */

/*
 * Every booking says when and with whom: the doctor and the span of its
 * slots (booked slots cannot move, so these never go stale).  Booking fills
 * them from the slot lock; rows made before 1.2 are filled here from their
 * slots (for a settled booking whose booking_slots rows are gone, from its
 * first slot, which bookings.slot_id always names).
 */
ALTER TABLE medreserve.bookings
    ADD COLUMN doctor_id integer,
    ADD COLUMN starts_at timestamptz,
    ADD COLUMN ends_at timestamptz,
    ADD COLUMN patient_phone text
        CONSTRAINT bookings_patient_phone_check CHECK (patient_phone ~ '^\+?[0-9]{4,15}$'),
    ADD COLUMN reason text
        CONSTRAINT bookings_reason_check CHECK (pg_catalog.char_length(reason) <= 500),
    ADD COLUMN cancel_reason text
        CONSTRAINT bookings_cancel_reason_check CHECK (pg_catalog.char_length(cancel_reason) <= 500),
    ADD COLUMN cancelled_by text
        CONSTRAINT bookings_cancelled_by_check CHECK (cancelled_by IN ('patient', 'clinic')),
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN late_cancellation boolean,
    ADD COLUMN rescheduled_from integer
        REFERENCES medreserve.bookings (id) ON DELETE SET NULL,
    ADD COLUMN rescheduled_to integer
        REFERENCES medreserve.bookings (id) ON DELETE SET NULL,
    ADD COLUMN arrived_at timestamptz,
    ADD COLUMN fulfilled_at timestamptz,
    ADD COLUMN no_show_at timestamptz;

UPDATE medreserve.bookings b
   SET doctor_id = span.doctor_id, starts_at = span.starts_at, ends_at = span.ends_at,
       cancelled_at = CASE WHEN b.status = 'CANCELLED' THEN b.updated_at END
  FROM (SELECT b2.id, pg_catalog.min(s.doctor_id) AS doctor_id,
               pg_catalog.min(s.start_time) AS starts_at,
               pg_catalog.max(medreserve.slot_end(s.start_time, s.duration_minutes)) AS ends_at
          FROM medreserve.bookings b2
          JOIN medreserve.slots s
            ON s.id = b2.slot_id
            OR s.id IN (SELECT bs.slot_id FROM medreserve.booking_slots bs
                         WHERE bs.booking_id = b2.id)
         GROUP BY b2.id) AS span
 WHERE span.id = b.id;

ALTER TABLE medreserve.bookings
    ALTER COLUMN doctor_id SET NOT NULL,
    ALTER COLUMN starts_at SET NOT NULL,
    ALTER COLUMN ends_at SET NOT NULL,
    ADD CONSTRAINT bookings_span_check CHECK (ends_at > starts_at),
    -- the statuses of FHIR's Appointment that a clinic records after booking
    DROP CONSTRAINT bookings_status_check,
    ADD CONSTRAINT bookings_status_check
        CHECK (status IN ('PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED',
                          'ARRIVED', 'FULFILLED', 'NOSHOW')),
    -- each status reached after booking records when
    ADD CONSTRAINT bookings_status_times_check
        CHECK ((status <> 'CANCELLED' OR cancelled_at IS NOT NULL)
           AND (status <> 'ARRIVED' OR arrived_at IS NOT NULL)
           AND (status <> 'FULFILLED' OR fulfilled_at IS NOT NULL)
           AND (status <> 'NOSHOW' OR no_show_at IS NOT NULL));

COMMENT ON COLUMN medreserve.bookings.doctor_id IS 'The doctor of the booked slots (fixed at booking time)';
COMMENT ON COLUMN medreserve.bookings.starts_at IS 'Start of the earliest booked slot';
COMMENT ON COLUMN medreserve.bookings.ends_at IS 'End of the latest booked slot';
COMMENT ON COLUMN medreserve.bookings.patient_phone IS 'Patient data: optional "+" and 4 to 15 digits';
COMMENT ON COLUMN medreserve.bookings.reason IS 'Patient data: the reason for the visit, at most 500 characters';
COMMENT ON COLUMN medreserve.bookings.cancel_reason IS 'Why it was cancelled; "rescheduled" when it was moved';
COMMENT ON COLUMN medreserve.bookings.cancelled_by IS 'patient or clinic; NULL for bookings cancelled before 1.2';
COMMENT ON COLUMN medreserve.bookings.late_cancellation IS 'Cancelled while CONFIRMED with less than medreserve.late_cancel_window to go';
COMMENT ON COLUMN medreserve.bookings.rescheduled_from IS 'The booking this one replaced (medreserve_reschedule)';
COMMENT ON COLUMN medreserve.bookings.rescheduled_to IS 'The booking that replaced this one (medreserve_reschedule)';

-- the day sheet: one doctor's day reads that day's rows
CREATE INDEX bookings_doctor_id_starts_at_idx ON medreserve.bookings (doctor_id, starts_at);
-- the sweep's automatic no-shows (medreserve.no_show_after)
CREATE INDEX bookings_confirmed_starts_at_idx ON medreserve.bookings (starts_at)
    WHERE status = 'CONFIRMED';

/*
 * What a listing shows of a booking's status: a hold that lapsed but is not
 * yet swept is EXPIRED (it holds nothing), never a live PENDING.
 */
CREATE FUNCTION medreserve.booking_state(status text, expires_at timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN status = 'PENDING' AND NOT medreserve.booking_is_live(status, expires_at)
            THEN 'EXPIRED' ELSE status END;
COMMENT ON FUNCTION medreserve.booking_state(text, timestamptz) IS
'The status a listing shows: EXPIRED for a lapsed hold not yet swept, else the status';

/* Book and hold take the patient's phone and the reason for the visit. */
DROP FUNCTION @extschema@.medreserve_book(integer, text, text);
DROP FUNCTION @extschema@.medreserve_book(integer[], text, text);
DROP FUNCTION @extschema@.medreserve_hold(integer, text, text);
DROP FUNCTION @extschema@.medreserve_hold(integer[], text, text);

CREATE FUNCTION @extschema@.medreserve_book(slot_id integer, patient_name text,
                                            patient_email text DEFAULT NULL,
                                            patient_phone text DEFAULT NULL,
                                            reason text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_book_slot'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer, text, text, text, text) IS
'Book one slot at once: returns the CONFIRMED booking with its doctor and times, or fails with 23505 if the slot is taken';

CREATE FUNCTION @extschema@.medreserve_book(slot_ids integer[], patient_name text,
                                            patient_email text DEFAULT NULL,
                                            patient_phone text DEFAULT NULL,
                                            reason text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_book_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer[], text, text, text, text) IS
'Book several slots of one doctor as one CONFIRMED booking, all or nothing';

CREATE FUNCTION @extschema@.medreserve_hold(slot_id integer, patient_name text,
                                            patient_email text DEFAULT NULL,
                                            patient_phone text DEFAULT NULL,
                                            reason text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slot'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer, text, text, text, text) IS
'Hold one slot: a PENDING booking that lapses after medreserve.hold_duration unless confirmed';

CREATE FUNCTION @extschema@.medreserve_hold(slot_ids integer[], patient_name text,
                                            patient_email text DEFAULT NULL,
                                            patient_phone text DEFAULT NULL,
                                            reason text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer[], text, text, text, text) IS
'Hold several slots of one doctor as one PENDING booking, all or nothing';

/* Cancel with a reason; medreserve_cancel(booking_id) still works. */
DROP FUNCTION @extschema@.medreserve_cancel(integer);
CREATE FUNCTION @extschema@.medreserve_cancel(booking_id integer, reason text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_cancel'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_cancel(integer, text) IS
'Cancel a PENDING or CONFIRMED booking and free its slots; records the reason, who cancelled, when, and whether it was late (medreserve.late_cancel_window)';

/* Reschedule, check-in, completion, no-show (C, src/appointment.c) */

CREATE FUNCTION @extschema@.medreserve_reschedule(booking_id integer, slot_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_reschedule_slot'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_reschedule(integer, integer) IS
'Move a live booking that has not started to another slot, all or nothing: returns the new booking (same patient data and status); the old one is CANCELLED as "rescheduled"';

CREATE FUNCTION @extschema@.medreserve_reschedule(booking_id integer, slot_ids integer[])
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_reschedule_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_reschedule(integer, integer[]) IS
'Move a live booking that has not started to other slots of one doctor, all or nothing; old and new slots may overlap';

CREATE FUNCTION @extschema@.medreserve_check_in(booking_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_check_in'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_check_in(integer) IS
'Admins: CONFIRMED -> ARRIVED, from medreserve.check_in_window before the start until the end';

CREATE FUNCTION @extschema@.medreserve_complete(booking_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_complete'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_complete(integer) IS
'Admins: ARRIVED or CONFIRMED -> FULFILLED, once the booking has started';

CREATE FUNCTION @extschema@.medreserve_mark_no_show(booking_id integer)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_mark_no_show'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_mark_no_show(integer) IS
'Admins: CONFIRMED -> NOSHOW, once the booking has started';

/* Counters of the new transitions (appended: 1.0's columns keep their places) */
DROP FUNCTION @extschema@.medreserve_counters();
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
    OUT reschedules bigint,
    OUT check_ins bigint,
    OUT fulfilled bigint,
    OUT no_shows bigint,
    OUT late_cancellations bigint,
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'medreserve_counters_1_2'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_counters() IS
'Booking counters from shared memory since the last reset; no row when medreserve is not in shared_preload_libraries';

/*
 * Availability counts ARRIVED, FULFILLED and NOSHOW bookings as holding their
 * slots (an ARRIVED booking can be checked in before its start): 1.0's copy
 * of the predicate becomes a call of the one definition.
 */
CREATE OR REPLACE FUNCTION @extschema@.medreserve_available_slots(
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
                          AND medreserve.booking_is_live(b.status, b.expires_at))
     ORDER BY s.start_time;
END
$$;

/* Listings */

-- one row of an appointment listing: the booking, its doctor, its state
CREATE TYPE medreserve.appointment AS (
    booking_id integer, state text, status text, doctor_id integer, doctor_name text,
    specialization text, starts_at timestamptz, ends_at timestamptz, slot_id integer,
    expires_at timestamptz, patient_name text, patient_email text, patient_phone text,
    reason text, cancel_reason text, cancelled_by text, cancelled_at timestamptz,
    late_cancellation boolean, rescheduled_from integer, rescheduled_to integer,
    arrived_at timestamptz, fulfilled_at timestamptz, no_show_at timestamptz,
    created_at timestamptz);
COMMENT ON TYPE medreserve.appointment IS
'A row of medreserve_my_appointments() and medreserve_appointments(); state is EXPIRED for a lapsed hold not yet swept';

-- the one projection of a booking into that row
CREATE FUNCTION medreserve.appointment_of(b medreserve.bookings, d medreserve.doctors)
RETURNS medreserve.appointment
LANGUAGE sql STABLE PARALLEL SAFE
RETURN ROW(b.id, medreserve.booking_state(b.status, b.expires_at), b.status, b.doctor_id,
           d.name, d.specialization, b.starts_at, b.ends_at, b.slot_id, b.expires_at,
           b.patient_name, b.patient_email, b.patient_phone, b.reason, b.cancel_reason,
           b.cancelled_by, b.cancelled_at, b.late_cancellation, b.rescheduled_from,
           b.rescheduled_to, b.arrived_at, b.fulfilled_at, b.no_show_at,
           b.created_at)::medreserve.appointment;
COMMENT ON FUNCTION medreserve.appointment_of(medreserve.bookings, medreserve.doctors) IS
'Internal: a booking and its doctor as a listing row (medreserve.appointment)';

CREATE FUNCTION @extschema@.medreserve_my_appointments(
    from_time timestamptz DEFAULT NULL, until_time timestamptz DEFAULT NULL)
RETURNS SETOF medreserve.appointment
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    signed_in_email text := medreserve.current_patient_email();
BEGIN
    IF signed_in_email IS NULL THEN
        RAISE EXCEPTION 'only a signed-in patient can list their appointments'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'There is no signed-in patient in this session.',
                  HINT = CASE WHEN medreserve.caller_is_admin()
                              THEN 'Admins list appointments with medreserve_appointments(from_time, until_time).'
                              ELSE 'Sign in through the clinic''s gateway.' END;
    END IF;
    RETURN QUERY
    SELECT (medreserve.appointment_of(b, d)).*
      FROM medreserve.bookings b
      JOIN medreserve.doctors d ON d.id = b.doctor_id
     WHERE medreserve.email_key(b.patient_email) = medreserve.email_key(signed_in_email)
       AND (from_time IS NULL OR b.ends_at > from_time)
       AND (until_time IS NULL OR b.starts_at < until_time)
     ORDER BY b.starts_at DESC, b.id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_my_appointments(timestamptz, timestamptz) IS
'The signed-in patient''s appointments overlapping [from_time, until_time) (default: all), latest first, with doctor and times; lapsed holds show state EXPIRED; 42501 without a signed-in patient';

CREATE FUNCTION @extschema@.medreserve_appointments(
    from_time timestamptz, until_time timestamptz,
    doctor_id integer DEFAULT NULL, status text DEFAULT NULL)
RETURNS SETOF medreserve.appointment
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT medreserve.caller_is_admin() THEN
        RAISE EXCEPTION 'only the clinic can list all appointments'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The caller is not a member of medreserve_admin.',
                  HINT = 'Patients list their own with medreserve_my_appointments().';
    END IF;
    IF from_time IS NULL OR until_time IS NULL THEN
        RAISE EXCEPTION 'from_time and until_time must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until_time <= from_time THEN
        RAISE EXCEPTION 'until_time must be after from_time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF until_time - from_time > interval '31 days' THEN
        RAISE EXCEPTION 'the range is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'At most 31 days can be listed at once.';
    END IF;
    IF status IS NOT NULL AND status NOT IN ('PENDING', 'EXPIRED', 'CONFIRMED', 'FAILED',
                                             'CANCELLED', 'ARRIVED', 'FULFILLED', 'NOSHOW') THEN
        RAISE EXCEPTION 'status is not a booking status'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It must be one of PENDING, EXPIRED, CONFIRMED, FAILED, CANCELLED, ARRIVED, FULFILLED, NOSHOW.';
    END IF;
    -- one doctor: a range scan of bookings_doctor_id_starts_at_idx; all
    -- doctors: the same scan per doctor, so the sheet comes out in order
    IF doctor_id IS NOT NULL THEN
        RETURN QUERY
        SELECT (medreserve.appointment_of(b, d)).*
          FROM medreserve.bookings b
          JOIN medreserve.doctors d ON d.id = b.doctor_id
         WHERE b.doctor_id = medreserve_appointments.doctor_id
           AND b.starts_at >= from_time AND b.starts_at < until_time
           AND (medreserve_appointments.status IS NULL
                OR medreserve.booking_state(b.status, b.expires_at) = medreserve_appointments.status)
         ORDER BY b.starts_at, b.id;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT (medreserve.appointment_of(x.b, d)).*
      FROM medreserve.doctors d
      CROSS JOIN LATERAL (
            SELECT bk FROM medreserve.bookings bk
             WHERE bk.doctor_id = d.id
               AND bk.starts_at >= from_time AND bk.starts_at < until_time) AS x(b)
     WHERE medreserve_appointments.status IS NULL
        OR medreserve.booking_state((x.b).status, (x.b).expires_at) = medreserve_appointments.status
     ORDER BY d.id, (x.b).starts_at, (x.b).id;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_appointments(timestamptz, timestamptz, integer, text) IS
'Admins: the day sheet, bookings starting in [from_time, until_time) (at most 31 days) by doctor and start time, optionally of one doctor and one state (EXPIRED for lapsed holds)';

-- one row of medreserve_attendance() (a type, so its doctor_id column can
-- share the name of the function's doctor_id argument)
CREATE TYPE medreserve.attendance AS (
    doctor_id integer, doctor_name text, appointments bigint, arrived bigint,
    fulfilled bigint, no_shows bigint, cancellations bigint, late_cancellations bigint,
    no_show_rate numeric, late_cancellation_rate numeric);
COMMENT ON TYPE medreserve.attendance IS
'A row of medreserve_attendance(): per doctor, appointments kept (CONFIRMED, ARRIVED, FULFILLED, NOSHOW), arrivals, fulfilments, no-shows, cancellations (not counting reschedules), late cancellations, and the rates';

CREATE FUNCTION @extschema@.medreserve_attendance(
    from_time timestamptz, until_time timestamptz, doctor_id integer DEFAULT NULL)
RETURNS SETOF medreserve.attendance
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT medreserve.caller_is_admin() THEN
        RAISE EXCEPTION 'only the clinic can read attendance'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The caller is not a member of medreserve_admin.';
    END IF;
    IF from_time IS NULL OR until_time IS NULL THEN
        RAISE EXCEPTION 'from_time and until_time must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until_time <= from_time THEN
        RAISE EXCEPTION 'until_time must be after from_time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- appointments: bookings that were kept (CONFIRMED, ARRIVED, FULFILLED,
    -- NOSHOW); cancellations leave out the ones moved by a reschedule
    RETURN QUERY
    SELECT d.id, d.name, a.n_appointments, a.n_arrived, a.n_fulfilled, a.n_no_shows,
           a.n_cancellations, a.n_late,
           round(a.n_no_shows::numeric / nullif(a.n_appointments, 0), 4),
           round(a.n_late::numeric / nullif(a.n_appointments + a.n_cancellations, 0), 4)
      FROM medreserve.doctors d
      CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE b.status IN ('CONFIRMED', 'ARRIVED', 'FULFILLED', 'NOSHOW')) AS n_appointments,
                   count(*) FILTER (WHERE b.arrived_at IS NOT NULL) AS n_arrived,
                   count(*) FILTER (WHERE b.status = 'FULFILLED') AS n_fulfilled,
                   count(*) FILTER (WHERE b.status = 'NOSHOW') AS n_no_shows,
                   count(*) FILTER (WHERE b.status = 'CANCELLED'
                                      AND b.cancel_reason IS DISTINCT FROM 'rescheduled') AS n_cancellations,
                   count(*) FILTER (WHERE b.late_cancellation) AS n_late
              FROM medreserve.bookings b
             WHERE b.doctor_id = d.id
               AND b.starts_at >= from_time AND b.starts_at < until_time) a
     WHERE medreserve_attendance.doctor_id IS NULL OR d.id = medreserve_attendance.doctor_id
     ORDER BY d.id;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_attendance(timestamptz, timestamptz, integer) IS
'Admins: per doctor, appointments starting in [from_time, until_time), arrivals, fulfilled, no-shows, late cancellations and their rates';



-- end of section 4


/* ======================================================================
 * 5. Safe retries and fair use: idempotency keys, per-patient limits.
 * ====================================================================== */

-- end of section 5


/* ======================================================================
 * 6. Events (outbox, NOTIFY), reminders, FHIR R4.
 * ====================================================================== */

-- end of section 6


/* ======================================================================
 * 7. Privileges of everything above (kept last, so they see it all).
 * ====================================================================== */

-- Issue 9.  booking_is_live, hold_has_lapsed, current_patient_email,
-- caller_is_admin and email_key stay executable by PUBLIC: RLS policies run
-- them as the reader, and they reveal nothing the caller does not know.
REVOKE ALL ON PROCEDURE @extschema@.medreserve_run_expiry() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE @extschema@.medreserve_run_expiry() TO medreserve_admin;
REVOKE ALL ON FUNCTION
    @extschema@.medreserve_verify(),
    medreserve.clean_name(text, text, boolean),
    medreserve.name_is_clean(text),
    medreserve.email_is_valid(text),
    medreserve.expire_batch(timestamptz),
    medreserve.note_sweep(bigint, bigint, timestamptz),
    medreserve.job_name(text),
    medreserve.schedule_job(text, text, text),
    medreserve.unschedule_job(text),
    medreserve.job_health(text)
FROM PUBLIC;
REVOKE ALL ON TABLE medreserve.sweep_status FROM PUBLIC;
GRANT SELECT ON medreserve.sweep_status TO medreserve_admin;
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_verify(),
    medreserve.expire_batch(timestamptz),
    medreserve.note_sweep(bigint, bigint, timestamptz)
TO medreserve_admin;

-- issue 13: the appointment's life
REVOKE ALL ON FUNCTION
    @extschema@.medreserve_book(integer, text, text, text, text),
    @extschema@.medreserve_book(integer[], text, text, text, text),
    @extschema@.medreserve_hold(integer, text, text, text, text),
    @extschema@.medreserve_hold(integer[], text, text, text, text),
    @extschema@.medreserve_cancel(integer, text),
    @extschema@.medreserve_reschedule(integer, integer),
    @extschema@.medreserve_reschedule(integer, integer[]),
    @extschema@.medreserve_check_in(integer),
    @extschema@.medreserve_complete(integer),
    @extschema@.medreserve_mark_no_show(integer),
    @extschema@.medreserve_counters(),
    @extschema@.medreserve_my_appointments(timestamptz, timestamptz),
    @extschema@.medreserve_appointments(timestamptz, timestamptz, integer, text),
    @extschema@.medreserve_attendance(timestamptz, timestamptz, integer),
    medreserve.appointment_of(medreserve.bookings, medreserve.doctors)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_book(integer, text, text, text, text),
    @extschema@.medreserve_book(integer[], text, text, text, text),
    @extschema@.medreserve_hold(integer, text, text, text, text),
    @extschema@.medreserve_hold(integer[], text, text, text, text),
    @extschema@.medreserve_cancel(integer, text),
    @extschema@.medreserve_reschedule(integer, integer),
    @extschema@.medreserve_reschedule(integer, integer[]),
    @extschema@.medreserve_my_appointments(timestamptz, timestamptz)
TO medreserve_patient, medreserve_admin;
-- the clinic's side: 42501 inside too, for admins' own login roles
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_check_in(integer),
    @extschema@.medreserve_complete(integer),
    @extschema@.medreserve_mark_no_show(integer),
    @extschema@.medreserve_counters(),
    @extschema@.medreserve_appointments(timestamptz, timestamptz, integer, text),
    @extschema@.medreserve_attendance(timestamptz, timestamptz, integer)
TO medreserve_admin;
-- medreserve.booking_state() stays executable, as booking_is_live() does.

-- end of section 7
