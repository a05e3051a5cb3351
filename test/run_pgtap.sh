#!/bin/bash
# run_pgtap.sh: run the pgTAP suite (test/pgtap/*.sql) with pg_prove against
# an already running cluster, named by PGHOST/PGPORT (and PGUSER, default
# postgres).  Creates a fresh database, installs pgtap and medreserve in it,
# runs the suite as the postgres user, and drops the database again unless
# MR_KEEP is set.  Exit status: pg_prove's.
#
#   PGHOST=/tmp/medreserve.XXXX PGPORT=56432 test/run_pgtap.sh [pg_prove options...]
#
# The cluster is the caller's business: this script neither starts nor stops one.
source "$(dirname "$0")/../tools/lib.sh"

: "${PGHOST:?set PGHOST (socket directory or host) of a running cluster}"
: "${PGPORT:?set PGPORT of a running cluster}"
export PGHOST PGPORT PGUSER=${PGUSER:-postgres}

db=medreserve_pgtap_$$
cd "$MR_TOP"

drop_db() {
    [ -n "${MR_KEEP:-}" ] && { echo "# kept database $db"; return 0; }
    mr_psql -d postgres -c "DROP DATABASE IF EXISTS $db" || true
}
trap drop_db EXIT

mr_psql -d postgres -c "CREATE DATABASE $db"
mr_psql -d "$db" -c "SET client_min_messages = warning" \
    -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION medreserve CASCADE"

# pg_prove runs psql with ON_ERROR_STOP, so a broken fixture fails its file.
start=$(date +%s%N)
rc=0
mr_as_pg pg_prove -d "$db" "$@" test/pgtap/*.sql || rc=$?
echo "# pgTAP suite took $(( ($(date +%s%N) - start) / 1000000 )) ms"
exit $rc
