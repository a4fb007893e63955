/*
 * plane.c - Plane's REST API (see plane.h and plane-api.md).
 *
 * Every request goes through plane_get_json(): pace on the last rate-limit
 * headers, send with the retry policy (http.h), map the status to an error
 * that says what to fix, parse the JSON.  Listings walk the cursor
 * envelope one page at a time; each item is parsed, handed to the callback
 * and forgotten before the next page is fetched.
 *
 * The client owns its URL prefixes and the X-Api-Key header line (wiped on
 * free: it holds the token); it borrows the config and the http client.
 */
#include "plane.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define PLANE_PER_PAGE_MAX	1000	/* plane-api.md: more is a 400 */
#define PLANE_PAGE_MAX_BYTES	((size_t)64 * 1024 * 1024)
#define PLANE_MAX_PAGES		100000	/* 100 M items: a cursor loop, not data */
#define PLANE_CURSOR_MAX	128
#define PLANE_MAX_429		10	/* 429 waits per request before giving up */
#define PLANE_DETAIL_MAX	120	/* bytes of a server message we quote */
#define PLANE_DETAIL_BODY_MAX	65536	/* larger error bodies are not parsed */
#define PLANE_EXPAND		"state,labels,assignees,project"
/* Requests remembered for pacing: Plane allows 60 (300 for service
 * tokens) a minute; forgetting older ones only makes a wait longer. */
#define PLANE_SENT_MAX		512

struct plane_client {
	const struct cpb_config	*cfg;
	struct http_client	*http;
	char			*api;		/* "{base}/api/v1" */
	char			*ws;		/* "{api}/workspaces/{slug}" */
	char			*key_header;	/* "X-Api-Key: {token}": secret */
	struct http_retry_policy policy;
	long			 page_size;
	long			 remaining;	/* last X-RateLimit-Remaining; -1 */
	int64_t			 reset;		/* last X-RateLimit-Reset; -1 */
	int64_t			 answered_ms;	/* when that answer came */
	/* When we sent our last requests (unix ms), oldest at sent_head. */
	int64_t			 sent_ms[PLANE_SENT_MAX];
	size_t			 sent_head, sent_n;
};

/* One listing in progress: its route and where its items go. */
struct plane_listing {
	const char	*path;		/* full URL without the query */
	bool		 expand;
	const char	*what;		/* "projects", "issues of project …" */
	/* CPB_OK with *skipped set when the item itself does not parse. */
	enum cpb_err	(*deliver)(const cJSON *item, struct plane_listing *l,
			    bool *skipped, char *errmsg);
	plane_project_cb project_cb;
	plane_issue_cb	 issue_cb;
	void		*ctx;
	unsigned long	 skipped;	/* items that did not parse */
	char		 first_bad[CPB_ERRMSG_MAX];
};

/* ---- URLs --------------------------------------------------------------- */

static char *plane_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *
plane_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/*
 * The instance root as users paste it may end in '/' or '/api/v1'
 * (plane-api.md): strip both so we never build /api/v1/api/v1/.
 */
static size_t
plane_root_len(const char *base)
{
	static const char suffix[] = "/api/v1";
	size_t len = strlen(base), sl = sizeof(suffix) - 1;

	while (len > 0 && base[len - 1] == '/')
		len--;
	if (len >= sl && strncmp(base + len - sl, suffix, sl) == 0)
		len -= sl;
	while (len > 0 && base[len - 1] == '/')
		len--;
	return len;
}

static bool
plane_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* ---- the client ------------------------------------------------------- */

static enum cpb_err
plane_check_config(const struct cpb_config *cfg, char *errmsg)
{
	if (cfg->plane_base_url == NULL || plane_root_len(cfg->plane_base_url) == 0)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "PLANE_BASE_URL: not set");
	if (cfg->plane_api_token == NULL || cfg->plane_api_token[0] == '\0')
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "PLANE_API_TOKEN: not set");
	/* It becomes a header line: a CR or LF would inject headers. */
	if (plane_has_ctl(cfg->plane_api_token))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "PLANE_API_TOKEN: contains control characters");
	if (cfg->plane_workspace_slug == NULL ||
	    cfg->plane_workspace_slug[0] == '\0')
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "PLANE_WORKSPACE_SLUG: not set");
	return CPB_OK;
}

enum cpb_err
plane_client_new(struct plane_client **out, const struct cpb_config *cfg,
    struct http_client *http, char *errmsg)
{
	struct plane_client *c = NULL;
	char *slug = NULL;
	enum cpb_err err;

	*out = NULL;
	if (cfg == NULL || http == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "plane: no config");
	if ((err = plane_check_config(cfg, errmsg)) != CPB_OK)
		return err;
	err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "plane: out of memory");
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (slug = http_escape(cfg->plane_workspace_slug)) == NULL ||
	    (c->api = plane_printf("%.*s/api/v1",
	    (int)plane_root_len(cfg->plane_base_url), cfg->plane_base_url)) == NULL ||
	    (c->ws = plane_printf("%s/workspaces/%s", c->api, slug)) == NULL ||
	    (c->key_header = plane_printf("X-Api-Key: %s",
	    cfg->plane_api_token)) == NULL)
		goto out;
	c->cfg = cfg;
	c->http = http;
	c->policy.attempts = cfg->retry_attempts;
	c->policy.min_ms = cfg->retry_min_ms;
	c->policy.max_ms = cfg->retry_max_ms;
	c->policy.max_wait_seconds = cfg->rate_limit_max_wait_seconds;
	c->policy.max_429 = PLANE_MAX_429;
	c->page_size = PLANE_PER_PAGE_MAX;
	c->remaining = -1;
	c->reset = -1;
	*out = c;
	c = NULL;
	err = CPB_OK;
out:
	free(slug);
	plane_client_free(c);
	return err;
}

void
plane_client_free(struct plane_client *client)
{
	if (client == NULL)
		return;
	if (client->key_header != NULL) {
		/* volatile: the wipe of a buffer about to be freed must stay. */
		volatile char *p = client->key_header;

		while (*p != '\0')
			*p++ = '\0';
	}
	free(client->key_header);
	free(client->ws);
	free(client->api);
	free(client);
}

enum cpb_err
plane_client_set_page_size(struct plane_client *client, long per_page,
    char *errmsg)
{
	if (per_page < 1 || per_page > PLANE_PER_PAGE_MAX)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "plane: page size %ld outside 1..%d", per_page,
		    PLANE_PER_PAGE_MAX);
	client->page_size = per_page;
	return CPB_OK;
}

/* ---- pacing ----------------------------------------------------------- */

/* The window behind a Reset header: answer time + window, in seconds. */
static int64_t
plane_window_ms(int64_t reset_unix, int64_t answered_ms)
{
	return (reset_unix * 1000 - answered_ms + 999) / 1000 * 1000;
}

/*
 * What remains is spent at full speed (a full sync needs 1 + P requests
 * and every wait is wall time); see plane.h for the exhausted window.
 */
long
plane_pace_ms(long remaining, int64_t reset_unix, int64_t answered_ms,
    int64_t oldest_ms, int64_t now_ms)
{
	int64_t until, window_ms, wait;

	if (remaining != 0 || reset_unix < 0)
		return 0;
	if (reset_unix > now_ms / 1000 + HTTP_RETRY_AFTER_MAX)
		reset_unix = now_ms / 1000 + HTTP_RETRY_AFTER_MAX;
	until = reset_unix * 1000;
	window_ms = plane_window_ms(reset_unix, answered_ms);
	if (oldest_ms >= 0 && window_ms > 0 &&
	    oldest_ms + window_ms + PLANE_PACE_MARGIN_MS < until)
		until = oldest_ms + window_ms + PLANE_PACE_MARGIN_MS;
	wait = until - now_ms;
	return wait > 0 ? (long)wait : 0;
}

/* The send time of our oldest request inside a window ending now. */
static int64_t
plane_oldest_in_window(const struct plane_client *c, int64_t now_ms)
{
	int64_t window_ms = plane_window_ms(c->reset, c->answered_ms);
	size_t i;

	for (i = 0; i < c->sent_n; i++) {
		int64_t t = c->sent_ms[(c->sent_head + i) % PLANE_SENT_MAX];

		if (t > now_ms - window_ms)
			return t;
	}
	return -1;
}

static void
plane_pace(struct plane_client *c)
{
	int64_t now = clock_unix_ms();
	long ms = plane_pace_ms(c->remaining, c->reset, c->answered_ms,
	    plane_oldest_in_window(c, now), now);
	long max_ms = c->policy.max_wait_seconds > 0 ?
	    c->policy.max_wait_seconds * 1000 : 0;

	http_sleep_ms(ms > max_ms ? max_ms : ms);
	if (c->sent_n == PLANE_SENT_MAX) {
		c->sent_head = (c->sent_head + 1) % PLANE_SENT_MAX;
		c->sent_n--;
	}
	c->sent_ms[(c->sent_head + c->sent_n++) % PLANE_SENT_MAX] =
	    clock_unix_ms();
}

/* ---- one request ------------------------------------------------------ */

/*
 * The server's own words for an error ("detail", "error" or
 * "error_message"), bounded and stripped of control characters so the
 * message stays one line.
 */
static void
plane_body_detail(const struct http_response *r, char *out, size_t size)
{
	const char *keys[] = { "detail", "error", "error_message" };
	const cJSON *item = NULL;
	cJSON *root = NULL;
	size_t i, n;

	snprintf(out, size, "no detail");
	if (r->body == NULL || r->body_len > PLANE_DETAIL_BODY_MAX ||
	    (root = cJSON_ParseWithLength(r->body, r->body_len)) == NULL)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && item == NULL; i++) {
		item = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
		if (!cJSON_IsString(item) || item->valuestring == NULL)
			item = NULL;
	}
	if (item != NULL) {
		n = strlen(item->valuestring);
		if (n > PLANE_DETAIL_MAX)
			n = PLANE_DETAIL_MAX;
		/* Do not cut a UTF-8 sequence in half. */
		while (n > 0 && ((unsigned char)item->valuestring[n] & 0xc0) == 0x80)
			n--;
		if (n >= size)
			n = size - 1;
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)item->valuestring[i];

			out[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
		}
		out[n] = '\0';
	}
	cJSON_Delete(root);
}

static enum cpb_err
plane_check_status(const struct plane_client *c, const struct http_response *r,
    const char *what, char *errmsg)
{
	char detail[PLANE_DETAIL_MAX + 1];
	long s = r->status;

	if (s >= 200 && s <= 299)
		return CPB_OK;
	plane_body_detail(r, detail, sizeof(detail));
	/* The server's words may echo our key back: never repeat it. */
	log_redact(detail, sizeof(detail));
	if (s == 401)
		return cpb_seterr(errmsg, CPB_ERR_AUTH, "Plane rejected the "
		    "request (401): no API key sent — set PLANE_API_TOKEN");
	if (s == 403)
		return cpb_seterr(errmsg, CPB_ERR_AUTH, "Plane API token invalid "
		    "or lacking access to workspace '%.64s' (403: %s) — check "
		    "PLANE_API_TOKEN and PLANE_WORKSPACE_SLUG",
		    c->cfg->plane_workspace_slug, detail);
	if (s == 404)
		return cpb_seterr(errmsg, CPB_ERR_NOT_FOUND,
		    "Plane: %s not found (404: %s)", what, detail);
	if (s == 429)
		return cpb_seterr(errmsg, CPB_ERR_RATE_LIMITED,
		    "Plane: %s still rate limited (429) after %ld waits", what,
		    c->policy.max_429);
	if (s >= 300 && s <= 399) {
		char where[81];

		snprintf(where, sizeof(where), "%s", r->location != NULL ?
		    r->location : "nowhere");
		log_redact(where, sizeof(where));
		return cpb_seterr(errmsg, CPB_ERR_HTTP, "Plane: %s answered %ld, "
		    "a redirect to %s — check PLANE_BASE_URL", what, s, where);
	}
	if (s >= 500)
		return cpb_seterr(errmsg, CPB_ERR_HTTP, "Plane: %s failed with "
		    "%ld after %ld attempts (%s)", what, s,
		    c->policy.attempts > 0 ? c->policy.attempts : 1L, detail);
	return cpb_seterr(errmsg, CPB_ERR_HTTP, "Plane: %s failed with %ld (%s)",
	    what, s, detail);
}

/*
 * cJSON bounds its own recursion (CJSON_NESTING_LIMIT, 1000 levels), so a
 * hostile depth fails the parse instead of the stack; the size is capped
 * here whatever the http client allows.
 */
static enum cpb_err
plane_parse_json(const struct http_response *r, const char *what,
    cJSON **out, char *errmsg)
{
	if (r->body_len > PLANE_PAGE_MAX_BYTES)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "Plane: %s: response of %zu bytes is over %zu", what,
		    r->body_len, PLANE_PAGE_MAX_BYTES);
	if ((*out = cJSON_ParseWithLength(r->body, r->body_len)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "Plane: %s: the response is not JSON (Content-Type %.60s)",
		    what, r->content_type != NULL ? r->content_type : "none");
	return CPB_OK;
}

static enum cpb_err
plane_get_json(struct plane_client *c, const char *url, const char *what,
    cJSON **out, char *errmsg)
{
	const char *headers[] = { c->key_header, "Accept: application/json",
	    NULL };
	struct http_request req = { .method = "GET", .url = url,
	    .headers = headers };
	struct http_response resp;
	char why[CPB_ERRMSG_MAX];
	enum cpb_err err;

	*out = NULL;
	plane_pace(c);
	err = http_perform_retry(c->http, &req, &c->policy, &resp, why);
	if (err != CPB_OK) {
		cpb_seterr(errmsg, err, "Plane%s (%s): %s",
		    err == CPB_ERR_NETWORK ? " unreachable" : "", what, why);
		goto out;
	}
	/* A 429's answer has no rate headers: "unknown" is the truth then. */
	c->remaining = resp.ratelimit_remaining;
	c->reset = resp.ratelimit_reset;
	c->answered_ms = clock_unix_ms();
	if ((err = plane_check_status(c, &resp, what, errmsg)) != CPB_OK)
		goto out;
	err = plane_parse_json(&resp, what, out, errmsg);
out:
	http_response_free(&resp);
	return err;
}

/* ---- pages ------------------------------------------------------------ */

enum cpb_err
plane_parse_page(const cJSON *root, const cJSON **results, bool *has_next,
    const char **next_cursor, char *errmsg)
{
	const cJSON *res, *more, *cur;

	*results = NULL;
	*has_next = false;
	*next_cursor = NULL;
	if (!cJSON_IsObject(root))
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "Plane page: not a JSON object");
	res = cJSON_GetObjectItemCaseSensitive(root, "results");
	more = cJSON_GetObjectItemCaseSensitive(root, "next_page_results");
	cur = cJSON_GetObjectItemCaseSensitive(root, "next_cursor");
	if (!cJSON_IsArray(res))
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "Plane page: \"results\" is not an array");
	/* Required: guessing "no more pages" would make a cut list look whole. */
	if (!cJSON_IsBool(more))
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "Plane page: \"next_page_results\" is not a boolean");
	if (cJSON_IsTrue(more)) {
		if (!cJSON_IsString(cur) || cur->valuestring == NULL ||
		    cur->valuestring[0] == '\0')
			return cpb_seterr(errmsg, CPB_ERR_PARSE, "Plane page: more "
			    "results announced but no \"next_cursor\"");
		if (strlen(cur->valuestring) > PLANE_CURSOR_MAX)
			return cpb_seterr(errmsg, CPB_ERR_PARSE,
			    "Plane page: \"next_cursor\" longer than %d bytes",
			    PLANE_CURSOR_MAX);
		*next_cursor = cur->valuestring;
		*has_next = true;
	}
	*results = res;
	return CPB_OK;
}

/* Plane's cursors are "per_page:page:is_prev"; anything else is escaped. */
static char *
plane_page_url(const struct plane_client *c, const struct plane_listing *l,
    const char *cursor)
{
	char *esc = NULL, *url;

	if (cursor != NULL && strspn(cursor, "0123456789:-.") != strlen(cursor) &&
	    (cursor = esc = http_escape(cursor)) == NULL)
		return NULL;
	url = plane_printf("%s?per_page=%ld%s%s%s", l->path, c->page_size,
	    l->expand ? "&expand=" PLANE_EXPAND : "",
	    cursor != NULL ? "&cursor=" : "", cursor != NULL ? cursor : "");
	free(esc);
	return url;
}

/* Note an item that did not parse; the first one's reason is kept. */
static void
plane_note_skip(struct plane_listing *l, const cJSON *item, const char *why)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");

	if (l->skipped++ > 0)
		return;
	snprintf(l->first_bad, sizeof(l->first_bad), "%.40s: %s",
	    cJSON_IsString(id) && id->valuestring != NULL ? id->valuestring :
	    "(no id)", why);
}

/*
 * Hand one page's items over.  An item that does not parse is skipped and
 * remembered (the listing ends CPB_ERR_INCOMPLETE); the others still go
 * through, so one odd issue does not hold back the rest of the project.
 */
static enum cpb_err
plane_deliver_page(struct plane_listing *l, const cJSON *results,
    char *errmsg)
{
	const cJSON *item;
	enum cpb_err err;
	bool skipped;

	cJSON_ArrayForEach(item, results) {
		skipped = false;
		if ((err = l->deliver(item, l, &skipped, errmsg)) != CPB_OK)
			return err;
		if (skipped)
			plane_note_skip(l, item, errmsg);
	}
	return CPB_OK;
}

/* What the listing says when a callback returns an error. */
static enum cpb_err
plane_stopped(const struct plane_listing *l, enum cpb_err err, char *errmsg)
{
	return cpb_seterr(errmsg, err, "Plane: listing of %s stopped by the "
	    "caller (%s)", l->what, cpb_strerror(err));
}

/*
 * The cursors a listing has followed, as 64-bit FNV-1a hashes: Plane's
 * cursors only move forward, so any repeat (not only the last one: a
 * server alternating two cursors would otherwise be followed for
 * PLANE_MAX_PAGES requests) is a loop.
 */
struct plane_cursors {
	uint64_t	*seen;
	size_t		 n, cap;
};

static uint64_t
plane_cursor_hash(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* False when the cursor was followed before (or memory ran out: *nomem). */
static bool
plane_cursor_new(struct plane_cursors *cs, const char *cursor, bool *nomem)
{
	uint64_t h = plane_cursor_hash(cursor), *grown;
	size_t i;

	*nomem = false;
	for (i = 0; i < cs->n; i++)
		if (cs->seen[i] == h)
			return false;
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 64;
		if ((grown = realloc(cs->seen, cs->cap * sizeof(*grown))) ==
		    NULL) {
			*nomem = true;
			return false;
		}
		cs->seen = grown;
	}
	cs->seen[cs->n++] = h;
	return true;
}

/* Whether to fetch another page; an error when the envelope makes no sense. */
static enum cpb_err
plane_next_page(const struct plane_listing *l, const cJSON *results,
    const char *next, struct plane_cursors *cs, long page, char *errmsg)
{
	bool nomem = false;

	if (cJSON_GetArraySize(results) == 0)
		return cpb_seterr(errmsg, CPB_ERR_INCOMPLETE, "Plane: %s: page %ld "
		    "is empty but announces more; listing cut short", l->what,
		    page);
	if (!plane_cursor_new(cs, next, &nomem))
		return nomem ? cpb_seterr(errmsg, CPB_ERR_NOMEM,
		    "out of memory") : cpb_seterr(errmsg, CPB_ERR_INCOMPLETE,
		    "Plane: %s: cursor '%.40s' repeats; listing cut short",
		    l->what, next);
	if (page >= PLANE_MAX_PAGES)
		return cpb_seterr(errmsg, CPB_ERR_INCOMPLETE, "Plane: %s: more "
		    "than %d pages; listing cut short", l->what, PLANE_MAX_PAGES);
	return CPB_OK;
}

static enum cpb_err
plane_list(struct plane_client *c, struct plane_listing *l, char *errmsg)
{
	cJSON *root = NULL;
	const cJSON *results;
	const char *next;
	char *cursor = NULL, *url = NULL, what[160];
	struct plane_cursors cs = { NULL, 0, 0 };
	bool more = true;
	enum cpb_err err = CPB_OK;
	long page;

	for (page = 1; more; page++) {
		free(url);
		if ((url = plane_page_url(c, l, cursor)) == NULL) {
			err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
			goto out;
		}
		snprintf(what, sizeof(what), "%s (page %ld)", l->what, page);
		if ((err = plane_get_json(c, url, what, &root, errmsg)) != CPB_OK ||
		    (err = plane_parse_page(root, &results, &more, &next,
		    errmsg)) != CPB_OK ||
		    (err = plane_deliver_page(l, results, errmsg)) != CPB_OK)
			goto out;
		if (more) {
			if ((err = plane_next_page(l, results, next, &cs, page,
			    errmsg)) != CPB_OK)
				goto out;
			free(cursor);
			if ((cursor = plane_printf("%s", next)) == NULL) {
				err = cpb_seterr(errmsg, CPB_ERR_NOMEM,
				    "out of memory");
				goto out;
			}
		}
		cJSON_Delete(root);
		root = NULL;
	}
	if (l->skipped > 0)
		err = cpb_seterr(errmsg, CPB_ERR_INCOMPLETE, "Plane: %lu of %s "
		    "could not be read, first %s", l->skipped, l->what,
		    l->first_bad);
out:
	cJSON_Delete(root);
	free(cs.seen);
	free(cursor);
	free(url);
	return err;
}

/* ---- projects --------------------------------------------------------- */

/* A required string member, bounded; ids are held to UUID characters. */
static enum cpb_err
plane_project_field(const cJSON *obj, const char *key, size_t max,
    bool id_chars, char **out, char *errmsg)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	size_t len;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "project.%s: not a string", key);
	len = strlen(item->valuestring);
	if (len == 0 || len > max)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "project.%s: empty or longer than %zu bytes", key, max);
	if (id_chars && strspn(item->valuestring, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "project.%s: unexpected characters", key);
	if (!id_chars && (plane_has_ctl(item->valuestring) ||
	    !plane_utf8_valid(item->valuestring, len)))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "project.%s: control characters or invalid UTF-8", key);
	if ((*out = plane_printf("%s", item->valuestring)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
	return CPB_OK;
}

enum cpb_err
plane_project_from_json(const cJSON *obj, struct plane_project *out,
    char *errmsg)
{
	enum cpb_err err;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(obj)) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "project: not a JSON object");
		goto out;
	}
	if ((err = plane_project_field(obj, "id", PLANE_ID_MAX - 1, true,
	    &out->id, errmsg)) != CPB_OK ||
	    (err = plane_project_field(obj, "identifier", PLANE_ID_MAX - 1, true,
	    &out->identifier, errmsg)) != CPB_OK ||
	    (err = plane_project_field(obj, "name", PLANE_NAME_MAX, false,
	    &out->name, errmsg)) != CPB_OK)
		goto out;
out:
	if (err != CPB_OK)
		plane_project_free(out);
	return err;
}

void
plane_project_free(struct plane_project *project)
{
	if (project == NULL)
		return;
	free(project->id);
	free(project->identifier);
	free(project->name);
	memset(project, 0, sizeof(*project));
}

static enum cpb_err
plane_deliver_project(const cJSON *item, struct plane_listing *l,
    bool *skipped, char *errmsg)
{
	struct plane_project p;
	enum cpb_err err;

	/* Plane lists public projects the user has not joined; their issues
	   answer 403, so they are not the sync's to mirror. */
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(item, "is_member")))
		return CPB_OK;
	if ((err = plane_project_from_json(item, &p, errmsg)) != CPB_OK) {
		*skipped = err != CPB_ERR_NOMEM;
		return *skipped ? CPB_OK : err;
	}
	if ((err = l->project_cb(&p, l->ctx)) != CPB_OK)
		err = plane_stopped(l, err, errmsg);
	plane_project_free(&p);
	return err;
}

enum cpb_err
plane_list_projects(struct plane_client *client, plane_project_cb cb,
    void *ctx, char *errmsg)
{
	struct plane_listing l = { .what = "projects",
	    .deliver = plane_deliver_project, .project_cb = cb, .ctx = ctx };
	char *path;
	enum cpb_err err;

	if ((path = plane_printf("%s/projects/", client->ws)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
	l.path = path;
	err = plane_list(client, &l, errmsg);
	free(path);
	return err;
}

enum cpb_err
plane_get_project(struct plane_client *client, const char *project_id,
    struct plane_project *out, char *errmsg)
{
	char *id = NULL, *url = NULL, what[96];
	cJSON *root = NULL;
	enum cpb_err err;

	memset(out, 0, sizeof(*out));
	if ((id = http_escape(project_id)) == NULL ||
	    (url = plane_printf("%s/projects/%s/", client->ws, id)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(what, sizeof(what), "project %.64s", project_id);
	if ((err = plane_get_json(client, url, what, &root, errmsg)) != CPB_OK)
		goto out;
	err = plane_project_from_json(root, out, errmsg);
out:
	cJSON_Delete(root);
	free(url);
	free(id);
	return err;
}

/* ---- issues ----------------------------------------------------------- */

static enum cpb_err
plane_deliver_issue(const cJSON *item, struct plane_listing *l,
    bool *skipped, char *errmsg)
{
	struct plane_issue issue;
	enum cpb_err err;

	if ((err = plane_issue_from_json(item, &issue, errmsg)) != CPB_OK) {
		*skipped = err != CPB_ERR_NOMEM;
		return *skipped ? CPB_OK : err;
	}
	if ((err = l->issue_cb(&issue, l->ctx)) != CPB_OK)
		err = plane_stopped(l, err, errmsg);
	plane_issue_free(&issue);
	return err;
}

enum cpb_err
plane_list_issues(struct plane_client *client, const char *project_id,
    plane_issue_cb cb, void *ctx, char *errmsg)
{
	struct plane_listing l = { .expand = true,
	    .deliver = plane_deliver_issue, .issue_cb = cb, .ctx = ctx };
	char *id = NULL, *path = NULL, what[96];
	enum cpb_err err;

	if ((id = http_escape(project_id)) == NULL ||
	    (path = plane_printf("%s/projects/%s/issues/", client->ws,
	    id)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(what, sizeof(what), "issues of project %.64s", project_id);
	l.path = path;
	l.what = what;
	err = plane_list(client, &l, errmsg);
out:
	free(path);
	free(id);
	return err;
}

enum cpb_err
plane_get_issue(struct plane_client *client, const char *project_id,
    const char *issue_id, struct plane_issue *out, char *errmsg)
{
	char *pid = NULL, *iid = NULL, *url = NULL, what[96];
	cJSON *root = NULL;
	enum cpb_err err;

	memset(out, 0, sizeof(*out));
	if ((pid = http_escape(project_id)) == NULL ||
	    (iid = http_escape(issue_id)) == NULL ||
	    (url = plane_printf("%s/projects/%s/issues/%s/?expand=" PLANE_EXPAND,
	    client->ws, pid, iid)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(what, sizeof(what), "issue %.64s", issue_id);
	if ((err = plane_get_json(client, url, what, &root, errmsg)) != CPB_OK)
		goto out;
	err = plane_issue_from_json(root, out, errmsg);
out:
	cJSON_Delete(root);
	free(url);
	free(iid);
	free(pid);
	return err;
}

/* ---- who am I --------------------------------------------------------- */

enum cpb_err
plane_whoami(struct plane_client *client, char *name, size_t name_size,
    char *errmsg)
{
	const cJSON *dn;
	cJSON *root = NULL;
	char *url;
	enum cpb_err err;

	if (name_size > 0)
		name[0] = '\0';
	if ((url = plane_printf("%s/users/me/", client->api)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
	if ((err = plane_get_json(client, url, "users/me", &root, errmsg)) !=
	    CPB_OK)
		goto out;
	dn = cJSON_GetObjectItemCaseSensitive(root, "display_name");
	if (!cJSON_IsString(dn) || dn->valuestring == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "Plane: users/me has no display_name");
		goto out;
	}
	if (name_size > 0)
		snprintf(name, name_size, "%s", dn->valuestring);
out:
	cJSON_Delete(root);
	free(url);
	return err;
}
