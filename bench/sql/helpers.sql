/*
 * bench/sql/helpers.sql: what the benchmark compares medreserve with, created
 * in the benchmark's own database only (schema "bench"), never by the
 * extension.
 *
 *  bench.plpgsql_reserve  the same contract as medreserve_book/medreserve_hold
 *                         (argument checks, caller identity, slot locks in id
 *                         order, 404/409/22023 refusals, 23505 for a live
 *                         occupant, lazy release of lapsed holds, several
 *                         slots), written as one PL/pgSQL function;
 *  bench.plpgsql_confirm  the same contract as medreserve_confirm;
 *  bench.try_book         a wrapper for the contended case: pgbench (PG15)
 *                         aborts a client on its first error, so refusals are
 *                         caught here, counted, and the attempt goes on.
 */
SET client_min_messages = warning;
CREATE SCHEMA bench;

CREATE FUNCTION bench.plpgsql_reserve(p_slot_ids integer[], p_patient_name text,
                                      p_patient_email text, p_hold boolean)
RETURNS medreserve.bookings
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids integer[];
    n integer;
    claims text;
    claimed_email text;
    doctor integer;
    earliest_slot integer;
    earliest_start timestamptz;
    latest_end timestamptz;
    i integer := 0;
    pass integer;
    r record;
    lapsed integer[];
    booking medreserve.bookings;
BEGIN
    -- the arguments, as validate.c checks them (22004, 22023)
    IF p_slot_ids IS NULL THEN
        RAISE EXCEPTION 'slot_ids must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF array_ndims(p_slot_ids) > 1 THEN
        RAISE EXCEPTION 'slot_ids must be a one-dimensional array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := coalesce(cardinality(p_slot_ids), 0);
    IF n = 0 THEN
        RAISE EXCEPTION 'slot_ids must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n > 100 THEN
        RAISE EXCEPTION 'too many slots in one booking' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('%s slots were given; at most 100 are allowed.', n);
    END IF;
    IF array_position(p_slot_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'slot_ids must not contain null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF n = 1 THEN
        ids := p_slot_ids;
    ELSE
        ids := ARRAY(SELECT u FROM unnest(p_slot_ids) AS u ORDER BY u);
        FOR i IN 2 .. n LOOP
            IF ids[i] = ids[i - 1] THEN
                RAISE EXCEPTION 'slot % is listed more than once', ids[i]
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
    END IF;
    IF p_patient_name IS NULL THEN
        RAISE EXCEPTION 'patient_name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    p_patient_name := btrim(p_patient_name, E' \t\n\r\f\v');
    IF p_patient_name = '' THEN
        RAISE EXCEPTION 'patient_name must not be blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(p_patient_name) > 200 THEN
        RAISE EXCEPTION 'patient_name is too long' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_patient_name ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'patient_name must not contain control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_patient_email IS NOT NULL
       AND (octet_length(p_patient_email) > 254
            OR p_patient_email !~ '^[^@[:space:][:cntrl:]]{1,64}@[^@.[:space:][:cntrl:]]+(\.[^@.[:space:][:cntrl:]]+)+$') THEN
        RAISE EXCEPTION 'patient_email is not a valid email address' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- the caller: admins book for anyone, a signed-in patient only as themself
    IF NOT pg_has_role(session_user, 'medreserve_admin', 'USAGE') THEN
        claims := nullif(current_setting('request.jwt.claims', true), '');
        IF claims IS NOT NULL THEN
            claimed_email := nullif(claims::jsonb ->> 'email', '');
        END IF;
        IF claimed_email IS NOT NULL THEN
            IF p_patient_email IS NOT NULL AND lower(p_patient_email) <> lower(claimed_email) THEN
                RAISE EXCEPTION 'cannot book for another patient' USING ERRCODE = 'insufficient_privilege';
            END IF;
            p_patient_email := claimed_email;
        END IF;
    END IF;

    -- lock the slots in id order: they exist (PT404), have one doctor (22023),
    -- have not started (PT409)
    i := 0;
    FOR r IN SELECT s.id, s.doctor_id, s.start_time, s.start_time <= now() AS started,
                    medreserve.slot_end(s.start_time, s.duration_minutes) AS end_time
               FROM medreserve.slots s WHERE s.id = ANY (ids) ORDER BY s.id FOR UPDATE
    LOOP
        i := i + 1;
        IF r.id <> ids[i] THEN
            RAISE EXCEPTION 'slot % does not exist', ids[i] USING ERRCODE = 'PT404';
        END IF;
        IF i = 1 THEN
            doctor := r.doctor_id;
        ELSIF r.doctor_id <> doctor THEN
            RAISE EXCEPTION 'slots of different doctors cannot be booked together'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF r.started THEN
            RAISE EXCEPTION 'slot % has already started', r.id USING ERRCODE = 'PT409';
        END IF;
        IF earliest_start IS NULL OR r.start_time < earliest_start THEN
            earliest_start := r.start_time;
            earliest_slot := r.id;
        END IF;
        latest_end := greatest(latest_end, r.end_time);
    END LOOP;
    IF i < n THEN
        RAISE EXCEPTION 'slot % does not exist', ids[i + 1] USING ERRCODE = 'PT404';
    END IF;

    -- a live occupant refuses (23505); lapsed holds are released, then we
    -- look once more (a hold confirmed meanwhile must win)
    FOR pass IN 1 .. 2 LOOP
        lapsed := '{}';
        FOR r IN SELECT bs.slot_id, b.id, b.status, b.expires_at,
                        b.status = 'PENDING' AND b.expires_at <= now() AS lapsed
                   FROM medreserve.booking_slots bs
                   JOIN medreserve.bookings b ON b.id = bs.booking_id
                  WHERE bs.slot_id = ANY (ids)
                  ORDER BY bs.slot_id
        LOOP
            IF r.lapsed AND pass = 1 THEN
                lapsed := lapsed || r.id;
                CONTINUE;
            END IF;
            IF r.status = 'PENDING' THEN
                RAISE EXCEPTION 'slot % is already held', r.slot_id USING ERRCODE = 'unique_violation',
                    DETAIL = format('Another patient holds it until %s.', r.expires_at);
            END IF;
            RAISE EXCEPTION 'slot % is already booked', r.slot_id USING ERRCODE = 'unique_violation';
        END LOOP;
        EXIT WHEN cardinality(lapsed) = 0;
        WITH failed AS (
            UPDATE medreserve.bookings SET status = 'FAILED', updated_at = now()
             WHERE id = ANY (lapsed) AND status = 'PENDING' AND expires_at <= now()
            RETURNING id)
        DELETE FROM medreserve.booking_slots bs USING failed WHERE bs.booking_id = failed.id;
    END LOOP;

    WITH b AS (
        INSERT INTO medreserve.bookings (slot_id, patient_name, patient_email, status, expires_at,
                                         doctor_id, starts_at, ends_at)
        VALUES (earliest_slot, p_patient_name, p_patient_email,
                CASE WHEN p_hold THEN 'PENDING' ELSE 'CONFIRMED' END,
                CASE WHEN p_hold THEN now() + current_setting('medreserve.hold_duration')::interval END,
                doctor, earliest_start, latest_end)
        RETURNING *),
    s AS (
        INSERT INTO medreserve.booking_slots (booking_id, slot_id)
        SELECT b.id, u FROM b, unnest(ids) AS u)
    SELECT * INTO booking FROM b;
    RETURN booking;
END
$$;

CREATE FUNCTION bench.plpgsql_confirm(p_booking_id integer)
RETURNS medreserve.bookings
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claims text;
    claimed_email text;
    booking medreserve.bookings;
    state record;
BEGIN
    IF p_booking_id IS NULL THEN
        RAISE EXCEPTION 'booking_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_has_role(session_user, 'medreserve_admin', 'USAGE') THEN
        claims := nullif(current_setting('request.jwt.claims', true), '');
        IF claims IS NOT NULL THEN
            claimed_email := nullif(claims::jsonb ->> 'email', '');
        END IF;
        IF claimed_email IS NULL THEN
            RAISE EXCEPTION 'only a signed-in patient can confirm a booking'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;

    UPDATE medreserve.bookings
       SET status = 'CONFIRMED', expires_at = NULL, updated_at = now()
     WHERE id = p_booking_id AND status = 'PENDING' AND expires_at > now()
       AND (claimed_email IS NULL OR lower(patient_email) = lower(claimed_email))
    RETURNING * INTO booking;
    IF FOUND THEN
        RETURN booking;
    END IF;

    SELECT b.status, b.expires_at INTO state FROM medreserve.bookings b
     WHERE b.id = p_booking_id
       AND (claimed_email IS NULL OR lower(b.patient_email) = lower(claimed_email));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'booking % does not exist', p_booking_id USING ERRCODE = 'PT404';
    ELSIF state.status = 'PENDING' THEN
        RAISE EXCEPTION 'booking % has expired', p_booking_id USING ERRCODE = 'PT409';
    END IF;
    RAISE EXCEPTION 'booking % is not pending', p_booking_id USING ERRCODE = 'PT409';
END
$$;

/*
 * Contended case: what each attempt was told.  Refusals bump a sequence
 * (non-transactional, so no row lock of its own); anything else is kept
 * with its message.  A refused attempt in an application ends in ROLLBACK,
 * which does not wait for the WAL flush; here the outer transaction commits,
 * so the refusal path turns synchronous_commit off for it alone.
 */
CREATE SEQUENCE bench.refused_23505;
CREATE TABLE bench.other_errors (sqlstate text, message text, at timestamptz DEFAULT clock_timestamp());

CREATE FUNCTION bench.try_book(p_impl text, p_slot_id integer)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    BEGIN
        IF p_impl = 'c' THEN
            PERFORM medreserve_book(p_slot_id, 'Bench Patient');
        ELSE
            PERFORM bench.plpgsql_reserve(ARRAY[p_slot_id], 'Bench Patient', NULL, false);
        END IF;
        RETURN '00000';
    EXCEPTION WHEN OTHERS THEN
        IF SQLSTATE = '23505' THEN
            PERFORM nextval('bench.refused_23505');
        ELSE
            INSERT INTO bench.other_errors (sqlstate, message) VALUES (SQLSTATE, SQLERRM);
        END IF;
        PERFORM set_config('synchronous_commit', 'off', true);
        RETURN SQLSTATE;
    END;
END
$$;

-- Raw measurements of the run, one row per pgbench run or timed statement.
CREATE TABLE bench.results (
    case_name  text NOT NULL,
    clients    integer NOT NULL,
    variant    text NOT NULL,
    run        integer NOT NULL,
    value      double precision NOT NULL,   -- transactions/s, or ms for the sweep
    unit       text NOT NULL
);
