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
 *   BEFORE UPDATE OF status (WHEN the status changes)
 *					fires before the statement deletes the booking's
 *					booking_slots rows (cancel, expiry), so the event still
 *					lists the slots that were released.  An error later in
 *					the statement undoes the event with the update.
 *
 * Which status makes which event type is the table status_events below: a
 * new status is one line.  Events carry no patient data: ids, statuses,
 * where the change came from.
 *
 * The doorbell rings once per (sub)transaction that writes events, and only
 * when a consumer is registered (medreserve.event_consumers): NOTIFY takes a
 * database-wide lock at commit, so a clinic without consumers never pays.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "medreserve.h"

PG_FUNCTION_INFO_V1(medreserve_booking_event);
PG_FUNCTION_INFO_V1(medreserve_ring_doorbell_sql);
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
	for (int i = 0; i < lengthof(status_events); i++)
		if (strcmp(status_events[i].status, status) == 0)
			return inserted ? status_events[i].on_insert : status_events[i].on_update;
	return inserted ? "created" : "changed";
}

/* The (sub)transaction that last rang the doorbell. */
static LocalTransactionId doorbell_lxid = InvalidLocalTransactionId;
static SubTransactionId doorbell_subxid = InvalidSubTransactionId;

/*
 * NOTIFY medreserve_events with the event id as payload, at most once per
 * (sub)transaction and only when a consumer is registered (SPI must be
 * connected).  A notification queued in a subtransaction that rolls back is
 * dropped with it; the next event in the parent rings again, because the
 * subtransaction differs.
 */
void
medreserve_ring_doorbell(int64 event_id)
{
	char		payload[32];

	if (doorbell_lxid == MyProc->lxid &&
		doorbell_subxid == GetCurrentSubTransactionId())
		return;

	medreserve_execute(PLAN_ANY_CONSUMER, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		snprintf(payload, sizeof(payload), INT64_FORMAT, event_id);
		Async_Notify(MEDRESERVE_EVENTS_CHANNEL, payload);
	}
	doorbell_lxid = MyProc->lxid;
	doorbell_subxid = GetCurrentSubTransactionId();
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
	char	   *booking_id;
	char	   *slot_id;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		event_id;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "medreserve_booking_event must be called as a row trigger");

	inserted = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	row = inserted ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	if (!medreserve_events_enabled)
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
			return PointerGetDatum(row);
	}

	values[0] = CStringGetTextDatum(event_type(status, inserted));
	values[1] = Int32GetDatum(pg_strtoint32(booking_id));
	values[2] = Int32GetDatum(pg_strtoint32(slot_id));
	values[3] = CStringGetTextDatum(status);
	if (old_status != NULL)
		values[4] = CStringGetTextDatum(old_status);
	else
		nulls[4] = 'n';
	/* where a lapsed hold was settled: by the sweep, or by a booker */
	if (strcmp(status, "FAILED") == 0)
		values[5] = CStringGetTextDatum(medreserve_sweeping ? "sweep" : "booking");
	else
		nulls[5] = 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	medreserve_execute(PLAN_INSERT_EVENT, values, nulls, SPI_OK_INSERT_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "inserting an event returned " UINT64_FORMAT " rows", SPI_processed);
	event_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull));
	medreserve_ring_doorbell(event_id);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	return PointerGetDatum(row);
}

/* medreserve.ring_doorbell(event_id), for the slot triggers (PL/pgSQL). */
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

/* medreserve.require_read_committed(action): the C rule, for SQL functions. */
Datum
medreserve_require_read_committed_sql(PG_FUNCTION_ARGS)
{
	medreserve_require_read_committed(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
