/*
 * router.c - see router.h.  Handlers are thin: they call the library
 * (webhook, health, store) and format its answer; no sync rule lives here.
 *
 * Store failures are logged with their detail and answered with a fixed
 * message: the detail may name files of this host.
 */
#include "router.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "health.h"
#include "log.h"
#include "spawn.h"
#include "webhook.h"

/* GET /api/v1/dead-letters?limit=N */
#define ROUTER_DEAD_LIMIT_DEFAULT	100
#define ROUTER_DEAD_LIMIT_MAX		STORE_DEAD_MAX

typedef void (*route_fn)(const struct fcgi_app *app,
    const struct fcgi_request *req, const struct route_match *m,
    struct fcgi_response *resp);

struct route_method {
	const char *method;
	route_fn fn;
	bool	 body;			/* reads the request body */
};

struct route {
	const char *pattern;		/* "{id}" matches one decimal segment */
	const char *allow;		/* the Allow header of a 405 */
	struct route_method methods[3];
};

static void route_webhook(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_liveness(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_health(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_status(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_metrics(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_sync(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_dead_list(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_dead_retry(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);
static void route_dead_drop(const struct fcgi_app *, const struct fcgi_request *,
    const struct route_match *, struct fcgi_response *);

#define GET(fn)		{ "GET", fn, false }, { "HEAD", fn, false }

static const struct route routes[] = {
	{ "/webhooks/plane", "POST", { { "POST", route_webhook, true } } },
	{ "/health", "GET, HEAD", { GET(route_liveness) } },
	{ "/api/v1/health", "GET, HEAD", { GET(route_health) } },
	{ "/api/v1/status", "GET, HEAD", { GET(route_status) } },
	{ "/api/v1/metrics", "GET, HEAD", { GET(route_metrics) } },
	{ "/api/v1/sync", "POST", { { "POST", route_sync, false } } },
	{ "/api/v1/dead-letters", "GET, HEAD", { GET(route_dead_list) } },
	{ "/api/v1/dead-letters/{id}", "DELETE",
	    { { "DELETE", route_dead_drop, false } } },
	{ "/api/v1/dead-letters/{id}/retry", "POST",
	    { { "POST", route_dead_retry, false } } },
};

#define ROUTES_N	(sizeof(routes) / sizeof(routes[0]))
#define METHODS_N	(sizeof(routes[0].methods) / sizeof(routes[0].methods[0]))

/* Segment by segment; "{id}" takes a positive decimal number. */
static bool
pattern_match(const char *pattern, const char *path, int64_t *id)
{
	const char *p = pattern, *s = path;
	char seg[24];
	long long v;
	size_t n;

	while (*p != '\0') {
		if (strncmp(p, "{id}", 4) == 0) {
			n = strcspn(s, "/");
			if (n == 0 || n >= sizeof(seg))
				return false;
			memcpy(seg, s, n);
			seg[n] = '\0';
			if (!request_parse_num(seg, 1, INT64_MAX, &v))
				return false;
			*id = (int64_t)v;
			p += 4;
			s += n;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *s == '\0';
}

bool
router_match(const struct fcgi_request *req, struct route_match *m,
    struct fcgi_response *resp)
{
	size_t i, j;

	memset(m, 0, sizeof(*m));
	for (i = 0; !req->path_too_long && i < ROUTES_N; i++) {
		if (!pattern_match(routes[i].pattern, req->path, &m->id))
			continue;
		for (j = 0; j < METHODS_N && routes[i].methods[j].method; j++)
			if (strcmp(routes[i].methods[j].method, req->method) == 0) {
				m->route = &routes[i];
				m->handler = (int)j;
				return true;
			}
		response_error(resp, 405, "METHOD_NOT_ALLOWED",
		    "%s is not allowed here (allowed: %s)", req->method,
		    routes[i].allow);
		resp->allow = routes[i].allow;
		return false;
	}
	response_error(resp, 404, "NOT_FOUND", "no such route");
	return false;
}

bool
router_wants_body(const struct route_match *m)
{
	return m->route->methods[m->handler].body;
}

void
router_dispatch(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	m->route->methods[m->handler].fn(app, req, m, resp);
}

/* ---- helpers ----------------------------------------------------------- */

bool
router_secret_equal(const char *given, size_t given_len, const char *expected)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
	bool same;

	SHA256((const unsigned char *)given, given_len, a);
	SHA256((const unsigned char *)expected, strlen(expected), b);
	same = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return same;
}

/* The store failed: log why, answer without the detail. */
static void
store_failed(struct fcgi_response *resp, const char *what, enum cpb_err err,
    const char *errmsg)
{
	log_kv(LOG_ERROR, "op", what, "error", errmsg, NULL);
	if (err == CPB_ERR_NOMEM)
		response_error(resp, 500, "INTERNAL_ERROR", "out of memory");
	else
		response_error(resp, 503, "STORE_UNAVAILABLE",
		    "the state store is unavailable; try again later");
}

static void
utc_now(char *buf, size_t size, time_t now)
{
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "1970-01-01T00:00:00Z");
}

static void
health_self_now(const struct fcgi_app *app, struct health_self *self)
{
	self->version = CPB_VERSION;
	self->started_at = app->started_at;
	self->now = time(NULL);
}

/*
 * Admin routes: a configured token, presented as "Bearer <token>"
 * (RFC 6750 section 2.1).  False with the answer in `resp` otherwise.
 */
static bool
admin_ok(const struct fcgi_app *app, const struct fcgi_request *req,
    struct fcgi_response *resp, const char *what)
{
	const char *auth = req->authorization, *token;
	size_t len;

	if (app->cfg->admin_token == NULL || app->cfg->admin_token[0] == '\0') {
		response_error(resp, 503, "ADMIN_DISABLED", "admin routes are "
		    "disabled: no CALPLANEBOT_ADMIN_TOKEN is configured");
		return false;
	}
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		response_error(resp, 401, "UNAUTHORIZED",
		    "an admin token is required (Authorization: Bearer ...)");
		resp->www_authenticate = "Bearer realm=\"calplanebot\"";
		log_kv(LOG_WARNING, "op", what, "auth", "missing", NULL);
		return false;
	}
	token = auth + 7;
	token += strspn(token, " ");
	len = strlen(token);
	while (len > 0 && token[len - 1] == ' ')
		len--;
	if (!router_secret_equal(token, len, app->cfg->admin_token)) {
		response_error(resp, 401, "UNAUTHORIZED", "invalid admin token");
		resp->www_authenticate =
		    "Bearer realm=\"calplanebot\", error=\"invalid_token\"";
		log_kv(LOG_WARNING, "op", what, "auth", "invalid", "remote",
		    req->remote_addr ? req->remote_addr : "-", NULL);
		return false;
	}
	return true;
}

/* {"status":…, "<key>":…} for the simple answers. */
static cJSON *
doc_status(const char *status)
{
	cJSON *doc = cJSON_CreateObject();

	if (doc != NULL && cJSON_AddStringToObject(doc, "status", status) == NULL) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

static void
doc_add_string(cJSON *doc, const char *key, const char *value)
{
	if (doc != NULL && value != NULL && *value != '\0')
		cJSON_AddStringToObject(doc, key, value);
}

/* ---- routes ------------------------------------------------------------ */

static void
route_webhook(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	struct webhook_request wr = {
		.body = req->body,
		.body_len = req->body_len,
		.signature = req->signature,
		.delivery = req->delivery,
		.event = req->event,
		.content_type = req->content_type,
	};
	struct webhook_result res;
	cJSON *doc = NULL;
	const char *status;

	(void)m;
	memset(&res, 0, sizeof(res));
	webhook_receive(app->cfg, app->store, &wr, &res);
	switch (res.outcome) {
	case WEBHOOK_QUEUED:
		status = "queued";
		break;
	case WEBHOOK_DUPLICATE:
		status = "duplicate";
		break;
	case WEBHOOK_IGNORED:
		status = "ignored";
		break;
	default:
		response_error(resp, res.http_status >= 400 ? res.http_status :
		    500, res.error_code ? res.error_code : "INTERNAL_ERROR",
		    "%s", res.message[0] ? res.message : "webhook refused");
		return;
	}
	doc = doc_status(status);
	doc_add_string(doc, "delivery", res.delivery);
	doc_add_string(doc, "event", res.event);
	doc_add_string(doc, strcmp(res.event, "issue") == 0 ? "issue_id" :
	    strcmp(res.event, "project") == 0 ? "project_id" : "id",
	    res.entity_id);
	response_json(resp, 202, doc);
	/* Plane has its answer only after the item is stored: now apply it. */
	resp->drain_after = res.outcome == WEBHOOK_QUEUED && resp->status == 202;
}

static void
route_liveness(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	char ts[32];
	cJSON *doc = doc_status("healthy");

	(void)app;
	(void)req;
	(void)m;
	utc_now(ts, sizeof(ts), time(NULL));
	doc_add_string(doc, "timestamp", ts);
	doc_add_string(doc, "version", CPB_VERSION);
	response_json(resp, 200, doc);
}

/* A JSON document built from the store alone (health.h). */
typedef enum cpb_err (*store_doc_fn)(struct store *store,
    const struct cpb_config *cfg, const struct health_self *self, char **json,
    char *errmsg);

static void
route_store_doc(const struct fcgi_app *app, store_doc_fn build,
    const char *what, struct fcgi_response *resp)
{
	struct health_self self;
	char errmsg[CPB_ERRMSG_MAX] = "", *json = NULL;
	enum cpb_err err;

	health_self_now(app, &self);
	if ((err = build(app->store, app->cfg, &self, &json, errmsg)) != CPB_OK) {
		store_failed(resp, what, err, errmsg);
		return;
	}
	response_take(resp, 200, RESPONSE_JSON, json);
}

void
doc_cache_clear(struct doc_cache *cache)
{
	free(cache->json);
	memset(cache, 0, sizeof(*cache));
}

static bool
doc_cache_fresh(const struct doc_cache *cache, const struct store_mark *mark,
    time_t now)
{
	return cache->json != NULL && cache->second == now &&
	    cache->mark.others == mark->others &&
	    cache->mark.ours == mark->ours;
}

static void
route_health(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	struct doc_cache *cache = app->health_cache;
	struct store_mark mark;
	char errmsg[CPB_ERRMSG_MAX] = "", *copy;
	time_t now = time(NULL);

	(void)req;
	(void)m;
	/* No mark, no reuse: the build reports the store's trouble. */
	if (cache == NULL || store_mark(app->store, &mark, errmsg) != CPB_OK) {
		route_store_doc(app, health_json, "health", resp);
		return;
	}
	if (!doc_cache_fresh(cache, &mark, now)) {
		doc_cache_clear(cache);
		route_store_doc(app, health_json, "health", resp);
		if (resp->status != 200 || resp->body == NULL ||
		    (cache->json = strdup(resp->body)) == NULL)
			return;
		cache->mark = mark;
		cache->second = now;
		return;
	}
	if ((copy = strdup(cache->json)) == NULL) {
		response_error(resp, 500, "INTERNAL_ERROR", "out of memory");
		return;
	}
	response_take(resp, 200, RESPONSE_JSON, copy);
}

static void
route_status(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	(void)req;
	(void)m;
	route_store_doc(app, status_json, "status", resp);
}

static void
route_metrics(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	struct health_self self;
	char errmsg[CPB_ERRMSG_MAX] = "", *text = NULL;
	enum cpb_err err;

	(void)req;
	(void)m;
	health_self_now(app, &self);
	if ((err = metrics_text(app->store, &self, &text, errmsg)) != CPB_OK) {
		store_failed(resp, "metrics", err, errmsg);
		return;
	}
	response_take(resp, 200, RESPONSE_METRICS, text);
}

/* "sync-<unix time>-<8 random hex>": unique enough to find in the logs. */
static void
sync_id_new(char *out, size_t size)
{
	unsigned char r[4] = { 0 };

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	snprintf(out, size, "sync-%lld-%02x%02x%02x%02x", (long long)time(NULL),
	    r[0], r[1], r[2], r[3]);
}

static void
route_sync(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	char errmsg[CPB_ERRMSG_MAX] = "", id[64], pidbuf[24];
	char *argv[] = { (char *)app->sync_bin, (char *)"sync", NULL };
	cJSON *doc;
	pid_t pid;
	int fd = -1;
	enum cpb_err err;

	(void)m;
	if (!admin_ok(app, req, resp, "admin_sync"))
		return;
	/*
	 * The sync takes the same lock itself; trying it here only lets us
	 * answer 409 instead of starting a process that exits with 75.  A
	 * sync that starts between this check and the spawn wins the race
	 * and ours exits 75: harmless.
	 */
	err = store_sync_lock(app->cfg->db_path, &fd, errmsg);
	if (err == CPB_ERR_BUSY) {
		response_error(resp, 409, "SYNC_IN_PROGRESS",
		    "a full sync is already running");
		return;
	}
	if (err != CPB_OK) {
		store_failed(resp, "admin_sync", err, errmsg);
		return;
	}
	store_sync_unlock(fd);
	if ((err = spawn_detached(argv, app->sync_log, &pid, errmsg)) != CPB_OK) {
		log_kv(LOG_ERROR, "op", "admin_sync", "error", errmsg, NULL);
		response_error(resp, 503, "SYNC_UNAVAILABLE",
		    "the sync program could not be started");
		return;
	}
	sync_id_new(id, sizeof(id));
	snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)pid);
	log_kv(LOG_INFO, "op", "admin_sync", "sync_id", id, "pid", pidbuf, NULL);
	doc = doc_status("accepted");
	doc_add_string(doc, "sync_id", id);
	response_json(resp, 202, doc);
}

static void
route_dead_list(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	char errmsg[CPB_ERRMSG_MAX] = "", val[16], *json = NULL;
	long long limit = ROUTER_DEAD_LIMIT_DEFAULT;
	enum request_query q;
	cJSON *doc = NULL, *list = NULL;
	long total = 0;
	enum cpb_err err;

	(void)m;
	if (!admin_ok(app, req, resp, "admin_dead_letters"))
		return;
	q = request_query_get(req->query, "limit", val, sizeof(val));
	if (q == QUERY_TOO_LONG || (q == QUERY_FOUND &&
	    !request_parse_num(val, 1, ROUTER_DEAD_LIMIT_MAX, &limit))) {
		response_error(resp, 400, "INVALID_PARAMETER",
		    "limit must be a number from 1 to %d", ROUTER_DEAD_LIMIT_MAX);
		return;
	}
	if ((err = store_dead_json(app->store, (int)limit, &json, errmsg)) !=
	    CPB_OK || (err = store_dead_count(app->store, &total, errmsg)) !=
	    CPB_OK) {
		store_failed(resp, "admin_dead_letters", err, errmsg);
		goto out;
	}
	if ((list = cJSON_Parse(json)) == NULL || !cJSON_IsArray(list)) {
		log_kv(LOG_ERROR, "op", "admin_dead_letters", "error",
		    "the store returned no JSON array", NULL);
		response_error(resp, 500, "INTERNAL_ERROR",
		    "the dead letters could not be read");
		goto out;
	}
	if ((doc = doc_status("ok")) == NULL ||
	    cJSON_AddNumberToObject(doc, "total", (double)total) == NULL ||
	    !cJSON_AddItemToObject(doc, "dead_letters", list)) {
		response_error(resp, 500, "INTERNAL_ERROR", "out of memory");
		goto out;
	}
	list = NULL;
	response_json(resp, 200, doc);
	doc = NULL;
out:
	cJSON_Delete(list);
	cJSON_Delete(doc);
	free(json);
}

/* Retry and drop: the same shape, a different store call. */
static void
dead_letter_act(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp, bool retry)
{
	const char *what = retry ? "admin_dead_retry" : "admin_dead_drop";
	char errmsg[CPB_ERRMSG_MAX] = "", idbuf[24];
	cJSON *doc;
	enum cpb_err err;

	if (!admin_ok(app, req, resp, what))
		return;
	err = retry ? store_dead_retry(app->store, m->id, errmsg) :
	    store_dead_drop(app->store, m->id, errmsg);
	if (err == CPB_ERR_NOT_FOUND) {
		response_error(resp, 404, "NOT_FOUND", "no dead letter %" PRId64,
		    m->id);
		return;
	}
	if (err != CPB_OK) {
		store_failed(resp, what, err, errmsg);
		return;
	}
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, m->id);
	log_kv(LOG_INFO, "op", what, "id", idbuf, NULL);
	doc = doc_status(retry ? "requeued" : "deleted");
	if (doc != NULL)
		cJSON_AddNumberToObject(doc, "id", (double)m->id);
	response_json(resp, retry ? 202 : 200, doc);
	resp->drain_after = retry && resp->status == 202;
}

static void
route_dead_retry(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	dead_letter_act(app, req, m, resp, true);
}

static void
route_dead_drop(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp)
{
	dead_letter_act(app, req, m, resp, false);
}
