/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The outbox (issue 15): one row in medreserve.events per transition of
 *	  a booking, written by a trigger in the transaction that makes it, and
 *	  a doorbell (NOTIFY medreserve_events) for the consumers.
 *
 * The events are derived from the table, not from the functions that write
 * it, so every path that changes a booking (book, hold, confirm, cancel, the
 * sweep, a lazy release by a booker, future statuses) produces them, and a
 * change that rolls back (a refusal, a ROLLBACK TO SAVEPOINT) takes its event
 * with it.  Two triggers call medreserve_booking_event():
 *
 *   AFTER INSERT	the booking_slots rows written by the same statement
 *					exist by then, so the event lists every slot;
 *   BEFORE UPDATE OF status, rescheduled_from (WHEN the status changes,
 *					or a reschedule's new booking is linked to the old one)
 *					fires before the statement deletes the booking's
 *					booking_slots rows (cancel, expiry), so the event still
 *					lists the slots that were released.  An error later in
 *					the statement undoes the event with the update.
 *
 * Which status makes which event type is the table status_events below: a
 * new status is one line.  Events carry no patient data: ids, statuses,
 * where the change came from.
 *
 * The doorbell (NOTIFY medreserve_events, payload: the transaction's first
 * event id) rings just before a transaction with events commits, and only
 * when a consumer may be waiting for it.  NOTIFY takes a database-wide lock
 * at commit that it holds through the commit's WAL flush, which serialises
 * committing transactions (measured in bench/EVENTS.md: ten times fewer
 * bookings per second when every booking rings).  So a consumer whose claim
 * came back short (it is caught up and about to wait) arms a flag of its
 * database in shared memory (medreserve.arm_doorbell()), and the first
 * transaction with events to commit after that rings and disarms it; while
 * consumers are busy draining, bookers pay nothing.  The doorbell is a hint:
 * consumers also claim now and then without one (events of a transaction are
 * handed out only once every older one has ended, which may be later than
 * its own ring).  Without shared memory (medreserve not preloaded) it rings
 * for every transaction with events while a consumer is registered.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/pquery.h"
#include "catalog/pg_type_d.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/portal.h"
#include "utils/rel.h"

#include "medreserve.h"

PG_FUNCTION_INFO_V1(medreserve_booking_event);
PG_FUNCTION_INFO_V1(medreserve_events_wanted_sql);
PG_FUNCTION_INFO_V1(medreserve_ring_doorbell_sql);
PG_FUNCTION_INFO_V1(medreserve_arm_doorbell_sql);
PG_FUNCTION_INFO_V1(medreserve_require_read_committed_sql);

/* Set by the sweep while it settles a batch (expiry.c). */
bool		medreserve_sweeping = false;

/*
 * The event type of each status: when a booking is created with it
 * (on_insert) and when a booking changes to it (on_update).  Statuses not
 * listed give "created" and "changed".
 */
typedef struct StatusEvent
{
	const char *status;
	const char *on_insert;
	const char *on_update;
} StatusEvent;

static const StatusEvent status_events[] = {
	{"PENDING", "held", "held"},
	{"CONFIRMED", "booked", "confirmed"},
	{"CANCELLED", "cancelled", "cancelled"},
	{"FAILED", "expired", "expired"},
	{"ARRIVED", "arrived", "arrived"},
	{"FULFILLED", "fulfilled", "fulfilled"},
	{"NOSHOW", "noshow", "noshow"},
};

static const char *
event_type(const char *status, bool inserted)
{
	for (size_t i = 0; i < lengthof(status_events); i++)
		if (strcmp(status_events[i].status, status) == 0)
			return inserted ? status_events[i].on_insert : status_events[i].on_update;
	return inserted ? "created" : "changed";
}

/*
 * The armed flags, one per database that has a waiting consumer.  A database
 * takes an entry the first time it arms and keeps it; when all are taken,
 * the others ring for every transaction with events (as if always armed).
 */
#define DOORBELL_DATABASES 64

typedef struct DoorbellShared
{
	pg_atomic_uint32 database[DOORBELL_DATABASES];	/* Oid, 0 = free */
	pg_atomic_uint32 armed[DOORBELL_DATABASES];
} DoorbellShared;

static DoorbellShared *doorbell = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This transaction's first event id (0: none yet), and whether to ring. */
static int64 xact_first_event = 0;
static bool xact_rings_always = false;	/* without shared memory */

static void
doorbell_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(DoorbellShared)));
}

static void
doorbell_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	doorbell = ShmemInitStruct("medreserve doorbell", sizeof(DoorbellShared), &found);
	if (!found)
	{
		for (int i = 0; i < DOORBELL_DATABASES; i++)
		{
			pg_atomic_init_u32(&doorbell->database[i], InvalidOid);
			pg_atomic_init_u32(&doorbell->armed[i], 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The entry of this database, taking a free one when create is set; -1 when
 * there is none (never armed here, or every entry taken).
 */
static int
doorbell_entry(bool create)
{
	for (int i = 0; i < DOORBELL_DATABASES; i++)
		if (pg_atomic_read_u32(&doorbell->database[i]) == MyDatabaseId)
			return i;
	if (!create)
		return -1;
	for (int i = 0; i < DOORBELL_DATABASES; i++)
	{
		uint32		expected = InvalidOid;

		if (pg_atomic_compare_exchange_u32(&doorbell->database[i], &expected, MyDatabaseId) ||
			expected == MyDatabaseId)
			return i;
	}
	return -1;
}

static bool
doorbell_table_full(void)
{
	for (int i = 0; i < DOORBELL_DATABASES; i++)
		if (pg_atomic_read_u32(&doorbell->database[i]) == InvalidOid)
			return false;
	return true;
}

/*
 * Just before a transaction with events commits: ring if a consumer waits
 * (and disarm, so the next transactions do not), then forget the
 * transaction's state whatever its end.  A prepared transaction cannot
 * NOTIFY, so it does not ring.
 */
static void
doorbell_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT && xact_first_event != 0)
	{
		bool		ring;
		char		payload[32];

		if (doorbell == NULL)
			ring = xact_rings_always;
		else
		{
			int			entry = doorbell_entry(false);

			if (entry >= 0)
				ring = pg_atomic_exchange_u32(&doorbell->armed[entry], 0) != 0;
			else
				ring = doorbell_table_full();
		}
		if (ring)
		{
			snprintf(payload, sizeof(payload), INT64_FORMAT, xact_first_event);
			Async_Notify(MEDRESERVE_EVENTS_CHANNEL, payload);
		}
	}
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE &&
		event != XACT_EVENT_PARALLEL_PRE_COMMIT)
	{
		xact_first_event = 0;
		xact_rings_always = false;
	}
}

/*
 * Called from _PG_init: the transaction callback always, the shared flags
 * only while shared_preload_libraries is processed.
 */
void
medreserve_events_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = doorbell_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = doorbell_shmem_startup;
	}
	RegisterXactCallback(doorbell_xact_callback, NULL);
}

/*
 * Note an event written by this transaction (SPI must be connected): the
 * first one is the doorbell's payload.  Without shared memory, whether to
 * ring is decided here, once per transaction: when a consumer is registered.
 */
void
medreserve_ring_doorbell(int64 event_id)
{
	if (xact_first_event != 0)
		return;
	xact_first_event = event_id;
	if (doorbell == NULL)
	{
		medreserve_execute(PLAN_ANY_CONSUMER, NULL, NULL, SPI_OK_SELECT);
		xact_rings_always = SPI_processed > 0;
	}
}

/* Text value of a column of a bookings row, or NULL. */
static char *
column_text(HeapTuple tuple, TupleDesc tupdesc, const char *name)
{
	int			attno = SPI_fnumber(tupdesc, name);

	if (attno <= 0)
		elog(ERROR, "medreserve.bookings has no column \"%s\"", name);
	return SPI_getvalue(tuple, tupdesc, attno);
}

/*
 * Whether this change writes events: medreserve.events is on, and the rows
 * are not being loaded by COPY.  COPY into the tables is a restore (pg_dump's
 * data, whose events are in the same dump) or a bulk load: their triggers
 * must not invent "held" and "booked" events for old bookings, nor collide
 * with the restored events' ids.  One definition for the C trigger and the
 * PL/pgSQL ones (medreserve.events_wanted()).
 */
bool
medreserve_events_wanted(void)
{
	if (!medreserve_events_enabled)
		return false;
	return !(ActivePortal != NULL && ActivePortal->commandTag == CMDTAG_COPY);
}

Datum
medreserve_events_wanted_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(medreserve_events_wanted());
}

/*
 * Trigger on medreserve.bookings: write the event of the row's transition
 * (see the file header), unless medreserve.events is off.
 */
Datum
medreserve_booking_event(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	HeapTuple	row;
	bool		inserted;
	char	   *status;
	char	   *old_status = NULL;
	char	   *rescheduled_from = NULL;
	char	   *booking_id;
	char	   *slot_id;
	Datum		values[5];
	StringInfoData detail;
	bool		isnull;
	int64		event_id;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "medreserve_booking_event must be called as a row trigger");

	inserted = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	row = inserted ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	if (!medreserve_events_wanted())
		return PointerGetDatum(row);

	tupdesc = trigdata->tg_relation->rd_att;
	status = column_text(row, tupdesc, "status");
	booking_id = column_text(row, tupdesc, "id");
	slot_id = column_text(row, tupdesc, "slot_id");
	if (status == NULL || booking_id == NULL || slot_id == NULL)
		elog(ERROR, "medreserve.bookings row without id, slot_id or status");
	if (!inserted)
	{
		old_status = column_text(trigdata->tg_trigtuple, tupdesc, "status");
		if (old_status != NULL && strcmp(old_status, status) == 0)
		{
			/*
			 * Not a change of status: the new booking of a reschedule learns
			 * which booking it replaces (issue 13), once.
			 */
			int			attno = SPI_fnumber(tupdesc, "rescheduled_from");

			if (attno <= 0 ||
				SPI_getvalue(trigdata->tg_trigtuple, tupdesc, attno) != NULL ||
				(rescheduled_from = SPI_getvalue(row, tupdesc, attno)) == NULL)
				return PointerGetDatum(row);
			old_status = NULL;
		}
	}

	values[0] = CStringGetTextDatum(rescheduled_from != NULL ? "rescheduled"
									: event_type(status, inserted));
	values[1] = Int32GetDatum(pg_strtoint32(booking_id));
	values[2] = Int32GetDatum(pg_strtoint32(slot_id));
	values[3] = CStringGetTextDatum(status);

	/*
	 * detail: the previous status, and where a lapsed hold was settled (by
	 * the sweep, or by a booker who wanted its slot).
	 */
	initStringInfo(&detail);
	appendStringInfoChar(&detail, '{');
	if (old_status != NULL)
	{
		appendStringInfoString(&detail, "\"from\": ");
		escape_json(&detail, old_status);
	}
	if (rescheduled_from != NULL)
		appendStringInfo(&detail, "\"from_booking\": %d", pg_strtoint32(rescheduled_from));
	else if (strcmp(status, "FAILED") == 0)
	{
		appendStringInfoString(&detail, old_status != NULL ? ", \"via\": " : "\"via\": ");
		escape_json(&detail, medreserve_sweeping ? "sweep" : "booking");
	}
	appendStringInfoChar(&detail, '}');
	values[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(detail.data));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	medreserve_execute(PLAN_INSERT_EVENT, values, NULL, SPI_OK_INSERT_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "inserting an event returned " UINT64_FORMAT " rows", SPI_processed);
	event_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull));
	medreserve_ring_doorbell(event_id);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	return PointerGetDatum(row);
}

/* medreserve.ring_doorbell(event_id): note an event of the slot triggers (PL/pgSQL). */
Datum
medreserve_ring_doorbell_sql(PG_FUNCTION_ARGS)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	medreserve_ring_doorbell(PG_GETARG_INT64(0));
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_VOID();
}

/*
 * medreserve.arm_doorbell(): a consumer is caught up and about to wait, so
 * the next transaction with events in this database rings.  A no-op without
 * shared memory (every transaction with events rings there).
 */
Datum
medreserve_arm_doorbell_sql(PG_FUNCTION_ARGS)
{
	int			entry;

	if (doorbell != NULL && (entry = doorbell_entry(true)) >= 0)
		pg_atomic_write_u32(&doorbell->armed[entry], 1);
	PG_RETURN_VOID();
}

/* medreserve.require_read_committed(action): the C rule, for SQL functions. */
Datum
medreserve_require_read_committed_sql(PG_FUNCTION_ARGS)
{
	medreserve_require_read_committed(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
