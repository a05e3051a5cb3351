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
 * The outbox's part of medreserve_verify(): a stub here, because the outbox
 * is made in section 6, which replaces it with the real check.
 */
CREATE FUNCTION medreserve.verify_outbox(
    OUT problem text, OUT booking_id integer, OUT slot_id integer)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NULL::text, NULL::integer, NULL::integer WHERE false
$$;

/*
 * The slot state's part of medreserve_verify(): a stub here, because the
 * slot state columns are made in section 2, which replaces it with the real
 * check (issue 11).
 */
CREATE FUNCTION medreserve.verify_slot_state(
    OUT problem text, OUT booking_id integer, OUT slot_id integer)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NULL::text, NULL::integer, NULL::integer WHERE false
$$;

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
    -- a live booking's doctor and span are those of its slots (issue 13; a
    -- lapsed hold may have given some seats back already, issue 11)
    SELECT 'booking doctor or times differ from its slots', bs.booking_id, min(bs.slot_id)
      FROM medreserve.booking_slots bs
      JOIN medreserve.slots s ON s.id = bs.slot_id
      JOIN medreserve.bookings b ON b.id = bs.booking_id
     WHERE medreserve.booking_is_live(b.status, b.expires_at)
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
    UNION ALL
    -- (issue 12) no free generated future slot in time off
    SELECT 'free generated slot in time off', NULL::integer, s.id
      FROM medreserve.slots s
     WHERE s.generated AND s.start_time > now()
       AND EXISTS (SELECT 1 FROM medreserve.time_off o
                    WHERE (o.doctor_id = s.doctor_id OR o.doctor_id IS NULL)
                      AND tstzrange(o.from_time, o.until_time)
                          && medreserve.slot_period(s.start_time, s.duration_minutes))
       AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                         JOIN medreserve.bookings b ON b.id = bs.booking_id
                        WHERE bs.slot_id = s.id
                          AND medreserve.booking_is_live(b.status, b.expires_at))
    UNION ALL
    -- issue 14: a kept idempotency key names the booking its call made (the
    -- call records it before it returns; a refused call rolls its key back)
    SELECT 'idempotency key without its booking', NULL::integer, NULL::integer
      FROM medreserve.idempotency_keys k
     WHERE k.booking_id IS NULL
    UNION ALL
    -- the slot state's invariants (issue 11; defined in section 2)
    SELECT v.problem, v.booking_id, v.slot_id FROM medreserve.verify_slot_state() v
    UNION ALL
    -- the outbox's invariants (issue 15; defined in section 6)
    SELECT o.problem, o.booking_id, o.slot_id FROM medreserve.verify_outbox() o
    ORDER BY 2, 3
$$;
COMMENT ON FUNCTION @extschema@.medreserve_verify() IS
'Check the invariants of the booking tables, the slots'' state and the outbox; returns one row per problem, none when consistent';

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
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION medreserve.expire_batch(timestamptz) IS
'Internal: settle one batch (medreserve.expire_batch_size) of lapsed holds expiring at or after resume_from; last_expiry is where the next batch resumes (NULL: nothing found)';

CREATE FUNCTION medreserve.note_sweep(holds_expired bigint, slots_released bigint,
                                      started_at timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'medreserve_note_sweep_sql'
LANGUAGE c VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
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

/*
 * The sweep's statements are planned once, generically, for batches of
 * thousands of rows over tables that only grow: their estimated cost passes
 * jit_above_cost, and compiling them took longer (about a second) than
 * running them.  None of them gains from JIT.
 */
ALTER FUNCTION @extschema@.medreserve_expire() SET jit = off;
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
    generation jsonb := medreserve.generation_health();    -- section 3 (issue 12)
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
    -- the slot generation job and the horizon (issue 12)
    IF generation->'job'->>'last_run_status' = 'failed' THEN
        health_status := 'error';
        problems := problems || 'the last run of the slot generation job failed'::text;
    END IF;
    IF (generation->'job'->>'active')::boolean IS FALSE THEN
        problems := problems || 'the slot generation job is inactive'::text;
    END IF;
    problems := problems || ARRAY(SELECT jsonb_array_elements_text(generation->'problems'));
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
        'generation', generation - 'problems',
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
'Health check as jsonb: status ok/degraded/error, problems, version, this database''s expiry job and its last run, the last sweep, overdue holds, metrics availability, the slot generation (job, horizon reached)';

-- end of section 1


/* ======================================================================
 * 2. Slot state on the slot, and group sessions (capacity).
 * ====================================================================== */

/*
 * The slot carries its own state, so that "can this slot be booked?" is
 * answered from the slot row and now() alone (one index range scan lists a
 * doctor's free week), as FHIR's Slot.status, Bahmni and Cal.com do:
 *
 *   capacity         seats of the slot (1 for an ordinary appointment, more
 *                    for a group session), 1..1000;
 *   seats_confirmed  seats taken by CONFIRMED bookings, and by the statuses
 *                    a confirmed booking moves on to while it keeps its
 *                    slots (ARRIVED, FULFILLED, NOSHOW; issue 13);
 *   seats_held       seats taken by PENDING holds, lapsed or not, until they
 *                    are settled (FAILED by the sweep or a booker, or
 *                    confirmed, or cancelled);
 *   hold_lapses_at   when the earliest of those holds lapses (NULL without
 *                    holds).  A lapsed hold frees its seat at that instant
 *                    without any write: the free test compares with now().
 *
 * Every change of a booking that takes or gives back seats (book, hold,
 * confirm, cancel, sweep, lazy release, reschedule) updates these columns in
 * the same statement, under the slot's row lock that booking already takes
 * (check-in, completion and no-show move a seat between statuses that all
 * count as confirmed, so they change nothing here; time off and
 * medreserve_remove_slots delete only free slots; generated slots start
 * empty): they cannot drift under concurrency,
 * and medreserve_verify() checks them against booking_slots and bookings.
 * The updates touch no indexed column, so with free room on the page
 * (fillfactor 75) they are HOT updates.
 *
 * Seats: booking_slots has a seat number per row, UNIQUE (slot_id, seat),
 * CHECK (seat BETWEEN 1 AND slot_capacity), and (slot_id, slot_capacity)
 * is a foreign key to UNIQUE (id, capacity) of slots, ON UPDATE CASCADE.
 * So no code path can put capacity + 1 rows on a slot: there are only
 * capacity seat numbers, and a capacity cannot drop below a seat in use.
 */
ALTER TABLE medreserve.slots
    ADD COLUMN capacity integer NOT NULL DEFAULT 1
        CONSTRAINT slots_capacity_range CHECK (capacity BETWEEN 1 AND 1000),
    ADD COLUMN seats_confirmed integer NOT NULL DEFAULT 0,
    ADD COLUMN seats_held integer NOT NULL DEFAULT 0,
    ADD COLUMN hold_lapses_at timestamptz,
    ADD CONSTRAINT slots_seats_within_capacity
        CHECK (seats_confirmed >= 0 AND seats_held >= 0
               AND seats_confirmed + seats_held <= capacity),
    ADD CONSTRAINT slots_hold_lapses_with_holds
        CHECK ((seats_held = 0) = (hold_lapses_at IS NULL)),
    ADD CONSTRAINT slots_id_capacity_key UNIQUE (id, capacity);
-- Room on each page for new row versions, so that state updates stay HOT
-- (no index entry, no exclusion check) even when a sweep settles many holds
-- of neighbouring slots in one transaction, before pruning can free space.
ALTER TABLE medreserve.slots SET (fillfactor = 75);

/*
 * slot_end() in C: the exclusion constraint evaluates it on every slot
 * insert and every non-HOT update.  The SQL version was never inlined (it is
 * IMMUTABLE, its body calls the STABLE timestamptz + interval) and cost a
 * function call each time.  Same results, so the index stays valid.
 */
CREATE OR REPLACE FUNCTION medreserve.slot_end(start_time timestamptz, duration_minutes integer)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'medreserve_slot_end'
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION medreserve.slot_end(timestamptz, integer) IS
'End of a slot: start plus whole minutes (time-zone independent, hence IMMUTABLE; in C since 1.2)';
COMMENT ON COLUMN medreserve.slots.capacity IS
'Seats of the slot: 1 for an ordinary appointment, up to 1000 for a group session';
COMMENT ON COLUMN medreserve.slots.seats_confirmed IS
'Seats taken by CONFIRMED bookings and those that moved on to ARRIVED, FULFILLED or NOSHOW (kept exact under the slot''s row lock)';
COMMENT ON COLUMN medreserve.slots.seats_held IS
'Seats taken by PENDING holds, lapsed or not, until they are settled';
COMMENT ON COLUMN medreserve.slots.hold_lapses_at IS
'When the earliest hold on the slot lapses (NULL without holds); a lapsed hold frees its seat without any write';
COMMENT ON TABLE medreserve.slots IS
'Appointment slots of a doctor, with their state: capacity, seats confirmed and held, and when the earliest hold lapses';

ALTER TABLE medreserve.booking_slots
    ADD COLUMN slot_capacity integer NOT NULL DEFAULT 1,
    ADD COLUMN seat integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT booking_slots_seat_range CHECK (seat BETWEEN 1 AND slot_capacity);
-- 1.0 and 1.1 knew only capacity 1: every existing row holds seat 1 of 1.
ALTER TABLE medreserve.booking_slots
    DROP CONSTRAINT booking_slots_slot_id_fkey,
    ADD CONSTRAINT booking_slots_slot_capacity_fkey
        FOREIGN KEY (slot_id, slot_capacity) REFERENCES medreserve.slots (id, capacity)
        ON DELETE CASCADE ON UPDATE CASCADE,
    DROP CONSTRAINT booking_slots_slot_id_key,
    ADD CONSTRAINT booking_slots_slot_id_seat_key UNIQUE (slot_id, seat);
COMMENT ON COLUMN medreserve.booking_slots.slot_capacity IS
'The slot''s capacity (kept equal by the foreign key), which bounds the seat number';
COMMENT ON COLUMN medreserve.booking_slots.seat IS
'Seat number in the slot, 1..capacity; UNIQUE (slot_id, seat) is the last line against overbooking';
COMMENT ON TABLE medreserve.booking_slots IS
'Seats taken in slots by live (PENDING or CONFIRMED) bookings; UNIQUE (slot_id, seat) with seat <= capacity is the last line against overbooking';

/*
 * The state of slots recomputed from their booking rows, for what bypassed
 * the API: this upgrade (from 1.0 or 1.1), a bulk load, a repair after
 * medreserve_verify() found drift.  Lapsed holds not yet swept keep their
 * seat, with their lapse time in hold_lapses_at, as they would after a
 * booking made through the API.  Returns how many slots it changed.
 */
CREATE FUNCTION medreserve.refresh_slot_state()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    emptied bigint;
    changed bigint;
BEGIN
    -- slots that claim seats but have no booking rows at all
    UPDATE medreserve.slots s
       SET seats_confirmed = 0, seats_held = 0, hold_lapses_at = NULL
     WHERE (s.seats_confirmed <> 0 OR s.seats_held <> 0 OR s.hold_lapses_at IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs WHERE bs.slot_id = s.id);
    GET DIAGNOSTICS emptied = ROW_COUNT;
    -- slots with booking rows: their counts and earliest lapse (an inner join
    -- of the aggregated rows, so a bulk load costs in proportion to its rows)
    UPDATE medreserve.slots s
       SET seats_confirmed = x.confirmed, seats_held = x.held, hold_lapses_at = x.lapses
      FROM (SELECT bs.slot_id,
                   (count(*) FILTER (WHERE b.status <> 'PENDING'))::integer AS confirmed,
                   (count(*) FILTER (WHERE b.status = 'PENDING'))::integer AS held,
                   min(b.expires_at) FILTER (WHERE b.status = 'PENDING') AS lapses
              FROM medreserve.booking_slots bs
              JOIN medreserve.bookings b ON b.id = bs.booking_id
             GROUP BY bs.slot_id) AS x
     WHERE s.id = x.slot_id
       AND (s.seats_confirmed, s.seats_held, s.hold_lapses_at)
           IS DISTINCT FROM (x.confirmed, x.held, x.lapses);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN emptied + changed;
END
$$;
COMMENT ON FUNCTION medreserve.refresh_slot_state() IS
'Recompute every slot''s state (seats confirmed and held, earliest lapse) from its booking rows, after an upgrade, a bulk load or a repair; returns how many slots changed';
SELECT medreserve.refresh_slot_state();

/*
 * The one definition of a bookable slot, from the slot row and now() alone:
 * a seat is unused, or the earliest hold has lapsed (its seat is free even
 * before anyone settles it).  Inlined, so it costs no call.
 */
CREATE FUNCTION medreserve.slot_is_free(capacity integer, seats_confirmed integer,
                                        seats_held integer, hold_lapses_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN seats_confirmed + seats_held < capacity
       OR (hold_lapses_at IS NOT NULL AND hold_lapses_at <= pg_catalog.now());
COMMENT ON FUNCTION medreserve.slot_is_free(integer, integer, integer, timestamptz) IS
'The one definition of a bookable slot from its row: a seat is unused, or the earliest hold on it has lapsed';

/*
 * Seats free now, from the slot row: exact unless some but not all holds
 * have lapsed (then at least one more seat than counted is free).
 */
CREATE FUNCTION medreserve.slot_seats_free(capacity integer, seats_confirmed integer,
                                           seats_held integer, hold_lapses_at timestamptz)
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
RETURN capacity - seats_confirmed - seats_held
       + CASE WHEN hold_lapses_at <= pg_catalog.now() THEN 1 ELSE 0 END;
COMMENT ON FUNCTION medreserve.slot_seats_free(integer, integer, integer, timestamptz) IS
'Seats of a slot that can be booked now (a lower bound when several holds lapse at different times)';

/*
 * FHIR's Slot.status from the slot row: free while a seat can be booked;
 * busy-tentative when full and some seat is only held; busy when every seat
 * is confirmed.  (busy-unavailable, time off, is not a state of 1.2 slots.)
 */
CREATE FUNCTION medreserve.slot_status(capacity integer, seats_confirmed integer,
                                       seats_held integer, hold_lapses_at timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN medreserve.slot_is_free(capacity, seats_confirmed, seats_held, hold_lapses_at)
                 THEN 'free'
            WHEN seats_held > 0 THEN 'busy-tentative'
            ELSE 'busy' END;
COMMENT ON FUNCTION medreserve.slot_status(integer, integer, integer, timestamptz) IS
'FHIR Slot.status of a slot from its row: free, busy-tentative (full, some seats held) or busy';

/*
 * Direct edits of a hold's expiry (a DBA extending a hold, a test making one
 * lapse) keep the slots' hold_lapses_at exact.  The API never fires this: it
 * changes expires_at only together with the status.
 */
CREATE FUNCTION medreserve.hold_expiry_moved()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM 1 FROM medreserve.slots s
      WHERE s.id IN (SELECT bs.slot_id FROM medreserve.booking_slots bs WHERE bs.booking_id = NEW.id)
      ORDER BY s.id FOR UPDATE;
    UPDATE medreserve.slots s
       SET hold_lapses_at = (SELECT min(b.expires_at)
                               FROM medreserve.booking_slots x
                               JOIN medreserve.bookings b ON b.id = x.booking_id
                              WHERE x.slot_id = s.id AND b.status = 'PENDING')
     WHERE s.id IN (SELECT bs.slot_id FROM medreserve.booking_slots bs WHERE bs.booking_id = NEW.id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION medreserve.hold_expiry_moved() IS
'Trigger: when a hold''s expires_at is edited directly, recompute hold_lapses_at of its slots';
CREATE TRIGGER bookings_hold_expiry_moved
    AFTER UPDATE OF expires_at ON medreserve.bookings
    FOR EACH ROW
    WHEN (OLD.status = 'PENDING' AND NEW.status = 'PENDING'
          AND OLD.expires_at IS DISTINCT FROM NEW.expires_at)
    EXECUTE FUNCTION medreserve.hold_expiry_moved();

/* Slots with capacity: medreserve_add_slots(..., capacity => 8) */
DROP FUNCTION @extschema@.medreserve_add_slots(integer, timestamptz, timestamptz, integer);
CREATE FUNCTION @extschema@.medreserve_add_slots(doctor_id integer, first_start timestamptz,
                                                 last_start timestamptz,
                                                 duration_minutes integer DEFAULT 15,
                                                 capacity integer DEFAULT 1)
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
    IF doctor_id IS NULL OR first_start IS NULL OR last_start IS NULL OR duration_minutes IS NULL
       OR capacity IS NULL THEN
        RAISE EXCEPTION 'doctor_id, first_start, last_start, duration_minutes and capacity must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF duration_minutes NOT BETWEEN 1 AND 1440 THEN
        RAISE EXCEPTION 'duration_minutes must be between 1 and 1440'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF capacity NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'capacity must be between 1 and 1000'
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
        INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes, capacity)
        SELECT medreserve_add_slots.doctor_id,
               first_start + i * make_interval(mins => medreserve_add_slots.duration_minutes),
               medreserve_add_slots.duration_minutes,
               medreserve_add_slots.capacity
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
COMMENT ON FUNCTION @extschema@.medreserve_add_slots(integer, timestamptz, timestamptz, integer, integer) IS
'Add back-to-back slots of capacity seats (default 1) from first_start up to and including last_start, all or nothing; 23P01 if any would overlap an existing slot of the doctor';

/*
 * Change the seats of a slot.  Lowering below the seats in use is refused
 * (PT409); seat numbers above the new capacity are moved down into free
 * ones first, so the foreign key can carry the new capacity to them.
 */
CREATE FUNCTION @extschema@.medreserve_set_capacity(slot_id integer, capacity integer)
RETURNS medreserve.slots
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    slot medreserve.slots;
BEGIN
    PERFORM medreserve.require_writable('change slots');
    IF slot_id IS NULL OR capacity IS NULL THEN
        RAISE EXCEPTION 'slot_id and capacity must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF capacity NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'capacity must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO slot FROM medreserve.slots s WHERE s.id = medreserve_set_capacity.slot_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'slot % does not exist', slot_id USING ERRCODE = 'PT404';
    END IF;
    IF slot.seats_confirmed + slot.seats_held > capacity THEN
        RAISE EXCEPTION 'capacity of slot % cannot be lower than its % seats taken',
                        slot_id, slot.seats_confirmed + slot.seats_held
            USING ERRCODE = 'PT409',
                  DETAIL = format('%s seats are confirmed and %s held.', slot.seats_confirmed, slot.seats_held),
                  HINT = CASE WHEN slot.hold_lapses_at <= now()
                              THEN 'Lapsed holds still count until medreserve_expire() settles them.'
                              ELSE 'Cancel bookings first.' END;
    END IF;
    -- renumber seats above the new capacity into the lowest free ones
    WITH high AS (
        SELECT bs.id, row_number() OVER (ORDER BY bs.seat) AS k
          FROM medreserve.booking_slots bs
         WHERE bs.slot_id = slot.id AND bs.seat > capacity),
    free AS (
        SELECT g AS seat, row_number() OVER (ORDER BY g) AS k
          FROM generate_series(1, capacity) AS g
         WHERE NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                            WHERE bs.slot_id = slot.id AND bs.seat = g))
    UPDATE medreserve.booking_slots bs SET seat = free.seat
      FROM high JOIN free USING (k)
     WHERE bs.id = high.id;
    UPDATE medreserve.slots s SET capacity = medreserve_set_capacity.capacity
     WHERE s.id = slot.id RETURNING * INTO slot;
    RETURN slot;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_set_capacity(integer, integer) IS
'Set the number of seats of a slot (1..1000); PT409 if more seats are taken than the new capacity';

/*
 * Free slots from the slot rows alone: one index range scan of
 * (doctor_id, start_time), no probe of booking_slots or bookings.  Whether
 * the doctor exists is asked only when no slot was found (a slot's doctor
 * always exists): one statement per call, not two.
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
    RETURN QUERY
    SELECT s.*
      FROM medreserve.slots s
     WHERE s.doctor_id = medreserve_available_slots.doctor_id
       AND s.start_time >= greatest(from_time, now())
       AND s.start_time < until_time
       AND s.start_time > now()
       AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
     ORDER BY s.start_time;
    -- two IFs: NOT FOUND alone is a simple expression, which PL/pgSQL
    -- evaluates without starting the executor; the look-up runs only then
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT 1 FROM medreserve.doctors d WHERE d.id = medreserve_available_slots.doctor_id) THEN
            RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_available_slots(integer, timestamptz, timestamptz) IS
'Future slots of a doctor with a free seat between from_time and until_time (default: the next 7 days), by start time, read from the slots'' own state; a seat held by a lapsed hold counts as free';

/* Stats report seats too, and the bookings in the statuses of issue 13
   (columns at the end, so existing readers keep theirs; VOLATILE as section 1
   made it: the counters change within a statement).  Free slots are
   slot_is_free() and overdue holds hold_has_lapsed(), the one definition of
   each; the *_bookings columns together count every booking once. */
DROP FUNCTION @extschema@.medreserve_stats();
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
    OUT stats_reset timestamptz,
    OUT future_seats bigint,
    OUT free_future_seats bigint,
    OUT arrived_bookings bigint,
    OUT fulfilled_bookings bigint,
    OUT no_show_bookings bigint)
RETURNS record
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT count(*) FROM medreserve.doctors),
           f.slots, f.free_slots,
           b.pending, b.confirmed, b.failed, b.cancelled,
           o.overdue, now() - o.oldest_expiry,
           c.stats_reset IS NOT NULL,
           c.bookings_confirmed, c.holds_taken, c.holds_confirmed, c.holds_expired,
           c.holds_released_lazily, c.cancellations, c.refused_slot_taken,
           c.refused_not_found, c.refused_invalid_input, c.refused_state_conflict,
           c.stats_reset,
           f.seats, f.free_seats,
           b.arrived, b.fulfilled, b.no_show
      FROM (SELECT count(*) AS slots,
                   count(*) FILTER (WHERE medreserve.slot_is_free(s.capacity, s.seats_confirmed,
                                                                  s.seats_held, s.hold_lapses_at)) AS free_slots,
                   coalesce(sum(s.capacity), 0) AS seats,
                   coalesce(sum(medreserve.slot_seats_free(s.capacity, s.seats_confirmed,
                                                           s.seats_held, s.hold_lapses_at)), 0) AS free_seats
              FROM medreserve.slots s WHERE s.start_time > now()) AS f,
           (SELECT count(*) FILTER (WHERE status = 'PENDING') AS pending,
                   count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
                   count(*) FILTER (WHERE status = 'FAILED') AS failed,
                   count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
                   count(*) FILTER (WHERE status = 'ARRIVED') AS arrived,
                   count(*) FILTER (WHERE status = 'FULFILLED') AS fulfilled,
                   count(*) FILTER (WHERE status = 'NOSHOW') AS no_show
              FROM medreserve.bookings) AS b,
           (SELECT count(*) AS overdue, min(expires_at) AS oldest_expiry
              FROM medreserve.bookings
             WHERE medreserve.hold_has_lapsed(status, expires_at)) AS o
      LEFT JOIN @extschema@.medreserve_counters() AS c ON true
$$;
COMMENT ON FUNCTION @extschema@.medreserve_stats() IS
'One row for the admin dashboard: live figures from the tables (slots and seats, bookings by status) and the booking counters (NULL when not preloaded)';

/*
 * medreserve_verify()'s part for the slot state (section 1 calls it): each
 * slot's counters and earliest lapse time equal what booking_slots and
 * bookings say, its free test (slot_is_free) agrees with the live bookings
 * (booking_is_live), and its seats are numbered within its capacity.
 */
CREATE OR REPLACE FUNCTION medreserve.verify_slot_state(
    OUT problem text, OUT booking_id integer, OUT slot_id integer)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'slot state differs from its booking rows', NULL::integer, s.id
      FROM medreserve.slots s
      LEFT JOIN (SELECT bs.slot_id,
                        count(*) FILTER (WHERE b.status <> 'PENDING') AS confirmed,
                        count(*) FILTER (WHERE b.status = 'PENDING') AS held,
                        min(b.expires_at) FILTER (WHERE b.status = 'PENDING') AS lapses
                   FROM medreserve.booking_slots bs
                   JOIN medreserve.bookings b ON b.id = bs.booking_id
                  GROUP BY bs.slot_id) x ON x.slot_id = s.id
     WHERE (s.seats_confirmed, s.seats_held, s.hold_lapses_at)
           IS DISTINCT FROM (coalesce(x.confirmed, 0)::integer, coalesce(x.held, 0)::integer, x.lapses)
    UNION ALL
    SELECT 'slot status differs from its live bookings', NULL::integer, s.id
      FROM medreserve.slots s
     WHERE medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
           IS DISTINCT FROM
           ((SELECT count(*) FROM medreserve.booking_slots bs
              JOIN medreserve.bookings b ON b.id = bs.booking_id
             WHERE bs.slot_id = s.id AND medreserve.booking_is_live(b.status, b.expires_at)) < s.capacity)
    UNION ALL
    SELECT 'seat outside the slot''s capacity', bs.booking_id, bs.slot_id
      FROM medreserve.booking_slots bs
      JOIN medreserve.slots s ON s.id = bs.slot_id
     WHERE bs.seat NOT BETWEEN 1 AND s.capacity OR bs.slot_capacity <> s.capacity
$$;
COMMENT ON FUNCTION medreserve.verify_slot_state() IS
'medreserve_verify()''s part for the slot state: counters, earliest lapse, free test and seat numbers agree with the booking rows';

-- end of section 2


/* ======================================================================
 * 3. A clinic's week: time zones, working hours, time off, generation,
 *    search across doctors.
 * ====================================================================== */

/* --- 3.1 Time zones ------------------------------------------------------ */

/*
 * The zone of a doctor added without one: medreserve.default_time_zone, or
 * the session's TimeZone when that is empty.
 */
CREATE FUNCTION medreserve.default_time_zone()
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN COALESCE(NULLIF(pg_catalog.btrim(pg_catalog.current_setting('medreserve.default_time_zone')), ''),
                pg_catalog.current_setting('TimeZone'));
COMMENT ON FUNCTION medreserve.default_time_zone() IS
'Internal: medreserve.default_time_zone, or the session''s TimeZone when that setting is empty';

ALTER TABLE medreserve.doctors ADD COLUMN time_zone text;
-- doctors of 1.0/1.1 worked in the server's time: keep them there
UPDATE medreserve.doctors SET time_zone = medreserve.default_time_zone();
ALTER TABLE medreserve.doctors
    ALTER COLUMN time_zone SET NOT NULL,
    ALTER COLUMN time_zone SET DEFAULT medreserve.default_time_zone();
COMMENT ON COLUMN medreserve.doctors.time_zone IS
'IANA zone (a name in pg_timezone_names) in which the doctor''s working hours are read';

/*
 * The one definition of a valid doctor's zone: a name listed in
 * pg_timezone_names (which rejects POSIX strings such as 'UTC+3' that
 * TimeZone would take).  A statement-level trigger, so that listing the
 * zones (tens of milliseconds) happens once per statement, not per row.
 */
CREATE FUNCTION medreserve.check_doctor_time_zones()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad_zone text;
BEGIN
    SELECT n.time_zone INTO bad_zone
      FROM new_doctors n
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = n.time_zone)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'time zone "%" is not known', bad_zone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, such as Europe/Berlin.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION medreserve.check_doctor_time_zones() IS
'Trigger: refuse (22023) a doctor whose time zone is not a name in pg_timezone_names';
CREATE TRIGGER doctors_check_time_zone_insert AFTER INSERT ON medreserve.doctors
    REFERENCING NEW TABLE AS new_doctors
    FOR EACH STATEMENT EXECUTE FUNCTION medreserve.check_doctor_time_zones();
CREATE TRIGGER doctors_check_time_zone_update AFTER UPDATE ON medreserve.doctors
    REFERENCING NEW TABLE AS new_doctors
    FOR EACH STATEMENT EXECUTE FUNCTION medreserve.check_doctor_time_zones();

DROP FUNCTION @extschema@.medreserve_add_doctor(text, text);
CREATE FUNCTION @extschema@.medreserve_add_doctor(name text, specialization text DEFAULT NULL,
                                                  time_zone text DEFAULT NULL)
RETURNS medreserve.doctors
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    doctor medreserve.doctors;
BEGIN
    PERFORM medreserve.require_writable('medreserve_add_doctor()');
    -- names follow the one name rule; the zone is checked by the table's
    -- trigger, the one definition of a valid zone
    INSERT INTO medreserve.doctors (name, specialization, time_zone)
    VALUES (medreserve.clean_name(name, 'name'),
            medreserve.clean_name(specialization, 'specialization', true),
            COALESCE(NULLIF(btrim(time_zone), ''), medreserve.default_time_zone()))
    RETURNING * INTO doctor;
    RETURN doctor;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_add_doctor(text, text, text) IS
'Add a doctor working in time_zone (default: medreserve.default_time_zone); names follow medreserve.clean_name(); returns the new row; 22023 for an unknown zone';

/* --- 3.2 Wall-clock arithmetic --------------------------------------------- */

/*
 * The instant of a local wall-clock time in a zone.  A time in the hour
 * skipped at spring-forward does not exist: it is read as the first valid
 * instant after it (the moment of the change).  A time in the repeated hour
 * at fall-back is read as standard time (the later instant), as PostgreSQL
 * does.  Zone changes happen on whole minutes, so the search for the end of
 * a gap steps by minutes; it runs only for the rare times inside a gap.
 */
CREATE FUNCTION medreserve.local_instant(local_time timestamp, zone text)
RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN pg_catalog.timezone(zone, pg_catalog.timezone(zone, local_time)) = local_time
    THEN pg_catalog.timezone(zone, local_time)
    ELSE (SELECT pg_catalog.timezone(zone, c)
            FROM pg_catalog.generate_series(pg_catalog.date_trunc('minute', local_time) + interval '1 minute',
                                            local_time + interval '1 day', interval '1 minute') AS c
           WHERE pg_catalog.timezone(zone, pg_catalog.timezone(zone, c)) = c
           ORDER BY c LIMIT 1)
END;
COMMENT ON FUNCTION medreserve.local_instant(timestamp, text) IS
'Internal: the instant of a wall-clock time in a zone; a skipped time is the first valid instant after it, a repeated one is standard time';

/*
 * The period a slot occupies.  Inlined, so it is the very expression of the
 * slots_no_overlap constraint and its GiST index serves overlap searches
 * (hence not STRICT: tstzrange() is not, and a STRICT wrapper of it is not inlined).
 */
CREATE FUNCTION medreserve.slot_period(start_time timestamptz, duration_minutes integer)
RETURNS tstzrange
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.tstzrange(start_time, medreserve.slot_end(start_time, duration_minutes));
COMMENT ON FUNCTION medreserve.slot_period(timestamptz, integer) IS
'The half-open period a slot occupies (the expression of the slots_no_overlap constraint)';

/* --- 3.3 Working hours ------------------------------------------------------ */

CREATE TYPE medreserve.time_range AS RANGE (subtype = time);
COMMENT ON TYPE medreserve.time_range IS 'A range of wall-clock times of day (working hours blocks)';
-- (the type's constructor functions are documented too, for \df+ readers)
COMMENT ON FUNCTION medreserve.time_range(time, time) IS 'Constructor of medreserve.time_range, [lower, upper)';
COMMENT ON FUNCTION medreserve.time_range(time, time, text) IS 'Constructor of medreserve.time_range with explicit bounds';
COMMENT ON FUNCTION medreserve.time_multirange() IS 'Constructor of an empty medreserve.time_multirange';
COMMENT ON FUNCTION medreserve.time_multirange(medreserve.time_range) IS 'Constructor of medreserve.time_multirange from one range';
COMMENT ON FUNCTION medreserve.time_multirange(medreserve.time_range[]) IS 'Constructor of medreserve.time_multirange from ranges';

CREATE TABLE medreserve.working_hours (
    id            serial PRIMARY KEY,
    doctor_id     integer NOT NULL REFERENCES medreserve.doctors (id) ON DELETE CASCADE,
    weekday       integer NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts        time NOT NULL,
    ends          time NOT NULL,
    slot_minutes  integer NOT NULL CHECK (slot_minutes BETWEEN 1 AND 1440),
    -- seats of each slot it makes (issue 11: group sessions); 1 for rows
    -- made before working hours took a capacity
    capacity      integer NOT NULL DEFAULT 1
                  CONSTRAINT working_hours_capacity_range CHECK (capacity BETWEEN 1 AND 1000),
    valid_from    date NOT NULL,
    valid_until   date,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT working_hours_block_valid CHECK (ends > starts),
    CONSTRAINT working_hours_validity_valid CHECK (valid_until >= valid_from),
    -- blocks of one doctor and weekday do not overlap while both are valid
    CONSTRAINT working_hours_no_overlap EXCLUDE USING gist (
        doctor_id WITH =,
        weekday WITH =,
        medreserve.time_range(starts, ends) WITH &&,
        pg_catalog.daterange(valid_from, valid_until, '[]') WITH &&)
);
COMMENT ON TABLE medreserve.working_hours IS
'Weekly template of a doctor''s hours: on each ISO weekday (1 = Monday) from valid_from to valid_until (inclusive; NULL = open), the half-open block starts..ends in the doctor''s zone is tiled with slot_minutes slots of capacity seats';
SELECT pg_catalog.pg_extension_config_dump('medreserve.working_hours', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.working_hours_id_seq', '');

ALTER TABLE medreserve.slots ADD COLUMN generated boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN medreserve.slots.generated IS
'Made from working hours by generation (which may replace it while it is free); false for hand-made slots, which generation never touches';
-- search across doctors walks slots in (start, id) order: many doctors
-- start at the same time, and the id settles ties without a sort
CREATE INDEX slots_start_time_id_idx ON medreserve.slots (start_time, id);

/* --- 3.4 Time off and closures --------------------------------------------- */

CREATE TABLE medreserve.time_off (
    id          serial PRIMARY KEY,
    doctor_id   integer REFERENCES medreserve.doctors (id) ON DELETE CASCADE,
    from_time   timestamptz NOT NULL,
    until_time  timestamptz NOT NULL,
    reason      text CHECK (pg_catalog.char_length(reason) <= 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT time_off_period_valid CHECK (until_time > from_time)
);
COMMENT ON TABLE medreserve.time_off IS
'Periods [from_time, until_time) without slots: a doctor''s time off, or a closure of the whole clinic when doctor_id is NULL';
CREATE INDEX time_off_period_idx ON medreserve.time_off
    USING gist (pg_catalog.tstzrange(from_time, until_time));
SELECT pg_catalog.pg_extension_config_dump('medreserve.time_off', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.time_off_id_seq', '');

/* --- 3.5 Generation ------------------------------------------------------- */

/* When the last full generation ran and how far it reached (for health). */
CREATE TABLE medreserve.generation_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generated_until  date NOT NULL,
    last_run_at      timestamptz NOT NULL,
    last_created     bigint NOT NULL
);
COMMENT ON TABLE medreserve.generation_state IS
'One row: the last run of medreserve_generate_slots(), the date it generated up to and how many slots it made';
SELECT pg_catalog.pg_extension_config_dump('medreserve.generation_state', '');

CREATE FUNCTION medreserve.slot_horizon()
RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
RETURN pg_catalog.current_setting('medreserve.slot_horizon')::interval;
COMMENT ON FUNCTION medreserve.slot_horizon() IS
'Internal: medreserve.slot_horizon as an interval (the setting''s check hook guarantees it parses)';

/*
 * The slots that working hours call for on the local dates from_date ..
 * until_date (NULL doctor_ids: every doctor): each block is the real
 * interval between its local start and end on that date in the doctor's
 * zone, tiled back to back by elapsed time; a slot that would end after
 * the block is not made.  Set-based: one row per block and date, then one
 * per slot.
 */
CREATE FUNCTION medreserve.template_slots(doctor_ids integer[], from_date date, until_date date)
RETURNS TABLE (doctor_id integer, start_time timestamptz, duration_minutes integer, capacity integer)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH blocks AS (
        SELECT w.doctor_id, w.slot_minutes, w.capacity, d.time_zone,
               g.day + w.starts AS local_start, g.day + w.ends AS local_end
          FROM medreserve.working_hours w
          JOIN medreserve.doctors d ON d.id = w.doctor_id
         CROSS JOIN LATERAL (
               SELECT t::date AS day
                 FROM pg_catalog.generate_series(greatest(w.valid_from, from_date)::timestamp,
                                                 least(w.valid_until, until_date)::timestamp,
                                                 interval '1 day') AS t) g
         WHERE (doctor_ids IS NULL OR w.doctor_id = ANY (doctor_ids))
           AND w.valid_from <= until_date
           AND (w.valid_until IS NULL OR w.valid_until >= from_date)
           AND extract(isodow FROM g.day) = w.weekday),
    -- each distinct wall-clock time of each zone is converted once: a
    -- clinic has few zones and few block boundaries
    instants AS (
        SELECT u.zone, u.local_time, medreserve.local_instant(u.local_time, u.zone) AS instant
          FROM (SELECT b.time_zone, b.local_start FROM blocks b
                UNION
                SELECT b.time_zone, b.local_end FROM blocks b) AS u(zone, local_time))
    SELECT b.doctor_id, s.start_time, b.slot_minutes, b.capacity
      FROM blocks b
      JOIN instants i_start ON i_start.zone = b.time_zone AND i_start.local_time = b.local_start
      JOIN instants i_end ON i_end.zone = b.time_zone AND i_end.local_time = b.local_end
     CROSS JOIN LATERAL pg_catalog.generate_series(
               i_start.instant,
               i_end.instant - pg_catalog.make_interval(mins => b.slot_minutes),
               pg_catalog.make_interval(mins => b.slot_minutes)) AS s(start_time)
$$;
COMMENT ON FUNCTION medreserve.template_slots(integer[], date, date) IS
'Internal: the slots working hours call for on local dates from_date..until_date, with their capacity (DST-aware, half-open blocks)';

/*
 * Make the slots working hours call for, from from_date to until_date, for
 * some doctors (NULL: all): future slots only, none in time off, none
 * overlapping an existing slot (hand-made slots win; a second run makes
 * nothing).  With prune, first remove the doctors' free generated future
 * slots in that range that working hours or time off no longer call for.
 * New slots get their block's capacity; an existing slot keeps its own
 * (medreserve_set_capacity() changes it), so clearing a block and setting it
 * again with another capacity remakes its free slots, and booked ones keep
 * their seats.
 *
 * Locks: SHARE on working_hours and time_off, so a change to either (whose
 * functions take SHARE ROW EXCLUSIVE on both first) waits for the
 * generation to commit (and then sees its slots), and generation waits for
 * a change in progress.  Concurrent generations do not conflict:
 * the insert skips what another one made meanwhile (ON CONFLICT DO NOTHING
 * also covers the exclusion constraint).
 */
CREATE FUNCTION medreserve.generate(doctor_ids integer[], from_date date, until_date date,
                                    prune boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created bigint;
    gone_ids integer[];
    kept_ids integer[];
BEGIN
    LOCK TABLE medreserve.working_hours, medreserve.time_off IN SHARE MODE;

    IF prune THEN
        -- lock the candidates first (bookings lock slots the same way), then
        -- decide in a fresh snapshot which are free
        PERFORM 1 FROM medreserve.slots s
          JOIN medreserve.doctors d ON d.id = s.doctor_id
         WHERE s.doctor_id = ANY (doctor_ids) AND s.generated AND s.start_time > now()
           AND s.start_time < medreserve.local_instant((until_date + 1)::timestamp, d.time_zone)
         ORDER BY s.id FOR UPDATE OF s;

        -- one pass over the template: which free slots go, which booked ones no longer fit
        WITH template AS MATERIALIZED (
            SELECT * FROM medreserve.template_slots(doctor_ids, from_date, until_date)),
        judged AS (
            SELECT s.id, s.start_time,
                   EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                             JOIN medreserve.bookings b ON b.id = bs.booking_id
                            WHERE bs.slot_id = s.id
                              AND medreserve.booking_is_live(b.status, b.expires_at)) AS booked,
                   EXISTS (SELECT 1 FROM template t
                            WHERE t.doctor_id = s.doctor_id AND t.start_time = s.start_time
                              AND t.duration_minutes = s.duration_minutes) AS fits,
                   EXISTS (SELECT 1 FROM medreserve.time_off o
                            WHERE (o.doctor_id = s.doctor_id OR o.doctor_id IS NULL)
                              AND tstzrange(o.from_time, o.until_time)
                                  && medreserve.slot_period(s.start_time, s.duration_minutes)) AS closed
              FROM medreserve.slots s
              JOIN medreserve.doctors d ON d.id = s.doctor_id
             WHERE s.doctor_id = ANY (doctor_ids) AND s.generated AND s.start_time > now()
               AND s.start_time < medreserve.local_instant((until_date + 1)::timestamp, d.time_zone))
        SELECT array_agg(j.id) FILTER (WHERE NOT j.booked AND (NOT j.fits OR j.closed)),
               array_agg(j.id ORDER BY j.start_time) FILTER (WHERE j.booked AND NOT j.fits)
          INTO gone_ids, kept_ids
          FROM judged j;
        -- they are locked: no booking can have taken one since
        DELETE FROM medreserve.slots s WHERE s.id = ANY (gone_ids);

        -- booked slots stay; say which no longer fit the working hours
        IF kept_ids IS NOT NULL THEN
            RAISE NOTICE '% booked slots no longer fit the working hours and were kept', cardinality(kept_ids)
                USING DETAIL = format('Slot ids: %s.', array_to_string(kept_ids[1:20], ', ')),
                      HINT = 'Cancel or move their bookings, then remove the slots with medreserve_remove_slots().';
        END IF;
    END IF;

    INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes, capacity, generated)
    SELECT t.doctor_id, t.start_time, t.duration_minutes, t.capacity, true
      FROM medreserve.template_slots(doctor_ids, from_date, until_date) t
     WHERE t.start_time > now()
       AND NOT EXISTS (SELECT 1 FROM medreserve.time_off o
                        WHERE (o.doctor_id = t.doctor_id OR o.doctor_id IS NULL)
                          AND tstzrange(o.from_time, o.until_time)
                              && medreserve.slot_period(t.start_time, t.duration_minutes))
       -- a slot of the doctor at the same start overlaps: the cheap test
       -- (one hashed pass) first, the GiST probe only for what is left
       AND NOT EXISTS (SELECT 1 FROM medreserve.slots e
                        WHERE e.doctor_id = t.doctor_id AND e.start_time = t.start_time)
       AND NOT EXISTS (SELECT 1 FROM medreserve.slots e
                        WHERE e.doctor_id = t.doctor_id
                          AND medreserve.slot_period(e.start_time, e.duration_minutes)
                              && medreserve.slot_period(t.start_time, t.duration_minutes))
     ORDER BY t.doctor_id, t.start_time
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;
    RETURN created;
END
$$;
COMMENT ON FUNCTION medreserve.generate(integer[], date, date, boolean) IS
'Internal: make the slots working hours call for (skipping time off and existing slots); with prune, first remove free generated slots no longer called for';

/*
 * After a change to a doctor's working hours: the free generated slots up
 * to the horizon follow the new template; booked ones stay (NOTICE).
 */
CREATE FUNCTION medreserve.regenerate(doctor_ids integer[])
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN medreserve.generate(doctor_ids, CURRENT_DATE - 1,
                           (CURRENT_DATE + medreserve.slot_horizon())::date, true);
COMMENT ON FUNCTION medreserve.regenerate(integer[]) IS
'Internal: regenerate the free future slots of some doctors up to the horizon after their working hours changed';

/* --- 3.6 API: working hours ------------------------------------------------- */

CREATE FUNCTION @extschema@.medreserve_set_working_hours(
    doctor_id integer, weekday integer, starts time, ends time,
    slot_minutes integer DEFAULT 15,
    valid_from date DEFAULT CURRENT_DATE,
    valid_until date DEFAULT NULL,
    capacity integer DEFAULT 1)
RETURNS medreserve.working_hours
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    block medreserve.working_hours;
    overlap_detail text;
BEGIN
    PERFORM medreserve.require_writable('medreserve_set_working_hours()');
    IF doctor_id IS NULL OR weekday IS NULL OR starts IS NULL OR ends IS NULL
       OR slot_minutes IS NULL OR valid_from IS NULL OR capacity IS NULL THEN
        RAISE EXCEPTION 'doctor_id, weekday, starts, ends, slot_minutes, valid_from and capacity must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF weekday NOT BETWEEN 1 AND 7 THEN
        RAISE EXCEPTION 'weekday must be between 1 (Monday) and 7 (Sunday)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ends <= starts THEN
        RAISE EXCEPTION 'ends must be after starts'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The block is %s to %s.', starts, ends);
    END IF;
    IF slot_minutes NOT BETWEEN 1 AND 1440 THEN
        RAISE EXCEPTION 'slot_minutes must be between 1 and 1440'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF capacity NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'capacity must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ends - starts < make_interval(mins => slot_minutes) THEN
        RAISE EXCEPTION 'the block is shorter than one slot'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The block is %s to %s; slots last %s minutes.', starts, ends, slot_minutes);
    END IF;
    IF NOT isfinite(valid_from) OR NOT isfinite(valid_until) THEN
        RAISE EXCEPTION 'valid_from and valid_until must be finite'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave valid_until NULL for a block without an end.';
    END IF;
    IF valid_until < valid_from THEN
        RAISE EXCEPTION 'valid_until must not be before valid_from'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM 1 FROM medreserve.doctors d WHERE d.id = medreserve_set_working_hours.doctor_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;
    -- writers of the week's tables take both, in this order, before writing:
    -- they serialise among themselves and with generation (SHARE), so a
    -- later regeneration never waits for a lock another writer holds
    LOCK TABLE medreserve.working_hours, medreserve.time_off IN SHARE ROW EXCLUSIVE MODE;
    BEGIN
        INSERT INTO medreserve.working_hours
               (doctor_id, weekday, starts, ends, slot_minutes, capacity, valid_from, valid_until)
        VALUES (doctor_id, weekday, starts, ends, slot_minutes, capacity, valid_from, valid_until)
        RETURNING * INTO block;
    EXCEPTION WHEN exclusion_violation THEN
        RAISE EXCEPTION 'working hours overlap another block of doctor % on weekday %', doctor_id, weekday
            USING ERRCODE = 'exclusion_violation',
                  DETAIL = format('The block %s to %s overlaps a block valid on some of the same days.', starts, ends),
                  HINT = 'List them with medreserve_list_working_hours(); clear or end the other block first.';
    END;
    PERFORM medreserve.regenerate(ARRAY[block.doctor_id]);
    RETURN block;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_set_working_hours(integer, integer, time, time, integer, date, date, integer) IS
'Add a weekly block of working hours (ISO weekday, half-open starts..ends in the doctor''s zone, slot length, validity, seats per slot); regenerates the doctor''s free slots; 23P01 if it overlaps another block';

CREATE FUNCTION @extschema@.medreserve_clear_working_hours(doctor_id integer, weekday integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed integer;
BEGIN
    PERFORM medreserve.require_writable('medreserve_clear_working_hours()');
    IF doctor_id IS NULL THEN
        RAISE EXCEPTION 'doctor_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF weekday NOT BETWEEN 1 AND 7 THEN
        RAISE EXCEPTION 'weekday must be between 1 (Monday) and 7 (Sunday)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM 1 FROM medreserve.doctors d WHERE d.id = medreserve_clear_working_hours.doctor_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;
    -- writers of the week's tables take both, in this order, before writing:
    -- they serialise among themselves and with generation (SHARE), so a
    -- later regeneration never waits for a lock another writer holds
    LOCK TABLE medreserve.working_hours, medreserve.time_off IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM medreserve.working_hours w
     WHERE w.doctor_id = medreserve_clear_working_hours.doctor_id
       AND (medreserve_clear_working_hours.weekday IS NULL OR w.weekday = medreserve_clear_working_hours.weekday);
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM medreserve.regenerate(ARRAY[doctor_id]);
    RETURN removed;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_clear_working_hours(integer, integer) IS
'Remove a doctor''s working hours (of one weekday, or all); their free generated slots go, booked ones stay; returns how many blocks were removed';

CREATE FUNCTION @extschema@.medreserve_list_working_hours(doctor_id integer)
RETURNS SETOF medreserve.working_hours
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF doctor_id IS NULL THEN
        RAISE EXCEPTION 'doctor_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM medreserve.doctors d WHERE d.id = medreserve_list_working_hours.doctor_id) THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;
    RETURN QUERY
    SELECT w.* FROM medreserve.working_hours w
     WHERE w.doctor_id = medreserve_list_working_hours.doctor_id
     ORDER BY w.weekday, w.starts, w.valid_from;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_list_working_hours(integer) IS
'A doctor''s working hours blocks, by weekday and start';

/* --- 3.7 API: removing slots, time off ------------------------------------- */

/*
 * Remove the free future slots of some doctors (NULL: all) that overlap a
 * period, and list the live bookings that cover slots in it.  The slots are
 * locked first, in id order as bookings lock them, so no booking can take
 * one between the check and the delete; the delete then runs in a fresh
 * snapshot that sees every booking committed before the locks were had.
 * Slots under lapsed holds are free and go.
 */
CREATE FUNCTION medreserve.clear_period(doctor_id integer, from_time timestamptz, until_time timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM 1 FROM medreserve.slots s
     WHERE (clear_period.doctor_id IS NULL OR s.doctor_id = clear_period.doctor_id)
       AND medreserve.slot_period(s.start_time, s.duration_minutes) && tstzrange(from_time, until_time)
       AND s.start_time > now()
     ORDER BY s.id FOR UPDATE;
    DELETE FROM medreserve.slots s
     WHERE (clear_period.doctor_id IS NULL OR s.doctor_id = clear_period.doctor_id)
       AND medreserve.slot_period(s.start_time, s.duration_minutes) && tstzrange(from_time, until_time)
       AND s.start_time > now()
       AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                         JOIN medreserve.bookings b ON b.id = bs.booking_id
                        WHERE bs.slot_id = s.id
                          AND medreserve.booking_is_live(b.status, b.expires_at));
END
$$;
COMMENT ON FUNCTION medreserve.clear_period(integer, timestamptz, timestamptz) IS
'Internal: remove the free future slots of a doctor (NULL: all) overlapping a period, locking them first';

/* Shared checks of a period argument pair: 22004, 22023. */
CREATE FUNCTION medreserve.check_period(from_time timestamptz, until_time timestamptz)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF from_time IS NULL OR until_time IS NULL THEN
        RAISE EXCEPTION 'from_time and until_time must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(from_time) OR NOT isfinite(until_time) THEN
        RAISE EXCEPTION 'from_time and until_time must be finite'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF until_time <= from_time THEN
        RAISE EXCEPTION 'until_time must be after from_time'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The period is %s to %s.', from_time, until_time);
    END IF;
END
$$;
COMMENT ON FUNCTION medreserve.check_period(timestamptz, timestamptz) IS
'Internal: refuse a NULL (22004), infinite or empty (22023) period';

CREATE FUNCTION @extschema@.medreserve_remove_slots(doctor_id integer, from_time timestamptz,
                                                    until_time timestamptz)
RETURNS SETOF medreserve.slots
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM medreserve.require_writable('medreserve_remove_slots()');
    IF doctor_id IS NULL THEN
        RAISE EXCEPTION 'doctor_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM medreserve.check_period(from_time, until_time);
    PERFORM 1 FROM medreserve.doctors d WHERE d.id = medreserve_remove_slots.doctor_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;
    PERFORM medreserve.clear_period(doctor_id, from_time, until_time);
    -- what is left there is held by live bookings
    RETURN QUERY
    SELECT s.* FROM medreserve.slots s
     WHERE s.doctor_id = medreserve_remove_slots.doctor_id
       AND medreserve.slot_period(s.start_time, s.duration_minutes) && tstzrange(from_time, until_time)
       AND s.start_time > now()
     ORDER BY s.start_time;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_remove_slots(integer, timestamptz, timestamptz) IS
'Remove a doctor''s free future slots overlapping [from_time, until_time) (slots under lapsed holds too); returns the slots kept because live bookings cover them';

CREATE FUNCTION @extschema@.medreserve_add_time_off(doctor_id integer, from_time timestamptz,
                                                    until_time timestamptz, reason text DEFAULT NULL)
RETURNS SETOF medreserve.bookings
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM medreserve.require_writable('medreserve_add_time_off()');
    PERFORM medreserve.check_period(from_time, until_time);
    reason := nullif(btrim(reason), '');
    IF reason ~ '[[:cntrl:]]' OR char_length(reason) > 200 THEN
        RAISE EXCEPTION 'reason must be at most 200 characters without control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF doctor_id IS NOT NULL THEN
        PERFORM 1 FROM medreserve.doctors d WHERE d.id = medreserve_add_time_off.doctor_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
        END IF;
    END IF;
    -- writers of the week's tables take both, in this order, before writing:
    -- they serialise among themselves and with generation (SHARE), so a
    -- later regeneration never waits for a lock another writer holds
    LOCK TABLE medreserve.working_hours, medreserve.time_off IN SHARE ROW EXCLUSIVE MODE;
    -- first the time off, then the slots
    INSERT INTO medreserve.time_off (doctor_id, from_time, until_time, reason)
    VALUES (doctor_id, from_time, until_time, reason);
    PERFORM medreserve.clear_period(doctor_id, from_time, until_time);
    -- never cancelled here: the clinic decides what to do with them
    RETURN QUERY
    SELECT b.* FROM medreserve.bookings b
     WHERE medreserve.booking_is_live(b.status, b.expires_at)
       AND EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                     JOIN medreserve.slots s ON s.id = bs.slot_id
                    WHERE bs.booking_id = b.id
                      AND (medreserve_add_time_off.doctor_id IS NULL OR s.doctor_id = medreserve_add_time_off.doctor_id)
                      AND medreserve.slot_period(s.start_time, s.duration_minutes) && tstzrange(from_time, until_time))
     ORDER BY b.slot_id, b.id;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_add_time_off(integer, timestamptz, timestamptz, text) IS
'Time off of a doctor, or a closure of the whole clinic (doctor_id NULL): removes the free slots overlapping [from_time, until_time), stops generation there, and returns the live bookings it overlaps (never cancels them)';

CREATE FUNCTION @extschema@.medreserve_remove_time_off(time_off_id integer)
RETURNS medreserve.time_off
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed medreserve.time_off;
BEGIN
    PERFORM medreserve.require_writable('medreserve_remove_time_off()');
    IF time_off_id IS NULL THEN
        RAISE EXCEPTION 'time_off_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- writers of the week's tables take both, in this order, before writing:
    -- they serialise among themselves and with generation (SHARE), so a
    -- later regeneration never waits for a lock another writer holds
    LOCK TABLE medreserve.working_hours, medreserve.time_off IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM medreserve.time_off o WHERE o.id = time_off_id RETURNING * INTO removed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'time off % does not exist', time_off_id USING ERRCODE = 'PT404';
    END IF;
    -- generation may fill the period again; do it now up to the horizon
    PERFORM medreserve.generate(CASE WHEN removed.doctor_id IS NULL THEN NULL ELSE ARRAY[removed.doctor_id] END,
                                current_date - 1, (current_date + medreserve.slot_horizon())::date);
    RETURN removed;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_remove_time_off(integer) IS
'Remove a time off or closure and generate the slots working hours call for in it, up to the horizon; returns the removed row';

CREATE FUNCTION @extschema@.medreserve_list_time_off(doctor_id integer DEFAULT NULL,
                                                     from_time timestamptz DEFAULT now(),
                                                     until_time timestamptz DEFAULT 'infinity')
RETURNS SETOF medreserve.time_off
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF from_time IS NULL OR until_time IS NULL THEN
        RAISE EXCEPTION 'from_time and until_time must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until_time < from_time THEN
        RAISE EXCEPTION 'until_time must not be before from_time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF doctor_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM medreserve.doctors d WHERE d.id = medreserve_list_time_off.doctor_id) THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;
    RETURN QUERY
    SELECT o.* FROM medreserve.time_off o
     WHERE (medreserve_list_time_off.doctor_id IS NULL OR o.doctor_id IS NULL
            OR o.doctor_id = medreserve_list_time_off.doctor_id)
       AND tstzrange(o.from_time, o.until_time)
           && tstzrange(medreserve_list_time_off.from_time, medreserve_list_time_off.until_time)
     ORDER BY o.from_time, o.id;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_list_time_off(integer, timestamptz, timestamptz) IS
'Time off overlapping [from_time, until_time): of one doctor plus clinic-wide closures, or all when doctor_id is NULL';

/* --- 3.8 API: generation and its pg_cron job ------------------------------ */

CREATE FUNCTION @extschema@.medreserve_generate_slots(
    until_date date DEFAULT (CURRENT_DATE + medreserve.slot_horizon())::date)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created bigint;
BEGIN
    PERFORM medreserve.require_writable('medreserve_generate_slots()');
    IF until_date IS NULL THEN
        RAISE EXCEPTION 'until_date must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(until_date) OR until_date > current_date + interval '100 years' THEN
        RAISE EXCEPTION 'slots cannot be generated more than 100 years ahead'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('until_date is %s.', until_date);
    END IF;
    -- from yesterday: a doctor's local today may have begun before ours
    created := medreserve.generate(NULL, current_date - 1, until_date);
    INSERT INTO medreserve.generation_state AS g (generated_until, last_run_at, last_created)
    VALUES (until_date, now(), created)
    ON CONFLICT (singleton) DO UPDATE
       SET generated_until = excluded.generated_until, last_run_at = excluded.last_run_at, last_created = excluded.last_created;
    RETURN created;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_generate_slots(date) IS
'Make the slots every doctor''s working hours call for, from today up to until_date (default: today + medreserve.slot_horizon), skipping time off and never touching or overlapping an existing slot; returns how many were made (0 on a second run)';

CREATE FUNCTION @extschema@.medreserve_schedule_generation(schedule text DEFAULT '17 3 * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN medreserve.schedule_job('generate', schedule,
        (SELECT format('SELECT %s.medreserve_generate_slots()', quote_ident(n.nspname))
           FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname = 'medreserve'));
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_schedule_generation(text) IS
'Create or replace this database''s pg_cron job running medreserve_generate_slots() (default daily at 03:17); returns the job id; 55000 without pg_cron';

CREATE FUNCTION @extschema@.medreserve_unschedule_generation()
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN medreserve.unschedule_job('generate');
COMMENT ON FUNCTION @extschema@.medreserve_unschedule_generation() IS
'Remove this database''s slot generation job; false when there was none';

/*
 * The generation's part of medreserve_health(): its job, and whether the
 * slots reach as far as the horizon asks (more than two days short, while
 * some working hours are in force, is "fallen behind": the daily job has
 * missed a run).
 */
CREATE FUNCTION medreserve.generation_health()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state medreserve.generation_state;
    wanted date := (current_date + medreserve.slot_horizon())::date;
    in_use boolean;
    problems text[] := '{}';
BEGIN
    SELECT * INTO state FROM medreserve.generation_state;
    in_use := EXISTS (SELECT 1 FROM medreserve.working_hours w
                       WHERE w.valid_until IS NULL OR w.valid_until >= current_date);
    IF in_use AND (state.generated_until IS NULL OR state.generated_until < wanted - 2) THEN
        problems := problems || format('the slot horizon has fallen behind: slots are generated up to %s, the horizon asks for %s',
                                       coalesce(state.generated_until::text, 'nothing'), wanted);
    END IF;
    RETURN jsonb_build_object(
        'job', medreserve.job_health('generate'),
        'generated_until', state.generated_until,
        'last_run_at', state.last_run_at,
        'last_created', state.last_created,
        'problems', to_jsonb(problems));
END
$$;
COMMENT ON FUNCTION medreserve.generation_health() IS
'Internal: the generation job and horizon as jsonb, with problems (for medreserve_health)';


/* --- 3.9 API: search across doctors ---------------------------------------- */

/*
 * The earliest free slots across the doctors that match, in one of two
 * index-driven ways, whichever reads fewer index entries:
 *  - many matching doctors (the usual case: a specialization): walk
 *    slots_start_time_id_idx in start order from from_time, keep the slots of
 *    matching doctors that are free, stop after max_results.  It reads about
 *    max_results / (share of matching doctors' slots) entries.
 *  - few matching doctors (n^2 <= all doctors): for each, the first
 *    max_results free slots from slots_doctor_id_start_time_idx, then the
 *    earliest of those: at most n * max_results entries.
 * The plans are in bench/RESULTS.md.
 */
CREATE FUNCTION @extschema@.medreserve_find_slots(
    specialization text DEFAULT NULL,
    from_time timestamptz DEFAULT now(),
    until_time timestamptz DEFAULT now() + interval '14 days',
    doctor_ids integer[] DEFAULT NULL,
    max_results integer DEFAULT 50)
RETURNS TABLE (slot_id integer, doctor_id integer, doctor_name text, doctor_specialization text,
               doctor_time_zone text, start_time timestamptz, end_time timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matching integer[];
    every_doctor boolean;
    first_start timestamptz := greatest(from_time, now());
BEGIN
    IF from_time IS NULL OR until_time IS NULL OR max_results IS NULL THEN
        RAISE EXCEPTION 'from_time, until_time and max_results must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_results NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(d.id), count(*) = (SELECT count(*) FROM medreserve.doctors)
      INTO matching, every_doctor
      FROM medreserve.doctors d
     WHERE (medreserve_find_slots.specialization IS NULL
            OR lower(d.specialization) = lower(btrim(medreserve_find_slots.specialization)))
       AND (medreserve_find_slots.doctor_ids IS NULL OR d.id = ANY (medreserve_find_slots.doctor_ids));
    IF matching IS NULL THEN
        RETURN;
    END IF;

    IF NOT every_doctor
       AND cardinality(matching)::bigint * cardinality(matching)
           <= (SELECT count(*) FROM medreserve.doctors) THEN
        -- few doctors: the first free slots of each, then the earliest overall
        RETURN QUERY
        SELECT s.id, d.id, d.name, d.specialization, d.time_zone,
               s.start_time, medreserve.slot_end(s.start_time, s.duration_minutes)
          FROM unnest(matching) AS m(id)
          JOIN medreserve.doctors d ON d.id = m.id
         CROSS JOIN LATERAL (
               SELECT f.id, f.start_time, f.duration_minutes
                 FROM medreserve.slots f
                WHERE f.doctor_id = m.id
                  AND f.start_time >= first_start
                  AND f.start_time > now()
                  AND f.start_time < until_time
                  AND medreserve.slot_is_free(f.capacity, f.seats_confirmed,
                                              f.seats_held, f.hold_lapses_at)
                ORDER BY f.start_time
                LIMIT max_results) s
         ORDER BY s.start_time, s.id
         LIMIT max_results;
    ELSE
        -- many doctors: walk all slots in start order, keep the matching free ones
        RETURN QUERY
        SELECT s.id, d.id, d.name, d.specialization, d.time_zone,
               s.start_time, medreserve.slot_end(s.start_time, s.duration_minutes)
          FROM medreserve.slots s
          JOIN medreserve.doctors d ON d.id = s.doctor_id
         WHERE s.start_time >= first_start
           AND s.start_time > now()
           AND s.start_time < until_time
           AND (every_doctor OR s.doctor_id = ANY (matching))
           AND medreserve.slot_is_free(s.capacity, s.seats_confirmed,
                                       s.seats_held, s.hold_lapses_at)
         ORDER BY s.start_time, s.id
         LIMIT max_results;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_find_slots(text, timestamptz, timestamptz, integer[], integer) IS
'The earliest free slots from from_time to until_time (default: the next 14 days) across doctors of a specialization (case-insensitive) and/or of doctor_ids, by start time, with the doctor''s name and zone';

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

/*
 * Book and hold take the patient's phone and the reason for the visit, cancel
 * takes a reason, and reschedule is new (C, src/appointment.c): their
 * signatures are made once, in section 5, with the idempotency key last.
 */

/* Check-in, completion, no-show (C, src/appointment.c) */

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
    -- issue 14's refusals (section 5): PT422 and PT429
    OUT refused_key_reused bigint,
    OUT refused_over_limit bigint,
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
 * slots (an ARRIVED booking can be checked in before its start): since issue
 * 11 it reads the slot's own state (section 2), whose seats_confirmed counts
 * them, so medreserve_available_slots() is defined there alone.
 */

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

/*
 * Idempotency keys (src/retries.c).  A changing call with a key inserts its
 * row first, so a second call with the same key waits on the primary key
 * until the first one's transaction ends, then returns that booking.  The
 * sweep prunes keys older than medreserve.idempotency_window.
 */
CREATE TABLE medreserve.idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL
                 CHECK (pg_catalog.octet_length(key) BETWEEN 1 AND 200
                        AND key OPERATOR(pg_catalog.~) '^[ -~]+$'),
    fingerprint  bytea NOT NULL,
    -- no foreign key: TRUNCATE and deletes of bookings stay as they were; a
    -- replay whose booking was deleted is told so (PT404)
    booking_id   integer,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (scope, key)
);
COMMENT ON TABLE medreserve.idempotency_keys IS
'Idempotency keys of changing calls: per caller scope (patient:<email key> or role:<oid>), the SHA-256 of the call''s arguments and the booking it made or changed; pruned by the sweep after medreserve.idempotency_window';
COMMENT ON COLUMN medreserve.idempotency_keys.scope IS
'Whose key: patient:<email key> for a signed-in patient, role:<oid> for an admin or a caller without identity';
COMMENT ON COLUMN medreserve.idempotency_keys.fingerprint IS
'SHA-256 of the call: operation, slot ids or booking id, and the patient data it writes; the same key with another fingerprint is PT422';
CREATE INDEX idempotency_keys_created_at_idx ON medreserve.idempotency_keys (created_at);
-- Not dumped by pg_dump: a key matters only while its client retries.

/*
 * Every changing call takes an optional idempotency_key (else the
 * Idempotency-Key header of a PostgREST request), as its last argument with
 * a default, so every earlier call form, positional or named, still works;
 * the C entry points are the same.  These are the only 1.2 signatures of
 * book, hold, confirm, cancel and reschedule (issue 13's phone, reason and
 * cancel reason included); section 7 grants them.
 */
DROP FUNCTION @extschema@.medreserve_book(integer, text, text);
DROP FUNCTION @extschema@.medreserve_book(integer[], text, text);
DROP FUNCTION @extschema@.medreserve_hold(integer, text, text);
DROP FUNCTION @extschema@.medreserve_hold(integer[], text, text);
DROP FUNCTION @extschema@.medreserve_confirm(integer);
DROP FUNCTION @extschema@.medreserve_cancel(integer);

CREATE FUNCTION @extschema@.medreserve_book(slot_id integer, patient_name text,
    patient_email text DEFAULT NULL, patient_phone text DEFAULT NULL,
    reason text DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_book_slot'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer, text, text, text, text, text) IS
'Book one slot at once: returns the CONFIRMED booking with its doctor and times, or fails with 23505 if the slot is taken; a retry with the same idempotency_key returns the same booking';

CREATE FUNCTION @extschema@.medreserve_book(slot_ids integer[], patient_name text,
    patient_email text DEFAULT NULL, patient_phone text DEFAULT NULL,
    reason text DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_book_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_book(integer[], text, text, text, text, text) IS
'Book several slots of one doctor as one CONFIRMED booking, all or nothing; a retry with the same idempotency_key returns the same booking';

CREATE FUNCTION @extschema@.medreserve_hold(slot_id integer, patient_name text,
    patient_email text DEFAULT NULL, patient_phone text DEFAULT NULL,
    reason text DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slot'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer, text, text, text, text, text) IS
'Hold one slot: a PENDING booking that lapses after medreserve.hold_duration (at most medreserve.max_hold_duration) unless confirmed; a signed-in patient''s own hold of the slot is returned as it is';

CREATE FUNCTION @extschema@.medreserve_hold(slot_ids integer[], patient_name text,
    patient_email text DEFAULT NULL, patient_phone text DEFAULT NULL,
    reason text DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_hold_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_hold(integer[], text, text, text, text, text) IS
'Hold several slots of one doctor as one PENDING booking, all or nothing; counted in slots against medreserve.max_live_holds_per_patient';

CREATE FUNCTION @extschema@.medreserve_confirm(booking_id integer, idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_confirm'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_confirm(integer, text) IS
'Turn a live hold into a CONFIRMED booking; PT409 if it is not pending or has expired; a retry with the same idempotency_key returns the booking as it is now';

CREATE FUNCTION @extschema@.medreserve_cancel(booking_id integer, reason text DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_cancel'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_cancel(integer, text, text) IS
'Cancel a PENDING or CONFIRMED booking and free its slots; records the reason, who cancelled, when, and whether it was late (medreserve.late_cancel_window); a retry with the same idempotency_key returns the booking as it is now';

CREATE FUNCTION @extschema@.medreserve_reschedule(booking_id integer, slot_id integer,
    idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_reschedule_slot'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_reschedule(integer, integer, text) IS
'Move a live booking that has not started to another slot, all or nothing: returns the new booking (same patient data and status); the old one is CANCELLED as "rescheduled"; a retry with the same idempotency_key returns the new booking';

CREATE FUNCTION @extschema@.medreserve_reschedule(booking_id integer, slot_ids integer[],
    idempotency_key text DEFAULT NULL)
RETURNS medreserve.bookings
AS 'MODULE_PATHNAME', 'medreserve_reschedule_slots'
LANGUAGE c VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.medreserve_reschedule(integer, integer[], text) IS
'Move a live booking that has not started to other slots of one doctor, all or nothing; old and new slots may overlap; a retry with the same idempotency_key returns the new booking';


-- end of section 5


/* ======================================================================
 * 6. Events (outbox, NOTIFY), reminders, FHIR R4.
 * ====================================================================== */

/* --- The outbox: medreserve.events, written with every change (src/events.c) --- */

/*
 * One row per transition, in the transaction that makes it: it exists
 * exactly when the change committed.  No patient data: consumers with the
 * right to read bookings read them by id.  xact_id is the writing
 * transaction's id; consumers are handed only events of transactions that
 * have ended (see medreserve_claim_events()).
 */
CREATE TABLE medreserve.events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    xact_id      xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    type         text NOT NULL,
    booking_id   integer,
    doctor_id    integer,
    slot_ids     integer[],
    status       text,
    detail       jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE medreserve.events IS
'The outbox: one row per change of a booking (held, booked, confirmed, cancelled, expired, ...) or of the slots (slots_generated, slots_removed), written in the same transaction; no patient data';
COMMENT ON COLUMN medreserve.events.xact_id IS
'The writing transaction: an event is handed to consumers only once every transaction up to it has ended, so none is skipped when ids commit out of order';
COMMENT ON COLUMN medreserve.events.detail IS
'from: the previous status; via: sweep or booking for an expired hold (settled by the sweep, or released by a booker who wanted the slot); counts and times for slot events';
CREATE INDEX events_xact_id_id_idx ON medreserve.events (xact_id, id);
CREATE INDEX events_occurred_at_idx ON medreserve.events USING brin (occurred_at);

CREATE TABLE medreserve.event_consumers (
    name             text PRIMARY KEY CHECK (medreserve.name_is_clean(name)),
    cursor_xact_id   xid8 NOT NULL DEFAULT '0',
    cursor_event_id  bigint NOT NULL DEFAULT 0,
    registered_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_claim_at    timestamptz
);
COMMENT ON TABLE medreserve.event_consumers IS
'Named consumers of medreserve.events; each has handed out every event up to (cursor_xact_id, cursor_event_id) in (xact_id, id) order';

CREATE TABLE medreserve.event_deliveries (
    consumer    text NOT NULL REFERENCES medreserve.event_consumers (name) ON DELETE CASCADE,
    event_id    bigint NOT NULL REFERENCES medreserve.events (id) ON DELETE CASCADE,
    claimed_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 1,
    PRIMARY KEY (consumer, event_id)
);
COMMENT ON TABLE medreserve.event_deliveries IS
'Events handed to a consumer and not yet acknowledged; one claimed longer ago than medreserve.event_claim_timeout is handed out again';
-- retention asks whether any consumer still owes an acknowledgement for an
-- event, and deleting an event cascades here: both look up by event alone
CREATE INDEX event_deliveries_event_id_idx ON medreserve.event_deliveries (event_id);

SELECT pg_catalog.pg_extension_config_dump('medreserve.events', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.event_consumers', '');
SELECT pg_catalog.pg_extension_config_dump('medreserve.event_deliveries', '');

CREATE FUNCTION medreserve.booking_event()
RETURNS trigger
AS 'MODULE_PATHNAME', 'medreserve_booking_event'
LANGUAGE c;
COMMENT ON FUNCTION medreserve.booking_event() IS
'Trigger: write the event of a booking''s transition to medreserve.events (unless medreserve.events is off)';

-- AFTER INSERT: the booking_slots rows of the same statement exist by then.
CREATE TRIGGER bookings_event_created AFTER INSERT ON medreserve.bookings
    FOR EACH ROW EXECUTE FUNCTION medreserve.booking_event();
-- BEFORE UPDATE: the booking's booking_slots rows still exist (a cancel or
-- an expiry deletes them later in the same statement); named to fire last.
-- A reschedule (issue 13) cancels the old booking, makes a new one, and links
-- the new one to the old: that link is the "rescheduled" event.
CREATE TRIGGER zz_bookings_event_changed
    BEFORE UPDATE OF status, rescheduled_from ON medreserve.bookings
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR (OLD.rescheduled_from IS NULL AND NEW.rescheduled_from IS NOT NULL))
    EXECUTE FUNCTION medreserve.booking_event();

CREATE FUNCTION medreserve.ring_doorbell(event_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'medreserve_ring_doorbell_sql'
LANGUAGE c VOLATILE STRICT;
COMMENT ON FUNCTION medreserve.ring_doorbell(bigint) IS
'Internal: note an event of this transaction; just before it commits, the transaction rings the doorbell (NOTIFY medreserve_events, payload: its first event id) if a consumer waits';

CREATE FUNCTION medreserve.arm_doorbell()
RETURNS void
AS 'MODULE_PATHNAME', 'medreserve_arm_doorbell_sql'
LANGUAGE c VOLATILE;
COMMENT ON FUNCTION medreserve.arm_doorbell() IS
'Internal: a consumer of this database is caught up and waits: the next transaction with events rings the doorbell (shared memory; a no-op when medreserve is not preloaded)';

CREATE FUNCTION medreserve.require_read_committed(action text)
RETURNS void
AS 'MODULE_PATHNAME', 'medreserve_require_read_committed_sql'
LANGUAGE c STABLE STRICT;
COMMENT ON FUNCTION medreserve.require_read_committed(text) IS
'Internal: refuse (25000) outside READ COMMITTED, naming the action';

CREATE FUNCTION medreserve.events_wanted()
RETURNS boolean
AS 'MODULE_PATHNAME', 'medreserve_events_wanted_sql'
LANGUAGE c VOLATILE;
COMMENT ON FUNCTION medreserve.events_wanted() IS
'Internal: whether a change writes events (medreserve.events is on and the rows are not loaded by COPY, as a restore does)';

/*
 * Slots generated or removed: one event per statement and doctor, from the
 * transition table (set-based: adding 10,000 slots writes one event).
 */
CREATE FUNCTION medreserve.slot_events()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_event bigint;
BEGIN
    IF NOT medreserve.events_wanted() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH written AS (
            INSERT INTO medreserve.events (type, doctor_id, slot_ids, detail)
            SELECT 'slots_generated', n.doctor_id, pg_catalog.array_agg(n.id ORDER BY n.id),
                   pg_catalog.jsonb_build_object('count', pg_catalog.count(*),
                                                 'first_start', pg_catalog.min(n.start_time),
                                                 'last_start', pg_catalog.max(n.start_time))
              FROM new_slots n GROUP BY n.doctor_id ORDER BY n.doctor_id
            RETURNING id)
        SELECT pg_catalog.min(w.id) INTO first_event FROM written w;
    ELSE
        WITH written AS (
            INSERT INTO medreserve.events (type, doctor_id, slot_ids, detail)
            SELECT 'slots_removed', o.doctor_id, pg_catalog.array_agg(o.id ORDER BY o.id),
                   pg_catalog.jsonb_build_object('count', pg_catalog.count(*),
                                                 'first_start', pg_catalog.min(o.start_time),
                                                 'last_start', pg_catalog.max(o.start_time))
              FROM old_slots o GROUP BY o.doctor_id ORDER BY o.doctor_id
            RETURNING id)
        SELECT pg_catalog.min(w.id) INTO first_event FROM written w;
    END IF;
    IF first_event IS NOT NULL THEN
        PERFORM medreserve.ring_doorbell(first_event);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION medreserve.slot_events() IS
'Trigger: one slots_generated or slots_removed event per statement and doctor, listing the slots';

CREATE TRIGGER slots_event_generated AFTER INSERT ON medreserve.slots
    REFERENCING NEW TABLE AS new_slots
    FOR EACH STATEMENT EXECUTE FUNCTION medreserve.slot_events();
CREATE TRIGGER slots_event_removed AFTER DELETE ON medreserve.slots
    REFERENCING OLD TABLE AS old_slots
    FOR EACH STATEMENT EXECUTE FUNCTION medreserve.slot_events();

/* --- medreserve_verify() learns the outbox's invariant --- */

-- Events stamped by a transaction this cluster has not reached (restored
-- from another cluster): consumers would not get them in order.
CREATE OR REPLACE FUNCTION medreserve.verify_outbox(
    OUT problem text, OUT booking_id integer, OUT slot_id integer)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('events with transaction ids ahead of this cluster: %s (restored from another cluster? register the consumers again)', count(*)),
           NULL::integer, NULL::integer
      FROM medreserve.events e
     WHERE e.xact_id >= pg_snapshot_xmax(pg_current_snapshot())
    HAVING count(*) > 0
$$;
COMMENT ON FUNCTION medreserve.verify_outbox() IS
'Internal: the outbox''s rows of medreserve_verify()';

/*
 * Time off added or removed (issue 12): one event per row, from the
 * transition table.  The reason stays out (it may be personal).
 */
CREATE FUNCTION medreserve.time_off_events()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_event bigint;
BEGIN
    IF NOT medreserve.events_wanted() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH written AS (
            INSERT INTO medreserve.events (type, doctor_id, detail)
            SELECT 'time_off_added', n.doctor_id,
                   pg_catalog.jsonb_build_object('time_off_id', n.id, 'from', n.from_time,
                                                 'until', n.until_time,
                                                 'whole_clinic', n.doctor_id IS NULL)
              FROM new_time_off n ORDER BY n.id
            RETURNING id)
        SELECT pg_catalog.min(w.id) INTO first_event FROM written w;
    ELSE
        WITH written AS (
            INSERT INTO medreserve.events (type, doctor_id, detail)
            SELECT 'time_off_removed', o.doctor_id,
                   pg_catalog.jsonb_build_object('time_off_id', o.id, 'from', o.from_time,
                                                 'until', o.until_time,
                                                 'whole_clinic', o.doctor_id IS NULL)
              FROM old_time_off o ORDER BY o.id
            RETURNING id)
        SELECT pg_catalog.min(w.id) INTO first_event FROM written w;
    END IF;
    IF first_event IS NOT NULL THEN
        PERFORM medreserve.ring_doorbell(first_event);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION medreserve.time_off_events() IS
'Trigger: one time_off_added or time_off_removed event per row of medreserve.time_off (without its reason)';

CREATE TRIGGER time_off_event_added AFTER INSERT ON medreserve.time_off
    REFERENCING NEW TABLE AS new_time_off
    FOR EACH STATEMENT EXECUTE FUNCTION medreserve.time_off_events();
CREATE TRIGGER time_off_event_removed AFTER DELETE ON medreserve.time_off
    REFERENCING OLD TABLE AS old_time_off
    FOR EACH STATEMENT EXECUTE FUNCTION medreserve.time_off_events();

/* --- Consumers: register, claim, acknowledge --- */

-- A registered consumer's row, locked; PT404 when there is none.
CREATE FUNCTION medreserve.lock_consumer(consumer text)
RETURNS medreserve.event_consumers
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_row medreserve.event_consumers;
BEGIN
    SELECT c.* INTO found_row FROM medreserve.event_consumers c
     WHERE c.name = medreserve.clean_name(lock_consumer.consumer, 'consumer')
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'event consumer "%" does not exist', consumer
            USING ERRCODE = 'PT404',
                  HINT = 'Register it with medreserve_register_consumer().';
    END IF;
    RETURN found_row;
END
$$;
COMMENT ON FUNCTION medreserve.lock_consumer(text) IS
'Internal: the row of a registered event consumer, locked FOR UPDATE (its claims queue on it); PT404 when not registered';

CREATE FUNCTION @extschema@.medreserve_register_consumer(consumer text, from_start boolean DEFAULT false)
RETURNS medreserve.event_consumers
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    consumer_name text := medreserve.clean_name(consumer, 'consumer');
    horizon xid8;
    start_xact xid8 := '0';
    start_event bigint := 0;
    registered medreserve.event_consumers;
BEGIN
    PERFORM medreserve.require_writable('medreserve_register_consumer()');
    IF from_start IS NULL THEN
        RAISE EXCEPTION 'from_start must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT from_start THEN
        -- start after every event of the transactions that have ended
        horizon := pg_snapshot_xmin(pg_current_snapshot());
        SELECT e.xact_id, e.id INTO start_xact, start_event
          FROM medreserve.events e WHERE e.xact_id < horizon
         ORDER BY e.xact_id DESC, e.id DESC LIMIT 1;
    END IF;
    INSERT INTO medreserve.event_consumers (name, cursor_xact_id, cursor_event_id)
    VALUES (consumer_name, coalesce(start_xact, '0'), coalesce(start_event, 0))
    ON CONFLICT (name) DO NOTHING;
    SELECT c.* INTO registered FROM medreserve.event_consumers c WHERE c.name = consumer_name;
    PERFORM medreserve.arm_doorbell();
    RETURN registered;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_register_consumer(text, boolean) IS
'Register a named event consumer (no-op when it exists): it gets the events of transactions that commit from now on, or every stored event with from_start; retention keeps what it has not acknowledged';

CREATE FUNCTION @extschema@.medreserve_unregister_consumer(consumer text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM medreserve.require_writable('medreserve_unregister_consumer()');
    DELETE FROM medreserve.event_consumers c
     WHERE c.name = medreserve.clean_name(medreserve_unregister_consumer.consumer, 'consumer');
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_unregister_consumer(text) IS
'Forget an event consumer and its unacknowledged claims; false when there was none';

/*
 * The gap trap: an event id is taken when the row is written, long before
 * the transaction commits, so ids commit out of order and a consumer that
 * remembered "the last id I saw" would skip an event committed later with a
 * smaller id.  Here an event is handed out only once its transaction and
 * every older one have ended: its xact_id is below the xmin of the current
 * snapshot (pg_snapshot_xmin(pg_current_snapshot())), the oldest transaction
 * id still running.  Any event not yet visible belongs to a transaction
 * still running or not yet begun, whose id is at least that xmin; every
 * event handed out is below it.  So handing out in (xact_id, id) order and
 * keeping a cursor at the last one handed out never skips anything.  The
 * cost: a long-running writing transaction holds delivery back until it
 * ends.  Claims of one consumer queue on its row; claims of different
 * consumers do not meet.
 */
CREATE FUNCTION @extschema@.medreserve_claim_events(consumer text, max_events integer DEFAULT 100)
RETURNS TABLE (id bigint, occurred_at timestamptz, type text, booking_id integer,
               doctor_id integer, slot_ids integer[], status text, detail jsonb,
               delivery_attempt integer)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me medreserve.event_consumers;
    horizon xid8;
    claim_timeout interval := pg_catalog.current_setting('medreserve.event_claim_timeout')::interval;
    again bigint[];
    fresh_ids bigint[];
    last_xact xid8;
    last_event bigint;
BEGIN
    PERFORM medreserve.require_writable('medreserve_claim_events()');
    PERFORM medreserve.require_read_committed('medreserve_claim_events()');
    IF max_events IS NULL THEN
        RAISE EXCEPTION 'max_events must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_events NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_events must be between 1 and 10000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    me := medreserve.lock_consumer(consumer);
    -- taken after the lock: every transaction with a smaller id has ended
    horizon := pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());

    -- first, claims that were not acknowledged in time
    WITH overdue AS (
        SELECT d.event_id FROM medreserve.event_deliveries d
         WHERE d.consumer = me.name AND d.claimed_at <= pg_catalog.now() - claim_timeout
         ORDER BY d.event_id LIMIT max_events),
    renewed AS (
        UPDATE medreserve.event_deliveries d
           SET claimed_at = pg_catalog.now(), attempts = d.attempts + 1
          FROM overdue o
         WHERE d.consumer = me.name AND d.event_id = o.event_id
        RETURNING d.event_id)
    SELECT coalesce(pg_catalog.array_agg(r.event_id), '{}') INTO again FROM renewed r;

    -- then events not handed out yet, in (xact_id, id) order, up to the horizon
    WITH fresh AS (
        SELECT e.id, e.xact_id FROM medreserve.events e
         WHERE (e.xact_id, e.id) > (me.cursor_xact_id, me.cursor_event_id)
           AND e.xact_id < horizon
         ORDER BY e.xact_id, e.id
         LIMIT max_events - pg_catalog.cardinality(again)),
    claimed AS (
        INSERT INTO medreserve.event_deliveries (consumer, event_id, claimed_at)
        SELECT me.name, f.id, pg_catalog.now() FROM fresh f
        RETURNING event_id)
    SELECT pg_catalog.array_agg(f.id),
           (pg_catalog.array_agg(f.xact_id ORDER BY f.xact_id DESC, f.id DESC))[1],
           (pg_catalog.array_agg(f.id ORDER BY f.xact_id DESC, f.id DESC))[1]
      INTO fresh_ids, last_xact, last_event
      FROM fresh f;

    -- caught up: the consumer will wait, so the next transaction with events rings
    IF cardinality(again) + coalesce(cardinality(fresh_ids), 0) < max_events THEN
        PERFORM medreserve.arm_doorbell();
    END IF;

    UPDATE medreserve.event_consumers c
       SET cursor_xact_id = coalesce(last_xact, c.cursor_xact_id),
           cursor_event_id = coalesce(last_event, c.cursor_event_id),
           last_claim_at = pg_catalog.now()
     WHERE c.name = me.name;

    RETURN QUERY
    SELECT e.id, e.occurred_at, e.type, e.booking_id, e.doctor_id, e.slot_ids, e.status,
           e.detail, d.attempts
      FROM medreserve.event_deliveries d
      JOIN medreserve.events e ON e.id = d.event_id
     WHERE d.consumer = me.name
       AND d.event_id = ANY (again || coalesce(fresh_ids, '{}'))
     ORDER BY e.id;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_claim_events(text, integer) IS
'Hand a consumer up to max_events events: first those it claimed longer than medreserve.event_claim_timeout ago without acknowledging, then new ones of transactions that have all ended (never one that could be overtaken by an earlier id committing later); concurrent workers of one consumer never get the same event, except on redelivery';

CREATE FUNCTION @extschema@.medreserve_ack_events(consumer text, up_to_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acknowledged bigint;
BEGIN
    PERFORM medreserve.require_writable('medreserve_ack_events()');
    IF up_to_id IS NULL THEN
        RAISE EXCEPTION 'up_to_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM 1 FROM medreserve.event_consumers c
     WHERE c.name = medreserve.clean_name(medreserve_ack_events.consumer, 'consumer');
    IF NOT FOUND THEN
        PERFORM medreserve.lock_consumer(consumer);   -- raises PT404
    END IF;
    DELETE FROM medreserve.event_deliveries d
     WHERE d.consumer = medreserve.clean_name(medreserve_ack_events.consumer, 'consumer')
       AND d.event_id <= up_to_id;
    GET DIAGNOSTICS acknowledged = ROW_COUNT;
    RETURN acknowledged;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_ack_events(text, bigint) IS
'Acknowledge every event the consumer has claimed with an id up to up_to_id (for a single worker); returns how many; several workers acknowledge by id list';

CREATE FUNCTION @extschema@.medreserve_ack_events(consumer text, event_ids bigint[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acknowledged bigint;
BEGIN
    PERFORM medreserve.require_writable('medreserve_ack_events()');
    IF event_ids IS NULL THEN
        RAISE EXCEPTION 'event_ids must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM 1 FROM medreserve.event_consumers c
     WHERE c.name = medreserve.clean_name(medreserve_ack_events.consumer, 'consumer');
    IF NOT FOUND THEN
        PERFORM medreserve.lock_consumer(consumer);   -- raises PT404
    END IF;
    DELETE FROM medreserve.event_deliveries d
     WHERE d.consumer = medreserve.clean_name(medreserve_ack_events.consumer, 'consumer')
       AND d.event_id = ANY (event_ids);
    GET DIAGNOSTICS acknowledged = ROW_COUNT;
    RETURN acknowledged;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_ack_events(text, bigint[]) IS
'Acknowledge exactly the listed events the consumer has claimed (what each of several workers does); returns how many';

/* --- Reminders --- */

-- No foreign key to bookings: a TRUNCATE of bookings would have to cascade
-- here, and a reminder row of a booking that is gone is harmless.
CREATE TABLE medreserve.reminders_sent (
    booking_id  integer NOT NULL,
    channel     text NOT NULL CHECK (medreserve.name_is_clean(channel)),
    sent_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (booking_id, channel)
);
COMMENT ON TABLE medreserve.reminders_sent IS
'Which booking had a reminder on which channel (email, sms, ...), so each is reminded once per channel';
SELECT pg_catalog.pg_extension_config_dump('medreserve.reminders_sent', '');

/*
 * When a booking takes place: from the start of its first slot to the end of
 * its last, with its slots (kept: a booking that released its slots keeps its
 * first one).  The FHIR Appointment lists these slots.
 */
CREATE FUNCTION medreserve.booking_period(booking_id integer,
    OUT starts_at timestamptz, OUT ends_at timestamptz, OUT doctor_id integer,
    OUT slot_ids integer[])
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- a booking that no longer covers slots (cancelled, expired) keeps its first slot
    SELECT min(s.start_time), max(medreserve.slot_end(s.start_time, s.duration_minutes)),
           min(s.doctor_id), array_agg(s.id ORDER BY s.start_time)
      FROM medreserve.slots s
     WHERE s.id IN (SELECT b.slot_id FROM medreserve.bookings b
                     WHERE b.id = booking_period.booking_id
                    UNION ALL
                    SELECT bs.slot_id FROM medreserve.booking_slots bs
                     WHERE bs.booking_id = booking_period.booking_id)
$$;
COMMENT ON FUNCTION medreserve.booking_period(integer) IS
'Internal: start of the first and end of the last slot of a booking, its doctor and slots (a booking that released its slots keeps its first one); the FHIR Appointment lists these slots';

CREATE FUNCTION @extschema@.medreserve_due_reminders(within interval DEFAULT '24 hours',
                                                     channel text DEFAULT 'default')
RETURNS TABLE (booking_id integer, starts_at timestamptz, ends_at timestamptz,
               doctor_id integer, doctor_name text, patient_name text, patient_email text,
               patient_phone text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    channel_name text := medreserve.clean_name(channel, 'channel');
BEGIN
    IF within IS NULL THEN
        RAISE EXCEPTION 'within must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF within <= interval '0' OR within > interval '366 days' THEN
        RAISE EXCEPTION 'within must be positive and at most 366 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT b.id, b.starts_at, b.ends_at, b.doctor_id, d.name, b.patient_name, b.patient_email,
           b.patient_phone
      FROM medreserve.bookings b
      JOIN medreserve.doctors d ON d.id = b.doctor_id
     WHERE b.status = 'CONFIRMED'
       AND b.starts_at > pg_catalog.now()
       AND b.starts_at <= pg_catalog.now() + within
       AND NOT EXISTS (SELECT 1 FROM medreserve.reminders_sent r
                        WHERE r.booking_id = b.id AND r.channel = channel_name)
     ORDER BY b.starts_at, b.id;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_due_reminders(interval, text) IS
'Admins: confirmed bookings starting within the window (default 24 hours) that had no reminder on the channel yet, with the patient''s contact';

CREATE FUNCTION @extschema@.medreserve_mark_reminded(booking_id integer, channel text DEFAULT 'default')
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    channel_name text := medreserve.clean_name(channel, 'channel');
    booking_status text;
BEGIN
    PERFORM medreserve.require_writable('medreserve_mark_reminded()');
    IF booking_id IS NULL THEN
        RAISE EXCEPTION 'booking_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT b.status INTO booking_status FROM medreserve.bookings b
     WHERE b.id = medreserve_mark_reminded.booking_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'booking % does not exist', booking_id USING ERRCODE = 'PT404';
    END IF;
    IF booking_status <> 'CONFIRMED' THEN
        RAISE EXCEPTION 'booking % is not confirmed', booking_id
            USING ERRCODE = 'PT409',
                  DETAIL = format('Its status is %s; only confirmed bookings are reminded.', booking_status);
    END IF;
    INSERT INTO medreserve.reminders_sent (booking_id, channel)
    VALUES (medreserve_mark_reminded.booking_id, channel_name)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_mark_reminded(integer, text) IS
'Admins: record that a confirmed booking was reminded on a channel; false when it already was';

/* --- FHIR R4: Practitioner, Schedule, Slot, Appointment, $find as a Bundle --- */

-- A FHIR instant in UTC: 2026-12-01T09:30:00Z (fractions of a second only when there are any).
CREATE FUNCTION medreserve.fhir_instant(t timestamptz)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
       || CASE WHEN pg_catalog.date_trunc('second', t) = t THEN ''
               ELSE pg_catalog.to_char(t AT TIME ZONE 'UTC', '.US') END
       || 'Z';
COMMENT ON FUNCTION medreserve.fhir_instant(timestamptz) IS
'Internal: a timestamp as a FHIR instant in UTC';

CREATE FUNCTION medreserve.fhir_slot_resource(s medreserve.slots)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'resourceType', 'Slot',
        'id', s.id::text,
        'schedule', pg_catalog.jsonb_build_object('reference', 'Schedule/' || s.doctor_id),
        -- issue 11: the slot's own state (a group session has several holders)
        'status', medreserve.slot_status(s.capacity, s.seats_confirmed,
                                         s.seats_held, s.hold_lapses_at),
        'start', medreserve.fhir_instant(s.start_time),
        'end', medreserve.fhir_instant(medreserve.slot_end(s.start_time, s.duration_minutes)))
$$;
COMMENT ON FUNCTION medreserve.fhir_slot_resource(medreserve.slots) IS
'Internal: a slot as a FHIR R4 Slot (free, busy-tentative under a live hold, busy)';

CREATE FUNCTION medreserve.fhir_schedule_resource(d medreserve.doctors)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'resourceType', 'Schedule',
        'id', d.id::text,
        'active', true,
        'specialty', CASE WHEN d.specialization IS NOT NULL
                          THEN pg_catalog.jsonb_build_array(
                                   pg_catalog.jsonb_build_object('text', d.specialization)) END,
        'actor', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                     'reference', 'Practitioner/' || d.id, 'display', d.name))))
$$;
COMMENT ON FUNCTION medreserve.fhir_schedule_resource(medreserve.doctors) IS
'Internal: a doctor''s slots as a FHIR R4 Schedule whose actor is the Practitioner';

-- The doctor row, or PT404.
CREATE FUNCTION medreserve.find_doctor(doctor_id integer)
RETURNS medreserve.doctors
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_row medreserve.doctors;
BEGIN
    IF doctor_id IS NULL THEN
        RAISE EXCEPTION 'doctor_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT d.* INTO found_row FROM medreserve.doctors d WHERE d.id = find_doctor.doctor_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'doctor % does not exist', doctor_id USING ERRCODE = 'PT404';
    END IF;
    RETURN found_row;
END
$$;
COMMENT ON FUNCTION medreserve.find_doctor(integer) IS
'Internal: a doctor''s row; 22004 on NULL, PT404 when there is none';

CREATE FUNCTION @extschema@.medreserve_fhir_practitioner(doctor_id integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d medreserve.doctors := medreserve.find_doctor(doctor_id);
BEGIN
    RETURN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'resourceType', 'Practitioner',
        'id', d.id::text,
        'active', true,
        'name', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('text', d.name)),
        'qualification', CASE WHEN d.specialization IS NOT NULL
                              THEN pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                                       'code', pg_catalog.jsonb_build_object('text', d.specialization))) END));
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_fhir_practitioner(integer) IS
'A doctor as a FHIR R4 Practitioner (specialization as qualification text); PT404 when there is none';

CREATE FUNCTION @extschema@.medreserve_fhir_schedule(doctor_id integer)
RETURNS jsonb
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN medreserve.fhir_schedule_resource(medreserve.find_doctor(doctor_id));
COMMENT ON FUNCTION @extschema@.medreserve_fhir_schedule(integer) IS
'A doctor''s slots as a FHIR R4 Schedule (id = the doctor id); PT404 when there is no such doctor';

CREATE FUNCTION @extschema@.medreserve_fhir_slot(slot_id integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s medreserve.slots;
BEGIN
    IF slot_id IS NULL THEN
        RAISE EXCEPTION 'slot_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT sl.* INTO s FROM medreserve.slots sl WHERE sl.id = medreserve_fhir_slot.slot_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'slot % does not exist', slot_id USING ERRCODE = 'PT404';
    END IF;
    RETURN medreserve.fhir_slot_resource(s);
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_fhir_slot(integer) IS
'A slot as a FHIR R4 Slot: free, busy-tentative (a live hold) or busy; PT404 when there is none';

/*
 * A booking as an Appointment.  The patient is a contained Patient named by
 * a participant; admins see the email as telecom, the patient who booked sees
 * the booking without it, anyone else gets PT404 as if it did not exist.
 */
CREATE FUNCTION @extschema@.medreserve_fhir_appointment(booking_id integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b medreserve.bookings;
    d medreserve.doctors;
    p record;
    is_admin boolean := medreserve.caller_is_admin();
    signed_in_email text := medreserve.current_patient_email();
    fhir_status text;
    reason text;
BEGIN
    IF booking_id IS NULL THEN
        RAISE EXCEPTION 'booking_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT is_admin AND signed_in_email IS NULL THEN
        RAISE EXCEPTION 'only a signed-in patient can read an appointment'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'An email claim counts only in a request that came through a member of medreserve_gateway.';
    END IF;
    SELECT bk.* INTO b FROM medreserve.bookings bk
     WHERE bk.id = medreserve_fhir_appointment.booking_id
       AND (is_admin OR medreserve.email_key(bk.patient_email) = medreserve.email_key(signed_in_email));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'booking % does not exist', booking_id USING ERRCODE = 'PT404';
    END IF;
    p := medreserve.booking_period(b.id);
    d := medreserve.find_doctor(coalesce(b.doctor_id, p.doctor_id));

    -- the listing's state (issue 13) mapped to FHIR's Appointment.status
    CASE medreserve.booking_state(b.status, b.expires_at)
        WHEN 'PENDING' THEN
            fhir_status := 'pending';
        WHEN 'EXPIRED', 'FAILED' THEN
            fhir_status := 'cancelled';
            reason := 'The hold lapsed before it was confirmed.';
        WHEN 'CONFIRMED' THEN
            fhir_status := 'booked';
        WHEN 'CANCELLED' THEN
            fhir_status := 'cancelled';
            reason := coalesce(b.cancel_reason, 'The booking was cancelled.');
        WHEN 'ARRIVED' THEN
            fhir_status := 'arrived';
        WHEN 'FULFILLED' THEN
            fhir_status := 'fulfilled';
        WHEN 'NOSHOW' THEN
            fhir_status := 'noshow';
        ELSE
            RAISE EXCEPTION 'booking % has status %, which has no FHIR Appointment status', b.id, b.status
                USING ERRCODE = 'internal_error';
    END CASE;

    RETURN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'resourceType', 'Appointment',
        'id', b.id::text,
        'contained', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'resourceType', 'Patient',
            'id', 'patient',
            'name', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('text', b.patient_name)),
            'telecom', CASE WHEN is_admin AND (b.patient_email IS NOT NULL OR b.patient_phone IS NOT NULL)
                            THEN (SELECT pg_catalog.jsonb_agg(t) FROM (
                                      SELECT pg_catalog.jsonb_build_object('system', 'email', 'value', b.patient_email) AS t
                                       WHERE b.patient_email IS NOT NULL
                                      UNION ALL
                                      SELECT pg_catalog.jsonb_build_object('system', 'phone', 'value', b.patient_phone)
                                       WHERE b.patient_phone IS NOT NULL) c) END)),
        'status', fhir_status,
        'cancelationReason', CASE WHEN reason IS NOT NULL
                                  THEN pg_catalog.jsonb_build_object('text', reason) END,
        'start', medreserve.fhir_instant(coalesce(b.starts_at, p.starts_at)),
        'end', medreserve.fhir_instant(coalesce(b.ends_at, p.ends_at)),
        'minutesDuration', (extract(epoch FROM coalesce(b.ends_at, p.ends_at)
                                              - coalesce(b.starts_at, p.starts_at)) / 60)::integer,
        'reasonCode', CASE WHEN b.reason IS NOT NULL
                           THEN pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('text', b.reason)) END,
        'slot', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('reference', 'Slot/' || sid)
                                             ORDER BY ord)
                   FROM unnest(p.slot_ids) WITH ORDINALITY AS u(sid, ord)),
        'created', medreserve.fhir_instant(b.created_at),
        'participant', pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object(
                'actor', pg_catalog.jsonb_build_object('reference', 'Practitioner/' || d.id,
                                                       'display', d.name),
                'required', 'required', 'status', 'accepted'),
            pg_catalog.jsonb_build_object(
                'actor', pg_catalog.jsonb_build_object('reference', '#patient',
                                                       'display', b.patient_name),
                'required', 'required',
                'status', CASE fhir_status WHEN 'pending' THEN 'tentative' ELSE 'accepted' END))));
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_fhir_appointment(integer) IS
'A booking as a FHIR R4 Appointment (pending, booked, cancelled with a reason, ...); the patient''s email as telecom only for admins; a patient reads only their own (PT404 otherwise)';

CREATE FUNCTION @extschema@.medreserve_fhir_find(
    specialization text DEFAULT NULL,
    from_time timestamptz DEFAULT pg_catalog.now(),
    until_time timestamptz DEFAULT pg_catalog.now() + interval '7 days',
    doctor_id integer DEFAULT NULL,
    max_slots integer DEFAULT 500)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matches jsonb;
    includes jsonb;
    total integer;
BEGIN
    IF from_time IS NULL OR until_time IS NULL OR max_slots IS NULL THEN
        RAISE EXCEPTION 'from_time, until_time and max_slots must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_slots NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_slots must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF doctor_id IS NOT NULL THEN
        PERFORM medreserve.find_doctor(doctor_id);
    END IF;

    WITH found AS (
        SELECT s FROM medreserve.slots s
          JOIN @extschema@.medreserve_list_doctors(medreserve_fhir_find.specialization) d
            ON d.id = s.doctor_id
         WHERE (medreserve_fhir_find.doctor_id IS NULL OR s.doctor_id = medreserve_fhir_find.doctor_id)
           AND s.start_time >= greatest(from_time, pg_catalog.now())
           AND s.start_time < until_time
           AND s.start_time > pg_catalog.now()
           AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
         ORDER BY s.start_time, s.id
         LIMIT max_slots)
    SELECT count(*)::integer,
           pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'resource', medreserve.fhir_slot_resource(f.s),
               'search', pg_catalog.jsonb_build_object('mode', 'match'))
               ORDER BY (f.s).start_time, (f.s).id),
           (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                       'resource', medreserve.fhir_schedule_resource(d),
                       'search', pg_catalog.jsonb_build_object('mode', 'include'))
                       ORDER BY d.id)
              FROM medreserve.doctors d
             WHERE d.id IN (SELECT (f2.s).doctor_id FROM found f2))
      INTO total, matches, includes
      FROM found f;

    RETURN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'resourceType', 'Bundle',
        'type', 'searchset',
        'total', total,
        'entry', CASE WHEN total > 0 THEN matches || includes END));
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_fhir_find(text, timestamptz, timestamptz, integer, integer) IS
'IHE ITI Scheduling $find: free future slots (of a specialization and/or doctor, between from_time and until_time, at most max_slots) as a FHIR R4 Bundle searchset of Slots, with their Schedules included';

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

-- issue 13: the appointment's life (book, hold, cancel and reschedule with
-- the idempotency_key that section 5 appended)
REVOKE ALL ON FUNCTION
    @extschema@.medreserve_book(integer, text, text, text, text, text),
    @extschema@.medreserve_book(integer[], text, text, text, text, text),
    @extschema@.medreserve_hold(integer, text, text, text, text, text),
    @extschema@.medreserve_hold(integer[], text, text, text, text, text),
    @extschema@.medreserve_cancel(integer, text, text),
    @extschema@.medreserve_reschedule(integer, integer, text),
    @extschema@.medreserve_reschedule(integer, integer[], text),
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
    @extschema@.medreserve_book(integer, text, text, text, text, text),
    @extschema@.medreserve_book(integer[], text, text, text, text, text),
    @extschema@.medreserve_hold(integer, text, text, text, text, text),
    @extschema@.medreserve_hold(integer[], text, text, text, text, text),
    @extschema@.medreserve_cancel(integer, text, text),
    @extschema@.medreserve_reschedule(integer, integer, text),
    @extschema@.medreserve_reschedule(integer, integer[], text),
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

-- issue 12: a clinic's week
REVOKE ALL ON FUNCTION
    @extschema@.medreserve_add_doctor(text, text, text),
    @extschema@.medreserve_set_working_hours(integer, integer, time, time, integer, date, date, integer),
    @extschema@.medreserve_clear_working_hours(integer, integer),
    @extschema@.medreserve_list_working_hours(integer),
    @extschema@.medreserve_remove_slots(integer, timestamptz, timestamptz),
    @extschema@.medreserve_add_time_off(integer, timestamptz, timestamptz, text),
    @extschema@.medreserve_remove_time_off(integer),
    @extschema@.medreserve_list_time_off(integer, timestamptz, timestamptz),
    @extschema@.medreserve_generate_slots(date),
    @extschema@.medreserve_schedule_generation(text),
    @extschema@.medreserve_unschedule_generation(),
    @extschema@.medreserve_find_slots(text, timestamptz, timestamptz, integer[], integer),
    medreserve.default_time_zone(),
    medreserve.check_doctor_time_zones(),
    medreserve.template_slots(integer[], date, date),
    medreserve.generate(integer[], date, date, boolean),
    medreserve.regenerate(integer[]),
    medreserve.clear_period(integer, timestamptz, timestamptz),
    medreserve.check_period(timestamptz, timestamptz),
    medreserve.generation_health()
FROM PUBLIC;
-- medreserve.local_instant, slot_period and slot_horizon stay executable:
-- harmless pure helpers, and the default of medreserve_generate_slots()
-- calls slot_horizon() as the caller.
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_find_slots(text, timestamptz, timestamptz, integer[], integer)
TO medreserve_patient, medreserve_admin;
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_add_doctor(text, text, text),
    @extschema@.medreserve_set_working_hours(integer, integer, time, time, integer, date, date, integer),
    @extschema@.medreserve_clear_working_hours(integer, integer),
    @extschema@.medreserve_list_working_hours(integer),
    @extschema@.medreserve_remove_slots(integer, timestamptz, timestamptz),
    @extschema@.medreserve_add_time_off(integer, timestamptz, timestamptz, text),
    @extschema@.medreserve_remove_time_off(integer),
    @extschema@.medreserve_list_time_off(integer, timestamptz, timestamptz),
    @extschema@.medreserve_generate_slots(date),
    @extschema@.medreserve_schedule_generation(text),
    @extschema@.medreserve_unschedule_generation()
TO medreserve_admin;
REVOKE ALL ON medreserve.working_hours, medreserve.time_off, medreserve.generation_state FROM PUBLIC;
REVOKE ALL ON SEQUENCE medreserve.working_hours_id_seq, medreserve.time_off_id_seq FROM PUBLIC;
GRANT SELECT ON medreserve.working_hours, medreserve.time_off, medreserve.generation_state
    TO medreserve_admin;

-- Issue 14.  confirm with its idempotency_key (book, hold, cancel and
-- reschedule are granted above), and the idempotency keys: admins may read
-- them; patients never (they hold emails).
REVOKE ALL ON FUNCTION @extschema@.medreserve_confirm(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.medreserve_confirm(integer, text)
TO medreserve_patient, medreserve_admin;
REVOKE ALL ON TABLE medreserve.idempotency_keys FROM PUBLIC;
GRANT SELECT ON medreserve.idempotency_keys TO medreserve_admin;

-- Issue 15.  Events, consumers and reminders are the admins' (patient data is
-- only in the reminders); the FHIR functions are for everyone who books, and
-- medreserve_fhir_appointment() filters by caller itself.
REVOKE ALL ON FUNCTION
    medreserve.booking_event(),
    medreserve.slot_events(),
    medreserve.time_off_events(),
    medreserve.ring_doorbell(bigint),
    medreserve.arm_doorbell(),
    medreserve.verify_outbox(),
    medreserve.require_read_committed(text),
    medreserve.lock_consumer(text),
    medreserve.booking_period(integer),
    medreserve.fhir_instant(timestamptz),
    medreserve.fhir_slot_resource(medreserve.slots),
    medreserve.fhir_schedule_resource(medreserve.doctors),
    medreserve.find_doctor(integer),
    @extschema@.medreserve_register_consumer(text, boolean),
    @extschema@.medreserve_unregister_consumer(text),
    @extschema@.medreserve_claim_events(text, integer),
    @extschema@.medreserve_ack_events(text, bigint),
    @extschema@.medreserve_ack_events(text, bigint[]),
    @extschema@.medreserve_due_reminders(interval, text),
    @extschema@.medreserve_mark_reminded(integer, text),
    @extschema@.medreserve_fhir_practitioner(integer),
    @extschema@.medreserve_fhir_schedule(integer),
    @extschema@.medreserve_fhir_slot(integer),
    @extschema@.medreserve_fhir_appointment(integer),
    @extschema@.medreserve_fhir_find(text, timestamptz, timestamptz, integer, integer)
FROM PUBLIC;
REVOKE ALL ON TABLE medreserve.events, medreserve.event_consumers,
    medreserve.event_deliveries, medreserve.reminders_sent FROM PUBLIC;
GRANT SELECT ON medreserve.events, medreserve.event_consumers,
    medreserve.event_deliveries, medreserve.reminders_sent TO medreserve_admin;
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_register_consumer(text, boolean),
    @extschema@.medreserve_unregister_consumer(text),
    @extschema@.medreserve_claim_events(text, integer),
    @extschema@.medreserve_ack_events(text, bigint),
    @extschema@.medreserve_ack_events(text, bigint[]),
    @extschema@.medreserve_due_reminders(interval, text),
    @extschema@.medreserve_mark_reminded(integer, text)
TO medreserve_admin;
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_fhir_practitioner(integer),
    @extschema@.medreserve_fhir_schedule(integer),
    @extschema@.medreserve_fhir_slot(integer),
    @extschema@.medreserve_fhir_appointment(integer),
    @extschema@.medreserve_fhir_find(text, timestamptz, timestamptz, integer, integer)
TO medreserve_patient, medreserve_admin;

-- issue 11: slot state and capacity
REVOKE ALL ON FUNCTION
    @extschema@.medreserve_add_slots(integer, timestamptz, timestamptz, integer, integer),
    @extschema@.medreserve_set_capacity(integer, integer),
    @extschema@.medreserve_stats(),
    medreserve.hold_expiry_moved(),
    medreserve.refresh_slot_state(),
    medreserve.verify_slot_state()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.medreserve_add_slots(integer, timestamptz, timestamptz, integer, integer),
    @extschema@.medreserve_set_capacity(integer, integer),
    @extschema@.medreserve_stats(),
    medreserve.refresh_slot_state()
TO medreserve_admin;
-- slot_is_free, slot_seats_free and slot_status stay executable, like booking_is_live:
-- readers of medreserve.slots (patients too) may call them on its columns.

-- end of section 7
