/*-------------------------------------------------------------------------
 *
 * booking.c
 *	  Book, hold, confirm and cancel: the state changes of a booking.
 *
 * Every change of a booking holds the row locks of all its slots, taken in
 * ascending id order, and keeps the slots' state (seats confirmed and held,
 * earliest hold lapse) exact in the same statement that changes the booking.
 *
 * Booking or holding locks the requested slots and reads from their rows
 * whether a seat is free.  A full slot refuses the call with 23505.  A slot
 * that is full only by a lapsed hold has it settled on the spot (FAILED, its
 * seats released), then the booking is inserted with a seat in each slot.
 * Confirm and cancel read the booking's slots, lock them, then change the
 * booking.  UNIQUE (booking_slots.slot_id, seat) with seat <= capacity stays
 * as the last line of defence should anything bypass this protocol.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "medreserve.h"
#include "retries.h"

PG_FUNCTION_INFO_V1(medreserve_book_slot);
PG_FUNCTION_INFO_V1(medreserve_book_slots);
PG_FUNCTION_INFO_V1(medreserve_hold_slot);
PG_FUNCTION_INFO_V1(medreserve_hold_slots);
PG_FUNCTION_INFO_V1(medreserve_confirm);
PG_FUNCTION_INFO_V1(medreserve_cancel);

/* The span of the slots a booking covers, as the slot lock reads it. */
typedef struct SlotSpan
{
	int32		first_slot;		/* the earliest slot's id */
	int32		doctor_id;
	TimestampTz starts_at;
	TimestampTz ends_at;
} SlotSpan;

/*
 * Who is calling (Caller, medreserve.h; identity.c has the rules).
 */
Caller
medreserve_identify_caller(void)
{
	Caller		caller = {false, NULL};

	caller.is_admin = medreserve_caller_is_admin();
	if (!caller.is_admin)
		caller.claimed_email = medreserve_patient_email();
	return caller;
}

/* Column of the current SPI result row, which the statements never leave NULL. */
static Datum
result_column(uint64 row, int column)
{
	bool		isnull;
	Datum		value;

	value = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						  column, &isnull);
	if (isnull)
		elog(ERROR, "unexpected null in column %d of a medreserve query", column);
	return value;
}

/*
 * Copy the first row of the current SPI result into the caller's memory as
 * a datum of the function's declared row type (medreserve.bookings).
 */
Datum
medreserve_copy_booking_row(FunctionCallInfo fcinfo, MemoryContext caller_cxt)
{
	TupleDesc	result_desc;
	MemoryContext spi_cxt;
	Datum		row;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (result_desc->natts != SPI_tuptable->tupdesc->natts)
		elog(ERROR, "medreserve.bookings does not match the row the query returned");

	spi_cxt = MemoryContextSwitchTo(caller_cxt);
	row = heap_copy_tuple_as_datum(SPI_tuptable->vals[0], result_desc);
	MemoryContextSwitchTo(spi_cxt);
	return row;
}

/* An int4[] datum of the ids, in the current memory context. */
static Datum
int4_array_datum(const int32 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int32GetDatum(ids[i]);
	return PointerGetDatum(construct_array(elems, n, INT4OID, sizeof(int32),
										   true, TYPALIGN_INT));
}

/*
 * Refuse with 23505 because row i of the PLAN_LOCK_SLOTS result has no free
 * seat, saying whether it is booked or held (and until when).
 */
static void
refuse_full_slot(uint64 row)
{
	int32		slot_id = DatumGetInt32(result_column(row, 1));
	int32		capacity = DatumGetInt32(result_column(row, 8));
	int32		seats_held = DatumGetInt32(result_column(row, 9));
	const char *lapses = seats_held > 0 ?
		medreserve_iso_utc(DatumGetTimestampTz(result_column(row, 10))) : NULL;

	if (capacity > 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("slot %d is full", slot_id),
				 lapses ? errdetail("All %d seats are booked or held; the earliest hold lapses at %s.",
									capacity, lapses)
				 : errdetail("All %d seats are booked.", capacity),
				 errhint("Choose another slot."),
				 errhidestmt(true)));
	if (lapses)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("slot %d is already held", slot_id),
				 errdetail("Another patient holds it until %s.", lapses),
				 errhint("Choose another slot, or try again after the hold lapses."),
				 errhidestmt(true)));
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("slot %d is already booked", slot_id),
			 errhint("Choose another slot."),
			 errhidestmt(true)));
}

/*
 * Lock the slots (ids sorted ascending) and check that they can be booked:
 * they exist (PT404), belong to one doctor (22023), have not started (PT409)
 * and have a free seat by their own state (23505).  Returns the id of the
 * earliest slot, the doctor and the span; *must_settle is set when a slot is
 * free only because a lapsed hold's seat can be taken back.
 */
static SlotSpan
lock_bookable_slots(const int32 *ids, int nslots, Datum id_array, bool *must_settle)
{
	int32		doctor_id = 0;
	int32		earliest_slot = 0;
	TimestampTz earliest_start = 0;
	TimestampTz latest_end = 0;
	SlotSpan	span;

	medreserve_execute(PLAN_LOCK_SLOTS, &id_array, NULL, SPI_OK_SELECT);

	for (int i = 0; i < nslots; i++)
	{
		/* both lists are sorted, so the first mismatch is a missing slot */
		if (i >= (int) SPI_processed ||
			DatumGetInt32(result_column(i, 1)) != ids[i])
			ereport(ERROR,
					(errcode(ERRCODE_MEDRESERVE_NOT_FOUND),
					 errmsg("slot %d does not exist", ids[i]),
					 errhidestmt(true)));
	}

	*must_settle = false;
	for (int i = 0; i < nslots; i++)
	{
		int32		row_doctor = DatumGetInt32(result_column(i, 2));
		TimestampTz start = DatumGetTimestampTz(result_column(i, 3));

		if (i == 0)
			doctor_id = row_doctor;
		else if (row_doctor != doctor_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("slots of different doctors cannot be booked together"),
					 errdetail("Slot %d belongs to doctor %d, slot %d to doctor %d.",
							   ids[0], doctor_id, ids[i], row_doctor),
					 errhint("Make one booking per doctor."),
					 errhidestmt(true)));

		if (DatumGetBool(result_column(i, 4)))
			ereport(ERROR,
					(errcode(ERRCODE_MEDRESERVE_CONFLICT),
					 errmsg("slot %d has already started", ids[i]),
					 errdetail("It started at %s.", medreserve_iso_utc(start)),
					 errhint("Only future slots can be booked."),
					 errhidestmt(true)));

		if (!DatumGetBool(result_column(i, 6)))
			refuse_full_slot(i);
		if (DatumGetBool(result_column(i, 7)))
			*must_settle = true;

		if (i == 0 || start < earliest_start)
		{
			earliest_start = start;
			earliest_slot = ids[i];
		}
		if (i == 0 || DatumGetTimestampTz(result_column(i, 5)) > latest_end)
			latest_end = DatumGetTimestampTz(result_column(i, 5));
	}
	span.first_slot = earliest_slot;
	span.doctor_id = doctor_id;
	span.starts_at = earliest_start;
	span.ends_at = latest_end;
	return span;
}

/*
 * Settle the lapsed holds on the locked slots, then read the slots again:
 * each must now have an unused seat.  A lapsed hold whose slots are all ours
 * becomes FAILED; one that also covers a slot another session holds locked
 * cannot be settled without waiting for it (and waiting out of id order
 * could deadlock), so only its seats on our slots are taken back and the
 * rest is left to that session, a cancel or the sweep.
 */
static void
settle_lapsed_on_slots(const int32 *ids, int nslots, Datum id_array)
{
	bool		isnull;
	Datum		lapsed;
	int64		seats_released = 0;
	int32		settled;

	medreserve_execute(PLAN_LAPSED_ON_SLOTS, &id_array, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "finding lapsed holds returned " UINT64_FORMAT " rows", SPI_processed);
	lapsed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "finding lapsed holds returned null");
	settled = medreserve_settle_lapsed(lapsed, &seats_released);
	medreserve_count_success(COUNTER_HOLDS_RELEASED_LAZILY, (uint64) settled);

	medreserve_execute(PLAN_RELEASE_LAPSED_SEATS, &id_array, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "releasing lapsed seats returned " UINT64_FORMAT " rows", SPI_processed);

	/* the locks are ours already: this only reads the slots' new state */
	medreserve_execute(PLAN_LOCK_SLOTS, &id_array, NULL, SPI_OK_SELECT);
	if (SPI_processed != (uint64) nslots)
		elog(ERROR, "slots vanished while locked");
	for (int i = 0; i < nslots; i++)
	{
		if (!DatumGetBool(result_column(i, 6)))
			refuse_full_slot(i);
		/* every lapsed seat on our slots was taken back just now */
		if (DatumGetBool(result_column(i, 7)))
			elog(ERROR, "slot %d is still full after its lapsed holds were released", ids[i]);
	}
}

/*
 * The request's parameters, in the order both booking statements take them
 * ($2..$7 of "book unused slot", $2..$5 and $10, $11 of "insert booking"):
 * patient name, email, status, hold duration (s), phone, reason.
 */
static void
request_datums(const BookingRequest *request, Datum *values, char *nulls)
{
	bool		hold = request->kind == RESERVE_HOLD;
	const char *texts[6] = {request->patient_name, request->patient_email,
		hold ? "PENDING" : "CONFIRMED", NULL, request->patient_phone, request->reason};

	for (int i = 0; i < 6; i++)
	{
		nulls[i] = texts[i] == NULL ? 'n' : ' ';
		if (texts[i] != NULL)
			values[i] = CStringGetTextDatum(texts[i]);
	}
	nulls[3] = hold ? ' ' : 'n';
	if (hold)
		values[3] = Float8GetDatum((double) medreserve_effective_hold_duration());
}

/*
 * The common case, one slot of capacity 1 that nobody holds or has booked,
 * in one statement (PLAN_BOOK_UNUSED_SLOT).  Returns false, having written
 * nothing, when the slot is not such a slot (or does not exist): the general
 * path then locks it and books it or says why not.
 */
static bool
book_unused_slot(int32 slot_id, const BookingRequest *request)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	values[0] = Int32GetDatum(slot_id);
	request_datums(request, values + 1, nulls + 1);

	medreserve_execute(PLAN_BOOK_UNUSED_SLOT, values, nulls, SPI_OK_SELECT);
	if (SPI_processed > 1)
		elog(ERROR, "booking an unused slot returned " UINT64_FORMAT " rows", SPI_processed);
	return SPI_processed == 1;
}

/* An int4 column of a slot row read by slot_looks_unused() (never NULL). */
static int32
slot_int_column(TupleTableSlot *row, Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);
	bool		isnull;
	Datum		value;

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "medreserve.slots has no column \"%s\"", name);
	value = slot_getattr(row, attnum, &isnull);
	return isnull ? -1 : DatumGetInt32(value);
}

/*
 * Does the slot look like one the one-statement path can book: capacity 1,
 * no seat confirmed or held, as this statement's snapshot sees it?  Only a
 * hint for choosing the path, read by a probe of the primary key (no SPI
 * statement): PLAN_BOOK_UNUSED_SLOT checks all of it again under the row
 * lock, and the general path decides everything itself.  It spares a group
 * session, or a slot already booked or held, a statement that could not
 * book it (in a race for a slot, every refused attempt paid for one).
 */
static bool
slot_looks_unused(int32 slot_id)
{
	Oid			nsp = get_namespace_oid("medreserve", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("slots", nsp) : InvalidOid;
	Oid			pkey;
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *row;
	ScanKeyData key;
	bool		unused = false;

	if (!OidIsValid(relid))
		elog(ERROR, "table medreserve.slots is missing");
	rel = table_open(relid, AccessShareLock);
	pkey = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pkey))
		elog(ERROR, "table medreserve.slots has no primary key");
	idx = index_open(pkey, AccessShareLock);

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(slot_id));
	scan = index_beginscan(rel, idx,
						   ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot(),
						   1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	row = table_slot_create(rel, NULL);
	if (index_getnext_slot(scan, ForwardScanDirection, row))
		unused = slot_int_column(row, relid, "capacity") == 1 &&
			slot_int_column(row, relid, "seats_confirmed") == 0 &&
			slot_int_column(row, relid, "seats_held") == 0;
	ExecDropSingleTupleTableSlot(row);
	index_endscan(scan);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return unused;
}

/*
 * Lock the slots (ids sorted ascending and distinct) and insert the booking
 * and its booking_slots rows; SPI must be connected, and the new row is left
 * in SPI_tuptable.  Book, hold and reschedule (appointment.c) all come here,
 * so there is one way a booking is made.  A slot lock this transaction
 * already holds is simply held again.
 */
void
medreserve_insert_booking(const int32 *ids, int nslots, const BookingRequest *request)
{
	Datum		id_array;
	Datum		values[11];
	char		nulls[11] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Datum		request_values[6];
	char		request_nulls[6];
	bool		must_settle;
	SlotSpan	span;

	if (nslots == 1 && slot_looks_unused(ids[0]) && book_unused_slot(ids[0], request))
		return;

	id_array = int4_array_datum(ids, nslots);
	span = lock_bookable_slots(ids, nslots, id_array, &must_settle);
	if (must_settle)
		settle_lapsed_on_slots(ids, nslots, id_array);

	values[0] = Int32GetDatum(span.first_slot);
	request_datums(request, request_values, request_nulls);
	for (int i = 0; i < 4; i++)
	{
		values[1 + i] = request_values[i];
		nulls[1 + i] = request_nulls[i];
	}
	values[5] = id_array;
	values[6] = Int32GetDatum(span.doctor_id);
	values[7] = TimestampTzGetDatum(span.starts_at);
	values[8] = TimestampTzGetDatum(span.ends_at);
	for (int i = 4; i < 6; i++)
	{
		values[5 + i] = request_values[i];
		nulls[5 + i] = request_nulls[i];
	}

	medreserve_execute(PLAN_INSERT_BOOKING, values, nulls, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "inserting a booking returned " UINT64_FORMAT " rows", SPI_processed);
}

/*
 * The common path of book and hold.  A replayed idempotency key, or a
 * signed-in patient's own hold of these slots, answers at once and counts
 * nothing; otherwise the fair-use limits are checked (retries.c) first.
 */
static Datum
reserve_slots(FunctionCallInfo fcinfo, const int32 *ids, int nslots,
			  const BookingRequest *request, const Caller *caller,
			  IdempotencyKey *key)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	Datum		booking;
	Datum	   *id_datums = palloc(sizeof(Datum) * nslots);
	int32		booking_id;

	for (int i = 0; i < nslots; i++)
		id_datums[i] = Int32GetDatum(ids[i]);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (medreserve_before_reserve(key, caller->is_admin ? NULL : request->patient_email,
								  caller->claimed_email != NULL,
								  PointerGetDatum(construct_array(id_datums, nslots, INT4OID,
																  sizeof(int32), true,
																  TYPALIGN_INT)),
								  nslots, request->kind == RESERVE_HOLD))
	{
		booking = medreserve_copy_booking_row(fcinfo, caller_cxt);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		return booking;
	}
	medreserve_insert_booking(ids, nslots, request);
	booking_id = DatumGetInt32(result_column(0, 1));
	booking = medreserve_copy_booking_row(fcinfo, caller_cxt);
	medreserve_after_change(key, booking_id);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	medreserve_count_success(request->kind == RESERVE_HOLD ? COUNTER_HOLDS_TAKEN
							 : COUNTER_BOOKINGS_CONFIRMED, 1);
	return booking;
}

/*
 * Read the arguments shared by book and hold: slot id or ids, patient name,
 * optional email.  Everything is checked before any row is locked.
 */
static Datum
reserve_from_args(FunctionCallInfo fcinfo, bool many_slots, ReserveKind kind)
{
	int32	   *ids;
	int			nslots;
	char	   *patient_name;
	char	   *patient_email = NULL;
	BookingRequest request = {kind, NULL, NULL, NULL, NULL};
	Caller		caller;
	IdempotencyKey *key;
	const char *action = kind == RESERVE_HOLD ? "medreserve_hold()" : "medreserve_book()";

	medreserve_require_writable(action);
	medreserve_require_read_committed(action);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", many_slots ? "slot_ids" : "slot_id"),
				 errhidestmt(true)));
	if (many_slots)
		nslots = medreserve_check_slot_ids(PG_GETARG_ARRAYTYPE_P(0), &ids);
	else
	{
		ids = palloc(sizeof(int32));
		ids[0] = PG_GETARG_INT32(0);
		nslots = 1;
	}

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("patient_name must not be null"),
				 errhidestmt(true)));
	patient_name = medreserve_check_patient_name(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
		patient_email = medreserve_check_patient_email(PG_GETARG_TEXT_PP(2));
	/* 1.2 added patient_phone and reason; 1.1's declarations have 3 arguments */
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		request.patient_phone = medreserve_check_patient_phone(PG_GETARG_TEXT_PP(3));
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		request.reason = medreserve_check_visit_text(PG_GETARG_TEXT_PP(4), "reason");

	caller = medreserve_identify_caller();
	if (caller.claimed_email != NULL)
	{
		if (patient_email != NULL && !medreserve_same_email(patient_email, caller.claimed_email))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot book for another patient"),
					 errhint("Leave patient_email out: bookings are made under the signed-in patient's email."),
					 errhidestmt(true)));
		patient_email = caller.claimed_email;
	}

	request.patient_name = patient_name;
	request.patient_email = patient_email;
	/* 1.2 (issue 14): idempotency_key comes last, after reason */
	key = medreserve_idempotency_key(fcinfo, 5, caller.is_admin, caller.claimed_email);
	medreserve_key_for_reserve(key, ids, nslots, &request);
	return reserve_slots(fcinfo, ids, nslots, &request, &caller, key);
}

static Datum
book_slot(FunctionCallInfo fcinfo)
{
	return reserve_from_args(fcinfo, false, RESERVE_BOOK);
}

static Datum
book_slots(FunctionCallInfo fcinfo)
{
	return reserve_from_args(fcinfo, true, RESERVE_BOOK);
}

static Datum
hold_slot(FunctionCallInfo fcinfo)
{
	return reserve_from_args(fcinfo, false, RESERVE_HOLD);
}

static Datum
hold_slots(FunctionCallInfo fcinfo)
{
	return reserve_from_args(fcinfo, true, RESERVE_HOLD);
}

Datum
medreserve_book_slot(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(book_slot, fcinfo));
}

Datum
medreserve_book_slots(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(book_slots, fcinfo));
}

Datum
medreserve_hold_slot(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(hold_slot, fcinfo));
}

Datum
medreserve_hold_slots(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(hold_slots, fcinfo));
}

/*
 * Explain why confirm or cancel changed nothing: the booking does not exist
 * (PT404), or its state forbids the change (PT409).
 */
static void
refuse_booking_change(Datum *args, const char *nulls, bool confirming)
{
	int32		booking_id = DatumGetInt32(args[0]);
	char	   *status;

	medreserve_execute(PLAN_BOOKING_STATE, args, nulls, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_NOT_FOUND),
				 errmsg("booking %d does not exist", booking_id),
				 errhidestmt(true)));

	status = TextDatumGetCString(result_column(0, 1));
	if (confirming && strcmp(status, "PENDING") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_CONFLICT),
				 errmsg("booking %d has expired", booking_id),
				 errdetail("Its hold lapsed at %s.",
						   medreserve_iso_utc(DatumGetTimestampTz(result_column(0, 2)))),
				 errhint("Hold or book the slot again."),
				 errhidestmt(true)));
	if (confirming)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_CONFLICT),
				 errmsg("booking %d is not pending", booking_id),
				 errdetail("Its status is %s; only a pending hold can be confirmed.", status),
				 errhidestmt(true)));
	ereport(ERROR,
			(errcode(ERRCODE_MEDRESERVE_CONFLICT),
			 errmsg("booking %d cannot be cancelled", booking_id),
			 errdetail("Its status is %s; only pending or confirmed bookings can be cancelled.",
					   status),
			 errhidestmt(true)));
}

/*
 * Read the booking's slots and lock them in ascending id order, as booking
 * does (so confirm and cancel cannot deadlock with bookers); returns them as
 * an int4[] datum (empty when the booking has no slots).
 */
static Datum
lock_booking_slots(Datum booking_id)
{
	bool		isnull;
	Datum		slot_ids;

	medreserve_execute(PLAN_BOOKING_SLOT_IDS, &booking_id, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "reading a booking's slots returned " UINT64_FORMAT " rows", SPI_processed);
	slot_ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "reading a booking's slots returned null");
	medreserve_execute(PLAN_LOCK_SLOTS, &slot_ids, NULL, SPI_OK_SELECT);
	return slot_ids;
}

/*
 * Confirm or cancel one booking.  Both lock the booking's slots first (in id
 * order, like bookers), then change the booking and its slots' state in one
 * statement.  If the booking's slots changed between the read and the locks
 * (a reschedule gives them back, leaving the booking CANCELLED), the
 * statement changes nothing and we read and lock again, then explain.
 */
static Datum
change_booking(FunctionCallInfo fcinfo, bool confirming)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	int32		booking_id = medreserve_check_booking_id(fcinfo, 0);
	Caller		caller = medreserve_identify_caller();
	Datum		args[5];
	char		nulls[5] = {' ', ' ', 'n', ' ', ' '};
	Datum		booking;
	const char *action = confirming ? "medreserve_confirm()" : "medreserve_cancel()";
	char	   *reason = NULL;
	IdempotencyKey *key;

	medreserve_require_writable(action);
	medreserve_require_read_committed(action);
	if (!caller.is_admin && caller.claimed_email == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a signed-in patient can %s a booking",
						confirming ? "confirm" : "cancel"),
				 errdetail("The caller is not a medreserve_admin and has no identity: an email claim counts only in a request that came through a member of medreserve_gateway."),
				 errhidestmt(true)));

	/* 1.2: cancel(booking_id, reason DEFAULT NULL); 1.1 declared one argument */
	if (!confirming && PG_NARGS() > 1 && !PG_ARGISNULL(1))
		reason = medreserve_check_visit_text(PG_GETARG_TEXT_PP(1), "reason");

	/* 1.2 (issue 14): confirm(booking_id, idempotency_key), cancel(booking_id, reason, idempotency_key) */
	key = medreserve_idempotency_key(fcinfo, confirming ? 1 : 2, caller.is_admin,
									 caller.claimed_email);
	medreserve_key_for_change(key, confirming, booking_id, reason);

	args[0] = Int32GetDatum(booking_id);
	if (caller.claimed_email != NULL)
		args[1] = CStringGetTextDatum(caller.claimed_email);
	else
		nulls[1] = 'n';
	if (reason != NULL)
	{
		args[2] = CStringGetTextDatum(reason);
		nulls[2] = ' ';
	}
	args[3] = Float8GetDatum((double) medreserve_late_cancel_window_s);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* a replayed key answers with the booking as it is now (retries.c) */
	if (medreserve_before_change(key))
	{
		booking = medreserve_copy_booking_row(fcinfo, caller_cxt);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		return booking;
	}

	for (int attempt = 0;; attempt++)
	{
		Datum		locked = lock_booking_slots(args[0]);
		Datum		now_ids;
		bool		isnull;

		args[4] = locked;
		if (confirming)
			medreserve_execute(PLAN_CONFIRM, args, nulls, SPI_OK_SELECT);
		else
			medreserve_execute(PLAN_CANCEL, args, nulls, SPI_OK_SELECT);
		if (SPI_processed > 0)
			break;

		/* did its slots change under us?  (the locks we have are kept) */
		medreserve_execute(PLAN_BOOKING_SLOT_IDS, args, NULL, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "reading a booking's slots returned " UINT64_FORMAT " rows",
				 SPI_processed);
		now_ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		/* both arrays come from the same array_agg: equal ids, equal bytes */
		if (attempt >= 3 || isnull || datumIsEqual(now_ids, locked, false, -1))
			refuse_booking_change(args, nulls, confirming);
	}
	booking = medreserve_copy_booking_row(fcinfo, caller_cxt);
	if (!confirming)
	{
		bool		isnull;
		Datum		late = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 SPI_fnumber(SPI_tuptable->tupdesc, "late_cancellation"),
										 &isnull);

		if (!isnull && DatumGetBool(late))
			medreserve_count_success(COUNTER_LATE_CANCELLATIONS, 1);
	}
	/* after the row is read: recording the key runs another statement */
	medreserve_after_change(key, booking_id);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	medreserve_count_success(confirming ? COUNTER_HOLDS_CONFIRMED
							 : COUNTER_CANCELLATIONS, 1);
	return booking;
}

static Datum
confirm_booking(FunctionCallInfo fcinfo)
{
	return change_booking(fcinfo, true);
}

static Datum
cancel_booking(FunctionCallInfo fcinfo)
{
	return change_booking(fcinfo, false);
}

Datum
medreserve_confirm(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(confirm_booking, fcinfo));
}

Datum
medreserve_cancel(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(cancel_booking, fcinfo));
}
