/*
 * test_log.c - the exact lines log.c writes to stderr.
 *
 * stderr (fd 2) is pointed at a temporary file around each call, because
 * log.c writes with write(2), not through the FILE.  Criterion runs each
 * test in its own process, so the level and secret list start fresh.
 */
#include <criterion/criterion.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "issue.h"
#include "log.h"

static char	captured[32768];
static int	saved_fd = -1;
static FILE	*capture_file;

static void
capture_start(void)
{
	capture_file = tmpfile();
	cr_assert_not_null(capture_file);
	saved_fd = dup(STDERR_FILENO);
	cr_assert(saved_fd >= 0);
	cr_assert(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Restore stderr and return what was written. */
static const char *
capture_end(void)
{
	size_t n;

	cr_assert(dup2(saved_fd, STDERR_FILENO) >= 0);
	close(saved_fd);
	rewind(capture_file);
	n = fread(captured, 1, sizeof(captured) - 1, capture_file);
	captured[n] = '\0';
	fclose(capture_file);
	return captured;
}

/* The line without its "YYYY-MM-DDTHH:MM:SSZ " prefix, which is checked. */
static const char *
after_stamp(const char *line)
{
	regex_t re;
	int rc;

	cr_assert_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}Z ", REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&re, line, 0, NULL, 0);
	regfree(&re);
	cr_assert_eq(rc, 0, "no timestamp in: %s", line);
	return line + 21;
}

Test(log, level_parse_names_any_case)
{
	enum log_level l;

	cr_assert(log_level_parse("debug", &l));
	cr_assert_eq(l, LOG_DEBUG);
	cr_assert(log_level_parse("INFO", &l));
	cr_assert_eq(l, LOG_INFO);
	cr_assert(log_level_parse("Warning", &l));
	cr_assert_eq(l, LOG_WARNING);
	l = LOG_DEBUG;
	cr_assert(log_level_parse("WARN", &l));
	cr_assert_eq(l, LOG_WARNING);
	cr_assert(log_level_parse("error", &l));
	cr_assert_eq(l, LOG_ERROR);
}

Test(log, level_parse_rejects_unknown)
{
	enum log_level l = LOG_ERROR;

	cr_assert_not(log_level_parse("verbose", &l));
	cr_assert_not(log_level_parse("", &l));
	cr_assert_not(log_level_parse("info ", &l));
	cr_assert_not(log_level_parse(NULL, &l));
	cr_assert_eq(l, LOG_ERROR);
}

Test(log, enabled_follows_level)
{
	log_set_level(LOG_WARNING);
	cr_assert_not(log_enabled(LOG_DEBUG));
	cr_assert_not(log_enabled(LOG_INFO));
	cr_assert(log_enabled(LOG_WARNING));
	cr_assert(log_enabled(LOG_ERROR));
	log_set_level(LOG_DEBUG);
	cr_assert(log_enabled(LOG_DEBUG));
}

Test(log, plain_line_has_utc_stamp_and_pairs)
{
	const char *out;
	int64_t us;
	char stamp[32];
	time_t now = time(NULL);

	log_set_level(LOG_INFO);
	capture_start();
	log_kv(LOG_INFO, "op", "create", "issue", "abc-1", "ms", "12", "ok",
	    "1", NULL);
	out = capture_end();
	cr_assert_str_eq(after_stamp(out),
	    "level=info op=create issue=abc-1 ms=12 ok=1\n");
	memcpy(stamp, out, 20);
	stamp[20] = '\0';
	cr_assert(plane_time_parse(stamp, &us), "stamp %s", stamp);
	cr_assert(us / 1000000 >= now - 2 && us / 1000000 <= now + 2);
}

Test(log, level_names)
{
	log_set_level(LOG_DEBUG);
	capture_start();
	log_kv(LOG_DEBUG, "op", "a", NULL);
	log_kv(LOG_WARNING, "op", "b", NULL);
	log_kv(LOG_ERROR, "op", "c", NULL);
	capture_end();
	cr_assert_not_null(strstr(captured, "Z level=debug op=a\n"));
	cr_assert_not_null(strstr(captured, "Z level=warning op=b\n"));
	cr_assert_not_null(strstr(captured, "Z level=error op=c\n"));
}

Test(log, below_level_writes_nothing)
{
	log_set_level(LOG_ERROR);
	capture_start();
	log_kv(LOG_WARNING, "op", "x", NULL);
	log_msg(LOG_INFO, "hello %d", 1);
	cr_assert_str_eq(capture_end(), "");
}

static void
check_value(const char *value, const char *expected)
{
	log_set_level(LOG_INFO);
	capture_start();
	log_kv(LOG_INFO, "k", value, NULL);
	cr_assert_str_eq(after_stamp(capture_end()), expected);
}

Test(log, quoting_and_escaping)
{
	check_value("a b", "level=info k=\"a b\"\n");
	check_value("say \"hi\"", "level=info k=\"say \\\"hi\\\"\"\n");
	check_value("x=y", "level=info k=\"x=y\"\n");
	check_value("l1\nl2\rl3\tend", "level=info k=\"l1\\nl2\\rl3\\tend\"\n");
	check_value("back\\slash and space",
	    "level=info k=\"back\\\\slash and space\"\n");
	check_value("C:\\dir", "level=info k=C:\\dir\n");
	check_value("", "level=info k=\"\"\n");
	check_value("bell\x01", "level=info k=\"bell\\x01\"\n");
	check_value("del\x7f", "level=info k=\"del\\x7f\"\n");
	check_value("测试🎉", "level=info k=测试🎉\n");
}

Test(log, null_value_ends_the_list)
{
	const char *missing = NULL;

	log_set_level(LOG_INFO);
	capture_start();
	log_kv(LOG_INFO, "op", "x", "issue", missing, "ms", "5", NULL);
	cr_assert_str_eq(after_stamp(capture_end()),
	    "level=info op=x issue=(null)\n");
}

Test(log, msg_is_formatted_and_quoted)
{
	log_set_level(LOG_INFO);
	capture_start();
	log_msg(LOG_WARNING, "%d issues in %s", 3, "WEB");
	log_msg(LOG_INFO, "single");
	capture_end();
	cr_assert_not_null(strstr(captured,
	    "Z level=warning msg=\"3 issues in WEB\"\n"));
	cr_assert_not_null(strstr(captured, "Z level=info msg=single\n"));
}

Test(log, secrets_are_redacted_everywhere)
{
	log_set_level(LOG_INFO);
	log_add_secret("s3cr3t");
	log_add_secret("pass word");
	log_add_secret("");	/* ignored, and must not redact everything */
	capture_start();
	log_kv(LOG_INFO, "op", "auth", "url", "https://u:s3cr3t@h/",
	    "s3cr3t", "k", NULL);
	log_kv(LOG_INFO, "pw", "my pass word!", "same", "s3cr3t", NULL);
	log_msg(LOG_ERROR, "token %s rejected", "s3cr3t");
	capture_end();
	cr_assert_null(strstr(captured, "s3cr3t"), "%s", captured);
	cr_assert_null(strstr(captured, "pass word"), "%s", captured);
	cr_assert_not_null(strstr(captured,
	    " op=auth url=https://u:[REDACTED]@h/ [REDACTED]=k\n"));
	cr_assert_not_null(strstr(captured,
	    " pw=\"my [REDACTED]!\" same=[REDACTED]\n"));
	cr_assert_not_null(strstr(captured,
	    " msg=\"token [REDACTED] rejected\"\n"));
}

/* A secret that is all quote-worthy characters leaves no quotes behind. */
Test(log, redaction_decides_quoting)
{
	log_add_secret("a=\"bc\"");
	check_value("a=\"bc\"", "level=info k=[REDACTED]\n");
	check_value("x a=\"bc\" y", "level=info k=\"x [REDACTED] y\"\n");
}

Test(log, longest_secret_wins)
{
	log_add_secret("abcdef");
	log_add_secret("abcdefgh");
	check_value("abcdefghi", "level=info k=[REDACTED]i\n");
	check_value("abcdefxyz", "level=info k=[REDACTED]xyz\n");
}

/* A one-letter password must not turn "op=start" into "o[REDACTED]=start". */
Test(log, very_short_secrets_are_not_scanned)
{
	log_add_secret("p");
	log_add_secret("12345");
	check_value("op=start 12345", "level=info k=\"op=start 12345\"\n");
}

Test(log, clear_secrets_stops_redaction)
{
	log_add_secret("hidden");
	check_value("hidden", "level=info k=[REDACTED]\n");
	log_clear_secrets();
	check_value("hidden", "level=info k=hidden\n");
}

Test(log, long_line_is_cut_with_marker)
{
	char *big = malloc(20001);
	size_t len;

	cr_assert_not_null(big);
	memset(big, 'a', 20000);
	big[20000] = '\0';
	log_set_level(LOG_INFO);
	capture_start();
	log_kv(LOG_INFO, "k", big, "after", "x", NULL);
	capture_end();
	len = strlen(captured);
	cr_assert_leq(len, 8192);
	cr_assert_geq(len, 8150);
	cr_assert_str_eq(captured + len - 4, "\xe2\x80\xa6\n");
	cr_assert_eq(strchr(captured, '\n'), captured + len - 1);
	cr_assert_null(strstr(captured, "after"));
	free(big);
}

Test(log, cut_inside_quotes_closes_the_quote)
{
	char *big = malloc(20001);
	size_t len;

	cr_assert_not_null(big);
	memset(big, 'a', 20000);
	big[0] = ' ';
	big[20000] = '\0';
	check_value("warm up", "level=info k=\"warm up\"\n");
	capture_start();
	log_kv(LOG_INFO, "k", big, NULL);
	capture_end();
	len = strlen(captured);
	cr_assert_str_eq(captured + len - 5, "\xe2\x80\xa6\"\n");
	free(big);
}

/* Whatever the alignment, a cut never splits a UTF-8 character. */
Test(log, cut_keeps_utf8_whole)
{
	static const char *const keys[] = { "k", "kk", "kkk", "kkkk" };
	char *big = malloc(30001);
	size_t i, len;

	cr_assert_not_null(big);
	for (i = 0; i + 4 <= 30000; i += 4)
		memcpy(big + i, "\xf0\x9f\x8e\x89", 4);
	big[30000] = '\0';
	log_set_level(LOG_INFO);
	for (i = 0; i < 4; i++) {
		capture_start();
		log_kv(LOG_INFO, keys[i], big, NULL);
		capture_end();
		len = strlen(captured);
		cr_assert_leq(len, 8192);
		cr_assert(plane_utf8_valid(captured, len), "key %s", keys[i]);
		cr_assert_str_eq(captured + len - 4, "\xe2\x80\xa6\n");
	}
	free(big);
}
