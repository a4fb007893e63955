/*
 * test_fcgi.c - the responder's own modules without a web server: request
 * reading (bounds, lying lengths), routing (404/405/Allow, {id}), the
 * admin check, response heads and the detached spawn.  What nginx would
 * never let through (a Content-Length that lies, a body without one) is
 * tested here; tests/integration/test_stack.c covers the real path.
 *
 * The fcgi/ sources are not in libcalplanebot.a, so they are compiled into
 * this program directly.
 */
#define _GNU_SOURCE
#include "../../fcgi/spawn.c"
#include "../../fcgi/request.c"
#include "../../fcgi/response.c"
#include "../../fcgi/router.c"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a fake FastCGI request --------------------------------------------- */

struct fake {
	const char *const *params;	/* "NAME=value", NULL-terminated */
	const char *body;
	size_t	 body_len, pos;
	size_t	 read_total;		/* bytes handed out */
	int	 reads;
	bool	 fail;
};

static const char *
fake_param(void *ctx, const char *name)
{
	struct fake *f = ctx;
	size_t n = strlen(name), i;

	for (i = 0; f->params && f->params[i]; i++)
		if (strncmp(f->params[i], name, n) == 0 && f->params[i][n] == '=')
			return f->params[i] + n + 1;
	return NULL;
}

/* Hands out at most 7 bytes per call, as a stream in pieces would. */
static ssize_t
fake_read(void *ctx, char *buf, size_t n)
{
	struct fake *f = ctx;
	size_t left = f->body_len - f->pos;

	f->reads++;
	if (f->fail)
		return -1;
	if (n > 7)
		n = 7;
	if (n > left)
		n = left;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	f->read_total += n;
	return (ssize_t)n;
}

static enum cpb_err
parse(struct fake *f, struct fcgi_request *req, struct request_source *src,
    char *errmsg)
{
	src->param = fake_param;
	src->read = fake_read;
	src->ctx = f;
	return request_parse(req, src, errmsg);
}

/* ---- numbers and queries ------------------------------------------------ */

Test(request, parse_num_is_strict)
{
	long long v;

	cr_expect(request_parse_num("0", 0, 10, &v) && v == 0);
	cr_expect(request_parse_num("1048576", 0, 2000000, &v) && v == 1048576);
	cr_expect(request_parse_num("9223372036854775807", 0, INT64_MAX, &v));
	cr_expect_not(request_parse_num("9223372036854775808", 0, INT64_MAX, &v));
	cr_expect_not(request_parse_num("", 0, 10, &v));
	cr_expect_not(request_parse_num("-1", -5, 10, &v));
	cr_expect_not(request_parse_num("+1", 0, 10, &v));
	cr_expect_not(request_parse_num("01", 0, 10, &v));
	cr_expect_not(request_parse_num(" 1", 0, 10, &v));
	cr_expect_not(request_parse_num("1 ", 0, 10, &v));
	cr_expect_not(request_parse_num("1x", 0, 10, &v));
	cr_expect_not(request_parse_num("11", 0, 10, &v));
	cr_expect_not(request_parse_num(NULL, 0, 10, &v));
}

Test(request, query_get)
{
	char v[8];

	cr_expect_eq(request_query_get("a=1&limit=20&b=2", "limit", v,
	    sizeof(v)), QUERY_FOUND);
	cr_expect_str_eq(v, "20");
	cr_expect_eq(request_query_get("limit=", "limit", v, sizeof(v)),
	    QUERY_FOUND);
	cr_expect_str_eq(v, "");
	cr_expect_eq(request_query_get("xlimit=3", "limit", v, sizeof(v)),
	    QUERY_ABSENT);
	cr_expect_eq(request_query_get("limit", "limit", v, sizeof(v)),
	    QUERY_ABSENT);
	cr_expect_eq(request_query_get("limit=123456789", "limit", v, sizeof(v)),
	    QUERY_TOO_LONG, "a value longer than the buffer is refused, not cut");
	cr_expect_eq(request_query_get("", "limit", v, sizeof(v)), QUERY_ABSENT);
}

/* ---- parameters ---------------------------------------------------------- */

Test(request, parameters)
{
	const char *p[] = { "REQUEST_METHOD=POST",
	    "REQUEST_URI=/webhooks/plane?x=1", "QUERY_STRING=x=1",
	    "CONTENT_TYPE=application/json", "CONTENT_LENGTH=12",
	    "HTTP_X_PLANE_SIGNATURE=abc", "HTTP_X_PLANE_DELIVERY=d-1",
	    "HTTP_X_PLANE_EVENT=issue", "HTTP_AUTHORIZATION=Bearer t", NULL };
	struct fake f = { .params = p };
	struct fcgi_request req;
	struct request_source src;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse(&f, &req, &src, errmsg), CPB_OK, "%s", errmsg);
	cr_expect_str_eq(req.method, "POST");
	cr_expect_str_eq(req.path, "/webhooks/plane");
	cr_expect_str_eq(req.query, "x=1");
	cr_expect_str_eq(req.content_type, "application/json");
	cr_expect_str_eq(req.signature, "abc");
	cr_expect_str_eq(req.delivery, "d-1");
	cr_expect_str_eq(req.event, "issue");
	cr_expect_str_eq(req.authorization, "Bearer t");
	cr_expect(req.has_length);
	cr_expect_eq(req.content_length, 12);
	cr_expect_eq(f.reads, 0, "parameters alone read no body");
}

Test(request, document_uri_wins)
{
	const char *p[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/api/v1/%2e%2e/x",
	    "DOCUMENT_URI=/api/x", "CONTENT_LENGTH=", NULL };
	struct fake f = { .params = p };
	struct fcgi_request req;
	struct request_source src;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse(&f, &req, &src, errmsg), CPB_OK);
	cr_expect_str_eq(req.path, "/api/x");
	cr_expect_not(req.has_length, "nginx's empty CONTENT_LENGTH is none");
	cr_expect_str_eq(req.query, "");
}

Test(request, bad_parameters)
{
	const char *no_method[] = { "REQUEST_URI=/health", NULL };
	const char *lower[] = { "REQUEST_METHOD=get", NULL };
	const char *long_method[] = { "REQUEST_METHOD=ABCDEFGHIJKLMNOPQ", NULL };
	const char *bad_len[] = { "REQUEST_METHOD=POST", "CONTENT_LENGTH=12a", NULL };
	const char *neg_len[] = { "REQUEST_METHOD=POST", "CONTENT_LENGTH=-1", NULL };
	const char *const *cases[] = { no_method, lower, long_method, bad_len,
	    neg_len };
	struct fcgi_request req;
	struct request_source src;
	char errmsg[CPB_ERRMSG_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake f = { .params = cases[i] };

		cr_expect_eq(parse(&f, &req, &src, errmsg), CPB_ERR_INVALID,
		    "case %zu", i);
	}
}

Test(request, header_caps)
{
	char sig[REQUEST_HEADER_MAX + 40], path[REQUEST_PATH_MAX + 40];
	const char *p[] = { "REQUEST_METHOD=POST", sig, NULL };
	const char *q[] = { "REQUEST_METHOD=GET", path, NULL };
	struct fake f = { .params = p }, g = { .params = q };
	struct fcgi_request req;
	struct request_source src;
	char errmsg[CPB_ERRMSG_MAX];

	snprintf(sig, sizeof(sig), "HTTP_X_PLANE_SIGNATURE=");
	memset(sig + 23, 'a', REQUEST_HEADER_MAX + 1);
	sig[23 + REQUEST_HEADER_MAX + 1] = '\0';
	cr_expect_eq(parse(&f, &req, &src, errmsg), CPB_ERR_INVALID);
	cr_expect(strstr(errmsg, "X-Plane-Signature") != NULL, "%s", errmsg);

	snprintf(path, sizeof(path), "DOCUMENT_URI=/");
	memset(path + 14, 'a', REQUEST_PATH_MAX);
	path[14 + REQUEST_PATH_MAX] = '\0';
	cr_assert_eq(parse(&g, &req, &src, errmsg), CPB_OK);
	cr_expect(req.path_too_long);
}

/* ---- the body ----------------------------------------------------------- */

static enum cpb_err
read_body(const char *cl, const char *body, size_t len, size_t max,
    struct fake *f, struct fcgi_request *req, char *errmsg)
{
	char clp[64];
	const char *p[] = { "REQUEST_METHOD=POST", clp, NULL };
	struct request_source src;
	enum cpb_err err;

	snprintf(clp, sizeof(clp), "CONTENT_LENGTH=%s", cl ? cl : "");
	memset(f, 0, sizeof(*f));
	f->params = p;
	f->body = body;
	f->body_len = len;
	if ((err = parse(f, req, &src, errmsg)) != CPB_OK)
		return err;
	return request_read_body(req, &src, max, errmsg);
}

Test(body, exact_length)
{
	struct fake f;
	struct fcgi_request req;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(read_body("11", "hello world", 11, 100, &f, &req, errmsg),
	    CPB_OK, "%s", errmsg);
	cr_expect_eq(req.body_len, 11);
	cr_expect_str_eq(req.body, "hello world");
	request_free(&req);
	cr_assert_eq(read_body("0", "", 0, 100, &f, &req, errmsg), CPB_OK);
	cr_expect_eq(req.body_len, 0);
	cr_expect_str_eq(req.body, "");
	request_free(&req);
}

Test(body, lying_lengths)
{
	struct fake f;
	struct fcgi_request req;
	char errmsg[CPB_ERRMSG_MAX];

	cr_expect_eq(read_body("20", "short", 5, 100, &f, &req, errmsg),
	    CPB_ERR_INVALID);
	cr_expect(strstr(errmsg, "shorter") != NULL, "%s", errmsg);
	cr_expect_eq(read_body("5", "longer than five", 16, 100, &f, &req,
	    errmsg), CPB_ERR_INVALID);
	cr_expect(strstr(errmsg, "longer") != NULL, "%s", errmsg);
	cr_expect_leq(f.read_total, 6, "read past the announced length + 1");
	cr_expect_null(req.body);
}

Test(body, over_the_cap)
{
	static char big[300];
	struct fake f;
	struct fcgi_request req;
	char errmsg[CPB_ERRMSG_MAX];

	memset(big, 'x', sizeof(big));
	/* Announced too large: refused before a byte is read. */
	cr_expect_eq(read_body("101", big, 101, 100, &f, &req, errmsg),
	    CPB_ERR_TOO_LARGE);
	cr_expect_eq(f.reads, 0);
	cr_expect_eq(read_body("99999999999999999999999", big, 10, 100, &f,
	    &req, errmsg), CPB_ERR_TOO_LARGE, "huge digits are too large");
	cr_expect_eq(f.reads, 0);
	/* No length: read at most max + 1, then refuse. */
	cr_expect_eq(read_body(NULL, big, sizeof(big), 100, &f, &req, errmsg),
	    CPB_ERR_TOO_LARGE);
	cr_expect_eq(f.read_total, 101);
	/* No length, exactly the cap: fine. */
	cr_assert_eq(read_body(NULL, big, 100, 100, &f, &req, errmsg), CPB_OK);
	cr_expect_eq(req.body_len, 100);
	request_free(&req);
}

Test(body, no_length_grows_from_small_chunks)
{
	static char big[70000];
	struct fake f;
	struct fcgi_request req;
	char errmsg[CPB_ERRMSG_MAX];

	memset(big, 'y', sizeof(big));
	cr_assert_eq(read_body(NULL, big, sizeof(big), 1024 * 1024, &f, &req,
	    errmsg), CPB_OK);
	cr_expect_eq(req.body_len, sizeof(big));
	cr_expect_eq(req.body[sizeof(big)], '\0');
	request_free(&req);
}

Test(body, stream_error)
{
	const char *p[] = { "REQUEST_METHOD=POST", "CONTENT_LENGTH=4", NULL };
	struct fake f = { .params = p, .body = "abcd", .body_len = 4,
	    .fail = true };
	struct fcgi_request req;
	struct request_source src;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse(&f, &req, &src, errmsg), CPB_OK);
	cr_expect_eq(request_read_body(&req, &src, 100, errmsg), CPB_ERR_IO);
	cr_expect_null(req.body);
}

/* ---- routing ------------------------------------------------------------- */

static bool
route(const char *method, const char *path, struct route_match *m,
    struct fcgi_response *resp)
{
	struct fcgi_request req;

	memset(&req, 0, sizeof(req));
	memset(resp, 0, sizeof(*resp));
	req.method = method;
	snprintf(req.path, sizeof(req.path), "%s", path);
	return router_match(&req, m, resp);
}

static void
expect_code(const struct fcgi_response *resp, int status, const char *code)
{
	cJSON *doc = cJSON_Parse(resp->body);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "error_code");

	cr_expect_eq(resp->status, status, "status %d: %s", resp->status,
	    resp->body);
	cr_expect(cJSON_IsString(c) && strcmp(c->valuestring, code) == 0,
	    "expected %s: %s", code, resp->body);
	cr_expect_str_eq(resp->content_type, RESPONSE_JSON);
	cJSON_Delete(doc);
}

Test(router, matches)
{
	struct route_match m;
	struct fcgi_response resp;

	cr_expect(route("POST", "/webhooks/plane", &m, &resp));
	cr_expect(router_wants_body(&m));
	cr_expect(route("GET", "/health", &m, &resp));
	cr_expect_not(router_wants_body(&m));
	cr_expect(route("HEAD", "/api/v1/metrics", &m, &resp));
	cr_expect(route("POST", "/api/v1/sync", &m, &resp));
	cr_expect_not(router_wants_body(&m), "the admin sync reads no body");
	cr_expect(route("POST", "/api/v1/dead-letters/42/retry", &m, &resp));
	cr_expect_eq(m.id, 42);
	cr_expect(route("DELETE", "/api/v1/dead-letters/9223372036854775807",
	    &m, &resp));
	cr_expect_eq(m.id, INT64_MAX);
	response_free(&resp);
}

Test(router, not_found)
{
	static const char *const paths[] = { "/", "/nope", "/health/",
	    "/api/v1/health/", "/webhooks/plane/x", "/api/v1/dead-letters/0",
	    "/api/v1/dead-letters/abc", "/api/v1/dead-letters/-1",
	    "/api/v1/dead-letters/012", "/api/v1/dead-letters/99999999999999999999",
	    "/api/v1/dead-letters//retry", "/API/V1/HEALTH", "" };
	struct route_match m;
	struct fcgi_response resp;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cr_expect_not(route("DELETE", paths[i], &m, &resp), "%s", paths[i]);
		expect_code(&resp, 404, "NOT_FOUND");
		response_free(&resp);
	}
}

Test(router, method_not_allowed)
{
	struct route_match m;
	struct fcgi_response resp;

	cr_expect_not(route("GET", "/webhooks/plane", &m, &resp));
	expect_code(&resp, 405, "METHOD_NOT_ALLOWED");
	cr_expect_str_eq(resp.allow, "POST");
	response_free(&resp);
	cr_expect_not(route("POST", "/api/v1/health", &m, &resp));
	cr_expect_str_eq(resp.allow, "GET, HEAD");
	response_free(&resp);
	cr_expect_not(route("GET", "/api/v1/dead-letters/3", &m, &resp));
	cr_expect_str_eq(resp.allow, "DELETE");
	response_free(&resp);
	cr_expect_not(route("OPTIONS", "/api/v1/sync", &m, &resp));
	cr_expect_str_eq(resp.allow, "POST");
	response_free(&resp);
}

/* ---- the admin check (no store needed: it comes first) ------------------ */

static void
admin_call(const char *configured, const char *auth, struct fcgi_response *resp)
{
	struct cpb_config cfg;
	struct fcgi_app app;
	struct fcgi_request req;
	struct route_match m;

	log_set_level(LOG_ERROR);	/* the refusals log warnings */
	memset(&cfg, 0, sizeof(cfg));
	memset(&app, 0, sizeof(app));
	memset(&req, 0, sizeof(req));
	cfg.admin_token = (char *)configured;
	app.cfg = &cfg;
	req.method = "POST";
	req.authorization = auth;
	snprintf(req.path, sizeof(req.path), "/api/v1/dead-letters/5/retry");
	memset(resp, 0, sizeof(*resp));
	cr_assert(router_match(&req, &m, resp));
	router_dispatch(&app, &req, &m, resp);
}

Test(admin, token_rules)
{
	struct fcgi_response resp;

	admin_call(NULL, "Bearer anything", &resp);
	expect_code(&resp, 503, "ADMIN_DISABLED");
	response_free(&resp);
	admin_call("", "Bearer ", &resp);
	expect_code(&resp, 503, "ADMIN_DISABLED");
	response_free(&resp);
	admin_call("s3cret-token", NULL, &resp);
	expect_code(&resp, 401, "UNAUTHORIZED");
	cr_expect_not_null(resp.www_authenticate);
	response_free(&resp);
	admin_call("s3cret-token", "Basic czNjcmV0LXRva2Vu", &resp);
	expect_code(&resp, 401, "UNAUTHORIZED");
	response_free(&resp);
	admin_call("s3cret-token", "Bearer s3cret-toke", &resp);
	expect_code(&resp, 401, "UNAUTHORIZED");
	response_free(&resp);
	admin_call("s3cret-token", "Bearer s3cret-token2", &resp);
	expect_code(&resp, 401, "UNAUTHORIZED");
	cr_expect(strstr(resp.body, "s3cret") == NULL, "the token was echoed");
	response_free(&resp);
}

Test(admin, secret_equal)
{
	cr_expect(router_secret_equal("abc", 3, "abc"));
	cr_expect(router_secret_equal("abcdef", 3, "abc"), "only len bytes count");
	cr_expect_not(router_secret_equal("abd", 3, "abc"));
	cr_expect_not(router_secret_equal("ab", 2, "abc"));
	cr_expect_not(router_secret_equal("", 0, "abc"));
	cr_expect(router_secret_equal("", 0, ""));
}

Test(routes, liveness)
{
	struct fcgi_app app;
	struct fcgi_request req;
	struct fcgi_response resp;
	struct route_match m;
	cJSON *doc;

	memset(&app, 0, sizeof(app));
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = "GET";
	snprintf(req.path, sizeof(req.path), "/health");
	cr_assert(router_match(&req, &m, &resp));
	router_dispatch(&app, &req, &m, &resp);
	cr_expect_eq(resp.status, 200);
	doc = cJSON_Parse(resp.body);
	cr_expect_str_eq(cJSON_GetObjectItem(doc, "status")->valuestring,
	    "healthy");
	cr_expect_str_eq(cJSON_GetObjectItem(doc, "version")->valuestring,
	    CPB_VERSION);
	cr_expect_eq(strlen(cJSON_GetObjectItem(doc, "timestamp")->valuestring),
	    20);
	cJSON_Delete(doc);
	response_free(&resp);
}

/* GET /api/v1/health through the router; the body is the caller's. */
static char *
health_get(const struct fcgi_app *app)
{
	struct fcgi_request req;
	struct fcgi_response resp;
	struct route_match m;
	char *body;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = "GET";
	snprintf(req.path, sizeof(req.path), "/api/v1/health");
	cr_assert(router_match(&req, &m, &resp));
	router_dispatch(app, &req, &m, &resp);
	cr_assert_eq(resp.status, 200, "%s", resp.body ? resp.body : "");
	body = strdup(resp.body);
	response_free(&resp);
	return body;
}

/*
 * Whether the cached document is served: plant a marker in the cache and
 * ask.  A second boundary in between rebuilds it whatever the store did,
 * so such a try is repeated.
 */
static bool
health_reused(const struct fcgi_app *app)
{
	char *body;
	bool reused;
	time_t t0;

	for (int i = 0; i < 5; i++) {
		t0 = time(NULL);
		free(app->health_cache->json);
		app->health_cache->json = strdup("{\"planted\":true}");
		body = health_get(app);
		reused = strcmp(body, "{\"planted\":true}") == 0;
		free(body);
		if (time(NULL) == t0)
			return reused;
	}
	cr_assert_fail("the clock moved on every try");
	return false;
}

static void
push(struct store *st, const char *delivery)
{
	struct store_queue_item item = { .delivery = (char *)delivery,
	    .event = "issue", .action = "updated", .entity_id = "i1",
	    .payload = "{}" };
	char msg[CPB_ERRMSG_MAX] = "";
	bool dup = true;

	cr_assert_eq(store_queue_push(st, &item, &dup, msg), CPB_OK, "%s", msg);
	cr_assert_not(dup);
}

Test(routes, health_document_is_reused_until_the_store_changes)
{
	char tmp[64], db[128], dbvar[200], msg[CPB_ERRMSG_MAX] = "", *body;
	char *env[] = {
		(char *)"CALPLANEBOT_CONFIG=/dev/null",
		(char *)"PLANE_BASE_URL=http://127.0.0.1:1",
		(char *)"PLANE_API_TOKEN=t",
		(char *)"PLANE_WORKSPACE_SLUG=acme",
		(char *)"CALDAV_URL=http://127.0.0.1:1/",
		dbvar, NULL,
	};
	struct cpb_config *cfg = NULL;
	struct store *ours = NULL, *other = NULL;
	struct doc_cache cache = { 0 };
	struct fcgi_app app;

	snprintf(tmp, sizeof(tmp), "/tmp/cpb-fcgi-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(db, sizeof(db), "%s/state.db", tmp);
	snprintf(dbvar, sizeof(dbvar), "CALPLANEBOT_DB=%s", db);
	cr_assert_eq(config_load(&cfg, env, stderr), CPB_OK);
	cr_assert_eq(store_open(&ours, db, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_open(&other, db, msg), CPB_OK, "%s", msg);
	memset(&app, 0, sizeof(app));
	app.cfg = cfg;
	app.store = ours;
	app.started_at = time(NULL);
	app.health_cache = &cache;

	body = health_get(&app);
	cr_expect(strstr(body, "\"queue_depth\":0") != NULL, "%s", body);
	free(body);
	cr_expect(health_reused(&app), "nothing changed: the cache serves");

	/* Another process (connection) commits: built afresh. */
	push(other, "d1");
	cr_expect_not(health_reused(&app), "another connection's commit");
	body = health_get(&app);
	cr_expect(strstr(body, "\"queue_depth\":1") != NULL, "%s", body);
	free(body);

	/* This connection commits: built afresh as well. */
	cr_expect(health_reused(&app));
	push(ours, "d2");
	cr_expect_not(health_reused(&app), "our own commit");

	/* Without a cache every request builds the document. */
	app.health_cache = NULL;
	body = health_get(&app);
	cr_expect(strstr(body, "\"queue_depth\":2") != NULL, "%s", body);
	free(body);

	doc_cache_clear(&cache);
	store_close(other);
	store_close(ours);
	config_free(cfg);
	unlink(db);
	snprintf(dbvar, sizeof(dbvar), "%s-wal", db);
	unlink(dbvar);
	snprintf(dbvar, sizeof(dbvar), "%s-shm", db);
	unlink(dbvar);
	rmdir(tmp);
}

/* ---- responses ------------------------------------------------------------ */

Test(response, head)
{
	struct fcgi_response resp;
	char head[512];

	memset(&resp, 0, sizeof(resp));
	response_error(&resp, 405, "METHOD_NOT_ALLOWED", "no %s", "PUT");
	resp.allow = "GET, HEAD";
	cr_assert(response_head(&resp, head, sizeof(head)));
	cr_expect(strncmp(head, "Status: 405 Method Not Allowed\r\n", 32) == 0,
	    "%s", head);
	cr_expect(strstr(head, "\r\nAllow: GET, HEAD\r\n") != NULL);
	cr_expect(strstr(head, "Content-Type: application/json\r\n") != NULL);
	cr_expect(strstr(head, "Cache-Control: no-store\r\n") != NULL);
	cr_expect(strstr(head, "WWW-Authenticate") == NULL);
	cr_expect_eq(strcmp(head + strlen(head) - 4, "\r\n\r\n"), 0);
	cr_expect_not(response_head(&resp, head, 40), "a cut head is refused");
	cr_expect_str_eq(resp.body, "{\"status\":\"error\",\"error_code\":"
	    "\"METHOD_NOT_ALLOWED\",\"message\":\"no PUT\"}");
	response_free(&resp);
}

Test(response, messages_are_escaped)
{
	struct fcgi_response resp;
	cJSON *doc;

	memset(&resp, 0, sizeof(resp));
	response_error(&resp, 400, "BAD_REQUEST", "%s", "quote \" and\nnewline");
	doc = cJSON_Parse(resp.body);
	cr_assert_not_null(doc, "%s", resp.body);
	cr_expect_str_eq(cJSON_GetObjectItem(doc, "message")->valuestring,
	    "quote \" and\nnewline");
	cJSON_Delete(doc);
	response_free(&resp);
}

/* ---- spawn -------------------------------------------------------------- */

Test(spawn, detached_with_log)
{
	char dir[] = "/tmp/cpb-spawn.XXXXXX", log[64], buf[64] = "";
	char *argv[] = { (char *)"/bin/sh", (char *)"-c",
	    (char *)"echo out; echo err >&2; ls /proc/self/fd | wc -l", NULL };
	char errmsg[CPB_ERRMSG_MAX];
	pid_t pid;
	FILE *f;
	int i;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/log", dir);
	cr_assert_eq(spawn_detached(argv, log, &pid, errmsg), CPB_OK, "%s",
	    errmsg);
	cr_expect_gt(pid, 0);
	for (i = 0; i < 100; i++) {
		if ((f = fopen(log, "r")) != NULL) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);

			buf[n] = '\0';
			fclose(f);
			if (strchr(buf, '\n') && strstr(buf, "err") &&
			    strlen(buf) > 8)
				break;
		}
		usleep(20000);
	}
	cr_expect(strstr(buf, "out\n") != NULL, "%s", buf);
	cr_expect(strstr(buf, "err\n") != NULL, "%s", buf);
	/* Only 0, 1, 2 and the one ls opens: nothing of ours leaked. */
	cr_expect(strstr(buf, "\n4\n") != NULL, "open fds: %s", buf);
	unlink(log);
	rmdir(dir);
}

Test(spawn, exec_failure_is_reported)
{
	char *argv[] = { (char *)"/nonexistent/calplanebot-sync", NULL };
	char errmsg[CPB_ERRMSG_MAX] = "";
	pid_t pid;

	cr_expect_eq(spawn_detached(argv, NULL, &pid, errmsg), CPB_ERR_IO);
	cr_expect(strstr(errmsg, "cannot run") != NULL, "%s", errmsg);
}

Test(spawn, log_failure_is_reported)
{
	char *argv[] = { (char *)"/bin/true", NULL };
	char errmsg[CPB_ERRMSG_MAX] = "";
	pid_t pid;

	cr_expect_eq(spawn_detached(argv, "/nonexistent/dir/log", &pid, errmsg),
	    CPB_ERR_IO);
	cr_expect(strstr(errmsg, "log") != NULL, "%s", errmsg);
}
