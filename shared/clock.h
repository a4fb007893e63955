/*
 * clock.h - the two clocks the code reads, in the units it stores.
 *
 * Wall time (CLOCK_REALTIME) for what is recorded or compared with other
 * hosts' times: queue and run times, Plane's updated_at, rate-limit
 * resets.  Monotonic time (CLOCK_MONOTONIC) for durations and deadlines,
 * which a clock step must not stretch or shrink.
 */
#ifndef CPB_CLOCK_H
#define CPB_CLOCK_H

#include <stdint.h>

int64_t clock_unix_us(void);		/* wall time, unix microseconds */
int64_t clock_unix_ms(void);		/* wall time, unix milliseconds */
int64_t clock_mono_us(void);		/* monotonic, microseconds */
int64_t clock_mono_ms(void);		/* monotonic, milliseconds */

#endif
