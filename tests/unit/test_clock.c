/*
 * test_clock.c - the two clocks, in their units.
 */
#include <criterion/criterion.h>

#include <time.h>

#include "clock.h"

Test(clock, wall_time_in_its_units)
{
	int64_t s = (int64_t)time(NULL);
	int64_t ms = clock_unix_ms(), us = clock_unix_us();

	cr_assert_geq(ms / 1000, s);
	cr_assert_leq(ms / 1000, s + 1);
	cr_assert_geq(us / 1000, ms);
	cr_assert_leq(us / 1000, ms + 1000);
}

Test(clock, monotonic_time_moves_forward_only)
{
	struct timespec nap = { 0, 20 * 1000000L };
	int64_t a = clock_mono_us(), b;

	nanosleep(&nap, NULL);
	b = clock_mono_us();
	cr_assert_geq(b - a, 20000);
	cr_assert_geq(clock_mono_ms(), b / 1000);
}
