-- Counters in shared memory count what happened, refusals included, across
-- backends; medreserve_stats() adds live figures from the tables.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey'), ('Dr Ben Okafor');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, '2099-03-02 09:00+00'::timestamptz + (i - 1) * interval '15 minutes'
FROM generate_series(1, 6) AS i;
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (2, '2020-01-06 09:00+00');

SELECT medreserve_stats_reset();
SELECT stats_reset > now() - interval '1 minute' AS just_reset, refused_slot_taken
FROM medreserve_counters();

-- one booking, then three conflicting attempts in this backend ...
SELECT id FROM medreserve_book(1, 'Ann Lee');
SELECT id FROM medreserve_book(1, 'Bob Marsh');
SELECT id FROM medreserve_hold(1, 'Bob Marsh');
SELECT id FROM medreserve_book(ARRAY[1, 2], 'Bob Marsh');
-- ... and two more in another backend
\c
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SELECT id FROM medreserve_book(1, 'Cy Park');
SELECT id FROM medreserve_book(1, 'Dee Holt');
SELECT bookings_confirmed, refused_slot_taken FROM medreserve_counters();

-- every other kind of refusal has its own counter
SELECT id FROM medreserve_book(4242, 'Eve Stone');
SELECT id FROM medreserve_book(2, '');
SELECT id FROM medreserve_book(NULL::integer, 'Eve Stone');
SELECT id FROM medreserve_book(7, 'Eve Stone');
SELECT id FROM medreserve_cancel(4242);
SELECT id FROM medreserve_confirm(1);
SELECT refused_not_found, refused_invalid_input, refused_state_conflict
FROM medreserve_counters();

-- holds: taken, confirmed, released lazily by a booking, expired by the sweep
SELECT id FROM medreserve_hold(2, 'Fay Lin');
SELECT status FROM medreserve_confirm(currval('medreserve.bookings_id_seq')::integer);
SELECT id FROM medreserve_hold(ARRAY[3, 4], 'Gus Hale');
SELECT id FROM medreserve_hold(5, 'Hana Ito');
UPDATE medreserve.bookings SET expires_at = now() - interval '10 minutes' WHERE status = 'PENDING';
SELECT status FROM medreserve_book(3, 'Ivo Peric');
SELECT medreserve_expire() AS expired;
SELECT status FROM medreserve_cancel(1);
SELECT bookings_confirmed, holds_taken, holds_confirmed, holds_released_lazily,
       holds_expired, cancellations
FROM medreserve_counters();

-- work rolled back is not counted
BEGIN;
SELECT status FROM medreserve_book(6, 'Jo March');
ROLLBACK;
SELECT bookings_confirmed FROM medreserve_counters();
-- nor is work undone by a savepoint rollback; a released savepoint's is
BEGIN;
SAVEPOINT s;
SELECT status FROM medreserve_book(6, 'Jo March');
ROLLBACK TO SAVEPOINT s;
SAVEPOINT t;
SELECT status FROM medreserve_hold(6, 'Kim Lo');
RELEASE SAVEPOINT t;
COMMIT;
SELECT bookings_confirmed, holds_taken FROM medreserve_counters();
SELECT status FROM medreserve_cancel(currval('medreserve.bookings_id_seq')::integer);

-- the dashboard row
SELECT doctors, future_slots, free_future_slots, pending_bookings, confirmed_bookings,
       failed_bookings, cancelled_bookings, overdue_holds, oldest_overdue_hold_age,
       metrics_available, refused_slot_taken
FROM medreserve_stats();
UPDATE medreserve.bookings SET status = 'PENDING', expires_at = now() - interval '1 hour'
WHERE id = 3;
SELECT overdue_holds, oldest_overdue_hold_age >= interval '1 hour' AS an_hour_overdue
FROM medreserve_stats();

-- a loop of savepoints does not pile up uncommitted counts (memory)
BEGIN;
DO $$
DECLARE
    b medreserve.bookings;
BEGIN
    FOR i IN 1..1000 LOOP
        BEGIN
            b := medreserve_book(6, 'Loop');
            PERFORM medreserve_cancel(b.id);
        EXCEPTION WHEN OTHERS THEN RAISE;
        END;
    END LOOP;
END
$$;
SELECT total_bytes < 256 * 1024 AS top_transaction_context_small
FROM pg_backend_memory_contexts WHERE name = 'TopTransactionContext';
COMMIT;
SELECT bookings_confirmed, cancellations FROM medreserve_counters();

-- the statuses of 1.2 (issue 13): every booking is counted once, by its
-- status; free slots and overdue holds are slot_is_free() and
-- hold_has_lapsed() (compared here with the tables)
SELECT id AS arrived FROM medreserve_book(1, 'Mo Arrived') \gset
SELECT id AS fulfilled FROM medreserve_book(4, 'Nia Fulfilled') \gset
SELECT id AS no_show FROM medreserve_book(6, 'Oz Noshow') \gset
UPDATE medreserve.bookings SET status = 'ARRIVED', arrived_at = now() WHERE id = :arrived;
UPDATE medreserve.bookings SET status = 'FULFILLED', arrived_at = now(), fulfilled_at = now()
WHERE id = :fulfilled;
UPDATE medreserve.bookings SET status = 'NOSHOW', no_show_at = now() WHERE id = :no_show;
SELECT arrived_bookings, fulfilled_bookings, no_show_bookings,
       pending_bookings + confirmed_bookings + failed_bookings + cancelled_bookings
       + arrived_bookings + fulfilled_bookings + no_show_bookings
       = (SELECT count(*) FROM medreserve.bookings) AS every_booking_once,
       free_future_slots = (SELECT count(*) FROM medreserve.slots s WHERE s.start_time > now()
                             AND medreserve.slot_is_free(s.capacity, s.seats_confirmed,
                                                         s.seats_held, s.hold_lapses_at)) AS free_by_slot_is_free,
       overdue_holds = (SELECT count(*) FROM medreserve.bookings b
                         WHERE medreserve.hold_has_lapsed(b.status, b.expires_at)) AS overdue_by_hold_has_lapsed
FROM medreserve_stats();
-- those bookings still hold their slots: none of the three is free
SELECT count(*) AS free_among_them FROM medreserve_available_slots(1, '2099-01-01', '2100-01-01')
WHERE id IN (1, 4, 6);
SELECT count(*) AS problems FROM medreserve_verify();

-- issue 14's refusals are counted too: an idempotency key sent again with
-- other arguments (PT422); the patient limits' PT429 is counted in retries.sql
SELECT refused_key_reused AS reused_before FROM medreserve_counters() \gset
SELECT status FROM medreserve_book(5, 'Pat Key', idempotency_key => 'k-stats');
SELECT status FROM medreserve_book(5, 'Pat Key', idempotency_key => 'k-stats');   -- a replay: not a refusal
\set VERBOSITY terse
SELECT id FROM medreserve_book(7, 'Pat Key', idempotency_key => 'k-stats');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT refused_key_reused - :reused_before AS key_reused, refused_over_limit
FROM medreserve_counters();
