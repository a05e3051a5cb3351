-- Holds: PENDING bookings that lapse, confirm, the sweep, lazy release.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, '2099-03-02 09:00+00'::timestamptz + (i - 1) * interval '15 minutes'
FROM generate_series(1, 6) AS i;

-- a hold lasts medreserve.hold_duration (default 2 minutes)
SHOW medreserve.hold_duration;
BEGIN;
SELECT id, status, expires_at - now() AS lasts FROM medreserve_hold(1, 'Ann Lee');
SET LOCAL medreserve.hold_duration = '10min';
SELECT id, status, expires_at - now() AS lasts FROM medreserve_hold(ARRAY[2, 3], 'Bob Marsh');
COMMIT;
SET medreserve.hold_duration = 0;
\echo :LAST_ERROR_SQLSTATE
SET medreserve.hold_durations = '1min';

-- a live hold keeps its slot; the detail says until when
UPDATE medreserve.bookings SET expires_at = '2099-01-01 10:00+00' WHERE id = 1;
SELECT id FROM medreserve_book(1, 'Cy Park');
\echo :LAST_ERROR_SQLSTATE

-- a live hold can be confirmed, once
SELECT id, status, expires_at FROM medreserve_confirm(1);
SELECT id FROM medreserve_confirm(1);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_confirm(4242);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_confirm(NULL);
\echo :LAST_ERROR_SQLSTATE

-- a lapsed hold cannot be confirmed ...
UPDATE medreserve.bookings SET expires_at = '2020-01-06 09:02+00' WHERE id = 2;
SELECT id FROM medreserve_confirm(2);
\echo :LAST_ERROR_SQLSTATE
-- ... and its slots are free at once: booking one of them fails the whole hold
SELECT id, slot_id, status FROM medreserve_book(3, 'Cy Park');
SELECT id, status FROM medreserve.bookings ORDER BY id;
SELECT booking_id, slot_id FROM medreserve.booking_slots ORDER BY slot_id;
-- so the other slot of that hold is free too
SELECT id, slot_id, status FROM medreserve_hold(2, 'Dee Holt');

-- the sweep: lapsed holds become FAILED and release their slots
SELECT id, status FROM medreserve_hold(ARRAY[5, 6], 'Eve Stone');
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id IN (4, 5);
SELECT medreserve_expire() AS expired;
SELECT id, status FROM medreserve.bookings ORDER BY id;
SELECT booking_id, slot_id FROM medreserve.booking_slots ORDER BY slot_id;
SELECT medreserve_expire() AS expired_again;

-- a hold can be cancelled, freeing its slot
SELECT id, status FROM medreserve_hold(5, 'Fay Lin');
SELECT id, status FROM medreserve_cancel(6);
SELECT count(*) AS slot_5_rows FROM medreserve.booking_slots WHERE slot_id = 5;

-- the sweep works in batches and settles a backlog bigger than one batch
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, '2099-04-01 00:00+00'::timestamptz + i * interval '15 minutes'
FROM generate_series(1, 250) AS i;
SELECT count(*) AS holds FROM (
    SELECT medreserve_hold(s.id, 'Gus ' || s.id) FROM medreserve.slots s WHERE s.id > 6
) AS h;
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE status = 'PENDING';
SET medreserve.expire_batch_size = 40;
SELECT medreserve_expire() AS expired;
RESET medreserve.expire_batch_size;
SELECT status, count(*) FROM medreserve.bookings GROUP BY status ORDER BY status;
SELECT count(*) AS rows_of_failed_bookings
FROM medreserve.booking_slots bs JOIN medreserve.bookings b ON b.id = bs.booking_id
WHERE b.status IN ('FAILED', 'CANCELLED');
