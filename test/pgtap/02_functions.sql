-- 02_functions.sql: the API's signatures, as PostgREST and other callers rely
-- on them: argument types and names (PostgREST calls with named arguments),
-- return types, VOLATILE (PostgREST runs only VOLATILE functions read-write),
-- C language, not STRICT (a NULL must raise 22004, not return NULL) and a
-- pinned search_path.  The functions live in the schema chosen at CREATE
-- EXTENSION, so they are looked up by visibility, not by schema name.
-- 1.2 (issue 14): every changing call takes idempotency_key last, with a default.
BEGIN;
SELECT plan(51);

-- medreserve_book(integer,text,text,text,text,text)
SELECT has_function('medreserve_book', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'medreserve_book(integer,text,text,text,text,text) exists');
SELECT function_returns('medreserve_book', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'medreserve.bookings', 'medreserve_book(integer,text,text,text,text,text) returns medreserve.bookings');
SELECT volatility_is('medreserve_book', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'v', 'medreserve_book(integer,text,text,text,text,text) is VOLATILE');
SELECT function_lang_is('medreserve_book', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'c', 'medreserve_book(integer,text,text,text,text,text) is written in C');
SELECT isnt_strict('medreserve_book', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'medreserve_book(integer,text,text,text,text,text) is not STRICT');
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'medreserve_book(integer,text,text,text,text,text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'medreserve_book(integer,text,text,text,text,text) pins search_path');
SELECT is((SELECT proargnames FROM pg_catalog.pg_proc WHERE oid = 'medreserve_book(integer,text,text,text,text,text)'::regprocedure),
          '{slot_id,patient_name,patient_email,patient_phone,reason,idempotency_key}'::text[], 'medreserve_book(integer,text,text,text,text,text) names its arguments slot_id,patient_name,patient_email,patient_phone,reason,idempotency_key');

-- medreserve_book(integer[],text,text,text,text,text)
SELECT has_function('medreserve_book', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'medreserve_book(integer[],text,text,text,text,text) exists');
SELECT function_returns('medreserve_book', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'medreserve.bookings', 'medreserve_book(integer[],text,text,text,text,text) returns medreserve.bookings');
SELECT volatility_is('medreserve_book', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'v', 'medreserve_book(integer[],text,text,text,text,text) is VOLATILE');
SELECT function_lang_is('medreserve_book', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'c', 'medreserve_book(integer[],text,text,text,text,text) is written in C');
SELECT isnt_strict('medreserve_book', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'medreserve_book(integer[],text,text,text,text,text) is not STRICT');
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'medreserve_book(integer[],text,text,text,text,text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'medreserve_book(integer[],text,text,text,text,text) pins search_path');
SELECT is((SELECT proargnames FROM pg_catalog.pg_proc WHERE oid = 'medreserve_book(integer[],text,text,text,text,text)'::regprocedure),
          '{slot_ids,patient_name,patient_email,patient_phone,reason,idempotency_key}'::text[], 'medreserve_book(integer[],text,text,text,text,text) names its arguments slot_ids,patient_name,patient_email,patient_phone,reason,idempotency_key');

-- medreserve_hold(integer,text,text,text,text,text)
SELECT has_function('medreserve_hold', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'medreserve_hold(integer,text,text,text,text,text) exists');
SELECT function_returns('medreserve_hold', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'medreserve.bookings', 'medreserve_hold(integer,text,text,text,text,text) returns medreserve.bookings');
SELECT volatility_is('medreserve_hold', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'v', 'medreserve_hold(integer,text,text,text,text,text) is VOLATILE');
SELECT function_lang_is('medreserve_hold', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'c', 'medreserve_hold(integer,text,text,text,text,text) is written in C');
SELECT isnt_strict('medreserve_hold', ARRAY['integer', 'text', 'text', 'text', 'text', 'text'], 'medreserve_hold(integer,text,text,text,text,text) is not STRICT');
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'medreserve_hold(integer,text,text,text,text,text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'medreserve_hold(integer,text,text,text,text,text) pins search_path');
SELECT is((SELECT proargnames FROM pg_catalog.pg_proc WHERE oid = 'medreserve_hold(integer,text,text,text,text,text)'::regprocedure),
          '{slot_id,patient_name,patient_email,patient_phone,reason,idempotency_key}'::text[], 'medreserve_hold(integer,text,text,text,text,text) names its arguments slot_id,patient_name,patient_email,patient_phone,reason,idempotency_key');

-- medreserve_hold(integer[],text,text,text,text,text)
SELECT has_function('medreserve_hold', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'medreserve_hold(integer[],text,text,text,text,text) exists');
SELECT function_returns('medreserve_hold', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'medreserve.bookings', 'medreserve_hold(integer[],text,text,text,text,text) returns medreserve.bookings');
SELECT volatility_is('medreserve_hold', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'v', 'medreserve_hold(integer[],text,text,text,text,text) is VOLATILE');
SELECT function_lang_is('medreserve_hold', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'c', 'medreserve_hold(integer[],text,text,text,text,text) is written in C');
SELECT isnt_strict('medreserve_hold', ARRAY['integer[]', 'text', 'text', 'text', 'text', 'text'], 'medreserve_hold(integer[],text,text,text,text,text) is not STRICT');
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'medreserve_hold(integer[],text,text,text,text,text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'medreserve_hold(integer[],text,text,text,text,text) pins search_path');
SELECT is((SELECT proargnames FROM pg_catalog.pg_proc WHERE oid = 'medreserve_hold(integer[],text,text,text,text,text)'::regprocedure),
          '{slot_ids,patient_name,patient_email,patient_phone,reason,idempotency_key}'::text[], 'medreserve_hold(integer[],text,text,text,text,text) names its arguments slot_ids,patient_name,patient_email,patient_phone,reason,idempotency_key');

-- medreserve_confirm(integer,text)
SELECT has_function('medreserve_confirm', ARRAY['integer', 'text'], 'medreserve_confirm(integer,text) exists');
SELECT function_returns('medreserve_confirm', ARRAY['integer', 'text'], 'medreserve.bookings', 'medreserve_confirm(integer,text) returns medreserve.bookings');
SELECT volatility_is('medreserve_confirm', ARRAY['integer', 'text'], 'v', 'medreserve_confirm(integer,text) is VOLATILE');
SELECT function_lang_is('medreserve_confirm', ARRAY['integer', 'text'], 'c', 'medreserve_confirm(integer,text) is written in C');
SELECT isnt_strict('medreserve_confirm', ARRAY['integer', 'text'], 'medreserve_confirm(integer,text) is not STRICT');
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'medreserve_confirm(integer,text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'medreserve_confirm(integer,text) pins search_path');
SELECT is((SELECT proargnames FROM pg_catalog.pg_proc WHERE oid = 'medreserve_confirm(integer,text)'::regprocedure),
          '{booking_id,idempotency_key}'::text[], 'medreserve_confirm(integer,text) names its arguments booking_id,idempotency_key');

-- medreserve_cancel(integer,text,text)
SELECT has_function('medreserve_cancel', ARRAY['integer', 'text', 'text'], 'medreserve_cancel(integer,text,text) exists');
SELECT function_returns('medreserve_cancel', ARRAY['integer', 'text', 'text'], 'medreserve.bookings', 'medreserve_cancel(integer,text,text) returns medreserve.bookings');
SELECT volatility_is('medreserve_cancel', ARRAY['integer', 'text', 'text'], 'v', 'medreserve_cancel(integer,text,text) is VOLATILE');
SELECT function_lang_is('medreserve_cancel', ARRAY['integer', 'text', 'text'], 'c', 'medreserve_cancel(integer,text,text) is written in C');
SELECT isnt_strict('medreserve_cancel', ARRAY['integer', 'text', 'text'], 'medreserve_cancel(integer,text,text) is not STRICT');
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'medreserve_cancel(integer,text,text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'medreserve_cancel(integer,text,text) pins search_path');
SELECT is((SELECT proargnames FROM pg_catalog.pg_proc WHERE oid = 'medreserve_cancel(integer,text,text)'::regprocedure),
          '{booking_id,reason,idempotency_key}'::text[], 'medreserve_cancel(integer,text,text) names its arguments booking_id,reason,idempotency_key');

-- medreserve_expire()
SELECT has_function('medreserve_expire', ARRAY[]::name[], 'medreserve_expire() exists');
SELECT function_returns('medreserve_expire', ARRAY[]::name[], 'integer', 'medreserve_expire() returns integer');
SELECT volatility_is('medreserve_expire', ARRAY[]::name[], 'v', 'medreserve_expire() is VOLATILE');
SELECT function_lang_is('medreserve_expire', ARRAY[]::name[], 'c', 'medreserve_expire() is written in C');
SELECT isnt_strict('medreserve_expire', ARRAY[]::name[], 'medreserve_expire() is not STRICT');
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'medreserve_expire()'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp', 'jit=off'], 'medreserve_expire() pins search_path and runs without JIT');

-- Email, phone, reason and the idempotency key (1.2, issue 14) are optional:
-- their defaults are NULL, so a two-argument call resolves.
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_proc
            WHERE proname IN ('medreserve_book', 'medreserve_hold')
              AND pronargdefaults = 4
              AND pg_catalog.pg_get_expr(proargdefaults, 0) = 'NULL::text, NULL::text, NULL::text, NULL::text'),
          4, 'book and hold give patient_email, patient_phone, reason and idempotency_key the default NULL');

-- The seven booking functions belong to the extension (DROP EXTENSION drops
-- them; pg_dump leaves them to CREATE EXTENSION).  Other functions may join.
SELECT ok(ARRAY['medreserve_book(integer,text,text,text,text,text)', 'medreserve_book(integer[],text,text,text,text,text)',
                'medreserve_cancel(integer,text,text)', 'medreserve_confirm(integer,text)',
                'medreserve_expire()',
                'medreserve_hold(integer,text,text,text,text,text)', 'medreserve_hold(integer[],text,text,text,text,text)']
          <@ (SELECT array_agg(p.oid::regprocedure::text)
                FROM pg_catalog.pg_depend d
                JOIN pg_catalog.pg_proc p ON p.oid = d.objid
                JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
               WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
                 AND e.extname = 'medreserve'),
          'the extension owns the seven booking functions');
SELECT is((SELECT count(*)::int
             FROM pg_catalog.pg_depend d
             JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
            WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
              AND e.extname = 'medreserve'
              AND obj_description(d.objid, 'pg_proc') IS NULL),
          0, 'every function of the extension has a comment');

SELECT * FROM finish();
ROLLBACK;
