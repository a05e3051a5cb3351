#!/usr/bin/env bash
# Static analysis of medreserve's C code (make analyse): cppcheck and
# clang-tidy over src/*.c, each with the build's own include paths and
# defines.  Any finding located in our files fails; findings located in
# PostgreSQL's headers are not ours and are not shown.  Prints one ok/not ok
# line per analyser and a closing "N passed, M failed".
#
# The flags come from PGXS itself (the CPPFLAGS `make` compiles with:
# -I for the server's headers, -D_GNU_SOURCE, our -W options), so the
# analysers see the code the compiler sees, with no compile_commands.json
# or rebuild needed.
#
# clang-tidy reads its checks, and the reasons for each exclusion, from
# .clang-tidy at the top of the tree.  cppcheck's settings are below.
# Both understand that elog(ERROR) and ereport(ERROR) do not return (the
# macros end in pg_unreachable()), so code after such a check is not
# reported as reachable with, say, a NULL pointer.
#
# To silence a false positive, suppress that one finding where it is and
# say why: `// NOLINT(check-name): reason` for clang-tidy, and
# `// cppcheck-suppress id` on the line before for cppcheck (both read
# inline suppressions).
source "$(dirname "$0")/../tools/lib.sh"

# Called from `make analyse`: the outer make's flags are not ours.
unset MAKEFLAGS MFLAGS MAKELEVEL

# The analysers come from mr_install_packages (tools/test.sh); say so if not.
for tool in cppcheck clang-tidy; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: run tools/test.sh as root once, or apt-get install $tool" >&2; exit 1; }
done

passed=0; failed=0; started=$SECONDS
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

cd "$MR_TOP"
sources=(src/*.c)
scratch=$(mktemp -d /tmp/medreserve-analyse.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# The preprocessor flags of the build, as PGXS computes them.
cppflags=$(printf 'print-cppflags:\n\t@echo $(CPPFLAGS)\n' |
    make -s --no-print-directory -f Makefile -f - print-cppflags PG_CONFIG="$PG_CONFIG")
read -r -a cppflags <<<"$cppflags"
server_includes=$("$PG_CONFIG" --includedir-server)

# --- cppcheck ---------------------------------------------------------------
# -I/-D of the build, plus gcc's predefined macros (__GNUC__, __x86_64__ ...)
# so that PostgreSQL's headers take the branches they take when compiled.
# No system include paths: cppcheck knows libc from --library=gnu, and its
# manual advises against feeding it the system headers.
#   --enable: warning (bugs), style (includes dead code, redundant
#     conditions), performance, portability, information (reports a
#     PostgreSQL header it cannot find, which would blind it).
# Any line cppcheck prints fails the check: information messages do not
# set its exit code.
# Suppressed, all over:
#   missingIncludeSystem  the system headers left out on purpose (above).
#   variableScope         "the scope can be reduced": PostgreSQL style, and
#                         -Wdeclaration-after-statement, declare at the top
#                         of the block.
#   unmatchedSuppression  the two above are standing rules, not reports to
#                         match; an unused inline suppression goes unseen too.
# Suppressed in PostgreSQL's headers: everything (not ours).
gcc -dM -E -x c /dev/null >"$scratch/compiler-macros.h"
cppcheck_flags=()
for f in "${cppflags[@]}"; do
    case $f in -I*|-D*|-U*) cppcheck_flags+=("$f") ;; esac
done
mr_say "cppcheck $(cppcheck --version | sed 's/^Cppcheck //')"
rc=0
cppcheck --quiet --error-exitcode=1 --inline-suppr \
    --std=c99 --language=c --library=gnu --include="$scratch/compiler-macros.h" \
    --enable=warning,style,performance,portability,information \
    --suppress=missingIncludeSystem --suppress=variableScope \
    --suppress=unmatchedSuppression --suppress="*:$server_includes/*" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    "${cppcheck_flags[@]}" "${sources[@]}" >"$scratch/cppcheck.out" 2>&1 || rc=$?
cat "$scratch/cppcheck.out"
if [ "$rc" -eq 0 ] && [ ! -s "$scratch/cppcheck.out" ]; then
    ok "cppcheck (${#sources[@]} files)"
else
    not_ok "cppcheck: $(grep -c . "$scratch/cppcheck.out") findings above"
fi

# --- clang-tidy -------------------------------------------------------------
# The build's flags without -Werror: clang's own warnings (-Wall -Wextra)
# are reported as clang-diagnostic-* findings like any other.
tidy_flags=()
for f in "${cppflags[@]}"; do
    [ "$f" = -Werror ] || tidy_flags+=("$f")
done
mr_say "$(clang-tidy --version | grep -m1 -i 'version' | sed 's/^ *//')"
# (It counts the warnings it hid in PostgreSQL's headers: "N warnings
# generated."  Those lines are dropped.)
rc=0
clang-tidy --quiet --warnings-as-errors='*' "${sources[@]}" -- "${tidy_flags[@]}" \
    >"$scratch/clang-tidy.out" 2>&1 || rc=$?
grep -vE '^[0-9]+ warnings? generated\.$' "$scratch/clang-tidy.out" || true
if [ "$rc" -eq 0 ]; then
    ok "clang-tidy (${#sources[@]} files)"
else
    not_ok "clang-tidy: $(grep -cE '^[^ ].*: (warning|error): ' "$scratch/clang-tidy.out") findings above"
fi

echo
echo "$passed passed, $failed failed ($((SECONDS - started)) s)"
[ "$failed" -eq 0 ]
