/*
 * router.h - the responder's routes: one table, one handler per route and
 * method, no FastCGI in sight (the caller reads the request and writes
 * the response), so every route can be driven without a web server.
 *
 *   POST   /webhooks/plane                   Plane's webhook
 *   GET    /health                           liveness
 *   GET    /api/v1/health                    the status page's document
 *   GET    /api/v1/status                    sync status
 *   GET    /api/v1/metrics                   Prometheus text
 *   POST   /api/v1/sync                      start a full sync (admin)
 *   GET    /api/v1/dead-letters              list (admin)
 *   POST   /api/v1/dead-letters/{id}/retry   back to the queue (admin)
 *   DELETE /api/v1/dead-letters/{id}         drop (admin)
 *
 * GET routes answer HEAD too.  docs/api.md documents every status and
 * error code; keep it in step with this file.
 *
 * Ownership: the app's handles are the caller's and outlive every request;
 * a route keeps nothing of a request once it returns.
 */
#ifndef CPB_FCGI_ROUTER_H
#define CPB_FCGI_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "version.h"

/*
 * The last GET /api/v1/health document of this process.  It is served
 * again while the store is unchanged (store_mark) within the same second
 * of the clock (the document's timestamp, uptime and the age-based alerts
 * move with it): the status page's polling and a monitor's then cost one
 * look at the store instead of seven queries.  Only whether a sync holds
 * the lock can be up to a second old.
 */
struct doc_cache {
	char		*json;		/* owned; NULL: nothing cached */
	struct store_mark mark;
	time_t		 second;
};

void doc_cache_clear(struct doc_cache *cache);

/* What one responder process holds for its whole life. */
struct fcgi_app {
	const struct cpb_config *cfg;
	struct store	*store;
	struct engine	*engine;
	time_t		 started_at;
	const char	*sync_bin;	/* absolute path of calplanebot-sync */
	const char	*sync_log;	/* its output; NULL: /dev/null */
	struct doc_cache *health_cache;	/* NULL: build every time */
};

struct route;

struct route_match {
	const struct route *route;
	int	 handler;		/* index into the route's methods */
	int64_t	 id;			/* the {id} of dead-letter routes */
};

/*
 * Find the route for the request's path and method.  False when there is
 * none: then `resp` holds the 404 or the 405 (with its Allow header).
 */
bool router_match(const struct fcgi_request *req, struct route_match *m,
    struct fcgi_response *resp);

/* Does the matched route read the request body? */
bool router_wants_body(const struct route_match *m);

/* Run the matched route; `resp` always holds an answer afterwards. */
void router_dispatch(const struct fcgi_app *app, const struct fcgi_request *req,
    const struct route_match *m, struct fcgi_response *resp);

/*
 * Constant-time comparison of a presented secret with the configured one:
 * both are hashed (SHA-256) first, so neither the content nor the length
 * of the configured secret shows in the timing.
 */
bool router_secret_equal(const char *given, size_t given_len,
    const char *expected);

#endif
