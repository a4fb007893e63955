# tests/fuzz/fuzz.mk - libFuzzer harnesses (included by the top Makefile).
#
#   make fuzz          each harness for FUZZ_SECONDS (300), new corpus into
#                      build-fuzz/corpus-<name>, crashes into build-fuzz/crashes/
#   make fuzz-smoke    replay the seed corpus, then each harness for
#                      FUZZ_SMOKE_SECONDS (20); non-zero on any crash
#   make fuzz-build    only build the harnesses
#   make fuzz-clean
#
# The library is compiled again with clang and
# -fsanitize=fuzzer-no-link,address,undefined into build-fuzz/; harnesses
# link with -fsanitize=fuzzer,address,undefined.  Seeds and dictionaries
# live in tests/fuzz/corpus/<name>/ and tests/fuzz/dict/<name>.dict; the
# repository's corpus is only read.  See docs/reliability.md, "Fuzzing".

DEB_PKGS += clang libclang-rt-14-dev

FUZZ_BUILD         ?= build-fuzz
FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all \
		 -fno-omit-frame-pointer
FUZZ_WARN     := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
		 -Wformat=2 -Wno-format-nonliteral -fno-common
FUZZ_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ishared \
		 $(PKG_CFLAGS) -MMD -MP
FUZZ_CFLAGS   := -O1 -g $(FUZZ_WARN) $(FUZZ_SAN)
FUZZ_LIBS     := $(PKG_LIBS) -lm

# Defects the fuzzers found that are not fixed yet (docs/reliability.md,
# "Findings").  Each name defines FUZZ_KNOWN_<name> for the harnesses,
# which then step around that one defect, so that fuzz-smoke keeps
# guarding everything else.  Take a name out when its fix lands: the
# regression inputs in tests/fuzz/corpus/ then prove the fix.  Check a fix
# with:  make fuzz-smoke FUZZ_KNOWN_DEFECTS=
FUZZ_KNOWN_DEFECTS ?=
FUZZ_STAMP := $(FUZZ_BUILD)/known-defects

# Every parser of untrusted bytes; the webhook harness once shared/webhook.c
# exists.
FUZZ_NAMES := issue_json plane_page multistatus href dotenv time html ical \
	$(if $(and $(wildcard shared/webhook.c),$(wildcard tests/fuzz/fuzz_webhook.c)),webhook)
FUZZ_BINS  := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIB     := $(FUZZ_BUILD)/libcalplanebot-fuzz.a

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-clean fuzz-force

fuzz-build: $(FUZZ_BINS)

# The library: others' code, so warnings are shown but do not stop the
# fuzz build (the normal build enforces -Werror).
$(FUZZ_BUILD)/shared/%.o: shared/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/tests/fuzz/%.o: tests/fuzz/%.c $(FUZZ_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Itests/fuzz $(FUZZ_CFLAGS) -Werror \
		$(FUZZ_KNOWN_DEFECTS:%=-DFUZZ_KNOWN_%) -fsanitize=fuzzer \
		-c -o $@ $<

# Rewritten only when the list changes, so the harnesses rebuild then.
$(FUZZ_STAMP): fuzz-force
	@mkdir -p $(@D)
	@echo '$(FUZZ_KNOWN_DEFECTS)' | cmp -s - $@ || \
		echo '$(FUZZ_KNOWN_DEFECTS)' > $@
fuzz-force:

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

fuzz: $(FUZZ_BINS)
	FUZZ_KNOWN_DEFECTS='$(FUZZ_KNOWN_DEFECTS)' \
		tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_NAMES)

fuzz-smoke: $(FUZZ_BINS)
	FUZZ_KNOWN_DEFECTS='$(FUZZ_KNOWN_DEFECTS)' \
		tests/fuzz/run.sh smoke $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD) $(FUZZ_NAMES)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

# Keep the harness objects (make would delete them as intermediates).
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%.o)
