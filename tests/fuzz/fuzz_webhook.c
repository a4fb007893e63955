/*
 * fuzz_webhook - the webhook envelope as the responder receives it from
 * the internet: webhook_signature_ok and webhook_receive (transport
 * checks, HMAC, JSON, envelope, issue/project data, the queue).
 *
 * Input: one flags byte, then optional header lines, then the body.
 *   flags 1   the signature header comes from the input (first line);
 *             otherwise it is the right HMAC of the body
 *         2   with the "sha256=" prefix (right HMAC only)
 *         4   X-Plane-Delivery comes from the input (next line)
 *         8   X-Plane-Event: "issue"
 *         16  Content-Type "text/plain" (else "application/json;
 *             charset=utf-8")
 *         32  no webhook secret configured
 *         64  ... and ALLOW_UNSIGNED_WEBHOOKS set
 *
 * The store is a SQLite file in a temporary directory, opened once; each
 * input runs inside a transaction that is rolled back, so every input
 * sees the same empty store.
 *
 * Checks:
 *   - webhook_signature_ok is true exactly for the lowercase hex HMAC of
 *     the body, bare or after "sha256=";
 *   - the answer is one of 202/400/401/413/415, with an outcome that
 *     matches (never 503: the store works), an error code for every
 *     refusal and a message;
 *   - a body whose signature does not match is refused with 401 (or 415
 *     first for a wrong Content-Type): nothing unsigned gets further;
 *   - a 202 "queued" delivery is in the store, byte for byte the body,
 *     with the delivery id, event and entity id the result reports.
 */
#define _XOPEN_SOURCE 700	/* nftw */

#include "fuzz_common.h"

#include <ftw.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "log.h"
#include "store.h"
#include "webhook.h"

#define SECRET	"plane_wh_9a8b7c6d5e4f30211203f4e5d6c7b8a9"

static struct store *store;
static char tmpdir[] = "/tmp/cpb-fuzz-webhook-XXXXXX";

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (store != NULL)
		store_close(store);
	store = NULL;
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[sizeof(tmpdir) + 16], errmsg[CPB_ERRMSG_MAX];

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	if (mkdtemp(tmpdir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/state.db", tmpdir);
	if (store_open(&store, path, errmsg) != CPB_OK) {
		fprintf(stderr, "fuzz_webhook: %s\n", errmsg);
		abort();
	}
	return 0;
}

static void
hmac_hex(const char *body, size_t len, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (const unsigned char *)body, len, md, &mdlen) == NULL || mdlen != 32)
		abort();
	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

/* The next line of the input (up to '\n'), as a new string. */
static char *
take_line(const uint8_t **p, size_t *left)
{
	const uint8_t *nl = memchr(*p, '\n', *left);
	size_t n = nl != NULL ? (size_t)(nl - *p) : *left;
	char *s = fuzz_strndup(*p, n);

	*p += n + (nl != NULL);
	*left -= n + (nl != NULL);
	return s;
}

static void
check_stored(const struct webhook_result *r, const char *body, size_t len)
{
	struct store_queue_item item;
	char errmsg[CPB_ERRMSG_MAX];
	enum cpb_err err;

	memset(&item, 0, sizeof(item));
	err = store_queue_lease(store, 60, &item, errmsg);
	FUZZ_CHECK(err == CPB_OK, "queued, but nothing to lease: %s", errmsg);
	FUZZ_CHECK(item.payload != NULL && strlen(item.payload) == len &&
	    memcmp(item.payload, body, len) == 0, "stored body differs");
	FUZZ_CHECK(strcmp(item.delivery, r->delivery) == 0 &&
	    strcmp(item.entity_id, r->entity_id) == 0 &&
	    strcmp(item.event, r->event) == 0, "stored item differs");
	store_queue_item_free(&item);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpb_config cfg;
	struct webhook_request req;
	struct webhook_result res;
	const uint8_t *p = data;
	size_t left = size;
	char hex[65], prefixed[80], *sig_in = NULL, *delivery = NULL;
	char *body, errmsg[CPB_ERRMSG_MAX];
	uint8_t flags;
	bool sig_right, ok;

	if (size == 0)
		return 0;
	flags = *p++;
	left--;
	if (flags & 1)
		sig_in = take_line(&p, &left);
	if (flags & 4)
		delivery = take_line(&p, &left);
	/* The body in its own allocation, so ASan sees any over-read. */
	body = fuzz_nonnull(malloc(left > 0 ? left : 1));
	memcpy(body, p, left);

	hmac_hex(body, left, hex);
	snprintf(prefixed, sizeof(prefixed), "sha256=%s", hex);

	/* webhook_signature_ok: exactly the two spellings. */
	if (sig_in != NULL) {
		ok = webhook_signature_ok(SECRET, body, left, sig_in);
		sig_right = strcmp(sig_in, hex) == 0 ||
		    strcmp(sig_in, prefixed) == 0;
		FUZZ_CHECK(ok == sig_right, "signature [%s] judged %d", sig_in,
		    ok);
	}
	FUZZ_CHECK(webhook_signature_ok(SECRET, body, left, hex) &&
	    webhook_signature_ok(SECRET, body, left, prefixed),
	    "right signature refused");

	memset(&cfg, 0, sizeof(cfg));
	cfg.plane_webhook_secret = (flags & 32) ? NULL : (char *)SECRET;
	cfg.allow_unsigned_webhooks = (flags & 64) != 0;
	cfg.max_event_failures = 5;
	memset(&req, 0, sizeof(req));
	req.body = body;
	req.body_len = left;
	req.signature = sig_in != NULL ? sig_in : (flags & 2) ? prefixed : hex;
	req.delivery = delivery;
	req.event = (flags & 8) ? "issue" : NULL;
	req.content_type = (flags & 16) ? "text/plain" :
	    "application/json; charset=utf-8";
	sig_right = strcmp(req.signature, hex) == 0 ||
	    strcmp(req.signature, prefixed) == 0;

	FUZZ_CHECK(store_begin(store, errmsg) == CPB_OK, "%s", errmsg);
	memset(&res, 0x5a, sizeof(res));
	webhook_receive(&cfg, store, &req, &res);

	FUZZ_CHECK(res.message[0] != '\0' &&
	    memchr(res.message, '\0', sizeof(res.message)) != NULL,
	    "no message");
	FUZZ_CHECK(memchr(res.delivery, '\0', sizeof(res.delivery)) != NULL &&
	    memchr(res.entity_id, '\0', sizeof(res.entity_id)) != NULL &&
	    memchr(res.event, '\0', sizeof(res.event)) != NULL,
	    "unterminated result field");
	switch (res.outcome) {
	case WEBHOOK_QUEUED:
	case WEBHOOK_DUPLICATE:
	case WEBHOOK_IGNORED:
		FUZZ_CHECK(res.http_status == 202, "outcome %d status %d",
		    res.outcome, res.http_status);
		break;
	case WEBHOOK_REJECTED:
		FUZZ_CHECK(res.http_status == 400 || res.http_status == 401 ||
		    res.http_status == 413 || res.http_status == 415,
		    "rejected with %d", res.http_status);
		FUZZ_CHECK(res.error_code != NULL && res.error_code[0] != '\0',
		    "refusal without an error code");
		break;
	default:
		FUZZ_CHECK(false, "outcome %d, status %d: %s", (int)res.outcome,
		    res.http_status, res.message);
	}
	FUZZ_CHECK(res.outcome != WEBHOOK_DUPLICATE,
	    "duplicate in an empty store");
	if (flags & 16)
		FUZZ_CHECK(res.http_status == 415, "text/plain got %d",
		    res.http_status);
	else if (cfg.plane_webhook_secret != NULL && !sig_right)
		FUZZ_CHECK(res.http_status == 401 || res.http_status == 413,
		    "bad signature got %d: %s", res.http_status, res.message);
	else if (cfg.plane_webhook_secret == NULL && !cfg.allow_unsigned_webhooks)
		FUZZ_CHECK(res.http_status == 401, "no secret got %d",
		    res.http_status);
	if (getenv("FUZZ_WEBHOOK_DUMP") != NULL)
		fprintf(stderr, "webhook: %d %s %s\n", res.http_status,
		    res.error_code ? res.error_code : "-", res.message);
	if (res.outcome == WEBHOOK_QUEUED)
		check_stored(&res, body, left);
	store_rollback(store);

	free(body);
	free(sig_in);
	free(delivery);
	return 0;
}
