/*
 * bench/sql/helpers.sql: what the benchmark compares medreserve with, created
 * in the benchmark's own database only (schema "bench"), never by the
 * extension.
 *
 *  bench.plpgsql_reserve  the same contract as medreserve_book/medreserve_hold
 *                         of 1.2 (argument checks, caller identity, slot locks
 *                         in id order, 404/409/22023 refusals, 23505 when the
 *                         slot's state says it is full, lazy release of lapsed
 *                         holds, several slots, seats and the slot state kept
 *                         in step), written as one PL/pgSQL function;
 *  bench.plpgsql_confirm  the same contract as medreserve_confirm (locks the
 *                         booking's slots, moves their seats to confirmed);
 *  bench.try_book         a wrapper for the contended case: pgbench (PG15)
 *                         aborts a client on its first error, so refusals are
 *                         caught here, counted, and the attempt goes on;
 *  bench.floor_fn         the 1.2 floor's bare writes (book_floor_state.sql)
 *                         behind a function boundary like medreserve_book()'s:
 *                         SECURITY DEFINER with a fixed search_path, one
 *                         statement run through SPI, the booking row returned.
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
    locked integer[];
    settle integer[];
    must_settle boolean;
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
    -- have not started (PT409), and have a free seat by their own state (23505)
    FOR pass IN 1 .. 2 LOOP
        i := 0;
        must_settle := false;
        latest_end := NULL;
        FOR r IN SELECT s.id, s.doctor_id, s.start_time, s.start_time <= now() AS started,
                        medreserve.slot_end(s.start_time, s.duration_minutes) AS end_time,
                        medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at) AS free,
                        s.seats_confirmed + s.seats_held >= s.capacity AS full,
                        s.capacity, s.seats_held, s.hold_lapses_at
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
            IF NOT r.free THEN
                IF r.capacity > 1 THEN
                    RAISE EXCEPTION 'slot % is full', r.id USING ERRCODE = 'unique_violation';
                ELSIF r.seats_held > 0 THEN
                    RAISE EXCEPTION 'slot % is already held', r.id USING ERRCODE = 'unique_violation',
                        DETAIL = format('Another patient holds it until %s.', r.hold_lapses_at);
                END IF;
                RAISE EXCEPTION 'slot % is already booked', r.id USING ERRCODE = 'unique_violation';
            END IF;
            IF r.full THEN
                IF pass = 2 THEN
                    RAISE EXCEPTION 'slot % is still full after its lapsed holds were released', r.id;
                END IF;
                must_settle := true;
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
        EXIT WHEN NOT must_settle;

        -- settle the lapsed holds on these slots: lock their other slots
        -- without waiting, fail those whose slots are all ours, release seats
        lapsed := ARRAY(SELECT DISTINCT b.id FROM medreserve.booking_slots bs
                          JOIN medreserve.bookings b ON b.id = bs.booking_id
                         WHERE bs.slot_id = ANY (ids) AND b.status = 'PENDING'
                           AND NOT medreserve.booking_is_live(b.status, b.expires_at));
        locked := ARRAY(SELECT s.id FROM medreserve.slots s
                         WHERE s.id IN (SELECT bs.slot_id FROM medreserve.booking_slots bs
                                         WHERE bs.booking_id = ANY (lapsed))
                         ORDER BY s.id FOR UPDATE SKIP LOCKED);
        settle := ARRAY(SELECT b.id FROM medreserve.bookings b
                         WHERE b.id = ANY (lapsed) AND b.status = 'PENDING'
                           AND NOT medreserve.booking_is_live(b.status, b.expires_at)
                           AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                                            WHERE bs.booking_id = b.id AND bs.slot_id <> ALL (locked)));
        UPDATE medreserve.bookings SET status = 'FAILED', updated_at = now() WHERE id = ANY (settle);
        WITH released AS (
            DELETE FROM medreserve.booking_slots bs WHERE bs.booking_id = ANY (settle)
            RETURNING bs.slot_id),
        per_slot AS (SELECT slot_id, count(*)::integer AS k FROM released GROUP BY slot_id)
        UPDATE medreserve.slots s SET seats_held = s.seats_held - p.k,
               hold_lapses_at = (SELECT min(b.expires_at) FROM medreserve.booking_slots x
                                   JOIN medreserve.bookings b ON b.id = x.booking_id
                                  WHERE x.slot_id = s.id AND b.status = 'PENDING'
                                    AND b.id <> ALL (settle))
          FROM per_slot p WHERE s.id = p.slot_id;
        -- lapsed holds with a slot locked elsewhere give back their seats on ours
        WITH gone AS (
            DELETE FROM medreserve.booking_slots bs USING medreserve.bookings b
             WHERE bs.slot_id = ANY (ids) AND b.id = bs.booking_id
               AND medreserve.hold_has_lapsed(b.status, b.expires_at)
            RETURNING bs.slot_id, bs.booking_id),
        per_slot AS (SELECT slot_id, count(*)::integer AS k FROM gone GROUP BY slot_id)
        UPDATE medreserve.slots s SET seats_held = s.seats_held - p.k,
               hold_lapses_at = (SELECT min(b.expires_at) FROM medreserve.booking_slots x
                                   JOIN medreserve.bookings b ON b.id = x.booking_id
                                  WHERE x.slot_id = s.id AND b.status = 'PENDING'
                                    AND NOT EXISTS (SELECT 1 FROM gone g
                                                     WHERE g.slot_id = x.slot_id
                                                       AND g.booking_id = x.booking_id))
          FROM per_slot p WHERE s.id = p.slot_id;
    END LOOP;

    INSERT INTO medreserve.bookings (slot_id, patient_name, patient_email, status, expires_at,
                                     doctor_id, starts_at, ends_at)
    VALUES (earliest_slot, p_patient_name, p_patient_email,
            CASE WHEN p_hold THEN 'PENDING' ELSE 'CONFIRMED' END,
            CASE WHEN p_hold THEN now() + current_setting('medreserve.hold_duration')::interval END,
            doctor, earliest_start, latest_end)
    RETURNING * INTO booking;
    WITH s AS (
        UPDATE medreserve.slots s
           SET seats_confirmed = s.seats_confirmed + CASE WHEN p_hold THEN 0 ELSE 1 END,
               seats_held = s.seats_held + CASE WHEN p_hold THEN 1 ELSE 0 END,
               hold_lapses_at = CASE WHEN p_hold THEN least(s.hold_lapses_at, booking.expires_at)
                                     ELSE s.hold_lapses_at END
         WHERE s.id = ANY (ids)
        RETURNING s.id, s.capacity, s.seats_confirmed + s.seats_held AS taken)
    INSERT INTO medreserve.booking_slots (booking_id, slot_id, slot_capacity, seat)
    SELECT booking.id, s.id, s.capacity,
           CASE WHEN s.taken = 1 THEN 1 ELSE
             (SELECT min(g) FROM generate_series(1, s.capacity) AS g
               WHERE NOT EXISTS (SELECT 1 FROM medreserve.booking_slots x
                                  WHERE x.slot_id = s.id AND x.seat = g)) END
      FROM s;
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
    slot_ids integer[];
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

    -- lock the booking's slots in id order, then confirm it and move its seats
    slot_ids := ARRAY(SELECT bs.slot_id FROM medreserve.booking_slots bs
                       WHERE bs.booking_id = p_booking_id ORDER BY bs.slot_id);
    PERFORM 1 FROM medreserve.slots s WHERE s.id = ANY (slot_ids) ORDER BY s.id FOR UPDATE;
    UPDATE medreserve.bookings
       SET status = 'CONFIRMED', expires_at = NULL, updated_at = now()
     WHERE id = p_booking_id AND status = 'PENDING' AND expires_at > now()
       AND (claimed_email IS NULL OR lower(patient_email) = lower(claimed_email))
       AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                        WHERE bs.booking_id = p_booking_id AND bs.slot_id <> ALL (slot_ids))
    RETURNING * INTO booking;
    IF FOUND THEN
        UPDATE medreserve.slots s
           SET seats_held = s.seats_held - 1, seats_confirmed = s.seats_confirmed + 1,
               hold_lapses_at = CASE WHEN s.seats_held = 1 THEN NULL ELSE
                 (SELECT min(b.expires_at) FROM medreserve.booking_slots x
                    JOIN medreserve.bookings b ON b.id = x.booking_id
                   WHERE x.slot_id = s.id AND b.status = 'PENDING') END
         WHERE s.id = ANY (slot_ids);
    END IF;
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
        ELSIF p_impl IN ('floor', 'floor_locked') THEN
            -- the floor of a group booking: the slot's counter taken under
            -- its row lock while a seat is left, and the bare inserts fed by
            -- it (seat = the new count: no seat is ever given back here), in
            -- one statement; a full slot is refused like the others.
            -- floor_locked keeps medreserve's contract: the slot's row lock
            -- is taken first, so a booker that finds the slot full while a
            -- cancel is uncommitted waits for it (specs/iso_cancel_vs_book)
            -- instead of being refused by the UPDATE's snapshot
            IF p_impl = 'floor_locked' THEN
                PERFORM FROM medreserve.slots WHERE id = p_slot_id FOR UPDATE;
            END IF;
            WITH s AS (
                UPDATE medreserve.slots SET seats_confirmed = seats_confirmed + 1
                 WHERE id = p_slot_id AND seats_confirmed + seats_held < capacity
                RETURNING id, doctor_id, start_time, capacity, seats_confirmed AS seat),
            b AS (
                INSERT INTO medreserve.bookings (slot_id, patient_name, status, doctor_id, starts_at, ends_at)
                SELECT id, 'Bench Patient', 'CONFIRMED', doctor_id, start_time,
                       start_time + interval '15 minutes' FROM s
                RETURNING id)
            INSERT INTO medreserve.booking_slots (booking_id, slot_id, slot_capacity, seat)
            SELECT b.id, s.id, s.capacity, s.seat FROM b, s;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'slot % is full', p_slot_id USING ERRCODE = 'unique_violation';
            END IF;
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

/*
 * Case 1, diagnostic: what a function costs around the floor's statement,
 * whatever it does inside.  No checks, as in the floor; the doctor and span
 * are constants, as in book_floor_state.sql.
 */
CREATE FUNCTION bench.floor_fn(p_slot_id integer, p_patient_name text)
RETURNS medreserve.bookings
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    booking medreserve.bookings;
BEGIN
    WITH s AS (
        UPDATE medreserve.slots SET seats_confirmed = seats_confirmed + 1 WHERE id = p_slot_id),
    b AS (
        INSERT INTO medreserve.bookings (slot_id, patient_name, status, doctor_id, starts_at, ends_at)
        VALUES (p_slot_id, p_patient_name, 'CONFIRMED', 1, now() + interval '1 day',
                now() + interval '1 day 15 minutes')
        RETURNING *),
    bs AS (
        INSERT INTO medreserve.booking_slots (booking_id, slot_id)
        SELECT b.id, p_slot_id FROM b)
    SELECT * INTO STRICT booking FROM b;
    RETURN booking;
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
