#!/usr/bin/env bash
# tools/fresh-debian-test.sh [MIRROR]
#
# The README's package route on a fresh Debian 12 machine, for real: a
# minimal bookworm (debootstrap --variant=minbase) gets a clean clone of
# this repository's HEAD, then, as the README says, `bash tools/package.sh`
# (which installs the build tools the fresh system lacks, builds the package
# and runs lintian) and apt-get install of the .deb, a cluster that creates
# the extension and books a slot (t/140_package.pl), and apt-get purge
# (tools/package-test.sh --system --quick does the last three).
#
# Everything happens in a private mount namespace: the new system lives in
# a scratch folder, and if debootstrap is missing it is installed into
# overlays of /usr and /var that vanish with the namespace.  Needs root and
# Debian's archive (about 500 MB of packages); takes several minutes.  Not
# part of tools/test.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mirror=${1:-http://deb.debian.org/debian}
say() { printf '== %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }

if [ "${MR_FRESH_INNER:-}" != 1 ]; then
    sb=$(mktemp -d /tmp/medreserve-fresh.XXXXXX)
    rc=0
    MR_FRESH_INNER=1 MR_FRESH_DIR=$sb unshare --mount --propagation private bash "$0" "$mirror" || rc=$?
    rm -rf "$sb"
    [ $rc -eq 0 ] && say "fresh Debian 12: clean clone -> package -> installed -> booked -> purged: ok"
    exit $rc
fi

# --- inside the private mount namespace ---------------------------------------
sb=$MR_FRESH_DIR
if ! command -v debootstrap >/dev/null; then
    for d in usr var; do
        mkdir -p "$sb/$d.upper" "$sb/$d.work"
        mount -t overlay overlay -o "lowerdir=/$d,upperdir=$sb/$d.upper,workdir=$sb/$d.work" "/$d"
    done
    say "installing debootstrap (into overlays of /usr and /var)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

root=$sb/root
start=$SECONDS
say "debootstrap bookworm into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$sb/debootstrap.log" 2>&1 ||
    { tail -20 "$sb/debootstrap.log" >&2; exit 1; }
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
# services must not start inside the chroot (it shares the network)
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t sysfs sysfs "$root/sys"
say "a minimal Debian 12 in $((SECONDS - start)) s"

say "a clean clone of HEAD in /root/medreserve"
git -c safe.directory="$top" clone -q --no-local "$top" "$root/root/medreserve"
git -C "$root/root/medreserve" checkout -q "$(git -c safe.directory="$top" -C "$top" rev-parse HEAD)"

# The README's commands, then the package test (apt-get install ./...deb,
# the TAP test, purge) with the test's own needs.
chroot "$root" /bin/bash -euo pipefail -c '
    export DEBIAN_FRONTEND=noninteractive HOME=/root
    cd /root/medreserve
    bash tools/package.sh
    apt-get install -y -qq --no-install-recommends libipc-run-perl >/dev/null
    bash tools/package-test.sh --system --quick .run/deb/postgresql-15-medreserve_*_amd64.deb
'
say "whole run: $((SECONDS - start)) s"
