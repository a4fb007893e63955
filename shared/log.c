/*
 * log.c - key=value lines on stderr.
 *
 * Each line is built whole in a fixed buffer and written with one write(2)
 * so that lines of concurrent processes sharing stderr (the sync from cron,
 * the FastCGI workers) do not interleave.  Secrets are redacted while the
 * value is copied, before any escaping, so a secret is found however it
 * would have been quoted.
 *
 * The level and the secret list are the process's own state, set once at
 * start-up (log.h); nothing here is thread-safe against concurrent
 * log_add_secret() calls, and nothing needs to be.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define LOG_LINE_MAX	8192	/* one line, newline included */
#define LOG_SECRETS_MAX	64	/* a handful are registered in practice */
/* log_msg's text: no shorter than a line, so a cut there never shows. */
#define LOG_MSG_MAX	LOG_LINE_MAX
#define LOG_REDACTED	"[REDACTED]"
#define LOG_ELLIPSIS	"\xe2\x80\xa6"	/* U+2026, marks a cut line */
/* Room kept for the cut marker, a closing quote and the newline. */
#define LOG_TAIL_ROOM	(sizeof(LOG_ELLIPSIS) - 1 + 2)

static enum log_level	 log_threshold = LOG_INFO;
static char		*log_secrets[LOG_SECRETS_MAX];
static size_t		 log_secret_lens[LOG_SECRETS_MAX];
static size_t		 log_nsecrets;

struct log_line {
	char	 buf[LOG_LINE_MAX];
	size_t	 len;
	bool	 cut;		/* something did not fit */
	bool	 cut_in_quote;	/* ... and it was inside a quoted value */
	bool	 in_quote;
};

bool
log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char	*name;
		enum log_level	 level;
	} names[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO },
		{ "warning", LOG_WARNING }, { "warn", LOG_WARNING },
		{ "error", LOG_ERROR },
	};
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			if (out != NULL)
				*out = names[i].level;
			return true;
		}
	}
	return false;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

bool
log_enabled(enum log_level level)
{
	return level >= log_threshold;
}

void
log_add_secret(const char *secret)
{
	size_t i, len;
	char *copy;

	if (secret == NULL || log_nsecrets == LOG_SECRETS_MAX)
		return;
	len = strlen(secret);
	/*
	 * Redaction is the last line of defence, not the first: nothing logs
	 * a secret on purpose.  A very short one (a password "x") would match
	 * inside ordinary words and mangle every line, so it is not scanned.
	 */
	if (len < LOG_SECRET_MIN)
		return;
	for (i = 0; i < log_nsecrets; i++)
		if (log_secret_lens[i] == len &&
		    memcmp(log_secrets[i], secret, len) == 0)
			return;
	if ((copy = malloc(len + 1)) == NULL)
		return;
	memcpy(copy, secret, len + 1);
	log_secrets[log_nsecrets] = copy;
	log_secret_lens[log_nsecrets] = len;
	log_nsecrets++;
}

void
log_clear_secrets(void)
{
	size_t i;

	for (i = 0; i < log_nsecrets; i++) {
		OPENSSL_cleanse(log_secrets[i], log_secret_lens[i]);
		free(log_secrets[i]);
		log_secrets[i] = NULL;
		log_secret_lens[i] = 0;
	}
	log_nsecrets = 0;
}

/* Length of the longest registered secret starting at s, or 0. */
static size_t
log_secret_at(const char *s, size_t avail)
{
	size_t i, best = 0;

	for (i = 0; i < log_nsecrets; i++) {
		if (log_secret_lens[i] > best && log_secret_lens[i] <= avail &&
		    memcmp(s, log_secrets[i], log_secret_lens[i]) == 0)
			best = log_secret_lens[i];
	}
	return best;
}

void
log_redact(char *s, size_t size)
{
	size_t len, i, o = 0, m, r = sizeof(LOG_REDACTED) - 1;
	char *out;

	if (s == NULL || size == 0 || log_nsecrets == 0)
		return;
	len = strnlen(s, size - 1);
	s[len] = '\0';
	if ((out = malloc(size)) == NULL) {
		/* No room to rewrite: better no text than a secret. */
		OPENSSL_cleanse(s, len);
		s[0] = '\0';
		return;
	}
	for (i = 0; i < len && o < size - 1; ) {
		if ((m = log_secret_at(s + i, len - i)) > 0) {
			if (o + r > size - 1)
				break;
			memcpy(out + o, LOG_REDACTED, r);
			o += r;
			i += m;
		} else
			out[o++] = s[i++];
	}
	out[o] = '\0';
	memcpy(s, out, o + 1);
	OPENSSL_cleanse(out, size);
	free(out);
}

static bool
log_is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Quote when the value, as it will be written (redacted), needs it. */
static bool
log_needs_quote(const char *s)
{
	size_t i, len, m;
	unsigned char c;

	len = strlen(s);
	if (len == 0)
		return true;
	for (i = 0; i < len; ) {
		if ((m = log_secret_at(s + i, len - i)) > 0) {
			i += m;
			continue;
		}
		c = (unsigned char)s[i++];
		if (c == ' ' || c == '"' || c == '=' || log_is_control(c))
			return true;
	}
	return false;
}

/* Append n bytes whole or not at all: an escape is never split. */
static void
log_put(struct log_line *line, const char *p, size_t n)
{
	if (line->cut)
		return;
	if (line->len + n > LOG_LINE_MAX - LOG_TAIL_ROOM) {
		line->cut = true;
		line->cut_in_quote = line->in_quote;
		return;
	}
	memcpy(line->buf + line->len, p, n);
	line->len += n;
}

static void
log_put_str(struct log_line *line, const char *s)
{
	log_put(line, s, strlen(s));
}

static void
log_put_escaped(struct log_line *line, unsigned char c)
{
	char esc[8];

	switch (c) {
	case '"':	log_put(line, "\\\"", 2); return;
	case '\\':	log_put(line, "\\\\", 2); return;
	case '\n':	log_put(line, "\\n", 2); return;
	case '\r':	log_put(line, "\\r", 2); return;
	case '\t':	log_put(line, "\\t", 2); return;
	default:
		break;
	}
	if (log_is_control(c)) {
		snprintf(esc, sizeof(esc), "\\x%02x", c);
		log_put(line, esc, 4);
		return;
	}
	log_put(line, (const char *)&c, 1);
}

static void
log_put_value(struct log_line *line, const char *s)
{
	size_t i, len, m;
	bool quote;

	if (s == NULL)
		s = "(null)";
	len = strlen(s);
	quote = log_needs_quote(s);
	if (quote) {
		log_put(line, "\"", 1);
		line->in_quote = true;
	}
	for (i = 0; i < len; ) {
		if ((m = log_secret_at(s + i, len - i)) > 0) {
			log_put_str(line, LOG_REDACTED);
			i += m;
		} else if (quote)
			log_put_escaped(line, (unsigned char)s[i++]);
		else
			log_put(line, s + i++, 1);
	}
	if (quote) {
		log_put(line, "\"", 1);
		line->in_quote = false;
	}
}

static void
log_put_pair(struct log_line *line, const char *key, const char *value)
{
	log_put(line, " ", 1);
	log_put_value(line, key);
	log_put(line, "=", 1);
	log_put_value(line, value);
}

static void
log_begin(struct log_line *line, enum log_level level)
{
	static const char *const names[] = {
		"debug", "info", "warning", "error",
	};
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	size_t idx = (size_t)level;

	line->len = 0;
	line->cut = line->cut_in_quote = line->in_quote = false;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "0000-00-00T00:00:00Z");
	log_put_str(line, stamp);
	log_put_str(line, " level=");
	log_put_str(line, idx < sizeof(names) / sizeof(names[0]) ?
	    names[idx] : "error");
}

/* Drop a UTF-8 sequence the cut left incomplete at the end of the buffer. */
static void
log_trim_partial_utf8(struct log_line *line)
{
	size_t i = line->len, back = 0, need;
	unsigned char lead;

	while (i > 0 && back < 3 &&
	    ((unsigned char)line->buf[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0)
		return;
	lead = (unsigned char)line->buf[i - 1];
	if (lead < 0xc0)
		return;		/* ASCII or stray bytes: nothing was split */
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (back + 1 < need)
		line->len = i - 1;
}

static void
log_finish(struct log_line *line)
{
	size_t off = 0;
	ssize_t n;

	if (line->cut) {
		log_trim_partial_utf8(line);
		line->cut = false;	/* the tail room is reserved for this */
		memcpy(line->buf + line->len, LOG_ELLIPSIS,
		    sizeof(LOG_ELLIPSIS) - 1);
		line->len += sizeof(LOG_ELLIPSIS) - 1;
		if (line->cut_in_quote)
			line->buf[line->len++] = '"';
	}
	line->buf[line->len++] = '\n';
	while (off < line->len) {
		n = write(STDERR_FILENO, line->buf + off, line->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* nowhere else to report it */
		off += (size_t)n;
	}
}

void
log_kv(enum log_level level, const char *key, const char *value, ...)
{
	struct log_line line;
	const char *k, *v;
	va_list ap;

	if (!log_enabled(level))
		return;
	log_begin(&line, level);
	log_put_pair(&line, key, value);
	/*
	 * A NULL value cannot be told from the terminator, so it ends the
	 * list: reading on could run past the caller's arguments.
	 */
	va_start(ap, value);
	while (value != NULL && (k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		log_put_pair(&line, k, v);
		value = v;
	}
	va_end(ap);
	log_finish(&line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char text[LOG_MSG_MAX];
	struct log_line line;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_begin(&line, level);
	log_put_pair(&line, "msg", text);
	log_finish(&line);
	OPENSSL_cleanse(text, sizeof(text));
}
