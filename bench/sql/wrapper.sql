-- bench/wrapper.sh: medreserve_available_slots()'s statement in functions
-- of other shapes, to tell what each part of the function boundary costs.
-- Each body is the statement of sql/medreserve--1.1--1.2.sql's
-- medreserve_available_slots() without its null and doctor checks (those run
-- only on bad calls or an empty week).

-- The shape of medreserve's function without the SET search_path clause.
-- Unsafe (a caller's search_path could reroute its operators while it runs
-- with the owner's rights): measured only, never a candidate.
CREATE FUNCTION bench.av_no_set(doctor_id integer, from_time timestamptz, until_time timestamptz)
RETURNS SETOF medreserve.slots LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
    RETURN QUERY
    SELECT s.* FROM medreserve.slots s
     WHERE s.doctor_id = av_no_set.doctor_id
       AND s.start_time >= greatest(from_time, now()) AND s.start_time < until_time
       AND s.start_time > now()
       AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
     ORDER BY s.start_time;
END $$;

-- With the caller's rights, search_path still pinned.
CREATE FUNCTION bench.av_invoker(doctor_id integer, from_time timestamptz, until_time timestamptz)
RETURNS SETOF medreserve.slots LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT s.* FROM medreserve.slots s
     WHERE s.doctor_id = av_invoker.doctor_id
       AND s.start_time >= greatest(from_time, now()) AND s.start_time < until_time
       AND s.start_time > now()
       AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
     ORDER BY s.start_time;
END $$;

-- medreserve's boundary (SECURITY DEFINER, pinned search_path) in SQL
-- instead of PL/pgSQL: not inlined, run through the SQL-function executor.
CREATE FUNCTION bench.av_sql_definer(doctor_id integer, from_time timestamptz, until_time timestamptz)
RETURNS SETOF medreserve.slots LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.* FROM medreserve.slots s
     WHERE s.doctor_id = av_sql_definer.doctor_id
       AND s.start_time >= greatest(from_time, now()) AND s.start_time < until_time
       AND s.start_time > now()
       AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
     ORDER BY s.start_time;
$$;

-- No boundary: an SQL function the planner inlines into the caller's
-- statement.  It reads medreserve.slots with the caller's rights, so a
-- patient would need SELECT on it (or on a view of the free slots).
CREATE FUNCTION bench.av_inlined(doctor_id integer, from_time timestamptz, until_time timestamptz)
RETURNS SETOF medreserve.slots LANGUAGE sql STABLE AS $$
    SELECT s.* FROM medreserve.slots s
     WHERE s.doctor_id = av_inlined.doctor_id
       AND s.start_time >= greatest(from_time, now()) AND s.start_time < until_time
       AND s.start_time > now()
       AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
     ORDER BY s.start_time;
$$;
