-- bench/wrapper.sh: medreserve_available_slots()'s statement in functions
-- of other shapes, to tell what each part of the function boundary costs.
-- The statement is that of sql/medreserve--1.1--1.2.sql's
-- medreserve_available_slots() without its null and doctor checks (those run
-- only on bad calls or an empty week); it is written once here and each
-- shape wraps it (constant text, no input: format() only joins the pieces).
DO $do$
DECLARE
    statement constant text := $q$
    SELECT s.* FROM medreserve.slots s
     WHERE s.doctor_id = $1
       AND s.start_time >= greatest($2, now()) AND s.start_time < $3
       AND s.start_time > now()
       AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
     ORDER BY s.start_time$q$;
    plpgsql_body constant text := format('BEGIN RETURN QUERY %s; END', statement);
    shape record;
BEGIN
    FOR shape IN VALUES
        -- medreserve's shape without the SET search_path clause.  Unsafe (a
        -- caller's search_path could reroute its operators while it runs
        -- with the owner's rights): measured only, never a candidate.
        ('no_set', 'plpgsql SECURITY DEFINER', plpgsql_body),
        -- with the caller's rights, search_path still pinned
        ('invoker', 'plpgsql SET search_path = pg_catalog, pg_temp', plpgsql_body),
        -- medreserve's boundary (SECURITY DEFINER, pinned search_path) in SQL
        -- instead of PL/pgSQL: not inlined, run by the SQL-function executor
        ('sql_definer', 'sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp', statement),
        -- no boundary: an SQL function the planner inlines into the caller's
        -- statement.  It reads medreserve.slots with the caller's rights, so
        -- a patient would need SELECT on it (or on a view of the free slots).
        ('inlined', 'sql', statement)
    LOOP
        EXECUTE format('CREATE FUNCTION bench.av_%s(doctor_id integer, from_time timestamptz, until_time timestamptz)
                        RETURNS SETOF medreserve.slots STABLE LANGUAGE %s AS %L',
                       shape.column1, shape.column2, shape.column3);
    END LOOP;
END
$do$;
