/*
 * fuzz_time - Plane's dates and times: plane_date_parse ("YYYY-MM-DD",
 * target_date) and plane_time_parse (ISO 8601 with a zone, updated_at).
 *
 * Input: the string (up to the first NUL).
 *
 * Checks:
 *   date  accepted only as exactly "YYYY-MM-DD" of a real date (years
 *         1..9999), which it gives back unchanged when printed;
 *         plane_date_next is a real date or the year after 9999.
 *   time  an accepted time, printed back in UTC ("…T…[.ffffff]Z"),
 *         parses to the same microseconds whenever its year is 1..9999;
 *         it lies within 0001-01-01 minus 24 h .. 9999-12-31 plus 24 h;
 *         its date part is a date plane_date_parse accepts.
 */
#include "fuzz_common.h"

#include <time.h>

#include "issue.h"

/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z, microseconds. */
#define T_MIN	INT64_C(-62135596800000000)
#define T_END	INT64_C(253402300800000000)
#define DAY_US	INT64_C(86400000000)

static void
check_date(const char *s)
{
	struct plane_date d = { -1, -1, -1 }, n;
	char back[64];
	bool ok = plane_date_parse(s, &d);

	if (!ok)
		return;
	FUZZ_CHECK(strlen(s) == 10, "[%s] accepted", s);
	FUZZ_CHECK(d.year >= 1 && d.year <= 9999 && d.month >= 1 &&
	    d.month <= 12 && d.day >= 1 && d.day <= 31, "[%s] fields", s);
	snprintf(back, sizeof(back), "%04d-%02d-%02d", d.year, d.month, d.day);
	FUZZ_CHECK(strcmp(back, s) == 0, "[%s] reads as %s", s, back);
	n = plane_date_next(d);
	if (n.year <= 9999) {
		snprintf(back, sizeof(back), "%04d-%02d-%02d", n.year, n.month,
		    n.day);
		FUZZ_CHECK(plane_date_parse(back, NULL), "next of %s is %s", s,
		    back);
	} else {
		FUZZ_CHECK(d.month == 12 && d.day == 31 && n.year == 10000,
		    "next of %s", s);
	}
}

static void
check_time(const char *s)
{
	int64_t us = INT64_MIN, again = INT64_MIN, sec, frac;
	struct tm tm;
	time_t t;
	char back[80], date[16];

	if (!plane_time_parse(s, &us))
		return;
	FUZZ_CHECK(us >= T_MIN - DAY_US && us < T_END + DAY_US,
	    "[%s] gives %lld", s, (long long)us);
	memcpy(date, s, 10);
	date[10] = '\0';
	FUZZ_CHECK(plane_date_parse(date, NULL), "[%s]: date part", s);
	sec = us / 1000000;
	frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	t = (time_t)sec;
	FUZZ_CHECK(gmtime_r(&t, &tm) != NULL, "gmtime");
	if (tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return;
	snprintf(back, sizeof(back), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long long)frac);
	FUZZ_CHECK(plane_time_parse(back, &again) && again == us,
	    "[%s] = %lld, but [%s] = %lld", s, (long long)us, back,
	    (long long)again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);

	check_date(s);
	check_time(s);
	free(s);
	return 0;
}
