# CalPlaneBot - Plane → CalDAV bridge.
#
#   make                 build bin/calplanebot-sync and the library
#   make test            install deps, run every test (plain and ASan+UBSan)
#   make demo            run the whole product on this machine
#   make install         PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined BUILD=build-asan   a sanitizer build

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
BINDIR   ?= $(if $(filter build,$(BUILD)),bin,$(BUILD)/bin)
SANITIZE ?=

CC       ?= cc
PKGS     := libcurl libcjson libical openssl libxml-2.0 sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags criterion 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs criterion 2>/dev/null)

# CFLAGS from the command line (make CFLAGS="-O1 -g") replaces only the
# optimisation and debug flags: `override` keeps the warnings, the
# standard and the sanitizers whatever the caller passes.
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Werror -Wshadow \
	    -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral -fno-common
override CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ishared \
	    $(PKG_CFLAGS) -MMD -MP
override LDLIBS += $(PKG_LIBS) -lm
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	    -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC   := $(sort $(wildcard shared/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libcalplanebot.a
SYNC_OBJ  := $(BUILD)/sync/main.o
SYNC_BIN  := $(BINDIR)/calplanebot-sync
FCGI_SRC  := $(sort $(wildcard fcgi/*.c))
FCGI_OBJ  := $(FCGI_SRC:%.c=$(BUILD)/%.o)
FCGI_BIN  := $(BINDIR)/calplanebot-fcgi
FCGI_LIBS := -lfcgi

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRC := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
HARNESS_OBJ := $(BUILD)/tests/integration/harness.o

.PHONY: all lib test check unit integration test-asan deps demo install \
	uninstall clean
.DELETE_ON_ERROR:

all: $(SYNC_BIN) $(if $(FCGI_SRC),$(FCGI_BIN))
lib: $(LIB)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(SYNC_BIN): $(SYNC_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(FCGI_BIN): $(FCGI_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(FCGI_LIBS) $(LDLIBS)

# Tests are Criterion programs, one per module (tests/unit/test_<module>.c).
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(TEST_CFLAGS) -Itests/integration $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(HARNESS_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

unit: $(UNIT_BIN)
	tests/run-tests.sh $(UNIT_BIN)

integration: $(INTEG_BIN) $(SYNC_BIN)
	CPB_BINDIR=$(abspath $(BINDIR)) tests/run-tests.sh $(INTEG_BIN)

# The whole suite on this build, then again under ASan+UBSan.
check: all
	$(MAKE) unit integration

test-asan:
	$(MAKE) BUILD=build-asan SANITIZE=address,undefined CFLAGS="-O1 -g" check

# Everything CI runs: the suite plain and under ASan+UBSan, the status page
# in Chromium (fixture and real stack), a short valgrind leak and RSS pass
# (the long one is `make leak-check`), the fuzz corpus replay with a short
# run of each harness (the long one is `make fuzz`).
test: deps
	tests/sim/selftest.sh
	$(MAKE) check
	$(MAKE) test-asan
	$(MAKE) test-ui
	$(MAKE) test-ui-stack
	$(MAKE) leak-check LEAK_REQUESTS=1000 RSS_REQUESTS=10000
	$(MAKE) fuzz-smoke FUZZ_SMOKE_SECONDS=10

# Debian packages for the build, the tests and the demo; a no-op when present.
DEB_PKGS := build-essential pkg-config libcurl4-openssl-dev libcjson-dev \
	libical-dev libssl-dev libxml2-dev libsqlite3-dev sqlite3 libfcgi-dev \
	spawn-fcgi nginx-light libcriterion-dev curl openssl python3 \
	radicale apache2-utils xandikos php-sabre-dav php-cli php-sqlite3 \
	php-xml php-mbstring davical postgresql php-pgsql
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
			--no-install-recommends $$missing; \
	fi

demo: deps all
	tests/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(SYNC_BIN) $(DESTDIR)$(PREFIX)/bin/calplanebot-sync
	$(if $(FCGI_SRC),install -m 0755 $(FCGI_BIN) $(DESTDIR)$(PREFIX)/bin/calplanebot-fcgi)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/calplanebot-sync $(DESTDIR)$(PREFIX)/bin/calplanebot-fcgi

clean:
	rm -rf build build-asan bin tests/out

# Parts owned by their own directories: the web stack, fuzzing, benchmarks.
-include nginx/nginx.mk tests/fuzz/fuzz.mk tests/bench/bench.mk tests/ui/ui.mk tests/leak/leak.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
