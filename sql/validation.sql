-- Bad input gets a clear error (22004 / 22023) and leaves no row behind.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots
    RESTART IDENTITY CASCADE;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, '2099-03-02 09:00+00');

-- NULLs: 22004, whichever argument
SELECT id FROM medreserve_book(NULL::integer, 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(NULL::integer[], 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(ARRAY[1, NULL], 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_hold(1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_cancel(NULL);
\echo :LAST_ERROR_SQLSTATE
-- an untyped NULL cannot choose between the two overloads
SELECT id FROM medreserve_book(NULL, 'Ann Lee');

-- names: blank, too long, control characters
SELECT id FROM medreserve_book(1, '');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, E' \t ');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, repeat('n', 201));
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, E'Ann\nLee');
\echo :LAST_ERROR_SQLSTATE
-- 200 characters of a multibyte name are fine (characters, not bytes, count)
SELECT id, char_length(patient_name) FROM medreserve_hold(1, repeat('é', 200));
SELECT id, status FROM medreserve_cancel(1);

-- emails
SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann.example.org');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@@example.org');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lee', '@example.org');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@localhost');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@example..org');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann lee@example.org');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lee', repeat('a', 60) || '@' || repeat('b', 200) || '.org');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, 'Ann Lee', '');
\echo :LAST_ERROR_SQLSTATE

-- slot lists: empty, repeated, too long, two-dimensional
SELECT id FROM medreserve_book(ARRAY[]::integer[], 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(ARRAY[1, 1], 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_hold(ARRAY(SELECT generate_series(1, 101)), 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(ARRAY[[1, 2], [3, 4]], 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE

-- ids that cannot exist are simply unknown
SELECT id FROM medreserve_book(0, 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(-2147483648, 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE

-- SQL-shaped input is data, stored as given
SELECT patient_name FROM medreserve_book(1, 'Robert''); DROP TABLE medreserve.slots; --');
SELECT count(*) AS slots FROM medreserve.slots;

-- nothing refused left a row behind: one cancelled hold, one booking
SELECT id, status FROM medreserve.bookings ORDER BY id;
SELECT booking_id, slot_id FROM medreserve.booking_slots;

-- read-only transactions (PostgREST's GET, a standby) cannot change bookings
BEGIN READ ONLY;
SELECT id FROM medreserve_book(1, 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN READ ONLY;
SELECT medreserve_expire();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- the locking protocol needs READ COMMITTED: other levels are refused clearly
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT id FROM medreserve_hold(1, 'Ann Lee');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT id FROM medreserve_cancel(1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Unicode blanks are trimmed and a name of only blanks is blank; C1 controls refused
SELECT status FROM medreserve_cancel(2);
SELECT patient_name, char_length(patient_name) FROM medreserve_hold(1, U&'\00A0\3000Ann Lee\2003 ');
SELECT id FROM medreserve_book(1, U&'\00A0\2002\3000');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, U&'Ann\0085Lee');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(1, U&'Ann\009BLee');
\echo :LAST_ERROR_SQLSTATE
