#!/usr/bin/env bash
# race.sh: many clients race for the same few slots; afterwards the tables and
# what each client was told must agree, and nobody may have been told
# anything but success or 23505.
#
# Each round makes a doctor with a few future slots, then starts dozens of
# psql clients at once (they wait on an advisory lock that is released only
# when all of them are waiting).  Rounds come in three kinds, in turn:
#   mixed   each client books one slot, or holds one and then confirms it, or
#           books or holds two or three slots listed in random order;
#   multi   every client books or holds two to four slots in random order
#           (where a careless lock order would deadlock);
#   lapsed  as mixed, but every slot starts under a hold that has lapsed, so
#           the winners must release it lazily while three clients run the
#           sweep medreserve_expire() at the same moment.
# Each client records what it was told: its booking id, or the SQLSTATE and
# message of its error.  Then SQL checks the invariants against the tables;
# the script prints one "ok"/"not ok" line per check and ends with the line
# "N passed, M failed" (exit status 1 on any failure).  It checks outcomes,
# never timings.
#
# It never starts a server: give it a running cluster by PGHOST/PGPORT (and
# PGUSER).  It uses database $1 (else $PGDATABASE) when medreserve is created
# there, and leaves its doctors, slots and bookings behind; else it makes a
# scratch database of its own and drops it afterwards.
#
# Tunables: MR_RACE_CLIENTS (40), MR_RACE_SLOTS (5), MR_RACE_ROUNDS (6),
# MR_RACE_SEED (random; printed, so a failing run can be repeated),
# MR_RACE_ISOLATION ("read committed", as PostgREST runs every call).
# To prove that the checks can fail, two hooks take SQL: MR_RACE_BEFORE_SQL
# runs once before the first round (say, a trigger that makes clients
# deadlock) and MR_RACE_AFTER_SQL after each race, before its checks (with
# psql variables :doc and :slots, to corrupt the round's rows).  Neither is
# set in normal runs.
source "$(dirname "$0")/../tools/lib.sh"

: "${PGHOST:?set PGHOST (socket directory or host) of a running cluster}"
: "${PGPORT:?set PGPORT of a running cluster}"
export PGHOST PGPORT PGUSER=${PGUSER:-postgres}
# A client that waits longer than statement_timeout is stuck, and is reported.
isolation=${MR_RACE_ISOLATION:-read committed}
export PGOPTIONS="-c statement_timeout=30s -c default_transaction_isolation=${isolation// /\\ }"

clients=${MR_RACE_CLIENTS:-40}
nslots=${MR_RACE_SLOTS:-5}
rounds=${MR_RACE_ROUNDS:-6}
seed=${MR_RACE_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed

psql_at() { mr_as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

db=${1:-${PGDATABASE:-postgres}}
psql_at -d "$db" -c "SELECT 1" >/dev/null || { echo "cannot connect to database \"$db\""; exit 2; }
own_db=""
if [ "$(psql_at -d "$db" -c "SELECT count(*) FROM pg_extension WHERE extname = 'medreserve'" 2>/dev/null)" != 1 ]; then
    own_db=medreserve_race_$$
    echo "# medreserve is not created in database \"$db\": using a scratch database $own_db"
    psql_at -d postgres -c "CREATE DATABASE $own_db"
    db=$own_db
    psql_at -d "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION medreserve CASCADE"
fi

work=$(mktemp -d /tmp/medreserve-race.XXXXXX)
chmod 755 "$work"
cleanup() {
    [ -n "${barrier_pid:-}" ] && kill "$barrier_pid" 2>/dev/null
    rm -rf "$work"
    if [ -n "$own_db" ]; then
        psql_at -d postgres -c "DROP DATABASE IF EXISTS $own_db" || true
    fi
}
trap cleanup EXIT

passed=0; failed=0
report() {  # report "ok|not ok" DESCRIPTION [DETAIL]
    if [ "$1" = ok ]; then
        passed=$((passed + 1)); echo "ok - $2"
    else
        failed=$((failed + 1)); echo "not ok - $2"
        [ -n "${3:-}" ] && echo "#   ${3}"
    fi
    return 0
}

# A random permutation of 0..n-1, for slot orders.
permutation() {
    local n=$1 i j t; local -a p=()
    for ((i = 0; i < n; i++)); do p[i]=$i; done
    for ((i = n - 1; i > 0; i--)); do
        j=$((RANDOM % (i + 1))); t=${p[i]}; p[i]=${p[j]}; p[j]=$t
    done
    echo "${p[@]}"
}

# run_client N KIND SLOT... : one psql session; its stdout and stderr are kept.
run_client() {
    local n=$1 kind=$2; shift 2
    local ids; ids=$(IFS=,; echo "$*")
    local f=$work/c$n
    {
        echo "\\set ON_ERROR_STOP 1"
        echo "\\set VERBOSITY verbose"
        # the barrier: wait until the main script lets everybody go at once
        echo "SELECT pg_advisory_lock_shared($lock_key) \\g /dev/null"
        echo "SELECT pg_advisory_unlock_shared($lock_key) \\g /dev/null"
        case $kind in
        book1) echo "SELECT 'BOOKED', id FROM medreserve_book($ids, 'race client $n');" ;;
        bookN) echo "SELECT 'BOOKED', id FROM medreserve_book(ARRAY[$ids], 'race client $n');" ;;
        hold1|holdN)
            if [ "$kind" = hold1 ]; then arg=$ids; else arg="ARRAY[$ids]"; fi
            echo "SELECT id AS hold_id FROM medreserve_hold($arg, 'race client $n') \\gset"
            echo "\\echo HELD|:hold_id"
            # give the others time to run into the hold before it is confirmed
            echo "SELECT pg_sleep(random() * 0.05) \\g /dev/null"
            echo "SELECT 'CONFIRMED', id FROM medreserve_confirm(:hold_id);" ;;
        expire) echo "SELECT 'EXPIRED', medreserve_expire();" ;;
        esac
    } > "$f.sql"
    local rc=0
    mr_as_pg "$PGBIN/psql" -X -q -At -F '|' -d "$db" -f "$f.sql" > "$f.out" 2> "$f.err" || rc=$?
    echo "$rc" > "$f.rc"
}

# One SQL row of facts per client: what it asked and what it was told.
client_facts() {
    local n=$1 kind=$2 slots=$3 f=$work/c$1
    local booking="NULL" confirmed="false" expired="NULL" sqlstate="NULL" message="NULL" line
    line=$(grep -m1 -E '^(BOOKED|HELD)\|' "$f.out" || true)
    [ -n "$line" ] && booking=${line#*|}
    grep -q -E '^CONFIRMED\|' "$f.out" && confirmed=true
    line=$(grep -m1 -E '^EXPIRED\|' "$f.out" || true)
    [ -n "$line" ] && expired=${line#*|}
    # psql:FILE:LINE: ERROR:  23505: slot 3 is already booked
    line=$(grep -m1 -E 'ERROR:  [0-9A-Z]{5}: ' "$f.err" || true)
    if [ -n "$line" ]; then
        line=${line#*ERROR:  }
        sqlstate="'${line%%: *}'"
        line=${line#*: }
        message="'${line//\'/\'\'}'"
    elif [ -s "$f.err" ] || [ "$(cat "$f.rc")" != 0 ]; then
        # no SQLSTATE at all: could not connect, psql died, ...
        line=$(head -c 300 "$f.err" | tr '\n' ' ')
        sqlstate="'?????'"
        message="'exit $(cat "$f.rc"): ${line//\'/\'\'}'"
    fi
    echo "($n, '$kind', '{$slots}', $booking, $confirmed, $expired, $sqlstate, $message)"
}

run_round() {
    local round=$1 mode=$2 start=$SECONDS lapsed=0
    [ "$mode" = lapsed ] && lapsed=1
    lock_key=$((7357000 + round))
    mr_say "round $round ($mode): $clients clients, $nslots slots"

    # the doctor and the slots of this round
    local doc; doc=$(psql_at -d "$db" -c \
        "INSERT INTO medreserve.doctors (name) VALUES ('Dr Race $round') RETURNING id")
    local -a slot=()
    mapfile -t slot < <(psql_at -d "$db" -c \
        "INSERT INTO medreserve.slots (doctor_id, start_time)
         SELECT $doc, date_trunc('hour', now()) + interval '2 days' + g * interval '15 minutes'
           FROM generate_series(1, $nslots) g RETURNING id")
    local slot_array; slot_array=$(IFS=,; echo "{${slot[*]}}")
    local lapsed_holds=0
    if [ "$lapsed" = 1 ]; then
        # one hold over the first two slots, one hold each on the others; all lapsed
        psql_at -d "$db" >/dev/null <<SQL
SELECT medreserve_hold(ARRAY[${slot[0]}, ${slot[1]}], 'lapsed holder');
SELECT medreserve_hold(s, 'lapsed holder') FROM unnest('$slot_array'::int[]) s
 WHERE s NOT IN (${slot[0]}, ${slot[1]});
UPDATE medreserve.bookings SET expires_at = now() - interval '1 second'
 WHERE slot_id = ANY ('$slot_array') AND status = 'PENDING';
SQL
        lapsed_holds=$((nslots - 1))
    fi

    # the barrier: a session holds the lock until every client waits for it
    coproc BARRIER { mr_as_pg "$PGBIN/psql" -X -q -At -d "$db" 2>&1; }
    barrier_pid=$BARRIER_PID
    echo "SELECT pg_advisory_lock($lock_key) IS NULL;" >&"${BARRIER[1]}"
    local reply; read -r -t 10 reply <&"${BARRIER[0]}" || true
    [ "$reply" = f ] || { echo "# could not take the barrier lock: $reply"; return 1; }

    local -a kinds=() slotsof=() pids=()
    local n kind k p i
    local expirers=0
    for ((n = 1; n <= clients; n++)); do
        if [ "$lapsed" = 1 ] && [ $expirers -lt 3 ] && [ $((n % 13)) -eq 0 ]; then
            kind=expire; expirers=$((expirers + 1)); p=()
        else
            if [ "$mode" = multi ]; then
                case $((RANDOM % 3)) in
                0|1) kind=bookN ;;
                *)   kind=holdN ;;
                esac
                k=$((2 + RANDOM % 3)); [ $k -gt "$nslots" ] && k=$nslots
            else
                case $((RANDOM % 20)) in
                0|1|2|3|4|5|6|7) kind=book1; k=1 ;;
                8|9|10|11|12)    kind=hold1; k=1 ;;
                13|14|15|16)     kind=bookN; k=$((2 + RANDOM % 2)) ;;
                *)               kind=holdN; k=$((2 + RANDOM % 2)) ;;
                esac
            fi
            read -r -a p <<< "$(permutation "$nslots")"
            p=("${p[@]:0:$k}")
        fi
        local ids=()
        for i in "${p[@]}"; do ids+=("${slot[i]}"); done
        kinds[n]=$kind
        slotsof[n]=$(IFS=,; echo "${ids[*]}")
        run_client "$n" "$kind" "${ids[@]}" &
        pids+=($!)
    done

    # release the barrier once all clients wait on it (or after 20 s)
    local waiting=0
    for ((i = 0; i < 200; i++)); do
        waiting=$(psql_at -d "$db" -c "SELECT count(*) FROM pg_locks
                    WHERE locktype = 'advisory' AND NOT granted
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND ((classid::bigint << 32) | objid::bigint) = $lock_key")
        [ "$waiting" -ge "$clients" ] && break
        sleep 0.1
    done
    echo "# $waiting of $clients clients at the barrier after $((SECONDS - start)) s; go"
    echo "SELECT pg_advisory_unlock($lock_key);" >&"${BARRIER[1]}"
    echo "\\q" >&"${BARRIER[1]}"
    for p in "${pids[@]}"; do wait "$p" || true; done
    wait "$barrier_pid" 2>/dev/null || true
    barrier_pid=""

    # a final sweep settles the lapsed holds no client touched
    local final_sweep=0
    [ "$lapsed" = 1 ] && final_sweep=$(psql_at -d "$db" -c "SELECT medreserve_expire()")
    if [ -n "${MR_RACE_AFTER_SQL:-}" ]; then
        echo "# MR_RACE_AFTER_SQL: $MR_RACE_AFTER_SQL"
        psql_at -d "$db" -v doc="$doc" -v slots="$slot_array" >/dev/null <<< "$MR_RACE_AFTER_SQL"
    fi

    # gather the facts and check them
    {
        echo "\\set ON_ERROR_STOP 1"
        echo "CREATE TEMP TABLE outcome (client int, kind text, slots int[], booking_id int,"
        echo "  confirmed boolean, expired int, sqlstate text, message text);"
        echo "INSERT INTO outcome VALUES"
        for ((n = 1; n <= clients; n++)); do
            [ $n -gt 1 ] && echo ","
            client_facts "$n" "${kinds[n]}" "${slotsof[n]}"
        done
        echo ";"
        cat <<SQL
CREATE TEMP VIEW winner AS
  SELECT * FROM outcome WHERE kind <> 'expire' AND booking_id IS NOT NULL AND sqlstate IS NULL;
CREATE TEMP VIEW round_booking AS   -- every booking touching this round's slots
  SELECT b.*, b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.expires_at > now()) AS live
    FROM medreserve.bookings b
   WHERE b.slot_id = ANY ('$slot_array')
      OR b.id IN (SELECT booking_id FROM medreserve.booking_slots WHERE slot_id = ANY ('$slot_array'));

SELECT format('# outcomes: %s won (%s slots: %s at once, %s by hold and confirm), %s refused (%s already booked, %s already held) %s, %s sweeps settled %s holds',
              (SELECT count(*) FROM winner), (SELECT coalesce(sum(cardinality(slots)), 0) FROM winner),
              (SELECT count(*) FROM winner WHERE kind LIKE 'book%'),
              (SELECT count(*) FROM winner WHERE kind LIKE 'hold%'),
              (SELECT count(*) FROM outcome WHERE sqlstate IS NOT NULL),
              (SELECT count(*) FROM outcome WHERE message LIKE '%is already booked'),
              (SELECT count(*) FROM outcome WHERE message LIKE '%is already held'),
              (SELECT coalesce('(' || string_agg(n || ' x ' || sqlstate, ', ') || ')', '')
                 FROM (SELECT sqlstate, count(*) AS n FROM outcome
                        WHERE sqlstate IS NOT NULL GROUP BY sqlstate ORDER BY sqlstate) s),
              (SELECT count(*) FROM outcome WHERE kind = 'expire'),
              (SELECT coalesce(sum(expired), 0) FROM outcome) + $final_sweep);

SELECT CASE WHEN bad = 0 THEN 'ok' ELSE 'not ok' END, descr, coalesce(detail, '')
  FROM (
    SELECT 1 AS nr, 'every client reported success or an SQLSTATE' AS descr,
           count(*) FILTER (WHERE booking_id IS NULL AND sqlstate IS NULL AND expired IS NULL)
             + abs($clients - count(*)) AS bad,
           string_agg(client::text, ', ') FILTER (WHERE booking_id IS NULL AND sqlstate IS NULL
                                                   AND expired IS NULL) AS detail
      FROM outcome
    UNION ALL
    SELECT 2, 'every refused client got 23505 and nothing else',
           count(*), string_agg(DISTINCT sqlstate || ': ' || message, ' / ')
      FROM outcome WHERE sqlstate IS NOT NULL AND sqlstate <> '23505'
    UNION ALL
    SELECT 3, 'no deadlock (40P01) and no serialization failure (40001)',
           count(*), string_agg(DISTINCT sqlstate || ': ' || message, ' / ')
      FROM outcome WHERE sqlstate IN ('40P01', '40001')
    UNION ALL
    SELECT 4, 'every refusal names a slot the client asked for, taken by a winner',
           count(*), string_agg(client || ': ' || message, ' / ')
      FROM outcome o
     WHERE o.sqlstate = '23505'
       AND NOT EXISTS (
             SELECT FROM winner w
              WHERE w.client <> o.client
                AND (substring(o.message FROM '^slot (\d+) is already (?:booked|held)$'))::int
                    = ANY (w.slots)
                AND (substring(o.message FROM '^slot (\d+) is already (?:booked|held)$'))::int
                    = ANY (o.slots))
    UNION ALL
    SELECT 5, 'every hold that was taken was confirmed',
           count(*), string_agg(client::text, ', ')
      FROM outcome WHERE kind LIKE 'hold%' AND booking_id IS NOT NULL AND NOT confirmed
    UNION ALL
    SELECT 6, 'every winner''s booking exists and is CONFIRMED',
           count(*), string_agg(w.client || ': booking ' || w.booking_id || ' is '
                                || coalesce(b.status, 'missing'), ', ')
      FROM winner w LEFT JOIN medreserve.bookings b ON b.id = w.booking_id
     WHERE b.status IS DISTINCT FROM 'CONFIRMED'
    UNION ALL
    SELECT 7, 'every winner''s booking covers exactly the slots it asked for',
           count(*), string_agg(w.client || ': asked ' || w.slots::text || ', has '
                                || coalesce(has::text, '{}'), ', ')
      FROM winner w
      LEFT JOIN LATERAL (SELECT array_agg(slot_id ORDER BY slot_id) AS has
                           FROM medreserve.booking_slots WHERE booking_id = w.booking_id) h ON true
     WHERE has IS DISTINCT FROM (SELECT array_agg(s ORDER BY s) FROM unnest(w.slots) s)
    UNION ALL
    SELECT 8, 'no slot was won by two clients',
           count(*), string_agg('slot ' || s || ' by clients ' || who, ', ')
      FROM (SELECT s, string_agg(client::text, ' and ') AS who
              FROM winner, unnest(slots) s GROUP BY s HAVING count(*) > 1) d
    UNION ALL
    SELECT 9, 'at most one live booking per slot',
           count(*), string_agg('slot ' || s || ': bookings ' || ids, ', ')
      FROM (SELECT s, string_agg(DISTINCT b.id::text, ' ') AS ids
              FROM unnest('$slot_array'::int[]) s
              JOIN round_booking b
                ON b.live AND (b.slot_id = s OR EXISTS (SELECT FROM medreserve.booking_slots bs
                                                         WHERE bs.booking_id = b.id AND bs.slot_id = s))
             GROUP BY s HAVING count(DISTINCT b.id) > 1) d
    UNION ALL
    SELECT 10, 'no live booking lacks its booking_slots rows',
           count(*), string_agg('booking ' || id || ' (' || status || ')', ', ')
      FROM round_booking b
     WHERE live AND NOT EXISTS (SELECT FROM medreserve.booking_slots bs
                                 WHERE bs.booking_id = b.id AND bs.slot_id = b.slot_id)
    UNION ALL
    SELECT 11, 'no booking_slots row belongs to a FAILED or CANCELLED booking',
           count(*), string_agg('booking ' || b.id || ' (' || b.status || ') on slot ' || bs.slot_id, ', ')
      FROM medreserve.booking_slots bs JOIN medreserve.bookings b ON b.id = bs.booking_id
     WHERE b.status IN ('FAILED', 'CANCELLED')
    UNION ALL
    SELECT 12, 'slots won by clients = slots taken, and winners = live bookings',
           (won_slots <> taken_slots)::int + (winners <> live_bookings)::int,
           format('%s slots won, %s taken; %s winners, %s live bookings',
                  won_slots, taken_slots, winners, live_bookings)
      FROM (SELECT (SELECT coalesce(sum(cardinality(slots)), 0) FROM winner) AS won_slots,
                   (SELECT count(*) FROM medreserve.booking_slots WHERE slot_id = ANY ('$slot_array')) AS taken_slots,
                   (SELECT count(*) FROM winner) AS winners,
                   (SELECT count(*) FROM round_booking WHERE live) AS live_bookings) x
    UNION ALL
    SELECT 13, 'every slot a client wanted alone was taken',
           count(*), string_agg(DISTINCT 'slot ' || o.slots[1], ', ')
      FROM outcome o
     WHERE o.kind IN ('book1', 'hold1')
       AND NOT EXISTS (SELECT FROM medreserve.booking_slots WHERE slot_id = o.slots[1])
SQL
        if [ "$lapsed" = 1 ]; then
            cat <<SQL
    UNION ALL
    SELECT 14, 'every lapsed hold ended FAILED and holds no slot',
           count(*), string_agg('booking ' || id || ' ' || status, ', ')
      FROM round_booking b
     WHERE patient_name = 'lapsed holder'
       AND (status <> 'FAILED' OR EXISTS (SELECT FROM medreserve.booking_slots bs WHERE bs.booking_id = b.id))
    UNION ALL
    SELECT 15, 'no lapsed hold was settled twice by the sweeps',
           ((SELECT coalesce(sum(expired), 0) FROM outcome) + $final_sweep > $lapsed_holds)::int,
           format('sweeps settled %s holds of %s', (SELECT coalesce(sum(expired), 0) FROM outcome) + $final_sweep,
                  $lapsed_holds)
SQL
        fi
        echo "  ) AS c ORDER BY nr;"
    } > "$work/check.sql"

    local line status descr detail
    while IFS='|' read -r status descr detail; do
        case $status in
        '# '*) echo "$status" ;;
        ok|'not ok') report "$status" "round $round: $descr" "$detail" ;;
        *) report "not ok" "round $round: unexpected output" "$status $descr $detail" ;;
        esac
    done < <(psql_at -F '|' -d "$db" -f "$work/check.sql" 2>&1 || echo "not ok|the checks could not run|see above")
    echo "# round $round took $((SECONDS - start)) s"
}

started=$SECONDS
echo "# race: database $db, $clients clients, $nslots slots, $rounds rounds, $isolation, seed $seed"
if [ -n "${MR_RACE_BEFORE_SQL:-}" ]; then
    echo "# MR_RACE_BEFORE_SQL: $MR_RACE_BEFORE_SQL"
    psql_at -d "$db" -c "$MR_RACE_BEFORE_SQL" >/dev/null
fi
modes=(lapsed mixed multi)   # round 1 mixed, 2 multi, 3 lapsed, 4 mixed, ...
for ((r = 1; r <= rounds; r++)); do
    run_round "$r" "${modes[r % 3]}" || report "not ok" "round $r could not run"
done
echo "# took $((SECONDS - started)) s (seed $seed)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
