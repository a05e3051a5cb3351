/*-------------------------------------------------------------------------
 *
 * medreserve.c
 *	  Module entry point of medreserve: settings, and counters when preloaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "datatype/timestamp.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "medreserve.h"
#include "retries.h"

PG_MODULE_MAGIC;

int			medreserve_hold_duration_s = 120;
int			medreserve_expire_batch_size = 10000;
int			medreserve_health_overdue_threshold_s = 300;
int			medreserve_check_in_window_s = 3600;
int			medreserve_late_cancel_window_s = 24 * 3600;
int			medreserve_no_show_after_s = 0;
char	   *medreserve_default_time_zone = NULL;
char	   *medreserve_slot_horizon = NULL;
bool		medreserve_events_enabled = true;
int			medreserve_event_claim_timeout_s = 300;
int			medreserve_event_retention_s = 30 * 24 * 3600;

/* issue 14: safe retries and fair use (retries.c) */
int			medreserve_idempotency_window_s = 24 * 3600;
int			medreserve_max_live_holds = 3;
int			medreserve_max_future_bookings = 0;
int			medreserve_min_notice_s = 0;
int			medreserve_max_advance_s = 0;
int			medreserve_max_hold_duration_s = 15 * 60;

void		_PG_init(void);

/*
 * medreserve.slot_horizon must be an interval of at least a day and at most
 * ten years, so the generation job (which reads it as an interval) can never
 * fail on it.  A check hook must not throw, hence the datetime parser's
 * error-code interface rather than interval_in().
 */
static bool
check_slot_horizon(char **newval, void **extra, GucSource source)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_itm_in itm;
	Interval	span;
	double		horizon_days;

	if (*newval == NULL ||
		ParseDateTime(*newval, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0 ||
		DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm) != 0 ||
		dtype != DTK_DELTA || itmin2interval(&itm, &span) != 0)
	{
		GUC_check_errdetail("The horizon must be an interval such as '8 weeks'.");
		return false;
	}
	horizon_days = span.month * 30.0 + span.day + (double) span.time / USECS_PER_DAY;
	if (horizon_days < 1 || horizon_days > 3660)
	{
		GUC_check_errdetail("The horizon must be between one day and ten years.");
		return false;
	}
	return true;
}

/*
 * Define the settings.  hold_duration and expire_batch_size are per-session
 * (USERSET); the health threshold is the DBA's (SUSET).
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("medreserve.hold_duration",
							"How long a hold keeps its slots before it lapses.",
							"Applies to holds taken after the change.",
							&medreserve_hold_duration_s,
							120, 1, 7 * 24 * 3600,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.expire_batch_size",
							"How many lapsed holds the sweep settles per batch.",
							"medreserve_run_expiry() (the pg_cron job) commits after each batch, so a booker waits at most for one batch; medreserve_expire() runs all batches in the caller's transaction.",
							&medreserve_expire_batch_size,
							10000, 1, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/* SUSET: what counts as unhealthy is the DBA's call, not a session's. */
	DefineCustomIntVariable("medreserve.health_overdue_threshold",
							"How long a lapsed hold may stay unswept before medreserve_health() reports degraded.",
							NULL,
							&medreserve_health_overdue_threshold_s,
							300, 1, 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	/* The clinic's policies (issue 13): SUSET, so a patient cannot bend them. */
	DefineCustomIntVariable("medreserve.check_in_window",
							"How long before its start a confirmed booking can be checked in.",
							"Check-in closes when the booking ends.",
							&medreserve_check_in_window_s,
							3600, 0, 7 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("medreserve.late_cancel_window",
							"A confirmed booking cancelled with less than this left before its start is a late cancellation.",
							NULL,
							&medreserve_late_cancel_window_s,
							24 * 3600, 0, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("medreserve.no_show_after",
							"How long after its start medreserve_expire() marks a confirmed booking that never arrived as a no-show.",
							"0 (the default) turns automatic no-shows off.",
							&medreserve_no_show_after_s,
							0, 0, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * A clinic's week (issue 12).  The zone name is checked against
	 * pg_timezone_names by the doctors table's trigger
	 * (medreserve.check_doctor_time_zones), the one definition of a valid zone.
	 */
	DefineCustomStringVariable("medreserve.default_time_zone",
							   "Time zone of doctors added without one.",
							   "An IANA zone name such as Europe/Berlin; empty means the session's TimeZone.",
							   &medreserve_default_time_zone,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("medreserve.slot_horizon",
							   "How far ahead medreserve_generate_slots() makes slots from working hours.",
							   NULL,
							   &medreserve_slot_horizon,
							   "8 weeks",
							   PGC_USERSET, 0,
							   check_slot_horizon, NULL, NULL);

	/*
	 * Issue 14.  The limits are the clinic's, not the patient's: SUSET, so
	 * a patient's own session cannot raise them.  They are set per database
	 * or role (ALTER ROLE ... SET); PostgREST applies a role's settings when
	 * its authenticator has GRANT SET ON PARAMETER for them.
	 */
	DefineCustomIntVariable("medreserve.max_hold_duration",
							"The longest a hold may last, whatever medreserve.hold_duration says.",
							"medreserve.hold_duration may be set lower by any role, never higher than this.",
							&medreserve_max_hold_duration_s,
							15 * 60, 1, 7 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.idempotency_window",
							"How long an idempotency key is remembered.",
							"A retry with the same key within this time returns the first call's booking; the sweep prunes older keys.",
							&medreserve_idempotency_window_s,
							24 * 3600, 60, 30 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.max_live_holds_per_patient",
							"How many slots one patient may hold at a time (0: no limit).",
							"Counted in slots over the patient's live holds; admins are exempt.",
							&medreserve_max_live_holds,
							3, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.max_future_bookings_per_patient",
							"How many live bookings (holds included) yet to start one patient may have (0: no limit).",
							"Admins are exempt.",
							&medreserve_max_future_bookings,
							0, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.min_notice",
							"How long before its start a slot can last be booked or held by a patient (0: until it starts).",
							NULL,
							&medreserve_min_notice_s,
							0, 0, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.max_advance",
							"How far ahead of its start a slot can first be booked or held by a patient (0: no limit).",
							NULL,
							&medreserve_max_advance_s,
							0, 0, 10 * 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * The outbox (events.c).  SUSET: a session must not be able to change
	 * bookings without leaving their events behind.
	 */
	DefineCustomBoolVariable("medreserve.events",
							 "Write an event to medreserve.events for every change of a booking or of the slots.",
							 "Consumers claim them with medreserve_claim_events(); turning this off loses the events of changes made meanwhile.",
							 &medreserve_events_enabled,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.event_claim_timeout",
							"How long a claimed event waits for its acknowledgement before it is handed out again.",
							NULL,
							&medreserve_event_claim_timeout_s,
							300, 1, 7 * 24 * 3600,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("medreserve.event_retention",
							"How long the sweep keeps events that every registered consumer has acknowledged.",
							NULL,
							&medreserve_event_retention_s,
							30 * 24 * 3600, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("medreserve");

	/* Errors of statements that call medreserve log no patient data. */
	medreserve_privacy_init();

	/* The outbox's doorbell: a transaction callback, shared flags when preloaded. */
	medreserve_events_init();

	/* Shared memory can only be had at start-up. */
	if (process_shared_preload_libraries_in_progress)
		medreserve_stats_init();
}
