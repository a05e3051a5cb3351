#!/usr/bin/env bash
# tools/private-pg.sh DIR
#
# For developers who build and test several trees at once on one machine:
# makes DIR/root a private copy of the server's installation (programs,
# libraries and share folder; PostgreSQL's programs find those relative to
# their own location) and prints the pg_config of that copy.  Build, install
# and test against it with PG_CONFIG=<printed path>; the server's own
# installation, which other servers on the machine load, is never touched.
#
#   PGC=$(bash tools/private-pg.sh /tmp/mypg)
#   make PG_CONFIG=$PGC && make install PG_CONFIG=$PGC
#   runuser -u postgres -- make installcheck PG_CONFIG=$PGC
set -euo pipefail
sys_pg_config=${SYS_PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
dir=$(realpath -m "${1:?usage: private-pg.sh DIR}")
root=$dir/root
bindir=$("$sys_pg_config" --bindir)
if [ ! -x "$root$bindir/postgres" ]; then
    mkdir -p "$root"
    tar -C / -cf - --exclude='medreserve*' "${bindir#/}" \
        "$("$sys_pg_config" --pkglibdir | sed 's|^/||')" \
        "$("$sys_pg_config" --sharedir | sed 's|^/||')" | tar -C "$root" -xf -
    # headers are not looked up relative to the programs: share them
    inc=$("$sys_pg_config" --includedir)
    mkdir -p "$(dirname "$root$inc")"
    ln -sfn "$inc" "$root$inc"
    chmod -R a+rX "$dir"
fi
echo "$root$bindir/pg_config"
