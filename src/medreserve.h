/*-------------------------------------------------------------------------
 *
 * medreserve.h
 *	  Declarations shared by the C files of the medreserve extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDRESERVE_H
#define MEDRESERVE_H

#include "fmgr.h"
#include "executor/spi.h"
#include "utils/array.h"

/* SQLSTATEs of the API that PostgreSQL has no name for (PostgREST's PTxyz). */
#define ERRCODE_MEDRESERVE_NOT_FOUND	MAKE_SQLSTATE('P','T','4','0','4')
#define ERRCODE_MEDRESERVE_CONFLICT		MAKE_SQLSTATE('P','T','4','0','9')

/* The most slots a single booking may cover: a long day of short slots. */
#define MEDRESERVE_MAX_SLOTS_PER_BOOKING	100

/*
 * Longest name (of a patient, a doctor, a specialization), in characters,
 * and email, in bytes (RFC 5321).  The tables' CHECK constraints call the C
 * checks (medreserve.name_is_clean, medreserve.email_is_valid), so these are
 * the only place the limits are written.
 */
#define MEDRESERVE_MAX_NAME_CHARS	200
#define MEDRESERVE_MAX_EMAIL_BYTES	254

/* Longest reason for a visit or for its cancellation, in characters. */
#define MEDRESERVE_MAX_VISIT_TEXT_CHARS	500

/* Settings (medreserve.c) */
extern int	medreserve_hold_duration_s;
extern int	medreserve_expire_batch_size;
extern int	medreserve_health_overdue_threshold_s;
extern int	medreserve_check_in_window_s;
extern int	medreserve_late_cancel_window_s;
extern int	medreserve_no_show_after_s;
extern char *medreserve_default_time_zone;
extern char *medreserve_slot_horizon;
extern bool medreserve_events_enabled;
extern int	medreserve_event_claim_timeout_s;
extern int	medreserve_event_retention_s;

/*
 * Every SQL statement the extension runs.  Each is prepared on first use in
 * a backend and kept for the backend's life (plans.c).
 */
typedef enum MedreservePlanId
{
	PLAN_LOCK_SLOTS,
	PLAN_LAPSED_ON_SLOTS,
	PLAN_LOCK_SLOTS_OF_BOOKINGS,
	PLAN_SETTLE_LAPSED,
	PLAN_RELEASE_LAPSED_SEATS,
	PLAN_INSERT_BOOKING,
	PLAN_BOOK_UNUSED_SLOT,
	PLAN_BOOKING_SLOT_IDS,
	PLAN_CONFIRM,
	PLAN_CANCEL,
	PLAN_BOOKING_STATE,
	PLAN_EXPIRE_CANDIDATES,
	PLAN_NOTE_SWEEP,
	/* the appointment's life (appointment.c, issue 13) */
	PLAN_APPT_READ,
	PLAN_APPT_LOCK,
	PLAN_APPT_MOVE_OUT,
	PLAN_APPT_LINK,
	PLAN_APPT_TRANSITION,
	PLAN_APPT_STATE,
	PLAN_APPT_MARK_NO_SHOWS,
	/* idempotency keys and fair use (retries.c, issue 14) */
	PLAN_CLAIM_KEY,
	PLAN_READ_KEY,
	PLAN_RECORD_KEY,
	PLAN_READ_BOOKING,
	PLAN_LOCK_PATIENT,
	PLAN_OWN_HOLD,
	PLAN_SLOT_WINDOW,
	PLAN_PATIENT_LOAD,
	PLAN_PRUNE_KEYS,
	PLAN_INSERT_EVENT,
	PLAN_ANY_CONSUMER,
	PLAN_PRUNE_EVENTS,
	NUM_MEDRESERVE_PLANS
} MedreservePlanId;

/*
 * Counters kept in shared memory (stats.c).  A new counter goes at the end,
 * with a new SQL declaration of medreserve_counters() and its entry point.
 */
typedef enum MedreserveCounter
{
	COUNTER_BOOKINGS_CONFIRMED,		/* booked at once */
	COUNTER_HOLDS_TAKEN,
	COUNTER_HOLDS_CONFIRMED,
	COUNTER_HOLDS_EXPIRED,			/* by the sweep */
	COUNTER_HOLDS_RELEASED_LAZILY,	/* by a booking that wanted the slot */
	COUNTER_CANCELLATIONS,
	COUNTER_REFUSED_SLOT_TAKEN,		/* 23505 */
	COUNTER_REFUSED_NOT_FOUND,		/* PT404 */
	COUNTER_REFUSED_INVALID_INPUT,	/* 22004, 22023 */
	COUNTER_REFUSED_STATE_CONFLICT, /* PT409 */
	/* counters are only appended here; 1.0's SQL reads the first ten */
	/* 1.2, issue 13: the appointment's transitions */
	COUNTER_RESCHEDULES,
	COUNTER_CHECK_INS,
	COUNTER_FULFILLED,
	COUNTER_NO_SHOWS,				/* marked by an admin or by the sweep */
	COUNTER_LATE_CANCELLATIONS,
	/* 1.2, issue 14: refusals of safe retries and fair use */
	COUNTER_REFUSED_KEY_REUSED,		/* PT422 */
	COUNTER_REFUSED_OVER_LIMIT,		/* PT429 */
	NUM_MEDRESERVE_COUNTERS
} MedreserveCounter;

#define COUNTERS_V1_0	10		/* counters declared by medreserve 1.0 and 1.1 */
#define COUNTERS_V1_2	17		/* counters declared by medreserve 1.2 */

/* events.c */
#define MEDRESERVE_EVENTS_CHANNEL "medreserve_events"
extern bool medreserve_sweeping;
extern void medreserve_events_init(void);
extern void medreserve_ring_doorbell(int64 event_id);

/* events.c */
extern bool medreserve_events_wanted(void);

/* privacy.c */
extern void medreserve_privacy_init(void);

/*
 * Who is calling, as far as bookings go (booking.c; identity.c has the
 * rules).  Admins act on any booking.  Anyone else is a patient; a patient
 * signed in through the trusted gateway acts only on bookings made under
 * their email.
 */
typedef struct Caller
{
	bool		is_admin;
	char	   *claimed_email;	/* NULL when not signed in, and for admins */
} Caller;

typedef enum ReserveKind
{
	RESERVE_BOOK,				/* CONFIRMED at once */
	RESERVE_HOLD				/* PENDING until medreserve.hold_duration */
} ReserveKind;

/* What a new booking records besides its slots (booking.c). */
typedef struct BookingRequest
{
	ReserveKind kind;
	const char *patient_name;
	const char *patient_email;	/* may be NULL */
	const char *patient_phone;	/* may be NULL */
	const char *reason;			/* may be NULL */
} BookingRequest;

/* booking.c */
extern Caller medreserve_identify_caller(void);
extern void medreserve_insert_booking(const int32 *ids, int nslots,
									  const BookingRequest *request);
extern Datum medreserve_copy_booking_row(FunctionCallInfo fcinfo,
										 MemoryContext caller_cxt);

/* appointment.c */
extern int64 medreserve_sweep_no_shows(void);

/* stats.c */
extern void medreserve_stats_init(void);
extern void medreserve_count_success(MedreserveCounter counter, uint64 n);
extern void medreserve_count_refusal(int sqlerrcode);
extern Datum medreserve_call_counting_refusals(Datum (*call) (FunctionCallInfo),
											   FunctionCallInfo fcinfo);

/* plans.c */
extern void medreserve_execute(MedreservePlanId id, Datum *values,
							   const char *nulls, int expected_result);

/* identity.c */
extern bool medreserve_caller_is_admin(void);
extern char *medreserve_patient_email(void);
extern char *medreserve_email_key(const char *email, size_t len);
extern bool medreserve_same_email(const char *a, const char *b);

/* expiry.c: settle lapsed holds (ids), locking their slots without waiting */
extern int32 medreserve_settle_lapsed(Datum booking_ids, int64 *seats_released);

/* validate.c */
extern char *medreserve_clean_name(text *value, const char *field, bool blank_ok);
extern char *medreserve_check_patient_name(text *name);
extern char *medreserve_check_patient_email(text *email);
extern char *medreserve_check_patient_phone(text *phone);
extern char *medreserve_check_visit_text(text *value, const char *argname);
extern int	medreserve_check_slot_ids(ArrayType *slot_ids, int32 **sorted_ids);
extern int32 medreserve_check_booking_id(FunctionCallInfo fcinfo, int argno);
extern void medreserve_require_writable(const char *action);
extern void medreserve_require_read_committed(const char *action);

#endif							/* MEDRESERVE_H */
