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
 * always does; a PENDING hold does until it lapses, and a lapsed hold holds
 * nothing even before the sweep marks it FAILED.  The C statements, the
 * listings, availability, the RLS policy, medreserve_verify() and the test
 * suites all call this function (it is inlined, so indexes still apply).
 */
CREATE FUNCTION medreserve.booking_is_live(status text, expires_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN status = 'CONFIRMED' OR (status = 'PENDING' AND expires_at > pg_catalog.now());
COMMENT ON FUNCTION medreserve.booking_is_live(text, timestamptz) IS
'The one definition of a live booking: CONFIRMED, or PENDING whose hold has not lapsed';

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
     WHERE b.status NOT IN ('PENDING', 'CONFIRMED')
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

-- medreserve.booking_is_live() stays executable: RLS policies run it as the reader.
REVOKE ALL ON FUNCTION @extschema@.medreserve_verify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.medreserve_verify() TO medreserve_admin;

-- end of section 7
