# medreserve: PGXS build and test driver
EXTENSION = medreserve
MODULE_big = medreserve
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = $(wildcard sql/medreserve--*.sql)
PGFILEDESC = "medreserve - appointment booking engine for clinics"

PG_CPPFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter

# Each suite gets its own throwaway server (make installcheck) with the
# settings it needs.
# Each file sets up the data it needs (test_decoding lists its tests the same
# way), so the order below is only the order of the report.
REGRESS = booking holds validation schedule appointments week retries outbox slot_state security stats health schema
REGRESS_OPTS = --temp-instance=./tmp_check_regress --temp-config=test/regress.conf --load-extension=btree_gist --load-extension=medreserve
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
# Cluster-level tests (t/*.pl on PostgreSQL::Test::Cluster), after the two
# above; one alone: make installcheck PROVE_TESTS=t/010_race.pl
TAP_TESTS = 1

ISOLATION_OPTS = --temp-instance=./tmp_check_iso --temp-config=test/isolation.conf --load-extension=btree_gist --load-extension=medreserve

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every C file includes the shared header: rebuild them all when it changes
# (PGXS tracks no header dependencies by itself).
$(OBJS): src/medreserve.h

# ---------------------------------------------------------------------------
# Sanitizers and static analysis (issue 5).  Both work on private copies:
# neither touches this tree's build nor the server's installation.
#   make sanitize-check  regress + isolation against an ASan/UBSan build
#   make analyse         clang-tidy (.clang-tidy) and cppcheck over src/*.c
# Neither installs anything: tools/test.sh installs the packages once.
# ---------------------------------------------------------------------------
.PHONY: sanitize-check analyse
sanitize-check:
	bash test/sanitize.sh
analyse:
	bash test/analyse.sh

# ---------------------------------------------------------------------------
# Packaging (issue 16).  Each builds from a copy of the committed tree (HEAD).
#   make deb               Debian package + lintian (tools/package.sh), .deb in .run/deb/
#   make deb-check         + the package test on a private installation (dpkg -x)
#   make deb-check-system  + the real route: apt-get install ./...deb, test, purge
#                          (root; moves make-install files aside and back)
#   make deb-check-sandbox the same in a private mount namespace (overlays on
#                          /usr and /var): nothing changes outside it
#   make dist              the PGXN zip, dist/medreserve-<version>.zip (git archive)
# ---------------------------------------------------------------------------
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" medreserve.control)
.PHONY: deb deb-check deb-check-system deb-check-sandbox dist
deb:
	bash tools/package.sh
deb-check:
	bash tools/package-test.sh
deb-check-system:
	bash tools/package-test.sh --system
deb-check-sandbox:
	bash tools/package-test.sh --sandbox
dist:
	mkdir -p dist
	git -c safe.directory=$(CURDIR) archive --format zip --prefix=medreserve-$(EXTVERSION)/ --output dist/medreserve-$(EXTVERSION).zip HEAD
