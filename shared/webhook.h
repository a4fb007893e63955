/*
 * webhook.h - Plane's webhooks, as Plane really sends them (plane-api.md):
 * verify the signature over the raw body, validate the envelope, store the
 * delivery durably, and later drain the queue through the engine.
 *
 * The receiving half (webhook_receive) is what the FastCGI responder calls
 * before it answers; it never talks to Plane or CalDAV, so it is fast and
 * its answer is only 202 when the delivery is safely in the store.  The
 * draining half runs after the response is sent, and from cron
 * (`calplanebot-sync drain`).
 *
 * Ownership: requests are borrowed; results are plain structs.
 */
#ifndef CPB_WEBHOOK_H
#define CPB_WEBHOOK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "engine.h"
#include "err.h"
#include "store.h"

#define WEBHOOK_BODY_MAX	(1024 * 1024)	/* nginx enforces the same */
#define WEBHOOK_JSON_DEPTH_MAX	64

struct webhook_request {
	const char *body;		/* raw bytes, exactly as received */
	size_t	 body_len;
	const char *signature;		/* X-Plane-Signature, or NULL */
	const char *delivery;		/* X-Plane-Delivery, or NULL */
	const char *event;		/* X-Plane-Event, or NULL */
	const char *content_type;	/* CONTENT_TYPE, or NULL */
};

enum webhook_outcome {
	WEBHOOK_QUEUED,			/* 202, stored */
	WEBHOOK_DUPLICATE,		/* 202, a repeat: nothing stored */
	WEBHOOK_IGNORED,		/* 202, an event we do not act on */
	WEBHOOK_REJECTED,		/* 4xx, nothing stored */
	WEBHOOK_UNAVAILABLE,		/* 503, the store failed: nothing stored */
};

struct webhook_result {
	enum webhook_outcome outcome;
	int	 http_status;		/* 202, 400, 401, 413, 415, 503 */
	const char *error_code;		/* "INVALID_SIGNATURE", … or NULL */
	char	 message[CPB_ERRMSG_MAX];
	char	 delivery[80];
	char	 entity_id[80];
	char	 event[32];
};

/* Verify, validate, store.  Fills `result`; never fails otherwise. */
void webhook_receive(const struct cpb_config *cfg, struct store *store,
    const struct webhook_request *req, struct webhook_result *result);

/*
 * HMAC-SHA256(secret, body) as lowercase hex, with or without "sha256=",
 * compared in constant time.
 */
bool webhook_signature_ok(const char *secret, const char *body, size_t len,
    const char *header);

struct webhook_drain_report {
	long	 applied;
	long	 failed;
	long	 dead;			/* moved to the dead letters this drain */
	long	 coalesced;		/* deliveries folded into another */
};

/*
 * Apply queued deliveries until the queue is empty, max_items were taken
 * (0: no limit), or *stop is set (a signal handler's flag; NULL: never).
 * One drainer at a time (store_drain_lock): if another holds it, returns
 * CPB_ERR_BUSY at once, and that drainer takes our deliveries too.  An
 * empty queue is seen with one read, without the lock.
 *
 * Items are leased, and settled, WEBHOOK_DRAIN_BATCH at a time, each
 * batch in one transaction: under load one commit serves many webhooks,
 * while a lone webhook is still applied at once.  Failures are retried
 * with backoff; after cfg->max_event_failures they become dead letters.
 * A failure that is the peer's (unreachable, credentials, rate limit)
 * ends the drain: the rest would only spend their attempts on an outage.
 */
#define WEBHOOK_DRAIN_BATCH	32
enum cpb_err webhook_drain(const struct cpb_config *cfg, struct store *store,
    struct engine *engine, long max_items, const volatile sig_atomic_t *stop,
    struct webhook_drain_report *report, char *errmsg);

#endif
