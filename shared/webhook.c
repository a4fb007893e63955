/*
 * webhook.c - Plane's webhooks: receive (verify, validate, store) and
 * drain (apply through the engine).  See webhook.h and plane-api.md.
 *
 * Receiving checks in a fixed order, cheapest and least trusting first,
 * so nothing of an unsigned body is parsed:
 *   content type → 415, size → 413, signature → 401, JSON → 400
 *   INVALID_JSON, envelope → 400 INVALID_PAYLOAD, then the event decides:
 *   queued, ignored (202) or, when the store fails, 503.
 *
 * Signatures: Plane sends HMAC-SHA256 of the raw body as lowercase hex
 * (Python's hexdigest()); the seeds show a "sha256=" prefix, so both
 * forms are accepted.  Uppercase hex is refused: no sender produces it,
 * and one accepted spelling per MAC keeps the comparison a plain
 * CRYPTO_memcmp of two strings of known length.
 *
 * Delivery ids: X-Plane-Delivery keys the dedupe memory.  Plane always
 * sends one (a new uuid4 per attempt); when it is missing the id is
 * "sha256:<hex of the body>", so the very same body sent twice is one
 * delivery, while two edits differ (data.updated_at moves).
 *
 * Ordering for coalescing (store.h): an item's updated_at_us is the data's
 * updated_at.  A deletion carries no time of its own, so it gets the time
 * it was received: nothing can be updated after it was deleted, so any
 * update that arrives later with an older updated_at is superseded.
 *
 * Counters (metrics): webhooks_total{outcome=queued|duplicate|ignored|
 * rejected|unavailable} on receipt; drain_total{result=applied|failed|
 * dead|coalesced} and operations_total{kind=…,result=ok|error} when
 * draining, each written in the transaction of what it counts, so a
 * webhook costs one commit to receive and a share of one batch's commit
 * to apply.  A counter that cannot be written never changes an answer.
 */
#include "webhook.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "clock.h"
#include "http.h"
#include "issue.h"
#include "log.h"
#include "plane.h"

#define WEBHOOK_SIG_HEX		64	/* SHA-256 as hex */
#define WEBHOOK_SIG_PREFIX	"sha256="
#define WEBHOOK_ID_MAX		63	/* data.id: UUIDs are 36 */
#define WEBHOOK_LEASE_SECONDS	60

/* What the envelope holds; strings point into the parsed tree. */
struct webhook_envelope {
	const char	*event;
	const char	*action;
	const cJSON	*data;
	const char	*id;
	char		 delivery[sizeof(((struct webhook_result *)0)->delivery)];
};

static void
webhook_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static bool
webhook_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool
webhook_signature_ok(const char *secret, const char *body, size_t len,
    const char *header)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char expected[WEBHOOK_SIG_HEX + 1];
	size_t secret_len;
	bool ok = false;

	if (secret == NULL || header == NULL || (body == NULL && len > 0))
		return false;
	if (strncmp(header, WEBHOOK_SIG_PREFIX,
	    sizeof(WEBHOOK_SIG_PREFIX) - 1) == 0)
		header += sizeof(WEBHOOK_SIG_PREFIX) - 1;
	/* Length and alphabet are public; only the digits are compared
	 * in constant time. */
	if (strnlen(header, WEBHOOK_SIG_HEX + 1) != WEBHOOK_SIG_HEX ||
	    !webhook_lower_hex(header, WEBHOOK_SIG_HEX))
		return false;
	if ((secret_len = strlen(secret)) > INT_MAX)
		return false;
	if (HMAC(EVP_sha256(), secret, (int)secret_len,
	    (const unsigned char *)(body != NULL ? body : ""), len, mac,
	    &mac_len) != NULL && mac_len * 2 == WEBHOOK_SIG_HEX) {
		webhook_hex(mac, mac_len, expected);
		ok = CRYPTO_memcmp(expected, header, WEBHOOK_SIG_HEX) == 0;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(expected, sizeof(expected));
	return ok;
}

/* ---- results ---------------------------------------------------------- */

static void
webhook_set(struct webhook_result *r, enum webhook_outcome outcome,
    int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
webhook_set(struct webhook_result *r, enum webhook_outcome outcome,
    int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	r->outcome = outcome;
	r->http_status = status;
	r->error_code = code;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

static void
webhook_reject(struct webhook_result *r, int status, const char *code,
    const char *message)
{
	webhook_set(r, WEBHOOK_REJECTED, status, code, "%s", message);
}

static const char *
webhook_outcome_name(enum webhook_outcome outcome)
{
	switch (outcome) {
	case WEBHOOK_QUEUED:		return "queued";
	case WEBHOOK_DUPLICATE:		return "duplicate";
	case WEBHOOK_IGNORED:		return "ignored";
	case WEBHOOK_REJECTED:		return "rejected";
	case WEBHOOK_UNAVAILABLE:	return "unavailable";
	}
	return "unknown";
}

/* Best effort: a metric must never turn an answer into an error. */
static void
webhook_count_n(struct store *store, const char *family, const char *label,
    const char *value, long n)
{
	char name[STORE_COUNTER_NAME_MAX + 1], ignored[CPB_ERRMSG_MAX];

	if (store == NULL || n <= 0)
		return;
	snprintf(name, sizeof(name), "%s{%s=\"%s\"}", family, label, value);
	store_counter_add(store, name, n, ignored);
}

static void
webhook_count(struct store *store, const char *family, const char *label,
    const char *value)
{
	webhook_count_n(store, family, label, value, 1);
}

/* operations_total{kind="create",result="ok"} */
static void
webhook_count_op(struct store *store, const char *kind, bool ok)
{
	char value[64];

	snprintf(value, sizeof(value), "%s\",result=\"%s", kind,
	    ok ? "ok" : "error");
	webhook_count(store, "operations_total", "kind", value);
}

/* ---- receiving: transport checks -------------------------------------- */

/* "application/json", any case, parameters (charset) allowed. */
static bool
webhook_is_json(const char *ct)
{
	static const char want[] = "application/json";

	if (ct == NULL)
		return false;
	ct += strspn(ct, " \t");
	if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	ct += sizeof(want) - 1;
	ct += strspn(ct, " \t");
	return *ct == '\0' || *ct == ';';
}

/* 415, 413, 401: false (result filled) when the request is refused. */
static bool
webhook_check_transport(const struct cpb_config *cfg,
    const struct webhook_request *req, struct webhook_result *r)
{
	if (!webhook_is_json(req->content_type)) {
		webhook_reject(r, 415, "UNSUPPORTED_MEDIA_TYPE",
		    "Content-Type must be application/json");
		return false;
	}
	if (req->body_len > WEBHOOK_BODY_MAX) {
		webhook_set(r, WEBHOOK_REJECTED, 413, "PAYLOAD_TOO_LARGE",
		    "body larger than %d bytes", WEBHOOK_BODY_MAX);
		return false;
	}
	if (cfg->plane_webhook_secret == NULL) {
		/* The responder refuses to start this way unless told to. */
		if (cfg->allow_unsigned_webhooks)
			return true;
		webhook_reject(r, 401, "INVALID_SIGNATURE",
		    "no webhook secret configured: deliveries are refused");
		return false;
	}
	if (req->signature == NULL || req->signature[0] == '\0') {
		webhook_reject(r, 401, "INVALID_SIGNATURE",
		    "X-Plane-Signature missing");
		return false;
	}
	if (!webhook_signature_ok(cfg->plane_webhook_secret, req->body,
	    req->body_len, req->signature)) {
		webhook_reject(r, 401, "INVALID_SIGNATURE",
		    "X-Plane-Signature does not match the body");
		return false;
	}
	return true;
}

/* ---- receiving: JSON and envelope ------------------------------------- */

static bool
webhook_depth_ok(const cJSON *item, int depth)
{
	const cJSON *child;

	if (depth > WEBHOOK_JSON_DEPTH_MAX)
		return false;
	for (child = item->child; child != NULL; child = child->next)
		if ((cJSON_IsArray(child) || cJSON_IsObject(child)) &&
		    !webhook_depth_ok(child, depth + 1))
			return false;
	return true;
}

/*
 * The body as JSON: UTF-8 (RFC 8259 8.1), no NUL byte, nothing after the
 * value, nested at most WEBHOOK_JSON_DEPTH_MAX deep.  *text gets the body
 * as a C string (what the queue stores).
 */
static bool
webhook_parse(const struct webhook_request *req, char **text, cJSON **root,
    struct webhook_result *r)
{
	const char *body = req->body != NULL ? req->body : "";

	if (memchr(body, '\0', req->body_len) != NULL ||
	    !plane_utf8_valid(body, req->body_len)) {
		webhook_reject(r, 400, "INVALID_JSON",
		    "body is not UTF-8 text");
		return false;
	}
	if ((*text = malloc(req->body_len + 1)) == NULL) {
		webhook_set(r, WEBHOOK_UNAVAILABLE, 503, "STORE_UNAVAILABLE",
		    "out of memory");
		return false;
	}
	memcpy(*text, body, req->body_len);
	(*text)[req->body_len] = '\0';
	/* The length includes the NUL: cJSON then refuses trailing bytes. */
	*root = cJSON_ParseWithLengthOpts(*text, req->body_len + 1, NULL, 1);
	if (*root == NULL) {
		webhook_reject(r, 400, "INVALID_JSON", "body is not valid JSON");
		return false;
	}
	if (!webhook_depth_ok(*root, 1)) {
		webhook_set(r, WEBHOOK_REJECTED, 400, "INVALID_JSON",
		    "JSON nested deeper than %d levels", WEBHOOK_JSON_DEPTH_MAX);
		return false;
	}
	return true;
}

/* An identifier: 1..max characters of [A-Za-z0-9_-] (extra: more allowed). */
static bool
webhook_token_ok(const char *s, size_t max, const char *extra)
{
	size_t len = strnlen(s, max + 1), i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-' ||
		    (extra != NULL && strchr(extra, s[i]) != NULL)))
			return false;
	return true;
}

/* A required string member; NULL with the message written otherwise. */
static const char *
webhook_string(const cJSON *obj, const char *key, const char *path,
    struct webhook_result *r)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (item == NULL || cJSON_IsNull(item)) {
		webhook_set(r, WEBHOOK_REJECTED, 400, "INVALID_PAYLOAD",
		    "%s: missing", path);
		return NULL;
	}
	if (!cJSON_IsString(item)) {
		webhook_set(r, WEBHOOK_REJECTED, 400, "INVALID_PAYLOAD",
		    "%s: not a string", path);
		return NULL;
	}
	return item->valuestring;
}

static bool
webhook_payload_error(struct webhook_result *r, const char *path,
    const char *what)
{
	webhook_set(r, WEBHOOK_REJECTED, 400, "INVALID_PAYLOAD", "%s: %s",
	    path, what);
	return false;
}

/* X-Plane-Delivery as sent, or derived from the body (see the top). */
static bool
webhook_delivery(const struct webhook_request *req, const char *text,
    struct webhook_envelope *env, struct webhook_result *r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[WEBHOOK_SIG_HEX + 1];

	if (req->delivery != NULL) {
		if (!webhook_token_ok(req->delivery, sizeof(env->delivery) - 1,
		    ".:"))
			return webhook_payload_error(r, "X-Plane-Delivery",
			    "invalid (at most 79 characters of A-Z a-z 0-9 "
			    "- _ . :)");
		snprintf(env->delivery, sizeof(env->delivery), "%s",
		    req->delivery);
		return true;
	}
	if (EVP_Digest(text, req->body_len, md, &md_len, EVP_sha256(),
	    NULL) != 1 || md_len * 2 != WEBHOOK_SIG_HEX) {
		webhook_set(r, WEBHOOK_UNAVAILABLE, 503, "STORE_UNAVAILABLE",
		    "cannot hash the body");
		return false;
	}
	webhook_hex(md, md_len, hex);
	snprintf(env->delivery, sizeof(env->delivery), "sha256:%.64s", hex);
	return true;
}

static bool
webhook_envelope(const struct webhook_request *req, const char *text,
    const cJSON *root, struct webhook_envelope *env, struct webhook_result *r)
{
	if (!cJSON_IsObject(root))
		return webhook_payload_error(r, "body", "not a JSON object");
	if ((env->event = webhook_string(root, "event", "event", r)) == NULL)
		return false;
	if (!webhook_token_ok(env->event, sizeof(r->event) - 1, NULL))
		return webhook_payload_error(r, "event", "invalid");
	if (req->event != NULL && strcmp(req->event, env->event) != 0)
		return webhook_payload_error(r, "X-Plane-Event",
		    "does not match the body's event");
	if ((env->action = webhook_string(root, "action", "action", r)) == NULL)
		return false;
	if (strcmp(env->action, "created") != 0 &&
	    strcmp(env->action, "updated") != 0 &&
	    strcmp(env->action, "deleted") != 0)
		return webhook_payload_error(r, "action",
		    "must be created, updated or deleted");
	env->data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (env->data == NULL || cJSON_IsNull(env->data))
		return webhook_payload_error(r, "data", "missing");
	if (!cJSON_IsObject(env->data))
		return webhook_payload_error(r, "data", "not an object");
	if ((env->id = webhook_string(env->data, "id", "data.id", r)) == NULL)
		return false;
	if (!webhook_token_ok(env->id, WEBHOOK_ID_MAX, NULL))
		return webhook_payload_error(r, "data.id", "invalid (at most 63 "
		    "characters of A-Z a-z 0-9 - _)");
	return webhook_delivery(req, text, env, r);
}

/* ---- receiving: the event --------------------------------------------- */

static void
webhook_enqueue(struct store *store, const struct webhook_envelope *env,
    char *text, int64_t updated_at_us, struct webhook_result *r)
{
	struct store_queue_item item = {
		.delivery = (char *)env->delivery,
		.event = (char *)env->event,
		.action = (char *)env->action,
		.entity_id = (char *)env->id,
		.payload = text,
		.updated_at_us = updated_at_us,
	};
	char errmsg[CPB_ERRMSG_MAX] = "no store";
	enum cpb_err err = CPB_ERR_INVALID;
	bool duplicate = false, owned = false;

	/* The counter rides in the delivery's transaction: one commit. */
	if (store != NULL && (err = store_tx_open(store, &owned, errmsg)) ==
	    CPB_OK) {
		err = store_queue_push(store, &item, &duplicate, errmsg);
		if (err == CPB_OK)
			webhook_count(store, "webhooks_total", "outcome",
			    duplicate ? webhook_outcome_name(WEBHOOK_DUPLICATE) :
			    webhook_outcome_name(WEBHOOK_QUEUED));
		err = store_tx_close(store, owned, err, errmsg);
	}
	if (err != CPB_OK) {
		log_kv(LOG_ERROR, "op", "webhook", "delivery", env->delivery,
		    "error", errmsg, NULL);
		webhook_set(r, WEBHOOK_UNAVAILABLE, 503, "STORE_UNAVAILABLE",
		    "the delivery could not be stored; try again later");
		return;
	}
	if (duplicate)
		webhook_set(r, WEBHOOK_DUPLICATE, 202, NULL,
		    "delivery already received");
	else
		webhook_set(r, WEBHOOK_QUEUED, 202, NULL, "queued");
}

static void
webhook_ignore(const struct webhook_envelope *env, struct webhook_result *r)
{
	webhook_set(r, WEBHOOK_IGNORED, 202, NULL, "%s %s is not acted on",
	    env->event, env->action);
}

static void
webhook_route_issue(struct store *store, const struct webhook_envelope *env,
    char *text, struct webhook_result *r)
{
	struct plane_issue issue;
	char errmsg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	if (strcmp(env->action, "deleted") == 0) {
		webhook_enqueue(store, env, text, clock_unix_us(), r);
		return;
	}
	err = plane_issue_from_json(env->data, &issue, errmsg);
	if (err == CPB_ERR_NOMEM)
		webhook_set(r, WEBHOOK_UNAVAILABLE, 503, "STORE_UNAVAILABLE",
		    "out of memory");
	else if (err != CPB_OK)
		webhook_set(r, WEBHOOK_REJECTED, 400, "INVALID_PAYLOAD",
		    "data: %s", errmsg);
	else
		webhook_enqueue(store, env, text, issue.updated_at_us, r);
	if (err == CPB_OK)
		plane_issue_free(&issue);
}

static void
webhook_route_project(struct store *store, const struct webhook_envelope *env,
    char *text, struct webhook_result *r)
{
	struct plane_project project;
	const cJSON *at;
	char errmsg[CPB_ERRMSG_MAX] = "";
	int64_t updated_at_us = 0;
	enum cpb_err err;

	if (strcmp(env->action, "deleted") == 0) {
		webhook_enqueue(store, env, text, clock_unix_us(), r);
		return;
	}
	/* A new project has no events: its first issue or the next full
	 * sync makes the calendar. */
	if (strcmp(env->action, "created") == 0) {
		webhook_ignore(env, r);
		return;
	}
	if ((err = plane_project_from_json(env->data, &project, errmsg)) !=
	    CPB_OK) {
		webhook_set(r, WEBHOOK_REJECTED, 400, "INVALID_PAYLOAD",
		    "data: %s", errmsg);
		return;
	}
	plane_project_free(&project);
	at = cJSON_GetObjectItemCaseSensitive(env->data, "updated_at");
	if (cJSON_IsString(at) && !plane_time_parse(at->valuestring,
	    &updated_at_us))
		updated_at_us = 0;
	webhook_enqueue(store, env, text, updated_at_us, r);
}

static void
webhook_route(struct store *store, const struct webhook_envelope *env,
    char *text, struct webhook_result *r)
{
	if (strcmp(env->event, "issue") == 0)
		webhook_route_issue(store, env, text, r);
	else if (strcmp(env->event, "project") == 0)
		webhook_route_project(store, env, text, r);
	else
		webhook_ignore(env, r);
}

void
webhook_receive(const struct cpb_config *cfg, struct store *store,
    const struct webhook_request *req, struct webhook_result *result)
{
	struct webhook_envelope env;
	cJSON *root = NULL;
	char *text = NULL;

	memset(result, 0, sizeof(*result));
	memset(&env, 0, sizeof(env));
	if (!webhook_check_transport(cfg, req, result) ||
	    !webhook_parse(req, &text, &root, result) ||
	    !webhook_envelope(req, text, root, &env, result))
		goto out;
	snprintf(result->delivery, sizeof(result->delivery), "%s",
	    env.delivery);
	snprintf(result->entity_id, sizeof(result->entity_id), "%s", env.id);
	snprintf(result->event, sizeof(result->event), "%s", env.event);
	webhook_route(store, &env, text, result);
out:
	/* Queued and duplicate were counted with the delivery. */
	if (result->outcome != WEBHOOK_QUEUED &&
	    result->outcome != WEBHOOK_DUPLICATE)
		webhook_count(store, "webhooks_total", "outcome",
		    webhook_outcome_name(result->outcome));
	cJSON_Delete(root);
	free(text);
}

/* ---- draining --------------------------------------------------------- */

/* How one applied item went, for the counters and the log. */
struct webhook_applied {
	const char	*kind;		/* operations_total's kind */
	bool		 permanent;	/* the item can never succeed */
};

static enum cpb_err
webhook_apply_issue(struct engine *eng, const struct store_queue_item *item,
    const cJSON *data, struct webhook_applied *a, char *errmsg)
{
	struct plane_issue issue;
	enum engine_op op = ENGINE_OP_SKIP;
	enum cpb_err err;

	if (strcmp(item->action, "deleted") == 0) {
		a->kind = "delete";
		return engine_delete_issue(eng, item->entity_id, errmsg);
	}
	if ((err = plane_issue_from_json(data, &issue, errmsg)) != CPB_OK) {
		a->permanent = err != CPB_ERR_NOMEM;
		return err;
	}
	err = engine_apply_issue(eng, &issue, NULL, &op, errmsg);
	/* Failing before a decision (project lookup, calendar) is no op. */
	a->kind = err != CPB_OK && op == ENGINE_OP_SKIP ? "issue_apply" :
	    engine_op_name(op);
	plane_issue_free(&issue);
	return err;
}

static enum cpb_err
webhook_apply_project(struct engine *eng, const struct store_queue_item *item,
    const cJSON *data, struct webhook_applied *a, char *errmsg)
{
	struct plane_project project;
	enum cpb_err err;

	if (strcmp(item->action, "deleted") == 0) {
		a->kind = "project_delete";
		return engine_delete_project(eng, item->entity_id, errmsg);
	}
	a->kind = "project_update";
	if ((err = plane_project_from_json(data, &project, errmsg)) != CPB_OK) {
		a->permanent = err != CPB_ERR_NOMEM;
		return err;
	}
	err = engine_apply_project(eng, &project, errmsg);
	plane_project_free(&project);
	return err;
}

/* Apply one item; its payload was validated when it was received. */
static enum cpb_err
webhook_apply(struct engine *eng, const struct store_queue_item *item,
    struct webhook_applied *a, char *errmsg)
{
	cJSON *root = NULL;
	const cJSON *data;
	enum cpb_err err;

	a->kind = "unknown";
	root = cJSON_Parse(item->payload);
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!cJSON_IsObject(data)) {
		a->permanent = true;
		err = cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "stored payload has no data object");
	} else if (strcmp(item->event, "issue") == 0)
		err = webhook_apply_issue(eng, item, data, a, errmsg);
	else if (strcmp(item->event, "project") == 0)
		err = webhook_apply_project(eng, item, data, a, errmsg);
	else {
		a->permanent = true;
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "no handler for event %.31s", item->event);
	}
	cJSON_Delete(root);
	return err;
}

static void
webhook_log(const struct store_queue_item *item, const char *kind,
    const char *result, const char *error)
{
	char attempts[24];

	snprintf(attempts, sizeof(attempts), "%ld", item->attempts);
	log_kv(error == NULL ? LOG_INFO : LOG_WARNING, "op", "drain",
	    "delivery", item->delivery, "event", item->event, "action",
	    item->action, "entity", item->entity_id, "kind", kind, "result",
	    result, "attempts", attempts, error != NULL ? "error" : NULL,
	    error, NULL);
}

/* How an item left the batch; indexes webhook_settled_name. */
enum webhook_settled {
	WEBHOOK_UNSETTLED,		/* not applied, or gone meanwhile */
	WEBHOOK_APPLIED,
	WEBHOOK_FAILED,			/* to be retried after its backoff */
	WEBHOOK_DEAD,
	WEBHOOK_SETTLED__COUNT
};

/* drain_total's result label and the log's; NULL: nothing to report. */
static const char *const webhook_settled_name[WEBHOOK_SETTLED__COUNT] = {
	NULL, "applied", "failed", "dead",
};

/* One leased item, applied or not yet. */
struct webhook_slot {
	struct store_queue_item item;
	struct webhook_applied a;
	enum cpb_err err;
	bool	 applied;		/* webhook_apply ran on it */
	enum webhook_settled settled;
	char	 why[CPB_ERRMSG_MAX];
};

/* Where a drain stands across its batches and rounds. */
struct webhook_drain_state {
	long	 max_items;		/* 0: no limit */
	long	 taken;			/* items leased in all rounds */
	long	 leased;		/* items leased in this round */
	bool	 outage;		/* a peer was unreachable: stop */
	const volatile sig_atomic_t *stop;
	struct webhook_slot slots[WEBHOOK_DRAIN_BATCH];
	long	 nslots;
};

static bool
webhook_stopping(const struct webhook_drain_state *ds)
{
	return ds->stop != NULL && *ds->stop;
}

static void
webhook_slots_free(struct webhook_drain_state *ds)
{
	for (long i = 0; i < ds->nslots; i++)
		store_queue_item_free(&ds->slots[i].item);
	ds->nslots = 0;
}

/*
 * Lease up to a batch of items (distinct entities: a lease holds all of an
 * entity's items) in one transaction; `reclaim` first frees the leases of
 * a drainer that died, which only the holder of the drain lock may do,
 * and forgets deliveries past the dedupe memory.
 */
static enum cpb_err
webhook_lease_batch(struct store *store, struct webhook_drain_state *ds,
    bool reclaim, struct webhook_drain_report *report, char *errmsg)
{
	long want = WEBHOOK_DRAIN_BATCH, coalesced = 0;
	enum cpb_err err;

	if (ds->max_items > 0 && ds->max_items - ds->taken < want)
		want = ds->max_items - ds->taken;
	if ((err = store_begin(store, errmsg)) != CPB_OK)
		return err;
	if (reclaim && (err = store_queue_reclaim(store, errmsg)) == CPB_OK)
		err = store_deliveries_prune(store, errmsg);
	while (err == CPB_OK && ds->nslots < want) {
		struct webhook_slot *slot = &ds->slots[ds->nslots];

		memset(slot, 0, sizeof(*slot));
		err = store_queue_lease(store, WEBHOOK_LEASE_SECONDS,
		    &slot->item, errmsg);
		if (err == CPB_ERR_NOT_FOUND) {
			err = CPB_OK;
			break;
		}
		if (err == CPB_OK) {
			coalesced += slot->item.coalesced;
			ds->nslots++;
		}
	}
	if (err == CPB_OK) {
		webhook_count_n(store, "drain_total", "result", "coalesced",
		    coalesced);
		err = store_commit(store, errmsg);
	}
	if (err != CPB_OK) {
		store_rollback(store);
		webhook_slots_free(ds);
		return err;
	}
	ds->taken += ds->nslots;
	ds->leased += ds->nslots;
	report->coalesced += coalesced;
	return CPB_OK;
}

/*
 * Apply the leased items, in order, outside any transaction (CalDAV and
 * Plane are slow; the store must stay free for the receivers).  A failure
 * about the peer, not the item (unreachable, credentials refused, rate
 * limited), ends the batch: the rest would fail the same way and spend
 * their attempts on an outage.
 */
static void
webhook_apply_batch(struct engine *eng, struct webhook_drain_state *ds)
{
	for (long i = 0; i < ds->nslots && !ds->outage &&
	    !webhook_stopping(ds); i++) {
		struct webhook_slot *slot = &ds->slots[i];

		slot->err = webhook_apply(eng, &slot->item, &slot->a,
		    slot->why);
		slot->applied = true;
		ds->outage = slot->err == CPB_ERR_NETWORK ||
		    slot->err == CPB_ERR_AUTH ||
		    slot->err == CPB_ERR_RATE_LIMITED;
	}
}

/* Settle one applied item inside the batch's transaction. */
static enum cpb_err
webhook_settle(const struct cpb_config *cfg, struct store *store,
    struct webhook_slot *slot, char *errmsg)
{
	const struct store_queue_item *item = &slot->item;
	enum cpb_err err;
	bool dead = false;

	webhook_count_op(store, slot->a.kind, slot->err == CPB_OK);
	if (slot->err == CPB_OK) {
		slot->settled = WEBHOOK_APPLIED;
		return store_queue_done(store, item, errmsg);
	}
	err = store_queue_fail(store, item, slot->why[0] != '\0' ? slot->why :
	    "failed", slot->a.permanent ? item->attempts + 1 :
	    cfg->max_event_failures, http_backoff_ms(item->attempts + 1,
	    cfg->retry_min_ms, cfg->retry_max_ms), &dead, errmsg);
	/* Gone meanwhile (dropped by an operator): nothing left to settle. */
	if (err == CPB_ERR_NOT_FOUND)
		return CPB_OK;
	slot->settled = dead ? WEBHOOK_DEAD : WEBHOOK_FAILED;
	return err;
}

/*
 * Settle the batch in one transaction, with its counters, and free the
 * leases of the items left unapplied (an outage, a stop) so the next
 * drain takes them without waiting for the lease to run out.  The log
 * lines follow the commit: they report what is durable.
 */
static enum cpb_err
webhook_settle_batch(const struct cpb_config *cfg, struct store *store,
    struct webhook_drain_state *ds, struct webhook_drain_report *report,
    char *errmsg)
{
	long i, n[WEBHOOK_SETTLED__COUNT] = { 0 };
	enum cpb_err err;
	int k;

	if ((err = store_begin(store, errmsg)) != CPB_OK)
		return err;
	for (i = 0; i < ds->nslots && err == CPB_OK; i++)
		if (ds->slots[i].applied)
			err = webhook_settle(cfg, store, &ds->slots[i], errmsg);
	for (i = 0; i < ds->nslots; i++)
		n[ds->slots[i].settled]++;
	for (k = WEBHOOK_APPLIED; k < WEBHOOK_SETTLED__COUNT; k++)
		webhook_count_n(store, "drain_total", "result",
		    webhook_settled_name[k], n[k]);
	if (err == CPB_OK && ds->nslots > 0 && !ds->slots[ds->nslots - 1].applied)
		err = store_queue_reclaim(store, errmsg);
	if (err == CPB_OK)
		err = store_commit(store, errmsg);
	if (err != CPB_OK) {
		/* Still leased: the next holder of the drain lock reclaims
		 * them and applies them again, which changes nothing twice. */
		store_rollback(store);
		return err;
	}
	for (i = 0; i < ds->nslots; i++)
		if (ds->slots[i].settled != WEBHOOK_UNSETTLED)
			webhook_log(&ds->slots[i].item, ds->slots[i].a.kind,
			    webhook_settled_name[ds->slots[i].settled],
			    ds->slots[i].err == CPB_OK ? NULL :
			    ds->slots[i].why);
	report->applied += n[WEBHOOK_APPLIED];
	report->failed += n[WEBHOOK_FAILED];
	report->dead += n[WEBHOOK_DEAD];
	return CPB_OK;
}

/* Lease, apply, settle, batch after batch, until nothing is due. */
static enum cpb_err
webhook_drain_pass(const struct cpb_config *cfg, struct store *store,
    struct engine *eng, struct webhook_drain_state *ds,
    struct webhook_drain_report *report, char *errmsg)
{
	enum cpb_err err = CPB_OK;
	bool first = true, full, due;

	ds->leased = 0;
	while (!ds->outage && !webhook_stopping(ds) && (ds->max_items == 0 ||
	    ds->taken < ds->max_items)) {
		err = webhook_lease_batch(store, ds, first, report, errmsg);
		first = false;
		if (err != CPB_OK || ds->nslots == 0)
			break;
		full = ds->nslots == WEBHOOK_DRAIN_BATCH;
		webhook_apply_batch(eng, ds);
		err = webhook_settle_batch(cfg, store, ds, report, errmsg);
		webhook_slots_free(ds);
		/* A short batch took all that was due: lease again (a write
		 * transaction) only if something came in meanwhile. */
		if (err != CPB_OK || (!full && ((err = store_queue_due(store,
		    &due, errmsg)) != CPB_OK || !due)))
			break;
	}
	return err;
}

enum cpb_err
webhook_drain(const struct cpb_config *cfg, struct store *store,
    struct engine *engine, long max_items, const volatile sig_atomic_t *stop,
    struct webhook_drain_report *report, char *errmsg)
{
	struct webhook_drain_state *ds;
	enum cpb_err err = CPB_OK;
	bool due = false;
	int fd = -1, round;

	memset(report, 0, sizeof(*report));
	if (max_items < 0)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "webhook: max_items must be >= 0");
	if ((ds = calloc(1, sizeof(*ds))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM,
		    "webhook: out of memory");
	ds->max_items = max_items;
	ds->stop = stop;
	for (round = 0; !webhook_stopping(ds); round++) {
		/*
		 * A read first: most calls in a busy pool find the queue
		 * already drained by another responder, and items waiting
		 * for their retry are not due.  After a round it is the look
		 * at what was pushed while we held the lock, whose own drain
		 * found the lock busy and left it to us.
		 */
		if ((err = store_queue_due(store, &due, errmsg)) != CPB_OK ||
		    !due)
			break;
		err = store_drain_lock(cfg->db_path, &fd, errmsg);
		if (err != CPB_OK) {
			/* After the first round a busy lock means another
			 * drainer took over what is left: that is success. */
			if (round > 0 && err == CPB_ERR_BUSY)
				err = CPB_OK;
			break;
		}
		err = webhook_drain_pass(cfg, store, engine, ds, report, errmsg);
		store_sync_unlock(fd);
		if (err != CPB_OK || ds->outage || (max_items > 0 &&
		    ds->taken >= max_items) || (ds->leased == 0 && round > 0))
			break;
	}
	free(ds);
	return err;
}
