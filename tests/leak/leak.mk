# Memory checks of the long-running parts (not in `make test`: they take
# minutes under valgrind).  Included by the top Makefile.
#
#   make leak-check    valgrind on one full sync, one drain and two responders
#                      serving $(LEAK_REQUESTS) mixed requests (no definite
#                      leak, no memory error); then one plain responder's RSS
#                      over $(RSS_REQUESTS) requests (flat)
#
#   make leak-check LEAK_REQUESTS=2000 RSS_REQUESTS=20000   a quicker pass
#
# Uses the plain build ($(BINDIR)); valgrind cannot run a sanitizer build.

LEAK_REQUESTS ?= 10000
RSS_REQUESTS  ?= 100000

# `make deps` installs valgrind too.
DEB_PKGS += valgrind

.PHONY: leak-check

leak-check: deps all
	LEAK_REQUESTS=$(LEAK_REQUESTS) RSS_REQUESTS=$(RSS_REQUESTS) \
		BINDIR=$(abspath $(BINDIR)) tests/leak/leak.sh
