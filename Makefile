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
	-fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
O ?= build/san
BIN ?= build/san/bin
else
O ?= build/obj
BIN ?= bin
endif

PKGS = libevent hiredis jansson libcrypto
# Recursive (=) on purpose: evaluated after the deps step has run.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))

COMMON = common/log.c common/xmalloc.c common/redisurl.c
PROTOCOL = protocol/error.c protocol/keys.c protocol/b64.c \
	protocol/message.c protocol/hashtask.c protocol/result.c \
	protocol/scripts.c
WORKER = $(wildcard worker/*.c)
WORKER_LIB = worker/hash.c worker/ipc.c worker/exec.c
PRODUCER = $(wildcard producer/*.c)
UNIT_TESTS = $(patsubst tests/unit/%.c,$(O)/tests/%,$(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(O)/%.o,$(1))

.PHONY: all worker producer deps unit system test check asan valgrind \
	format clean run bench bench-quick fuzz
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

$(BIN)/celeriac-worker: $(call obj,$(WORKER) $(PROTOCOL) $(COMMON))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BIN)/celeriac: $(call obj,$(PRODUCER) $(PROTOCOL) $(COMMON))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# One cmocka binary per module, linked with the pure modules only.
$(O)/tests/test_%: $(O)/tests/unit/test_%.o \
		$(call obj,$(PROTOCOL) $(COMMON) $(WORKER_LIB))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

test-deps:
ifneq ($(NO_DEPS),1)
	@scripts/deps.sh test
endif

unit: test-deps $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $(TEST_PREFIX) $$t; done

system: test-deps all
	CELERIAC_BIN=$(abspath $(BIN)) CELERIAC_TEST_PREFIX="$(TEST_PREFIX)" \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/system

test: unit system
check: test

asan:
	$(MAKE) SANITIZE=address,undefined test

valgrind:
	$(MAKE) TEST_PREFIX="valgrind -q --error-exitcode=100 --leak-check=full \
		--errors-for-leak-kinds=definite" unit

run: all
	@scripts/deps.sh run
	scripts/run.sh $(ARGS)

format:
	clang-format -i $(COMMON) $(PROTOCOL) $(WORKER) $(PRODUCER) \
		common/*.h protocol/*.h worker/*.h $(wildcard producer/*.h) \
		tests/unit/*.c

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
