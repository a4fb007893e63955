/*
 * test_stack.c - the web half end to end: nginx over TLS (nginx/run.sh,
 * what `make run` uses), a spawn-fcgi pool of two calplanebot-fcgi
 * responders on a unix socket, Radicale, and the Plane simulator sending
 * webhooks exactly as Plane does.  Every request goes through nginx and
 * is verified against the stack's certificate; every calendar is read back
 * independently (raw REPORT + libical).
 *
 * Each test starts its own world in .init and stops it in .fini, so rate
 * limits, queues and calendars never leak from one test into another.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "store.h"

#define WEB_PROJECT	"6e6fd832-1bac-4f5c-8a4c-e95c7bf3f4e1"
#define WEB_1		"7bcf0520-cf71-4a35-8505-4208d97e0be1"
#define WEB_2		"58df768a-3c97-41ce-abca-8811ed211296"
#define WEB_3		"61a3cec5-f5a6-4d56-abb9-10a83ef6ce79"
#define SAMPLE_EVENTS	11

#define UID(id)		"plane-issue-" id "@calplanebot"
/* The sample workspace's webhook secret (tests/sim/sample_workspace.json). */
#define SECRET		"plane_wh_9a8b7c6d5e4f30211203f4e5d6c7b8a9"
#define ADMIN		"adm-3f1c9e7a5b2d4c6e8f0a1b3c5d7e9f20"
#define BEARER		"Authorization: Bearer " ADMIN
#define JSON_CT		"Content-Type: application/json"

struct world {
	struct h_sim	 sim;
	struct h_dav	 dav;
	struct h_env	 env;
	struct h_stack	 stack;
	char		 db[700];
	char		 hook_url[256];
};

static struct world W;

typedef void (*env_tweak)(struct h_env *env);

static void
world_up_with(env_tweak tweak)
{
	char fixture[1024];

	memset(&W, 0, sizeof(W));
	snprintf(fixture, sizeof(fixture), "%s/tests/sim/sample_workspace.json",
	    h_srcdir());
	cr_assert(h_sim_start(&W.sim, fixture, "--rate-limit 0"),
	    "plane simulator did not start");
	cr_assert(h_dav_start(&W.dav, "radicale"), "radicale did not start");
	snprintf(W.db, sizeof(W.db), "%s/state.db", W.sim.dir);
	h_env_for(&W.env, &W.sim, &W.dav, W.db);
	h_env_set(&W.env, "PLANE_WEBHOOK_SECRET", SECRET);
	h_env_set(&W.env, "CALPLANEBOT_ADMIN_TOKEN", ADMIN);
	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "1");
	h_env_set(&W.env, "CALPLANEBOT_CONNECT_TIMEOUT", "2");
	h_env_set(&W.env, "CALPLANEBOT_HTTP_TIMEOUT", "10");
	if (tweak != NULL)
		tweak(&W.env);
	cr_assert(h_stack_start(&W.stack, &W.env, 2),
	    "nginx and the spawn-fcgi pool did not start");
	snprintf(W.hook_url, sizeof(W.hook_url), "%s/webhooks/plane",
	    W.stack.url);
}

static void
world_down(void)
{
	h_stack_stop(&W.stack);
	h_env_free(&W.env);
	h_dav_stop(&W.dav);
	h_sim_stop(&W.sim);
}

static void up(void) { world_up_with(NULL); }

static void
tweak_dead_letters(struct h_env *env)
{
	h_env_set(env, "CALPLANEBOT_MAX_ATTEMPTS", "2");
	h_env_set(env, "CALPLANEBOT_RETRY_MIN_MS", "20");
	h_env_set(env, "CALPLANEBOT_RETRY_MAX_MS", "50");
}
static void up_dead_letters(void) { world_up_with(tweak_dead_letters); }

/* No webhook secret (explicitly allowed) and no admin token. */
static void
tweak_open(struct h_env *env)
{
	size_t i;

	for (i = 0; i < env->n; i++)
		if (strncmp(env->vars[i], "PLANE_WEBHOOK_SECRET=", 21) == 0 ||
		    strncmp(env->vars[i], "CALPLANEBOT_ADMIN_TOKEN=", 24) == 0) {
			free(env->vars[i]);
			env->vars[i] = env->vars[--env->n];
			env->vars[env->n] = NULL;
			i--;
		}
	h_env_set(env, "ALLOW_UNSIGNED_WEBHOOKS", "true");
}
static void up_open(void) { world_up_with(tweak_open); }

/* ---- helpers ------------------------------------------------------------ */

static cJSON *
parse_body(const struct h_http *r)
{
	cJSON *doc = cJSON_Parse(r->body);

	cr_assert_not_null(doc, "not JSON (status %ld): %s", r->status, r->body);
	return doc;
}

static const char *
jstr(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double
jnum(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Expect an error answer: status, and the JSON error shape with code. */
static void
expect_error(const struct h_http *r, long status, const char *code)
{
	cJSON *doc;

	cr_assert_eq(r->status, status, "status %ld, expected %ld: %s",
	    r->status, status, r->body);
	doc = parse_body(r);
	cr_expect_str_eq(jstr(doc, "status"), "error");
	cr_expect_str_eq(jstr(doc, "error_code"), code, "error_code in %s",
	    r->body);
	cr_expect_not_null(jstr(doc, "message"));
	cJSON_Delete(doc);
}

static long
get(const char *path, const char *auth, struct h_http *r)
{
	const char *hdrs[] = { auth, NULL };

	return h_https(&W.stack, "GET", path, auth ? hdrs : NULL, NULL, 0, r);
}

/* POST a webhook body as Plane would; NULL signature: header left out. */
static long
post_hook(const char *body, size_t len, const char *signature,
    const char *delivery, const char *ctype, struct h_http *r)
{
	char sig[160], del[128], ct[128];
	const char *hdrs[5];
	size_t n = 0;

	if (ctype != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdrs[n++] = ct;
	}
	if (signature != NULL) {
		snprintf(sig, sizeof(sig), "X-Plane-Signature: %s", signature);
		hdrs[n++] = sig;
	}
	if (delivery != NULL) {
		snprintf(del, sizeof(del), "X-Plane-Delivery: %s", delivery);
		hdrs[n++] = del;
	}
	hdrs[n++] = "User-Agent: Autopilot";
	hdrs[n] = NULL;
	return h_https(&W.stack, "POST", "/webhooks/plane", hdrs, body, len, r);
}

/* Sign and POST: the common case of a hand-made payload. */
static long
post_signed(const char *body, const char *delivery, struct h_http *r)
{
	char hex[65];

	h_hmac_hex(SECRET, body, strlen(body), hex);
	return post_hook(body, strlen(body), hex, delivery, "application/json",
	    r);
}

/* The simulator sends a webhook through nginx; its report (caller frees). */
static cJSON *
sim_webhook(const char *fields)
{
	char json[1024];
	long status = 0;
	cJSON *r;

	snprintf(json, sizeof(json), "{\"url\":\"%s\",\"insecure\":true%s%s}",
	    W.hook_url, fields && *fields ? "," : "", fields ? fields : "");
	r = h_sim_call(&W.sim, "POST", "/_sim/webhook", json, &status);
	cr_assert_eq(status, 200, "/_sim/webhook -> %ld", status);
	cr_assert_not_null(r);
	return r;
}

/* The answer nginx gave to the simulator's delivery. */
static void
expect_sim_answer(const cJSON *report, long status, const char *outcome)
{
	const char *body = jstr(report, "body");
	cJSON *doc;

	cr_assert_eq((long)jnum(report, "status"), status, "webhook -> %s",
	    body ? body : "(no answer)");
	doc = cJSON_Parse(body);
	cr_assert_not_null(doc, "answer is not JSON: %s", body);
	cr_expect_str_eq(jstr(doc, "status"), outcome, "answer: %s", body);
	cJSON_Delete(doc);
}

/* A payload exactly as Plane would send it now, without sending it. */
static cJSON *
sim_payload(const char *issue_id, const char *field)
{
	char path[256];
	long status = 0;
	cJSON *r;

	snprintf(path, sizeof(path), "/_sim/webhook_payload?event=issue"
	    "&action=updated&issue_id=%s&field=%s", issue_id, field);
	r = h_sim_call(&W.sim, "GET", path, NULL, &status);
	cr_assert_eq(status, 200);
	cr_assert_not_null(jstr(r, "body"));
	return r;
}

static void
sim_ok(const char *method, const char *path, const char *json)
{
	long status = 0;
	cJSON *r = h_sim_call(&W.sim, method, path, json, &status);

	cr_assert_eq(status, 200, "%s %s -> %ld", method, path, status);
	cJSON_Delete(r);
}

static long
queue_depth(void)
{
	struct h_http r;
	cJSON *doc;
	long depth;

	cr_assert_eq(get("/api/v1/status", NULL, &r), 200, "%s", r.body);
	doc = parse_body(&r);
	depth = (long)jnum(doc, "queue_depth");
	cJSON_Delete(doc);
	h_http_free(&r);
	return depth;
}

/* A metric's value from /api/v1/metrics (0 when absent). */
static long
metric(const char *series)
{
	struct h_http r;
	size_t len = strlen(series);
	const char *p;
	long v = 0;

	cr_assert_eq(get("/api/v1/metrics", NULL, &r), 200);
	for (p = r.body; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, series, len) == 0 && p[len] == ' ') {
			v = strtol(p + len + 1, NULL, 10);
			break;
		}
	h_http_free(&r);
	return v;
}

/* Poll Radicale until the event exists with a summary starting so. */
static bool
wait_event(const char *uid, const char *summary, long timeout_ms)
{
	long end = h_now_ms() + timeout_ms;
	struct h_event *ev;
	const struct h_event *e;
	bool ok;
	size_t n;

	do {
		n = h_dav_events(&W.dav, &ev);
		e = h_event_find(ev, n, uid);
		ok = e != NULL && (summary == NULL || (e->summary &&
		    strncmp(e->summary, summary, strlen(summary)) == 0));
		h_events_free(ev, n);
		if (ok)
			return true;
		h_sleep_ms(100);
	} while (h_now_ms() < end);
	return false;
}

static int
event_sequence(const char *uid)
{
	struct h_event *ev;
	const struct h_event *e;
	size_t n = h_dav_events(&W.dav, &ev);
	int seq;

	e = h_event_find(ev, n, uid);
	cr_assert_not_null(e, "%s missing", uid);
	seq = e->sequence;
	h_events_free(ev, n);
	return seq;
}

static size_t
event_count(void)
{
	struct h_event *ev;
	size_t n = h_dav_events(&W.dav, &ev);

	h_events_free(ev, n);
	return n;
}

static void
wait_queue_empty(long timeout_ms)
{
	long end = h_now_ms() + timeout_ms;

	while (queue_depth() != 0 && h_now_ms() < end)
		h_sleep_ms(100);
	cr_assert_eq(queue_depth(), 0, "the queue did not drain");
}

static int
run_sync(const char *command, struct h_run *run)
{
	const char *args[] = { command, NULL };

	return h_run_sync(&W.env, command ? args : NULL, run);
}

static void
full_sync(void)
{
	struct h_run run;

	cr_assert_eq(run_sync(NULL, &run), 0, "sync failed: %s", run.err);
	h_run_free(&run);
}

/* ---- webhooks ----------------------------------------------------------- */

Test(webhook, signed_delivery_reaches_the_calendar, .init = up,
    .fini = world_down, .timeout = 60)
{
	long status = 0;
	const cJSON *hooks;
	char json[512];
	cJSON *r;

	snprintf(json, sizeof(json), "{\"name\":\"Release notes via webhook\","
	    "\"_webhook\":{\"url\":\"%s\",\"insecure\":true}}", W.hook_url);
	r = h_sim_call(&W.sim, "PATCH", "/_sim/issues/" WEB_1, json, &status);
	cr_assert_eq(status, 200);
	hooks = cJSON_GetObjectItemCaseSensitive(r, "webhooks");
	cr_assert_eq(cJSON_GetArraySize(hooks), 1);
	expect_sim_answer(cJSON_GetArrayItem(hooks, 0), 202, "queued");
	{
		cJSON *ans = cJSON_Parse(jstr(cJSON_GetArrayItem(hooks, 0), "body"));

		cr_expect_str_eq(jstr(ans, "issue_id"), WEB_1);
		cr_expect_str_eq(jstr(ans, "event"), "issue");
		cr_expect_str_eq(jstr(ans, "delivery"),
		    jstr(cJSON_GetArrayItem(hooks, 0), "delivery"));
		cJSON_Delete(ans);
	}
	cJSON_Delete(r);
	cr_assert(wait_event(UID(WEB_1), "[1] Release notes via webhook", 5000),
	    "the event did not reach Radicale within 5 s");
	cr_expect_eq(event_count(), 1, "only the one issue is written");
	wait_queue_empty(5000);
	cr_expect_eq(metric("calplanebot_webhooks_total{outcome=\"queued\"}"), 1);
}

Test(webhook, same_delivery_twice_is_applied_once, .init = up,
    .fini = world_down, .timeout = 60)
{
	static const char fields[] = "\"event\":\"issue\",\"action\":\"updated\","
	    "\"issue_id\":\"" WEB_2 "\",\"field\":\"name\","
	    "\"delivery\":\"0e5c2b1a-7f36-4c8e-9d2a-5b1f3e7c9a01\"";
	cJSON *r;

	r = sim_webhook(fields);
	expect_sim_answer(r, 202, "queued");
	cJSON_Delete(r);
	cr_assert(wait_event(UID(WEB_2), NULL, 5000));
	r = sim_webhook(fields);
	expect_sim_answer(r, 202, "duplicate");
	cJSON_Delete(r);
	wait_queue_empty(5000);
	cr_expect_eq(event_sequence(UID(WEB_2)), 0, "written more than once");
	cr_expect_eq(metric("calplanebot_webhooks_total{outcome=\"queued\"}"), 1);
	cr_expect_eq(metric("calplanebot_webhooks_total{outcome=\"duplicate\"}"), 1);
	cr_expect_eq(metric("calplanebot_operations_total{kind=\"create\",result=\"ok\"}"), 1);
	cr_expect_eq(metric("calplanebot_drain_total{result=\"applied\"}"), 1);
}

Test(webhook, three_field_deliveries_make_one_write, .init = up,
    .fini = world_down, .timeout = 60)
{
	char json[512];
	long status = 0;
	const cJSON *hooks;
	cJSON *r;
	int i;

	full_sync();
	cr_assert_eq(event_sequence(UID(WEB_1)), 0);
	/* One edit of three fields: Plane sends three deliveries. */
	snprintf(json, sizeof(json), "{\"name\":\"Three fields\","
	    "\"priority\":\"urgent\",\"target_date\":\"2027-03-01\","
	    "\"_webhook\":{\"url\":\"%s\",\"insecure\":true}}", W.hook_url);
	r = h_sim_call(&W.sim, "PATCH", "/_sim/issues/" WEB_1, json, &status);
	cr_assert_eq(status, 200);
	hooks = cJSON_GetObjectItemCaseSensitive(r, "webhooks");
	cr_assert_eq(cJSON_GetArraySize(hooks), 3, "one delivery per field");
	for (i = 0; i < 3; i++)
		expect_sim_answer(cJSON_GetArrayItem(hooks, i), 202, "queued");
	cJSON_Delete(r);
	cr_assert(wait_event(UID(WEB_1), "[1] Three fields", 5000));
	wait_queue_empty(5000);
	/* SEQUENCE counts our writes of the event (RFC 5545 3.8.7.4). */
	cr_expect_eq(event_sequence(UID(WEB_1)), 1, "more than one write");
	cr_expect_eq(metric("calplanebot_operations_total{kind=\"update\",result=\"ok\"}"), 1);
}

Test(webhook, older_data_after_newer_is_ignored, .init = up,
    .fini = world_down, .timeout = 60)
{
	cJSON *old, *r;
	char json[512];
	long status = 0;
	struct h_http h;

	full_sync();
	/* Plane's view now, captured; then a newer edit arrives first. */
	old = sim_payload(WEB_3, "name");
	h_sleep_ms(20);
	snprintf(json, sizeof(json), "{\"name\":\"Newest title\","
	    "\"_webhook\":{\"url\":\"%s\",\"insecure\":true}}", W.hook_url);
	r = h_sim_call(&W.sim, "PATCH", "/_sim/issues/" WEB_3, json, &status);
	cr_assert_eq(status, 200);
	cJSON_Delete(r);
	cr_assert(wait_event(UID(WEB_3), "[3] Newest title", 5000));
	wait_queue_empty(5000);
	/* The older delivery, late (a retry), correctly signed. */
	post_hook(jstr(old, "body"), strlen(jstr(old, "body")),
	    jstr(old, "signature"), "5a0c7e1b-93d4-4f2a-b6e8-1c3d5f7a9b02",
	    "application/json", &h);
	cr_assert_eq(h.status, 202, "%s", h.body);
	h_http_free(&h);
	cJSON_Delete(old);
	wait_queue_empty(5000);
	cr_expect(wait_event(UID(WEB_3), "[3] Newest title", 100),
	    "older data overwrote newer");
	cr_expect_eq(event_sequence(UID(WEB_3)), 1, "the older data was written");
}

Test(webhook, signatures, .init = up, .fini = world_down, .timeout = 60)
{
	cJSON *p = sim_payload(WEB_1, "name");
	const char *body = jstr(p, "body"), *sig = jstr(p, "signature");
	char bad[80], prefixed[80];
	struct h_http h;

	snprintf(bad, sizeof(bad), "%s", sig);
	bad[10] = bad[10] == '0' ? '1' : '0';
	post_hook(body, strlen(body), bad, "d-bad", "application/json", &h);
	expect_error(&h, 401, "INVALID_SIGNATURE");
	h_http_free(&h);
	post_hook(body, strlen(body), NULL, "d-missing", "application/json", &h);
	expect_error(&h, 401, "INVALID_SIGNATURE");
	h_http_free(&h);
	/* The signature of another body (a replayed header) is no better. */
	h_hmac_hex(SECRET, "{}", 2, bad);
	post_hook(body, strlen(body), bad, "d-other", "application/json", &h);
	expect_error(&h, 401, "INVALID_SIGNATURE");
	h_http_free(&h);
	/* Nothing of the refused deliveries was stored or applied. */
	cr_expect_eq(queue_depth(), 0);
	cr_expect_eq(metric("calplanebot_webhooks_total{outcome=\"rejected\"}"), 3);
	cr_expect_eq(metric("calplanebot_webhooks_total{outcome=\"queued\"}"), 0);
	h_sleep_ms(300);
	cr_expect_eq(event_count(), 0);

	/* The seeds' "sha256=" form is accepted as well as Plane's bare hex. */
	snprintf(prefixed, sizeof(prefixed), "sha256=%s", sig);
	post_hook(body, strlen(body), prefixed, "d-prefixed", "application/json",
	    &h);
	cr_expect_eq(h.status, 202, "%s", h.body);
	h_http_free(&h);
	cJSON_Delete(p);
	cr_expect(wait_event(UID(WEB_1), NULL, 5000));
}

Test(webhook, malformed_requests_get_exact_errors, .init = up,
    .fini = world_down, .timeout = 60)
{
	static const char wrong_type[] = "{\"event\": \"issue\", \"action\": "
	    "\"updated\", \"webhook_id\": \"w\", \"workspace_id\": \"x\", "
	    "\"data\": {\"id\": 42}}";
	static const char data_string[] = "{\"event\": \"issue\", \"action\": "
	    "\"updated\", \"data\": \"7bcf0520\"}";
	static const char bad_action[] = "{\"event\": \"issue\", \"action\": "
	    "\"exploded\", \"data\": {\"id\": \"7bcf0520\"}}";
	const char *hdr_get[] = { NULL };
	cJSON *p = sim_payload(WEB_1, "name");
	const char *good = jstr(p, "body");
	struct h_http h;
	char hex[65], *allow, *big;
	size_t big_len = 2 * 1024 * 1024;

	post_signed("{\"event\": \"issue\", ", "m-1", &h);
	expect_error(&h, 400, "INVALID_JSON");
	h_http_free(&h);
	post_signed(wrong_type, "m-2", &h);
	expect_error(&h, 400, "INVALID_PAYLOAD");
	cr_expect(strstr(h.body, "data.id") != NULL, "names the field: %s", h.body);
	h_http_free(&h);
	post_signed(data_string, "m-3", &h);
	expect_error(&h, 400, "INVALID_PAYLOAD");
	cr_expect(strstr(h.body, "data") != NULL, "names the field: %s", h.body);
	h_http_free(&h);
	post_signed(bad_action, "m-4", &h);
	expect_error(&h, 400, "INVALID_PAYLOAD");
	h_http_free(&h);

	/* Right signature, wrong media type. */
	h_hmac_hex(SECRET, good, strlen(good), hex);
	post_hook(good, strlen(good), hex, "m-5", "text/plain", &h);
	expect_error(&h, 415, "UNSUPPORTED_MEDIA_TYPE");
	h_http_free(&h);

	/* 2 MiB: nginx refuses it before the responder sees a byte. */
	big = malloc(big_len);
	cr_assert_not_null(big);
	memset(big, ' ', big_len);
	big[0] = '{';
	big[big_len - 1] = '}';
	post_hook(big, big_len, hex, "m-6", "application/json", &h);
	expect_error(&h, 413, "PAYLOAD_TOO_LARGE");
	h_http_free(&h);
	free(big);

	/* Wrong method: 405 with the Allow header. */
	h_https(&W.stack, "GET", "/webhooks/plane", hdr_get, NULL, 0, &h);
	expect_error(&h, 405, "METHOD_NOT_ALLOWED");
	allow = h_http_header(&h, "Allow");
	cr_expect_str_eq(allow ? allow : "", "POST");
	free(allow);
	h_http_free(&h);
	h_https(&W.stack, "PUT", "/api/v1/health", NULL, "{}", 2, &h);
	expect_error(&h, 405, "METHOD_NOT_ALLOWED");
	allow = h_http_header(&h, "Allow");
	cr_expect_str_eq(allow ? allow : "", "GET, HEAD");
	free(allow);
	h_http_free(&h);

	/* Unknown routes. */
	get("/api/v1/nope", NULL, &h);
	expect_error(&h, 404, "NOT_FOUND");
	h_http_free(&h);
	get("/api/v1/dead-letters/abc/retry", BEARER, &h);
	expect_error(&h, 404, "NOT_FOUND");
	h_http_free(&h);

	/* Nothing was stored, nothing written. */
	cr_expect_eq(queue_depth(), 0);
	cr_expect_eq(metric("calplanebot_webhooks_total{outcome=\"queued\"}"), 0);
	cr_expect_eq(metric("calplanebot_webhooks_total{outcome=\"rejected\"}"), 5);
	cr_expect_eq(event_count(), 0);
	cJSON_Delete(p);
}

Test(webhook, unsigned_accepted_only_when_allowed, .init = up_open,
    .fini = world_down, .timeout = 60)
{
	cJSON *p = sim_payload(WEB_2, "name");
	const char *body = jstr(p, "body");
	struct h_http h;

	post_hook(body, strlen(body), NULL, "u-1", "application/json", &h);
	cr_expect_eq(h.status, 202, "%s", h.body);
	h_http_free(&h);
	cJSON_Delete(p);
	cr_expect(wait_event(UID(WEB_2), NULL, 5000));
	/* Without an admin token the admin routes are off. */
	h_https(&W.stack, "POST", "/api/v1/sync", NULL, NULL, 0, &h);
	expect_error(&h, 503, "ADMIN_DISABLED");
	h_http_free(&h);
	get("/api/v1/dead-letters", BEARER, &h);
	expect_error(&h, 503, "ADMIN_DISABLED");
	h_http_free(&h);
}

/* ---- nothing lost ------------------------------------------------------- */

Test(durability, killed_drainer_loses_nothing, .init = up,
    .fini = world_down, .timeout = 150)
{
	static const char *const issues[] = { WEB_1, WEB_2, WEB_3 };
	static const char *const uids[] = { UID(WEB_1), UID(WEB_2), UID(WEB_3) };
	char fields[256];
	pid_t pids[8];
	struct h_run run;
	struct store *store = NULL;
	char errmsg[CPB_ERRMSG_MAX];
	size_t i, n;
	long depth = -1, end;
	cJSON *r;

	/*
	 * Plane answers the drainer's project lookup slowly, so the drainer
	 * is inside the item when it dies.
	 */
	sim_ok("POST", "/_sim/faults", "{\"path_regex\":\"/projects/"
	    WEB_PROJECT "/$\",\"method\":\"GET\",\"delay_ms\":4000,\"times\":10}");
	for (i = 0; i < 3; i++) {
		snprintf(fields, sizeof(fields), "\"event\":\"issue\","
		    "\"action\":\"updated\",\"issue_id\":\"%s\",\"field\":\"name\"",
		    issues[i]);
		r = sim_webhook(fields);
		expect_sim_answer(r, 202, "queued");
		cJSON_Delete(r);
	}
	h_sleep_ms(700);
	n = h_stack_pool_pids(&W.stack, pids, 8);
	cr_assert_eq(n, 2, "pool of %zu", n);
	for (i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	sim_ok("DELETE", "/_sim/faults", NULL);
	cr_expect_eq(event_count(), 0, "the slow drainer finished anyway");

	/*
	 * cron's drain: holding the drain lock, it knows the killed
	 * drainer's lease is stale and applies its item too.
	 */
	end = h_now_ms() + 20000;
	do {
		run_sync("drain", &run);
		cr_assert(run.status == 0 || run.status == 1, "drain exit %d: %s",
		    run.status, run.err);
		h_run_free(&run);
		cr_assert_eq(store_open(&store, W.db, errmsg), CPB_OK, "%s", errmsg);
		cr_assert_eq(store_queue_depth(store, &depth, errmsg), CPB_OK);
		store_close(store);
		if (depth == 0)
			break;
		h_sleep_ms(2000);
	} while (h_now_ms() < end);
	cr_assert_eq(depth, 0, "deliveries left in the queue");
	for (i = 0; i < 3; i++) {
		cr_expect(wait_event(uids[i], NULL, 100), "%s missing", uids[i]);
		cr_expect_eq(event_sequence(uids[i]), 0, "%s written twice",
		    uids[i]);
	}
	cr_expect_eq(event_count(), 3);
}

Test(durability, caldav_outage_then_drain_repairs, .init = up,
    .fini = world_down, .timeout = 90)
{
	cJSON *r;
	struct h_run run;
	long end;

	cr_assert(h_dav_down(&W.dav), "radicale did not stop");
	r = sim_webhook("\"event\":\"issue\",\"action\":\"updated\","
	    "\"issue_id\":\"" WEB_1 "\",\"field\":\"name\"");
	expect_sim_answer(r, 202, "queued");
	cJSON_Delete(r);
	r = sim_webhook("\"event\":\"issue\",\"action\":\"updated\","
	    "\"issue_id\":\"" WEB_2 "\",\"field\":\"priority\"");
	expect_sim_answer(r, 202, "queued");
	cJSON_Delete(r);
	h_sleep_ms(300);
	cr_expect_geq(queue_depth(), 1, "accepted deliveries must wait");

	cr_assert(h_dav_up(&W.dav), "radicale did not come back");
	end = h_now_ms() + 20000;
	do {
		run_sync("drain", &run);
		h_run_free(&run);
		if (queue_depth() == 0)
			break;
		h_sleep_ms(300);
	} while (h_now_ms() < end);
	cr_assert_eq(queue_depth(), 0);
	cr_expect(wait_event(UID(WEB_1), NULL, 100));
	cr_expect(wait_event(UID(WEB_2), NULL, 100));
	cr_expect_eq(event_count(), 2);
}

/* ---- dead letters and the admin routes ---------------------------------- */

static cJSON *
dead_letters(void)
{
	struct h_http h;
	cJSON *doc;

	cr_assert_eq(get("/api/v1/dead-letters", BEARER, &h), 200, "%s", h.body);
	doc = parse_body(&h);
	h_http_free(&h);
	return doc;
}

static int64_t
dead_id_of(const cJSON *doc, const char *issue_id)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "dead_letters");
	const cJSON *it;

	cJSON_ArrayForEach(it, list) {
		const char *e = jstr(it, "entity_id");

		if (e != NULL && strcmp(e, issue_id) == 0)
			return (int64_t)jnum(it, "id");
	}
	return -1;
}

Test(admin, failing_items_reach_the_dead_letters, .init = up_dead_letters,
    .fini = world_down, .timeout = 90)
{
	const char *wrong[] = { "Authorization: Bearer not-the-token", NULL };
	char path[128];
	struct h_run run;
	struct h_http h;
	cJSON *doc, *r;
	int64_t id1, id2;
	long end, total = 0;

	cr_assert(h_dav_down(&W.dav));
	r = sim_webhook("\"event\":\"issue\",\"action\":\"updated\","
	    "\"issue_id\":\"" WEB_1 "\",\"field\":\"name\"");
	expect_sim_answer(r, 202, "queued");
	cJSON_Delete(r);
	r = sim_webhook("\"event\":\"issue\",\"action\":\"updated\","
	    "\"issue_id\":\"" WEB_2 "\",\"field\":\"name\"");
	expect_sim_answer(r, 202, "queued");
	cJSON_Delete(r);
	/* CALPLANEBOT_MAX_ATTEMPTS=2: a few drains and both are dead. */
	end = h_now_ms() + 30000;
	do {
		h_sleep_ms(100);
		run_sync("drain", &run);
		h_run_free(&run);
		doc = dead_letters();
		total = (long)jnum(doc, "total");
		cJSON_Delete(doc);
	} while (total < 2 && h_now_ms() < end);
	cr_assert_eq(total, 2, "dead letters: %ld", total);
	cr_expect_eq(queue_depth(), 0);

	/* The health document shows them, with an alert. */
	get("/api/v1/health", NULL, &h);
	cr_assert_eq(h.status, 200);
	cr_expect(strstr(h.body, "DEAD_LETTERS") != NULL, "%s", h.body);
	doc = parse_body(&h);
	cr_expect_eq(jnum(cJSON_GetObjectItemCaseSensitive(doc, "dead_letters"),
	    "count"), 2);
	cJSON_Delete(doc);
	h_http_free(&h);

	/* Admin token: none, wrong, right. */
	get("/api/v1/dead-letters", NULL, &h);
	expect_error(&h, 401, "UNAUTHORIZED");
	{
		char *wa = h_http_header(&h, "WWW-Authenticate");

		cr_expect(wa != NULL && strncmp(wa, "Bearer", 6) == 0);
		free(wa);
	}
	h_http_free(&h);
	get("/api/v1/dead-letters", wrong[0], &h);
	expect_error(&h, 401, "UNAUTHORIZED");
	h_http_free(&h);
	get("/api/v1/dead-letters?limit=0", BEARER, &h);
	expect_error(&h, 400, "INVALID_PARAMETER");
	h_http_free(&h);
	doc = dead_letters();
	id1 = dead_id_of(doc, WEB_1);
	id2 = dead_id_of(doc, WEB_2);
	cJSON_Delete(doc);
	cr_assert(id1 > 0 && id2 > 0, "ids %lld %lld", (long long)id1,
	    (long long)id2);

	snprintf(path, sizeof(path), "/api/v1/dead-letters/%lld/retry",
	    (long long)id1);
	h_https(&W.stack, "POST", path, wrong, NULL, 0, &h);
	expect_error(&h, 401, "UNAUTHORIZED");
	h_http_free(&h);

	/* CalDAV is back: a retried item is applied right after the answer. */
	cr_assert(h_dav_up(&W.dav));
	{
		const char *ok[] = { BEARER, NULL };

		h_https(&W.stack, "POST", path, ok, NULL, 0, &h);
		cr_assert_eq(h.status, 202, "%s", h.body);
		doc = parse_body(&h);
		cr_expect_str_eq(jstr(doc, "status"), "requeued");
		cJSON_Delete(doc);
		h_http_free(&h);
		cr_expect(wait_event(UID(WEB_1), NULL, 5000),
		    "the retried delivery was not applied");

		snprintf(path, sizeof(path), "/api/v1/dead-letters/%lld",
		    (long long)id2);
		h_https(&W.stack, "DELETE", path, ok, NULL, 0, &h);
		cr_assert_eq(h.status, 200, "%s", h.body);
		h_http_free(&h);
		h_https(&W.stack, "DELETE", path, ok, NULL, 0, &h);
		expect_error(&h, 404, "NOT_FOUND");
		h_http_free(&h);
	}
	doc = dead_letters();
	cr_expect_eq(jnum(doc, "total"), 0);
	cJSON_Delete(doc);
	cr_expect_eq(event_count(), 1, "the dropped delivery was applied");
}

Test(admin, sync_route, .init = up, .fini = world_down, .timeout = 60)
{
	const char *wrong[] = { "Authorization: Bearer " ADMIN "x", NULL };
	const char *ok[] = { BEARER, NULL };
	char lock[800];
	struct h_http h;
	cJSON *doc;
	int fd;
	long end;

	h_https(&W.stack, "POST", "/api/v1/sync", NULL, NULL, 0, &h);
	expect_error(&h, 401, "UNAUTHORIZED");
	h_http_free(&h);
	h_https(&W.stack, "POST", "/api/v1/sync", wrong, NULL, 0, &h);
	expect_error(&h, 401, "UNAUTHORIZED");
	h_http_free(&h);
	get("/api/v1/sync", BEARER, &h);
	expect_error(&h, 405, "METHOD_NOT_ALLOWED");
	h_http_free(&h);

	/* A sync holds its lock: 409, and nothing is started. */
	snprintf(lock, sizeof(lock), "%s.lock", W.db);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	cr_assert(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
	h_https(&W.stack, "POST", "/api/v1/sync", ok, NULL, 0, &h);
	expect_error(&h, 409, "SYNC_IN_PROGRESS");
	h_http_free(&h);
	close(fd);

	h_https(&W.stack, "POST", "/api/v1/sync", ok, NULL, 0, &h);
	cr_assert_eq(h.status, 202, "%s", h.body);
	doc = parse_body(&h);
	cr_expect_str_eq(jstr(doc, "status"), "accepted");
	cr_expect(jstr(doc, "sync_id") != NULL &&
	    strncmp(jstr(doc, "sync_id"), "sync-", 5) == 0);
	cJSON_Delete(doc);
	h_http_free(&h);
	/* The sync runs in its own process; its result lands in the calendar. */
	end = h_now_ms() + 20000;
	while (event_count() < SAMPLE_EVENTS && h_now_ms() < end)
		h_sleep_ms(200);
	cr_expect_eq(event_count(), SAMPLE_EVENTS);
}

/* ---- health, metrics, headers, limits ----------------------------------- */

Test(api, health_status_metrics, .init = up, .fini = world_down,
    .timeout = 60)
{
	struct h_http h;
	cJSON *doc;
	char *v;

	full_sync();
	get("/health", NULL, &h);
	cr_assert_eq(h.status, 200);
	doc = parse_body(&h);
	cr_expect_str_eq(jstr(doc, "status"), "healthy");
	cr_expect_not_null(jstr(doc, "timestamp"));
	cr_expect_not_null(jstr(doc, "version"));
	cJSON_Delete(doc);
	/* What nginx adds to every answer. */
	v = h_http_header(&h, "X-Content-Type-Options");
	cr_expect_str_eq(v ? v : "", "nosniff");
	free(v);
	v = h_http_header(&h, "X-Frame-Options");
	cr_expect_str_eq(v ? v : "", "DENY");
	free(v);
	v = h_http_header(&h, "Referrer-Policy");
	cr_expect_str_eq(v ? v : "", "no-referrer");
	free(v);
	v = h_http_header(&h, "Content-Security-Policy");
	cr_expect(v && strstr(v, "script-src 'self'") && strstr(v,
	    "frame-ancestors 'none'"), "CSP: %s", v ? v : "(none)");
	free(v);
	v = h_http_header(&h, "Server");
	cr_expect_str_eq(v ? v : "", "nginx", "server_tokens must be off");
	free(v);
	h_http_free(&h);

	h_https(&W.stack, "HEAD", "/health", NULL, NULL, 0, &h);
	cr_expect_eq(h.status, 200);
	cr_expect_str_eq(h.body, "");
	h_http_free(&h);

	get("/api/v1/health", NULL, &h);
	cr_assert_eq(h.status, 200, "%s", h.body);
	doc = parse_body(&h);
	cr_expect_not_null(jstr(doc, "status"));
	cr_expect_not_null(jstr(doc, "version"));
	cr_expect_geq(jnum(doc, "uptime_seconds"), 0);
	cr_expect_eq(jnum(doc, "queue_depth"), 0);
	cr_expect_not_null(cJSON_GetObjectItemCaseSensitive(doc, "last_sync"));
	cr_expect(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc,
	    "recent_runs")));
	cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc,
	    "recent_runs")), 1);
	cJSON_Delete(doc);
	cr_expect(strstr(h.body, SECRET) == NULL && strstr(h.body, ADMIN) ==
	    NULL && strstr(h.body, W.dav.pass) == NULL, "a secret in health");
	h_http_free(&h);

	get("/api/v1/status", NULL, &h);
	cr_assert_eq(h.status, 200, "%s", h.body);
	doc = parse_body(&h);
	cr_expect_eq(jnum(doc, "queue_depth"), 0);
	cr_expect_not_null(cJSON_GetObjectItemCaseSensitive(doc, "last_run"));
	cJSON_Delete(doc);
	h_http_free(&h);

	get("/api/v1/metrics", NULL, &h);
	cr_assert_eq(h.status, 200);
	v = h_http_header(&h, "Content-Type");
	cr_expect(v && strncmp(v, "text/plain; version=0.0.4", 25) == 0,
	    "Content-Type %s", v ? v : "(none)");
	free(v);
	cr_expect(strstr(h.body, "# TYPE calplanebot_queue_depth gauge") != NULL);
	cr_expect(strstr(h.body, "calplanebot_up 1") != NULL);
	h_http_free(&h);

	/* The status page itself is static, from www/. */
	get("/", NULL, &h);
	cr_expect_eq(h.status, 200);
	v = h_http_header(&h, "Content-Type");
	cr_expect(v && strncmp(v, "text/html", 9) == 0);
	free(v);
	h_http_free(&h);
}

Test(api, tls_1_1_is_refused, .init = up, .fini = world_down, .timeout = 60)
{
	char cmd[1024];

	/* The openssl CLI can still offer TLS 1.1; nginx must refuse it. */
	snprintf(cmd, sizeof(cmd), "openssl s_client -connect 127.0.0.1:%d "
	    "-tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null >/dev/null 2>&1",
	    W.stack.port);
	cr_expect_neq(system(cmd), 0, "TLS 1.1 handshake succeeded");
	snprintf(cmd, sizeof(cmd), "openssl s_client -connect 127.0.0.1:%d "
	    "-tls1_2 </dev/null >/dev/null 2>&1", W.stack.port);
	cr_expect_eq(system(cmd), 0, "TLS 1.2 handshake failed");
}

Test(api, rate_limits, .init = up, .fini = world_down, .timeout = 60)
{
	const char *no_auth[] = { NULL };
	struct h_http h;
	int i, ok = 0, limited = 0, other = 0;

	/* 100/min with a burst of 50: 70 at once cannot all pass. */
	for (i = 0; i < 70; i++) {
		post_hook("{}", 2, "00", NULL, "application/json", &h);
		if (h.status == 401)
			ok++;
		else if (h.status == 429) {
			if (limited++ == 0)
				expect_error(&h, 429, "RATE_LIMITED");
		} else
			other++;
		h_http_free(&h);
	}
	cr_expect_eq(other, 0);
	cr_expect(ok >= 50 && ok <= 60, "%d passed the limit", ok);
	cr_expect_geq(limited, 10);

	/* POST /api/v1/sync: 10 at once, then limited (GET is not counted). */
	for (i = 0; i < 3; i++) {
		get("/api/v1/sync", NULL, &h);
		cr_expect_eq(h.status, 405);
		h_http_free(&h);
	}
	for (i = 0; i < 10; i++) {
		h_https(&W.stack, "POST", "/api/v1/sync", no_auth, NULL, 0, &h);
		cr_expect_eq(h.status, 401, "request %d: %ld", i, h.status);
		h_http_free(&h);
	}
	h_https(&W.stack, "POST", "/api/v1/sync", no_auth, NULL, 0, &h);
	expect_error(&h, 429, "RATE_LIMITED");
	h_http_free(&h);
}

/* ---- the pool's life ---------------------------------------------------- */

static int
count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

Test(pool, sigterm_stops_cleanly, .init = up, .fini = world_down,
    .timeout = 60)
{
	pid_t pids[8];
	struct h_http h;
	size_t n, i;
	long end;

	get("/health", NULL, &h);
	cr_assert_eq(h.status, 200);
	h_http_free(&h);
	n = h_stack_pool_pids(&W.stack, pids, 8);
	cr_assert_eq(n, 2);
	for (i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	end = h_now_ms() + 3000;
	while (h_stack_pool_pids(&W.stack, pids, 8) > 0 && h_now_ms() < end)
		h_sleep_ms(50);
	cr_expect_eq(h_stack_pool_pids(&W.stack, pids, 8), 0,
	    "a responder ignored SIGTERM");
	cr_expect_eq(count_lines(W.stack.log, "op=stop"), 2,
	    "both responders log a clean stop");
	/* nginx without a pool: its own JSON 502. */
	get("/health", NULL, &h);
	expect_error(&h, 502, "BAD_GATEWAY");
	h_http_free(&h);
}

/* No servers: the configuration rules of the responder itself. */
static int
run_fcgi(const char *const *extra_env, const char *arg, char **err)
{
	char bin[1024], cmd[4096];
	size_t i, len = 0;
	FILE *p;
	int status;

	snprintf(bin, sizeof(bin), "%s/calplanebot-fcgi", h_bindir());
	len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "env -i "
	    "PATH=/usr/bin:/bin CALPLANEBOT_CONFIG=/dev/null "
	    "PLANE_BASE_URL=http://127.0.0.1:9 PLANE_API_TOKEN=plane_api_x "
	    "PLANE_WORKSPACE_SLUG=acme CALDAV_URL=http://127.0.0.1:9/ "
	    "CALDAV_USERNAME=u CALDAV_PASSWORD=p CALPLANEBOT_DB=%s/cfg.db ",
	    getenv("CPB_TEST_TMP") ? getenv("CPB_TEST_TMP") : "/tmp");
	for (i = 0; extra_env && extra_env[i]; i++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%s ",
		    extra_env[i]);
	snprintf(cmd + len, sizeof(cmd) - len, "%s %s </dev/null 2>&1", bin,
	    arg ? arg : "");
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	*err = calloc(1, 8192);
	fread(*err, 1, 8191, p);
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

Test(pool, refuses_to_start_without_a_secret, .timeout = 30)
{
	const char *allow[] = { "ALLOW_UNSIGNED_WEBHOOKS=true", NULL };
	const char *secret[] = { "PLANE_WEBHOOK_SECRET=" SECRET, NULL };
	char *out;

	cr_expect_eq(run_fcgi(NULL, "--check", &out), 2, "%s", out);
	cr_expect(strstr(out, "PLANE_WEBHOOK_SECRET") != NULL, "%s", out);
	free(out);
	cr_expect_eq(run_fcgi(allow, "--check", &out), 0, "%s", out);
	free(out);
	cr_expect_eq(run_fcgi(secret, "--check", &out), 0, "%s", out);
	cr_expect(strstr(out, SECRET) == NULL, "the secret was printed");
	free(out);
	/* Outside spawn-fcgi: no socket on stdin, a clear refusal. */
	cr_expect_eq(run_fcgi(secret, NULL, &out), 1, "%s", out);
	cr_expect(strstr(out, "spawn-fcgi") != NULL, "%s", out);
	free(out);
}
