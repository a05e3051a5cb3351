#!/usr/bin/env bash
# The regression and isolation suites against a medreserve.so built with
# AddressSanitizer and UndefinedBehaviorSanitizer (make sanitize-check).
# Prints one ok/not ok line per check and a closing "N passed, M failed";
# any sanitizer report fails the run.
#
# How it works, and why this way:
#
# - Nothing shared is touched.  Other servers on the machine load the
#   installed $libdir/medreserve.so into every new backend; an instrumented
#   copy there would fail to load in them (no ASan runtime) and outlive this
#   run if it died.  The working tree's build stays as it is too, since
#   anyone may `make install` from it at any moment.  So there is nothing to
#   restore afterwards: the exit trap only stops servers and removes the
#   scratch folder (set MR_KEEP=1 to keep it).
#
# - A private PostgreSQL installation.  PostgreSQL's programs are
#   relocatable: postgres, initdb and pg_config find $libdir and the share
#   folder relative to their own location (make_relative_path() in
#   src/port/path.c).  A copy of the server's bindir, pkglibdir and sharedir,
#   laid out under $MR_WORK/root as under /, is therefore an installation of
#   its own, and `make install DESTDIR=$MR_WORK/root` puts the instrumented
#   build exactly into it.  pg_regress is pointed at the copied programs with
#   --bindir (EXTRA_REGRESS_OPTS); everything else about `make installcheck`
#   is unchanged.  Not dynamic_library_path: CREATE FUNCTION ... AS
#   '$libdir/medreserve' bypasses it, and a backend would end up with two
#   different copies of the library.
#
# - A private copy of the sources.  The instrumented build, results/ and the
#   throwaway servers of pg_regress live in $MR_WORK/tree, so they collide
#   neither with the working tree's build nor with suites run from it.
#
# - The runtime.  Debian's postgres is not instrumented, so gcc's libasan is
#   put first with LD_PRELOAD for everything make runs (pg_regress, psql and
#   the servers alike: their reports count too).  The library also needs
#   libubsan, which it loads itself (DT_NEEDED).  Leak detection is off:
#   memory contexts free in bulk and would make LeakSanitizer report every
#   backend.
#
# - A small glue library, preloaded after libasan, for two traps:
#   1. ASan, preloaded, initialises late: inside the first malloc() of
#      another library's constructor.  Here that is libgpg-error's (postgres
#      -> libsystemd -> libgcrypt), which calls bindtextdomain(), whose
#      malloc() runs under glibc's gettext lock.  ASan's initialisation looks
#      up swift_demangle with dlsym() and clears the failure with dlerror(),
#      which translates its message under that same lock: the lock ends up
#      corrupted and every postgres program hangs in main()'s own
#      bindtextdomain() (gcc 12's and clang 14's runtimes alike; compare
#      google/sanitizers#1270).  The glue defines swift_demangle (returning
#      NULL, "cannot demangle"), so the lookup succeeds and nothing is
#      translated.  The preflight check below times out if this ever stops
#      working.
#   2. The sanitizers read their options from /proc/self/environ, and
#      libubsan does so lazily, at its first report, in a backend whose
#      environment area postgres has overwritten with its process title: the
#      report would ignore UBSAN_OPTIONS (no stack, no abort).  The glue
#      defines __ubsan_default_options(), which UBSan calls first, to return
#      getenv("UBSAN_OPTIONS") from the environment postgres keeps.  (ASan
#      reads its options at process start, before any overwriting.)
#
# - Where reports go.  ASan writes to $SANLOG/asan.PID (log_path).  UBSan's
#   log_path does not take (its report-path setter binds to libasan's copy),
#   so UBSan reports go to stderr, which pg_regress sends to the server log
#   of each throwaway instance; both places are searched.
#
# - -fno-wrapv.  PGXS compiles with -fwrapv, which makes signed overflow
#   defined and turns UBSan's overflow checks off.  Our code must not rely
#   on wraparound, so the sanitizer build puts the checks back.
#
# - Blind spot: ASan sees the blocks that memory contexts malloc(), not the
#   palloc() chunks carved out of them, so an overrun that stays inside a
#   context's block goes unnoticed.  Stack and global arrays, and
#   malloc()ed memory, are fully checked.
source "$(dirname "$0")/../tools/lib.sh"

# Called from `make sanitize-check`: the outer make's flags are not ours.
unset MAKEFLAGS MFLAGS MAKELEVEL

SAN_CFLAGS='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -fno-wrapv -g'

passed=0; failed=0; started=$SECONDS
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
summary() {
    echo
    echo "$passed passed, $failed failed ($((SECONDS - started)) s)"
    [ "$failed" -eq 0 ]
}
# A check the later ones depend on failed: stop here.
give_up() { not_ok "$*"; summary; exit 1; }

# Stop the throwaway servers pg_regress may have left behind if we were
# interrupted, then remove the scratch folder.
san_cleanup() {
    local d
    for d in "${MR_WORK:-/nonexistent}"/tree/tmp_check_regress/data "${MR_WORK:-/nonexistent}"/tree/tmp_check_iso/data; do
        [ -f "$d/postmaster.pid" ] && mr_as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
    done
    mr_cleanup
}

# Packages (libasan8, libubsan1) come from mr_install_packages (tools/test.sh).
mr_make_workdir
trap san_cleanup EXIT
mr_say "sanitizer run in $MR_WORK"

BINDIR=$("$PG_CONFIG" --bindir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
SHAREDIR=$("$PG_CONFIG" --sharedir)
ROOT=$MR_WORK/root
TREE=$MR_WORK/tree
SANLOG=$MR_WORK/sanitizer-logs

# The sources, without build products (make clean below removes any left).
mkdir -p "$TREE/test" "$ROOT" "$SANLOG" "$MR_WORK/lib"
cp -a "$MR_TOP/Makefile" "$MR_TOP"/*.control "$TREE/"
cp -a "$MR_TOP"/test/*.conf "$TREE/test/"
for d in src sql expected specs input output data; do
    if [ -d "$MR_TOP/$d" ]; then cp -a "$MR_TOP/$d" "$TREE/"; fi
done

# The private installation: the server's own files, minus any medreserve.
tar -C / -cf - --exclude='medreserve*' "${BINDIR#/}" "${PKGLIBDIR#/}" "${SHAREDIR#/}" |
    tar -C "$ROOT" -xf -

# The glue library explained above.
cat >"$MR_WORK/lib/sanitizer_glue.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

char	   *swift_demangle(const char *name, size_t len, char *buf, size_t *buflen, uint32_t flags);
const char *__ubsan_default_options(void);

/* Found by ASan's start-up lookup, which then has no dlerror() to clear. */
char *
swift_demangle(const char *name, size_t len, char *buf, size_t *buflen, uint32_t flags)
{
	return NULL;				/* "cannot demangle": ASan falls back on its own */
}

/* UBSan's options, from the environment as postgres keeps it. */
const char *
__ubsan_default_options(void)
{
	const char *options = getenv("UBSAN_OPTIONS");

	return options ? options : "";
}
EOF
gcc -shared -fPIC -O2 -Wall -o "$MR_WORK/lib/libsanitizer_glue.so" "$MR_WORK/lib/sanitizer_glue.c"

[ "$(id -u)" -eq 0 ] && chown -R postgres: "$MR_WORK"

# The checks up to the preflight are preconditions: stop at the first failure.
if [ "$("$ROOT$BINDIR/pg_config" --pkglibdir)" = "$ROOT$PKGLIBDIR" ] &&
    [ "$("$ROOT$BINDIR/pg_config" --sharedir)" = "$ROOT$SHAREDIR" ]; then
    ok "the private installation in $ROOT is relocated"
else
    give_up "the private installation is not relocated: $ROOT$BINDIR/pg_config --pkglibdir says $("$ROOT$BINDIR/pg_config" --pkglibdir)"
fi

mr_say "building with $SAN_CFLAGS"
# with_llvm=no: no bitcode, so the server can never inline uninstrumented
# (or instrumented) copies of our functions through JIT.
if mr_as_pg make -C "$TREE" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null &&
    mr_as_pg make -C "$TREE" -s with_llvm=no PG_CFLAGS="$SAN_CFLAGS" PG_CONFIG="$PG_CONFIG" &&
    mr_as_pg make -C "$TREE" -s with_llvm=no install DESTDIR="$ROOT" PG_CONFIG="$PG_CONFIG" >/dev/null &&
    symbols=$(nm -D --undefined-only "$ROOT$PKGLIBDIR/medreserve.so") &&
    grep -q '__asan_report_load' <<<"$symbols" && grep -q '__ubsan_handle_' <<<"$symbols"; then
    ok "instrumented medreserve.so installed into the private installation"
else
    give_up "building or installing the instrumented medreserve.so"
fi

SAN_ENV=(
    "LD_PRELOAD=$(gcc -print-file-name=libasan.so):$MR_WORK/lib/libsanitizer_glue.so"
    "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$SANLOG/asan"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1"
)

# Preflight: a single-user server of the private installation, under the
# runtime, preloads the library; its memory map must show our copy and
# libasan.  Catches the start-up hang (see the glue above) in a minute at
# most, rather than never.
mr_as_pg "$ROOT$BINDIR/initdb" -D "$MR_WORK/data" -U postgres -A trust --no-sync >/dev/null
maps=$(echo "SELECT pg_read_file('/proc/self/maps');" |
    mr_as_pg timeout 60 env "${SAN_ENV[@]}" "$ROOT$BINDIR/postgres" --single \
        -D "$MR_WORK/data" -c shared_preload_libraries=medreserve postgres 2>&1) || true
if grep -qF "$ROOT$PKGLIBDIR/medreserve.so" <<<"$maps" && grep -q 'libasan\.so' <<<"$maps"; then
    ok "the server runs the instrumented library from the private installation, under ASan"
else
    head -n 20 <<<"$maps"
    give_up "a single-user server under ASan did not map $ROOT$PKGLIBDIR/medreserve.so (or hung)"
fi
rm -rf "$MR_WORK/data"

# Appended to each suite's own --temp-config.  A sanitizer report aborts the
# backend; without a restart the remaining tests fail at once, instead of
# racing pg_regress's shutdown against crash recovery (which can stall the
# stop for a minute).
echo "restart_after_crash = off" >"$MR_WORK/sanitize.conf"

mr_say "pg_regress and isolation specs under ASan and UBSan"
# (TAP_TESTS= : the cluster-level tests run the server's own programs from
# PATH, outside this private installation.)
if mr_as_pg env "${SAN_ENV[@]}" make -C "$TREE" -s installcheck PG_CONFIG="$PG_CONFIG" TAP_TESTS= \
    EXTRA_REGRESS_OPTS="--bindir=$ROOT$BINDIR --temp-config=$MR_WORK/sanitize.conf"; then
    ok "make installcheck (pg_regress + isolation) with the instrumented library"
else
    for f in "$TREE/regression.diffs" "$TREE/output_iso/regression.diffs"; do
        if [ -f "$f" ]; then head -n 100 "$f"; fi
    done
    not_ok "make installcheck (pg_regress + isolation) with the instrumented library"
fi

# ASan's reports are in $SANLOG, UBSan's (and any ASan could not write
# there) in the server logs.
reports=$(find "$SANLOG" -type f -size +0 | sort)
in_logs=$(grep -lE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' \
    "$TREE"/log/*.log "$TREE"/output_iso/log/*.log 2>/dev/null || true)
if [ -z "$reports" ] && [ -z "$in_logs" ]; then
    ok "no sanitizer reports"
else
    for f in $reports; do
        echo "---- $f"
        head -n 60 "$f"
    done
    for f in $in_logs; do
        echo "---- $f"
        grep -E -m1 -A40 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$f" || true
    done
    not_ok "sanitizer reports in: $(echo $reports $in_logs)"
fi

summary
