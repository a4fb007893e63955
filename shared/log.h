/*
 * log.h - one key=value line per event on stderr, filtered by level.
 *
 * Lines look like:
 *   2026-11-28T17:40:01Z level=info op=create issue=... ms=12 ok=1
 * Values with spaces, quotes, '=' or control characters are quoted and
 * escaped so a line is always one line.  Secrets registered with
 * log_add_secret() are replaced by "[REDACTED]" wherever they appear, as a
 * last line of defence; callers should not pass secrets in the first place.
 *
 * The level and the secret list are process state (set once at start-up).
 */
#ifndef CPB_LOG_H
#define CPB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARNING,
	LOG_ERROR,
};

/* "debug"/"info"/"warning"/"warn"/"error" (any case) → level; false if unknown. */
bool log_level_parse(const char *s, enum log_level *out);

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Secrets shorter than this are not redacted (they would match words). */
#define LOG_SECRET_MIN 6

/* Register a secret to redact (copied; shorter than LOG_SECRET_MIN ignored). */
void log_add_secret(const char *secret);
void log_clear_secrets(void);

/*
 * Replace every registered secret in the NUL-terminated string s (in a
 * buffer of `size` bytes) by "[REDACTED]", in place, cutting what no
 * longer fits.  For text a peer sent (an error body, a Location header)
 * before it goes into a message that is printed, stored or served: a
 * server may echo a credential back.
 */
void log_redact(char *s, size_t size);

/*
 * Log an event: `event` is the first key (op=... or msg=...), followed by
 * alternating key, value string pairs, terminated by NULL.
 *   log_kv(LOG_INFO, "op", "create", "issue", id, "ms", buf, NULL);
 */
void log_kv(enum log_level level, const char *key, const char *value, ...)
	__attribute__((sentinel));

/* printf-style free text under msg= (quoted as needed). */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
