/*
 * fuzz_common.h - helpers shared by the libFuzzer harnesses.
 *
 * A harness states what must hold for every input with FUZZ_CHECK: a
 * violated property prints what failed and aborts, which libFuzzer
 * reports as a crash (the input lands in build-fuzz/crashes/).
 *
 * Only the library's public headers are used.  Nothing here keeps state
 * between inputs.
 */
#ifndef CPB_FUZZ_COMMON_H
#define CPB_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s: ",\
			    __FILE__, __LINE__, #cond);			\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
			abort();					\
		}							\
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (stops at an embedded NUL). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A string that must not be NULL (allocation failures abort: no OOM
 * paths are exercised by the fuzzers). */
static inline void *
fuzz_nonnull(void *p)
{
	if (p == NULL)
		abort();
	return p;
}

/* Bytes that iCalendar TEXT may not hold and ical_clean_text removes. */
static inline bool
fuzz_has_forbidden_ctl(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return true;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)
			return true;
	}
	return false;
}

#endif
