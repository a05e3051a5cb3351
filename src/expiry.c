/*-------------------------------------------------------------------------
 *
 * expiry.c
 *	  The sweep: lapsed holds become FAILED and their slots are released.
 *
 * Bookings release lapsed holds on the slots they want by themselves, so the
 * sweep only keeps the tables tidy.  It never waits: it locks the slots of
 * the lapsed holds SKIP LOCKED, and a hold with a slot locked by a confirm,
 * cancel or booking in progress is left to them (every change of a booking
 * holds all its slots' locks, and keeps their state in the same statement).
 *
 * The work is done one batch at a time (medreserve.expire_batch).  The
 * procedure medreserve_run_expiry(), which the pg_cron job CALLs, commits
 * after each batch, so a booker waits at most for one batch's row locks; the
 * function medreserve_expire() runs every batch in the caller's transaction,
 * for ad-hoc use inside a transaction.  Both record the run in
 * medreserve.sweep_status (medreserve.note_sweep), which medreserve_health()
 * reports.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "medreserve.h"
#include "retries.h"

PG_FUNCTION_INFO_V1(medreserve_expire);
PG_FUNCTION_INFO_V1(medreserve_expire_batch_sql);
PG_FUNCTION_INFO_V1(medreserve_note_sweep_sql);

typedef struct ExpireBatch
{
	int32		holds_failed;
	int32		slots_released;
	int32		holds_found;	/* lapsed holds the batch looked at */
	bool		found;			/* did the batch find any lapsed hold? */
	TimestampTz last_expiry;	/* the latest expiry it reached, if found */
} ExpireBatch;

/*
 * Settle lapsed holds (an int4[] of booking ids; SPI connected): lock their
 * slots in id order, skipping slots locked by others, then mark FAILED those
 * still lapsed whose slots we all hold, release their seats and update their
 * slots' state.  Never waits for another transaction.  Returns how many holds
 * were settled and adds the seats released to *seats_released.
 */
int32
medreserve_settle_lapsed(Datum booking_ids, int64 *seats_released)
{
	Datum		args[2];
	bool		isnull;

	args[0] = booking_ids;
	medreserve_execute(PLAN_LOCK_SLOTS_OF_BOOKINGS, args, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "locking the slots of lapsed holds returned " UINT64_FORMAT " rows",
			 SPI_processed);
	args[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "locking the slots of lapsed holds returned null");
	/* SPI keeps each result's tuple table until SPI_finish: args[1] stays valid */

	medreserve_execute(PLAN_SETTLE_LAPSED, args, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "settling lapsed holds returned " UINT64_FORMAT " rows", SPI_processed);
	*seats_released += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Settle up to medreserve.expire_batch_size lapsed holds whose expiry is at
 * or after resume_from (SPI must be connected).  Counts the holds expired.
 */
static ExpireBatch
expire_one_batch(TimestampTz resume_from)
{
	ExpireBatch batch = {0, 0, 0, false, 0};
	Datum		args[2];
	Datum		candidates;
	Datum		last_expiry;
	bool		isnull;
	int64		seats_released = 0;
	volatile int32 settled = 0;

	args[0] = Int32GetDatum(medreserve_expire_batch_size);
	args[1] = TimestampTzGetDatum(resume_from);
	medreserve_execute(PLAN_EXPIRE_CANDIDATES, args, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "finding lapsed holds returned " UINT64_FORMAT " rows", SPI_processed);
	candidates = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	batch.holds_found = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2, &isnull));
	last_expiry = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (isnull)
		return batch;			/* nothing has lapsed */
	batch.found = true;
	batch.last_expiry = DatumGetTimestampTz(last_expiry);

	/* the events of these holds say the sweep settled them (events.c) */
	medreserve_sweeping = true;
	PG_TRY();
	{
		settled = medreserve_settle_lapsed(candidates, &seats_released);
	}
	PG_FINALLY();
	{
		medreserve_sweeping = false;
	}
	PG_END_TRY();
	batch.holds_failed = settled;
	batch.slots_released = (int32) seats_released;
	medreserve_count_success(COUNTER_HOLDS_EXPIRED, (uint64) batch.holds_failed);
	return batch;
}

/*
 * Prune the events past medreserve.event_retention that every registered
 * consumer has acknowledged, a batch at a time (issue 15).  Nothing else
 * locks event rows, so this waits for nobody.
 */
static void
prune_events(void)
{
	Datum		args[2];
	bool		isnull;
	int32		pruned;

	args[0] = Int64GetDatum((int64) medreserve_event_retention_s);
	args[1] = Int32GetDatum(medreserve_expire_batch_size);
	do
	{
		CHECK_FOR_INTERRUPTS();
		medreserve_execute(PLAN_PRUNE_EVENTS, args, NULL, SPI_OK_SELECT);
		pruned = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	} while (pruned >= medreserve_expire_batch_size);
}

/*
 * Finish a sweep: mark the no-shows that are due (medreserve.no_show_after,
 * issue 13; appointment.c), record the sweep in medreserve.sweep_status,
 * prune old events (issue 15) and log one line with counts only (never
 * patient data) when something was released or marked.
 */
static void
note_sweep(int64 holds_failed, int64 slots_released, TimestampTz started_at)
{
	Datum		args[3];
	int64		no_shows = medreserve_sweep_no_shows();

	args[0] = Int64GetDatum(holds_failed);
	args[1] = Int64GetDatum(slots_released);
	args[2] = TimestampTzGetDatum(started_at);
	medreserve_execute(PLAN_NOTE_SWEEP, args, NULL, SPI_OK_UPDATE);
	/* and one batch of idempotency keys past their window (issue 14) */
	medreserve_prune_idempotency_keys();
	prune_events();

	if (holds_failed > 0)
		ereport(LOG,
				(errmsg_plural("medreserve: %lld lapsed hold marked failed",
							   "medreserve: %lld lapsed holds marked failed",
							   (unsigned long) holds_failed, (long long) holds_failed),
				 errdetail_plural("%lld slot released.", "%lld slots released.",
								  (unsigned long) slots_released, (long long) slots_released),
				 errhidestmt(true)));
	if (no_shows > 0)
		ereport(LOG,
				(errmsg_plural("medreserve: %lld confirmed booking marked as a no-show",
							   "medreserve: %lld confirmed bookings marked as no-shows",
							   (unsigned long) no_shows, (long long) no_shows),
				 errhidestmt(true)));
}

/*
 * medreserve_expire(): settle every lapsed hold in batches, all in the
 * caller's transaction, and return how many holds were settled.  Every row
 * it settles stays locked until that transaction ends: the pg_cron job uses
 * medreserve_run_expiry() instead, which commits per batch.
 */
Datum
medreserve_expire(PG_FUNCTION_ARGS)
{
	int64		holds_failed = 0;
	int64		slots_released = 0;
	TimestampTz resume_from = DT_NOBEGIN;	/* -infinity: from the start */
	TimestampTz started_at = GetCurrentTimestamp();
	ExpireBatch batch;

	medreserve_require_writable("medreserve_expire()");
	medreserve_require_read_committed("medreserve_expire()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	do
	{
		CHECK_FOR_INTERRUPTS();
		batch = expire_one_batch(resume_from);
		holds_failed += batch.holds_failed;
		slots_released += batch.slots_released;
		resume_from = batch.last_expiry;
	} while (batch.found && batch.holds_found >= medreserve_expire_batch_size);

	note_sweep(holds_failed, slots_released, started_at);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	PG_RETURN_INT32((int32) Min(holds_failed, PG_INT32_MAX));
}

/*
 * medreserve.expire_batch(resume_from) → (holds_expired, slots_released,
 * last_expiry): one batch, for medreserve_run_expiry(), which commits after
 * each and passes last_expiry on as the next resume_from (NULL when the
 * batch found nothing).
 */
Datum
medreserve_expire_batch_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	ExpireBatch batch;

	medreserve_require_writable("medreserve_run_expiry()");
	medreserve_require_read_committed("medreserve_run_expiry()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	batch = expire_one_batch(PG_ARGISNULL(0) ? DT_NOBEGIN : PG_GETARG_TIMESTAMPTZ(0));
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	values[0] = Int32GetDatum(batch.holds_failed);
	values[1] = Int32GetDatum(batch.slots_released);
	values[2] = TimestampTzGetDatum(batch.last_expiry);
	nulls[2] = !batch.found;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* medreserve.note_sweep(holds, slots, started_at), for medreserve_run_expiry(). */
Datum
medreserve_note_sweep_sql(PG_FUNCTION_ARGS)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	note_sweep(PG_GETARG_INT64(0), PG_GETARG_INT64(1), PG_GETARG_TIMESTAMPTZ(2));
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_VOID();
}
