/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  The SQL statements of medreserve, prepared once per backend and kept.
 *
 * All SQL text lives here, in one table, so a reviewer can read every
 * statement the extension runs in one place.  Values are always passed as
 * $n parameters; tables are schema-qualified because the API functions pin
 * search_path to pg_catalog.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"

#include "medreserve.h"

#define MAX_PLAN_ARGS 11

typedef struct MedreserveStatement
{
	const char *name;			/* for error messages and the tag comment */
	const char *sql;
	int			nargs;
	Oid			argtypes[MAX_PLAN_ARGS];
} MedreserveStatement;

static const MedreserveStatement statements[NUM_MEDRESERVE_PLANS] = {
	[PLAN_LOCK_SLOTS] = {
		/*
		 * ORDER BY sits below the row locking, so the rows are locked in
		 * ascending id order and two multi-slot bookings cannot deadlock.
		 * The slot's own state tells whether a seat is free (slot_is_free,
		 * the one definition), and whether every seat has a row (full: a
		 * lapsed hold must be settled before its seat can be reused).
		 */
		"lock slots",
		"SELECT id, doctor_id, start_time, start_time <= now() AS started,"
		"       medreserve.slot_end(start_time, duration_minutes) AS ends_at,"
		"       medreserve.slot_is_free(capacity, seats_confirmed, seats_held, hold_lapses_at) AS free,"
		"       seats_confirmed + seats_held >= capacity AS full,"
		"       capacity, seats_held, hold_lapses_at"
		"  FROM medreserve.slots WHERE id = ANY ($1)"
		"  ORDER BY id FOR UPDATE",
		1, {INT4ARRAYOID}
	},
	[PLAN_LAPSED_ON_SLOTS] = {
		/* Runs with the slots locked: the lapsed holds that sit on them. */
		"find lapsed holds on slots",
		"SELECT coalesce(array_agg(DISTINCT b.id), '{}')"
		"  FROM medreserve.booking_slots bs"
		"  JOIN medreserve.bookings b ON b.id = bs.booking_id"
		" WHERE bs.slot_id = ANY ($1) AND medreserve.hold_has_lapsed(b.status, b.expires_at)",
		1, {INT4ARRAYOID}
	},
	[PLAN_LOCK_SLOTS_OF_BOOKINGS] = {
		/*
		 * Lock the slots of holds about to be settled, in id order, skipping
		 * slots someone else holds: the sweep and the lazy release never wait
		 * (a hold with a slot busy elsewhere is left to whoever holds it).
		 * Slots this transaction already holds are locked again at no cost.
		 */
		"lock slots of bookings",
		"SELECT coalesce(array_agg(l.id), '{}') FROM ("
		"  SELECT s.id FROM medreserve.slots s"
		"   WHERE s.id IN (SELECT bs.slot_id FROM medreserve.booking_slots bs"
		"                   WHERE bs.booking_id = ANY ($1))"
		"   ORDER BY s.id FOR UPDATE SKIP LOCKED) l",
		1, {INT4ARRAYOID}
	},
	[PLAN_SETTLE_LAPSED] = {
		/*
		 * Mark FAILED those of the holds ($1) that are still PENDING, have
		 * lapsed, and whose slots are all locked by us ($2); release their
		 * seats and update their slots' state.  Run after the locks, in a
		 * fresh snapshot: nothing else can change these rows meanwhile, so
		 * the CTEs' common snapshot is exact.  The status test also leaves
		 * alone a hold confirmed by a transaction that began before it lapsed.
		 * A hold whose row someone else has locked (outside the API, which
		 * always locks the slots first) is skipped too: the sweep never waits.
		 */
		"settle lapsed holds",
		"WITH settle AS MATERIALIZED ("
		"  SELECT b.id FROM medreserve.bookings b"
		"   WHERE b.id = ANY ($1) AND medreserve.hold_has_lapsed(b.status, b.expires_at)"
		"     AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs"
		"                      WHERE bs.booking_id = b.id"
		"                        AND bs.slot_id NOT IN (SELECT unnest($2::integer[])))"
		"   FOR UPDATE OF b SKIP LOCKED),"
		" failed AS ("
		"  UPDATE medreserve.bookings b SET status = 'FAILED', updated_at = now()"
		"    FROM settle WHERE b.id = settle.id"
		"   RETURNING b.id),"
		" released AS ("
		"  DELETE FROM medreserve.booking_slots bs USING failed"
		"   WHERE bs.booking_id = failed.id"
		"   RETURNING bs.slot_id),"
		" per_slot AS ("
		"  SELECT slot_id, count(*)::integer AS n FROM released GROUP BY slot_id),"
		" slot_state AS ("
		"  UPDATE medreserve.slots s SET seats_held = s.seats_held - p.n,"
		"         hold_lapses_at = CASE WHEN s.seats_held = p.n THEN NULL ELSE"
		"           (SELECT min(b.expires_at) FROM medreserve.booking_slots x"
		"              JOIN medreserve.bookings b ON b.id = x.booking_id"
		"             WHERE x.slot_id = s.id AND b.status = 'PENDING'"
		"               AND b.id NOT IN (SELECT id FROM settle)) END"
		"    FROM per_slot p WHERE s.id = p.slot_id)"
		"SELECT (SELECT count(*) FROM failed)::integer,"
		"       (SELECT count(*) FROM released)::integer",
		2, {INT4ARRAYOID, INT4ARRAYOID}
	},
	[PLAN_RELEASE_LAPSED_SEATS] = {
		/*
		 * Runs with the slots $1 locked by us, after the lapsed holds whose
		 * slots we all hold were settled: the lapsed holds left on them also
		 * cover a slot another session holds locked.  Take their seats on
		 * our slots back (their other seats stay until that session, a
		 * cancel or the sweep settles them), so a booker never waits for,
		 * nor is refused because of, a dead hold.  A lapsed hold cannot be
		 * confirmed, so losing a seat changes nothing for its patient.
		 */
		"release lapsed seats",
		"WITH gone AS ("
		"  DELETE FROM medreserve.booking_slots bs USING medreserve.bookings b"
		"   WHERE bs.slot_id = ANY ($1) AND b.id = bs.booking_id"
		"     AND medreserve.hold_has_lapsed(b.status, b.expires_at)"
		"   RETURNING bs.slot_id, bs.booking_id),"
		" per_slot AS ("
		"  SELECT slot_id, count(*)::integer AS n FROM gone GROUP BY slot_id),"
		" slot_state AS ("
		"  UPDATE medreserve.slots s SET seats_held = s.seats_held - p.n,"
		"         hold_lapses_at = CASE WHEN s.seats_held = p.n THEN NULL ELSE"
		"           (SELECT min(b.expires_at) FROM medreserve.booking_slots x"
		"              JOIN medreserve.bookings b ON b.id = x.booking_id"
		"             WHERE x.slot_id = s.id AND b.status = 'PENDING'"
		"               AND NOT EXISTS (SELECT 1 FROM gone g"
		"                                WHERE g.slot_id = x.slot_id AND g.booking_id = x.booking_id)) END"
		"    FROM per_slot p WHERE s.id = p.slot_id)"
		"SELECT count(*)::integer FROM gone",
		1, {INT4ARRAYOID}
	},
	[PLAN_INSERT_BOOKING] = {
		/*
		 * Runs with the slots locked and known to have a free seat: inserts
		 * the booking, takes a seat in each slot (the lowest free number) and
		 * counts it in the slot's state, in one statement.
		 */
		"insert booking",
		"WITH b AS ("
		"  INSERT INTO medreserve.bookings"
		"         (slot_id, patient_name, patient_email, status, expires_at,"
		"          doctor_id, starts_at, ends_at, patient_phone, reason)"
		"  VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second',"
		"          $7, $8, $9, $10, $11)"
		"  RETURNING *),"
		" s AS ("
		"  UPDATE medreserve.slots s"
		"     SET seats_confirmed = s.seats_confirmed + CASE WHEN b.status = 'CONFIRMED' THEN 1 ELSE 0 END,"
		"         seats_held = s.seats_held + CASE WHEN b.status = 'PENDING' THEN 1 ELSE 0 END,"
		"         hold_lapses_at = CASE WHEN b.status = 'PENDING'"
		"                               THEN least(s.hold_lapses_at, b.expires_at)"
		"                               ELSE s.hold_lapses_at END"
		"    FROM b WHERE s.id = ANY ($6)"
		"  RETURNING s.id, s.capacity, s.seats_confirmed + s.seats_held AS taken),"
		" bs AS ("
		"  INSERT INTO medreserve.booking_slots (booking_id, slot_id, slot_capacity, seat)"
		"  SELECT b.id, s.id, s.capacity,"
		"         CASE WHEN s.taken = 1 THEN 1 ELSE"
		"           (SELECT min(g) FROM generate_series(1, s.capacity) AS g"
		"             WHERE NOT EXISTS (SELECT 1 FROM medreserve.booking_slots x"
		"                                WHERE x.slot_id = s.id AND x.seat = g)) END"
		"    FROM b, s)"
		"SELECT * FROM b",
		11, {INT4OID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, INT4ARRAYOID,
		INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID}
	},
	[PLAN_BOOK_UNUSED_SLOT] = {
		/*
		 * The common case in one statement: one slot of capacity 1 that
		 * nobody holds or has booked and that has not started.  The UPDATE
		 * takes the slot's row lock (waiting for a concurrent booker, then
		 * re-checking these conditions on the row it left) and counts the
		 * seat; the booking and its seat are inserted only if it matched.
		 * No row back means nothing was written: the caller then takes the
		 * general path (lock, explain a refusal, settle a lapsed hold).
		 * The caller runs it only for a slot that its snapshot shows as
		 * such (slot_looks_unused, booking.c): a slot already taken, or a
		 * group session, goes to the general path at once.
		 * Group sessions take the general path: their lowest free seat must
		 * be read after the lock, and when this UPDATE has waited for a
		 * booker and no longer matches, the bookers woken together would
		 * race into the general path in no fixed order (a capacity-2 slot
		 * went to the third booker instead of the second in
		 * specs/iso_group_capacity), where a capacity-1 slot refuses them
		 * all alike.
		 */
		"book unused slot",
		"WITH s AS ("
		"  UPDATE medreserve.slots s"
		"     SET seats_confirmed = s.seats_confirmed + CASE WHEN $4 = 'CONFIRMED' THEN 1 ELSE 0 END,"
		"         seats_held = s.seats_held + CASE WHEN $4 = 'PENDING' THEN 1 ELSE 0 END,"
		"         hold_lapses_at = CASE WHEN $4 = 'PENDING' THEN now() + $5 * interval '1 second'"
		"                               ELSE s.hold_lapses_at END"
		"   WHERE s.id = $1 AND s.capacity = 1 AND s.seats_confirmed = 0 AND s.seats_held = 0"
		"     AND s.start_time > now()"
		"  RETURNING s.id, s.doctor_id, s.start_time, s.capacity,"
		"            medreserve.slot_end(s.start_time, s.duration_minutes) AS ends_at),"
		" b AS ("
		"  INSERT INTO medreserve.bookings"
		"         (slot_id, patient_name, patient_email, status, expires_at,"
		"          doctor_id, starts_at, ends_at, patient_phone, reason)"
		"  SELECT s.id, $2, $3, $4, now() + $5 * interval '1 second',"
		"         s.doctor_id, s.start_time, s.ends_at, $6, $7"
		"    FROM s"
		"  RETURNING *),"
		" bs AS ("
		"  INSERT INTO medreserve.booking_slots (booking_id, slot_id, slot_capacity, seat)"
		"  SELECT b.id, s.id, s.capacity, 1 FROM b, s)"
		"SELECT * FROM b",
		7, {INT4OID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, TEXTOID, TEXTOID}
	},
	[PLAN_BOOKING_SLOT_IDS] = {
		/*
		 * The slots of a booking, to lock before changing it.  Read without a
		 * lock; the change re-checks that they are still all its slots.
		 */
		"read slot ids of booking",
		"SELECT coalesce(array_agg(slot_id ORDER BY slot_id), '{}')"
		"  FROM medreserve.booking_slots WHERE booking_id = $1",
		1, {INT4OID}
	},
	[PLAN_CONFIRM] = {
		/*
		 * Runs with the booking's slots ($5) locked; changes nothing if the
		 * booking has a slot outside them (it changed since they were read).
		 */
		"confirm booking",
		"WITH c AS ("
		"  UPDATE medreserve.bookings"
		"     SET status = 'CONFIRMED', expires_at = NULL, updated_at = now()"
		"   WHERE id = $1 AND status = 'PENDING' AND medreserve.booking_is_live(status, expires_at)"
		"     AND ($2::text IS NULL OR medreserve.email_key(patient_email) = medreserve.email_key($2))"
		"     AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs"
		"                      WHERE bs.booking_id = $1 AND bs.slot_id <> ALL ($5))"
		"  RETURNING *),"
		" slot_state AS ("
		"  UPDATE medreserve.slots s"
		"     SET seats_held = s.seats_held - 1, seats_confirmed = s.seats_confirmed + 1,"
		"         hold_lapses_at = CASE WHEN s.seats_held = 1 THEN NULL ELSE"
		"           (SELECT min(b.expires_at) FROM medreserve.booking_slots x"
		"              JOIN medreserve.bookings b ON b.id = x.booking_id"
		"             WHERE x.slot_id = s.id AND b.status = 'PENDING' AND b.id <> c.id) END"
		"    FROM c, medreserve.booking_slots bs"
		"   WHERE bs.booking_id = c.id AND s.id = bs.slot_id)"
		"SELECT * FROM c",
		5, {INT4OID, TEXTOID, TEXTOID, FLOAT8OID, INT4ARRAYOID}
	},
	[PLAN_CANCEL] = {
		/*
		 * A patient ($2 set) or the clinic cancels; only a confirmed booking
		 * with less than medreserve.late_cancel_window ($4 s) to go is late.
		 * Like confirm, it runs with the booking's slots ($5) locked.
		 */
		"cancel booking",
		"WITH before AS ("
		"  SELECT status FROM medreserve.bookings WHERE id = $1),"
		" c AS ("
		"  UPDATE medreserve.bookings SET status = 'CANCELLED', updated_at = now(),"
		"         cancel_reason = $3, cancelled_at = now(),"
		"         cancelled_by = CASE WHEN $2::text IS NULL THEN 'clinic' ELSE 'patient' END,"
		"         late_cancellation = (status = 'CONFIRMED'"
		"                              AND starts_at - now() < $4 * interval '1 second')"
		"   WHERE id = $1 AND status IN ('PENDING', 'CONFIRMED')"
		"     AND ($2::text IS NULL OR medreserve.email_key(patient_email) = medreserve.email_key($2))"
		"     AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs"
		"                      WHERE bs.booking_id = $1 AND bs.slot_id <> ALL ($5))"
		"   RETURNING *),"
		" released AS ("
		"  DELETE FROM medreserve.booking_slots bs USING c"
		"   WHERE bs.booking_id = c.id"
		"   RETURNING bs.slot_id),"
		" slot_state AS ("
		"  UPDATE medreserve.slots s"
		"     SET seats_confirmed = s.seats_confirmed"
		"                           - CASE WHEN before.status = 'CONFIRMED' THEN 1 ELSE 0 END,"
		"         seats_held = s.seats_held - CASE WHEN before.status = 'PENDING' THEN 1 ELSE 0 END,"
		"         hold_lapses_at = CASE WHEN before.status <> 'PENDING' THEN s.hold_lapses_at"
		"                               WHEN s.seats_held = 1 THEN NULL ELSE"
		"           (SELECT min(b.expires_at) FROM medreserve.booking_slots x"
		"              JOIN medreserve.bookings b ON b.id = x.booking_id"
		"             WHERE x.slot_id = s.id AND b.status = 'PENDING' AND b.id <> $1) END"
		"    FROM released, before WHERE s.id = released.slot_id)"
		"SELECT * FROM c",
		5, {INT4OID, TEXTOID, TEXTOID, FLOAT8OID, INT4ARRAYOID}
	},
	[PLAN_BOOKING_STATE] = {
		/*
		 * Only used to explain a refusal, so it needs no lock.  A patient's
		 * filter ($2) makes others' bookings look absent.
		 */
		"read booking state",
		"SELECT status, expires_at FROM medreserve.bookings WHERE id = $1"
		"   AND ($2::text IS NULL OR medreserve.email_key(patient_email) = medreserve.email_key($2))",
		2, {INT4OID, TEXTOID}
	},
	[PLAN_EXPIRE_CANDIDATES] = {
		/*
		 * The next batch of lapsed holds, oldest first, without locking them
		 * (their slots are locked next, SKIP LOCKED).  Each batch starts at
		 * the last expiry the previous one reached ($2), so it does not wade
		 * again through the index entries of holds already failed.
		 */
		"find lapsed holds",
		"SELECT coalesce(array_agg(id), '{}'), count(*)::integer, max(expires_at) FROM ("
		"  SELECT id, expires_at FROM medreserve.bookings"
		"   WHERE medreserve.hold_has_lapsed(status, expires_at) AND expires_at >= $2"
		"   ORDER BY expires_at LIMIT $1) l",
		2, {INT4OID, TIMESTAMPTZOID}
	},
	[PLAN_NOTE_SWEEP] = {
		/* one row, made by the install script; runs of the sweep queue on it */
		"note sweep",
		"UPDATE medreserve.sweep_status"
		"   SET last_started_at = $3, last_finished_at = clock_timestamp(),"
		"       last_holds_expired = $1, last_slots_released = $2, runs = runs + 1",
		3, {INT8OID, INT8OID, TIMESTAMPTZOID}
	},

	/* The appointment's life (appointment.c, issue 13) */
	[PLAN_APPT_READ] = {
		/*
		 * Which slots a booking covers, read without a lock so that they can
		 * be locked with the new ones in ascending id order.  A patient's
		 * filter ($2) makes others' bookings look absent.
		 */
		"read booking slots",
		"SELECT ARRAY(SELECT bs.slot_id FROM medreserve.booking_slots bs"
		"              WHERE bs.booking_id = b.id ORDER BY bs.slot_id)"
		"  FROM medreserve.bookings b WHERE b.id = $1"
		"   AND ($2::text IS NULL OR medreserve.email_key(b.patient_email) = medreserve.email_key($2))",
		2, {INT4OID, TEXTOID}
	},
	[PLAN_APPT_LOCK] = {
		/* taken after the slot locks, as bookers lock slots before bookings */
		"lock booking",
		"SELECT status, expires_at, starts_at,"
		"       medreserve.booking_is_live(status, expires_at) AS live,"
		"       starts_at <= now() AS started,"
		"       patient_name, patient_email, patient_phone, reason"
		"  FROM medreserve.bookings WHERE id = $1 FOR UPDATE",
		1, {INT4OID}
	},
	[PLAN_APPT_MOVE_OUT] = {
		/*
		 * Runs with the booking's old slots locked (with the new ones, in id
		 * order): frees its seats and keeps those slots' state exact, as
		 * cancel does.
		 */
		"cancel rescheduled booking",
		"WITH before AS ("
		"  SELECT status FROM medreserve.bookings WHERE id = $1),"
		" c AS ("
		"  UPDATE medreserve.bookings SET status = 'CANCELLED', updated_at = now(),"
		"         cancel_reason = 'rescheduled', cancelled_at = now(),"
		"         cancelled_by = $2, late_cancellation = false"
		"   WHERE id = $1 AND status IN ('PENDING', 'CONFIRMED')"
		"   RETURNING id),"
		" released AS ("
		"  DELETE FROM medreserve.booking_slots bs USING c"
		"   WHERE bs.booking_id = c.id"
		"   RETURNING bs.slot_id),"
		" slot_state AS ("
		"  UPDATE medreserve.slots s"
		"     SET seats_confirmed = s.seats_confirmed"
		"                           - CASE WHEN before.status = 'CONFIRMED' THEN 1 ELSE 0 END,"
		"         seats_held = s.seats_held - CASE WHEN before.status = 'PENDING' THEN 1 ELSE 0 END,"
		"         hold_lapses_at = CASE WHEN before.status <> 'PENDING' THEN s.hold_lapses_at"
		"                               WHEN s.seats_held = 1 THEN NULL ELSE"
		"           (SELECT min(b.expires_at) FROM medreserve.booking_slots x"
		"              JOIN medreserve.bookings b ON b.id = x.booking_id"
		"             WHERE x.slot_id = s.id AND b.status = 'PENDING' AND b.id <> $1) END"
		"    FROM released, before WHERE s.id = released.slot_id)"
		"SELECT count(*)::integer FROM c",
		2, {INT4OID, TEXTOID}
	},
	[PLAN_APPT_LINK] = {
		"link rescheduled bookings",
		"WITH old AS ("
		"  UPDATE medreserve.bookings SET rescheduled_to = $1 WHERE id = $2)"
		"UPDATE medreserve.bookings SET rescheduled_from = $2"
		" WHERE id = $1 RETURNING *",
		2, {INT4OID, INT4OID}
	},
	[PLAN_APPT_TRANSITION] = {
		/*
		 * Check-in, completion and no-show: status $2 from one of $3, from
		 * $4 seconds before the start, until the end when $5.  The row lock
		 * the UPDATE takes orders it with a cancel of the same booking.
		 */
		"change appointment status",
		"UPDATE medreserve.bookings SET status = $2, updated_at = now(),"
		"       arrived_at = CASE WHEN $2 = 'ARRIVED' THEN now() ELSE arrived_at END,"
		"       fulfilled_at = CASE WHEN $2 = 'FULFILLED' THEN now() ELSE fulfilled_at END,"
		"       no_show_at = CASE WHEN $2 = 'NOSHOW' THEN now() ELSE no_show_at END"
		" WHERE id = $1 AND status = ANY ($3)"
		"   AND now() >= starts_at - $4 * interval '1 second'"
		"   AND (NOT $5 OR now() < ends_at)"
		" RETURNING *",
		5, {INT4OID, TEXTOID, TEXTARRAYOID, FLOAT8OID, BOOLOID}
	},
	[PLAN_APPT_STATE] = {
		/* only used to explain a refusal, so it needs no lock */
		"read appointment state",
		"SELECT status, starts_at, ends_at FROM medreserve.bookings WHERE id = $1",
		1, {INT4OID}
	},
	[PLAN_APPT_MARK_NO_SHOWS] = {
		/*
		 * The sweep's automatic no-show (medreserve.no_show_after = $2 s):
		 * confirmed bookings whose start is that long past, in batches of $1
		 * from the last start the previous batch reached ($3), skipping rows
		 * a check-in or completion holds right now.  The batch is updated by
		 * id: a join with it would be planned, generically, as a scan of all
		 * bookings on every sweep.
		 */
		"mark no-shows",
		"WITH due AS ("
		"  SELECT id, starts_at FROM medreserve.bookings"
		"   WHERE status = 'CONFIRMED' AND starts_at <= now() - $2 * interval '1 second'"
		"     AND starts_at >= $3"
		"   ORDER BY starts_at LIMIT $1"
		"   FOR UPDATE SKIP LOCKED),"
		" marked AS ("
		"  UPDATE medreserve.bookings b"
		"     SET status = 'NOSHOW', no_show_at = now(), updated_at = now()"
		"   WHERE b.id = ANY (ARRAY(SELECT id FROM due))"
		"   RETURNING b.id)"
		"SELECT (SELECT count(*) FROM marked)::integer,"
		"       (SELECT max(starts_at) FROM due)",
		3, {INT4OID, FLOAT8OID, TIMESTAMPTZOID}
	},

	/* --- Issue 14: idempotency keys and fair use (retries.c) --- */
	[PLAN_CLAIM_KEY] = {
		/*
		 * Insert the key, or wait on the unique index for the call that holds
		 * it and lock its row.  A row older than the window ($4 seconds) is
		 * taken over; any other conflict returns nothing.
		 */
		"claim idempotency key",
		"INSERT INTO medreserve.idempotency_keys AS k (scope, key, fingerprint)"
		" VALUES ($1, $2, $3)"
		" ON CONFLICT (scope, key) DO UPDATE"
		"   SET fingerprint = excluded.fingerprint, booking_id = NULL, created_at = now()"
		"   WHERE k.created_at <= now() - $4 * interval '1 second'"
		" RETURNING 1",
		4, {TEXTOID, TEXTOID, BYTEAOID, FLOAT8OID}
	},
	[PLAN_READ_KEY] = {
		"read idempotency key",
		"SELECT fingerprint, booking_id, created_at FROM medreserve.idempotency_keys"
		" WHERE scope = $1 AND key = $2",
		2, {TEXTOID, TEXTOID}
	},
	[PLAN_RECORD_KEY] = {
		"record idempotency key",
		"UPDATE medreserve.idempotency_keys SET booking_id = $3"
		" WHERE scope = $1 AND key = $2",
		3, {TEXTOID, TEXTOID, INT4OID}
	},
	[PLAN_READ_BOOKING] = {
		"read booking",
		"SELECT * FROM medreserve.bookings WHERE id = $1",
		1, {INT4OID}
	},
	[PLAN_LOCK_PATIENT] = {
		/* serialises one patient's calls; released when the transaction ends */
		"lock patient",
		"SELECT pg_catalog.pg_advisory_xact_lock(1836213619,"
		"       pg_catalog.hashtext(medreserve.email_key($1)))",
		1, {TEXTOID}
	},
	[PLAN_OWN_HOLD] = {
		/* the patient's live hold on exactly the slots $2 (sorted), if any */
		"find own hold",
		"SELECT b.id FROM medreserve.booking_slots bs"
		"  JOIN medreserve.bookings b ON b.id = bs.booking_id"
		" WHERE bs.slot_id = ($2::integer[])[1]"
		"   AND b.status = 'PENDING' AND medreserve.booking_is_live(b.status, b.expires_at)"
		"   AND medreserve.email_key(b.patient_email) = medreserve.email_key($1)"
		"   AND ARRAY(SELECT o.slot_id FROM medreserve.booking_slots o"
		"              WHERE o.booking_id = b.id ORDER BY o.slot_id) = $2::integer[]",
		2, {TEXTOID, INT4ARRAYOID}
	},
	[PLAN_SLOT_WINDOW] = {
		/*
		 * Slots sooner than the minimum notice ($2 s) or further than the
		 * advance ($3 s, 0: none).  Slots already started are left to the
		 * lock step, which says so.
		 */
		"check booking window",
		"SELECT id, start_time,"
		"       start_time > now() AND start_time < now() + $2 * interval '1 second',"
		"       $3 > 0 AND start_time > now() + $3 * interval '1 second'"
		"  FROM medreserve.slots WHERE id = ANY ($1) ORDER BY start_time, id",
		3, {INT4ARRAYOID, FLOAT8OID, FLOAT8OID}
	},
	[PLAN_PATIENT_LOAD] = {
		/* a patient's live holds in slots, and live bookings yet to start */
		"count patient bookings",
		"SELECT coalesce(sum(n.slots) FILTER (WHERE b.status = 'PENDING'), 0)::integer,"
		"       count(*) FILTER (WHERE b.starts_at > now())::integer"
		"  FROM medreserve.bookings b"
		"  CROSS JOIN LATERAL (SELECT count(*) AS slots FROM medreserve.booking_slots bs"
		"                       WHERE bs.booking_id = b.id) n"
		" WHERE medreserve.email_key(b.patient_email) = medreserve.email_key($1)"
		"   AND medreserve.booking_is_live(b.status, b.expires_at)",
		1, {TEXTOID}
	},
	[PLAN_PRUNE_KEYS] = {
		/*
		 * One batch per sweep; a key a call holds right now is left alone.
		 * The rows go by their ctids (locked, so they cannot move): a join
		 * with the batch would be planned, generically, as a scan of the
		 * whole table on every sweep.
		 */
		"prune idempotency keys",
		"WITH old AS ("
		"  SELECT ctid FROM medreserve.idempotency_keys"
		"   WHERE created_at <= now() - $1 * interval '1 second'"
		"   ORDER BY created_at LIMIT $2"
		"   FOR UPDATE SKIP LOCKED)"
		"DELETE FROM medreserve.idempotency_keys k"
		" WHERE k.ctid = ANY (ARRAY(SELECT ctid FROM old))",
		2, {FLOAT8OID, INT4OID}
	},

	/* --- Issue 15: the outbox (events.c) --- */
	[PLAN_INSERT_EVENT] = {
		/*
		 * The outbox row of a booking's transition (events.c): ids and
		 * statuses only, never patient data.  The slots are the booking's
		 * booking_slots rows (or its first slot when there are none yet).
		 */
		"insert event",
		"INSERT INTO medreserve.events (type, booking_id, doctor_id, slot_ids, status, detail)"
		" VALUES ($1, $2,"
		"         (SELECT s.doctor_id FROM medreserve.slots s WHERE s.id = $3),"
		"         coalesce((SELECT array_agg(bs.slot_id ORDER BY bs.slot_id)"
		"                     FROM medreserve.booking_slots bs WHERE bs.booking_id = $2),"
		"                  ARRAY[$3]),"
		"         $4, $5)"
		" RETURNING id",
		5, {TEXTOID, INT4OID, INT4OID, TEXTOID, JSONBOID}
	},
	[PLAN_ANY_CONSUMER] = {
		/* does anyone consume events?  (whether to ring the doorbell) */
		"any event consumer",
		"SELECT 1 FROM medreserve.event_consumers LIMIT 1",
		0, {InvalidOid}
	},
	[PLAN_PRUNE_EVENTS] = {
		/*
		 * Retention, run by the sweep: events older than $1 seconds that
		 * every registered consumer has been handed (they are at or before
		 * the lowest cursor) and has acknowledged (no delivery row left).  At
		 * most $2 per statement, oldest first.  The lowest cursor is read
		 * once (an anti join with the consumers, a small table that is seldom
		 * analysed, was estimated at millions of rows and JIT-compiled).  The first condition is a
		 * one-time filter: when the oldest event (by id, the order they were
		 * written in) is younger than the retention, nothing is read; the
		 * BRIN index alone would scan every range not yet summarised, that
		 * is all recent events, on every sweep.  The batch is deleted by id
		 * (an index probe per event): a join with it would be planned,
		 * generically, as a scan of the whole table.
		 */
		"prune events",
		"WITH old AS ("
		"  SELECT e.id FROM medreserve.events e"
		"   WHERE (SELECT f.occurred_at FROM medreserve.events f ORDER BY f.id LIMIT 1)"
		"           < now() - $1 * interval '1 second'"
		"     AND e.occurred_at < now() - $1 * interval '1 second'"
		"     AND (NOT EXISTS (SELECT 1 FROM medreserve.event_consumers)"
		"          OR (e.xact_id, e.id) <= (SELECT c.cursor_xact_id, c.cursor_event_id"
		"                                     FROM medreserve.event_consumers c"
		"                                    ORDER BY c.cursor_xact_id, c.cursor_event_id LIMIT 1))"
		"     AND NOT EXISTS (SELECT 1 FROM medreserve.event_deliveries d WHERE d.event_id = e.id)"
		"   ORDER BY e.occurred_at LIMIT $2),"
		" pruned AS ("
		"  DELETE FROM medreserve.events e WHERE e.id = ANY (ARRAY(SELECT id FROM old)) RETURNING 1)"
		"SELECT count(*)::integer FROM pruned",
		2, {INT8OID, INT4OID}
	},
};

static SPIPlanPtr kept_plans[NUM_MEDRESERVE_PLANS];

/*
 * Error context while a statement is prepared.  The statements name the
 * extension's SQL objects of this library's version; a library installed
 * before ALTER EXTENSION medreserve UPDATE finds some of them missing, and
 * this says what to do instead of leaving a bare "does not exist".
 */
static void
prepare_error_context(void *arg)
{
	errcontext("preparing medreserve statement \"%s\"; if the medreserve library was "
			   "updated, run ALTER EXTENSION medreserve UPDATE in this database",
			   (const char *) arg);
}

/*
 * Return the kept plan of a statement, preparing it on first use.  The plan
 * cache revalidates kept plans when the tables change (or the extension is
 * dropped and created again), so keeping them for the backend's life is safe.
 */
static SPIPlanPtr
get_plan(MedreservePlanId id)
{
	const MedreserveStatement *stmt = &statements[id];
	SPIPlanPtr	plan;
	ErrorContextCallback errcallback;
	char	   *tagged_sql;

	if (kept_plans[id] != NULL)
		return kept_plans[id];

	/*
	 * The text starts with a comment naming the statement, so that its
	 * CachedPlanSource is found by that name in pg_backend_memory_contexts
	 * (ident) and pg_stat_statements, whatever the statement says.
	 */
	tagged_sql = psprintf("/* medreserve: %s */ %s", stmt->name, stmt->sql);

	/*
	 * Every statement is a short index lookup or write whose best plan does
	 * not depend on the values; a generic plan spares the replanning that
	 * the plan cache would otherwise do for each call (measured in bench/).
	 */
	errcallback.callback = prepare_error_context;
	errcallback.arg = unconstify(char *, stmt->name);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	plan = SPI_prepare_cursor(tagged_sql, stmt->nargs, (Oid *) stmt->argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	error_context_stack = errcallback.previous;
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed for statement \"%s\": %s",
			 stmt->name, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed for statement \"%s\"", stmt->name);
	kept_plans[id] = plan;
	pfree(tagged_sql);
	return plan;
}

/*
 * Run one of the statements (SPI must be connected) and insist on the result
 * code the caller expects; results are left in SPI_tuptable/SPI_processed.
 * read_only is false so each statement takes a fresh snapshot and sees rows
 * committed while we waited for a lock.
 */
void
medreserve_execute(MedreservePlanId id, Datum *values, const char *nulls,
				   int expected_result)
{
	int			rc;

	rc = SPI_execute_plan(get_plan(id), values, nulls, false, 0);
	if (rc != expected_result)
		elog(ERROR, "SPI_execute_plan failed for statement \"%s\": %s",
			 statements[id].name, SPI_result_code_string(rc));
}
