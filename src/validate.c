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

PG_FUNCTION_INFO_V1(medreserve_require_writable_sql);

static bool
is_blank_byte(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/*
 * The code point of the character at p (of mblen bytes) when the database is
 * UTF-8, so that Unicode blanks and C1 controls are seen; in other encodings
 * only ASCII is classified and other characters count as ordinary letters.
 */
static pg_wchar
code_point_at(const char *p, int mblen)
{
	if (mblen == 1)
		return (unsigned char) *p;
	if (GetDatabaseEncoding() == PG_UTF8)
		return utf8_to_unicode((const unsigned char *) p);
	return 0x100;				/* some letter */
}

static bool
is_blank_char(pg_wchar c)
{
	return (c < 0x80 && is_blank_byte((char) c)) ||
		c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) ||
		c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
		c == 0x3000 || c == 0xFEFF;
}

static bool
is_control_char(pg_wchar c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F);
}

/*
 * Return the patient name with surrounding blanks (Unicode ones too)
 * removed, or refuse it when it is blank, too long or holds control
 * characters.
 */
char *
medreserve_check_patient_name(text *name)
{
	char	   *raw = text_to_cstring(name);
	char	   *end = raw + strlen(raw);
	char	   *start = NULL;	/* first non-blank character */
	char	   *stop = raw;		/* just after the last non-blank character */
	int			nchars;

	for (char *p = raw; p < end;)
	{
		int			len = pg_mblen(p);

		if (!is_blank_char(code_point_at(p, len)))
		{
			if (start == NULL)
				start = p;
			stop = p + len;
		}
		p += len;
	}

	if (start == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patient_name must not be blank"),
				 errhidestmt(true)));
	*stop = '\0';

	nchars = pg_mbstrlen_with_len(start, (int) (stop - start));
	if (nchars > MEDRESERVE_MAX_NAME_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patient_name is too long"),
				 errdetail("It has %d characters; at most %d are allowed.",
						   nchars, MEDRESERVE_MAX_NAME_CHARS),
				 errhidestmt(true)));

	/* spaces inside the name are fine; tabs, newlines and the like are not */
	for (char *p = start; p < stop;)
	{
		int			len = pg_mblen(p);

		if (is_control_char(code_point_at(p, len)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("patient_name must not contain control characters"),
					 errhidestmt(true)));
		p += len;
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
		reason = "The part before \"@\" must be 1 to 64 bytes long.";
	else
	{
		domain = at + 1;
		if (strchr(domain, '.') == NULL || domain[0] == '.' ||
			addr[len - 1] == '.' || strstr(domain, "..") != NULL)
			reason = "The part after \"@\" must be a domain name such as \"example.org\".";
		for (const char *p = addr; reason == NULL && *p;)
		{
			int			mblen = pg_mblen(p);
			pg_wchar	c = code_point_at(p, mblen);

			if (is_control_char(c) || is_blank_char(c))
				reason = "It must not contain blanks or control characters.";
			p += mblen;
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
 * Refuse (25006) to change anything on a hot standby or in a read-only
 * transaction, with a message that names the action and says where to go,
 * instead of the one a failed SELECT ... FOR UPDATE or INSERT would give.
 */
void
medreserve_require_writable(const char *action)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s on a standby server", action),
				 errhint("Changes are made on the primary; a standby can list doctors and free slots."),
				 errhidestmt(true)));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s in a read-only transaction", action),
				 errhidestmt(true)));
}

/*
 * The same check for the SQL-language API functions (add_doctor, add_slots),
 * so there is one implementation: medreserve.require_writable(action).
 */
Datum
medreserve_require_writable_sql(PG_FUNCTION_ARGS)
{
	medreserve_require_writable(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * Refuse (25000) to book at an isolation level other than READ COMMITTED.
 * The locking protocol needs each statement to see rows committed while it
 * waited for a lock; a transaction snapshot would turn a lost race into a
 * raw unique violation or a serialization failure (40001, which PostgREST
 * retries without limit).
 */
void
medreserve_require_read_committed(const char *action)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot %s at isolation level %s", action,
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("Its locking needs each statement to see rows committed meanwhile, which READ COMMITTED (the default) gives."),
				 errhint("Run this call in a READ COMMITTED transaction."),
				 errhidestmt(true)));
}
