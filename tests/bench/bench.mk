# tests/bench/bench.mk - the benchmarks of issue 7 (included by the top
# Makefile).  Numbers, not assertions: never part of `make test`.
#
#   make bench         all seven items at full size (11-18 minutes on
#                      2 CPUs); prints one summary table
#   make bench-quick   the same at small sizes (about 3 minutes)
#   make bench-tools   only build the tools: put_loop (a plain libcurl
#                      PUT loop), the no-op libfcgi responder, and
#                      micro_webhook (the webhook path in-process)
#
#   make bench BENCH_ARGS='--only 4,7 --keep --json /tmp/bench.json'
#
# tests/bench/bench.py starts everything on 127.0.0.1 (the Plane
# simulator, Radicale, nginx and spawn-fcgi through nginx/run.sh), and
# stops it all, also when interrupted.  See docs/benchmarks.md.

DEB_PKGS += wrk strace time

BENCH_DIR   := $(BUILD)/tests/bench
BENCH_TOOLS := $(BENCH_DIR)/put_loop $(BENCH_DIR)/noop/calplanebot-fcgi \
	$(BENCH_DIR)/micro_webhook
BENCH_ARGS  ?=
BENCH_PY    := /usr/bin/python3 tests/bench/bench.py \
	--bindir $(abspath $(BINDIR)) --tools $(abspath $(BENCH_DIR))

.PHONY: bench bench-quick bench-tools

bench-tools: $(BENCH_TOOLS)

$(BENCH_DIR)/put_loop: tests/bench/put_loop.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(shell pkg-config --libs libcurl)

# Named like the real responder, so nginx/run.sh starts it with
# BINDIR=$(BENCH_DIR)/noop: the same pool set-up, the same nginx site.
$(BENCH_DIR)/noop/calplanebot-fcgi: tests/bench/noop_fcgi.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lfcgi

# The library's webhook path in a loop: where a webhook's time goes.
$(BENCH_DIR)/micro_webhook: tests/bench/micro_webhook.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench: deps all bench-tools
	$(BENCH_PY) $(BENCH_ARGS)

bench-quick: deps all bench-tools
	$(BENCH_PY) --quick $(BENCH_ARGS)
