#!/usr/bin/env bash
# Set everything up on a fresh Debian 12 machine and show medreserve at work:
# a throwaway cluster with sample doctors and slots, twenty patients racing
# for one slot, a hold that lapses and is taken over, the sweep, and a
# clinic's week: working hours in Berlin, generated slots and a sick day.
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
mr_say "5. a clinic's week: Dr Eva Roth works Mon-Fri 09:00-12:30 and 13:30-17:00 in Berlin"
mr_psql <<'SQL'
SELECT id, name, time_zone FROM medreserve_add_doctor('Dr Eva Roth', 'cardiology', 'Europe/Berlin');
SELECT count(*) AS blocks
  FROM generate_series(1, 5) AS weekday,
       (VALUES (time '09:00', time '12:30'), ('13:30', '17:00')) AS b(starts, ends),
       medreserve_set_working_hours((SELECT id FROM medreserve.doctors WHERE name = 'Dr Eva Roth'),
                                    weekday, b.starts, b.ends, 20);
-- the next Monday to Friday, in Berlin time
SELECT to_char(s.start_time AT TIME ZONE 'Europe/Berlin', 'Dy DD Mon') AS day, count(*) AS slots,
       min(s.start_time AT TIME ZONE 'Europe/Berlin')::time AS first,
       max((s.start_time + s.duration_minutes * interval '1 minute') AT TIME ZONE 'Europe/Berlin')::time AS last_ends
  FROM medreserve.slots s JOIN medreserve.doctors d ON d.id = s.doctor_id
 WHERE d.name = 'Dr Eva Roth'
   AND s.start_time >= date_trunc('week', now() + interval '1 week')
   AND s.start_time < date_trunc('week', now() + interval '1 week') + interval '5 days'
 GROUP BY 1, (s.start_time AT TIME ZONE 'Europe/Berlin')::date ORDER BY (s.start_time AT TIME ZONE 'Europe/Berlin')::date;
SQL
mr_say "   a patient books her first slot next Tuesday; then she falls ill that day"
mr_psql <<'SQL'
SELECT b.id AS booking, b.patient_name, b.status
  FROM medreserve_find_slots('cardiology', date_trunc('week', now() + interval '1 week') + interval '1 day',
                             max_results => 1) AS f,
       medreserve_book(f.slot_id, 'Fay Long') AS b;
-- time off removes her free slots that day and lists the bookings the clinic must handle
SELECT id AS booking, patient_name, status
  FROM medreserve_add_time_off((SELECT id FROM medreserve.doctors WHERE name = 'Dr Eva Roth'),
                               (date_trunc('week', now() + interval '1 week') + interval '1 day')::date::timestamp AT TIME ZONE 'Europe/Berlin',
                               (date_trunc('week', now() + interval '1 week') + interval '2 days')::date::timestamp AT TIME ZONE 'Europe/Berlin',
                               'ill');
SELECT count(*) AS slots_left_that_day
  FROM medreserve.slots s JOIN medreserve.doctors d ON d.id = s.doctor_id
 WHERE d.name = 'Dr Eva Roth'
   AND (s.start_time AT TIME ZONE 'Europe/Berlin')::date = (date_trunc('week', now() + interval '1 week') + interval '1 day')::date;
SQL
mr_say "demo done; the cluster is stopped and removed"
