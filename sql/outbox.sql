-- Events (issue 15): the outbox is written in the transaction of the change,
-- one event per transition, none for a refusal, a rollback or a rolled-back
-- savepoint; no patient data; consumers claim, acknowledge, get redelivery;
-- the sweep prunes what every consumer acknowledged.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings, medreserve.booking_slots,
         medreserve.working_hours, medreserve.time_off,
         medreserve.events, medreserve.event_consumers RESTART IDENTITY CASCADE;
SELECT id FROM medreserve_add_doctor('Dr Ada Grey', 'Cardiology');
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-02 09:00+00', '2099-03-02 10:45+00', 15);

-- one statement adding slots writes one event listing them
SELECT type, doctor_id, slot_ids, detail FROM medreserve.events;
TRUNCATE medreserve.events RESTART IDENTITY CASCADE;

-- every transition of a booking writes one event with the slots it covers
SELECT id, status FROM medreserve_book(1, 'Ann Lee', 'ann@example.org');
SELECT id, status FROM medreserve_hold(ARRAY[2, 3], 'Bob Marsh', 'bob@example.org');
SELECT id, status FROM medreserve_confirm(2);
SELECT id, status FROM medreserve_cancel(1);
SELECT id, status FROM medreserve_hold(4, 'Cy Park');
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = 3;
SELECT id, status FROM medreserve_book(4, 'Dee Dow');    -- releases the lapsed hold
SELECT id, status FROM medreserve_hold(5, 'Eve Ek');
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = 5;
SELECT medreserve_expire();                               -- the sweep settles it
SELECT id, type, booking_id, doctor_id, slot_ids, status, detail FROM medreserve.events ORDER BY id;

-- a committed change has exactly one event per transition
SELECT b.id AS booking_id, b.status,
       array_agg(e.type ORDER BY e.id) AS events
  FROM medreserve.bookings b LEFT JOIN medreserve.events e ON e.booking_id = b.id
 GROUP BY b.id ORDER BY b.id;

-- refusals leave no event
SELECT count(*) AS events_before FROM medreserve.events \gset
SELECT id FROM medreserve_book(2, 'Fay Fox');             -- taken: 23505
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_confirm(2);                     -- not pending: PT409
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_cancel(4242);                   -- absent: PT404
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_book(ARRAY[6, 4], 'Gus Gray');  -- one of them taken: 23505
\echo :LAST_ERROR_SQLSTATE
-- a rolled-back transaction and a rolled-back savepoint leave none
BEGIN;
SELECT id, status FROM medreserve_book(6, 'Hal Hart');
ROLLBACK;
BEGIN;
SELECT id, status FROM medreserve_book(7, 'Ida Ives');
SAVEPOINT s;
SELECT id, status FROM medreserve_cancel(7);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT count(*) - :events_before AS new_events,
       array_agg(type ORDER BY id) FILTER (WHERE id > :events_before) AS types
  FROM medreserve.events;

-- no patient data in any column of any event
SELECT count(*) AS events_with_patient_data
  FROM medreserve.events e, medreserve.bookings b
 WHERE strpos(e::text, b.patient_name) > 0
    OR strpos(lower(e::text), split_part(b.patient_email, '@', 1)) > 0;

-- medreserve.events = off writes none; only a superuser may turn it off
SET medreserve.events = off;
SELECT id, status FROM medreserve_cancel(7);
RESET medreserve.events;
SELECT count(*) FILTER (WHERE booking_id = 7) AS events_of_7 FROM medreserve.events;
CREATE ROLE mr_events_admin IN ROLE medreserve_admin;
SET ROLE mr_events_admin;
SET medreserve.events = off;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Consumers --------------------------------------------------------------
SELECT name, cursor_event_id FROM medreserve_register_consumer('mailer', from_start => true);
SELECT name, cursor_event_id > 0 AS starts_after_stored_events
  FROM medreserve_register_consumer('late-comer');
SELECT name FROM medreserve_register_consumer('mailer');      -- already there: unchanged
SELECT id FROM medreserve_claim_events('nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_claim_events('mailer', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_claim_events('mailer', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM medreserve_claim_events(E'mail\ter');
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_ack_events('nobody', 1::bigint);
\echo :LAST_ERROR_SQLSTATE
SELECT medreserve_ack_events('mailer', NULL::bigint);
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT id FROM medreserve_claim_events('mailer');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- claims hand out each event once, in order, up to max_events
SELECT id, type, booking_id, delivery_attempt FROM medreserve_claim_events('mailer', 4);
SELECT id, type, delivery_attempt FROM medreserve_claim_events('mailer', 4);
-- acknowledging: by id list (what each of several workers does), or up to an id
SELECT medreserve_ack_events('mailer', ARRAY[1, 3]::bigint[]);
SELECT medreserve_ack_events('mailer', 6::bigint);
SELECT array_agg(event_id ORDER BY event_id) AS unacknowledged
  FROM medreserve.event_deliveries WHERE consumer = 'mailer';
-- claimed but not acknowledged in time: handed out again, before new ones
UPDATE medreserve.event_deliveries SET claimed_at = now() - interval '6 minutes'
 WHERE consumer = 'mailer' AND event_id = 7;
SELECT id FROM medreserve_book(8, 'Jo Jay') \gset new_
SELECT id, type, delivery_attempt FROM medreserve_claim_events('mailer', 2);
-- an event claimed less than medreserve.event_claim_timeout ago is not (8)
SHOW medreserve.event_claim_timeout;
SELECT array_agg(id ORDER BY id) AS handed_out FROM medreserve_claim_events('mailer');
-- the late-comer gets only what happened after it registered
SELECT id, type FROM medreserve_claim_events('late-comer');

-- Retention --------------------------------------------------------------
-- everything is old now; 'mailer' still owes acknowledgements
UPDATE medreserve.events SET occurred_at = now() - interval '31 days';
SELECT medreserve_ack_events('late-comer', 1000::bigint);
SELECT medreserve_expire();
SELECT array_agg(id ORDER BY id) AS kept FROM medreserve.events;
SELECT medreserve_ack_events('mailer', 1000::bigint);
SELECT medreserve_expire();
SELECT count(*) AS kept FROM medreserve.events;
-- younger than medreserve.event_retention: kept even when acknowledged
SELECT id FROM medreserve_cancel(8);
SELECT count(*) FROM medreserve_claim_events('mailer');
SELECT count(*) FROM medreserve_claim_events('late-comer');
SELECT medreserve_ack_events('mailer', 1000::bigint) + medreserve_ack_events('late-comer', 1000::bigint) AS acked;
SELECT medreserve_expire();
SELECT count(*) AS kept FROM medreserve.events;
SELECT medreserve_unregister_consumer('late-comer'), medreserve_unregister_consumer('late-comer');

-- a reschedule (issue 13): the old booking is cancelled, the new one made,
-- and the new one linked to the old: cancelled, booked, rescheduled
SELECT count(*) FROM medreserve_add_slots(1, '2099-03-03 09:00+00', '2099-03-03 09:15+00', 15);
SELECT id AS old_booking FROM medreserve_book(9, 'Kim Kay') \gset
SELECT id AS new_booking FROM medreserve_reschedule(:old_booking, 10) \gset
SELECT type, booking_id - :old_booking AS booking, slot_ids, status, detail - 'from_booking' AS detail,
       (detail->>'from_booking')::integer = :old_booking AS from_old
  FROM medreserve.events WHERE booking_id IN (:old_booking, :new_booking) ORDER BY id;
-- time off (issue 12): an event without its reason; the free slots it
-- clears are removed with their own event
SELECT count(*) FROM medreserve_add_time_off(1, '2099-03-02 10:00+00', '2099-03-02 11:00+00', 'Family matters');
SELECT (medreserve_remove_time_off((SELECT max(id) FROM medreserve.time_off))).id IS NOT NULL AS removed;
SELECT type, doctor_id, slot_ids, detail - 'time_off_id' AS detail
  FROM medreserve.events WHERE type LIKE 'time_off%' OR type = 'slots_removed' ORDER BY id;
SELECT count(*) AS events_with_the_reason FROM medreserve.events WHERE strpos(detail::text, 'Family') > 0;

SELECT * FROM medreserve_verify();
-- events restored from another cluster carry transaction ids ahead of this one
BEGIN;
UPDATE medreserve.events SET xact_id = '4000000000000';
SELECT * FROM medreserve_verify();
ROLLBACK;
