/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Booking counters in shared memory, for what the tables cannot tell.
 *
 * A refused booking rolls back, so no row remembers it; these counters do.
 * They live in shared memory and exist only when the library is preloaded
 * (shared_preload_libraries); otherwise counting is a no-op and the SQL
 * functions say so.  Successes are counted when their transaction commits,
 * refusals at once (their transaction is about to abort).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "medreserve.h"
#include "retries.h"

PG_FUNCTION_INFO_V1(medreserve_counters);
PG_FUNCTION_INFO_V1(medreserve_counters_1_2);
PG_FUNCTION_INFO_V1(medreserve_stats_reset);

typedef struct MedreserveSharedCounters
{
	pg_atomic_uint64 counts[NUM_MEDRESERVE_COUNTERS];
	pg_atomic_uint64 reset_at;	/* TimestampTz of the last reset */
} MedreserveSharedCounters;

/* 1.2's declaration ends with the counters of issue 14 */
StaticAssertDecl(COUNTERS_V1_2 == COUNTER_REFUSED_OVER_LIMIT + 1,
				 "COUNTERS_V1_2 must match medreserve 1.2's declaration of medreserve_counters()");

static MedreserveSharedCounters *shared_counters = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Successes not yet committed, one entry per open (sub)transaction level
 * that counted something, innermost first.  A subtransaction that rolls back
 * takes its counts with it; one that commits hands them to its parent.
 * Lives in TopTransactionContext, so it vanishes with the transaction.
 */
typedef struct UncommittedCounts
{
	int			nest_level;
	uint64		counts[NUM_MEDRESERVE_COUNTERS];
	struct UncommittedCounts *parent;
} UncommittedCounts;

static UncommittedCounts *uncommitted = NULL;

static void
counters_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(MedreserveSharedCounters)));
}

static void
counters_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_counters = ShmemInitStruct("medreserve counters",
									  sizeof(MedreserveSharedCounters), &found);
	if (!found)
	{
		for (int i = 0; i < NUM_MEDRESERVE_COUNTERS; i++)
			pg_atomic_init_u64(&shared_counters->counts[i], 0);
		pg_atomic_init_u64(&shared_counters->reset_at,
						   (uint64) GetCurrentTimestamp());
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
publish_counts_at_commit(XactEvent event, void *arg)
{
	if (uncommitted == NULL)
		return;
	/* counted at PREPARE: a later ROLLBACK PREPARED is not seen */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		for (UncommittedCounts *level = uncommitted; level; level = level->parent)
			for (int i = 0; i < NUM_MEDRESERVE_COUNTERS; i++)
				if (level->counts[i] > 0)
					pg_atomic_fetch_add_u64(&shared_counters->counts[i], (int64) level->counts[i]);
	}
	else if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	uncommitted = NULL;			/* freed with TopTransactionContext */
}

static void
settle_counts_at_subxact_end(SubXactEvent event, SubTransactionId subid,
							 SubTransactionId parent_subid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	UncommittedCounts *parent;

	UncommittedCounts *ending = uncommitted;

	if (ending == NULL || ending->nest_level != level)
		return;
	parent = ending->parent;
	if (event == SUBXACT_EVENT_COMMIT_SUB &&
		(parent == NULL || parent->nest_level < level - 1))
	{
		/* nothing counted at the parent level yet: the entry moves up */
		ending->nest_level = level - 1;
		return;
	}
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < NUM_MEDRESERVE_COUNTERS; i++)
			parent->counts[i] += ending->counts[i];
	}
	else if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	/* a loop of savepoints must not pile entries up until commit */
	uncommitted = parent;
	pfree(ending);
}

/* Called from _PG_init while shared_preload_libraries is processed. */
void
medreserve_stats_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = counters_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = counters_shmem_startup;
	RegisterXactCallback(publish_counts_at_commit, NULL);
	RegisterSubXactCallback(settle_counts_at_subxact_end, NULL);
}

/* Count a success; it becomes visible when the transaction commits. */
void
medreserve_count_success(MedreserveCounter counter, uint64 n)
{
	int			level = GetCurrentTransactionNestLevel();

	if (shared_counters == NULL || n == 0)
		return;
	if (uncommitted == NULL || uncommitted->nest_level < level)
	{
		UncommittedCounts *entry = MemoryContextAllocZero(TopTransactionContext,
														  sizeof(UncommittedCounts));

		entry->nest_level = level;
		entry->parent = uncommitted;
		uncommitted = entry;
	}
	uncommitted->counts[counter] += n;
}

/*
 * Count a refusal by its SQLSTATE; codes that are not one of the API's
 * refusals (a cancelled query, an internal error) are not counted.
 */
void
medreserve_count_refusal(int sqlerrcode)
{
	MedreserveCounter counter;

	if (shared_counters == NULL)
		return;
	switch (sqlerrcode)
	{
		case ERRCODE_UNIQUE_VIOLATION:
			counter = COUNTER_REFUSED_SLOT_TAKEN;
			break;
		case ERRCODE_MEDRESERVE_NOT_FOUND:
			counter = COUNTER_REFUSED_NOT_FOUND;
			break;
		case ERRCODE_NULL_VALUE_NOT_ALLOWED:
		case ERRCODE_INVALID_PARAMETER_VALUE:
			counter = COUNTER_REFUSED_INVALID_INPUT;
			break;
		case ERRCODE_MEDRESERVE_CONFLICT:
			counter = COUNTER_REFUSED_STATE_CONFLICT;
			break;
		case ERRCODE_MEDRESERVE_KEY_REUSED:
			counter = COUNTER_REFUSED_KEY_REUSED;
			break;
		case ERRCODE_MEDRESERVE_TOO_MANY:
			counter = COUNTER_REFUSED_OVER_LIMIT;
			break;
		default:
			return;
	}
	pg_atomic_fetch_add_u64(&shared_counters->counts[counter], 1);
}

/*
 * Run one API call; when it fails, count the refusal by its SQLSTATE and let
 * the error go on.
 */
Datum
medreserve_call_counting_refusals(Datum (*call) (FunctionCallInfo), FunctionCallInfo fcinfo)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		result = call(fcinfo);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_cxt);
		edata = CopyErrorData();
		medreserve_count_refusal(edata->sqlerrcode);
		FreeErrorData(edata);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return result;
}

/*
 * The counters as one row of the first ncounters counters and the reset
 * time, or no row when the library was not preloaded (medreserve_stats()
 * then shows NULLs, not zeros).  Counters are only ever appended, so an
 * older SQL declaration reads a prefix of them: as pg_stat_statements does,
 * each declared shape has its own entry point, and a library newer than the
 * SQL objects (before ALTER EXTENSION ... UPDATE) still answers the old one.
 */
static void
counters_internal(FunctionCallInfo fcinfo, int ncounters)
{
	TupleDesc	tupdesc;
	Datum		values[NUM_MEDRESERVE_COUNTERS + 1];
	bool		nulls[NUM_MEDRESERVE_COUNTERS + 1] = {0};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	tupdesc = rsinfo->setDesc;
	if (tupdesc->natts != ncounters + 1)
		elog(ERROR, "incorrect number of output arguments");
	if (shared_counters == NULL)
		return;

	for (int i = 0; i < ncounters; i++)
		values[i] = Int64GetDatum((int64) pg_atomic_read_u64(&shared_counters->counts[i]));
	values[ncounters] =
		TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&shared_counters->reset_at));
	tuplestore_putvalues(rsinfo->setResult, tupdesc, values, nulls);
}

/* The shape declared by 1.0 and 1.1: the first ten counters. */
Datum
medreserve_counters(PG_FUNCTION_ARGS)
{
	counters_internal(fcinfo, COUNTERS_V1_0);
	return (Datum) 0;
}

/*
 * The shape declared by 1.2: the first seventeen.  A counter added later
 * comes with its own declaration and entry point; this one keeps reading 1.2's.
 */
Datum
medreserve_counters_1_2(PG_FUNCTION_ARGS)
{
	counters_internal(fcinfo, COUNTERS_V1_2);
	return (Datum) 0;
}

/* Zero every counter; refuses (55000) when there are none to reset. */
Datum
medreserve_stats_reset(PG_FUNCTION_ARGS)
{
	if (shared_counters == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("medreserve counters are not available"),
				 errhint("Add medreserve to shared_preload_libraries and restart the server.")));

	for (int i = 0; i < NUM_MEDRESERVE_COUNTERS; i++)
		pg_atomic_write_u64(&shared_counters->counts[i], 0);
	pg_atomic_write_u64(&shared_counters->reset_at, (uint64) GetCurrentTimestamp());
	PG_RETURN_VOID();
}
