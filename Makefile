# Makefile - builds libsrmem, its tools and tests (GNU make).
#
#   make                 library (mem/libsrmem.a, mem/libsrmem.so), tools, tests
#   make test            the whole suite for the current configuration
#   make test-all        the suite for every MEMMNG x MEMDBG x LOCK, plus
#                        ASan/UBSan and the build-switch tests (what CI runs)
#   make stress          the kill storm at full size: STRESS_TRIALS (1,000)
#                        trials per backend (doc/RELIABILITY.md)
#   make killsweep       a process killed at every kill point of fixed
#                        sequences of shm calls, per backend (RELIABILITY.md)
#   make run             build, then start srproxy in the foreground on the
#                        defaults (SIP 127.0.0.1:5060, RPC ./srproxy.sock)
#   make bench           the quick membench pass (scaled-down BENCH.md)
#   make bench-full      BENCH.md at full size, both builds: the tables and
#                        plots of doc/PERFORMANCE.md (utils/membench/bench-full.sh)
#   make MEMMNG=1 cfg    save switches to config.mak; `make cfg-show` prints them
#   make install PREFIX=/usr/local DESTDIR=
#   make deps            install the Debian packages the build and tests need
#   make fuzz            build the libFuzzer targets (clang) and run each for
#                        FUZZ_SECONDS (default 30) on its corpus in tests/fuzz
#
# Switches and their checks live in Makefile.defs.  Objects of each
# configuration go to build/<tag>/, so configurations never mix.

TOPDIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
include $(TOPDIR)/Makefile.defs

MEM_SRC   := $(sort $(wildcard $(TOPDIR)/mem/*.c))
# mem.o is the configuration's own (MEMMNG); the rest is in $(OBJ).
MEM_OBJ   := $(BUILD)/mem/mem.o $(patsubst $(TOPDIR)/mem/%.c,$(OBJ)/mem/%.o,\
	$(filter-out $(TOPDIR)/mem/mem.c,$(MEM_SRC)))
MEM_HDR   := $(wildcard $(TOPDIR)/mem/*.h)
LIB_A     := $(BUILD)/libsrmem.a
LIB_SO    := $(BUILD)/libsrmem.so

# The fuzz targets' entry points (tests/fuzz/fuzz_*.c) are in the suite
# too: check_fuzz replays every kept input through them.
FUZZ_SRC  := $(sort $(wildcard $(TOPDIR)/tests/fuzz/fuzz_*.c))
TEST_SRC  := $(sort $(wildcard $(TOPDIR)/tests/check_*.c)) $(TOPDIR)/tests/main.c \
	$(FUZZ_SRC)
TEST_OBJ  := $(patsubst $(TOPDIR)/tests/%.c,$(OBJ)/tests/%.o,$(TEST_SRC))
TEST_BIN  := $(BUILD)/tests/srmem-tests
EXAMPLE   := $(BUILD)/tests/example
# Small programs the integration drivers (tests/it_*.sh) run.
TEST_PROGS := $(patsubst $(TOPDIR)/tests/%.c,$(BUILD)/tests/%,\
	$(wildcard $(TOPDIR)/tests/prog_*.c))

# The kill sweep's own copy of the library (MEM_KILL_POINTS=1, below).
KP_BUILD  := $(BUILD)/killpoints
KP_OBJ    := $(patsubst $(TOPDIR)/mem/%.c,$(KP_BUILD)/mem/%.o,$(MEM_SRC))
KP_FLAGS   = $(CPPFLAGS_CFG) -DMEM_KILL_POINTS=1 $(CFLAGS)
KILLSWEEP := $(KP_BUILD)/killsweep

BENCH_SRC := $(sort $(wildcard $(TOPDIR)/utils/membench/*.c))

# The server (core/<concern>/*.c) and its client (utils/srmemctl).  Each
# folder of core/ is a module to the allocator: MOD_NAME is the folder's
# name ("runtime" objects say "core"), so mod.stats splits memory by concern.
CORE_SRC  := $(sort $(wildcard $(TOPDIR)/core/*/*.c))
CORE_OBJ  := $(patsubst $(TOPDIR)/%.c,$(OBJ)/%.o,$(CORE_SRC))
SRPROXY   := $(BUILD)/core/srproxy
CTL_SRC   := $(sort $(wildcard $(TOPDIR)/utils/srmemctl/*.c))
CTL_OBJ   := $(patsubst $(TOPDIR)/%.c,$(OBJ)/%.o,$(CTL_SRC))
SRMEMCTL  := $(BUILD)/utils/srmemctl/srmemctl
SRV_PKGS  := jansson libmicrohttpd
SRV_CFLAGS := $(shell pkg-config --cflags $(SRV_PKGS) 2>/dev/null)
SRV_LIBS  := $(shell pkg-config --libs $(SRV_PKGS) 2>/dev/null || echo -ljansson -lmicrohttpd)
mod_of     = $(if $(filter runtime,$(1)),core,$(1))

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

.PHONY: all lib server example run test test-all stress bench bench-full cfg cfg-show install \
	clean deps tests-build fuzz fuzz-build killsweep killsweep-build FORCE

all: lib server tests-build
	@echo "built $(CONFIG_TAG): $(BACKEND_NAME), MEMDBG=$(MEMDBG), LOCK=$(LOCK)$(if $(SAN), SAN=$(SAN))"

lib: $(LIB_A) $(LIB_SO) $(BUILD)/srmem.pc
	cp $(LIB_A) $(TOPDIR)/mem/libsrmem.a
	cp $(LIB_SO) $(TOPDIR)/mem/libsrmem.so

# Objects depend on $(BUILD)/flags or $(OBJ)/flags, rewritten only when
# the flags change.  A shared object is written under a temporary name
# and renamed, so that two builds making it at once (two MEMMNG values
# side by side) never link a half-written one.
compile = $(CC) $(1) -MMD -MP -MF $(@:.o=.d) -MT $@ -c $< -o $@.$$$$.tmp && \
	mv -f $@.$$$$.tmp $@

$(BUILD)/mem/mem.o: $(TOPDIR)/mem/mem.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(call compile,$(CPPFLAGS_CFG) $(CFLAGS))

$(OBJ)/mem/%.o: $(TOPDIR)/mem/%.c $(OBJ)/flags
	@mkdir -p $(@D)
	$(call compile,$(CPPFLAGS_OBJ) $(CFLAGS))

$(LIB_A): $(MEM_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(MEM_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/srmem.pc: $(TOPDIR)/mem/srmem.pc.in $(TOPDIR)/Makefile.defs
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@MEMDBG@|$(MEMDBG)|g' $< > $@

# --- server and client ----------------------------------------------------
$(OBJ)/core/%.o: $(TOPDIR)/core/%.c $(OBJ)/flags
	@mkdir -p $(@D)
	$(call compile,$(CPPFLAGS_OBJ) $(CFLAGS) $(SRV_CFLAGS) \
	    -DMOD_NAME='"$(call mod_of,$(notdir $(patsubst %/,%,$(dir $*))))"' \
	    -I$(TOPDIR)/mem -I$(TOPDIR)/core)

$(SRPROXY): $(CORE_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(CORE_OBJ) $(LIB_A) $(SRV_LIBS) $(LIBS)

$(OBJ)/utils/srmemctl/%.o: $(TOPDIR)/utils/srmemctl/%.c $(OBJ)/flags
	@mkdir -p $(@D)
	$(call compile,$(CFLAGS) $(SRV_CFLAGS))

$(SRMEMCTL): $(CTL_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJ) $(SRV_LIBS)

# Copies at the places the docs name: core/srproxy, utils/srmemctl/srmemctl.
server: $(SRPROXY) $(SRMEMCTL)
	cp $(SRPROXY) $(TOPDIR)/core/srproxy
	cp $(SRMEMCTL) $(TOPDIR)/utils/srmemctl/srmemctl

run: lib server
	cd $(TOPDIR) && exec ./core/srproxy -f $(RUN_ARGS)

# --- tests ----------------------------------------------------------------
# Every tests/check_*.c that defines `Suite *NAME_suite(void)` is run by
# tests/main.c; the list is generated so that a new suite is one new file.
$(OBJ)/tests/suites.h: $(TEST_SRC)
	@mkdir -p $(@D)
	sed -n 's/^Suite \*\([a-z0-9_]*\)_suite(void)$$/SUITE(\1)/p' \
	    $(filter $(TOPDIR)/tests/check_%.c,$^) > $@.$$$$.tmp && mv -f $@.$$$$.tmp $@

$(OBJ)/tests/%.o: $(TOPDIR)/tests/%.c $(OBJ)/tests/suites.h $(OBJ)/flags
	@mkdir -p $(@D)
	$(call compile,$(CPPFLAGS_OBJ) $(CFLAGS) -Wno-missing-prototypes \
	    $(CHECK_CFLAGS) -I$(TOPDIR)/mem -I$(TOPDIR)/core -I$(TOPDIR)/tests \
	    $(SRV_CFLAGS) -I$(OBJ)/tests)

# Unit suites of the server's parts link its objects, all but main().
CORE_TESTED := $(filter-out $(OBJ)/core/runtime/main.o,$(CORE_OBJ))
$(TEST_BIN): $(TEST_OBJ) $(CORE_TESTED) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(CORE_TESTED) $(LIB_A) $(CHECK_LIBS) \
	    $(SRV_LIBS) $(LIBS)

# The README's embedding example, built the way a user would build it.
$(EXAMPLE): $(TOPDIR)/tests/example.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra $(CFLAGS_SAN) -DMEMDBG=$(MEMDBG) \
	    -I$(TOPDIR)/mem $< $(LIB_A) -lpthread -o $@

$(BUILD)/tests/prog_%: $(OBJ)/tests/prog_%.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LIB_A) $(LIBS) -o $@

# What the drivers need to know of the build; the shared objects' flags.
$(BUILD)/flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CPPFLAGS_CFG) $(CFLAGS)' | cmp -s - $@ || \
	    echo '$(CPPFLAGS_CFG) $(CFLAGS)' > $@

$(OBJ)/flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CPPFLAGS_OBJ) $(CFLAGS)' | cmp -s - $@ || \
	    { echo '$(CPPFLAGS_OBJ) $(CFLAGS)' > $@.$$$$.tmp && mv -f $@.$$$$.tmp $@; }

example: $(EXAMPLE)

tests-build: $(TEST_BIN) $(EXAMPLE) $(TEST_PROGS) $(SRPROXY) $(SRMEMCTL) \
	$(KILLSWEEP) $(BUILD)/flags

FORCE:

test: tests-build
	@$(TOPDIR)/tests/run.sh $(BUILD)

test-all:
	@$(TOPDIR)/tests/run-all.sh

# --- fuzzing ----------------------------------------------------------------
# libFuzzer targets, built with clang (ASan and UBSan on, MEMDBG=1, the
# configuration's other switches) into build/<tag>/fuzz/; the order of
# FUZZ_TARGETS is driver.c's table.  `make fuzz` runs each for
# FUZZ_SECONDS on its corpus (tests/fuzz/<corpus>/, kept small and only
# read: what the fuzzer finds goes to build/<tag>/fuzz/work/); a crash
# fails the run and is left in build/<tag>/fuzz/crash-<target>-*.
# tests/fuzz/run.sh has the options.
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_TARGETS := alloc-fm alloc-qm alloc-tlsf sip rpc
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -DMEMMNG=$(MEMMNG) -DMEMDBG=1 \
	-DSHM_CACHE=$(SHM_CACHE) -DLOCK_$(shell echo $(LOCK) | tr a-z A-Z)=1 \
	-DHAVE_VALGRIND=0 -DT_NO_CHECK -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -fmacro-prefix-map=$(TOPDIR)/=
FUZZ_NOCOV   := $(TOPDIR)/tests/fuzz/nocov.txt
FUZZ_LIB_SRC := $(MEM_SRC) $(filter-out $(TOPDIR)/core/runtime/main.c,$(CORE_SRC)) \
	$(FUZZ_SRC)
FUZZ_OBJ     := $(patsubst $(TOPDIR)/%.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIB_SRC))
FUZZ_BINS    := $(addprefix $(FUZZ_BUILD)/fuzz-,$(FUZZ_TARGETS))
# The position of target $1 in FUZZ_TARGETS, from 0.
fuzz_index = $(shell n=0; for t in $(FUZZ_TARGETS); do \
	[ $$t = $1 ] && echo $$n; n=$$((n + 1)); done)

$(FUZZ_BUILD)/obj/%.o: $(TOPDIR)/%.c $(FUZZ_NOCOV)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -fsanitize-coverage-ignorelist=$(FUZZ_NOCOV) $(SRV_CFLAGS) \
	    -DMOD_NAME='"$(call mod_of,$(notdir $(patsubst %/,%,$(dir $*))))"' \
	    -I$(TOPDIR)/mem -I$(TOPDIR)/core -I$(TOPDIR)/tests -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz-%: $(TOPDIR)/tests/fuzz/driver.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    -DFUZZ_TARGET=$(call fuzz_index,$*) \
	    -I$(TOPDIR)/tests/fuzz $< $(FUZZ_OBJ) $(SRV_LIBS) $(LIBS) -o $@

# The objects are kept (make deletes a pattern rule's intermediate
# files): `make fuzz` after `make fuzz-build` only runs the targets.
.SECONDARY: $(FUZZ_OBJ)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) $(TOPDIR)/tests/fuzz/run.sh $(FUZZ_BUILD) \
	    $(FUZZ_TARGETS)

STRESS_TRIALS ?= 1000
stress: tests-build
	@for b in fm qm tlsf; do \
	    $(BUILD)/tests/prog_killstorm $$b $(STRESS_TRIALS) 1 || exit 1; \
	done

# The kill sweep (tests/killsweep.c, doc/RELIABILITY.md): the library
# compiled again with MEM_KILL_POINTS=1 (mem/killpoint.c: every kill fence
# a numbered point where a process can be made to die) into
# build/<tag>/killpoints/, never the shipped one; a victim killed at every
# point of fixed sequences of shm calls, per backend.
$(KP_BUILD)/mem/%.o: $(TOPDIR)/mem/%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(call compile,$(KP_FLAGS))

$(KILLSWEEP): $(TOPDIR)/tests/killsweep.c $(KP_OBJ)
	$(CC) $(KP_FLAGS) -I$(TOPDIR)/mem -MMD -MP -MF $@.d $< $(KP_OBJ) \
	    $(LIBS) -o $@

killsweep-build: $(KILLSWEEP)

KILLSWEEP_ARGS ?= 8 3
killsweep: $(KILLSWEEP)
	@for b in fm qm tlsf; do $(KILLSWEEP) $$b $(KILLSWEEP_ARGS) || exit 1; done

# --- benchmarks -----------------------------------------------------------
bench:
	@$(MAKE) -s -C $(TOPDIR)/utils/membench BUILD=$(BUILD)/membench \
	    TOPDIR=$(TOPDIR) $@

# doc/PERFORMANCE.md's generated sections and plots: builds m2-d1-futex and
# m2-d0-futex itself, whatever the switches; 11-17 min on an idle 2-core
# host.  BENCH_FULL_ARGS=--quick runs the same sections at a tiny scale.
bench-full:
	@sh $(TOPDIR)/utils/membench/bench-full.sh $(BENCH_FULL_ARGS)

# --- configuration --------------------------------------------------------
cfg:
	@printf '%s\n' '# written by make cfg; edit with make VAR=value cfg' \
	    'MEMMNG := $(MEMMNG)' 'MEMDBG := $(MEMDBG)' 'LOCK := $(LOCK)' \
	    'SHM_CACHE := $(SHM_CACHE)' 'DIRECT := $(DIRECT)' 'SAN := $(SAN)' \
	    > $(TOPDIR)/config.mak
	@echo "saved to config.mak: MEMMNG=$(MEMMNG) ($(BACKEND_NAME)) MEMDBG=$(MEMDBG) LOCK=$(LOCK) SHM_CACHE=$(SHM_CACHE) SAN=$(SAN)"

cfg-show:
	@echo "MEMMNG=$(MEMMNG) ($(BACKEND_NAME)) MEMDBG=$(MEMDBG) LOCK=$(LOCK) SHM_CACHE=$(SHM_CACHE) SAN=$(SAN)"
	@if [ -f $(TOPDIR)/config.mak ]; then echo "(from config.mak)"; \
	    else echo "(defaults; no config.mak)"; fi

# --- install --------------------------------------------------------------
install: lib server
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/srmem \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(SRPROXY) $(DESTDIR)$(PREFIX)/sbin/srproxy
	install -m 755 $(SRMEMCTL) $(DESTDIR)$(PREFIX)/bin/srmemctl
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/libsrmem.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libsrmem.so
	install -m 644 $(TOPDIR)/mem/mem.h $(DESTDIR)$(PREFIX)/include/srmem/mem.h
	install -m 644 $(BUILD)/srmem.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/srmem.pc

deps:
	@$(TOPDIR)/tests/deps.sh

clean:
	rm -rf $(TOPDIR)/build $(TOPDIR)/mem/libsrmem.a $(TOPDIR)/mem/libsrmem.so \
	    $(TOPDIR)/core/srproxy $(TOPDIR)/utils/srmemctl/srmemctl

-include $(MEM_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CORE_OBJ:.o=.d) $(CTL_OBJ:.o=.d) \
	$(patsubst $(BUILD)/%,$(OBJ)/%.d,$(TEST_PROGS)) $(FUZZ_OBJ:.o=.d) \
	$(KP_OBJ:.o=.d) $(KILLSWEEP).d
