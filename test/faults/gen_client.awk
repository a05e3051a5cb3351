# gen_client.awk: the psql script of one crash.sh client.
#
# Variables (awk -v): seed, client, round, ops, first_doctor, first_slot,
# doctors, per_doctor.  Slots first_slot .. first_slot + doctors * per_doctor - 1 are
# the round's slots, per_doctor consecutive ids per doctor, ascending start
# time.
#
# Every change runs in an explicit transaction, and the client writes
# "KIND id [slots]" to stdout only after its COMMIT succeeded, so the log
# holds exactly what the client was told is committed:
#   BOOK id slots      a booking made CONFIRMED at once
#   HOLD id slots      a hold (PENDING, medreserve.hold_duration = 1h)
#   ABANDON id slots   a hold of 1 second that nobody confirms
#   CONFIRM id         the hold id was confirmed
#   TRYCANCEL id       written before trying to cancel id (it may or may not
#                      have happened if no CANCEL line follows)
#   CANCEL id          id was cancelled
# When the server dies, psql stops at once (a lost connection ends a script).
function pick_slots(n,    d, k, i, j, t, s) {
    d = int(rand() * doctors)
    k = int(rand() * (per_doctor - n + 1))
    for (i = 0; i < n; i++) s[i] = first_slot + d * per_doctor + k + i
    for (i = n - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = s[i]; s[i] = s[j]; s[j] = t }
    picked = s[0]
    for (i = 1; i < n; i++) picked = picked "," s[i]
}

# Run one statement in its own transaction; on commit, print the line.
function committed(sql, line) {
    print "BEGIN;"
    print sql
    print "\\if :ERROR"
    print "ROLLBACK;"
    print "\\else"
    print "COMMIT;"
    print "\\if :ERROR"
    print "\\else"
    print "\\echo " line
}
function end_committed() {
    print "\\endif"
    print "\\endif"
}

function maybe_cancel(p) {
    if (rand() < p) {
        print "\\echo TRYCANCEL :b"
        committed("SELECT 1 AS x FROM medreserve_cancel(:b) \\gset", "CANCEL :b")
        end_committed()
    }
}

BEGIN {
    srand(seed)
    who = sprintf("'crash r%d c%d', 'r%dc%d@example.org'", round, client, round, client)
    print "\\set ON_ERROR_STOP 0"
    print "\\set VERBOSITY terse"
    print "SET medreserve.hold_duration = '1h';"
    print "SET statement_timeout = '30s';"
    for (op = 0; op < ops; op++) {
        r = rand() * 100
        if (r < 35) {                                   # book one slot
            pick_slots(1)
            committed("SELECT id AS b FROM medreserve_book(" picked ", " who ") \\gset", "BOOK :b " picked)
            maybe_cancel(0.3)
            end_committed()
        } else if (r < 50) {                            # book 2 or 3 slots
            n = 2 + int(rand() * 2)
            pick_slots(n)
            committed("SELECT id AS b FROM medreserve_book(ARRAY[" picked "], " who ") \\gset", "BOOK :b " picked)
            maybe_cancel(0.3)
            end_committed()
        } else if (r < 80) {                            # hold one or more, then perhaps confirm
            n = (r < 68) ? 1 : 2 + int(rand() * 2)
            pick_slots(n)
            arg = (n == 1) ? picked : "ARRAY[" picked "]"
            committed("SELECT id AS b FROM medreserve_hold(" arg ", " who ") \\gset", "HOLD :b " picked)
            if (rand() < 0.7) {
                committed("SELECT 1 AS x FROM medreserve_confirm(:b) \\gset", "CONFIRM :b")
                end_committed()
            }
            maybe_cancel(0.25)
            end_committed()
        } else if (r < 92) {                            # a hold abandoned to lapse after 1 s
            pick_slots(1)
            committed("SET LOCAL medreserve.hold_duration = '1s';\nSELECT id AS b FROM medreserve_hold(" picked ", " who ") \\gset",
                      "ABANDON :b " picked)
            end_committed()
        } else if (r < 94) {                            # the sweep
            print "SELECT medreserve_expire() AS e \\gset"
        } else {                                        # look around, read-only
            print "SELECT count(*) AS n FROM medreserve_available_slots(" \
                  (first_doctor + int(rand() * doctors)) ", now(), now() + interval '30 days') \\gset"
        }
    }
}
