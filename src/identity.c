/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Who is calling: the one definition of the caller's identity and of
 *	  how two emails are compared.
 *
 * A patient's identity is the email claim PostgREST puts in the setting
 * request.jwt.claims.  That setting is an ordinary one: any session can SET
 * it.  A claim therefore counts only when the session came through a trusted
 * gateway: the session user is a member of medreserve_gateway (the DBA grants
 * it to PostgREST's authenticator) and the role was switched for the request
 * (the outer role differs from the session user, as PostgREST's SET ROLE
 * does).  Anywhere else the caller has no identity.
 *
 * The C paths, the SQL functions and the row-level security policy on
 * medreserve.bookings all call these functions; nothing else restates them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "medreserve.h"

PG_FUNCTION_INFO_V1(medreserve_current_patient_email_sql);
PG_FUNCTION_INFO_V1(medreserve_caller_is_admin_sql);
PG_FUNCTION_INFO_V1(medreserve_email_key_sql);

/*
 * True for superusers and members of medreserve_admin.  The role tested is
 * the outer one (SET ROLE, or PostgREST's role switch), not current_user,
 * which inside our SECURITY DEFINER functions is the extension's owner.
 */
bool
medreserve_caller_is_admin(void)
{
	Oid			outer_user = GetOuterUserId();
	Oid			admin_role = get_role_oid("medreserve_admin", true);

	return superuser_arg(outer_user) ||
		(OidIsValid(admin_role) && has_privs_of_role(outer_user, admin_role));
}

/*
 * True when the session came through the trusted gateway.  PostgREST's
 * authenticator is NOINHERIT, so membership is tested with
 * is_member_of_role(), which does not need inherited privileges.
 */
static bool
came_through_gateway(void)
{
	Oid			login_role = GetSessionUserId();
	Oid			gateway_role = get_role_oid("medreserve_gateway", true);

	return OidIsValid(gateway_role) &&
		GetOuterUserId() != login_role &&
		is_member_of_role(login_role, gateway_role);
}

/*
 * The signed-in patient's email, checked like any patient email (22023 if it
 * is not one), or NULL when the caller has no identity.
 */
char *
medreserve_patient_email(void)
{
	const char *claims;
	Jsonb	   *claims_json;
	JsonbValue *email;

	if (!came_through_gateway())
		return NULL;

	/* outside a PostgREST request the setting is missing or empty */
	claims = GetConfigOption("request.jwt.claims", true, false);
	if (claims == NULL || claims[0] == '\0')
		return NULL;
	claims_json = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
	if (!JB_ROOT_IS_OBJECT(claims_json))
		return NULL;
	email = getKeyJsonValueFromContainer(&claims_json->root, "email", strlen("email"), NULL);
	if (email == NULL || email->type != jbvString || email->val.string.len == 0)
		return NULL;
	return medreserve_check_patient_email(
		cstring_to_text_with_len(email->val.string.val, email->val.string.len));
}

/*
 * The form in which emails are compared: ASCII letters folded to lower case,
 * every other byte kept as it is.  Not lower(), which follows the database's
 * locale and folds look-alikes (KELVIN SIGN U+212A becomes "k"), so that a
 * claim could match somebody else's address.
 */
char *
medreserve_email_key(const char *email, size_t len)
{
	unsigned char *key = palloc(len + 1);

	/* pg_ascii_tolower() folds A-Z only, whatever the locale */
	for (size_t i = 0; i < len; i++)
		key[i] = pg_ascii_tolower((unsigned char) email[i]);
	key[len] = '\0';
	return (char *) key;
}

/* Are two emails the same address, by medreserve_email_key()? */
bool
medreserve_same_email(const char *a, const char *b)
{
	return strcmp(medreserve_email_key(a, strlen(a)), medreserve_email_key(b, strlen(b))) == 0;
}

/* medreserve.current_patient_email(): the identity, or NULL. */
Datum
medreserve_current_patient_email_sql(PG_FUNCTION_ARGS)
{
	char	   *email = medreserve_patient_email();

	if (email == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(email));
}

/* medreserve.caller_is_admin() */
Datum
medreserve_caller_is_admin_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(medreserve_caller_is_admin());
}

/* medreserve.email_key(text): STRICT, IMMUTABLE, indexable. */
Datum
medreserve_email_key_sql(PG_FUNCTION_ARGS)
{
	text	   *email = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(medreserve_email_key(VARDATA_ANY(email),
														  VARSIZE_ANY_EXHDR(email))));
}
