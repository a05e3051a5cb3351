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
#include "utils/guc.h"

#include "medreserve.h"

PG_MODULE_MAGIC;

int			medreserve_hold_duration_s = 120;
int			medreserve_expire_batch_size = 10000;
int			medreserve_health_overdue_threshold_s = 300;
int			medreserve_check_in_window_s = 3600;
int			medreserve_late_cancel_window_s = 24 * 3600;
int			medreserve_no_show_after_s = 0;

void		_PG_init(void);

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

	MarkGUCPrefixReserved("medreserve");

	/* Errors of statements that call medreserve log no patient data. */
	medreserve_privacy_init();

	/* Shared memory can only be had at start-up. */
	if (process_shared_preload_libraries_in_progress)
		medreserve_stats_init();
}
