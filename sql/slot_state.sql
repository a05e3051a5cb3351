-- Slot state on the slot (seats confirmed and held, earliest lapse) and
-- group sessions (capacity, seats); medreserve_verify() checks the state.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

SET client_min_messages = warning;  -- TRUNCATE's notices name other issues' tables
TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
RESET client_min_messages;
SELECT id FROM medreserve_add_doctor('Dr Ada Grey');

-- group sessions: capacity 1..1000, default 1
SELECT id, capacity, seats_confirmed, seats_held, hold_lapses_at
  FROM medreserve_add_slots(1, '2099-03-02 09:00+00', '2099-03-02 09:15+00', 15, capacity => 3);
SELECT id, capacity FROM medreserve_add_slots(1, '2099-03-02 10:00+00', '2099-03-02 10:15+00');
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-03 09:00+00', '2099-03-03 09:00+00', 15, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-03 09:00+00', '2099-03-03 09:00+00', 15, 1001);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-03 09:00+00', '2099-03-03 09:00+00', 15, NULL);
\echo :LAST_ERROR_SQLSTATE

-- three patients take the three seats of slot 1; the fourth is refused
SELECT id, status FROM medreserve_book(1, 'Ann Lee');
SELECT id, status FROM medreserve_book(1, 'Bob Marsh');
SELECT id, status FROM medreserve_hold(1, 'Cy Park');
-- (a fixed lapse time for the output; the trigger carries it to the slot)
UPDATE medreserve.bookings SET expires_at = '2099-01-01 10:00+00' WHERE id = 3;
SELECT id FROM medreserve_book(1, 'Dee Holt');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(ARRAY[1, 2], 'Dee Holt');
\echo :LAST_ERROR_SQLSTATE
SELECT booking_id, slot_id, seat, slot_capacity FROM medreserve.booking_slots ORDER BY slot_id, seat;
SELECT id, seats_confirmed, seats_held, hold_lapses_at = (SELECT expires_at FROM medreserve.bookings WHERE id = 3) AS lapse_is_the_hold,
       medreserve.slot_status(capacity, seats_confirmed, seats_held, hold_lapses_at) AS status,
       medreserve.slot_seats_free(capacity, seats_confirmed, seats_held, hold_lapses_at) AS seats_free
  FROM medreserve.slots ORDER BY id;
SELECT id FROM medreserve_available_slots(1, '2099-03-01', '2099-03-04');

-- a cancelled seat is free again and the next booking takes that seat number
SELECT id, status FROM medreserve_cancel(2);
SELECT id, seats_confirmed, seats_held FROM medreserve.slots WHERE id = 1;
SELECT id, status FROM medreserve_book(1, 'Dee Holt');
SELECT booking_id, seat FROM medreserve.booking_slots WHERE slot_id = 1 ORDER BY seat;

-- a lapsed hold frees its seat without any write: the slot reads as free
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = 3;
SELECT id, seats_held, hold_lapses_at <= now() AS lapsed,
       medreserve.slot_status(capacity, seats_confirmed, seats_held, hold_lapses_at) AS status
  FROM medreserve.slots WHERE id = 1;
SELECT id FROM medreserve_available_slots(1, '2099-03-01', '2099-03-04');
-- ... and the next booker takes the seat back (the hold becomes FAILED)
SELECT id, status FROM medreserve_book(1, 'Eve Stone');
SELECT id, status FROM medreserve.bookings WHERE id = 3;
SELECT booking_id, seat FROM medreserve.booking_slots WHERE slot_id = 1 ORDER BY seat;
SELECT id, seats_confirmed, seats_held, hold_lapses_at FROM medreserve.slots WHERE id = 1;

-- confirm moves a seat from held to confirmed; the earliest lapse follows
SELECT id, status FROM medreserve_hold(3, 'Fay Lin');
SELECT seats_confirmed, seats_held, hold_lapses_at IS NOT NULL AS has_lapse FROM medreserve.slots WHERE id = 3;
SELECT id, status FROM medreserve_confirm(6);
SELECT seats_confirmed, seats_held, hold_lapses_at FROM medreserve.slots WHERE id = 3;

-- capacity: lowering below the seats taken is refused; otherwise seats move down
SELECT id FROM medreserve_set_capacity(1, 2);
\echo :LAST_ERROR_SQLSTATE
SELECT id, status FROM medreserve_cancel(1);
SELECT booking_id, seat FROM medreserve.booking_slots WHERE slot_id = 1 ORDER BY seat;
SELECT id, capacity, seats_confirmed FROM medreserve_set_capacity(1, 2);
SELECT booking_id, seat, slot_capacity FROM medreserve.booking_slots WHERE slot_id = 1 ORDER BY seat;
SELECT id, capacity FROM medreserve_set_capacity(1, 8);
SELECT id FROM medreserve_set_capacity(99, 2);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_set_capacity(1, 0);
\echo :LAST_ERROR_SQLSTATE

-- the last lines: no code path can put capacity + 1 rows on a slot
\set VERBOSITY terse
SELECT id, status FROM medreserve_book(4, 'Gus Ray');
INSERT INTO medreserve.booking_slots (booking_id, slot_id, seat) VALUES (1, 4, 2);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (1, 4);
\echo :LAST_ERROR_SQLSTATE
UPDATE medreserve.slots SET capacity = 1 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
UPDATE medreserve.slots SET seats_confirmed = seats_confirmed + 1 WHERE id = 4;
\echo :LAST_ERROR_SQLSTATE

\set VERBOSITY default

-- the sweep keeps the state too
SELECT id FROM medreserve_add_slots(1, '2099-03-02 11:00+00', '2099-03-02 11:00+00');
SELECT id, status FROM medreserve_hold(ARRAY[2, 5], 'Hal Moss');
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = 8;
SELECT id, seats_held, hold_lapses_at <= now() AS lapsed FROM medreserve.slots WHERE id IN (2, 5) ORDER BY id;
SELECT medreserve_expire();
SELECT id, seats_held, hold_lapses_at FROM medreserve.slots WHERE id IN (2, 5) ORDER BY id;

-- stats report seats
SELECT future_slots, free_future_slots, future_seats, free_future_seats FROM medreserve_stats();

-- availability reads one index range scan of slots, no probe of bookings
EXPLAIN (COSTS OFF)
SELECT s.* FROM medreserve.slots s
 WHERE s.doctor_id = 1 AND s.start_time >= '2099-03-01' AND s.start_time < '2099-03-08'
   AND s.start_time > now()
   AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)
 ORDER BY s.start_time;

-- drift is caught: medreserve_verify() names the slot whose state is wrong
SELECT problem, booking_id, slot_id FROM medreserve_verify();
BEGIN;
UPDATE medreserve.slots SET seats_held = 1, hold_lapses_at = '2099-01-01' WHERE id = 2;
SELECT problem, booking_id, slot_id FROM medreserve_verify();
ROLLBACK;

-- ==== The paths of issues 12-15 keep the state exact ====
-- a fresh doctor with a group session (2 seats) and two plain slots
SELECT id AS doc2 FROM medreserve_add_doctor('Dr Bo Lind') \gset
SELECT min(id) AS g FROM medreserve_add_slots(:doc2, '2099-04-01 09:00+00', '2099-04-01 09:00+00', 15, capacity => 2) \gset
SELECT min(id) AS p FROM medreserve_add_slots(:doc2, '2099-04-01 10:00+00', '2099-04-01 10:15+00') \gset
SELECT id AS r1 FROM medreserve_book(:g, 'Ann Lee') \gset
SELECT id AS r2 FROM medreserve_hold(:g, 'Bob Tran') \gset
-- FHIR and the cross-doctor search read the slot row: full, some seat held
SELECT medreserve_fhir_slot(:g) -> 'status' AS fhir_status;
SELECT count(*) AS found FROM medreserve_find_slots(doctor_ids => ARRAY[:doc2], from_time => '2099-04-01', until_time => '2099-04-02') WHERE slot_id = :g;
-- reschedule gives the seat back and takes one in the new slot, in one call
SELECT status FROM medreserve_reschedule(:r2, :p);
SELECT id, seats_confirmed, seats_held, hold_lapses_at IS NOT NULL AS has_lapse
  FROM medreserve.slots WHERE id IN (:g, :p) ORDER BY id;
SELECT medreserve_fhir_slot(:g) -> 'status' AS fhir_status;
SELECT count(*) AS found FROM medreserve_find_slots(doctor_ids => ARRAY[:doc2], from_time => '2099-04-01', until_time => '2099-04-02') WHERE slot_id = :g;
-- a confirmed booking moved between group seats and a plain slot
SELECT id AS r3 FROM medreserve_reschedule(:r1, :p + 1) \gset
SELECT id, seats_confirmed, seats_held FROM medreserve.slots WHERE id IN (:g, :p, :p + 1) ORDER BY id;
SELECT problem, booking_id, slot_id FROM medreserve_verify();
-- check-in, completion and no-show keep the seat confirmed: nothing changes on the slot
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE medreserve.slots SET start_time = now() - interval '5 minutes' WHERE id = :p + 1;
UPDATE medreserve.bookings SET starts_at = now() - interval '5 minutes',
                               ends_at = now() + interval '10 minutes' WHERE id = :r3;
COMMIT;
SELECT status FROM medreserve_check_in(:r3);
SELECT seats_confirmed, seats_held FROM medreserve.slots WHERE id = :p + 1;
SELECT status FROM medreserve_complete(:r3);
SELECT seats_confirmed, seats_held FROM medreserve.slots WHERE id = :p + 1;
SELECT problem, booking_id, slot_id FROM medreserve_verify();
-- time off removes only free slots: the group slot (free again) goes, the held one stays
SELECT count(*) AS kept FROM medreserve_add_time_off(:doc2, '2099-04-01 08:00+00', '2099-04-01 10:15+00');
SELECT id FROM medreserve.slots WHERE doctor_id = :doc2 ORDER BY id;
SELECT problem, booking_id, slot_id FROM medreserve_verify();
