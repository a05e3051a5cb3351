#!/usr/bin/env bash
# tools/package-test.sh [--system | --sandbox] [--quick] [DEB]
#                       (make deb-check / deb-check-system / deb-check-sandbox)
#
# Tests the Debian package built by tools/package.sh (or DEB): its files are
# installed exactly as packaged, a fresh cluster creates the extension from
# them, books a slot and runs the upgrade chain (t/140_package.pl); then,
# unless --quick, the autopkgtest (debian/tests/installcheck: every
# regress, isolation and TAP suite) against the package's files.
#
# Default: the package is unpacked (dpkg -x) into a private copy of the
# server's installation (tools/private-pg.sh), so nothing on the machine
# changes and other servers that load medreserve are not disturbed.
#
# --system (root, for CI machines): the real route, apt-get install ./DEB.
#   `make install` puts the same paths in place without a package owning
#   them, and dpkg would silently overwrite them and then remove them on
#   purge, so first the make-install files (every medreserve* file in the
#   server's extension and library folders that no package owns) are moved
#   aside; after the test the package is purged, every file it installed
#   must be gone, and the make-install files are put back.
#
# --sandbox (root, for developers): the --system route where nothing
#   leaves a private mount namespace (see below).
#
# The TAP test runs as postgres from a copy of HEAD (the same tree the
# package is built from), so this tree stays clean.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '== %s\n' "$*" >&2; }
system=0 suites=1 sandbox=0 simulate=0
while [ $# -gt 0 ]; do
    case $1 in
        --system) system=1; shift ;;
        --sandbox) sandbox=1; shift ;;
        --quick) suites=0; shift ;;
        --simulate-make-install) simulate=1; shift ;;
        *) break ;;
    esac
done
deb=${1:-}

[ "$(id -u)" -eq 0 ] || { echo "run as root (the clusters run as postgres)" >&2; exit 1; }
[ -n "$deb" ] || deb=$(bash "$top/tools/package.sh" | head -1)

# --sandbox: the --system route in a private mount namespace whose /usr and
# /var are overlays on a scratch folder, after a `make install` there: the
# real apt-get install and purge, and the make-install files moved aside
# and back, with nothing changed for the rest of the machine.
if [ $sandbox -eq 1 ]; then
    sb=$(mktemp -d /tmp/medreserve-sandbox.XXXXXX)
    rc=0
    opts=(--system --simulate-make-install)
    [ $suites -eq 1 ] || opts+=(--quick)
    unshare --mount --propagation private bash -c '
        set -e
        sb=$1; shift
        for d in usr var; do
            mkdir -p "$sb/$d.upper" "$sb/$d.work"
            mount -t overlay overlay -o "lowerdir=/$d,upperdir=$sb/$d.upper,workdir=$sb/$d.work" "/$d"
        done
        exec bash "$@"' sandbox "$sb" "$0" "${opts[@]}" "$deb" || rc=$?
    rm -rf "$sb"
    exit $rc
fi
deb=$(realpath "$deb")
pkg=$(dpkg-deb -f "$deb" Package)
pgversion=$(echo "$pkg" | sed -n 's/^postgresql-\([0-9]*\)-medreserve$/\1/p')
[ -n "$pgversion" ] || { echo "$deb is not a postgresql-NN-medreserve package" >&2; exit 1; }
sys_pg_config=/usr/lib/postgresql/$pgversion/bin/pg_config

work=$(mktemp -d /tmp/medreserve-pkgtest.XXXXXX)
chmod 755 "$work"
# A copy the postgres user (the TAP test) and apt's sandbox user can read,
# wherever the .deb was built (/root/... is not readable to them).
mkdir -p "$work/deb"
cp "$deb" "$work/deb/"
deb=$work/deb/$(basename "$deb")
chmod a+r "$deb"
stash=$work/make-install-files
cleanup() {
    local rc=$?
    if [ $system -eq 1 ]; then
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$pkg" >/dev/null 2>&1 || true
        fi
        if [ -s "$stash.list" ]; then
            say "putting the make-install files back"
            tar -C / -xpf "$stash.tar"
        fi
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

# The TAP test from a copy of HEAD that postgres owns.
mkdir -p "$work/src"
git -c safe.directory="$top" -C "$top" archive --format=tar HEAD | tar -x -C "$work/src"
chown -R postgres: "$work/src"
run_tap() {
    local pg_config=$1
    if ! runuser -u postgres -- env MEDRESERVE_DEB="$deb" MEDRESERVE_PGVERSION="$pgversion" \
            make -C "$work/src" -s installcheck REGRESS= ISOLATION= \
            PROVE_TESTS=t/140_package.pl PROVE_FLAGS=-v PG_CONFIG="$pg_config"; then
        tail -40 "$work"/src/tmp_check/log/regress_log_* >&2 2>/dev/null || true
        return 1
    fi
}

if [ $system -eq 0 ]; then
    say "unpacking $(basename "$deb") into a private installation ($work/pg)"
    pgc=$(SYS_PG_CONFIG=$sys_pg_config bash "$top/tools/private-pg.sh" "$work/pg")
    dpkg -x "$deb" "$work/pg/root"
    chmod -R a+rX "$work/pg/root"
    run_tap "$pgc"
    if [ $suites -eq 1 ]; then
        say "autopkgtest's installcheck (every suite) against the private installation"
        (cd "$work/src" && PG_CONFIG=$pgc sh debian/tests/installcheck)
    fi
    say "package test (private installation): ok"
    exit 0
fi

# --- the real route: apt-get install ./DEB, then purge -------------------
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    echo "$pkg is installed already; remove it first" >&2
    exit 1
fi
libdir=$("$sys_pg_config" --pkglibdir)
extdir=$("$sys_pg_config" --sharedir)/extension
if [ $simulate -eq 1 ]; then
    say "make install from a copy of HEAD (the files the package must not lose)"
    mkdir -p "$work/make-install"
    git -c safe.directory="$top" -C "$top" archive --format=tar HEAD | tar -x -C "$work/make-install"
    make -C "$work/make-install" -s PG_CONFIG="$sys_pg_config" >/dev/null
    make -C "$work/make-install" -s install PG_CONFIG="$sys_pg_config" >/dev/null
fi
: >"$stash.list"
for f in "$extdir"/medreserve* "$libdir"/medreserve* "$libdir"/bitcode/medreserve*; do
    [ -e "$f" ] || continue
    if dpkg -S "$f" >/dev/null 2>&1; then
        echo "$f belongs to a package: $(dpkg -S "$f")" >&2
        exit 1
    fi
    echo "${f#/}" >>"$stash.list"
done
if [ -s "$stash.list" ]; then
    say "moving $(wc -l <"$stash.list") make-install files aside"
    tar -C / -cpf "$stash.tar" -T "$stash.list"
    sed 's|^|/|' "$stash.list" | xargs rm -rf
fi

say "apt-get install $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; exit 1; }
mapfile -t owned < <(dpkg -L "$pkg" | grep -E "^/usr/(lib|share)/postgresql/$pgversion/.*medreserve" )
say "$pkg installed: ${#owned[@]} files under /usr/{lib,share}/postgresql"
run_tap "$sys_pg_config"
if [ $suites -eq 1 ]; then
    say "autopkgtest's installcheck (every suite) against the installed package"
    (cd "$work/src" && sh debian/tests/installcheck)
fi

say "apt-get purge $pkg"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$pkg" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; exit 1; }
left=0
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'installed'; then
    echo "dpkg still lists $pkg" >&2; left=1
fi
for f in "${owned[@]}"; do
    if [ -e "$f" ] && [ ! -d "$f" ]; then echo "left behind: $f" >&2; left=1; fi
done
for f in "$extdir"/medreserve* "$libdir"/medreserve* "$libdir"/bitcode/medreserve*; do
    if [ -e "$f" ]; then echo "left behind: $f" >&2; left=1; fi
done
[ $left -eq 0 ] || exit 1
if [ -s "$stash.list" ]; then
    say "putting the make-install files back"
    tar -C / -xpf "$stash.tar"
    missing=0
    while read -r f; do [ -e "/$f" ] || { echo "not restored: /$f" >&2; missing=1; }; done <"$stash.list"
    [ $missing -eq 0 ] || exit 1
    : >"$stash.list"
fi
say "package test (apt-get install, purge): ok"
