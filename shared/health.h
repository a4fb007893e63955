/*
 * health.h - the documents the responder serves about itself, all built
 * from the store alone (never a probe of Plane or CalDAV), so they are
 * always fast:
 *
 *   health_json   GET /api/v1/health  (the status page's source)
 *   status_json   GET /api/v1/status
 *   metrics_text  GET /api/v1/metrics (Prometheus text format 0.0.4)
 *
 * Probe results come from the last full sync, which records them in the
 * store (health_record_probe).  Ownership: returned strings are the
 * caller's.
 */
#ifndef CPB_HEALTH_H
#define CPB_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "err.h"
#include "store.h"

#define HEALTH_RECENT_RUNS	50
/* Alert thresholds, from the seeds' alert conditions. */
#define HEALTH_MAX_CONSECUTIVE_FAILURES	3
#define HEALTH_MAX_QUEUE_DEPTH		1000
#define HEALTH_MAX_LATENCY_MS		30000

/* What the caller knows about itself. */
struct health_self {
	const char *version;
	time_t	 started_at;		/* process start, for uptime_seconds */
	time_t	 now;
};

/* Record "plane" or "caldav" reachability as seen by a run. */
enum cpb_err health_record_probe(struct store *store, const char *service,
    bool ok, long latency_ms, const char *error, char *errmsg);

enum cpb_err health_json(struct store *store, const struct cpb_config *cfg,
    const struct health_self *self, char **json, char *errmsg);
enum cpb_err status_json(struct store *store, const struct cpb_config *cfg,
    const struct health_self *self, char **json, char *errmsg);
enum cpb_err metrics_text(struct store *store, const struct health_self *self,
    char **text, char *errmsg);

#endif
