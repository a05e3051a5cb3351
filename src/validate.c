/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks of the API's arguments, done before any row is touched.
 *
 * Each rule (names, emails, slot id lists) is defined once here, as a
 * function that finds the fault; the API's checks raise it as an error
 * (22004 for a NULL where a value is required, 22023 for a value that is
 * present but unusable) and the tables' CHECK constraints call the same
 * function as a boolean.  Also here: the refusals of the transaction's
 * state (25006 read-only, 25000 isolation level).  Refusals hide the
 * statement from the server log, because it may carry a patient's name.
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
PG_FUNCTION_INFO_V1(medreserve_clean_name_sql);
PG_FUNCTION_INFO_V1(medreserve_name_is_clean);
PG_FUNCTION_INFO_V1(medreserve_email_is_valid);

static bool
is_blank_byte(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/*
 * The Unicode code point of the character at p (of mblen bytes), so that
 * Unicode blanks and C1 controls are seen in any database encoding.  UTF-8
 * is read directly; other encodings are converted to UTF-8 one character at
 * a time ("’" is 0x92 in WIN1252, a letter there, not a C1 control).  In
 * SQL_ASCII, bytes above 0x7F say nothing about characters: they count as
 * ordinary letters and are stored byte for byte.
 */
static pg_wchar
code_point_at(const char *p, int mblen)
{
	int			encoding = GetDatabaseEncoding();
	unsigned char *utf8;

	if (mblen == 1 && !IS_HIGHBIT_SET(*p))
		return (unsigned char) *p;
	if (encoding == PG_UTF8)
		return utf8_to_unicode((const unsigned char *) p);
	if (encoding == PG_SQL_ASCII)
		return 0x100;			/* some letter */
	utf8 = (unsigned char *) pg_server_to_any(p, mblen, PG_UTF8);
	return utf8_to_unicode(utf8);
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

/* What is wrong with a name, if anything (see analyse_name). */
typedef enum NameFault
{
	NAME_OK,
	NAME_BLANK,
	NAME_TOO_LONG,
	NAME_CONTROL_CHARS
} NameFault;

/*
 * The one rule for names (patients', doctors', specializations): surrounding
 * blanks, Unicode ones too, are not part of the name; what is left must not
 * be empty, must have at most MEDRESERVE_MAX_NAME_CHARS characters and no
 * control characters (spaces inside are fine; tabs and newlines are not).
 * Sets *start and *stop around the name within raw, and *nchars.
 */
static NameFault
analyse_name(char *raw, int len, char **start, char **stop, int *nchars)
{
	char	   *end = raw + len;

	*start = NULL;
	*stop = raw;
	for (char *p = raw; p < end;)
	{
		int			clen = pg_mblen(p);

		if (!is_blank_char(code_point_at(p, clen)))
		{
			if (*start == NULL)
				*start = p;
			*stop = p + clen;
		}
		p += clen;
	}
	if (*start == NULL)
		return NAME_BLANK;

	*nchars = pg_mbstrlen_with_len(*start, (int) (*stop - *start));
	if (*nchars > MEDRESERVE_MAX_NAME_CHARS)
		return NAME_TOO_LONG;
	for (char *p = *start; p < *stop;)
	{
		int			clen = pg_mblen(p);

		if (is_control_char(code_point_at(p, clen)))
			return NAME_CONTROL_CHARS;
		p += clen;
	}
	return NAME_OK;
}

/*
 * Return the name with surrounding blanks removed, or refuse it (22023)
 * naming the argument (field).  With blank_ok, a blank name is NULL instead
 * (an optional field such as a specialization).
 */
char *
medreserve_clean_name(text *value, const char *field, bool blank_ok)
{
	char	   *raw = text_to_cstring(value);
	char	   *start;
	char	   *stop;
	int			nchars = 0;

	switch (analyse_name(raw, (int) strlen(raw), &start, &stop, &nchars))
	{
		case NAME_OK:
			break;
		case NAME_BLANK:
			if (blank_ok)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not be blank", field),
					 errhidestmt(true)));
			break;
		case NAME_TOO_LONG:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is too long", field),
					 errdetail("It has %d characters; at most %d are allowed.",
							   nchars, MEDRESERVE_MAX_NAME_CHARS),
					 errhidestmt(true)));
			break;
		case NAME_CONTROL_CHARS:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain control characters", field),
					 errhidestmt(true)));
			break;
	}
	*stop = '\0';
	return start;
}

/* A patient's name: the one rule, under the argument's name. */
char *
medreserve_check_patient_name(text *name)
{
	return medreserve_clean_name(name, "patient_name", false);
}

/*
 * medreserve.clean_name(value, field, blank_ok DEFAULT false): the rule for
 * SQL callers (add_doctor and the like).  NULL is refused with 22004 unless
 * blank_ok, when NULL and blank both give NULL.
 */
Datum
medreserve_clean_name_sql(PG_FUNCTION_ARGS)
{
	const char *field = PG_ARGISNULL(1) ? "value" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		blank_ok = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	char	   *name;

	if (PG_ARGISNULL(0))
	{
		if (blank_ok)
			PG_RETURN_NULL();
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", field),
				 errhidestmt(true)));
	}
	name = medreserve_clean_name(PG_GETARG_TEXT_PP(0), field, blank_ok);
	if (name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * medreserve.name_is_clean(text): the same rule as a boolean, for the
 * tables' CHECK constraints: true when the value is a name with nothing to
 * trim.
 */
Datum
medreserve_name_is_clean(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(value);
	char	   *raw = pnstrdup(VARDATA_ANY(value), len);
	char	   *start;
	char	   *stop;
	int			nchars = 0;

	PG_RETURN_BOOL(analyse_name(raw, len, &start, &stop, &nchars) == NAME_OK &&
				   start == raw && stop == raw + len);
}

/*
 * The one rule for emails: what is wrong with addr (a sentence for an error
 * detail), or NULL when it looks like local@domain: one '@', a dotted
 * domain, no blanks or control characters, within RFC 5321 lengths (in
 * bytes).  Deliverability is the clinic's business, not ours.
 */
static const char *
email_fault(const char *addr)
{
	size_t		len = strlen(addr);
	const char *at = strchr(addr, '@');
	const char *domain;

	if (len > MEDRESERVE_MAX_EMAIL_BYTES)
		return psprintf("It is longer than %d bytes.", MEDRESERVE_MAX_EMAIL_BYTES);
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return "It must contain exactly one \"@\".";
	if (at == addr || at - addr > 64)
		return "The part before \"@\" must be 1 to 64 bytes long.";
	domain = at + 1;
	if (strchr(domain, '.') == NULL || domain[0] == '.' ||
		addr[len - 1] == '.' || strstr(domain, "..") != NULL)
		return "The part after \"@\" must be a domain name such as \"example.org\".";
	for (const char *p = addr; *p;)
	{
		int			mblen = pg_mblen(p);
		pg_wchar	c = code_point_at(p, mblen);

		if (is_control_char(c) || is_blank_char(c))
			return "It must not contain blanks or control characters.";
		p += mblen;
	}
	return NULL;
}

/* Return the email as given, or refuse it (22023) saying what is wrong. */
char *
medreserve_check_patient_email(text *email)
{
	char	   *addr = text_to_cstring(email);
	const char *reason = email_fault(addr);

	if (reason != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patient_email is not a valid email address"),
				 errdetail_internal("%s", reason),
				 errhidestmt(true)));
	return addr;
}

/* medreserve.email_is_valid(text): the same rule for CHECK constraints. */
Datum
medreserve_email_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(email_fault(text_to_cstring(PG_GETARG_TEXT_PP(0))) == NULL);
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
 * transaction, with a message that names the function (e.g.
 * "medreserve_book()", as PostgreSQL names the command) and says where to
 * go, instead of the one a failed SELECT ... FOR UPDATE or INSERT would give.
 */
void
medreserve_require_writable(const char *action)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s on a standby server", action),
				 errhint("Changes are made on the primary; a standby can list doctors and free slots."),
				 errhidestmt(true)));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s in a read-only transaction", action),
				 errhidestmt(true)));
}

/*
 * The same check for the SQL-language API functions (add_doctor, add_slots),
 * so there is one implementation: medreserve.require_writable(function).
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
				 errmsg("cannot execute %s at isolation level %s", action,
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("Its locking needs each statement to see rows committed meanwhile, which READ COMMITTED (the default) gives."),
				 errhint("Run this call in a READ COMMITTED transaction."),
				 errhidestmt(true)));
}

/*
 * Return a patient's phone number in the stored form (issue 13): an optional
 * "+" and 4 to 15 digits, E.164's limit, once the spaces, dots, hyphens and
 * parentheses people write between digit groups are dropped.  Anything else
 * is refused (22023) without echoing the value: it is patient data.
 */
char *
medreserve_check_patient_phone(text *phone)
{
	char	   *raw = text_to_cstring(phone);
	char	   *out = palloc(strlen(raw) + 1);
	int			ndigits = 0;
	int			len = 0;
	bool		ok = true;

	for (const char *p = raw; *p && ok; p++)
	{
		if (*p >= '0' && *p <= '9')
		{
			out[len++] = *p;
			ndigits++;
		}
		else if (*p == '+' && len == 0)
			out[len++] = *p;
		else if (!(*p == ' ' || *p == '-' || *p == '.' || *p == '(' || *p == ')'))
			ok = false;
	}
	out[len] = '\0';

	if (!ok || ndigits < 4 || ndigits > 15)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patient_phone is not a valid phone number"),
				 errdetail("It must be an optional \"+\" and 4 to 15 digits, which spaces, dots, hyphens and parentheses may separate."),
				 errhidestmt(true)));
	return out;
}

/*
 * Return a free-text field of a visit (the reason for it, why it was
 * cancelled) with surrounding blanks removed, NULL when nothing is left, or
 * refuse it (22023) when it is longer than MEDRESERVE_MAX_VISIT_TEXT_CHARS
 * characters or holds control characters.  argname names it in the error.
 */
char *
medreserve_check_visit_text(text *value, const char *argname)
{
	char	   *raw = text_to_cstring(value);
	char	   *end = raw + strlen(raw);
	char	   *start = NULL;
	char	   *stop = raw;
	int			nchars;

	for (char *p = raw; p < end;)
	{
		int			len = pg_mblen(p);
		pg_wchar	c = code_point_at(p, len);

		if (is_control_char(c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain control characters", argname),
					 errhidestmt(true)));
		if (!is_blank_char(c))
		{
			if (start == NULL)
				start = p;
			stop = p + len;
		}
		p += len;
	}
	if (start == NULL)
		return NULL;
	*stop = '\0';

	nchars = pg_mbstrlen_with_len(start, (int) (stop - start));
	if (nchars > MEDRESERVE_MAX_VISIT_TEXT_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", argname),
				 errdetail("It has %d characters; at most %d are allowed.",
						   nchars, MEDRESERVE_MAX_VISIT_TEXT_CHARS),
				 errhidestmt(true)));
	return start;
}
