#!/usr/bin/env bash
# Set everything up on a fresh Debian 12 machine and run every test suite:
#   make installcheck   pg_regress, isolation specs and the TAP tests (t/*.pl:
#                       race, privacy, upgrade, pg_cron, crash, backup and
#                       restore, standby, hostile input, memory, the pgTAP
#                       suite, the HTTP suite behind PostgREST, ...)
#   tools/package-test.sh the Debian package: build, lintian, install, book
#   test/browser/run.sh the clinic stack in Chromium
#   make analyse        cppcheck and clang-tidy
#   make sanitize-check pg_regress and isolation under ASan and UBSan
#   bench/run.sh --smoke
#   bench/growth.sh --smoke  the growth cases on tiny tables (about 25 s)
#   bench/wrapper.sh --smoke availability's function shapes, checks only (about 15 s)
# Prints one line per suite (each t/*.pl is one) and ends with exactly one
# line "N passed, N failed".
#
# Packages are installed once (tools/lib.sh: mr_install_packages), medreserve
# is built and installed, and the tests run as the postgres user in a copy of
# the tree that it owns: the checkout itself is never chowned, so root can
# still use git in it afterwards.
#
#   bash tools/test.sh                      as root: installs into the server
#   MR_PG_CONFIG=$(bash tools/private-pg.sh /tmp/mine) bash tools/test.sh
#                                           builds, installs and tests against a
#                                           private installation instead
source "$(dirname "$0")/lib.sh"

started=$SECONDS
mr_install_packages
mr_build_install
export MR_SETUP_DONE=1    # the scripts called below install nothing again

# A copy of the tree, owned by the server user (initdb refuses root).
copy=$(mktemp -d /tmp/medreserve-test.XXXXXX)
cleanup() { [ -n "${MR_KEEP:-}" ] || rm -rf "$copy"; }
trap cleanup EXIT
(cd "$MR_TOP" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - 2>/dev/null) \
    | tar -C "$copy" -xf -
for dir in test/http test/fhir examples/event-worker bench/http; do
    cp -a "$MR_TOP/$dir/node_modules" "$copy/$dir/"
done
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$copy"
chmod 755 "$copy"

passed=0; failed=0; failed_names=()
result() {  # result ok|FAILED NAME [SECONDS]
    if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$2"); fi
    echo "-- $2: $1${3:+ ($3 s)}"
}
run_suite() {  # run_suite NAME COMMAND...
    local name=$1; shift
    mr_say "suite: $name"
    local start=$SECONDS
    if "$@"; then result ok "$name" $((SECONDS - start)); else result FAILED "$name" $((SECONDS - start)); fi
}
in_copy() { mr_as_pg env -C "$copy" "$@"; }

# pg_regress and isolation, then every TAP test (prove's report, file by file)
run_suite "pg_regress" in_copy make -s installcheck PG_CONFIG="$PG_CONFIG" ISOLATION= TAP_TESTS=
run_suite "isolation" in_copy make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS= TAP_TESTS=
cat "$copy"/regression.diffs "$copy"/output_iso/regression.diffs 2>/dev/null | head -200 || true
mr_say "suite: TAP tests (t/*.pl)"
in_copy make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS= ISOLATION= 2>&1 | tee "$copy/prove.out" || true
# prove prints "t/NNN_name.pl .. ok" for a file that passed; a failed one is
# listed again under "Test Summary Report"
for t in "$copy"/t/*.pl; do
    name=t/$(basename "$t")
    if grep -qE "^${name//./\\.} \.+ ok$" "$copy/prove.out"; then
        result ok "$name"
    elif grep -qE "^${name//./\\.} \.+ skipped" "$copy/prove.out"; then
        # not counted: e.g. t/140_package.pl runs from the package suite below
        echo "-- $name: skipped ($(grep -E "^${name//./\\.} " "$copy/prove.out" | sed 's/.*skipped: //'))"
    else
        result FAILED "$name"
    fi
done

# The Debian package (as root): build, lintian, install, book, purge.  With
# MR_PG_CONFIG its files go into a private installation; without, the real
# route (apt-get install, then purge; make install's files are put back).
if [ -n "${MR_PG_CONFIG:-}" ]; then
    run_suite "Debian package (build, lintian, unpacked privately, book)" bash "$MR_TOP/tools/package-test.sh" --quick
else
    run_suite "Debian package (build, lintian, apt-get install, book, purge)" \
        bash "$MR_TOP/tools/package-test.sh" --system --quick
fi
# The clinic stack in Chromium (tools/serve.sh: its own cluster, PostgREST
# and nginx; it builds and installs into MR_PG_CONFIG's installation, or the
# system's).
run_suite "browser: Chromium through nginx and PostgREST" bash "$MR_TOP/test/browser/run.sh"
run_suite "static analysis (cppcheck, clang-tidy)" in_copy make -s analyse PG_CONFIG="$PG_CONFIG"
run_suite "sanitizers (address, undefined)" make -C "$copy" -s sanitize-check PG_CONFIG="$PG_CONFIG"
# The benchmark's smoke run: every case briefly, invariants only, no timings.
run_suite "benchmark smoke run" bash "$copy/bench/run.sh" --smoke
run_suite "growth benchmark smoke run" bash "$copy/bench/growth.sh" --smoke
run_suite "availability wrapper smoke run" bash "$copy/bench/wrapper.sh" --smoke

echo
echo "# took $((SECONDS - started)) s"
[ $failed -eq 0 ] || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
