/*
 * clock.c - see clock.h.  clock_gettime cannot fail for these two clocks
 * on Linux; a failure would read as time 0, never as garbage.
 */
#include "clock.h"

#include <time.h>

static int64_t
clock_read_us(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_unix_us(void)
{
	return clock_read_us(CLOCK_REALTIME);
}

int64_t
clock_unix_ms(void)
{
	return clock_read_us(CLOCK_REALTIME) / 1000;
}

int64_t
clock_mono_us(void)
{
	return clock_read_us(CLOCK_MONOTONIC);
}

int64_t
clock_mono_ms(void)
{
	return clock_read_us(CLOCK_MONOTONIC) / 1000;
}
