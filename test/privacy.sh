#!/usr/bin/env bash
# No patient name or email reaches the server log: refused calls hide their
# statement, and the sweep logs counts only.  A control error from outside
# medreserve proves the log is really read.  Needs a running cluster
# (PGHOST/PGPORT) whose log is $MR_SERVER_LOG.
source "$(dirname "$0")/../tools/lib.sh"

log=${MR_SERVER_LOG:?set MR_SERVER_LOG to the server log file}
db=medreserve_privacy
marker="Zelda Quist-$RANDOM$RANDOM"
email="zq$RANDOM$RANDOM@example.org"
control="Control Case-$RANDOM$RANDOM"
checks=0; failures=0
check() {  # check DESCRIPTION COMMAND...
    checks=$((checks + 1))
    if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi
}

mr_psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mr_psql -d $db >/dev/null <<SQL
CREATE EXTENSION medreserve CASCADE;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, now() + i * interval '1 hour' FROM generate_series(1, 3) i;
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, now() - interval '1 hour');
SELECT id FROM medreserve_book(1, 'Ann Lee');
SQL

# one refusal of each kind, each carrying the marker name and email
for call in "medreserve_book(1, '$marker', '$email')" \
            "medreserve_book(2, '$marker', 'bad-$email@')" \
            "medreserve_book(4242, '$marker', '$email')" \
            "medreserve_book(4, '$marker', '$email')" \
            "medreserve_book(ARRAY[2, 2], '$marker', '$email')" \
            "medreserve_hold(NULL::int, '$marker', '$email')"; do
    mr_as_pg "$PGBIN/psql" -X -q -d $db -c "SELECT $call" >/dev/null 2>&1 && { echo "unexpected success: $call"; exit 1; }
done
# a lapsed hold under the marker name, settled by the sweep (which logs)
mr_psql -d $db -c "SET medreserve.hold_duration = '1s'" -c "SELECT id FROM medreserve_hold(3, '$marker', '$email')" >/dev/null
sleep 1.2
mr_psql -d $db -At -c "SELECT medreserve_expire()" >/dev/null
# control: an error raised outside medreserve is logged with its statement
mr_as_pg "$PGBIN/psql" -X -q -d $db -c "SELECT 1/0, '$control'" >/dev/null 2>&1 || true
sleep 0.5   # let the logger catch up

check "the control error's statement is in the log (the log is read)" grep -q "$control" "$log"
check "refusals were logged as errors" grep -q "ERROR:  slot 1 is already booked" "$log"
check "the sweep logged its counts" grep -q "medreserve: 1 lapsed hold marked failed" "$log"
check "no patient name in the log" bash -c "! grep -q '$marker' '$log'"
check "no patient email in the log" bash -c "! grep -q '$email' '$log'"

mr_psql -d postgres -c "DROP DATABASE $db"
echo "$((checks - failures)) passed, $failures failed"
[ $failures -eq 0 ]
