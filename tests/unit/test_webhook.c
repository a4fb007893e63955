/*
 * test_webhook.c - Plane's webhooks: the signature (fixed vectors from
 * `printf %s BODY | openssl dgst -sha256 -hmac SECRET`), every answer of
 * webhook_receive with its status, error code and message, what reaches
 * the store (and that nothing does on a refusal), and the drain paths that
 * need no peer: deletions of unknown things, stale data, coalescing,
 * corrupt payloads, the lock, and an unreachable Plane.
 *
 * Each test has its own mkdtemp directory and a real store in it; the
 * configuration is loaded with config_load() from a fixed environment.
 */
#define _XOPEN_SOURCE 700	/* nftw */

#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "caldav.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "plane.h"
#include "store.h"
#include "webhook.h"

#define SECRET		"plane_wh_0123456789abcdef0123456789abcdef"
#define ISSUE_ID	"8c0e1111-2222-3333-4444-555555555501"
#define PROJECT_ID	"4af1c0de-0000-4000-8000-00000000abcd"
#define UPDATED_US	1747058631902114LL	/* 2025-05-12T14:03:51.902114Z */

static char tmp[64];
static char db[128];
static struct cpb_config *cfg;
static struct store *st;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

/* A configuration from a fixed environment; extra may be NULL. */
static struct cpb_config *
load_cfg(const char *extra1, const char *extra2)
{
	char dbvar[200];
	char *env[] = {
		(char *)"CALPLANEBOT_CONFIG=/dev/null",
		(char *)"PLANE_BASE_URL=http://127.0.0.1:1",
		(char *)"PLANE_API_TOKEN=plane_api_test",
		(char *)"PLANE_WORKSPACE_SLUG=acme",
		(char *)"CALDAV_URL=http://127.0.0.1:1/dav/",
		(char *)"CALDAV_USERNAME=u",
		(char *)"CALDAV_PASSWORD=p",
		(char *)"CALPLANEBOT_RETRY_MIN_MS=1",
		(char *)"CALPLANEBOT_RETRY_MAX_MS=2",
		(char *)"CALPLANEBOT_RETRY_ATTEMPTS=1",
		(char *)"CALPLANEBOT_MAX_ATTEMPTS=3",
		dbvar, (char *)extra1, (char *)extra2, NULL,
	};
	struct cpb_config *c = NULL;

	snprintf(dbvar, sizeof(dbvar), "CALPLANEBOT_DB=%s", db);
	if (extra1 == NULL)
		env[12] = NULL;
	cr_assert_eq(config_load(&c, env, stderr), CPB_OK);
	return c;
}

static void
setup(void)
{
	char msg[CPB_ERRMSG_MAX] = "";

	log_set_level(LOG_ERROR);
	snprintf(tmp, sizeof(tmp), "/tmp/cpb-webhook-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(db, sizeof(db), "%s/state.db", tmp);
	cfg = load_cfg("PLANE_WEBHOOK_SECRET=" SECRET, NULL);
	cr_assert_eq(store_open(&st, db, msg), CPB_OK, "%s", msg);
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	config_free(cfg);
	cfg = NULL;
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(signature);
TestSuite(receive, .init = setup, .fini = teardown);
TestSuite(drain, .init = setup, .fini = teardown);

/* ------------------------------------------------------------- signature */

#define BODY		"{\"event\":\"issue\"}"
#define BODY_SIG	"0a68be7a209d932dd45c6cafc7752066797be3741a9d063ccad8cb04eaacd847"
#define EMPTY_SIG	"b6aa4539642e4d90760223ad129f0f96b4dd0a7cc78a8448941e961c6d800c90"
#define FOX		"The quick brown fox jumps over the lazy dog"
#define FOX_SIG		"f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"

static bool
sig_ok(const char *secret, const char *body, const char *header)
{
	return webhook_signature_ok(secret, body, strlen(body), header);
}

Test(signature, openssl_vectors)
{
	cr_assert(sig_ok(SECRET, BODY, BODY_SIG));
	cr_assert(sig_ok(SECRET, "", EMPTY_SIG));
	cr_assert(webhook_signature_ok(SECRET, NULL, 0, EMPTY_SIG));
	cr_assert(sig_ok("key", FOX, FOX_SIG));
}

Test(signature, sha256_prefix_accepted)
{
	cr_assert(sig_ok(SECRET, BODY, "sha256=" BODY_SIG));
	cr_assert(sig_ok("key", FOX, "sha256=" FOX_SIG));
	cr_assert_not(sig_ok(SECRET, BODY, "SHA256=" BODY_SIG));
	cr_assert_not(sig_ok(SECRET, BODY, "sha1=" BODY_SIG));
	cr_assert_not(sig_ok(SECRET, BODY, "sha256=sha256=" BODY_SIG));
	cr_assert_not(sig_ok(SECRET, BODY, " " BODY_SIG));
}

Test(signature, wrong_mac_body_or_secret)
{
	/* Last digit changed. */
	cr_assert_not(sig_ok(SECRET, BODY,
	    "0a68be7a209d932dd45c6cafc7752066797be3741a9d063ccad8cb04eaacd848"));
	/* First digit changed. */
	cr_assert_not(sig_ok(SECRET, BODY,
	    "1a68be7a209d932dd45c6cafc7752066797be3741a9d063ccad8cb04eaacd847"));
	cr_assert_not(sig_ok(SECRET, "{\"event\":\"issue\"} ", BODY_SIG));
	cr_assert_not(sig_ok("plane_wh_other", BODY, BODY_SIG));
	cr_assert_not(sig_ok("key", FOX, BODY_SIG));
	/* The body's length is what is signed, not its C string. */
	cr_assert_not(webhook_signature_ok(SECRET, BODY, strlen(BODY) - 1,
	    BODY_SIG));
}

Test(signature, lowercase_hex_of_exact_length_only)
{
	/* Plane sends lowercase; the same MAC in uppercase is refused. */
	cr_assert_not(sig_ok("key", FOX,
	    "F7BC83F430538424B13298E6AA6FB143EF4D59A14946175997479DBC2D1A3CD8"));
	cr_assert_not(sig_ok("key", FOX,
	    "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cD8"));
	cr_assert_not(sig_ok("key", FOX, FOX_SIG "0"));
	cr_assert_not(sig_ok("key", FOX,
	    "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd"));
	cr_assert_not(sig_ok("key", FOX,
	    "g7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"));
	cr_assert_not(sig_ok("key", FOX, FOX_SIG "\n"));
	cr_assert_not(sig_ok("key", FOX, ""));
	cr_assert_not(sig_ok("key", FOX, "sha256="));
	cr_assert_not(sig_ok("key", FOX, NULL));
	cr_assert_not(sig_ok(NULL, FOX, FOX_SIG));
	cr_assert_not(webhook_signature_ok("key", NULL, 5, FOX_SIG));
}

/* ------------------------------------------------------------- receiving */

/* HMAC-SHA256 hex of body with SECRET (independent of webhook.c). */
static void
sign(const char *body, size_t len, char out[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	cr_assert_not_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (const unsigned char *)body, len, mac, &n));
	cr_assert_eq(n, 32);
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* A signed, well-formed request for body. */
static struct webhook_request
request(const char *body, char sig[65])
{
	sign(body, strlen(body), sig);
	return (struct webhook_request){ .body = body,
	    .body_len = strlen(body), .signature = sig,
	    .delivery = "0b9c5c6e-7d1f-4a8e-9f0a-1b2c3d4e5f60",
	    .event = NULL, .content_type = "application/json" };
}

/* An issue webhook as Plane sends it (Python's separators). */
static char *
issue_body(const char *action, const char *id, const char *updated_at)
{
	char *b = malloc(4096);

	cr_assert_not_null(b);
	snprintf(b, 4096, "{\"event\": \"issue\", \"action\": \"%s\", "
	    "\"webhook_id\": \"wh1\", \"workspace_id\": \"ws1\", \"data\": "
	    "{\"id\": \"%s\", \"name\": \"Prepare Q2 release notes\", "
	    "\"description_html\": \"<p>Draft</p>\", \"priority\": \"high\", "
	    "\"target_date\": \"2025-05-16\", \"sequence_id\": 42, "
	    "\"updated_at\": \"%s\", \"project\": \"" PROJECT_ID "\", "
	    "\"workspace\": \"ws1\", \"state\": {\"id\": \"s1\", \"name\": "
	    "\"In Progress\", \"color\": \"#F59E0B\", \"group\": \"started\"}, "
	    "\"labels\": [{\"id\": \"l1\", \"name\": \"bug\", \"color\": "
	    "\"#ff4444\"}], \"assignees\": []}, \"activity\": {\"field\": "
	    "\"state\", \"new_value\": \"s1\", \"old_value\": null, \"actor\": "
	    "{\"id\": \"u1\", \"display_name\": \"ann\"}, \"old_identifier\": "
	    "null, \"new_identifier\": null}}", action, id, updated_at);
	return b;
}

static char *
project_body(const char *action)
{
	char *b = malloc(1024);

	cr_assert_not_null(b);
	if (strcmp(action, "deleted") == 0)
		snprintf(b, 1024, "{\"event\": \"project\", \"action\": "
		    "\"deleted\", \"webhook_id\": \"wh1\", \"workspace_id\": "
		    "\"ws1\", \"data\": {\"id\": \"" PROJECT_ID "\"}, "
		    "\"activity\": {}}");
	else
		snprintf(b, 1024, "{\"event\": \"project\", \"action\": \"%s\", "
		    "\"data\": {\"id\": \"" PROJECT_ID "\", \"identifier\": "
		    "\"WEB\", \"name\": \"Website 2\", \"updated_at\": "
		    "\"2025-05-12T14:03:51.902114Z\"}}", action);
	return b;
}

static long
qdepth(void)
{
	char msg[CPB_ERRMSG_MAX];
	long n = -1;

	cr_assert_eq(store_queue_depth(st, &n, msg), CPB_OK, "%s", msg);
	return n;
}

struct counter_find {
	const char *name;
	long	 value;
};

static enum cpb_err
find_counter(const char *name, long value, void *ctx)
{
	struct counter_find *cf = ctx;

	if (strcmp(name, cf->name) == 0)
		cf->value = value;
	return CPB_OK;
}

static long
counter(const char *name)
{
	struct counter_find cf = { name, 0 };
	char msg[CPB_ERRMSG_MAX];

	cr_assert_eq(store_counters_each(st, find_counter, &cf, msg), CPB_OK);
	return cf.value;
}

static void
expect(const struct webhook_result *r, enum webhook_outcome outcome,
    int status, const char *code, const char *message)
{
	cr_assert_eq(r->outcome, outcome, "outcome %d: %s", r->outcome,
	    r->message);
	cr_assert_eq(r->http_status, status);
	if (code == NULL)
		cr_assert_null(r->error_code, "%s", r->error_code);
	else
		cr_assert_str_eq(r->error_code, code);
	cr_assert_str_eq(r->message, message);
}

/* A refusal: its answer, and nothing stored but the counter. */
static void
expect_refused(const struct webhook_request *req, int status,
    const char *code, const char *message)
{
	struct webhook_result r;
	long before = counter("webhooks_total{outcome=\"rejected\"}");

	webhook_receive(cfg, st, req, &r);
	expect(&r, WEBHOOK_REJECTED, status, code, message);
	cr_assert_eq(qdepth(), 0);
	cr_assert_eq(counter("webhooks_total{outcome=\"rejected\"}"),
	    before + 1);
}

Test(receive, issue_update_is_queued)
{
	char sig[65], msg[CPB_ERRMSG_MAX];
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);
	struct webhook_result r;
	struct store_queue_item it;

	req.event = "issue";
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	cr_assert_str_eq(r.delivery, "0b9c5c6e-7d1f-4a8e-9f0a-1b2c3d4e5f60");
	cr_assert_str_eq(r.entity_id, ISSUE_ID);
	cr_assert_str_eq(r.event, "issue");
	cr_assert_eq(qdepth(), 1);
	cr_assert_eq(counter("webhooks_total{outcome=\"queued\"}"), 1);

	cr_assert_eq(store_queue_lease(st, 60, &it, msg), CPB_OK);
	cr_assert_str_eq(it.delivery, "0b9c5c6e-7d1f-4a8e-9f0a-1b2c3d4e5f60");
	cr_assert_str_eq(it.event, "issue");
	cr_assert_str_eq(it.action, "updated");
	cr_assert_str_eq(it.entity_id, ISSUE_ID);
	cr_assert_eq(it.updated_at_us, UPDATED_US);
	/* The raw body, byte for byte. */
	cr_assert_str_eq(it.payload, body);
	store_queue_item_free(&it);
	free(body);
}

Test(receive, prefixed_signature_and_charset)
{
	char sig[65], prefixed[80];
	char *body = issue_body("created", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);
	struct webhook_result r;

	snprintf(prefixed, sizeof(prefixed), "sha256=%s", sig);
	req.signature = prefixed;
	req.content_type = "Application/JSON; charset=utf-8";
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	free(body);
}

Test(receive, same_delivery_twice_is_one)
{
	char sig[65];
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);
	struct webhook_result r;

	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_DUPLICATE, 202, NULL, "delivery already received");
	cr_assert_str_eq(r.delivery, "0b9c5c6e-7d1f-4a8e-9f0a-1b2c3d4e5f60");
	cr_assert_eq(qdepth(), 1);
	cr_assert_eq(counter("webhooks_total{outcome=\"duplicate\"}"), 1);
	free(body);
}

Test(receive, missing_delivery_id_is_the_body_hash)
{
	char sig[65];
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);
	struct webhook_result r;
	unsigned char md[32];
	unsigned int n = 0, i;
	char want[80] = "sha256:";

	cr_assert_eq(EVP_Digest(body, strlen(body), md, &n, EVP_sha256(),
	    NULL), 1);
	for (i = 0; i < n; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
	req.delivery = NULL;
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	cr_assert_str_eq(r.delivery, want);
	/* The very same body again: the same delivery. */
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_DUPLICATE, 202, NULL, "delivery already received");
	free(body);
}

Test(receive, content_type_checked_first)
{
	struct webhook_request req = { .body = "junk", .body_len = 4,
	    .signature = NULL };
	static const char *const bad[] = { NULL, "", "text/plain",
	    "application/jsonx", "application/json-patch+json",
	    "application/x-www-form-urlencoded", "json" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req.content_type = bad[i];
		expect_refused(&req, 415, "UNSUPPORTED_MEDIA_TYPE",
		    "Content-Type must be application/json");
	}
}

Test(receive, too_large_before_the_signature)
{
	size_t len = WEBHOOK_BODY_MAX + 1;
	char *big = malloc(len);
	struct webhook_request req = { .body = big, .body_len = len,
	    .content_type = "application/json" };

	cr_assert_not_null(big);
	memset(big, ' ', len);
	expect_refused(&req, 413, "PAYLOAD_TOO_LARGE",
	    "body larger than 1048576 bytes");
	free(big);
}

Test(receive, signature_missing_or_wrong)
{
	char sig[65];
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);

	req.signature = NULL;
	expect_refused(&req, 401, "INVALID_SIGNATURE",
	    "X-Plane-Signature missing");
	req.signature = "";
	expect_refused(&req, 401, "INVALID_SIGNATURE",
	    "X-Plane-Signature missing");
	req.signature = BODY_SIG;
	expect_refused(&req, 401, "INVALID_SIGNATURE",
	    "X-Plane-Signature does not match the body");
	/* Signed, then one byte changed. */
	request(body, sig);
	body[10] = 'X';
	req.signature = sig;
	expect_refused(&req, 401, "INVALID_SIGNATURE",
	    "X-Plane-Signature does not match the body");
	free(body);
}

Test(receive, unsigned_only_when_allowed)
{
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = { .body = body, .body_len = strlen(body),
	    .delivery = "d-unsigned", .content_type = "application/json" };
	struct webhook_result r;
	struct cpb_config *open_cfg;

	/* No secret and no permission: refused, fail closed. */
	config_free(cfg);
	cfg = load_cfg(NULL, NULL);
	cr_assert_null(cfg->plane_webhook_secret);
	expect_refused(&req, 401, "INVALID_SIGNATURE",
	    "no webhook secret configured: deliveries are refused");
	open_cfg = load_cfg("ALLOW_UNSIGNED_WEBHOOKS=true", NULL);
	webhook_receive(open_cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	config_free(open_cfg);
	free(body);
}

/* A signed request with this body must be refused with 400. */
static void
expect_400(const char *body, const char *code, const char *message)
{
	char sig[65];
	struct webhook_request req = request(body, sig);

	expect_refused(&req, 400, code, message);
}

Test(receive, invalid_json)
{
	char sig[65];
	struct webhook_request req;
	static const char nul[] = "{\"event\":\0\"issue\"}";
	char *deep = malloc(1024);
	int i;

	expect_400("", "INVALID_JSON", "body is not valid JSON");
	expect_400("{\"event\": ", "INVALID_JSON", "body is not valid JSON");
	expect_400("{} {}", "INVALID_JSON", "body is not valid JSON");
	expect_400("{}x", "INVALID_JSON", "body is not valid JSON");
	expect_400("{\"a\": \"\xff\"}", "INVALID_JSON",
	    "body is not UTF-8 text");
	expect_400("{\"a\": \"\xc0\xaf\"}", "INVALID_JSON",
	    "body is not UTF-8 text");
	/* A NUL inside the signed length. */
	sign(nul, sizeof(nul) - 1, sig);
	req = (struct webhook_request){ .body = nul,
	    .body_len = sizeof(nul) - 1, .signature = sig,
	    .content_type = "application/json" };
	expect_refused(&req, 400, "INVALID_JSON", "body is not UTF-8 text");

	/* 64 levels pass the JSON check (and fail the envelope); 65 not. */
	cr_assert_not_null(deep);
	for (i = 0; i < 64; i++)
		deep[i] = '[';
	for (i = 0; i < 64; i++)
		deep[64 + i] = ']';
	deep[128] = '\0';
	expect_400(deep, "INVALID_PAYLOAD", "body: not a JSON object");
	for (i = 0; i < 65; i++)
		deep[i] = '[';
	for (i = 0; i < 65; i++)
		deep[65 + i] = ']';
	deep[130] = '\0';
	expect_400(deep, "INVALID_JSON", "JSON nested deeper than 64 levels");
	free(deep);
}

Test(receive, invalid_envelope_names_the_field)
{
	expect_400("[1]", "INVALID_PAYLOAD", "body: not a JSON object");
	expect_400("{\"action\": \"updated\", \"data\": {\"id\": \"x\"}}",
	    "INVALID_PAYLOAD", "event: missing");
	expect_400("{\"event\": 5}", "INVALID_PAYLOAD", "event: not a string");
	expect_400("{\"event\": null}", "INVALID_PAYLOAD", "event: missing");
	expect_400("{\"event\": \"\"}", "INVALID_PAYLOAD", "event: invalid");
	expect_400("{\"event\": \"is sue\"}", "INVALID_PAYLOAD",
	    "event: invalid");
	expect_400("{\"event\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	    "INVALID_PAYLOAD", "event: invalid");
	expect_400("{\"event\": \"issue\", \"data\": {\"id\": \"x\"}}",
	    "INVALID_PAYLOAD", "action: missing");
	expect_400("{\"event\": \"issue\", \"action\": true}",
	    "INVALID_PAYLOAD", "action: not a string");
	expect_400("{\"event\": \"issue\", \"action\": \"archived\"}",
	    "INVALID_PAYLOAD", "action: must be created, updated or deleted");
	expect_400("{\"event\": \"issue\", \"action\": \"updated\"}",
	    "INVALID_PAYLOAD", "data: missing");
	expect_400("{\"event\": \"issue\", \"action\": \"updated\", "
	    "\"data\": [1]}", "INVALID_PAYLOAD", "data: not an object");
	expect_400("{\"event\": \"issue\", \"action\": \"updated\", "
	    "\"data\": {}}", "INVALID_PAYLOAD", "data.id: missing");
	expect_400("{\"event\": \"issue\", \"action\": \"updated\", "
	    "\"data\": {\"id\": 7}}", "INVALID_PAYLOAD",
	    "data.id: not a string");
	expect_400("{\"event\": \"issue\", \"action\": \"updated\", "
	    "\"data\": {\"id\": \"../etc\"}}", "INVALID_PAYLOAD",
	    "data.id: invalid (at most 63 characters of A-Z a-z 0-9 - _)");
	expect_400("{\"event\": \"issue\", \"action\": \"updated\", "
	    "\"data\": {\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaa\"}}", "INVALID_PAYLOAD",
	    "data.id: invalid (at most 63 characters of A-Z a-z 0-9 - _)");
}

Test(receive, issue_data_checked_by_the_issue_parser)
{
	char *body = issue_body("updated", ISSUE_ID, "yesterday");

	expect_400("{\"event\": \"issue\", \"action\": \"updated\", "
	    "\"data\": {\"id\": \"i1\"}}", "INVALID_PAYLOAD",
	    "data: issue.name: missing");
	expect_400(body, "INVALID_PAYLOAD", "data: issue.updated_at: not a "
	    "time (expected ISO 8601 with a zone, e.g. "
	    "2025-05-12T14:03:51.902114Z)");
	free(body);
}

Test(receive, delivery_header_and_event_header_checked)
{
	char sig[65];
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);

	req.delivery = "a b";
	expect_refused(&req, 400, "INVALID_PAYLOAD", "X-Plane-Delivery: "
	    "invalid (at most 79 characters of A-Z a-z 0-9 - _ . :)");
	req.delivery = "";
	expect_refused(&req, 400, "INVALID_PAYLOAD", "X-Plane-Delivery: "
	    "invalid (at most 79 characters of A-Z a-z 0-9 - _ . :)");
	req.delivery = "d1";
	req.event = "project";
	expect_refused(&req, 400, "INVALID_PAYLOAD",
	    "X-Plane-Event: does not match the body's event");
	free(body);
}

static void
expect_ignored(const char *body, const char *message)
{
	char sig[65];
	struct webhook_request req = request(body, sig);
	struct webhook_result r;

	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_IGNORED, 202, NULL, message);
	cr_assert_eq(qdepth(), 0);
}

Test(receive, events_we_do_not_act_on)
{
	char *project = project_body("created");

	expect_ignored("{\"event\": \"cycle\", \"action\": \"created\", "
	    "\"data\": {\"id\": \"c1\"}}", "cycle created is not acted on");
	expect_ignored("{\"event\": \"module\", \"action\": \"updated\", "
	    "\"data\": {\"id\": \"m1\"}}", "module updated is not acted on");
	expect_ignored("{\"event\": \"issue_comment\", \"action\": "
	    "\"created\", \"data\": {\"id\": \"k1\"}}",
	    "issue_comment created is not acted on");
	expect_ignored(project, "project created is not acted on");
	cr_assert_eq(counter("webhooks_total{outcome=\"ignored\"}"), 4);
	free(project);
}

Test(receive, deletions_and_project_updates_are_queued)
{
	char sig[65], msg[CPB_ERRMSG_MAX];
	char *pu = project_body("updated"), *pd = project_body("deleted");
	struct webhook_request req;
	struct webhook_result r;
	struct store_queue_item it;
	int64_t before = (int64_t)time(NULL) * 1000000;

	req = request("{\"event\": \"issue\", \"action\": \"deleted\", "
	    "\"data\": {\"id\": \"" ISSUE_ID "\"}}", sig);
	req.delivery = "d-del";
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	req = request(pu, sig);
	req.delivery = "d-pu";
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	cr_assert_str_eq(r.entity_id, PROJECT_ID);
	req = request(pd, sig);
	req.delivery = "d-pd";
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	cr_assert_eq(qdepth(), 3);

	/* The issue deletion carries its time of arrival. */
	cr_assert_eq(store_queue_lease(st, 60, &it, msg), CPB_OK);
	cr_assert_str_eq(it.delivery, "d-del");
	cr_assert_geq(it.updated_at_us, before);
	store_queue_item_free(&it);
	/* The project's deletion supersedes its update. */
	cr_assert_eq(store_queue_lease(st, 60, &it, msg), CPB_OK);
	cr_assert_str_eq(it.delivery, "d-pd");
	cr_assert_str_eq(it.action, "deleted");
	cr_assert_eq(it.coalesced, 1);
	store_queue_item_free(&it);
	free(pu);
	free(pd);
}

Test(receive, project_update_data_checked)
{
	expect_400("{\"event\": \"project\", \"action\": \"updated\", "
	    "\"data\": {\"id\": \"p1\", \"name\": \"x\"}}", "INVALID_PAYLOAD",
	    "data: project.identifier: not a string");
}

Test(receive, store_failure_is_503)
{
	char sig[65];
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);
	struct webhook_result r;
	sqlite3 *raw = NULL;

	webhook_receive(cfg, NULL, &req, &r);
	expect(&r, WEBHOOK_UNAVAILABLE, 503, "STORE_UNAVAILABLE",
	    "the delivery could not be stored; try again later");

	/* The queue vanished under the store (a broken file). */
	cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(raw, "DROP TABLE queue", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(raw);
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_UNAVAILABLE, 503, "STORE_UNAVAILABLE",
	    "the delivery could not be stored; try again later");
	cr_assert_eq(counter("webhooks_total{outcome=\"unavailable\"}"), 1);
	free(body);
}

Test(receive, counter_failure_does_not_change_the_answer)
{
	char sig[65];
	char *body = issue_body("updated", ISSUE_ID,
	    "2025-05-12T14:03:51.902114Z");
	struct webhook_request req = request(body, sig);
	struct webhook_result r;
	sqlite3 *raw = NULL;

	cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(raw, "DROP TABLE counters", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(raw);
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
	cr_assert_eq(qdepth(), 1);
	free(body);
}

/* ---------------------------------------------------------------- drain */

/* One integer from a raw connection to the store's file. */
static long long
raw_int(const char *sql)
{
	sqlite3 *raw = NULL;
	sqlite3_stmt *q = NULL;
	long long v;

	cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(raw, sql, -1, &q, NULL), SQLITE_OK,
	    "%s", sql);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(raw);
	return v;
}

/* The clients of an engine whose peers are unreachable (127.0.0.1:1). */
struct rig {
	struct http_client *plane_http, *caldav_http;
	struct plane_client *plane;
	struct caldav_client *caldav;
	struct engine	*eng;
};

static void
rig_up(struct rig *g)
{
	struct http_client_opts o = { .timeout_seconds = 5,
	    .connect_timeout_seconds = 5, .tls_verify = true };
	char msg[CPB_ERRMSG_MAX] = "";

	memset(g, 0, sizeof(*g));
	cr_assert_eq(http_client_new(&g->plane_http, &o, msg), CPB_OK, "%s",
	    msg);
	cr_assert_eq(http_client_new(&g->caldav_http, &o, msg), CPB_OK);
	cr_assert_eq(plane_client_new(&g->plane, cfg, g->plane_http, msg),
	    CPB_OK, "%s", msg);
	cr_assert_eq(caldav_client_new(&g->caldav, cfg, g->caldav_http, msg),
	    CPB_OK, "%s", msg);
	cr_assert_eq(engine_new(&g->eng, cfg, st, g->plane, g->caldav, msg),
	    CPB_OK);
}

static void
rig_down(struct rig *g)
{
	engine_free(g->eng);
	caldav_client_free(g->caldav);
	plane_client_free(g->plane);
	http_client_free(g->caldav_http);
	http_client_free(g->plane_http);
}

/* Receive one signed body with this delivery id; it must be queued. */
static void
deliver(const char *body, const char *delivery)
{
	char sig[65];
	struct webhook_request req = request(body, sig);
	struct webhook_result r;

	req.delivery = delivery;
	webhook_receive(cfg, st, &req, &r);
	expect(&r, WEBHOOK_QUEUED, 202, NULL, "queued");
}

static void
drain_ok(struct rig *g, long max, struct webhook_drain_report *rep)
{
	char msg[CPB_ERRMSG_MAX] = "";

	cr_assert_eq(webhook_drain(cfg, st, g->eng, max, NULL, rep, msg), CPB_OK,
	    "%s", msg);
}

Test(drain, deletions_of_unknown_things_and_unknown_project_update)
{
	struct rig g;
	struct webhook_drain_report rep;
	char *pu = project_body("updated");

	rig_up(&g);
	deliver("{\"event\": \"issue\", \"action\": \"deleted\", \"data\": "
	    "{\"id\": \"gone\"}}", "d1");
	deliver(pu, "d2");
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, 2);
	cr_assert_eq(rep.failed, 0);
	cr_assert_eq(rep.dead, 0);
	cr_assert_eq(rep.coalesced, 0);
	cr_assert_eq(qdepth(), 0);
	cr_assert_eq(counter("operations_total{kind=\"delete\",result=\"ok\"}"),
	    1);
	cr_assert_eq(counter("operations_total{kind=\"project_update\","
	    "result=\"ok\"}"), 1);
	cr_assert_eq(counter("drain_total{result=\"applied\"}"), 2);
	rig_down(&g);
	free(pu);
}

Test(drain, project_deleted_forgets_its_rows)
{
	struct rig g;
	struct webhook_drain_report rep;
	struct store_calendar cal = { .project_id = PROJECT_ID,
	    .url = "http://127.0.0.1:1/dav/plane-p/", .displayname = "Plane: W",
	    .project_name = "W", .project_identifier = "WEB" };
	struct store_calendar back;
	struct store_event ev;
	char msg[CPB_ERRMSG_MAX];
	char *pd = project_body("deleted");

	rig_up(&g);
	cr_assert_eq(store_calendar_put(st, &cal, msg), CPB_OK, "%s", msg);
	/* Rows of failed first writes: nothing in the calendar to delete. */
	cr_assert_eq(store_event_fail(st, "i1", PROJECT_ID, "x", msg), CPB_OK);
	cr_assert_eq(store_event_fail(st, "i2", PROJECT_ID, "x", msg), CPB_OK);
	cr_assert_eq(store_event_fail(st, "other", "p2", "x", msg), CPB_OK);
	deliver(pd, "d1");
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, 1);
	cr_assert_eq(store_event_get(st, "i1", &ev, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_event_get(st, "i2", &ev, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_event_get(st, "other", &ev, msg), CPB_OK);
	store_event_free(&ev);
	cr_assert_eq(store_calendar_get(st, PROJECT_ID, &back, msg),
	    CPB_ERR_NOT_FOUND);
	rig_down(&g);
	free(pd);
}

Test(drain, field_deliveries_coalesce_and_stale_data_is_not_applied)
{
	struct rig g;
	struct webhook_drain_report rep;
	struct store_event ev = { .issue_id = ISSUE_ID,
	    .project_id = PROJECT_ID,
	    .calendar_url = "http://127.0.0.1:1/dav/plane-p/",
	    .href = "http://127.0.0.1:1/dav/plane-p/x.ics", .etag = "\"e\"",
	    .hash = "h", .updated_at_us = UPDATED_US + 1 };
	char msg[CPB_ERRMSG_MAX];
	char *a = issue_body("updated", ISSUE_ID, "2025-05-12T14:03:51.902112Z");
	char *b = issue_body("updated", ISSUE_ID, "2025-05-12T14:03:51.902114Z");
	char *c = issue_body("updated", ISSUE_ID, "2025-05-12T14:03:51.902113Z");

	rig_up(&g);
	/* The store already holds newer data than any of the three. */
	cr_assert_eq(store_event_put(st, &ev, msg), CPB_OK, "%s", msg);
	deliver(a, "d1");
	deliver(b, "d2");
	deliver(c, "d3");
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, 1);
	cr_assert_eq(rep.coalesced, 2);
	cr_assert_eq(rep.failed, 0);
	cr_assert_eq(qdepth(), 0);
	cr_assert_eq(counter("operations_total{kind=\"unchanged\","
	    "result=\"ok\"}"), 1);
	cr_assert_eq(counter("drain_total{result=\"coalesced\"}"), 2);
	rig_down(&g);
	free(a);
	free(b);
	free(c);
}

Test(drain, corrupt_payload_goes_dead_at_once)
{
	struct rig g;
	struct webhook_drain_report rep;
	struct store_queue_item it = { .delivery = "bad", .event = "issue",
	    .action = "updated", .entity_id = "i1",
	    .payload = "{\"data\": {\"id\": \"i1\"}}" };
	char msg[CPB_ERRMSG_MAX];
	char *json = NULL;
	bool dup;

	rig_up(&g);
	cr_assert_eq(store_queue_push(st, &it, &dup, msg), CPB_OK);
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, 0);
	cr_assert_eq(rep.dead, 1);
	cr_assert_eq(qdepth(), 0);
	cr_assert_eq(store_dead_json(st, 5, &json, msg), CPB_OK);
	cr_assert_not_null(strstr(json, "\"attempts\":1,"
	    "\"error\":\"issue.name: missing\""), "%s", json);
	free(json);
	cr_assert_eq(counter("drain_total{result=\"dead\"}"), 1);
	rig_down(&g);
}

Test(drain, unreachable_plane_stops_the_drain_and_retries_later)
{
	struct rig g;
	struct webhook_drain_report rep;
	char *a = issue_body("updated", ISSUE_ID, "2025-05-12T14:03:51.902114Z");
	char *b = issue_body("updated", "i2", "2025-05-12T14:03:51.902114Z");

	rig_up(&g);
	deliver(a, "d1");
	deliver(b, "d2");
	/* The project is unknown: the engine asks Plane, which is down. */
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, 0);
	cr_assert_eq(rep.failed, 1);
	cr_assert_eq(rep.dead, 0);
	cr_assert_eq(qdepth(), 2);
	/* d1 failed once; d2 was not tried: it spent no attempt on the
	 * outage. */
	cr_assert_eq(raw_int("SELECT attempts FROM queue WHERE delivery = "
	    "'d1'"), 1);
	cr_assert_eq(raw_int("SELECT attempts FROM queue WHERE delivery = "
	    "'d2'"), 0);
	cr_assert_eq(raw_int("SELECT lease_until FROM queue WHERE delivery = "
	    "'d2'"), 0);
	cr_assert_eq(counter("operations_total{kind=\"issue_apply\","
	    "result=\"error\"}"), 1);
	rig_down(&g);
	free(a);
	free(b);
}

Test(drain, failing_item_reaches_the_dead_letters)
{
	struct rig g;
	struct webhook_drain_report rep;
	char *a = issue_body("updated", ISSUE_ID, "2025-05-12T14:03:51.902114Z");
	long n = -1;
	char msg[CPB_ERRMSG_MAX];
	int i;

	rig_up(&g);
	deliver(a, "d1");
	/* CALPLANEBOT_MAX_ATTEMPTS=3 and a backoff of 1-2 ms. */
	for (i = 0; i < 3; i++) {
		usleep(5000);
		drain_ok(&g, 0, &rep);
	}
	cr_assert_eq(rep.dead, 1);
	cr_assert_eq(qdepth(), 0);
	cr_assert_eq(store_dead_count(st, &n, msg), CPB_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(counter("drain_total{result=\"failed\"}"), 2);
	cr_assert_eq(counter("drain_total{result=\"dead\"}"), 1);
	rig_down(&g);
	free(a);
}

/* n deliveries, each the deletion of another (unknown) issue. */
static void
deliver_deletions(int n)
{
	char body[128], id[32];

	for (int i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "{\"event\": \"issue\", \"action\": "
		    "\"deleted\", \"data\": {\"id\": \"gone-%d\"}}", i);
		snprintf(id, sizeof(id), "del-%d", i);
		deliver(body, id);
	}
}

Test(drain, a_backlog_is_applied_batch_after_batch)
{
	struct rig g;
	struct webhook_drain_report rep;

	rig_up(&g);
	deliver_deletions(2 * WEBHOOK_DRAIN_BATCH + 5);
	/* max_items across a batch boundary: exactly that many. */
	drain_ok(&g, WEBHOOK_DRAIN_BATCH + 3, &rep);
	cr_assert_eq(rep.applied, WEBHOOK_DRAIN_BATCH + 3);
	cr_assert_eq(qdepth(), WEBHOOK_DRAIN_BATCH + 2);
	cr_assert_eq(raw_int("SELECT count(*) FROM queue WHERE lease_until > 0"),
	    0);
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, WEBHOOK_DRAIN_BATCH + 2);
	cr_assert_eq(qdepth(), 0);
	cr_assert_eq(counter("drain_total{result=\"applied\"}"),
	    2 * WEBHOOK_DRAIN_BATCH + 5);
	cr_assert_eq(counter("operations_total{kind=\"delete\",result=\"ok\"}"),
	    2 * WEBHOOK_DRAIN_BATCH + 5);
	cr_assert_eq(counter("webhooks_total{outcome=\"queued\"}"),
	    2 * WEBHOOK_DRAIN_BATCH + 5);
	rig_down(&g);
}

Test(drain, a_stop_request_is_honoured_before_the_next_item)
{
	struct rig g;
	struct webhook_drain_report rep;
	volatile sig_atomic_t stop = 1;
	char msg[CPB_ERRMSG_MAX] = "";

	rig_up(&g);
	deliver_deletions(3);
	cr_assert_eq(webhook_drain(cfg, st, g.eng, 0, &stop, &rep, msg), CPB_OK,
	    "%s", msg);
	cr_assert_eq(rep.applied, 0);
	cr_assert_eq(qdepth(), 3);
	stop = 0;
	cr_assert_eq(webhook_drain(cfg, st, g.eng, 0, &stop, &rep, msg), CPB_OK,
	    "%s", msg);
	cr_assert_eq(rep.applied, 3);
	cr_assert_eq(qdepth(), 0);
	rig_down(&g);
}

Test(drain, an_empty_queue_is_seen_without_the_lock)
{
	struct rig g;
	struct webhook_drain_report rep;
	char msg[CPB_ERRMSG_MAX] = "";
	int fd = -1;

	rig_up(&g);
	cr_assert_eq(store_drain_lock(db, &fd, msg), CPB_OK, "%s", msg);
	cr_assert_eq(webhook_drain(cfg, st, g.eng, 0, NULL, &rep, msg), CPB_OK,
	    "%s", msg);
	cr_assert_eq(rep.applied, 0);
	deliver_deletions(1);
	cr_assert_eq(webhook_drain(cfg, st, g.eng, 0, NULL, &rep, msg),
	    CPB_ERR_BUSY);
	store_sync_unlock(fd);
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, 1);
	rig_down(&g);
}

Test(drain, max_items_and_the_lock)
{
	struct rig g;
	struct webhook_drain_report rep;
	char msg[CPB_ERRMSG_MAX], want[300];
	int fd = -1;

	rig_up(&g);
	deliver("{\"event\": \"issue\", \"action\": \"deleted\", \"data\": "
	    "{\"id\": \"a\"}}", "d1");
	deliver("{\"event\": \"issue\", \"action\": \"deleted\", \"data\": "
	    "{\"id\": \"b\"}}", "d2");
	drain_ok(&g, 1, &rep);
	cr_assert_eq(rep.applied, 1);
	cr_assert_eq(qdepth(), 1);

	cr_assert_eq(store_drain_lock(db, &fd, msg), CPB_OK, "%s", msg);
	cr_assert_eq(webhook_drain(cfg, st, g.eng, 0, NULL, &rep, msg), CPB_ERR_BUSY);
	snprintf(want, sizeof(want), "store: another drainer is running "
	    "(%s.drain.lock is locked)", db);
	cr_assert_str_eq(msg, want);
	cr_assert_eq(rep.applied, 0);
	cr_assert_eq(qdepth(), 1);
	store_sync_unlock(fd);
	cr_assert_eq(webhook_drain(cfg, st, g.eng, -1, NULL, &rep, msg),
	    CPB_ERR_INVALID);
	drain_ok(&g, 0, &rep);
	cr_assert_eq(rep.applied, 1);
	cr_assert_eq(qdepth(), 0);
	rig_down(&g);
}
