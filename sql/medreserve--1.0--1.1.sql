/* medreserve--1.0--1.1.sql: upgrade from 1.0 to 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION medreserve UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.1: a signed-in patient can list their own bookings through the API
 * (PostgREST: GET /rpc/medreserve_my_bookings), without table privileges.
 */
CREATE FUNCTION @extschema@.medreserve_my_bookings()
RETURNS SETOF medreserve.bookings
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claimed_email text := NULLIF(current_setting('request.jwt.claims', true), '')::json ->> 'email';
BEGIN
    IF claimed_email IS NULL OR claimed_email = '' THEN
        RAISE EXCEPTION 'only a signed-in patient can list their bookings'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'There is no email claim in request.jwt.claims.';
    END IF;
    RETURN QUERY
    SELECT b.* FROM medreserve.bookings b
     WHERE lower(b.patient_email) = lower(claimed_email)
     ORDER BY b.created_at DESC, b.id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.medreserve_my_bookings() IS
'The signed-in patient''s bookings (by the email claim of request.jwt.claims), newest first; 42501 without a claim';

REVOKE ALL ON FUNCTION @extschema@.medreserve_my_bookings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.medreserve_my_bookings()
    TO medreserve_patient, medreserve_admin;

-- patients' own-booking lookups (policy and function) compare lower(email)
CREATE INDEX bookings_lower_patient_email_idx
    ON medreserve.bookings (lower(patient_email));
