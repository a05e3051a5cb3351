/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks of the API's arguments, done before any row is touched.
 *
 * Every refusal here is a data exception: 22004 for a NULL where a value is
 * required, 22023 for a value that is present but unusable.  Refusals hide
 * the statement from the server log, because it may carry a patient's name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <string.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "medreserve.h"

static bool
is_blank_byte(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

static bool
is_control_byte(char c)
{
	return (unsigned char) c < 0x20 || (unsigned char) c == 0x7f;
}

/*
 * Return the patient name with surrounding blanks removed, or refuse it when
 * it is blank, too long or holds control characters.
 */
char *
medreserve_check_patient_name(text *name)
{
	char	   *raw = text_to_cstring(name);
	char	   *start = raw;
	char	   *end = raw + strlen(raw);
	int			nchars;

	while (start < end && is_blank_byte(*start))
		start++;
	while (end > start && is_blank_byte(end[-1]))
		end--;
	*end = '\0';

	if (start == end)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patient_name must not be blank"),
				 errhidestmt(true)));

	nchars = pg_mbstrlen_with_len(start, end - start);
	if (nchars > MEDRESERVE_MAX_NAME_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patient_name is too long"),
				 errdetail("It has %d characters; at most %d are allowed.",
						   nchars, MEDRESERVE_MAX_NAME_CHARS),
				 errhidestmt(true)));

	for (const char *p = start; p < end; p++)
	{
		if (is_control_byte(*p))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("patient_name must not contain control characters"),
					 errhidestmt(true)));
	}
	return start;
}

/*
 * Return the email as given, or refuse it unless it looks like local@domain:
 * one '@', a dotted domain, no blanks or control characters, within RFC 5321
 * lengths.  Deliverability is the clinic's business, not ours.
 */
char *
medreserve_check_patient_email(text *email)
{
	char	   *addr = text_to_cstring(email);
	size_t		len = strlen(addr);
	const char *at = strchr(addr, '@');
	const char *domain;
	const char *reason = NULL;

	if (len > MEDRESERVE_MAX_EMAIL_BYTES)
		reason = "It is longer than 254 bytes.";
	else if (at == NULL || strchr(at + 1, '@') != NULL)
		reason = "It must contain exactly one \"@\".";
	else if (at == addr || at - addr > 64)
		reason = "The part before \"@\" must have 1 to 64 characters.";
	else
	{
		domain = at + 1;
		if (strchr(domain, '.') == NULL || domain[0] == '.' ||
			addr[len - 1] == '.' || strstr(domain, "..") != NULL)
			reason = "The part after \"@\" must be a domain name such as \"example.org\".";
		for (const char *p = addr; reason == NULL && *p; p++)
		{
			if (is_control_byte(*p) || is_blank_byte(*p))
				reason = "It must not contain blanks or control characters.";
		}
	}

	if (reason != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patient_email is not a valid email address"),
				 errdetail_internal("%s", reason),
				 errhidestmt(true)));
	return addr;
}

static int
compare_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * Check a slot id array and return its ids sorted ascending (the order in
 * which the slots will be locked) through *sorted_ids; returns the count.
 */
int
medreserve_check_slot_ids(ArrayType *slot_ids, int32 **sorted_ids)
{
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	int32	   *ids;

	if (ARR_NDIM(slot_ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("slot_ids must be a one-dimensional array"),
				 errhidestmt(true)));

	nelems = ArrayGetNItems(ARR_NDIM(slot_ids), ARR_DIMS(slot_ids));
	if (nelems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("slot_ids must not be empty"),
				 errhidestmt(true)));
	if (nelems > MEDRESERVE_MAX_SLOTS_PER_BOOKING)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many slots in one booking"),
				 errdetail("%d slots were given; at most %d are allowed.",
						   nelems, MEDRESERVE_MAX_SLOTS_PER_BOOKING),
				 errhidestmt(true)));

	deconstruct_array(slot_ids, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &elem_nulls, &nelems);
	ids = palloc(sizeof(int32) * nelems);
	for (int i = 0; i < nelems; i++)
	{
		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("slot_ids must not contain null"),
					 errhidestmt(true)));
		ids[i] = DatumGetInt32(elems[i]);
	}

	qsort(ids, nelems, sizeof(int32), compare_int32);
	for (int i = 1; i < nelems; i++)
	{
		if (ids[i] == ids[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("slot %d is listed more than once", ids[i]),
					 errhidestmt(true)));
	}

	*sorted_ids = ids;
	return nelems;
}

/* Return argument argno as a booking id, refusing NULL with 22004. */
int32
medreserve_check_booking_id(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("booking_id must not be null"),
				 errhidestmt(true)));
	return PG_GETARG_INT32(argno);
}

/*
 * Refuse (25006) to change bookings on a hot standby or in a read-only
 * transaction, with a message that says where to go instead of the one a
 * failed SELECT ... FOR UPDATE would give.
 */
void
medreserve_require_writable(const char *action)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s on a standby server", action),
				 errhint("Bookings are made on the primary; a standby can list doctors and free slots."),
				 errhidestmt(true)));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s in a read-only transaction", action),
				 errhidestmt(true)));
}
