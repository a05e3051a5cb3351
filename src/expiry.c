/*-------------------------------------------------------------------------
 *
 * expiry.c
 *	  The sweep: lapsed holds become FAILED and their slots are released.
 *
 * Bookings release lapsed holds on the slots they want by themselves, so the
 * sweep only keeps the tables tidy and the free-slot listings honest.  It
 * never waits: rows locked by a confirm or a booking in progress are skipped
 * and left to them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"

#include "medreserve.h"

PG_FUNCTION_INFO_V1(medreserve_expire);

/*
 * Settle lapsed holds in batches of medreserve.expire_batch_size until a
 * batch comes back short, and return how many holds were settled.  Logs one
 * line with counts only (never patient data) when something was released.
 */
Datum
medreserve_expire(PG_FUNCTION_ARGS)
{
	int64		holds_failed = 0;
	int64		slots_released = 0;
	int32		batch_failed;
	TimestampTz resume_from = DT_NOBEGIN;	/* -infinity: from the start */
	Datum		last_expiry;

	medreserve_require_writable("expire holds");
	medreserve_require_read_committed("expire holds");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	do
	{
		Datum		args[2];
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		args[0] = Int32GetDatum(medreserve_expire_batch_size);
		args[1] = TimestampTzGetDatum(resume_from);
		medreserve_execute(PLAN_EXPIRE_BATCH, args, NULL, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "expire batch returned " UINT64_FORMAT " rows", SPI_processed);
		batch_failed = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
		slots_released += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 2, &isnull));
		holds_failed += batch_failed;
		last_expiry = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		if (isnull)
			break;				/* the batch found nothing */
		resume_from = DatumGetTimestampTz(last_expiry);
	} while (batch_failed >= medreserve_expire_batch_size);

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	medreserve_count_success(COUNTER_HOLDS_EXPIRED, (uint64) holds_failed);
	if (holds_failed > 0)
		ereport(LOG,
				(errmsg("medreserve: %lld lapsed holds marked failed, %lld slots released",
						(long long) holds_failed, (long long) slots_released),
				 errhidestmt(true)));

	PG_RETURN_INT32((int32) Min(holds_failed, PG_INT32_MAX));
}
