#!/usr/bin/env bash
# Set everything up on a fresh Debian 12 machine and show medreserve at work:
# a throwaway cluster with sample doctors and slots, twenty patients racing
# for one slot, a hold that lapses and is taken over, and the sweep.
source "$(dirname "$0")/lib.sh"

mr_install_packages
mr_build_install
mr_make_workdir
trap mr_cleanup EXIT
port=$(mr_free_port 54500)
mr_say "starting a throwaway cluster on port $port ($MR_WORK)"
mr_cluster_start "$port" "shared_preload_libraries = 'medreserve'"

mr_psql <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION medreserve CASCADE;
RESET client_min_messages;
INSERT INTO medreserve.doctors (name, specialization) VALUES
    ('Dr Ada Grey', 'cardiology'), ('Dr Ben Okafor', 'dermatology'), ('Dr Chen Wu', 'pediatrics');
-- tomorrow 09:00 to 11:00, fifteen-minute slots, for every doctor
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT d.id, date_trunc('day', now()) + interval '1 day 9 hours' + i * interval '15 minutes'
FROM medreserve.doctors d, generate_series(0, 7) AS i
ORDER BY d.id, i;
SQL
mr_psql -c "SELECT d.name, d.specialization, count(s.id) AS slots, min(s.start_time) AS first_slot
            FROM medreserve.doctors d JOIN medreserve.slots s ON s.doctor_id = d.id
            GROUP BY d.id ORDER BY d.id"

mr_say "1. twenty patients try to book slot 1 at the same moment"
for i in $(seq 1 20); do
    mr_as_pg "$PGBIN/psql" -X -q -At -v VERBOSITY=verbose \
        -c "SELECT 'booked as booking ' || id FROM medreserve_book(1, 'Patient $i')" \
        >"$MR_WORK/race.$i" 2>&1 &
done
wait
cat "$MR_WORK"/race.* | sed -n 's/^\(booked\).*/\1/p; s/^ERROR:  \([0-9A-Z]*\): \(.*\)/refused \1: \2/p' |
    sort | uniq -c
mr_psql -c "SELECT b.id AS booking, b.patient_name, b.status, bs.slot_id
            FROM medreserve.booking_slots bs JOIN medreserve.bookings b ON b.id = bs.booking_id
            WHERE bs.slot_id = 1"

mr_say "2. Ann holds slot 2 for 3 seconds; Bob is refused while the hold lives"
mr_psql -c "SET medreserve.hold_duration = '3s'" \
        -c "SELECT id AS booking, patient_name, status, expires_at - created_at AS hold FROM medreserve_hold(2, 'Ann Lee', 'ann@example.org')"
mr_as_pg "$PGBIN/psql" -X -q -c "SELECT id FROM medreserve_book(2, 'Bob Marsh')" 2>&1 | sed 's/^/    /' || true
echo "    ... Ann walks away; 4 seconds later Bob tries again (no sweep has run):"
sleep 4
mr_psql -c "SELECT id AS booking, patient_name, status FROM medreserve_book(2, 'Bob Marsh')"
mr_psql -c "SELECT id AS booking, patient_name, status FROM medreserve.bookings WHERE slot_id = 2 ORDER BY id"

mr_say "3. Cy holds slots 3 and 4, Dee holds slot 5 and confirms; the sweep releases Cy's lapsed hold"
mr_psql -c "SET medreserve.hold_duration = '2s'" \
        -c "SELECT id AS booking, slot_id, status FROM medreserve_hold(ARRAY[3, 4], 'Cy Park')" \
        -c "SELECT id AS booking, slot_id, status FROM medreserve_hold(5, 'Dee Holt')" \
        -c "SELECT id AS booking, status FROM medreserve_confirm((SELECT max(id) FROM medreserve.bookings))"
sleep 3
mr_psql -c "SELECT medreserve_expire() AS holds_expired"
mr_psql -c "SELECT s.id AS slot, coalesce(b.patient_name, '(free)') AS patient, b.status
            FROM medreserve.slots s
            LEFT JOIN medreserve.booking_slots bs ON bs.slot_id = s.id
            LEFT JOIN medreserve.bookings b ON b.id = bs.booking_id
            WHERE s.doctor_id = 1 ORDER BY s.id"
mr_say "4. every booking, live or not"
mr_psql -c "SELECT id, slot_id, patient_name, status FROM medreserve.bookings ORDER BY id"
mr_say "demo done; the cluster is stopped and removed"
