# erwatch build.
#
#   make            build daemon, CLI, client libraries (build/)
#   make run        install missing Debian packages, build, start erwatchd
#   make test       install missing Debian packages, build, run every test
#   make bench      benchmarks (writes tests/bench/RESULTS.md)
#   make demo       SimSiam demo: a healthy and two collapsing runs into erwatchd
#   make asan|tsan  the test suite under AddressSanitizer+UBSan / ThreadSanitizer
#   make fuzz       libFuzzer for FUZZ_SECONDS on FUZZ_TARGET=decode|params
#   make install    PREFIX=/usr/local DESTDIR=
#
# Everything except main() lives in archives (build/libewcore.a for the
# daemon's modules, build/liberwatch.a for the client) that the binaries and
# the tests link, so tests exercise the code the binaries run.

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
SAN     ?=
OPT     ?= -O2 -g
RUN_ARGS ?=
FUZZ_SECONDS ?= 60
V       ?= 0
ifeq ($(V),0)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
say :=
endif

PKGS := libzmq msgpack libmicrohttpd sqlite3 libpq openblas lapacke libcurl jansson yaml-0.1 libcrypt
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# The client library needs only these (they are erwatch.pc's Requires.private).
CLIENT_PKGS := libzmq msgpack libcurl jansson
CLIENT_LIBS := $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null) -lm -lpthread

# liberwatch.so.$(SOMAJOR): the major version changes only when the ABI
# breaks (a struct of erwatch.h changes size, a call its meaning).
VERSION := $(shell sed -n 's/^\#define EW_VERSION "\(.*\)"/\1/p' daemon/config.h)
SOMAJOR := 0

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Werror
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -MMD -MP \
              -Icommon -Idaemon -Iclient -Itests $(PKG_CFLAGS) $(CFLAGS)
ifneq ($(SAN),)
CFLAGS_ALL += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDSAN := -fsanitize=$(SAN)
endif
LDLIBS_ALL := $(PKG_LIBS) -lpthread -lm $(LDSAN) $(LDFLAGS)

CORE_SRC   := $(filter-out daemon/erwatchd.c,$(wildcard daemon/*.c))
CLIENT_SRC := $(wildcard client/*.c)
CLI_SRC    := $(wildcard client/cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TLIB_SRC   := $(wildcard tests/lib/*.c)
BENCH_SRC  := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJ   := $(call obj,$(CORE_SRC)) $(BUILD)/obj/gen/schema_sql.o $(BUILD)/obj/gen/schema_pg_sql.o
# daemon/fault.c (fault injection points, fault.h) is in both libraries.
CLIENT_OBJ := $(call obj,$(CLIENT_SRC) daemon/fault.c)
CLI_OBJ    := $(call obj,$(CLI_SRC))
CLILIB_OBJ := $(call obj,$(filter-out client/cli/main.c,$(CLI_SRC)))
TLIB_OBJ   := $(call obj,$(TLIB_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BIN  := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

BINS := $(BUILD)/erwatchd $(BUILD)/erwatch $(BUILD)/liberwatch.a $(BUILD)/liberwatch.so

.PHONY: all deps run test check asan tsan fuzz bench install clean web
.SECONDARY:
all: $(BINS) web

deps:
	@sh scripts/deps.sh

# `make run` must work on a fresh machine: deps first, then build, then run.
run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/erwatchd $(RUN_ARGS)

test: deps
	@$(MAKE) --no-print-directory all tests-build
	@EW_SAN=$(EW_SAN) sh tests/run.sh $(BUILD)

FUZZ_TARGETS := decode params
tests-build: $(UNIT_BIN) $(foreach t,$(FUZZ_TARGETS),$(BUILD)/tests/fuzz_$(t)_replay) \
             $(BUILD)/tests/dump_facts $(BUILD)/tests/test_strbuf_portable \
             $(BUILD)/tests/query_pair

# The sanitizer runtimes must come first in a process: the Python suites that
# load liberwatch.so through ctypes get them by LD_PRELOAD (tests/run.sh).
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=address,undefined OPT="-O1 -g" \
	    EW_SAN=address test
tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=thread OPT="-O1 -g" \
	    EW_SAN=thread test

# ---------------------------------------------------------------- objects
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS_ALL) -c $< -o $@

# The schemas are compiled in, so the daemon creates its database on its own
# (schema.sql for SQLite, schema_pg.sql for PostgreSQL).
$(BUILD)/gen/schema_sql.c: schema/schema.sql scripts/embed.sh
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)sh scripts/embed.sh ew_schema_sql $< > $@
$(BUILD)/gen/schema_pg_sql.c: schema/schema_pg.sql scripts/embed.sh
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)sh scripts/embed.sh ew_schema_pg_sql $< > $@
# (One long string literal: past C99's 4095-byte minimum, fine for gcc/clang.)
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS_ALL) -Wno-overlength-strings -c $< -o $@

$(BUILD)/libewcore.a: $(CORE_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^
$(BUILD)/liberwatch.a: $(CLIENT_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^
# The CLI minus main(), so that unit tests (test_npy) link the CLI's code.
$(BUILD)/libewcli.a: $(CLILIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^
$(BUILD)/liberwatch.so: $(CLIENT_OBJ)
	$(call say,LD,$@)$(CC) -shared -Wl,-soname,liberwatch.so.$(SOMAJOR) -o $@ $^ \
	    $(CLIENT_LIBS) $(LDSAN) $(LDFLAGS)

# ---------------------------------------------------------------- binaries
# liberwatch.a too: the daemon reads CURVE key files with the client's parser.
$(BUILD)/erwatchd: $(BUILD)/obj/daemon/erwatchd.o $(BUILD)/libewcore.a $(BUILD)/liberwatch.a
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/erwatch: $(BUILD)/obj/client/cli/main.o $(BUILD)/libewcli.a $(BUILD)/libewcore.a $(BUILD)/liberwatch.a
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TLIB_OBJ) $(BUILD)/libewcli.a $(BUILD)/libewcore.a $(BUILD)/liberwatch.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDLIBS_ALL)

# test_strbuf again, on strbuf.c as a machine whose long double has no 64-bit
# mantissa builds it (the portable number formatter only). Its object comes
# before libewcore.a, so the archive's strbuf.o is never pulled in.
$(BUILD)/obj/tests/strbuf_portable.o: daemon/strbuf.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS_ALL) -DSTRBUF_PORTABLE_ONLY -c $< -o $@
$(BUILD)/tests/test_strbuf_portable: $(BUILD)/obj/tests/unit/test_strbuf.o \
        $(BUILD)/obj/tests/strbuf_portable.o $(TLIB_OBJ) $(BUILD)/libewcore.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDLIBS_ALL)

# What common/ew_protocol.h says, as JSON, for test_facts.py to check the
# Python, JavaScript and Markdown copies against.
$(BUILD)/tests/dump_facts: $(BUILD)/obj/tests/tools/dump_facts.o
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDSAN)

# The query side on two databases with the same rows (SQLite vs PostgreSQL),
# for test_query_pg.py.
$(BUILD)/tests/query_pair: $(BUILD)/obj/tests/tools/query_pair.o $(BUILD)/libewcore.a $(BUILD)/liberwatch.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDLIBS_ALL)

# The fuzz corpus is replayed by an ordinary binary in `make test`; `make
# fuzz` builds the same target with clang's libFuzzer to grow the corpus.
$(BUILD)/tests/fuzz_%_replay: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(BUILD)/libewcore.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDLIBS_ALL)

# FUZZ_TARGET=decode (the wire decoder, default) or params (the HTTP API's
# query parameters); each target's sources beside it:
FUZZ_TARGET ?= decode
FUZZ_SRC_decode := daemon/decode.c daemon/batch.c
FUZZ_SRC_params := daemon/params.c
fuzz: deps
	@mkdir -p $(BUILD)/fuzz/corpus-$(FUZZ_TARGET)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Icommon -Idaemon $(PKG_CFLAGS) tests/fuzz/fuzz_$(FUZZ_TARGET).c \
	    $(FUZZ_SRC_$(FUZZ_TARGET)) -o $(BUILD)/fuzz/fuzz_$(FUZZ_TARGET) $(PKG_LIBS) -lm
	$(BUILD)/fuzz/fuzz_$(FUZZ_TARGET) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -malloc_limit_mb=64 -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus-$(FUZZ_TARGET) tests/fuzz/corpus/$(FUZZ_TARGET)

# ---------------------------------------------------------------- web
# The dashboard: our static files (web/index.html, web/src/) plus uPlot's
# dist files from npm, copied into $(BUILD)/web, which erwatchd finds next
# to its binary (--web overrides). No bundler, nothing fetched at run time.
# `npm ci` runs only when the lock file changed (the stamp is npm's own).
WEB_SRC   := web/index.html $(wildcard web/src/*)
WEB_OUT   := $(BUILD)/web
NPM_STAMP := web/node_modules/.package-lock.json
UPLOT     := web/node_modules/uplot

web: $(WEB_OUT)/index.html

# `make` builds offline once web/node_modules holds what the lock file pins
# (scripts/web_deps.sh checks, and runs `npm ci` only when it does not);
# without it, the message says what is needed. NPM=... picks another npm.
NPM ?= npm
$(NPM_STAMP): web/package.json web/package-lock.json scripts/web_deps.sh
	@sh scripts/web_deps.sh "$(NPM)"

$(WEB_OUT)/index.html: $(WEB_SRC) $(NPM_STAMP)
	@rm -rf $(WEB_OUT).tmp && mkdir -p $(WEB_OUT).tmp/static/vendor
	@cp web/src/* $(WEB_OUT).tmp/static/
	@cp $(UPLOT)/dist/uPlot.iife.min.js $(UPLOT)/dist/uPlot.min.css $(WEB_OUT).tmp/static/vendor/
	@cp $(UPLOT)/LICENSE $(WEB_OUT).tmp/static/vendor/uPlot.LICENSE
	@cp web/index.html $(WEB_OUT).tmp/index.html
	$(call say,WEB,$(WEB_OUT))rm -rf $(WEB_OUT) && mv $(WEB_OUT).tmp $(WEB_OUT)

# ---------------------------------------------------------------- bench
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(BUILD)/libewcore.a $(BUILD)/liberwatch.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -o $@ $^ $(LDLIBS_ALL)

bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(BENCH_BIN) $(BUILD)/tests/query_pair
	@sh tests/bench/run.sh $(BUILD)

# ---------------------------------------------------------------- demo
# SimSiam on scikit-learn's digits (client/python/examples/simsiam_digits.py):
# three runs into the daemon at $ERWATCH_ENDPOINT (default
# tcp://127.0.0.1:5557), starting $(BUILD)/erwatchd when none answers.
# Needs python3-torch and python3-sklearn. DEMO_ARGS=--quick: a short version.
.PHONY: demo
demo: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 client/python/examples/simsiam_digits.py \
	    --start-daemon $(BUILD)/erwatchd $(DEMO_ARGS)

# ---------------------------------------------------------------- install
# erwatch.pc (client/erwatch.pc.in, with PREFIX filled in) lets a C program build with
#   cc x.c $(pkg-config --cflags --libs erwatch)
# (--static adds Libs.private/Requires.private for linking liberwatch.a).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/erwatch
	install -m 755 $(BUILD)/erwatchd $(BUILD)/erwatch $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/liberwatch.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/liberwatch.so $(DESTDIR)$(PREFIX)/lib/liberwatch.so.$(VERSION)
	ln -sf liberwatch.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/liberwatch.so.$(SOMAJOR)
	ln -sf liberwatch.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/liberwatch.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES@|$(CLIENT_PKGS)|' client/erwatch.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/erwatch.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/erwatch.pc
	install -m 644 client/erwatch.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 schema/schema.sql schema/protocol.md schema/README.md $(DESTDIR)$(PREFIX)/share/erwatch/
	install -d $(DESTDIR)$(PREFIX)/share/erwatch/web/static/vendor
	install -m 644 $(WEB_OUT)/index.html $(DESTDIR)$(PREFIX)/share/erwatch/web/
	install -m 644 $(WEB_OUT)/static/*.* $(DESTDIR)$(PREFIX)/share/erwatch/web/static/
	install -m 644 $(WEB_OUT)/static/vendor/* $(DESTDIR)$(PREFIX)/share/erwatch/web/static/vendor/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
