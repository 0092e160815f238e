# SPDX-License-Identifier: MIT
# celeriac: `make` builds bin/celeriac-worker and bin/celeriac, `make test`
# runs the unit and system tests, `make asan` runs them again under
# AddressSanitizer + UBSan, `make bench` runs the benchmarks.  Missing Debian
# packages are installed first (scripts/deps.sh); NO_DEPS=1 skips that.

CFLAGS ?= -O2 -g
USE_WERROR ?= 1
SANITIZE ?=
PYTHON ?= /usr/bin/python3
TEST_PREFIX ?=
PYTEST_ARGS ?=

override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wformat=2 -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings \
	-Wpointer-arith -MMD -MP -Icommon -Iprotocol -Iworker -Iproducer
ifeq ($(USE_WERROR),1)
override CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -DCELERIAC_SANITIZED
override LDFLAGS += -fsanitize=$(SANITIZE)
O ?= build/san
BIN ?= build/san/bin
else
O ?= build/obj
BIN ?= bin
endif

PKGS = libevent libevent_openssl hiredis jansson libssl libcrypto libseccomp
# Recursive (=) on purpose: evaluated after the deps step has run.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lm

COMMON = common/log.c common/xmalloc.c common/redisurl.c common/escape.c \
	common/sentinelurl.c common/sentinel.c common/keyslot.c
# Cron schedules of `celeriac beat` and the ticks it fires
# (tests/unit/test_cron.c, test_beatplan.c).
COMMON += common/cron.c common/beatplan.c
# rediss://: TLS settings and the bridge between hiredis and TLS
# (common/tlslink.h, tests/unit/test_tlslink.c).
COMMON += common/tlsconf.c common/tlslink.c common/castore.c
PROTOCOL = protocol/error.c protocol/keys.c protocol/b64.c \
	protocol/message.c protocol/hashtask.c protocol/result.c \
	protocol/scripts.c protocol/policy.c protocol/build.c
PROTOCOL += protocol/unique.c
WORKER = $(wildcard worker/*.c)
WORKER_LIB = worker/hash.c worker/ipc.c worker/exec.c worker/sandbox.c \
	worker/failure.c worker/netguard.c worker/pathsrc.c worker/registry.c \
	worker/task_hash.c worker/child.c worker/claim.c
# The parent's fetch admission and source look-up (tests/unit/test_fetchq.c).
WORKER_LIB += worker/fetchq.c worker/source.c
# --concurrency's default: cores, affinity, cgroup CPU quota (test_cpus.c).
WORKER_LIB += worker/cpus.c
# Events and metrics: the task message scanner (tests/unit/test_taskscan.c).
WORKER_LIB += worker/taskscan.c
WORKER_LIB += worker/throttle_conf.c worker/priority.c
# Large messages reach children through shared rings (test_ring.c).
WORKER_LIB += worker/ring.c
PRODUCER = $(wildcard producer/*.c)
# celeriac-worker --beat (worker/beatproc.h): the beat engine and the
# producer modules it runs on, linked into the worker as they are.
WORKER_BEAT = producer/beatrun.c producer/beatfile.c producer/conn.c \
	producer/cli.c producer/submit.c producer/token.c \
	producer/connsentinel.c producer/tlspipe.c
UNIT_TESTS = $(patsubst tests/unit/%.c,$(O)/tests/%,$(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(O)/%.o,$(1))

# Keep the unit tests' objects between runs.
.SECONDARY:

.PHONY: all worker producer deps unit system test check asan valgrind \
	format clean run bench bench-quick bench-scaling fuzz
all: worker producer
worker: $(BIN)/celeriac-worker
producer: $(BIN)/celeriac

deps:
ifneq ($(NO_DEPS),1)
	@scripts/deps.sh build
endif

$(O)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BIN)/celeriac-worker: $(call obj,$(WORKER) $(WORKER_BEAT) $(PROTOCOL) \
		$(COMMON))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BIN)/celeriac: $(call obj,$(PRODUCER) $(PROTOCOL) $(COMMON))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The URL fetcher's test driver (tests/tools/fetchget.c), used by
# tests/system/test_fetch.py: built by `make system`, next to the programs
# (not by `make all`: the Docker image builds only the programs).
FETCHGET = $(BIN)/fetchget
.PHONY: testtools
testtools: $(FETCHGET) netlab
$(FETCHGET): $(call obj,tests/tools/fetchget.c worker/fetch.c common/castore.c \
		worker/netguard.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# One cmocka binary per module, linked with the pure modules only.
$(O)/tests/test_%: $(O)/tests/unit/test_%.o \
		$(call obj,$(PROTOCOL) $(COMMON) $(WORKER_LIB))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# The network test lab's packet delayer (tests/netlab/README.md): libc only.
NETLAB_DELAY = $(O)/tests/netlab/nfqdelay
.PHONY: netlab
netlab: $(NETLAB_DELAY)
$(NETLAB_DELAY): $(O)/tests/netlab/nfqdelay.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

test-deps:
ifneq ($(NO_DEPS),1)
	@scripts/deps.sh test
endif

unit: test-deps $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $(TEST_PREFIX) $$t; done

# The example task plug-in (examples/wc), which tests/system/test_plugin.py
# builds again into a temporary directory and loads.
.PHONY: examples
examples:
	@$(MAKE) --no-print-directory -C examples/wc O=$(abspath $(O))/examples/wc

system: test-deps all testtools examples
	CELERIAC_BIN=$(abspath $(BIN)) CELERIAC_TEST_PREFIX="$(TEST_PREFIX)" \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/system

test: unit system
check: test

# The idle test only waits 150 s on the watchdog's logic: not under ASan.
asan:
	$(MAKE) SANITIZE=address,undefined \
		PYTEST_ARGS="$(PYTEST_ARGS) --deselect tests/system/test_idle.py::test_idle_worker_keeps_its_connections" test

valgrind:
	$(MAKE) TEST_PREFIX="valgrind -q --error-exitcode=100 --leak-check=full \
		--errors-for-leak-kinds=definite" unit

run: all
	@scripts/deps.sh run
	scripts/run.sh $(if $(REDIS),--redis '$(REDIS)') $(ARGS)

# Benchmarks (bench/README.md).  bench/rawredis, the raw-Redis ceiling, is
# built with the same flags; celeriac is built if it can be, and the bench
# reports it missing (and fails) if not.  BENCH_ARGS passes options to
# bench/run.py, e.g. BENCH_ARGS="--systems celeriac,bullmq --workloads W1".
BENCH_RAW = $(O)/bench/rawredis
$(BENCH_RAW): $(call obj,bench/rawredis.c protocol/scripts.c protocol/keys.c \
		common/redisurl.c common/sentinelurl.c common/keyslot.c \
		common/xmalloc.c common/log.c common/escape.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

bench bench-quick: $(BENCH_RAW) $(NETLAB_DELAY)
	@bench/setup.sh
	@$(MAKE) --no-print-directory all
	$(PYTHON) bench/run.py $(if $(filter bench-quick,$@),--quick) \
		--bin $(BIN) --raw $(BENCH_RAW) $(BENCH_ARGS)

# The scaling curves (bench/README.md, "Scaling"): 1..4 workers, each in a
# network namespace, against one Redis, or against a sharded Redis Cluster
# (SCALING_ARGS="--cluster 3"), or both interleaved ("--both"); needs root.
# Apart from `make bench`: it needs root for the namespaces, measures
# celeriac against itself, and takes about 3 minutes beside the full run's
# 30.
bench-scaling: all
	$(PYTHON) bench/scaling.py --bin $(BIN) $(SCALING_ARGS)

format:
	clang-format -i $(COMMON) $(PROTOCOL) $(WORKER) $(PRODUCER) \
		common/*.h protocol/*.h worker/*.h $(wildcard producer/*.h) \
		tests/unit/*.c

# Fuzzing (tests/fuzz/README.md): libFuzzer targets for the decoders of
# untrusted input, built with clang, ASan and UBSan into build/fuzz.  `make
# fuzz` replays tests/fuzz/crashes, then runs each target for FUZZ_SECONDS
# on a copy of its seed corpus (tests/fuzz/corpus is never written) and
# fails on any crash, leak, timeout or sanitizer report.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = fuzz_message fuzz_frame fuzz_b64 fuzz_splice
FUZZ_O = build/fuzz
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_BINS = $(addprefix $(FUZZ_O)/,$(FUZZ_TARGETS))
FUZZ_LIB = $(patsubst %.c,$(FUZZ_O)/obj/%.o,$(PROTOCOL) $(COMMON) $(WORKER_LIB))
# Messages up to 64 KiB (the target refuses larger ones); frames and base64
# strings up to 4 KiB, which is plenty for their length fields; fuzz_splice
# inputs up to 4 KiB, which it expands past the splice threshold.
FUZZ_OPTS = -rss_limit_mb=2048 -timeout=10 -detect_leaks=1 \
	-print_final_stats=1
FUZZ_ENV = ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(FUZZ_O)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		$(PKG_CFLAGS) -c -o $@ $<

# libFuzzer's runtime is in libclang-rt-dev, which clang only recommends.
$(FUZZ_BINS): $(FUZZ_O)/%: $(FUZZ_O)/obj/tests/fuzz/%.o $(FUZZ_LIB)
	@rt=$$($(FUZZ_CC) -print-file-name=libclang_rt.fuzzer-$$(uname -m).a); \
	[ -f "$$rt" ] || { echo "fuzz: $(FUZZ_CC) has no libFuzzer runtime;" \
		"install libclang-rt-dev"; exit 1; }
	$(FUZZ_CC) $(LDFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz: $(FUZZ_BINS)
	@failed=; for t in $(FUZZ_TARGETS); do \
		log=$(FUZZ_O)/$$t.log; corpus=$(FUZZ_O)/corpus/$$t; \
		art=$(FUZZ_O)/artifacts/$$t-; \
		mkdir -p $$corpus $(FUZZ_O)/artifacts; \
		cp tests/fuzz/corpus/$$t/* $$corpus/; \
		if [ -n "$$(ls -A tests/fuzz/crashes/$$t 2>/dev/null)" ]; then \
			echo "== $$t: replaying tests/fuzz/crashes/$$t"; \
			if ! $(FUZZ_ENV) $(FUZZ_O)/$$t $(FUZZ_OPTS) \
				-artifact_prefix=$$art tests/fuzz/crashes/$$t/* \
				>$$log.replay 2>&1; then \
				tail -n 40 $$log.replay; \
				echo "$$t: FAILED replaying tests/fuzz/crashes/$$t"; \
				failed="$$failed $$t"; continue; \
			fi; \
		fi; \
		case $$t in fuzz_message) len=65536;; *) len=4096;; esac; \
		echo "== $$t: $(FUZZ_SECONDS) s from $$(ls $$corpus | wc -l) inputs"; \
		if ! $(FUZZ_ENV) $(FUZZ_O)/$$t $(FUZZ_OPTS) -max_len=$$len \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$$art \
			-dict=tests/fuzz/$$t.dict $$corpus >$$log 2>&1; then \
			grep -v '^#' $$log | tail -n 40; \
			echo "$$t: FAILED (log $$log, input $$art*)"; \
			failed="$$failed $$t"; continue; \
		fi; \
		awk '/^stat::number_of_executed_units/ { n = $$2 } \
			/^stat::peak_rss_mb/ { r = $$2 } \
			END { printf "%s: ok, %d runs, peak RSS %d MB\n", \
				"'$$t'", n, r }' $$log; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; \
	echo "fuzz: all $(words $(FUZZ_TARGETS)) targets ok"

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- man pages and installation (README.md, "Install") ----
# The man pages in man/ are generated from --help and PROTOCOL.md by
# scripts/mkman.py (`make man`, then commit them); scripts/check-docs.sh
# fails when they are out of step.  `make install` copies the programs,
# the man pages, the systemd unit celeriac-worker@.service, the bash
# completion and an example worker configuration under DESTDIR + PREFIX;
# `make uninstall` removes them again.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/celeriac
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALLED = $(BINDIR)/celeriac-worker $(BINDIR)/celeriac \
	$(MANDIR)/man1/celeriac.1 $(MANDIR)/man8/celeriac-worker.8 \
	$(MANDIR)/man7/celeriac-protocol.7 \
	$(SYSTEMDUNITDIR)/celeriac-worker@.service \
	$(BASHCOMPDIR)/celeriac $(BASHCOMPDIR)/celeriac-worker \
	$(DOCDIR)/worker.conf.example $(DOCDIR)/PROTOCOL.md

.PHONY: man install uninstall
man: all
	$(PYTHON) scripts/mkman.py --bin $(BIN) --out man

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(DOCDIR)
	install -m 755 $(BIN)/celeriac-worker $(BIN)/celeriac $(DESTDIR)$(BINDIR)/
	install -m 644 man/celeriac.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/celeriac-protocol.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 644 man/celeriac-worker.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|@BINDIR@|$(BINDIR)|g' 'dist/celeriac-worker@.service.in' \
		> '$(DESTDIR)$(SYSTEMDUNITDIR)/celeriac-worker@.service'
	chmod 644 '$(DESTDIR)$(SYSTEMDUNITDIR)/celeriac-worker@.service'
	install -m 644 dist/celeriac.bash-completion $(DESTDIR)$(BASHCOMPDIR)/celeriac
	ln -sf celeriac $(DESTDIR)$(BASHCOMPDIR)/celeriac-worker
	install -m 644 dist/worker.conf.example protocol/PROTOCOL.md \
		$(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(addprefix '$(DESTDIR),$(addsuffix ',$(INSTALLED)))
	-rmdir '$(DESTDIR)$(DOCDIR)' 2>/dev/null
# The compose cluster run for real and broken (tests/cluster/README.md):
# starts its own dockerd when none runs (as root).  CLUSTER_ARGS passes
# options to tests/cluster/scenario.py, e.g. CLUSTER_ARGS="--tasks 2000".
.PHONY: cluster-test
cluster-test:
	tests/cluster/run.sh $(CLUSTER_ARGS)

# README.md's install-and-systemd section run as written in a container
# booting systemd, then the unit's sandbox, warm stop and Restart= checked
# (tests/systemd/README.md).  Same engine and base image as cluster-test.
.PHONY: systemd-test
systemd-test:
	tests/systemd/run.sh
# `celeriac send` checks a hash task's algorithm with the worker's code
# (producer/validate.c).
$(BIN)/celeriac: $(call obj,worker/hash.c)

# The worker's revoked-task check (tests/unit/test_revoked.c).
$(O)/tests/test_revoked: $(call obj,worker/revoked.c)
# The slots' message buffers (tests/unit/test_slot.c).
$(O)/tests/test_slot: $(call obj,worker/slot.c)
# The entries a worker finished last (tests/unit/test_recent.c).
$(O)/tests/test_recent: $(call obj,worker/recent.c)
# The monitor's arithmetic and screen (tests/unit/test_monview.c) need
# the producer modules they are made of.
$(O)/tests/test_monview: $(call obj,producer/monview.c producer/snapshot.c \
		producer/conn.c producer/connsentinel.c producer/cli.c \
		producer/tlspipe.c)
# The adaptive in-flight window (worker/window.c), linked into its unit
# test (tests/unit/test_window.c).
$(O)/tests/test_window: $(call obj,worker/window.c)
