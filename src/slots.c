/*-------------------------------------------------------------------------
 *
 * slots.c
 *	  Slot arithmetic that the slots table's indexes evaluate on every write.
 *
 * medreserve.slot_end() appears in the exclusion constraint of slots, so it
 * runs for each slot inserted and each slot row version that cannot be a HOT
 * update.  Written in SQL it was never inlined (an IMMUTABLE SQL function
 * whose body calls the STABLE timestamptz + interval is executed as a
 * function call every time); in C it is a single addition.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(medreserve_slot_end);

/*
 * start_time plus whole minutes.  Minutes are a fixed number of microseconds
 * in every time zone, so the result does not depend on the session (hence
 * IMMUTABLE), and equals start_time + make_interval(mins => n): infinite
 * starts stay infinite, and a result out of range is refused (22008).
 */
Datum
medreserve_slot_end(PG_FUNCTION_ARGS)
{
	TimestampTz start = PG_GETARG_TIMESTAMPTZ(0);
	int32		minutes = PG_GETARG_INT32(1);
	TimestampTz end;

	if (TIMESTAMP_NOT_FINITE(start))
		PG_RETURN_TIMESTAMPTZ(start);
	if (pg_add_s64_overflow(start, (int64) minutes * USECS_PER_MINUTE, &end) ||
		!IS_VALID_TIMESTAMP(end))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	PG_RETURN_TIMESTAMPTZ(end);
}
