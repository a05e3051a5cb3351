#!/usr/bin/env bash
# tools/package.sh [OUTDIR]   (make deb)
#
# Builds the Debian package postgresql-15-medreserve the way a DBA or a
# build machine would, from a clean copy of the committed tree (git archive
# of HEAD, so neither uncommitted changes nor build products leak in, and
# this tree stays clean): dpkg-buildpackage -us -uc -b, then lintian, which
# must report no error.  Copies the .deb files to OUTDIR (default .run/deb)
# and prints their paths, one a line, on stdout; everything else goes to
# stderr and to OUTDIR/build.log and OUTDIR/lintian.log.
#
# git runs with safe.directory for this tree only: tools/test.sh gives the
# tree to postgres, and git then refuses root's commands ("dubious ownership").
#
# Needs debhelper, postgresql-all (Build-Depends: pg_buildext and the servers), lintian and git; as root
# it installs what is missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/.run/deb}")
say() { printf '== %s\n' "$*" >&2; }

need=()
for p in build-essential debhelper postgresql-all lintian git; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "missing packages: ${need[*]}" >&2; exit 1; }
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$top/medreserve.control")
debversion=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
if [ "${debversion%-*}" != "$version" ]; then
    echo "debian/changelog is at $debversion, medreserve.control at $version" >&2
    exit 1
fi

work=$(mktemp -d /tmp/medreserve-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/medreserve-$version
mkdir -p "$src" "$out"
say "building postgresql-*-medreserve $debversion in $work (a copy of HEAD)"
git -c safe.directory="$top" -C "$top" archive --format=tar HEAD | tar -x -C "$src"
start=$SECONDS
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log" >&2
    echo "dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
fi
say "built in $((SECONDS - start)) s"

changes=$(ls "$work"/medreserve_"$debversion"_*.changes)
# lintian exits non-zero on errors (its default --fail-on error)
if ! lintian --info --display-info "$changes" >"$out/lintian.log" 2>&1; then
    cat "$out/lintian.log" >&2
    echo "lintian reports errors" >&2
    exit 1
fi
say "lintian: no errors ($(grep -c '^W:' "$out/lintian.log" || true) warnings, see $out/lintian.log)"

rm -f "$out"/postgresql-*-medreserve_*.deb
for deb in "$work"/postgresql-*-medreserve_"$debversion"_*.deb; do
    case $deb in *-dbgsym_*) continue ;; esac
    cp "$deb" "$out/"
    chmod a+r "$out/$(basename "$deb")"
    echo "$out/$(basename "$deb")"
done
