/*-------------------------------------------------------------------------
 *
 * retries.h
 *	  Safe retries (idempotency keys) and fair use (per-patient limits):
 *	  what booking.c and expiry.c call in retries.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDRESERVE_RETRIES_H
#define MEDRESERVE_RETRIES_H

#include "fmgr.h"
#include "datatype/timestamp.h"

#include "medreserve.h"

/* SQLSTATEs of issue 14, mapped by PostgREST to HTTP 422 and 429. */
#define ERRCODE_MEDRESERVE_KEY_REUSED	MAKE_SQLSTATE('P','T','4','2','2')
#define ERRCODE_MEDRESERVE_TOO_MANY		MAKE_SQLSTATE('P','T','4','2','9')

/* The longest idempotency key, in bytes (printable ASCII only). */
#define MEDRESERVE_MAX_KEY_BYTES	200

/* Settings (medreserve.c) */
extern int	medreserve_idempotency_window_s;
extern int	medreserve_max_live_holds;
extern int	medreserve_max_future_bookings;
extern int	medreserve_min_notice_s;
extern int	medreserve_max_advance_s;
extern int	medreserve_max_hold_duration_s;

/* An idempotency key of one call: who sent it, the key, what was asked. */
typedef struct IdempotencyKey
{
	char	   *scope;			/* "patient:<email key>" or "role:<oid>" */
	char	   *key;
	bytea	   *fingerprint;	/* SHA-256 of the call's canonical form */
} IdempotencyKey;

extern IdempotencyKey *medreserve_idempotency_key(FunctionCallInfo fcinfo, int argno,
												  bool is_admin,
												  const char *claimed_email);
extern void medreserve_key_for_reserve(IdempotencyKey *key, const int32 *ids,
									   int nslots, const BookingRequest *request);
extern void medreserve_key_for_change(IdempotencyKey *key, bool confirming,
									  int32 booking_id, const char *reason);
extern void medreserve_key_for_reschedule(IdempotencyKey *key, int32 booking_id,
										  const int32 *ids, int nslots);

/* With SPI connected; true means the answer row is in SPI_tuptable. */
extern bool medreserve_before_reserve(IdempotencyKey *key, const char *limited_email,
									  bool signed_in, Datum id_array, int nslots,
									  bool hold);
extern bool medreserve_before_change(IdempotencyKey *key);
extern void medreserve_before_move(const char *limited_email, Datum id_array);
extern void medreserve_check_move_limits(const char *limited_email, int nnew, int nold,
										 bool hold);
extern void medreserve_after_change(IdempotencyKey *key, int32 booking_id);
extern void medreserve_prune_idempotency_keys(void);

extern int	medreserve_effective_hold_duration(void);
extern char *medreserve_iso_utc(TimestampTz t);

#endif							/* MEDRESERVE_RETRIES_H */
