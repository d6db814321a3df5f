# patchdigest - see README.md.  "make demo" and "make check" set up
# everything they need on a Debian machine (packages through apt-get).

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=
VERSION    := 0.1

CC      ?= cc
PKGS    := gmime-3.0 hiredis
BUILD   ?= build
CFLAGS  ?= -O2 -g
# always on, whatever CFLAGS the caller gives
PD_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
           -DPD_VERSION='"$(VERSION)"' -Iinclude -I$(BUILD)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GMime is not linked: milter/gmime.c loads it when a mail first needs it
# (pd_gmime.h), by its SONAME; the unit tests, which call GLib themselves,
# are linked with it
PKG_LIBS   = $(shell pkg-config --libs hiredis 2>/dev/null)
GMIME_LIBS = $(shell pkg-config --libs gmime-3.0 2>/dev/null)
GMIME_SONAME = $(shell objdump -p "$$(pkg-config --variable=libdir gmime-3.0)/libgmime-3.0.so" \
                   2>/dev/null | awk '$$1 == "SONAME" { print $$2 }')
LDLIBS  += $(PKG_LIBS) -lzstd -lz -ldl -pthread

# Debian packages the build, the tests and the demo need (valgrind for
# test_valgrind, systemd for test_package's systemd-analyze), so that "make
# check" on a fresh machine skips nothing it could run.
DEB_PKGS := build-essential pkg-config libmilter-dev libgmime-3.0-dev libhiredis-dev zlib1g-dev libzstd-dev \
            redis-server libcmocka-dev python3 groff-base git postfix cmark valgrind \
            systemd

LIB_SRCS := util log config charset gmime rfc2047 mime mail classify record journal store writer ingest mailbox inbox stats status \
            domainmap digest page sendmail flush
# the review, version and applied outcomes of replies (DESIGN.md "Outcomes")
LIB_SRCS += outcome
# header blocks and excerpts kept compressed in Redis (issue 20)
LIB_SRCS += textz
# the milter protocol, served without libmilter (issue 20)
LIB_SRCS += milterproto
LIB_OBJS := $(LIB_SRCS:%=$(BUILD)/obj/%.o)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
# Redis Sentinel: the master asked of the sentinels (issue 19)
LIB_OBJS += $(BUILD)/obj/sentinel.o

.PHONY: all deps check demo sanitize fuzz fuzz-deps fuzz-bins torture install clean unit integration

all: $(BUILD)/patchdigest-milter $(BUILD)/patchdigest

# $(call apt_install,PACKAGES): install the Debian packages not yet installed.
# Postfix is preseeded to "No configuration": the tests run a private
# instance of their own and need nothing set up system-wide.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  case "$$missing " in *" postfix "*) \
	    echo "postfix postfix/main_mailer_type select No configuration" | $$SUDO debconf-set-selections || exit 1;; \
	  esac; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(DEB_PKGS))

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

# the Lua scripts, as C strings: pd_record_lua, pd_window_lua, pd_outcomes_lua,
# pd_mails_lua; the three that read mails begin with milter/mailfmt.lua.
# Comment lines are left empty (line numbers in Lua's errors stay right):
# import sends record.lua whole with each batch (EVAL), which Redis hashes.
LUA_MAILFMT := record mails outcomes
$(BUILD)/%_lua.h: milter/%.lua milter/mailfmt.lua Makefile | $(BUILD)/obj
	{ echo '/* generated from $< */'; echo 'static const char pd_$*_lua[] ='; \
	  cat $(if $(filter $*,$(LUA_MAILFMT)),milter/mailfmt.lua) $< | \
	  sed -e 's/^[[:space:]]*--.*$$//' \
	      -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/'; echo '    ;'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/store.o: $(BUILD)/record_lua.h $(BUILD)/window_lua.h $(BUILD)/outcomes_lua.h \
                      $(BUILD)/mails_lua.h

# the compression dictionary (milter/textz.dict, see pd_textz.h) as a C array
$(BUILD)/textz_dict.h: milter/textz.dict Makefile | $(BUILD)/obj
	{ echo '/* generated from $< */'; echo 'static const unsigned char pd_textz_dict[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/    /'; \
	  echo '};'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/textz.o: $(BUILD)/textz_dict.h
$(BUILD)/obj/gmime.o: PD_CFLAGS += $(if $(GMIME_SONAME),-DPD_GMIME_SONAME='"$(GMIME_SONAME)"')

$(BUILD)/obj/%.o: milter/%.c $(wildcard include/*.h) | $(BUILD)/obj
	$(CC) $(PD_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libpatchdigest.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/patchdigest-milter: $(BUILD)/obj/milter.o $(BUILD)/libpatchdigest.a
	$(CC) $(PD_CFLAGS) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/patchdigest: $(BUILD)/obj/cli.o $(BUILD)/libpatchdigest.a
	$(CC) $(PD_CFLAGS) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# ---- tests ----

$(BUILD)/tests/feeder: tests/feeder.c | $(BUILD)/tests
	$(CC) $(PD_CFLAGS) $(CFLAGS) -o $@ $< -pthread

# the benchmark's empty filter (tests/bench/empty_filter.c), libmilter only
$(BUILD)/tests/empty_filter: tests/bench/empty_filter.c | $(BUILD)/tests
	$(CC) $(PD_CFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lmilter -pthread
# the benchmark's spell probe (tests/bench/spell.c): how much the two cores slow each other
$(BUILD)/tests/spell: tests/bench/spell.c | $(BUILD)/tests
	$(CC) $(PD_CFLAGS) $(CFLAGS) -o $@ $< -lz

# the table of the corpus' notices test_outcome checks
$(BUILD)/tests/test_outcome: tests/unit/outcome_notices.inc

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libpatchdigest.a | $(BUILD)/tests
	$(CC) $(PD_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libpatchdigest.a $(LDFLAGS) $(LDLIBS) \
	    $(GMIME_LIBS) -lcmocka

TEST_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%) $(BUILD)/tests/feeder $(BUILD)/tests/empty_filter \
             $(BUILD)/tests/spell

check: deps
	$(MAKE) all $(TEST_BINS)
	BUILD=$(BUILD) tests/run-tests.sh

demo: deps
	$(MAKE) all $(BUILD)/tests/feeder
	BUILD=$(BUILD) tests/demo.sh

# GMime is loaded with dlopen() (milter/gmime.c), so GLib's thread-local
# blocks are dynamic TLS, which the sanitizer runtime of GCC 12 can misread
# as a pre-2.25 glibc's (a block whose address modulo 4096 happens to match
# that header's size) and then crash in LeakSanitizer's exit check
# ("Tracer caught signal 11", "DTLS ... at 0xc0"): its __tls_get_addr
# interceptor is turned off (intercept_tls_get_addr=0).
sanitize: deps
	$(MAKE) BUILD=build/sanitize CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" all $(subst $(BUILD)/,build/sanitize/,$(TEST_BINS))
	BUILD=build/sanitize PD_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:intercept_tls_get_addr=0 \
	    tests/run-tests.sh

# ---- "make bench": speed against the milter protocol's own limit ----
# tests/bench/bench.py feeds the 1500 kvm-ppc posts at 1, 8 and 64
# connections to the empty filter and to patchdigest-milter (with a private
# redis-server), alternating, BENCH_ROUNDS rounds (5), and times "patchdigest
# import" against tests/bench/baseline.py; prints the figures and writes
# build/bench.json.  Under a minute.  Not part of "make check".
.PHONY: bench
bench: deps
	$(MAKE) all $(BUILD)/tests/feeder $(BUILD)/tests/empty_filter $(BUILD)/tests/spell
	BUILD=$(BUILD) $(if $(BENCH_ROUNDS),BENCH_ROUNDS=$(BENCH_ROUNDS)) python3 tests/bench/bench.py

# ---- "make textz-dict": train milter/textz.dict again (pd_textz.h) ----
# On every second kvm-ppc post of the corpus beside the checkout (the other
# half is left to measure it on); needs zstd.  Not part of the build: a new
# dictionary needs a new dictionary id and code that still reads the old.
TEXTZ_CORPUS ?= ../shared/corpus/kvm-ppc.vger.kernel.org.0/eml
TEXTZ_DICT_ID := 1346633729
.PHONY: textz-dict
$(BUILD)/tests/textz_samples: tests/textz_samples.c $(BUILD)/libpatchdigest.a | $(BUILD)/tests
	$(CC) $(PD_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libpatchdigest.a $(LDFLAGS) $(LDLIBS)
textz-dict: $(BUILD)/tests/textz_samples
	$(call apt_install,zstd)
	rm -rf $(BUILD)/textz-samples && mkdir -p $(BUILD)/textz-samples
	$(BUILD)/tests/textz_samples $(BUILD)/textz-samples $(sort $(wildcard $(TEXTZ_CORPUS)/*.eml))
	zstd --train -q $(BUILD)/textz-samples/* --maxdict=32768 --dictID=$(TEXTZ_DICT_ID) \
	    -o milter/textz.dict -f

# ---- fuzzing: the libFuzzer targets of tests/fuzz (see README.md) ----
# The library is rebuilt with clang for coverage and ASan/UBSan into
# build/fuzz; tests/fuzz/run-fuzz.sh runs each target bounded (FUZZ_RUNS,
# FUZZ_TIME).  Not part of "make check".

FUZZ_CC       ?= clang-14
# clang, and its runtimes (libFuzzer, ASan, UBSan)
FUZZ_DEB_PKGS := clang-14 libclang-rt-14-dev
FUZZ_TARGETS  := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN      := address,undefined

fuzz-deps:
	$(call apt_install,$(FUZZ_DEB_PKGS))

fuzz: deps fuzz-deps
	$(MAKE) BUILD=build/fuzz CC=$(FUZZ_CC) \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=$(FUZZ_SAN)" fuzz-bins
	python3 tests/fuzz/mkseeds.py build/fuzz/corpus
	BUILD=build/fuzz FUZZ_RUNS="$(FUZZ_RUNS)" FUZZ_TIME="$(FUZZ_TIME)" tests/fuzz/run-fuzz.sh

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/%)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(BUILD)/libpatchdigest.a
	$(CC) $(PD_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(BUILD)/libpatchdigest.a $(LDFLAGS) $(LDLIBS)

# Every fault at once, at random, for longer runs (tests/torture.py):
# "make torture ROUNDS=20"; SEED=S repeats a round.  Not part of "make check".
ROUNDS ?= 3
torture: deps
	$(MAKE) all $(BUILD)/tests/feeder
	BUILD=$(BUILD) ROUNDS=$(ROUNDS) $(if $(SEED),SEED=$(SEED)) python3 tests/torture.py

# The milter, and the flush and import the test runs, under valgrind memcheck:
# tests/integration/test_hostile.py with PD_VALGRIND=1 (corpus fixtures,
# hostile mail, malformed milter packets, 200 corpus posts); fails on any
# memory error or definite leak (suppressions: tests/valgrind-milter.supp).
# About half a minute: "make check" runs it too, when valgrind is installed.
.PHONY: valgrind
valgrind: deps
	@command -v valgrind >/dev/null 2>&1 || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind; }
	$(MAKE) all $(BUILD)/tests/feeder
	BUILD=$(BUILD) PD_VALGRIND=1 python3 tests/integration/test_hostile.py

# ---- the Debian package: "make deb" ----
# Copies the source tree (without build/ and .git) to build/deb/patchdigest-0.1
# with packaging/debian as its debian/, builds the binary package with
# dpkg-buildpackage (debian/rules runs this Makefile's "all" and "install"),
# then lintian, which must report no error (its report: build/deb/lintian.txt).
# Leaves build/deb/patchdigest_0.1-1_<arch>.deb; does nothing while that is
# newer than every source file.  tests/integration/test_package.py checks it.
DEB_DIR        := build/deb
DEB_BUILD_PKGS := build-essential pkg-config libmilter-dev libgmime-3.0-dev libhiredis-dev zlib1g-dev libzstd-dev \
                  debhelper dpkg-dev lintian
DEB_ARCH       := $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE       := $(DEB_DIR)/patchdigest_$(VERSION)-1_$(DEB_ARCH).deb
DEB_SRCS       := Makefile $(shell find milter include conf packaging -type f 2>/dev/null)

.PHONY: deb deb-deps
deb-deps:
	$(call apt_install,$(DEB_BUILD_PKGS))

deb: deb-deps
	@$(MAKE) --no-print-directory $(DEB_FILE)

$(DEB_FILE): $(DEB_SRCS)
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/patchdigest-$(VERSION)
	tar -cf - --exclude=./build --exclude=./.git --exclude=__pycache__ . | \
	    tar -xf - -C $(DEB_DIR)/patchdigest-$(VERSION)
	rm -rf $(DEB_DIR)/patchdigest-$(VERSION)/debian
	cp -R packaging/debian $(DEB_DIR)/patchdigest-$(VERSION)/debian
	cd $(DEB_DIR)/patchdigest-$(VERSION) && env -u BUILD -u MAKEFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b -Jauto
	lintian --info $(DEB_DIR)/patchdigest_$(VERSION)-1_$(DEB_ARCH).changes > $(DEB_DIR)/lintian.txt 2>&1; \
	    cat $(DEB_DIR)/lintian.txt; \
	    if grep -q '^E: ' $(DEB_DIR)/lintian.txt; then echo "lintian: errors (above)"; rm -f $@; exit 1; fi
	@echo "built $@"

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/patchdigest
	install -m 0755 $(BUILD)/patchdigest-milter $(DESTDIR)$(SBINDIR)/patchdigest-milter
	install -m 0755 $(BUILD)/patchdigest $(DESTDIR)$(BINDIR)/patchdigest
	[ -e $(DESTDIR)$(SYSCONFDIR)/patchdigest/patchdigest.conf ] || \
	    install -m 0644 conf/patchdigest.conf $(DESTDIR)$(SYSCONFDIR)/patchdigest/patchdigest.conf
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 packaging/man/patchdigest.1 $(DESTDIR)$(MANDIR)/man1/patchdigest.1
	install -m 0644 packaging/man/patchdigest.conf.5 $(DESTDIR)$(MANDIR)/man5/patchdigest.conf.5
	install -m 0644 packaging/man/patchdigest-milter.8 $(DESTDIR)$(MANDIR)/man8/patchdigest-milter.8
	install -d $(DESTDIR)$(UNITDIR)
	for u in patchdigest-milter.service patchdigest-flush.service patchdigest-flush.timer; do \
	  sed -e 's|/usr/sbin/|$(SBINDIR)/|g' -e 's|/usr/bin/patchdigest|$(BINDIR)/patchdigest|g' \
	      -e 's| /etc/patchdigest/| $(SYSCONFDIR)/patchdigest/|g' conf/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

clean:
	rm -rf build
