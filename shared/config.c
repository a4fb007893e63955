/*
 * config.c - every setting of CalPlaneBot, declared once, read once.
 *
 * cfg_fields[] is the whitelist: name, kind, where it goes, default and
 * bounds.  Defaults are text and go through the same parser as user values,
 * so they live in one place and are checked like everything else.  Keys of
 * the dotenv file that are not in the table get a warning (the Python
 * original's .env carries HOST, PORT, ENABLE_SYNC, ...); unknown names in
 * the process environment are not ours to judge and pass silently.
 *
 * Every problem is reported, one line each, so a user fixes a file in one
 * go.  Values of secret settings never appear in a message: problems with
 * them are described, not shown.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "issue.h"	/* plane_utf8_valid */

extern char **environ;

#define CFG_FILE_MAX	(1024 * 1024)	/* a dotenv file is a few hundred bytes */
#define CFG_URL_MAX	2048
#define CFG_SECRET_MAX	4096
#define CFG_TEXT_MAX	1024
#define CFG_PATH_MAX	4096
#define CFG_SLUG_MAX	128
#define CFG_SHOW_MAX	64	/* bytes of a bad value echoed in a message */
#define CFG_FILE_LOCAL	"./calplanebot.env"
#define CFG_FILE_SYSTEM	"/etc/calplanebot/calplanebot.env"

enum cfg_kind {
	CFG_URL,
	CFG_SECRET,
	CFG_TEXT,
	CFG_SLUG,
	CFG_PATH,
	CFG_TEMPLATE,
	CFG_LONG,
	CFG_BOOL,
	CFG_LEVEL,
	CFG_AUTH,
	CFG_SELF,	/* CALPLANEBOT_CONFIG: used before the table is read */
};

#define CFG_REQUIRED	0x01
#define CFG_TRIM_SLASH	0x02	/* drop trailing '/' */
#define CFG_TRIM_API	0x04	/* ... and a trailing /api/v1 (plane-api.md) */
#define CFG_NO_COLON	0x08	/* RFC 7617: a user-id cannot hold ':' */

struct cfg_field {
	const char	*name;
	enum cfg_kind	 kind;
	size_t		 off;
	unsigned	 flags;
	const char	*def;		/* parsed like a user value; NULL: none */
	long		 min, max;	/* numbers: range; text: max bytes */
	const char	*expect;	/* for "(expected ...)" */
};

#define CFG_AT(m)	offsetof(struct cpb_config, m)

static const struct cfg_field cfg_fields[] = {
	{ "PLANE_BASE_URL", CFG_URL, CFG_AT(plane_base_url),
	  CFG_REQUIRED | CFG_TRIM_SLASH | CFG_TRIM_API, NULL, 0, CFG_URL_MAX,
	  "the http(s) root of the Plane instance, e.g. https://app.plane.so" },
	{ "PLANE_API_TOKEN", CFG_SECRET, CFG_AT(plane_api_token),
	  CFG_REQUIRED, NULL, 0, CFG_SECRET_MAX,
	  "an API token from Plane's settings, plane_api_..." },
	{ "PLANE_WORKSPACE_SLUG", CFG_SLUG, CFG_AT(plane_workspace_slug),
	  CFG_REQUIRED, NULL, 0, CFG_SLUG_MAX,
	  "the workspace part of Plane's URLs: letters, digits, - and _" },
	{ "PLANE_WEB_URL", CFG_URL, CFG_AT(plane_web_url), CFG_TRIM_SLASH,
	  NULL, 0, CFG_URL_MAX, "the http(s) address of Plane's web app" },
	{ "PLANE_WEBHOOK_SECRET", CFG_SECRET, CFG_AT(plane_webhook_secret), 0,
	  NULL, 0, CFG_SECRET_MAX, "the webhook's secret, plane_wh_..." },
	{ "CALDAV_URL", CFG_URL, CFG_AT(caldav_url), CFG_REQUIRED, NULL, 0,
	  CFG_URL_MAX, "the http(s) address of the CalDAV server" },
	{ "CALDAV_USERNAME", CFG_TEXT, CFG_AT(caldav_username), CFG_NO_COLON,
	  NULL, 0, CFG_TEXT_MAX, "a user name, without ':'" },
	{ "CALDAV_PASSWORD", CFG_SECRET, CFG_AT(caldav_password), 0, NULL, 0,
	  CFG_SECRET_MAX, "the CalDAV password" },
	{ "CALDAV_AUTH_TYPE", CFG_AUTH, CFG_AT(caldav_auth_type), 0, "basic",
	  0, 0, "basic, digest or auto" },
	{ "CALPLANEBOT_DB", CFG_PATH, CFG_AT(db_path), 0,
	  "/var/lib/calplanebot/state.db", 0, CFG_PATH_MAX,
	  "the path of the SQLite state file" },
	{ "CALENDAR_NAME_TEMPLATE", CFG_TEMPLATE,
	  CFG_AT(calendar_name_template), 0, "Plane: {project}", 0,
	  CFG_TEXT_MAX, "a calendar name containing {project}" },
	{ "SYNC_INTERVAL_SECONDS", CFG_LONG, CFG_AT(sync_interval_seconds), 0,
	  "300", 10, 86400, NULL },
	{ "LOG_LEVEL", CFG_LEVEL, CFG_AT(log_level), 0, "INFO", 0, 0,
	  "DEBUG, INFO, WARNING or ERROR" },
	{ "CALPLANEBOT_HTTP_TIMEOUT", CFG_LONG, CFG_AT(http_timeout_seconds),
	  0, "30", 1, 600, NULL },
	{ "CALPLANEBOT_CONNECT_TIMEOUT", CFG_LONG,
	  CFG_AT(http_connect_timeout_seconds), 0, "10", 1, 600, NULL },
	{ "CALPLANEBOT_RETRY_ATTEMPTS", CFG_LONG, CFG_AT(retry_attempts), 0,
	  "3", 1, 10, NULL },
	{ "CALPLANEBOT_RETRY_MIN_MS", CFG_LONG, CFG_AT(retry_min_ms), 0,
	  "4000", 0, 600000, NULL },
	{ "CALPLANEBOT_RETRY_MAX_MS", CFG_LONG, CFG_AT(retry_max_ms), 0,
	  "10000", 0, 600000, NULL },
	{ "CALPLANEBOT_RATE_LIMIT_MAX_WAIT", CFG_LONG,
	  CFG_AT(rate_limit_max_wait_seconds), 0, "120", 0, 3600, NULL },
	{ "CALPLANEBOT_TLS_VERIFY", CFG_BOOL, CFG_AT(tls_verify), 0, "true",
	  0, 0, NULL },
	{ "CALPLANEBOT_DISCOVERY_TTL", CFG_LONG, CFG_AT(discovery_ttl_seconds),
	  0, "3600", 0, 604800, NULL },
	{ "CALPLANEBOT_PAGE_SIZE", CFG_LONG, CFG_AT(plane_page_size), 0,
	  "1000", 1, 1000, NULL },
	{ "CALPLANEBOT_MAX_ATTEMPTS", CFG_LONG, CFG_AT(max_event_failures), 0,
	  "5", 1, 100, NULL },
	{ "CALPLANEBOT_ADMIN_TOKEN", CFG_SECRET, CFG_AT(admin_token), 0, NULL,
	  0, CFG_SECRET_MAX, "the admin token" },
	{ "ALLOW_UNSIGNED_WEBHOOKS", CFG_BOOL, CFG_AT(allow_unsigned_webhooks),
	  0, "false", 0, 0, NULL },
	{ "CALPLANEBOT_CONFIG", CFG_SELF, 0, 0, NULL, 0, 0, NULL },
};

#define CFG_NFIELDS	(sizeof(cfg_fields) / sizeof(cfg_fields[0]))
_Static_assert(CFG_NFIELDS <= 64, "cfg_apply_fields keeps a 64-bit mask");

struct cfg_report {
	FILE		*fp;		/* may be NULL */
	unsigned	 errors;
};

/* The two sources: the environment wins over the file. */
struct cfg_src {
	char *const	*env;
	char		**file;
};

/* A growing NULL-terminated "KEY=VALUE" array. */
struct cfg_env {
	char	**items;
	size_t	  n, cap;
};

/* ------------------------------------------------------------ helpers */

static bool
cfg_is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool
cfg_is_alnum(int c)
{
	return cfg_is_alpha(c) || (c >= '0' && c <= '9');
}

static bool
cfg_is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static bool
cfg_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static char *
cfg_strndup(const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static void
cfg_free_secret(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

bool
config_is_secret(const char *name)
{
	static const char *const marks[] = {
		"TOKEN", "PASSWORD", "PASSWD", "SECRET", "API_KEY",
	};
	size_t i, j, nlen, mlen;

	if (name == NULL)
		return false;
	nlen = strlen(name);
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		mlen = strlen(marks[i]);
		for (j = 0; j + mlen <= nlen; j++)
			if (strncasecmp(name + j, marks[i], mlen) == 0)
				return true;
	}
	return false;
}

/* ------------------------------------------------------------ dotenv */

void
config_free_env(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		cfg_free_secret(env[i]);
	free(env);
}

/* Set KEY=VALUE, replacing an earlier line with the same key. */
static enum cpb_err
cfg_env_set(struct cfg_env *env, const char *key, size_t klen,
    const char *value)
{
	size_t i, vlen = strlen(value);
	char *item, **grown;

	if ((item = malloc(klen + vlen + 2)) == NULL)
		return CPB_ERR_NOMEM;
	memcpy(item, key, klen);
	item[klen] = '=';
	memcpy(item + klen + 1, value, vlen + 1);
	for (i = 0; i < env->n; i++) {
		if (strncmp(env->items[i], key, klen) == 0 &&
		    env->items[i][klen] == '=') {
			cfg_free_secret(env->items[i]);
			env->items[i] = item;
			return CPB_OK;
		}
	}
	if (env->n + 2 > env->cap) {
		env->cap = env->cap ? env->cap * 2 : 16;
		if ((grown = realloc(env->items,
		    env->cap * sizeof(*grown))) == NULL) {
			cfg_free_secret(item);
			return CPB_ERR_NOMEM;
		}
		env->items = grown;
	}
	env->items[env->n++] = item;
	env->items[env->n] = NULL;
	return CPB_OK;
}

/* Double-quoted value from just past the opening quote; *p ends past the closing one. */
static bool
cfg_dq_value(const char **p, const char *e, char *buf)
{
	const char *s = *p;
	size_t n = 0;

	for (; s < e && *s != '"'; s++) {
		if (*s != '\\' || s + 1 >= e) {
			buf[n++] = *s;
			continue;
		}
		switch (*++s) {
		case 'n':	buf[n++] = '\n'; break;
		case 'r':	buf[n++] = '\r'; break;
		case 't':	buf[n++] = '\t'; break;
		case '"':	buf[n++] = '"'; break;
		case '\\':	buf[n++] = '\\'; break;
		default:	/* unknown escapes stay as written */
			buf[n++] = '\\';
			buf[n++] = *s;
			break;
		}
	}
	buf[n] = '\0';
	if (s >= e)
		return false;
	*p = s + 1;
	return true;
}

/*
 * The value part of a line, [p, e), into buf (at least e - p + 1 bytes).
 * Returns NULL or what is wrong.
 */
static const char *
cfg_dotenv_value(const char *p, const char *e, char *buf)
{
	const char *q, *end;

	if (p < e && (*p == '"' || *p == '\'')) {
		if (*p++ == '"') {
			if (!cfg_dq_value(&p, e, buf))
				return "unterminated double quote";
		} else {
			if ((q = memchr(p, '\'', (size_t)(e - p))) == NULL)
				return "unterminated single quote";
			memcpy(buf, p, (size_t)(q - p));
			buf[q - p] = '\0';
			p = q + 1;
		}
		while (p < e && cfg_is_blank(*p))
			p++;
		if (p < e && *p != '#')
			return "text after the closing quote";
		return NULL;
	}
	/* Unquoted: a '#' after a blank starts a comment, as in sh. */
	for (end = p; end < e; end++)
		if (*end == '#' && cfg_is_blank(end[-1]))
			break;
	while (end > p && cfg_is_blank(end[-1]))
		end--;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return NULL;
}

static const char *
cfg_skip_blank(const char *p, const char *e)
{
	while (p < e && cfg_is_blank(*p))
		p++;
	return p;
}

/* One line [p, e): blank, comment, or [export] KEY = VALUE. */
static enum cpb_err
cfg_dotenv_line(const char *p, const char *e, struct cfg_env *env,
    const char *name, size_t lineno, char *errmsg)
{
	const char *key, *why = NULL;
	size_t klen, bufsize = 0;
	char *buf = NULL;
	enum cpb_err err = CPB_OK;

	if (e > p && e[-1] == '\r')
		e--;
	p = cfg_skip_blank(p, e);
	if (p == e || *p == '#')
		goto out;
	if (e - p > 7 && memcmp(p, "export", 6) == 0 && cfg_is_blank(p[6]))
		p = cfg_skip_blank(p + 6, e);
	key = p;
	while (p < e && cfg_is_alnum(*p))
		p++;
	klen = (size_t)(p - key);
	p = cfg_skip_blank(p, e);
	if (klen == 0 || !cfg_is_alpha(*key) || p == e || *p != '=') {
		why = "expected NAME=value";
		goto out;
	}
	p = cfg_skip_blank(p + 1, e);
	bufsize = (size_t)(e - p) + 1;
	if ((buf = malloc(bufsize)) == NULL) {
		err = CPB_ERR_NOMEM;
		goto out;
	}
	if ((why = cfg_dotenv_value(p, e, buf)) == NULL)
		err = cfg_env_set(env, key, klen, buf);
out:
	if (why != NULL)
		err = cpb_seterr(errmsg, CPB_ERR_INVALID, "%s:%zu: %s", name,
		    lineno, why);
	else if (err == CPB_ERR_NOMEM)
		cpb_seterr(errmsg, err, "%s:%zu: out of memory", name, lineno);
	if (buf != NULL)
		OPENSSL_cleanse(buf, bufsize);	/* may hold a secret */
	free(buf);
	return err;
}

enum cpb_err
config_parse_dotenv(const char *text, size_t len, const char *name,
    char ***out, char *errmsg)
{
	struct cfg_env env = { NULL, 0, 0 };
	const char *p = text, *e = text + len, *nl, *nul;
	size_t lineno = 0;
	enum cpb_err err = CPB_OK;

	*out = NULL;
	if (name == NULL)
		name = "(config)";
	if (len > CFG_FILE_MAX)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "%s: larger than %d bytes", name, CFG_FILE_MAX);
	while (p < e) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(e - p))) == NULL)
			nl = e;
		if ((nul = memchr(p, '\0', (size_t)(nl - p))) != NULL) {
			err = cpb_seterr(errmsg, CPB_ERR_INVALID,
			    "%s:%zu: NUL byte in line", name, lineno);
			goto out;
		}
		if ((err = cfg_dotenv_line(p, nl, &env, name, lineno,
		    errmsg)) != CPB_OK)
			goto out;
		p = nl + 1;
	}
	/* An empty file still gives an empty, terminated array. */
	if (env.items == NULL &&
	    (env.items = calloc(1, sizeof(*env.items))) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "%s: out of memory",
		    name);
		goto out;
	}
	*out = env.items;
	env.items = NULL;
out:
	if (env.items != NULL) {
		env.items[env.n] = NULL;
		config_free_env(env.items);
	}
	return err;
}

/* ------------------------------------------------------------ reporting */

static void
cfg_report(struct cfg_report *r, bool error, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cfg_report(struct cfg_report *r, bool error, const char *name,
    const char *fmt, ...)
{
	va_list ap;

	if (error)
		r->errors++;
	if (r->fp == NULL)
		return;
	fprintf(r->fp, "%s: ", name);
	va_start(ap, fmt);
	vfprintf(r->fp, fmt, ap);
	va_end(ap);
	fputc('\n', r->fp);
}

/* `"value"`, cut and with unprintable bytes as '?': safe for a terminal. */
static const char *
cfg_show(const char *v, char *buf, size_t size)
{
	size_t i, n = 0, len = strlen(v);
	unsigned char c;

	buf[n++] = '"';
	for (i = 0; i < len && i < CFG_SHOW_MAX && n + 5 < size; i++) {
		c = (unsigned char)v[i];
		buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (i < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

/* "NAME: <what> (expected <expect>)" with the field's expectation. */
static enum cpb_err
cfg_bad(struct cfg_report *r, const struct cfg_field *f, const char *what)
{
	if (f->kind == CFG_LONG)
		cfg_report(r, true, f->name,
		    "%s (expected a whole number from %ld to %ld)", what,
		    f->min, f->max);
	else if (f->kind == CFG_BOOL)
		cfg_report(r, true, f->name,
		    "%s (expected true, false, 1, 0, yes or no)", what);
	else
		cfg_report(r, true, f->name, "%s (expected %s)", what,
		    f->expect);
	return CPB_ERR_INVALID;
}

/* As cfg_bad, with the offending value shown first: never for secrets. */
static enum cpb_err
cfg_bad_value(struct cfg_report *r, const struct cfg_field *f, const char *v,
    const char *what)
{
	char shown[CFG_SHOW_MAX + 8], line[CFG_SHOW_MAX + 128];

	if (f->kind == CFG_SECRET || config_is_secret(f->name))
		return cfg_bad(r, f, what);
	snprintf(line, sizeof(line), "%s %s", cfg_show(v, shown,
	    sizeof(shown)), what);
	return cfg_bad(r, f, line);
}

/* ------------------------------------------------------------ kinds */

static void *
cfg_slot(struct cpb_config *cfg, const struct cfg_field *f)
{
	return (char *)cfg + f->off;
}

static enum cpb_err
cfg_store(struct cpb_config *cfg, const struct cfg_field *f, const char *v,
    size_t len)
{
	char **slot = cfg_slot(cfg, f);

	if ((*slot = cfg_strndup(v, len)) == NULL)
		return CPB_ERR_NOMEM;
	return CPB_OK;
}

/* Length of "scheme://" for http(s), else 0. */
static size_t
cfg_url_scheme(const char *v)
{
	if (strncasecmp(v, "http://", 7) == 0)
		return 7;
	if (strncasecmp(v, "https://", 8) == 0)
		return 8;
	return 0;
}

/* The authority of an http(s) URL: host, optional [v6], optional :port. */
static const char *
cfg_url_authority(const char *host, size_t len)
{
	const char *colon;
	size_t plen, i;

	if (len == 0)
		return "has no host";
	if (memchr(host, '@', len) != NULL)
		return "has credentials in it (put them in CALDAV_USERNAME "
		    "and CALDAV_PASSWORD)";
	if (host[0] == '[') {
		colon = memchr(host, ']', len);
		if (colon == NULL)
			return "has an unclosed [IPv6] host";
		colon = colon + 1 < host + len ? colon + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return "has text after the [IPv6] host";
	} else
		colon = memchr(host, ':', len);
	if (colon == NULL)
		return NULL;
	if (colon == host)
		return "has no host";
	plen = len - (size_t)(colon + 1 - host);
	for (i = 0; i < plen; i++)
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return "has a bad port";
	if (plen == 0 || plen > 5 || strtol(colon + 1, NULL, 10) > 65535)
		return "has a bad port";
	return NULL;
}

static const char *
cfg_url_problem(const char *v, size_t max)
{
	size_t scheme, hlen;

	if (strlen(v) > max)
		return "is too long";
	if ((scheme = cfg_url_scheme(v)) == 0)
		return "is not an http:// or https:// URL";
	if (cfg_has_control(v) || strpbrk(v, " \"<>\\^`{|}") != NULL)
		return "has spaces or characters a URL cannot hold";
	if (strpbrk(v, "?#") != NULL)
		return "has a query or fragment";
	hlen = strcspn(v + scheme, "/");
	return cfg_url_authority(v + scheme, hlen);
}

static enum cpb_err
cfg_set_url(struct cpb_config *cfg, const struct cfg_field *f, const char *v,
    struct cfg_report *r)
{
	const char *why, *host_end;
	size_t len;

	if ((why = cfg_url_problem(v, (size_t)f->max)) != NULL)
		return strchr(v, '@') != NULL ? cfg_bad(r, f, why) :
		    cfg_bad_value(r, f, v, why);
	len = strlen(v);
	host_end = v + cfg_url_scheme(v);
	host_end += strcspn(host_end, "/");
	if (f->flags & CFG_TRIM_SLASH)
		while (v + len > host_end && v[len - 1] == '/')
			len--;
	if ((f->flags & CFG_TRIM_API) && v + len - 7 >= host_end &&
	    memcmp(v + len - 7, "/api/v1", 7) == 0) {
		len -= 7;
		while (v + len > host_end && v[len - 1] == '/')
			len--;
	}
	return cfg_store(cfg, f, v, len);
}

static enum cpb_err
cfg_set_text(struct cpb_config *cfg, const struct cfg_field *f, const char *v,
    struct cfg_report *r)
{
	size_t len = strlen(v);

	if (len > (size_t)f->max)
		return cfg_bad(r, f, "is too long");
	if (cfg_has_control(v))
		return cfg_bad(r, f, "contains control characters");
	if (f->kind != CFG_SECRET && !plane_utf8_valid(v, len))
		return cfg_bad(r, f, "is not valid UTF-8");
	if ((f->flags & CFG_NO_COLON) && strchr(v, ':') != NULL)
		return cfg_bad_value(r, f, v, "contains ':'");
	if (f->kind == CFG_SLUG && strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len)
		return cfg_bad_value(r, f, v, "has characters a slug cannot hold");
	if (f->kind == CFG_TEMPLATE && strstr(v, "{project}") == NULL)
		return cfg_bad_value(r, f, v, "lacks {project}");
	return cfg_store(cfg, f, v, len);
}

/* The one parser of numbers: the whole string, in range. */
static enum cpb_err
cfg_set_long(struct cpb_config *cfg, const struct cfg_field *f, const char *v,
    struct cfg_report *r)
{
	long *slot = cfg_slot(cfg, f), n;
	char *end;

	if (!((v[0] >= '0' && v[0] <= '9') ||
	    (v[0] == '-' && v[1] >= '0' && v[1] <= '9')))
		return cfg_bad_value(r, f, v, "is not a whole number");
	errno = 0;
	n = strtol(v, &end, 10);
	if (*end != '\0')
		return cfg_bad_value(r, f, v, "is not a whole number");
	if (errno == ERANGE || n < f->min || n > f->max)
		return cfg_bad_value(r, f, v, "is out of range");
	*slot = n;
	return CPB_OK;
}

static enum cpb_err
cfg_set_bool(struct cpb_config *cfg, const struct cfg_field *f, const char *v,
    struct cfg_report *r)
{
	static const char *const yes[] = { "true", "1", "yes" };
	static const char *const no[] = { "false", "0", "no" };
	bool *slot = cfg_slot(cfg, f);
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*slot = true;
			return CPB_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*slot = false;
			return CPB_OK;
		}
	}
	return cfg_bad_value(r, f, v, "is not a boolean");
}

static enum cpb_err
cfg_set_enum(struct cpb_config *cfg, const struct cfg_field *f, const char *v,
    struct cfg_report *r)
{
	enum cpb_auth_type *auth = cfg_slot(cfg, f);
	enum log_level *level = cfg_slot(cfg, f);

	if (f->kind == CFG_LEVEL)
		return log_level_parse(v, level) ? CPB_OK :
		    cfg_bad_value(r, f, v, "is not a log level");
	if (strcasecmp(v, "basic") == 0)
		*auth = CPB_AUTH_BASIC;
	else if (strcasecmp(v, "digest") == 0)
		*auth = CPB_AUTH_DIGEST;
	else if (strcasecmp(v, "auto") == 0)
		*auth = CPB_AUTH_AUTO;
	else
		return cfg_bad_value(r, f, v, "is not an auth type");
	return CPB_OK;
}

static enum cpb_err
cfg_set(struct cpb_config *cfg, const struct cfg_field *f, const char *v,
    struct cfg_report *r)
{
	switch (f->kind) {
	case CFG_URL:
		return cfg_set_url(cfg, f, v, r);
	case CFG_SECRET:
	case CFG_TEXT:
	case CFG_SLUG:
	case CFG_PATH:
	case CFG_TEMPLATE:
		return cfg_set_text(cfg, f, v, r);
	case CFG_LONG:
		return cfg_set_long(cfg, f, v, r);
	case CFG_BOOL:
		return cfg_set_bool(cfg, f, v, r);
	case CFG_LEVEL:
	case CFG_AUTH:
		return cfg_set_enum(cfg, f, v, r);
	case CFG_SELF:
		break;
	}
	return CPB_OK;
}

/* ------------------------------------------------------------ sources */

static const char *
cfg_env_get(char *const *env, const char *name)
{
	size_t len = strlen(name);

	for (; env != NULL && *env != NULL; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

/* The value in force, or NULL; an empty value counts as unset. */
static const char *
cfg_lookup(const struct cfg_src *src, const char *name)
{
	const char *v;

	if ((v = cfg_env_get(src->env, name)) == NULL)
		v = cfg_env_get(src->file, name);
	return v != NULL && *v != '\0' ? v : NULL;
}

static const struct cfg_field *
cfg_field(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < CFG_NFIELDS; i++)
		if (strlen(cfg_fields[i].name) == len &&
		    memcmp(cfg_fields[i].name, name, len) == 0)
			return &cfg_fields[i];
	return NULL;
}

static void
cfg_warn_unknown(const struct cfg_src *src, struct cfg_report *r)
{
	char *const *e;
	size_t klen;

	for (e = src->file; e != NULL && *e != NULL; e++) {
		klen = strcspn(*e, "=");
		if (cfg_field(*e, klen) == NULL && r->fp != NULL)
			fprintf(r->fp, "%.*s: unknown setting, ignored\n",
			    (int)klen, *e);
	}
}

/* Read a whole file of at most CFG_FILE_MAX bytes; wipes what it drops. */
static enum cpb_err
cfg_read_file(const char *path, char **text, size_t *len, int *errnum)
{
	char *buf = NULL, *grown;
	size_t cap = 0, n = 0;
	ssize_t got;
	enum cpb_err err = CPB_OK;
	int fd;

	*text = NULL;
	*errnum = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*errnum = errno;
		return CPB_ERR_IO;
	}
	for (;;) {
		if (n == cap) {
			if (cap > CFG_FILE_MAX) {
				err = CPB_ERR_TOO_LARGE;
				goto out;
			}
			cap = cap ? cap * 4 : 4096;
			if (cap > CFG_FILE_MAX + 1)
				cap = CFG_FILE_MAX + 1;
			if ((grown = malloc(cap)) == NULL) {
				err = CPB_ERR_NOMEM;
				goto out;
			}
			if (n > 0)
				memcpy(grown, buf, n);
			if (buf != NULL)
				OPENSSL_cleanse(buf, n);
			free(buf);
			buf = grown;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			*errnum = errno;
			err = CPB_ERR_IO;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*text = buf;
	*len = n;
	buf = NULL;
out:
	if (buf != NULL)
		OPENSSL_cleanse(buf, n);
	free(buf);
	close(fd);
	return err;
}

/* Which file: CALPLANEBOT_CONFIG (must exist), else the first that exists. */
static const char *
cfg_pick_file(const struct cfg_src *src, struct cfg_report *r)
{
	const char *v = cfg_env_get(src->env, "CALPLANEBOT_CONFIG");
	struct stat st;

	if (v != NULL) {
		if (*v == '\0')
			cfg_report(r, true, "CALPLANEBOT_CONFIG",
			    "is empty (expected the path of a dotenv file)");
		return *v != '\0' ? v : NULL;
	}
	if (stat(CFG_FILE_LOCAL, &st) == 0)
		return CFG_FILE_LOCAL;
	if (stat(CFG_FILE_SYSTEM, &st) == 0)
		return CFG_FILE_SYSTEM;
	return NULL;
}

static enum cpb_err
cfg_load_file(struct cfg_src *src, struct cpb_config *cfg,
    struct cfg_report *r)
{
	const char *path = cfg_pick_file(src, r);
	char *text = NULL, errmsg[CPB_ERRMSG_MAX];
	size_t len = 0;
	int errnum;
	enum cpb_err err;

	if (path == NULL)
		return r->errors > 0 ? CPB_ERR_INVALID : CPB_OK;
	if ((cfg->source_file = cfg_strndup(path, strlen(path))) == NULL)
		return CPB_ERR_NOMEM;
	err = cfg_read_file(path, &text, &len, &errnum);
	if (err == CPB_ERR_IO)
		cfg_report(r, true, "CALPLANEBOT_CONFIG", "cannot read %s: %s "
		    "(expected a readable dotenv file)", path, strerror(errnum));
	else if (err == CPB_ERR_TOO_LARGE)
		cfg_report(r, true, "CALPLANEBOT_CONFIG", "%s is too large "
		    "(expected a dotenv file of at most %d bytes)", path,
		    CFG_FILE_MAX);
	if (err != CPB_OK)
		goto out;
	/* errmsg is "path:line: what", the form editors jump to. */
	err = config_parse_dotenv(text, len, path, &src->file, errmsg);
	if (err == CPB_ERR_INVALID && r->fp != NULL)
		fprintf(r->fp, "%s\n", errmsg);
out:
	if (text != NULL)
		OPENSSL_cleanse(text, len);
	free(text);
	return err == CPB_ERR_IO || err == CPB_ERR_TOO_LARGE ?
	    CPB_ERR_INVALID : err;
}

/* ------------------------------------------------------------ load */

/* Fills every field it can; `bad` gets a bit per field found invalid. */
static enum cpb_err
cfg_apply_fields(const struct cfg_src *src, struct cpb_config *cfg,
    struct cfg_report *r, uint64_t *bad)
{
	const struct cfg_field *f;
	const char *v;
	enum cpb_err err;
	size_t i;

	*bad = 0;
	for (i = 0; i < CFG_NFIELDS; i++) {
		f = &cfg_fields[i];
		if ((v = cfg_lookup(src, f->name)) == NULL) {
			if (f->flags & CFG_REQUIRED)
				cfg_bad(r, f, "is missing");
			if ((v = f->def) == NULL)
				continue;
		}
		if ((err = cfg_set(cfg, f, v, r)) == CPB_ERR_NOMEM)
			return err;
		if (err != CPB_OK)
			*bad |= UINT64_C(1) << i;
	}
	return CPB_OK;
}

static bool
cfg_was_bad(uint64_t bad, const char *name)
{
	const struct cfg_field *f = cfg_field(name, strlen(name));

	return f != NULL && (bad & (UINT64_C(1) << (f - cfg_fields))) != 0;
}

/*
 * Settings that depend on each other; skipped when one side was already
 * reported, so one mistake gives one line.
 */
static enum cpb_err
cfg_cross_check(struct cpb_config *cfg, struct cfg_report *r, uint64_t bad)
{
	bool creds_bad = cfg_was_bad(bad, "CALDAV_USERNAME") ||
	    cfg_was_bad(bad, "CALDAV_PASSWORD");

	if (!creds_bad && cfg->caldav_username != NULL &&
	    cfg->caldav_password == NULL)
		cfg_report(r, true, "CALDAV_PASSWORD", "is missing (expected "
		    "a password, since CALDAV_USERNAME is set)");
	if (!creds_bad && cfg->caldav_username == NULL &&
	    cfg->caldav_password != NULL)
		cfg_report(r, true, "CALDAV_USERNAME", "is missing (expected "
		    "a user name, since CALDAV_PASSWORD is set)");
	if (!cfg_was_bad(bad, "CALPLANEBOT_RETRY_MIN_MS") &&
	    !cfg_was_bad(bad, "CALPLANEBOT_RETRY_MAX_MS") &&
	    cfg->retry_max_ms < cfg->retry_min_ms)
		cfg_report(r, true, "CALPLANEBOT_RETRY_MAX_MS", "%ld is below "
		    "CALPLANEBOT_RETRY_MIN_MS (expected at least %ld)",
		    cfg->retry_max_ms, cfg->retry_min_ms);
	if (cfg->plane_web_url == NULL && cfg->plane_base_url != NULL &&
	    (cfg->plane_web_url = cfg_strndup(cfg->plane_base_url,
	    strlen(cfg->plane_base_url))) == NULL)
		return CPB_ERR_NOMEM;
	return CPB_OK;
}

enum cpb_err
config_load(struct cpb_config **out, char *const *environ_override,
    FILE *problems)
{
	struct cfg_report r = { problems, 0 };
	struct cfg_src src = { environ_override ? environ_override : environ,
	    NULL };
	struct cpb_config *cfg;
	uint64_t bad = 0;
	enum cpb_err err;

	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		err = CPB_ERR_NOMEM;
		goto out;
	}
	if ((err = cfg_load_file(&src, cfg, &r)) != CPB_OK)
		goto out;
	cfg_warn_unknown(&src, &r);
	if ((err = cfg_apply_fields(&src, cfg, &r, &bad)) != CPB_OK ||
	    (err = cfg_cross_check(cfg, &r, bad)) != CPB_OK)
		goto out;
	if (r.errors > 0)
		err = CPB_ERR_INVALID;
out:
	config_free_env(src.file);
	if (err == CPB_ERR_NOMEM)
		cfg_report(&r, true, "config", "out of memory");
	if (err != CPB_OK) {
		config_free(cfg);
		return err;
	}
	*out = cfg;
	return CPB_OK;
}

void
config_free(struct cpb_config *cfg)
{
	if (cfg == NULL)
		return;
	cfg_free_secret(cfg->plane_api_token);
	cfg_free_secret(cfg->plane_webhook_secret);
	cfg_free_secret(cfg->caldav_password);
	cfg_free_secret(cfg->admin_token);
	free(cfg->plane_base_url);
	free(cfg->plane_workspace_slug);
	free(cfg->plane_web_url);
	free(cfg->caldav_url);
	free(cfg->caldav_username);
	free(cfg->db_path);
	free(cfg->calendar_name_template);
	free(cfg->source_file);
	OPENSSL_cleanse(cfg, sizeof(*cfg));
	free(cfg);
}

void
config_redact_secrets(const struct cpb_config *cfg)
{
	size_t i;

	for (i = 0; i < sizeof(cfg_fields) / sizeof(cfg_fields[0]); i++)
		if (cfg_fields[i].kind == CFG_SECRET)
			log_add_secret(*(char *const *)(const void *)
			    ((const char *)cfg + cfg_fields[i].off));
}
