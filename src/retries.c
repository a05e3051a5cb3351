/*-------------------------------------------------------------------------
 *
 * retries.c
 *	  Safe retries and fair use: idempotency keys on the calls that change
 *	  bookings, and the limits that keep one patient from taking a doctor's
 *	  day.
 *
 * Idempotency.  A changing call may carry a key (its idempotency_key
 * argument, else PostgREST's Idempotency-Key header).  The call first
 * inserts (scope, key, fingerprint) into medreserve.idempotency_keys, as
 * INSERT ... ON CONFLICT does: a second call with the same key waits on the
 * unique index until the first one's transaction ends.  If the first one
 * committed, the second finds its row and returns that booking's current
 * row, changing and counting nothing (or PT422 when the arguments differ);
 * if it rolled back, its key row is gone and the second call runs afresh.
 * A refused call rolls back its key row with everything else.
 *
 * Fair use.  A patient's calls (admins are exempt) are serialised by a
 * transaction-level advisory lock on the patient's email key, taken after
 * the key row and before any slot lock, so two sessions of one patient
 * cannot both pass a limit.  Under that lock: a hold the patient already has
 * on exactly these slots is returned as it is; the booking window
 * (min_notice, max_advance) is checked; then the live holds (in slots) and
 * upcoming bookings are counted against their limits (PT429).  A reschedule
 * takes the same lock and the same checks of its new slots (before it locks
 * any slot), except that it adds no upcoming booking: only the slots it
 * adds to a hold count against a limit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "medreserve.h"
#include "retries.h"

/* First key of the advisory locks that serialise one patient's calls ("mres"). */
#define PATIENT_LOCK_SPACE	0x6D726573

/* Value of a column of the current SPI result; NULL is reported by *isnull. */
static Datum
column(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * A time as ISO 8601 in UTC to the second (2026-12-01T19:37:10Z), for error
 * details a client can parse whatever the session's TimeZone and DateStyle.
 */
char *
medreserve_iso_utc(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t))
		return pstrdup(TIMESTAMP_IS_NOBEGIN(t) ? "-infinity" : "infinity");
	/* no time zone asked for: the fields are UTC */
	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year, tm.tm_mon,
					tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * How long a new hold lasts: medreserve.hold_duration, which any role may
 * set, but never more than the superuser's medreserve.max_hold_duration.
 */
int
medreserve_effective_hold_duration(void)
{
	return Min(medreserve_hold_duration_s, medreserve_max_hold_duration_s);
}

/* The Idempotency-Key header of the PostgREST request, or NULL. */
static char *
header_key(void)
{
	const char *headers = GetConfigOption("request.headers", true, false);
	Jsonb	   *json;
	JsonbValue *value;
	static const char name[] = "idempotency-key";

	if (headers == NULL || headers[0] == '\0')
		return NULL;
	json = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(headers)));
	if (!JB_ROOT_IS_OBJECT(json))
		return NULL;
	value = getKeyJsonValueFromContainer(&json->root, name, (int) strlen(name), NULL);
	if (value == NULL || value->type != jbvString)
		return NULL;
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/*
 * The call's idempotency key, from argument argno (when the SQL declaration
 * has it and it is not NULL) or the Idempotency-Key header; NULL when there
 * is none.  A key is 1..200 printable ASCII characters (22023 otherwise).
 * Keys are scoped to the caller: a signed-in patient's email key, else the
 * calling role (an admin, a kiosk).
 */
IdempotencyKey *
medreserve_idempotency_key(FunctionCallInfo fcinfo, int argno, bool is_admin,
						   const char *claimed_email)
{
	IdempotencyKey *key;
	char	   *value;
	bool		from_header = false;
	bool		valid;
	size_t		len;

	if (PG_NARGS() > argno && !PG_ARGISNULL(argno))
		value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	else
	{
		value = header_key();
		from_header = true;
		if (value == NULL)
			return NULL;
	}

	len = strlen(value);
	valid = len >= 1 && len <= MEDRESERVE_MAX_KEY_BYTES;
	for (size_t i = 0; valid && i < len; i++)
		valid = value[i] >= 0x20 && value[i] <= 0x7E;
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not valid",
						from_header ? "the Idempotency-Key header" : "idempotency_key"),
				 errdetail("An idempotency key is 1 to %d printable ASCII characters.",
						   MEDRESERVE_MAX_KEY_BYTES),
				 errhint("Send a random UUID, a new one for each new request."),
				 errhidestmt(true)));

	key = palloc0(sizeof(IdempotencyKey));
	key->key = value;
	if (claimed_email != NULL && !is_admin)
		key->scope = psprintf("patient:%s",
							  medreserve_email_key(claimed_email, strlen(claimed_email)));
	else
		key->scope = psprintf("role:%u", GetOuterUserId());
	return key;
}

/* Keep the SHA-256 of a call's canonical form as the key's fingerprint. */
static void
set_fingerprint(IdempotencyKey *key, const StringInfoData *request)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bytea	   *digest = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) request->data, request->len) < 0 ||
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(digest), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	SET_VARSIZE(digest, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	key->fingerprint = digest;
}

/* A text field of a canonical form: its length, then the text; "-" for NULL. */
static void
append_field(StringInfo request, const char *value)
{
	if (value == NULL)
		appendStringInfoString(request, "\n-");
	else
		appendStringInfo(request, "\n%zu:%s", strlen(value), value);
}

/* The sorted slot ids of a canonical form. */
static void
append_slots(StringInfo request, const int32 *ids, int nslots)
{
	appendStringInfoChar(request, '\n');
	for (int i = 0; i < nslots; i++)
		appendStringInfo(request, "%d,", ids[i]);
}

/*
 * The fingerprint of a book or hold: the operation, the sorted slot ids and
 * the (checked) patient data it would write, the email by its key; each text
 * field is length-prefixed, so no two different calls share a canonical form.
 */
void
medreserve_key_for_reserve(IdempotencyKey *key, const int32 *ids, int nslots,
						   const BookingRequest *request)
{
	StringInfoData canonical;

	if (key == NULL)
		return;
	initStringInfo(&canonical);
	appendStringInfoString(&canonical, request->kind == RESERVE_HOLD ? "hold" : "book");
	append_slots(&canonical, ids, nslots);
	append_field(&canonical, request->patient_name);
	append_field(&canonical, request->patient_email == NULL ? NULL :
				 medreserve_email_key(request->patient_email,
									  strlen(request->patient_email)));
	append_field(&canonical, request->patient_phone);
	append_field(&canonical, request->reason);
	set_fingerprint(key, &canonical);
}

/* The fingerprint of a confirm or cancel: the operation, the booking, the reason. */
void
medreserve_key_for_change(IdempotencyKey *key, bool confirming, int32 booking_id,
						  const char *reason)
{
	StringInfoData canonical;

	if (key == NULL)
		return;
	initStringInfo(&canonical);
	appendStringInfo(&canonical, "%s\n%d", confirming ? "confirm" : "cancel", booking_id);
	append_field(&canonical, reason);
	set_fingerprint(key, &canonical);
}

/* The fingerprint of a reschedule: the booking and the sorted new slot ids. */
void
medreserve_key_for_reschedule(IdempotencyKey *key, int32 booking_id,
							  const int32 *ids, int nslots)
{
	StringInfoData canonical;

	if (key == NULL)
		return;
	initStringInfo(&canonical);
	appendStringInfo(&canonical, "reschedule\n%d", booking_id);
	append_slots(&canonical, ids, nslots);
	set_fingerprint(key, &canonical);
}

/* Leave the current row of booking booking_id in SPI_tuptable. */
static void
read_booking(int32 booking_id)
{
	Datum		arg = Int32GetDatum(booking_id);

	medreserve_execute(PLAN_READ_BOOKING, &arg, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "booking %d of an idempotency key is missing", booking_id);
}

/*
 * Insert the key row, or wait for the call that holds it.  Returns false
 * when this call owns the key (run it); true when an earlier call with this
 * key and these arguments committed, its booking's current row then being in
 * SPI_tuptable.  The same key with other arguments is PT422.  A key older
 * than medreserve.idempotency_window but not yet pruned is taken over.
 */
static bool
claim_key(IdempotencyKey *key)
{
	Datum		values[4];
	bool		isnull;
	bytea	   *earlier;
	Datum		booking_id;

	values[0] = CStringGetTextDatum(key->scope);
	values[1] = CStringGetTextDatum(key->key);
	values[2] = PointerGetDatum(key->fingerprint);
	values[3] = Float8GetDatum((double) medreserve_idempotency_window_s);
	medreserve_execute(PLAN_CLAIM_KEY, values, NULL, SPI_OK_INSERT_RETURNING);
	if (SPI_processed == 1)
		return false;

	/* a fresh snapshot sees the row of the call we waited for */
	medreserve_execute(PLAN_READ_KEY, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "idempotency key row vanished while locked");
	earlier = DatumGetByteaPP(column(0, 1, &isnull));
	if (VARSIZE_ANY_EXHDR(earlier) != VARSIZE_ANY_EXHDR(key->fingerprint) ||
		memcmp(VARDATA_ANY(earlier), VARDATA_ANY(key->fingerprint),
			   VARSIZE_ANY_EXHDR(earlier)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_KEY_REUSED),
				 errmsg("idempotency key \"%s\" was already used for another request", key->key),
				 errdetail("It was first used at %s with other arguments; a retry must repeat the same call.",
						   medreserve_iso_utc(DatumGetTimestampTz(column(0, 3, &isnull)))),
				 errhint("Use a new key for a new request."),
				 errhidestmt(true)));
	booking_id = column(0, 2, &isnull);
	if (isnull)
		elog(ERROR, "idempotency key row without its booking");
	medreserve_execute(PLAN_READ_BOOKING, &booking_id, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_NOT_FOUND),
				 errmsg("booking %d does not exist", DatumGetInt32(booking_id)),
				 errdetail("It was made under idempotency key \"%s\" and has since been deleted.",
						   key->key),
				 errhidestmt(true)));
	return true;
}

/* Record which booking the call under this key made or changed. */
void
medreserve_after_change(IdempotencyKey *key, int32 booking_id)
{
	Datum		values[3];

	if (key == NULL)
		return;
	values[0] = CStringGetTextDatum(key->scope);
	values[1] = CStringGetTextDatum(key->key);
	values[2] = Int32GetDatum(booking_id);
	medreserve_execute(PLAN_RECORD_KEY, values, NULL, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		elog(ERROR, "idempotency key row to record is missing");
}

/* Confirm or cancel: a replayed key answers at once (row in SPI_tuptable). */
bool
medreserve_before_change(IdempotencyKey *key)
{
	return key != NULL && claim_key(key);
}

/* PT409 when a slot starts sooner than min_notice or later than max_advance. */
static void
check_booking_window(Datum id_array)
{
	Datum		values[3];
	bool		isnull;

	if (medreserve_min_notice_s == 0 && medreserve_max_advance_s == 0)
		return;
	values[0] = id_array;
	values[1] = Float8GetDatum((double) medreserve_min_notice_s);
	values[2] = Float8GetDatum((double) medreserve_max_advance_s);
	medreserve_execute(PLAN_SLOT_WINDOW, values, NULL, SPI_OK_SELECT);

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		int32		slot_id = DatumGetInt32(column(row, 1, &isnull));
		char	   *start = medreserve_iso_utc(DatumGetTimestampTz(column(row, 2, &isnull)));

		if (DatumGetBool(column(row, 3, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_MEDRESERVE_CONFLICT),
					 errmsg("slot %d starts too soon to be booked", slot_id),
					 errdetail("It starts at %s; bookings close %s before the start (medreserve.min_notice).",
							   start, GetConfigOptionByName("medreserve.min_notice", NULL, false)),
					 errhint("Choose a later slot."),
					 errhidestmt(true)));
		if (DatumGetBool(column(row, 4, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_MEDRESERVE_CONFLICT),
					 errmsg("slot %d is too far ahead to be booked", slot_id),
					 errdetail("It starts at %s; bookings open %s before the start (medreserve.max_advance).",
							   start, GetConfigOptionByName("medreserve.max_advance", NULL, false)),
					 errhint("Choose an earlier slot, or try again later."),
					 errhidestmt(true)));
	}
}

/*
 * PT429 when this call would take the patient past a limit: more_held slots
 * added to the patient's live holds (when hold), and one more upcoming
 * booking (when new_booking: a book or hold; a reschedule moves one).
 */
static void
check_patient_limits(Datum email, int more_held, bool hold, bool new_booking)
{
	bool		isnull;
	int32		held_slots;
	int32		upcoming;

	if ((!hold || more_held <= 0 || medreserve_max_live_holds == 0) &&
		(!new_booking || medreserve_max_future_bookings == 0))
		return;
	medreserve_execute(PLAN_PATIENT_LOAD, &email, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "counting a patient's bookings returned " UINT64_FORMAT " rows",
			 SPI_processed);
	held_slots = DatumGetInt32(column(0, 1, &isnull));
	upcoming = DatumGetInt32(column(0, 2, &isnull));

	if (hold && more_held > 0 && medreserve_max_live_holds > 0 &&
		held_slots + more_held > medreserve_max_live_holds)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_TOO_MANY),
				 errmsg("too many slots held"),
				 errdetail_plural("The patient holds %d slot now and asks for %d more; at most %d may be held at a time (medreserve.max_live_holds_per_patient).",
								  "The patient holds %d slots now and asks for %d more; at most %d may be held at a time (medreserve.max_live_holds_per_patient).",
								  held_slots, held_slots, more_held, medreserve_max_live_holds),
				 errhint("Confirm or cancel a hold, or let one lapse, then try again."),
				 errhidestmt(true)));
	if (new_booking && medreserve_max_future_bookings > 0 &&
		upcoming + 1 > medreserve_max_future_bookings)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_TOO_MANY),
				 errmsg("too many upcoming bookings"),
				 errdetail_plural("The patient has %d live upcoming booking; at most %d are allowed (medreserve.max_future_bookings_per_patient).",
								  "The patient has %d live upcoming bookings; at most %d are allowed (medreserve.max_future_bookings_per_patient).",
								  upcoming, upcoming, medreserve_max_future_bookings),
				 errhint("Cancel an upcoming booking first."),
				 errhidestmt(true)));
}

/*
 * Before book or hold locks any slot (SPI connected; id_array sorted).
 * Returns true with the answer row in SPI_tuptable when the call is a replay
 * of its key, or when the signed-in patient already holds exactly these
 * slots (their hold is returned as it is).  limited_email is the patient's
 * email when fair use applies (not an admin, an email known), else NULL;
 * signed_in says it is the caller's own identity, not an email a kiosk was
 * given (which proves nothing, so a kiosk is not shown anybody's hold).
 */
bool
medreserve_before_reserve(IdempotencyKey *key, const char *limited_email,
						  bool signed_in, Datum id_array, int nslots, bool hold)
{
	Datum		values[2];
	bool		isnull;
	int32		own_hold;

	if (key != NULL && claim_key(key))
		return true;
	if (limited_email == NULL)
		return false;

	/* one patient's calls, one at a time, until the transaction ends */
	values[0] = CStringGetTextDatum(limited_email);
	values[1] = id_array;
	medreserve_execute(PLAN_LOCK_PATIENT, values, NULL, SPI_OK_SELECT);

	if (signed_in)
	{
		medreserve_execute(PLAN_OWN_HOLD, values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			own_hold = DatumGetInt32(column(0, 1, &isnull));
			medreserve_after_change(key, own_hold);
			read_booking(own_hold);
			return true;
		}
	}

	check_booking_window(id_array);
	check_patient_limits(values[0], nslots, hold, true);
	return false;
}

/*
 * Before a reschedule locks any slot (SPI connected; id_array its new slots):
 * for a patient (limited_email not NULL; admins are exempt) take the lock
 * that serialises the patient's calls, as book and hold do and in the same
 * order (after the key row, before the slots), and check the new slots
 * against the booking window (PT409).
 */
void
medreserve_before_move(const char *limited_email, Datum id_array)
{
	Datum		email;

	if (limited_email == NULL)
		return;
	email = CStringGetTextDatum(limited_email);
	medreserve_execute(PLAN_LOCK_PATIENT, &email, NULL, SPI_OK_SELECT);
	check_booking_window(id_array);
}

/*
 * With the booking locked and still live, before it gives its slots back:
 * PT429 when moving a hold of nold slots to nnew slots would take the
 * patient past medreserve.max_live_holds_per_patient.  A move adds no
 * upcoming booking, so max_future_bookings_per_patient does not apply, and
 * a move that adds no held slot is never refused by a limit.
 */
void
medreserve_check_move_limits(const char *limited_email, int nnew, int nold, bool hold)
{
	if (limited_email == NULL)
		return;
	check_patient_limits(CStringGetTextDatum(limited_email), nnew - nold, hold, false);
}

/*
 * Delete one batch (medreserve.expire_batch_size) of keys older than
 * medreserve.idempotency_window; the sweep calls this once per run.  Keys
 * locked by a call in progress are skipped.
 */
void
medreserve_prune_idempotency_keys(void)
{
	Datum		values[2];

	values[0] = Float8GetDatum((double) medreserve_idempotency_window_s);
	values[1] = Int32GetDatum(medreserve_expire_batch_size);
	medreserve_execute(PLAN_PRUNE_KEYS, values, NULL, SPI_OK_DELETE);
}
