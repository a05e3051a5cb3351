/*-------------------------------------------------------------------------
 *
 * appointment.c
 *	  The appointment's life after booking (issue 13): reschedule, check-in,
 *	  completion and no-show, by hand or by the sweep.
 *
 * A reschedule moves a live booking to other slots in one transaction: it
 * locks the old and the new slots together in ascending id order (as every
 * booker does, so it cannot deadlock with them or with another reschedule),
 * then the booking row, cancels the old booking (reason "rescheduled") and
 * makes the new one through booking.c's one insert path, with the same
 * patient data and kind (a hold stays a hold, with a fresh expiry).  A
 * patient's move obeys the rules of booking (retries.c): the booking window
 * for the new slots, and the live-holds limit for the slots a hold gains.
 * Any refusal aborts the whole call: nothing changes.
 *
 * ARRIVED, FULFILLED and NOSHOW keep their slots (booking_slots rows stay):
 * the visit took, or was owed, that time.  Only admins set them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "medreserve.h"
#include "retries.h"

PG_FUNCTION_INFO_V1(medreserve_reschedule_slot);
PG_FUNCTION_INFO_V1(medreserve_reschedule_slots);
PG_FUNCTION_INFO_V1(medreserve_check_in);
PG_FUNCTION_INFO_V1(medreserve_complete);
PG_FUNCTION_INFO_V1(medreserve_mark_no_show);

/*
 * The status changes an admin makes after the booking, defined once: from
 * which statuses, and from when until when (relative to the booking's span).
 */
typedef struct Transition
{
	const char *function;		/* the API function, for messages */
	const char *verb;			/* "check in": for messages */
	const char *to_status;
	const char *from_statuses[2];	/* NULL-terminated when shorter */
	const char *from_text;		/* the same, for a detail sentence */
	bool		opens_before_start; /* from check_in_window before the start */
	bool		closes_at_end;	/* refused once the booking has ended */
	MedreserveCounter counter;
} Transition;

static const Transition check_in = {
	"medreserve_check_in()", "check in", "ARRIVED", {"CONFIRMED", NULL}, "a CONFIRMED booking",
	true, true, COUNTER_CHECK_INS
};
static const Transition complete = {
	"medreserve_complete()", "complete", "FULFILLED", {"ARRIVED", "CONFIRMED"}, "an ARRIVED or CONFIRMED booking",
	false, false, COUNTER_FULFILLED
};
static const Transition no_show = {
	"medreserve_mark_no_show()", "mark as a no-show", "NOSHOW", {"CONFIRMED", NULL}, "a CONFIRMED booking",
	false, false, COUNTER_NO_SHOWS
};

/* Column of the current SPI result's first row; NULL is reported by *isnull. */
static Datum
first_row_column(int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
						 column, isnull);
}

/* Refuse (42501) a caller who is neither an admin nor a signed-in patient. */
static Caller
require_identified_caller(const char *verb)
{
	Caller		caller = medreserve_identify_caller();

	if (!caller.is_admin && caller.claimed_email == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a signed-in patient can %s a booking", verb),
				 errdetail("The caller is not a medreserve_admin and has no identity: an email claim counts only in a request that came through a member of medreserve_gateway."),
				 errhidestmt(true)));
	return caller;
}

/* Sorted union of two sorted id lists without duplicates; returns its length. */
static int
merge_ids(const int32 *a, int na, const int32 *b, int nb, int32 *out)
{
	int			i = 0,
				j = 0,
				n = 0;

	while (i < na || j < nb)
	{
		int32		next;

		if (j >= nb || (i < na && a[i] <= b[j]))
			next = a[i++];
		else
			next = b[j++];
		if (n == 0 || out[n - 1] != next)
			out[n++] = next;
	}
	return n;
}

static Datum
int4_array(const int32 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int32GetDatum(ids[i]);
	return PointerGetDatum(construct_array(elems, n, INT4OID, sizeof(int32),
										   true, TYPALIGN_INT));
}

/*
 * medreserve_reschedule(booking_id, slot_id | slot_ids): move a live booking
 * that has not started to other slots, all or nothing.  Patients move only
 * their own bookings (others' look absent: PT404); admins any.
 */
static Datum
reschedule(FunctionCallInfo fcinfo, bool many_slots)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	int32		booking_id;
	int32	   *new_ids;
	int			nnew;
	int32	   *old_ids;
	int			nold;
	int32	   *all_ids;
	int			nall;
	Caller		caller;
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	Datum		lock_array;
	bool		isnull;
	ArrayType  *old_array;
	Datum	   *old_elems;
	char	   *status;
	BookingRequest request = {RESERVE_BOOK, NULL, NULL, NULL, NULL};
	int32		new_booking_id;
	Datum		booking;
	IdempotencyKey *key;
	const char *limited_email;

	medreserve_require_writable("medreserve_reschedule()");
	medreserve_require_read_committed("medreserve_reschedule()");
	booking_id = medreserve_check_booking_id(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", many_slots ? "slot_ids" : "slot_id"),
				 errhidestmt(true)));
	if (many_slots)
		nnew = medreserve_check_slot_ids(PG_GETARG_ARRAYTYPE_P(1), &new_ids);
	else
	{
		new_ids = palloc(sizeof(int32));
		new_ids[0] = PG_GETARG_INT32(1);
		nnew = 1;
	}
	caller = require_identified_caller("reschedule");
	/* 1.2 (issue 14): idempotency_key comes last */
	key = medreserve_idempotency_key(fcinfo, 2, caller.is_admin, caller.claimed_email);
	medreserve_key_for_reschedule(key, booking_id, new_ids, nnew);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* a replayed key answers with the new booking as it is now (retries.c) */
	if (medreserve_before_change(key))
	{
		booking = medreserve_copy_booking_row(fcinfo, caller_cxt);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
		return booking;
	}

	/* 1. the booking's slots, to lock them with the new ones */
	args[0] = Int32GetDatum(booking_id);
	if (caller.claimed_email != NULL)
		args[1] = CStringGetTextDatum(caller.claimed_email);
	else
		nulls[1] = 'n';
	medreserve_execute(PLAN_APPT_READ, args, nulls, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_NOT_FOUND),
				 errmsg("booking %d does not exist", booking_id),
				 errhidestmt(true)));
	old_array = DatumGetArrayTypeP(first_row_column(1, &isnull));
	deconstruct_array(old_array, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &old_elems, NULL, &nold);
	old_ids = palloc(sizeof(int32) * Max(nold, 1));
	for (int i = 0; i < nold; i++)
		old_ids[i] = DatumGetInt32(old_elems[i]);

	if (nold == nnew && memcmp(old_ids, new_ids, sizeof(int32) * nnew) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("booking %d already covers these slots", booking_id),
				 errhint("Choose other slots; a hold is not extended by moving it to its own slots."),
				 errhidestmt(true)));

	/* a patient's calls one at a time, and the booking window (retries.c) */
	limited_email = caller.is_admin ? NULL : caller.claimed_email;
	medreserve_before_move(limited_email, int4_array(new_ids, nnew));

	/* 2. old and new slots together, ascending: the bookers' lock order */
	all_ids = palloc(sizeof(int32) * (nold + nnew));
	nall = merge_ids(old_ids, nold, new_ids, nnew, all_ids);
	lock_array = int4_array(all_ids, nall);
	medreserve_execute(PLAN_LOCK_SLOTS, &lock_array, NULL, SPI_OK_SELECT);

	/* 3. the booking itself; a cancel or the sweep may have come first */
	medreserve_execute(PLAN_APPT_LOCK, args, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "booking %d vanished while it was being rescheduled", booking_id);
	status = TextDatumGetCString(first_row_column(1, &isnull));
	if (!DatumGetBool(first_row_column(4, &isnull)) ||
		(strcmp(status, "PENDING") != 0 && strcmp(status, "CONFIRMED") != 0))
	{
		if (strcmp(status, "PENDING") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_MEDRESERVE_CONFLICT),
					 errmsg("booking %d has expired", booking_id),
					 errdetail("Its hold lapsed at %s.",
							   medreserve_iso_utc(DatumGetTimestampTz(first_row_column(2, &isnull)))),
					 errhint("Hold or book the slots again."),
					 errhidestmt(true)));
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_CONFLICT),
				 errmsg("booking %d cannot be rescheduled", booking_id),
				 errdetail("Its status is %s; only a PENDING or CONFIRMED booking can be rescheduled.",
						   status),
				 errhidestmt(true)));
	}
	if (DatumGetBool(first_row_column(5, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_CONFLICT),
				 errmsg("booking %d has already started", booking_id),
				 errdetail("It started at %s.",
						   medreserve_iso_utc(DatumGetTimestampTz(first_row_column(3, &isnull)))),
				 errhint("Only bookings that have not started can be rescheduled."),
				 errhidestmt(true)));

	request.kind = strcmp(status, "PENDING") == 0 ? RESERVE_HOLD : RESERVE_BOOK;
	request.patient_name = TextDatumGetCString(first_row_column(6, &isnull));
	{
		Datum		v;

		v = first_row_column(7, &isnull);
		request.patient_email = isnull ? NULL : TextDatumGetCString(v);
		v = first_row_column(8, &isnull);
		request.patient_phone = isnull ? NULL : TextDatumGetCString(v);
		v = first_row_column(9, &isnull);
		request.reason = isnull ? NULL : TextDatumGetCString(v);
	}
	/* (after the booking row is read: this runs a statement of its own) */
	medreserve_check_move_limits(limited_email, nnew, nold, request.kind == RESERVE_HOLD);

	/* 4. the old booking gives its slots back ... */
	args[1] = CStringGetTextDatum(caller.is_admin ? "clinic" : "patient");
	nulls[1] = ' ';
	medreserve_execute(PLAN_APPT_MOVE_OUT, args, nulls, SPI_OK_SELECT);
	if (SPI_processed != 1 || DatumGetInt32(first_row_column(1, &isnull)) != 1)
		elog(ERROR, "could not cancel booking %d to reschedule it", booking_id);

	/* 5. ... and the new one takes the new slots, or the call fails here */
	medreserve_insert_booking(new_ids, nnew, &request);
	new_booking_id = DatumGetInt32(first_row_column(SPI_fnumber(SPI_tuptable->tupdesc, "id"),
													&isnull));

	/* 6. each names the other */
	args[0] = Int32GetDatum(new_booking_id);
	args[1] = Int32GetDatum(booking_id);
	medreserve_execute(PLAN_APPT_LINK, args, NULL, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "could not link booking %d to booking %d", new_booking_id, booking_id);
	booking = medreserve_copy_booking_row(fcinfo, caller_cxt);
	medreserve_after_change(key, new_booking_id);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	medreserve_count_success(COUNTER_RESCHEDULES, 1);
	return booking;
}

static Datum
reschedule_slot(FunctionCallInfo fcinfo)
{
	return reschedule(fcinfo, false);
}

static Datum
reschedule_slots(FunctionCallInfo fcinfo)
{
	return reschedule(fcinfo, true);
}

Datum
medreserve_reschedule_slot(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(reschedule_slot, fcinfo));
}

Datum
medreserve_reschedule_slots(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(reschedule_slots, fcinfo));
}

/*
 * Explain why a transition changed nothing: no such booking (PT404), or its
 * status or the time is wrong (PT409, naming the status it has and the one
 * it needs, or the time window).
 */
static void
refuse_transition(int32 booking_id, const Transition *t)
{
	Datum		arg = Int32GetDatum(booking_id);
	bool		isnull;
	char	   *status;
	TimestampTz starts_at;
	TimestampTz ends_at;

	medreserve_execute(PLAN_APPT_STATE, &arg, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_NOT_FOUND),
				 errmsg("booking %d does not exist", booking_id),
				 errhidestmt(true)));
	status = TextDatumGetCString(first_row_column(1, &isnull));
	starts_at = DatumGetTimestampTz(first_row_column(2, &isnull));
	ends_at = DatumGetTimestampTz(first_row_column(3, &isnull));

	if (strcmp(status, t->from_statuses[0]) != 0 &&
		(t->from_statuses[1] == NULL || strcmp(status, t->from_statuses[1]) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_CONFLICT),
				 errmsg("cannot %s booking %d", t->verb, booking_id),
				 errdetail("Its status is %s; only %s can become %s.",
						   status, t->from_text, t->to_status),
				 errhidestmt(true)));
	if (t->closes_at_end && GetCurrentTransactionStartTimestamp() >= ends_at)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_CONFLICT),
				 errmsg("cannot %s booking %d after it has ended", t->verb, booking_id),
				 errdetail("It ended at %s.", medreserve_iso_utc(ends_at)),
				 errhidestmt(true)));
	if (t->opens_before_start)
		ereport(ERROR,
				(errcode(ERRCODE_MEDRESERVE_CONFLICT),
				 errmsg("cannot %s booking %d yet", t->verb, booking_id),
				 errdetail("It starts at %s; check-in opens medreserve.check_in_window (%d s) before.",
						   medreserve_iso_utc(starts_at), medreserve_check_in_window_s),
				 errhidestmt(true)));
	ereport(ERROR,
			(errcode(ERRCODE_MEDRESERVE_CONFLICT),
			 errmsg("cannot %s booking %d before it starts", t->verb, booking_id),
			 errdetail("It starts at %s.", medreserve_iso_utc(starts_at)),
			 errhidestmt(true)));
}

/*
 * Check-in, completion, no-show: admins only (42501 for anyone else).  The
 * UPDATE locks the booking row, so a concurrent cancel either comes first
 * (and this refuses: the status is CANCELLED) or waits and then refuses.
 */
static Datum
apply_transition(FunctionCallInfo fcinfo, const Transition *t)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	int32		booking_id;
	Datum		args[5];
	Datum		from[2];
	int			nfrom = t->from_statuses[1] == NULL ? 1 : 2;
	Datum		booking;

	medreserve_require_writable(t->function);
	medreserve_require_read_committed(t->function);
	booking_id = medreserve_check_booking_id(fcinfo, 0);
	if (!medreserve_identify_caller().is_admin)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the clinic can %s a booking", t->verb),
				 errdetail("The caller is not a member of medreserve_admin."),
				 errhidestmt(true)));

	for (int i = 0; i < nfrom; i++)
		from[i] = CStringGetTextDatum(t->from_statuses[i]);
	args[0] = Int32GetDatum(booking_id);
	args[1] = CStringGetTextDatum(t->to_status);
	args[2] = PointerGetDatum(construct_array(from, nfrom, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = Float8GetDatum(t->opens_before_start ? (double) medreserve_check_in_window_s : 0.0);
	args[4] = BoolGetDatum(t->closes_at_end);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	medreserve_execute(PLAN_APPT_TRANSITION, args, NULL, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 0)
		refuse_transition(booking_id, t);
	booking = medreserve_copy_booking_row(fcinfo, caller_cxt);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	medreserve_count_success(t->counter, 1);
	return booking;
}

static Datum
do_check_in(FunctionCallInfo fcinfo)
{
	return apply_transition(fcinfo, &check_in);
}

static Datum
do_complete(FunctionCallInfo fcinfo)
{
	return apply_transition(fcinfo, &complete);
}

static Datum
do_no_show(FunctionCallInfo fcinfo)
{
	return apply_transition(fcinfo, &no_show);
}

Datum
medreserve_check_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(do_check_in, fcinfo));
}

Datum
medreserve_complete(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(do_complete, fcinfo));
}

Datum
medreserve_mark_no_show(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(medreserve_call_counting_refusals(do_no_show, fcinfo));
}

/*
 * The sweep's part (expiry.c calls it, SPI connected): when
 * medreserve.no_show_after is set, mark CONFIRMED bookings whose start is
 * that long past as NOSHOW, in batches that skip locked rows.  Returns how
 * many were marked; counts them.
 */
int64
medreserve_sweep_no_shows(void)
{
	int64		marked = 0;
	int32		batch_marked;
	TimestampTz resume_from = DT_NOBEGIN;

	if (medreserve_no_show_after_s <= 0)
		return 0;
	do
	{
		Datum		args[3];
		bool		isnull;
		Datum		last_start;

		CHECK_FOR_INTERRUPTS();
		args[0] = Int32GetDatum(medreserve_expire_batch_size);
		args[1] = Float8GetDatum((double) medreserve_no_show_after_s);
		args[2] = TimestampTzGetDatum(resume_from);
		medreserve_execute(PLAN_APPT_MARK_NO_SHOWS, args, NULL, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "no-show batch returned " UINT64_FORMAT " rows", SPI_processed);
		batch_marked = DatumGetInt32(first_row_column(1, &isnull));
		marked += batch_marked;
		last_start = first_row_column(2, &isnull);
		if (isnull)
			break;
		resume_from = DatumGetTimestampTz(last_start);
	} while (batch_marked >= medreserve_expire_batch_size);

	medreserve_count_success(COUNTER_NO_SHOWS, (uint64) marked);
	return marked;
}

