/*
 * test_config.c - the dotenv parser and config_load: defaults, overrides,
 * normalisation, and the exact problem lines a user sees.
 *
 * Every load passes its own environment (environ_override) and, unless a
 * test is about the file search, CALPLANEBOT_CONFIG naming a file, so the
 * machine's files and environment never leak in.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define TOKEN	"plane_api_0123456789abcdef0123456789abcdef"

static char	*problems;	/* what the last load() wrote */
static char	 tmpdir[] = "/tmp/cpb-config-XXXXXX";

/* Environment: the four required settings, then extras (later wins). */
static enum cpb_err
load_env(struct cpb_config **cfg, const char *const *extra, bool base)
{
	static const char *const required[] = {
		"PLANE_BASE_URL=https://app.plane.so",
		"PLANE_API_TOKEN=" TOKEN,
		"PLANE_WORKSPACE_SLUG=acme",
		"CALDAV_URL=https://cal.example.com/dav/",
	};
	char *env[64];
	size_t n = 0, i, len;
	FILE *fp;
	enum cpb_err err;

	/* extras first: config.c takes the first of duplicate names */
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		env[n++] = (char *)extra[i];
	if (base)
		for (i = 0; i < 4; i++)
			env[n++] = (char *)required[i];
	env[n] = NULL;
	free(problems);
	problems = NULL;
	fp = open_memstream(&problems, &len);
	cr_assert_not_null(fp);
	err = config_load(cfg, env, fp);
	fclose(fp);
	return err;
}

static enum cpb_err
load(struct cpb_config **cfg, const char *const *extra)
{
	return load_env(cfg, extra, true);
}

static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *fp;

	if (strchr(tmpdir, 'X') != NULL)
		cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Remove what write_file() made (runs in each test's process). */
static void
cleanup(void)
{
	static const char *const names[] = {
		"a.env", "bad.env", "big.env", "calplanebot.env",
	};
	char path[256];
	size_t i;

	free(problems);
	problems = NULL;
	if (strchr(tmpdir, 'X') != NULL)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

TestSuite(config, .fini = cleanup);

static char **
parse_ok(const char *text)
{
	char **env = NULL, errmsg[CPB_ERRMSG_MAX] = "";

	cr_assert_eq(config_parse_dotenv(text, strlen(text), "t.env", &env,
	    errmsg), CPB_OK, "%s", errmsg);
	cr_assert_not_null(env);
	return env;
}

static void
parse_fails(const char *text, size_t len, const char *msg)
{
	char **env = (char **)1, errmsg[CPB_ERRMSG_MAX] = "";

	cr_assert_eq(config_parse_dotenv(text, len, "t.env", &env, errmsg),
	    CPB_ERR_INVALID, "accepted: %s", text);
	cr_assert_null(env);
	cr_assert_str_eq(errmsg, msg);
}

/* ------------------------------------------------------------ dotenv */

Test(dotenv, lines_quotes_and_comments)
{
	char **env = parse_ok(
	    "# a comment\n"
	    "\n"
	    "PLAIN=value\n"
	    "  export EXPORTED=yes\n"
	    "SPACED = around equals  \n"
	    "EMPTY=\n"
	    "DQ=\"a \\\"quoted\\\" \\\\ line\\nnext\\tTab \\q\"\n"
	    "SQ='literal \\n $x # not a comment'\n"
	    "INLINE=value # comment\n"
	    "HASH=a#b\n"
	    "LEADHASH=#x\n"
	    "ONLYCOMMENT= # nothing\n"
	    "DQHASH=\"a # b\" # c\n"
	    "CRLF=dos\r\n"
	    "PLAIN=second wins\n"
	    "LAST=no newline");
	const char *expected[] = {
		"PLAIN=second wins", "EXPORTED=yes", "SPACED=around equals",
		"EMPTY=", "DQ=a \"quoted\" \\ line\nnext\tTab \\q",
		"SQ=literal \\n $x # not a comment", "INLINE=value",
		"HASH=a#b", "LEADHASH=#x", "ONLYCOMMENT=", "DQHASH=a # b",
		"CRLF=dos", "LAST=no newline", NULL,
	};
	size_t i;

	for (i = 0; expected[i] != NULL; i++) {
		cr_assert_not_null(env[i], "missing %s", expected[i]);
		cr_assert_str_eq(env[i], expected[i]);
	}
	cr_assert_null(env[i]);
	config_free_env(env);
}

Test(dotenv, empty_text_gives_empty_array)
{
	char **env = parse_ok("");

	cr_assert_null(env[0]);
	config_free_env(env);
	env = parse_ok("# only\n\n   \n");
	cr_assert_null(env[0]);
	config_free_env(env);
}

Test(dotenv, malformed_lines_name_file_and_line)
{
	parse_fails("A=1\njust text\n", 15, "t.env:2: expected NAME=value");
	parse_fails("1KEY=x", 6, "t.env:1: expected NAME=value");
	parse_fails("=x", 2, "t.env:1: expected NAME=value");
	parse_fails("KEY-X=1", 7, "t.env:1: expected NAME=value");
	parse_fails("export\n", 7, "t.env:1: expected NAME=value");
	parse_fails("\n\nK=\"open\n", 10, "t.env:3: unterminated double quote");
	parse_fails("K='open", 7, "t.env:1: unterminated single quote");
	parse_fails("K=\"a\" b", 7, "t.env:1: text after the closing quote");
	parse_fails("K=\"a\\\"", 6, "t.env:1: unterminated double quote");
	parse_fails("A=1\nB=2\0\n", 9, "t.env:2: NUL byte in line");
}

Test(dotenv, size_cap)
{
	char **env = NULL, errmsg[CPB_ERRMSG_MAX];
	size_t len = 1024 * 1024 + 1;
	char *big = malloc(len);

	cr_assert_not_null(big);
	memset(big, '\n', len);
	cr_assert_eq(config_parse_dotenv(big, len, "big.env", &env, errmsg),
	    CPB_ERR_TOO_LARGE);
	cr_assert_str_eq(errmsg, "big.env: larger than 1048576 bytes");
	cr_assert_eq(config_parse_dotenv(big, len - 1, "big.env", &env, errmsg),
	    CPB_OK);
	cr_assert_null(env[0]);
	config_free_env(env);
	free(big);
}

/* ------------------------------------------------------------ defaults */

Test(config, defaults)
{
	const char *extra[] = { "CALPLANEBOT_CONFIG=/dev/null", NULL };
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, extra), CPB_OK, "%s", problems);
	cr_assert_str_eq(problems, "");
	cr_assert_str_eq(cfg->plane_base_url, "https://app.plane.so");
	cr_assert_str_eq(cfg->plane_api_token, TOKEN);
	cr_assert_str_eq(cfg->plane_workspace_slug, "acme");
	cr_assert_str_eq(cfg->plane_web_url, "https://app.plane.so");
	cr_assert_null(cfg->plane_webhook_secret);
	cr_assert_str_eq(cfg->caldav_url, "https://cal.example.com/dav/");
	cr_assert_null(cfg->caldav_username);
	cr_assert_null(cfg->caldav_password);
	cr_assert_eq(cfg->caldav_auth_type, CPB_AUTH_BASIC);
	cr_assert_str_eq(cfg->db_path, "/var/lib/calplanebot/state.db");
	cr_assert_str_eq(cfg->calendar_name_template, "Plane: {project}");
	cr_assert_eq(cfg->sync_interval_seconds, 300);
	cr_assert_eq(cfg->log_level, LOG_INFO);
	cr_assert_eq(cfg->http_timeout_seconds, 30);
	cr_assert_eq(cfg->http_connect_timeout_seconds, 10);
	cr_assert_eq(cfg->retry_attempts, 3);
	cr_assert_eq(cfg->retry_min_ms, 4000);
	cr_assert_eq(cfg->retry_max_ms, 10000);
	cr_assert_eq(cfg->rate_limit_max_wait_seconds, 120);
	cr_assert(cfg->tls_verify);
	cr_assert_eq(cfg->discovery_ttl_seconds, 3600);
	cr_assert_eq(cfg->max_event_failures, 5);
	cr_assert_null(cfg->admin_token);
	cr_assert_not(cfg->allow_unsigned_webhooks);
	cr_assert_str_eq(cfg->source_file, "/dev/null");
	config_free(cfg);
}

Test(config, every_setting_from_the_environment)
{
	const char *extra[] = {
		"CALPLANEBOT_CONFIG=/dev/null",
		"PLANE_WEB_URL=https://web.example.com/",
		"PLANE_WEBHOOK_SECRET=plane_wh_abc",
		"CALDAV_USERNAME=ann",
		"CALDAV_PASSWORD=pa ss",
		"CALDAV_AUTH_TYPE=DiGeSt",
		"CALPLANEBOT_DB=/tmp/x.db",
		"CALENDAR_NAME_TEMPLATE={project} tasks",
		"SYNC_INTERVAL_SECONDS=10",
		"LOG_LEVEL=debug",
		"CALPLANEBOT_HTTP_TIMEOUT=600",
		"CALPLANEBOT_CONNECT_TIMEOUT=2",
		"CALPLANEBOT_RETRY_ATTEMPTS=10",
		"CALPLANEBOT_RETRY_MIN_MS=0",
		"CALPLANEBOT_RETRY_MAX_MS=0",
		"CALPLANEBOT_RATE_LIMIT_MAX_WAIT=5",
		"CALPLANEBOT_TLS_VERIFY=No",
		"CALPLANEBOT_DISCOVERY_TTL=0",
		"CALPLANEBOT_MAX_ATTEMPTS=1",
		"CALPLANEBOT_ADMIN_TOKEN=adm",
		"ALLOW_UNSIGNED_WEBHOOKS=YES",
		NULL,
	};
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, extra), CPB_OK, "%s", problems);
	cr_assert_str_eq(problems, "");
	cr_assert_str_eq(cfg->plane_web_url, "https://web.example.com");
	cr_assert_str_eq(cfg->plane_webhook_secret, "plane_wh_abc");
	cr_assert_str_eq(cfg->caldav_username, "ann");
	cr_assert_str_eq(cfg->caldav_password, "pa ss");
	cr_assert_eq(cfg->caldav_auth_type, CPB_AUTH_DIGEST);
	cr_assert_str_eq(cfg->db_path, "/tmp/x.db");
	cr_assert_str_eq(cfg->calendar_name_template, "{project} tasks");
	cr_assert_eq(cfg->sync_interval_seconds, 10);
	cr_assert_eq(cfg->log_level, LOG_DEBUG);
	cr_assert_eq(cfg->http_timeout_seconds, 600);
	cr_assert_eq(cfg->http_connect_timeout_seconds, 2);
	cr_assert_eq(cfg->retry_attempts, 10);
	cr_assert_eq(cfg->retry_min_ms, 0);
	cr_assert_eq(cfg->retry_max_ms, 0);
	cr_assert_eq(cfg->rate_limit_max_wait_seconds, 5);
	cr_assert_not(cfg->tls_verify);
	cr_assert_eq(cfg->discovery_ttl_seconds, 0);
	cr_assert_eq(cfg->max_event_failures, 1);
	cr_assert_str_eq(cfg->admin_token, "adm");
	cr_assert(cfg->allow_unsigned_webhooks);
	config_free(cfg);
}

/* ------------------------------------------------------------ URLs */

static void
expect_base(const char *value, const char *normalised)
{
	char setting[256];
	const char *extra[] = { "CALPLANEBOT_CONFIG=/dev/null", setting, NULL };
	struct cpb_config *cfg;

	snprintf(setting, sizeof(setting), "PLANE_BASE_URL=%s", value);
	cr_assert_eq(load(&cfg, extra), CPB_OK, "%s: %s", value, problems);
	cr_assert_str_eq(cfg->plane_base_url, normalised);
	cr_assert_str_eq(cfg->plane_web_url, normalised);
	config_free(cfg);
}

Test(config, base_url_normalised_to_root)
{
	expect_base("https://app.plane.so", "https://app.plane.so");
	expect_base("https://app.plane.so/", "https://app.plane.so");
	expect_base("https://app.plane.so/api/v1", "https://app.plane.so");
	expect_base("https://app.plane.so/api/v1/", "https://app.plane.so");
	expect_base("http://127.0.0.1:8000/api/v1//", "http://127.0.0.1:8000");
	expect_base("https://x.io/plane/api/v1/", "https://x.io/plane");
	expect_base("HTTPS://x.io/api/v2/", "HTTPS://x.io/api/v2");
	expect_base("http://[::1]:8080/", "http://[::1]:8080");
}

static void
expect_problem(const char *setting, const char *line)
{
	const char *extra[] = { "CALPLANEBOT_CONFIG=/dev/null", setting, NULL };
	struct cpb_config *cfg = (struct cpb_config *)1;
	char expected[512];

	snprintf(expected, sizeof(expected), "%s\n", line);
	cr_assert_eq(load(&cfg, extra), CPB_ERR_INVALID, "accepted %s",
	    setting);
	cr_assert_null(cfg);
	cr_assert_str_eq(problems, expected);
}

Test(config, bad_urls)
{
	const char *base = "(expected the http(s) root of the Plane instance, "
	    "e.g. https://app.plane.so)";
	char line[512];

	snprintf(line, sizeof(line), "PLANE_BASE_URL: \"ftp://x\" is not an "
	    "http:// or https:// URL %s", base);
	expect_problem("PLANE_BASE_URL=ftp://x", line);
	snprintf(line, sizeof(line), "PLANE_BASE_URL: \"https://\" has no "
	    "host %s", base);
	expect_problem("PLANE_BASE_URL=https://", line);
	snprintf(line, sizeof(line), "PLANE_BASE_URL: \"https://h/a b\" has "
	    "spaces or characters a URL cannot hold %s", base);
	expect_problem("PLANE_BASE_URL=https://h/a b", line);
	snprintf(line, sizeof(line), "PLANE_BASE_URL: \"https://h/?x=1\" has a "
	    "query or fragment %s", base);
	expect_problem("PLANE_BASE_URL=https://h/?x=1", line);
	expect_problem("CALDAV_URL=https://h:99999/", "CALDAV_URL: "
	    "\"https://h:99999/\" has a bad port (expected the http(s) "
	    "address of the CalDAV server)");
	expect_problem("CALDAV_URL=https://h:/", "CALDAV_URL: \"https://h:/\" "
	    "has a bad port (expected the http(s) address of the CalDAV "
	    "server)");
	expect_problem("PLANE_WEB_URL=web.example.com", "PLANE_WEB_URL: "
	    "\"web.example.com\" is not an http:// or https:// URL (expected "
	    "the http(s) address of Plane's web app)");
}

/* A URL with user:password@ would put a password where it is shown. */
Test(config, url_credentials_never_shown)
{
	expect_problem("CALDAV_URL=https://ann:hunter2@cal.example.com/",
	    "CALDAV_URL: has credentials in it (put them in CALDAV_USERNAME "
	    "and CALDAV_PASSWORD) (expected the http(s) address of the "
	    "CalDAV server)");
}

/* ------------------------------------------------------------ problems */

Test(config, all_missing_reported_at_once)
{
	const char *extra[] = { "CALPLANEBOT_CONFIG=/dev/null", NULL };
	struct cpb_config *cfg;

	cr_assert_eq(load_env(&cfg, extra, false), CPB_ERR_INVALID);
	cr_assert_null(cfg);
	cr_assert_str_eq(problems,
	    "PLANE_BASE_URL: is missing (expected the http(s) root of the "
	    "Plane instance, e.g. https://app.plane.so)\n"
	    "PLANE_API_TOKEN: is missing (expected an API token from Plane's "
	    "settings, plane_api_...)\n"
	    "PLANE_WORKSPACE_SLUG: is missing (expected the workspace part of "
	    "Plane's URLs: letters, digits, - and _)\n"
	    "CALDAV_URL: is missing (expected the http(s) address of the "
	    "CalDAV server)\n");
}

Test(config, every_invalid_value_reported)
{
	const char *extra[] = {
		"CALPLANEBOT_CONFIG=/dev/null",
		"PLANE_WORKSPACE_SLUG=ac me/x",
		"CALDAV_AUTH_TYPE=ntlm",
		"SYNC_INTERVAL_SECONDS=9",
		"LOG_LEVEL=verbose",
		"CALPLANEBOT_RETRY_ATTEMPTS=3x",
		"CALPLANEBOT_TLS_VERIFY=maybe",
		"CALENDAR_NAME_TEMPLATE=Plane",
		NULL,
	};
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, extra), CPB_ERR_INVALID);
	cr_assert_str_eq(problems,
	    "PLANE_WORKSPACE_SLUG: \"ac me/x\" has characters a slug cannot "
	    "hold (expected the workspace part of Plane's URLs: letters, "
	    "digits, - and _)\n"
	    "CALDAV_AUTH_TYPE: \"ntlm\" is not an auth type (expected basic, "
	    "digest or auto)\n"
	    "CALENDAR_NAME_TEMPLATE: \"Plane\" lacks {project} (expected a "
	    "calendar name containing {project})\n"
	    "SYNC_INTERVAL_SECONDS: \"9\" is out of range (expected a whole "
	    "number from 10 to 86400)\n"
	    "LOG_LEVEL: \"verbose\" is not a log level (expected DEBUG, INFO, "
	    "WARNING or ERROR)\n"
	    "CALPLANEBOT_RETRY_ATTEMPTS: \"3x\" is not a whole number "
	    "(expected a whole number from 1 to 10)\n"
	    "CALPLANEBOT_TLS_VERIFY: \"maybe\" is not a boolean (expected "
	    "true, false, 1, 0, yes or no)\n");
}

static long
interval_of(const char *setting, enum cpb_err want)
{
	const char *extra[] = { "CALPLANEBOT_CONFIG=/dev/null", setting, NULL };
	struct cpb_config *cfg;
	long v = -1;

	cr_assert_eq(load(&cfg, extra), want, "%s: %s", setting, problems);
	if (cfg != NULL)
		v = cfg->sync_interval_seconds;
	config_free(cfg);
	return v;
}

Test(config, numbers_whole_string_in_range)
{
	cr_assert_eq(interval_of("SYNC_INTERVAL_SECONDS=10", CPB_OK), 10);
	cr_assert_eq(interval_of("SYNC_INTERVAL_SECONDS=86400", CPB_OK), 86400);
	interval_of("SYNC_INTERVAL_SECONDS=86401", CPB_ERR_INVALID);
	interval_of("SYNC_INTERVAL_SECONDS=-5", CPB_ERR_INVALID);
	interval_of("SYNC_INTERVAL_SECONDS=+60", CPB_ERR_INVALID);
	interval_of("SYNC_INTERVAL_SECONDS= 60", CPB_ERR_INVALID);
	interval_of("SYNC_INTERVAL_SECONDS=60 ", CPB_ERR_INVALID);
	interval_of("SYNC_INTERVAL_SECONDS=0x40", CPB_ERR_INVALID);
	interval_of("SYNC_INTERVAL_SECONDS=6e1", CPB_ERR_INVALID);
	interval_of("SYNC_INTERVAL_SECONDS=99999999999999999999999",
	    CPB_ERR_INVALID);
	cr_assert_str_eq(problems, "SYNC_INTERVAL_SECONDS: "
	    "\"99999999999999999999999\" is out of range (expected a whole "
	    "number from 10 to 86400)\n");
	/* empty is unset: the default applies */
	cr_assert_eq(interval_of("SYNC_INTERVAL_SECONDS=", CPB_OK), 300);
}

static bool
tls_of(const char *setting)
{
	const char *extra[] = { "CALPLANEBOT_CONFIG=/dev/null", setting, NULL };
	struct cpb_config *cfg;
	bool v;

	cr_assert_eq(load(&cfg, extra), CPB_OK, "%s: %s", setting, problems);
	v = cfg->tls_verify;
	config_free(cfg);
	return v;
}

Test(config, booleans)
{
	cr_assert(tls_of("CALPLANEBOT_TLS_VERIFY=true"));
	cr_assert(tls_of("CALPLANEBOT_TLS_VERIFY=1"));
	cr_assert(tls_of("CALPLANEBOT_TLS_VERIFY=YES"));
	cr_assert_not(tls_of("CALPLANEBOT_TLS_VERIFY=False"));
	cr_assert_not(tls_of("CALPLANEBOT_TLS_VERIFY=0"));
	cr_assert_not(tls_of("CALPLANEBOT_TLS_VERIFY=no"));
}

Test(config, auth_types_and_levels)
{
	const char *a1[] = { "CALPLANEBOT_CONFIG=/dev/null",
	    "CALDAV_AUTH_TYPE=AUTO", "LOG_LEVEL=Warning", NULL };
	const char *a2[] = { "CALPLANEBOT_CONFIG=/dev/null",
	    "CALDAV_AUTH_TYPE=basic", "LOG_LEVEL=ERROR", NULL };
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, a1), CPB_OK, "%s", problems);
	cr_assert_eq(cfg->caldav_auth_type, CPB_AUTH_AUTO);
	cr_assert_eq(cfg->log_level, LOG_WARNING);
	config_free(cfg);
	cr_assert_eq(load(&cfg, a2), CPB_OK, "%s", problems);
	cr_assert_eq(cfg->caldav_auth_type, CPB_AUTH_BASIC);
	cr_assert_eq(cfg->log_level, LOG_ERROR);
	config_free(cfg);
}

Test(config, credentials_come_in_pairs)
{
	const char *user[] = { "CALPLANEBOT_CONFIG=/dev/null",
	    "CALDAV_USERNAME=ann", NULL };
	const char *pass[] = { "CALPLANEBOT_CONFIG=/dev/null",
	    "CALDAV_PASSWORD=hunter2", NULL };
	const char *colon[] = { "CALPLANEBOT_CONFIG=/dev/null",
	    "CALDAV_USERNAME=a:b", "CALDAV_PASSWORD=hunter2", NULL };
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, user), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, "CALDAV_PASSWORD: is missing (expected a "
	    "password, since CALDAV_USERNAME is set)\n");
	cr_assert_eq(load(&cfg, pass), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, "CALDAV_USERNAME: is missing (expected a "
	    "user name, since CALDAV_PASSWORD is set)\n");
	cr_assert_null(strstr(problems, "hunter2"));
	/* one mistake, one line: no "missing" on top of the bad name */
	cr_assert_eq(load(&cfg, colon), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, "CALDAV_USERNAME: \"a:b\" contains ':' "
	    "(expected a user name, without ':')\n");
}

Test(config, retry_max_not_below_min)
{
	const char *bad[] = { "CALPLANEBOT_CONFIG=/dev/null",
	    "CALPLANEBOT_RETRY_MIN_MS=500", "CALPLANEBOT_RETRY_MAX_MS=100",
	    NULL };
	const char *both_bad[] = { "CALPLANEBOT_CONFIG=/dev/null",
	    "CALPLANEBOT_RETRY_MAX_MS=x", NULL };
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, bad), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, "CALPLANEBOT_RETRY_MAX_MS: 100 is below "
	    "CALPLANEBOT_RETRY_MIN_MS (expected at least 500)\n");
	cr_assert_eq(load(&cfg, both_bad), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, "CALPLANEBOT_RETRY_MAX_MS: \"x\" is not a "
	    "whole number (expected a whole number from 0 to 600000)\n");
}

Test(config, secrets_never_in_problems)
{
	char long_token[5000];
	const char *extra[] = {
		"CALPLANEBOT_CONFIG=/dev/null",
		"PLANE_API_TOKEN=sekrit\x01value",
		"CALDAV_USERNAME=ann",
		"CALDAV_PASSWORD=hunter2\n",
		long_token,
		NULL,
	};
	struct cpb_config *cfg;

	memset(long_token, 'z', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	memcpy(long_token, "CALPLANEBOT_ADMIN_TOKEN=", 24);
	cr_assert_eq(load(&cfg, extra), CPB_ERR_INVALID);
	cr_assert_str_eq(problems,
	    "PLANE_API_TOKEN: contains control characters (expected an API "
	    "token from Plane's settings, plane_api_...)\n"
	    "CALDAV_PASSWORD: contains control characters (expected the "
	    "CalDAV password)\n"
	    "CALPLANEBOT_ADMIN_TOKEN: is too long (expected the admin "
	    "token)\n");
}

Test(config, is_secret)
{
	cr_assert(config_is_secret("PLANE_API_TOKEN"));
	cr_assert(config_is_secret("CALDAV_PASSWORD"));
	cr_assert(config_is_secret("PLANE_WEBHOOK_SECRET"));
	cr_assert(config_is_secret("CALPLANEBOT_ADMIN_TOKEN"));
	cr_assert(config_is_secret("some_api_key"));
	cr_assert_not(config_is_secret("CALDAV_USERNAME"));
	cr_assert_not(config_is_secret("PLANE_BASE_URL"));
	cr_assert_not(config_is_secret("CALDAV_URL"));
	cr_assert_not(config_is_secret(NULL));
}

/* ------------------------------------------------------------ the file */

Test(config, file_read_and_environment_wins)
{
	const char *path = write_file("a.env",
	    "# from the Python original\n"
	    "PLANE_BASE_URL=https://plane.example.com/api/v1/\n"
	    "PLANE_API_TOKEN=\"" TOKEN "\"\n"
	    "PLANE_WORKSPACE_SLUG=acme\n"
	    "CALDAV_URL=https://file.example.com/\n"
	    "SYNC_INTERVAL_SECONDS=60\n"
	    "LOG_LEVEL=error\n"
	    "HOST=0.0.0.0\n"
	    "PORT=8000\n"
	    "ENABLE_SYNC=true\n"
	    "EVENT_TIMEZONE=UTC\n"
	    "CACHE_TTL_SECONDS=300\n"
	    "DEBUG=false\n"
	    "WEBHOOK_PATH=/webhooks/plane\n"
	    "MY_SECRET_THING=zzz\n");
	char setting[300];
	const char *extra[] = {
		setting,
		"CALDAV_URL=https://env.example.com/",
		"LOG_LEVEL=",
		"SOME_OTHER_VAR=ignored silently",
		NULL,
	};
	struct cpb_config *cfg;

	snprintf(setting, sizeof(setting), "CALPLANEBOT_CONFIG=%s", path);
	cr_assert_eq(load_env(&cfg, extra, false), CPB_OK, "%s", problems);
	cr_assert_str_eq(problems,
	    "HOST: unknown setting, ignored\n"
	    "PORT: unknown setting, ignored\n"
	    "ENABLE_SYNC: unknown setting, ignored\n"
	    "EVENT_TIMEZONE: unknown setting, ignored\n"
	    "CACHE_TTL_SECONDS: unknown setting, ignored\n"
	    "DEBUG: unknown setting, ignored\n"
	    "WEBHOOK_PATH: unknown setting, ignored\n"
	    "MY_SECRET_THING: unknown setting, ignored\n");
	cr_assert_str_eq(cfg->plane_base_url, "https://plane.example.com");
	cr_assert_str_eq(cfg->plane_api_token, TOKEN);
	cr_assert_str_eq(cfg->caldav_url, "https://env.example.com/");
	cr_assert_eq(cfg->sync_interval_seconds, 60);
	/* an empty variable in the environment unsets the file's value */
	cr_assert_eq(cfg->log_level, LOG_INFO);
	cr_assert_str_eq(cfg->source_file, path);
	config_free(cfg);
}

Test(config, named_file_must_exist)
{
	const char *extra[] = {
		"CALPLANEBOT_CONFIG=/nonexistent/calplanebot.env", NULL,
	};
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, extra), CPB_ERR_INVALID);
	cr_assert_null(cfg);
	cr_assert_str_eq(problems, "CALPLANEBOT_CONFIG: cannot read "
	    "/nonexistent/calplanebot.env: No such file or directory "
	    "(expected a readable dotenv file)\n");
}

Test(config, empty_config_name_rejected)
{
	const char *extra[] = { "CALPLANEBOT_CONFIG=", NULL };
	struct cpb_config *cfg;

	cr_assert_eq(load(&cfg, extra), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, "CALPLANEBOT_CONFIG: is empty (expected "
	    "the path of a dotenv file)\n");
}

Test(config, malformed_file_names_line)
{
	const char *path = write_file("bad.env", "A=1\n\nB \"x\"\n");
	char setting[300], expected[400];
	const char *extra[] = { setting, NULL };
	struct cpb_config *cfg;

	snprintf(setting, sizeof(setting), "CALPLANEBOT_CONFIG=%s", path);
	snprintf(expected, sizeof(expected), "%s:3: expected NAME=value\n",
	    path);
	cr_assert_eq(load(&cfg, extra), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, expected);
}

Test(config, oversized_file_rejected)
{
	char *big = malloc(1024 * 1024 + 2);
	const char *path;
	char setting[300], expected[400];
	const char *extra[] = { setting, NULL };
	struct cpb_config *cfg;

	cr_assert_not_null(big);
	memset(big, '#', 1024 * 1024 + 1);
	big[1024 * 1024 + 1] = '\0';
	path = write_file("big.env", big);
	free(big);
	snprintf(setting, sizeof(setting), "CALPLANEBOT_CONFIG=%s", path);
	snprintf(expected, sizeof(expected), "CALPLANEBOT_CONFIG: %s is too "
	    "large (expected a dotenv file of at most 1048576 bytes)\n", path);
	cr_assert_eq(load(&cfg, extra), CPB_ERR_INVALID);
	cr_assert_str_eq(problems, expected);
}

Test(config, local_file_found_in_working_directory)
{
	struct cpb_config *cfg;

	write_file("calplanebot.env", "SYNC_INTERVAL_SECONDS=45\n");
	cr_assert_eq(chdir(tmpdir), 0);
	cr_assert_eq(load(&cfg, NULL), CPB_OK, "%s", problems);
	cr_assert_str_eq(cfg->source_file, "./calplanebot.env");
	cr_assert_eq(cfg->sync_interval_seconds, 45);
	config_free(cfg);
}

Test(config, no_file_at_all)
{
	struct cpb_config *cfg;
	struct stat st;
	char dir[] = "/tmp/cpb-empty-XXXXXX";

	if (stat("/etc/calplanebot/calplanebot.env", &st) == 0)
		cr_skip_test("this machine has /etc/calplanebot/calplanebot.env");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(load(&cfg, NULL), CPB_OK, "%s", problems);
	cr_assert_null(cfg->source_file);
	config_free(cfg);
	rmdir(dir);
}

/* Without an override the process environment is read (this process only). */
Test(config, process_environment)
{
	struct cpb_config *cfg;
	FILE *fp;
	size_t len;

	cr_assert_eq(setenv("CALPLANEBOT_CONFIG", "/dev/null", 1), 0);
	cr_assert_eq(setenv("PLANE_BASE_URL", "http://plane.test/", 1), 0);
	cr_assert_eq(setenv("PLANE_API_TOKEN", TOKEN, 1), 0);
	cr_assert_eq(setenv("PLANE_WORKSPACE_SLUG", "ws_1", 1), 0);
	cr_assert_eq(setenv("CALDAV_URL", "http://dav.test/", 1), 0);
	cr_assert_eq(setenv("SYNC_INTERVAL_SECONDS", "77", 1), 0);
	cr_assert_eq(setenv("NOT_OURS", "whatever", 1), 0);
	free(problems);
	problems = NULL;
	fp = open_memstream(&problems, &len);
	cr_assert_not_null(fp);
	cr_assert_eq(config_load(&cfg, NULL, fp), CPB_OK);
	fclose(fp);
	cr_assert_str_eq(problems, "");
	cr_assert_str_eq(cfg->plane_base_url, "http://plane.test");
	cr_assert_str_eq(cfg->plane_workspace_slug, "ws_1");
	cr_assert_eq(cfg->sync_interval_seconds, 77);
	config_free(cfg);
}

/* Every secret setting reaches the log's redactor, and nothing else does. */
Test(config, every_secret_is_handed_to_the_redactor)
{
	static const char *const extra[] = {
		"CALDAV_USERNAME=alice", "CALDAV_PASSWORD=hunter2hunter2",
		"PLANE_WEBHOOK_SECRET=plane_wh_secretsecret",
		"CALPLANEBOT_ADMIN_TOKEN=admin-token-123456", NULL,
	};
	struct cpb_config *cfg = NULL;
	char path[] = "/tmp/cpb-redact-XXXXXX", out[4096] = "";
	int fd = mkstemp(path), saved = dup(2);

	cr_assert_geq(fd, 0);
	cr_assert_eq(load(&cfg, extra), CPB_OK, "%s", problems);
	log_clear_secrets();
	config_redact_secrets(cfg);
	fflush(stderr);
	dup2(fd, 2);
	log_kv(LOG_ERROR, "a", TOKEN, "b", "hunter2hunter2", "c",
	    "plane_wh_secretsecret", "d", "admin-token-123456", "e", "alice",
	    NULL);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	cr_assert_gt(read(fd, out, sizeof(out) - 1), 0);
	close(fd);
	unlink(path);
	cr_expect(strstr(out, "a=[REDACTED] b=[REDACTED] c=[REDACTED] "
	    "d=[REDACTED] e=alice") != NULL, "%s", out);
	log_clear_secrets();
	config_free(cfg);
}
