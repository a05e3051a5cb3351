/*-------------------------------------------------------------------------
 *
 * privacy.c
 *	  No patient data in the server log from a statement that calls
 *	  medreserve.
 *
 * Our own refusals hide their statement (errhidestmt).  Errors that
 * PostgreSQL raises itself during such a statement do not: permission denied
 * for the function (42501), an ambiguous call (42725), bad input syntax
 * (22P02), lock_timeout (55P03), statement_timeout (57014).  Their statement
 * text, and the bound parameters PostgreSQL reports in the error's context,
 * would carry the patient's name and email into the log.  This emit_log_hook
 * hides, from the server log only (the client still gets the whole error),
 * the statement and context of every error raised while the statement in
 * progress mentions medreserve, and replaces a detail that may quote a row
 * ("Failing row contains ...") with a note.
 *
 * The hook sees every error of a backend that has loaded the library: when
 * it is in shared_preload_libraries, that is every backend from its start.
 * Without preloading, errors raised before the library's first use in a
 * backend (the first call's own permission check, for one) are not covered.
 * The message text of a data-type error quotes the bad input and is left as
 * it is (the client needs it); keep log_min_error_statement and the
 * application from echoing patient data in such errors.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tcop/tcopprot.h"
#include "utils/elog.h"

#include "medreserve.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

/* Does the statement text mention medreserve (any case)? */
static bool
mentions_medreserve(const char *query)
{
	static const char word[] = "medreserve";

	for (const char *p = query; *p; p++)
	{
		if (pg_strncasecmp(p, word, sizeof(word) - 1) == 0)
			return true;
	}
	return false;
}

static void
hide_patient_data(ErrorData *edata)
{
	if (edata->elevel >= ERROR && debug_query_string != NULL &&
		mentions_medreserve(debug_query_string))
	{
		edata->hide_stmt = true;
		edata->hide_ctx = true;
		/* "Failing row contains (...)" and the like: the log gets a note */
		if (edata->detail != NULL &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
			edata->detail_log = pstrdup("The detail is not logged: it may contain patient data.");
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* Called from _PG_init. */
void
medreserve_privacy_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = hide_patient_data;
}
