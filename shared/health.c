/*
 * health.c - health, status and metrics documents, from the store alone.
 *
 * Everything is read first into one struct health_facts (runs, queue,
 * dead letters, probes, whether a sync holds its lock), then each
 * document is built from the facts, so the three agree with each other.
 *
 * The documents (every key always present; unknown values are null):
 *   health_json  {"status","version","timestamp","uptime_seconds",
 *                 "plane_api":{"ok","checked_at","latency_ms","error"},
 *                 "caldav_server":{…the same},
 *                 "last_sync":{"id","started_at","ended_at","duration_ms",
 *                   "status","counts":{…},"errors":[…]}|null,
 *                 "sync_status":"idle|running","next_sync_at",
 *                 "queue_depth","dead_letters":{"count","recent":[{"id",
 *                   "delivery","event","entity_id","error","failed_at"}]},
 *                 "consecutive_failures","alerts":[{"code","severity",
 *                   "message"}],"recent_runs":[{"id","started_at",
 *                   "duration_ms","status","created","updated","deleted",
 *                   "failed"}]}
 *   status_json  {"status","last_run","next_run_at","queue_depth",
 *                 "running","running_since"}; "status" is the same overall
 *                 healthy/degraded/unhealthy as health_json's.
 * last_sync and recent_runs (oldest first, for charting) hold finished
 * runs only; a "running" row whose lock nobody holds is a crashed run and
 * is left out.  next_sync_at is the newest run's start plus the interval.
 *
 * Probes are kept in the store's meta table under "probe plane" and
 * "probe caldav" as {"ok":…,"latency_ms":…,"error":…}; the meta row's
 * set_at is the probe's time.
 *
 * Alerts (seed 000's alert conditions, plus what an operator needs to
 * act), in this order, criticals first:
 *   SYNC_FAILING        critical  more than 3 failed/partial runs in a row
 *   PLANE_UNREACHABLE   critical  the last Plane probe failed
 *   CALDAV_UNREACHABLE  critical  the last CalDAV probe failed
 *   SYNC_STALE          warning   no ok run for 3 sync intervals (or,
 *                                 with no run at all, the responder has
 *                                 been up that long: cron is missing)
 *   QUEUE_BACKLOG       warning   more than 1000 deliveries waiting
 *   DEAD_LETTERS        warning   any dead letter
 *   SLOW_API            warning   a probe's latency above 30 s (one alert
 *                                 per slow service)
 * Seed 000's "memory usage > 80%" is left out: a process that serves one
 * request at a time from a bounded body cannot say anything useful about
 * the host's memory; that is the host monitoring's job.
 */
#include "health.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define HEALTH_DEAD_RECENT	5
#define HEALTH_PROBE_ERROR_MAX	512
#define HEALTH_PROBE_KEY	"probe "

struct health_probe {
	bool	 known;			/* a probe was recorded */
	bool	 ok;
	int64_t	 checked_at;		/* unix seconds */
	long	 latency_ms;		/* -1: unknown */
	char	 error[HEALTH_PROBE_ERROR_MAX + 1];
};

struct health_facts {
	struct store_run_stats stats;
	long	 queue_depth;
	long	 dead_count;
	bool	 running;
	cJSON	*runs;			/* store_runs_json, newest first */
	const cJSON *last;		/* newest finished run, or NULL */
	const cJSON *current;		/* the running run, or NULL */
	cJSON	*dead;			/* newest dead letters */
	struct health_probe plane, caldav;
};

static enum cpb_err
health_nomem(char *errmsg)
{
	return cpb_seterr(errmsg, CPB_ERR_NOMEM, "health: out of memory");
}

/* "2024-05-01T12:00:00Z"; false when the time cannot be shown. */
static bool
health_iso(int64_t sec, char *buf, size_t size)
{
	time_t t = (time_t)sec;
	struct tm tm;

	return gmtime_r(&t, &tm) != NULL &&
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) != 0;
}

static bool
health_add_time(cJSON *obj, const char *name, int64_t sec, bool known)
{
	char iso[32];

	if (!known)
		return cJSON_AddNullToObject(obj, name) != NULL;
	return health_iso(sec, iso, sizeof(iso)) &&
	    cJSON_AddStringToObject(obj, name, iso) != NULL;
}

/* ---- probes ----------------------------------------------------------- */

static bool
health_service_ok(const char *service)
{
	return service != NULL && (strcmp(service, "plane") == 0 ||
	    strcmp(service, "caldav") == 0);
}

enum cpb_err
health_record_probe(struct store *store, const char *service, bool ok,
    long latency_ms, const char *error, char *errmsg)
{
	char key[32], *json = NULL;
	cJSON *obj;
	enum cpb_err err;

	if (!health_service_ok(service))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "health: probe service must be plane or caldav");
	snprintf(key, sizeof(key), HEALTH_PROBE_KEY "%s", service);
	if ((obj = cJSON_CreateObject()) == NULL)
		return health_nomem(errmsg);
	if (cJSON_AddBoolToObject(obj, "ok", ok) == NULL ||
	    (latency_ms >= 0 ? cJSON_AddNumberToObject(obj, "latency_ms",
	    (double)latency_ms) : cJSON_AddNullToObject(obj, "latency_ms")) ==
	    NULL ||
	    (ok ? cJSON_AddNullToObject(obj, "error") :
	    cJSON_AddStringToObject(obj, "error", error != NULL ? error :
	    "unreachable")) == NULL ||
	    (json = cJSON_PrintUnformatted(obj)) == NULL) {
		err = health_nomem(errmsg);
		goto out;
	}
	err = store_meta_set(store, key, json, errmsg);
out:
	cJSON_free(json);
	cJSON_Delete(obj);
	return err;
}

/* A stored probe; an unreadable one counts as not recorded. */
static enum cpb_err
health_read_probe(struct store *store, const char *service,
    struct health_probe *p, char *errmsg)
{
	char key[32], *value = NULL;
	const cJSON *ok, *latency, *error;
	cJSON *obj = NULL;
	int64_t set_at = 0;
	enum cpb_err err;

	memset(p, 0, sizeof(*p));
	p->latency_ms = -1;
	snprintf(key, sizeof(key), HEALTH_PROBE_KEY "%s", service);
	err = store_meta_get(store, key, &value, &set_at, errmsg);
	if (err == CPB_ERR_NOT_FOUND)
		return CPB_OK;
	if (err != CPB_OK)
		return err;
	obj = cJSON_Parse(value);
	ok = cJSON_GetObjectItemCaseSensitive(obj, "ok");
	latency = cJSON_GetObjectItemCaseSensitive(obj, "latency_ms");
	error = cJSON_GetObjectItemCaseSensitive(obj, "error");
	if (cJSON_IsBool(ok)) {
		p->known = true;
		p->ok = cJSON_IsTrue(ok);
		p->checked_at = set_at;
		if (cJSON_IsNumber(latency) && latency->valuedouble >= 0 &&
		    latency->valuedouble < 1e12)
			p->latency_ms = (long)latency->valuedouble;
		if (cJSON_IsString(error))
			snprintf(p->error, sizeof(p->error), "%s",
			    error->valuestring);
	}
	cJSON_Delete(obj);
	free(value);
	return CPB_OK;
}

/* ---- facts ------------------------------------------------------------ */

/* obj[key] is the string `value`. */
static bool
health_is(const cJSON *obj, const char *key, const char *value)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(s) && strcmp(s->valuestring, value) == 0;
}

static void
health_facts_free(struct health_facts *f)
{
	cJSON_Delete(f->runs);
	cJSON_Delete(f->dead);
	memset(f, 0, sizeof(*f));
}

/* Parse a JSON array a store function returned. */
static enum cpb_err
health_parse_array(char *json, cJSON **out, char *errmsg)
{
	*out = cJSON_Parse(json);
	free(json);
	if (!cJSON_IsArray(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return health_nomem(errmsg);
	}
	return CPB_OK;
}

static enum cpb_err
health_read_lists(struct store *store, struct health_facts *f, char *errmsg)
{
	const cJSON *run;
	char *json = NULL;
	enum cpb_err err;

	if ((err = store_runs_json(store, HEALTH_RECENT_RUNS, &json,
	    errmsg)) != CPB_OK ||
	    (err = health_parse_array(json, &f->runs, errmsg)) != CPB_OK ||
	    (err = store_dead_json(store, HEALTH_DEAD_RECENT, &json,
	    errmsg)) != CPB_OK ||
	    (err = health_parse_array(json, &f->dead, errmsg)) != CPB_OK)
		return err;
	cJSON_ArrayForEach(run, f->runs) {
		if (!health_is(run, "status", "running")) {
			f->last = run;
			break;
		}
		/* A "running" row without the lock held is a crashed run. */
		if (f->running && f->current == NULL)
			f->current = run;
	}
	return CPB_OK;
}

static enum cpb_err
health_facts_read(struct store *store, const struct cpb_config *cfg,
    struct health_facts *f, char *errmsg)
{
	enum cpb_err err;

	memset(f, 0, sizeof(*f));
	if ((err = store_run_stats(store, &f->stats, errmsg)) != CPB_OK ||
	    (err = store_queue_depth(store, &f->queue_depth, errmsg)) !=
	    CPB_OK ||
	    (err = store_dead_count(store, &f->dead_count, errmsg)) !=
	    CPB_OK ||
	    (cfg != NULL && (err = store_sync_running(cfg->db_path,
	    &f->running, errmsg)) != CPB_OK) ||
	    (err = health_read_lists(store, f, errmsg)) != CPB_OK ||
	    (err = health_read_probe(store, "plane", &f->plane, errmsg)) !=
	    CPB_OK ||
	    (err = health_read_probe(store, "caldav", &f->caldav, errmsg)) !=
	    CPB_OK)
		health_facts_free(f);
	return err;
}

/* ---- alerts ----------------------------------------------------------- */

static bool
health_alert(cJSON *alerts, const char *code, const char *severity,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool
health_alert(cJSON *alerts, const char *code, const char *severity,
    const char *fmt, ...)
{
	char message[HEALTH_PROBE_ERROR_MAX + 128];
	cJSON *a;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if ((a = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddItemToArray(alerts, a)) {
		cJSON_Delete(a);
		return false;
	}
	return cJSON_AddStringToObject(a, "code", code) != NULL &&
	    cJSON_AddStringToObject(a, "severity", severity) != NULL &&
	    cJSON_AddStringToObject(a, "message", message) != NULL;
}

static bool
health_alert_probe(cJSON *alerts, const struct health_probe *p,
    const char *code, const char *name)
{
	if (!p->known || p->ok)
		return true;
	return health_alert(alerts, code, "critical", "%s unreachable: %s",
	    name, p->error[0] != '\0' ? p->error : "no reason recorded");
}

static bool
health_alert_slow(cJSON *alerts, const struct health_probe *p,
    const char *name)
{
	if (!p->known || p->latency_ms <= HEALTH_MAX_LATENCY_MS)
		return true;
	return health_alert(alerts, "SLOW_API", "warning", "%s answered in "
	    "%ld ms (more than %d s)", name, p->latency_ms,
	    HEALTH_MAX_LATENCY_MS / 1000);
}

static bool
health_alert_stale(cJSON *alerts, const struct health_facts *f,
    const struct cpb_config *cfg, const struct health_self *self)
{
	int64_t limit = 3 * (int64_t)cfg->sync_interval_seconds, now = self->now;
	const struct store_run_stats *s = &f->stats;

	if (s->last_ok_ended_ms > 0) {
		if (now - s->last_ok_ended_ms / 1000 <= limit)
			return true;
		return health_alert(alerts, "SYNC_STALE", "warning",
		    "no successful full sync for %lld minutes (interval %ld s)",
		    (long long)((now - s->last_ok_ended_ms / 1000) / 60),
		    cfg->sync_interval_seconds);
	}
	if (s->oldest_started_ms > 0) {
		if (now - s->oldest_started_ms / 1000 <= limit)
			return true;
		return health_alert(alerts, "SYNC_STALE", "warning",
		    "no full sync has succeeded yet (the first started %lld "
		    "minutes ago)",
		    (long long)((now - s->oldest_started_ms / 1000) / 60));
	}
	if (now - (int64_t)self->started_at <= limit)
		return true;
	return health_alert(alerts, "SYNC_STALE", "warning", "no full sync has "
	    "ever run: is the cron job installed?");
}

static cJSON *
health_alerts(const struct health_facts *f, const struct cpb_config *cfg,
    const struct health_self *self)
{
	cJSON *alerts = cJSON_CreateArray();
	bool ok = alerts != NULL;

	if (ok && f->stats.consecutive_failures > HEALTH_MAX_CONSECUTIVE_FAILURES)
		ok = health_alert(alerts, "SYNC_FAILING", "critical",
		    "the last %ld full syncs failed or were partial",
		    f->stats.consecutive_failures);
	ok = ok && health_alert_probe(alerts, &f->plane, "PLANE_UNREACHABLE",
	    "Plane") &&
	    health_alert_probe(alerts, &f->caldav, "CALDAV_UNREACHABLE",
	    "CalDAV server") &&
	    health_alert_stale(alerts, f, cfg, self);
	if (ok && f->queue_depth > HEALTH_MAX_QUEUE_DEPTH)
		ok = health_alert(alerts, "QUEUE_BACKLOG", "warning", "%ld "
		    "webhook deliveries are waiting (more than %d)",
		    f->queue_depth, HEALTH_MAX_QUEUE_DEPTH);
	if (ok && f->dead_count > 0)
		ok = health_alert(alerts, "DEAD_LETTERS", "warning", "%ld "
		    "deliveries failed too often and wait in the dead letters",
		    f->dead_count);
	ok = ok && health_alert_slow(alerts, &f->plane, "Plane") &&
	    health_alert_slow(alerts, &f->caldav, "CalDAV server");
	if (!ok) {
		cJSON_Delete(alerts);
		return NULL;
	}
	return alerts;
}

/* healthy / degraded / unhealthy from the alerts' severities. */
static const char *
health_status(const cJSON *alerts)
{
	const cJSON *a;
	bool warning = false;

	cJSON_ArrayForEach(a, alerts) {
		if (health_is(a, "severity", "critical"))
			return "unhealthy";
		warning = true;
	}
	return warning ? "degraded" : "healthy";
}

/* ---- documents -------------------------------------------------------- */

/* dst[key] = a copy of src[key], or null when src has none. */
static bool
health_copy(cJSON *dst, const char *name, const cJSON *src, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(src, key);
	cJSON *dup = item != NULL ? cJSON_Duplicate(item, 1) :
	    cJSON_CreateNull();

	if (dup == NULL || !cJSON_AddItemToObject(dst, name, dup)) {
		cJSON_Delete(dup);
		return false;
	}
	return true;
}

/* A run as last_sync shows it, or null. */
static bool
health_add_run(cJSON *obj, const char *name, const cJSON *run)
{
	static const char *const keys[] = { "id", "started_at", "ended_at",
	    "duration_ms", "status", "counts", "errors" };
	cJSON *out;
	size_t i;

	if (run == NULL)
		return cJSON_AddNullToObject(obj, name) != NULL;
	if ((out = cJSON_AddObjectToObject(obj, name)) == NULL)
		return false;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!health_copy(out, keys[i], run, keys[i]))
			return false;
	return true;
}

/* One point of recent_runs: the counts flattened for charting. */
static bool
health_add_point(cJSON *arr, const cJSON *run)
{
	static const char *const keys[] = { "id", "started_at", "duration_ms",
	    "status" };
	static const char *const counts[] = { "created", "updated", "deleted",
	    "failed" };
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(run, "counts");
	cJSON *out = cJSON_CreateObject();
	size_t i;

	if (out == NULL || !cJSON_AddItemToArray(arr, out)) {
		cJSON_Delete(out);
		return false;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!health_copy(out, keys[i], run, keys[i]))
			return false;
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (!health_copy(out, counts[i], c, counts[i]))
			return false;
	return true;
}

/* Finished runs, oldest first. */
static bool
health_add_recent(cJSON *obj, const struct health_facts *f)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, "recent_runs");
	int i;

	if (arr == NULL)
		return false;
	for (i = cJSON_GetArraySize(f->runs) - 1; i >= 0; i--) {
		const cJSON *run = cJSON_GetArrayItem(f->runs, i);

		if (!health_is(run, "status", "running") &&
		    !health_add_point(arr, run))
			return false;
	}
	return true;
}

static bool
health_add_probe(cJSON *obj, const char *name, const struct health_probe *p)
{
	cJSON *out = cJSON_AddObjectToObject(obj, name);

	if (out == NULL)
		return false;
	return (p->known ? cJSON_AddBoolToObject(out, "ok", p->ok) :
	    cJSON_AddNullToObject(out, "ok")) != NULL &&
	    health_add_time(out, "checked_at", p->checked_at, p->known) &&
	    (p->known && p->latency_ms >= 0 ? cJSON_AddNumberToObject(out,
	    "latency_ms", (double)p->latency_ms) :
	    cJSON_AddNullToObject(out, "latency_ms")) != NULL &&
	    (p->known && p->error[0] != '\0' ? cJSON_AddStringToObject(out,
	    "error", p->error) : cJSON_AddNullToObject(out, "error")) != NULL;
}

static bool
health_add_dead(cJSON *obj, const struct health_facts *f)
{
	static const char *const keys[] = { "id", "delivery", "event",
	    "entity_id", "error", "failed_at" };
	cJSON *out = cJSON_AddObjectToObject(obj, "dead_letters"), *recent, *d;
	const cJSON *item;
	size_t i;

	if (out == NULL || cJSON_AddNumberToObject(out, "count",
	    (double)f->dead_count) == NULL ||
	    (recent = cJSON_AddArrayToObject(out, "recent")) == NULL)
		return false;
	cJSON_ArrayForEach(item, f->dead) {
		if ((d = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(recent, d)) {
			cJSON_Delete(d);
			return false;
		}
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!health_copy(d, keys[i], item, keys[i]))
				return false;
	}
	return true;
}

static bool
health_add_next(cJSON *obj, const char *name, const struct health_facts *f,
    const struct cpb_config *cfg)
{
	int64_t start = f->stats.newest_started_ms / 1000;

	return health_add_time(obj, name, start + cfg->sync_interval_seconds,
	    f->stats.newest_started_ms > 0);
}

/* The document out of root, and root freed. */
static enum cpb_err
health_print(cJSON *root, char **json, char *errmsg)
{
	*json = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return *json != NULL ? CPB_OK : health_nomem(errmsg);
}

static bool
health_fill(cJSON *root, const struct health_facts *f,
    const struct cpb_config *cfg, const struct health_self *self,
    cJSON *alerts)
{
	return cJSON_AddStringToObject(root, "status", health_status(alerts)) &&
	    cJSON_AddStringToObject(root, "version",
	    self->version != NULL ? self->version : "unknown") &&
	    health_add_time(root, "timestamp", self->now, true) &&
	    cJSON_AddNumberToObject(root, "uptime_seconds",
	    (double)(self->now - self->started_at)) &&
	    health_add_probe(root, "plane_api", &f->plane) &&
	    health_add_probe(root, "caldav_server", &f->caldav) &&
	    health_add_run(root, "last_sync", f->last) &&
	    cJSON_AddStringToObject(root, "sync_status",
	    f->running ? "running" : "idle") &&
	    health_add_next(root, "next_sync_at", f, cfg) &&
	    cJSON_AddNumberToObject(root, "queue_depth",
	    (double)f->queue_depth) &&
	    health_add_dead(root, f) &&
	    cJSON_AddNumberToObject(root, "consecutive_failures",
	    (double)f->stats.consecutive_failures) &&
	    cJSON_AddItemReferenceToObject(root, "alerts", alerts) &&
	    health_add_recent(root, f);
}

enum cpb_err
health_json(struct store *store, const struct cpb_config *cfg,
    const struct health_self *self, char **json, char *errmsg)
{
	struct health_facts f;
	cJSON *root = NULL, *alerts = NULL;
	enum cpb_err err;

	*json = NULL;
	if ((err = health_facts_read(store, cfg, &f, errmsg)) != CPB_OK)
		return err;
	if ((alerts = health_alerts(&f, cfg, self)) == NULL ||
	    (root = cJSON_CreateObject()) == NULL ||
	    !health_fill(root, &f, cfg, self, alerts)) {
		cJSON_Delete(root);
		err = health_nomem(errmsg);
		goto out;
	}
	err = health_print(root, json, errmsg);
out:
	cJSON_Delete(alerts);
	health_facts_free(&f);
	return err;
}

static bool
health_add_since(cJSON *obj, const struct health_facts *f)
{
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(f->current,
	    "started_at");

	if (!cJSON_IsString(at))
		return cJSON_AddNullToObject(obj, "running_since") != NULL;
	return cJSON_AddStringToObject(obj, "running_since", at->valuestring) !=
	    NULL;
}

enum cpb_err
status_json(struct store *store, const struct cpb_config *cfg,
    const struct health_self *self, char **json, char *errmsg)
{
	struct health_facts f;
	cJSON *root = NULL, *alerts = NULL;
	enum cpb_err err;

	*json = NULL;
	if ((err = health_facts_read(store, cfg, &f, errmsg)) != CPB_OK)
		return err;
	if ((alerts = health_alerts(&f, cfg, self)) == NULL ||
	    (root = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddStringToObject(root, "status", health_status(alerts)) ||
	    !health_add_run(root, "last_run", f.last) ||
	    !health_add_next(root, "next_run_at", &f, cfg) ||
	    !cJSON_AddNumberToObject(root, "queue_depth",
	    (double)f.queue_depth) ||
	    !cJSON_AddBoolToObject(root, "running", f.running) ||
	    !health_add_since(root, &f)) {
		cJSON_Delete(root);
		err = health_nomem(errmsg);
		goto out;
	}
	err = health_print(root, json, errmsg);
out:
	cJSON_Delete(alerts);
	health_facts_free(&f);
	return err;
}

/* ---- metrics ---------------------------------------------------------- */

/* A growing text buffer; a failed allocation sticks. */
struct health_buf {
	char	*p;
	size_t	 len, cap;
	bool	 nomem;
};

static void
health_printf(struct health_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
health_printf(struct health_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t need;
	char *grown;
	int n;

	if (b->nomem)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->cap - b->len, fmt,
	    ap);
	va_end(ap);
	if (n < 0) {
		b->nomem = true;
		return;
	}
	if ((size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return;
	}
	need = b->len + (size_t)n + 1;
	if ((grown = realloc(b->p, need < 4096 ? 4096 : need * 2)) == NULL) {
		b->nomem = true;
		return;
	}
	b->p = grown;
	b->cap = need < 4096 ? 4096 : need * 2;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The counter families we write (webhook.c), in exposition order. */
static const struct {
	const char *name;
	const char *help;
} health_families[] = {
	{ "webhooks_total", "Webhook deliveries received, by outcome." },
	{ "drain_total", "Queued deliveries settled by drainers, by result." },
	{ "operations_total", "Operations applied from webhooks, by kind and "
	    "result." },
};
#define HEALTH_FAMILIES (sizeof(health_families) / sizeof(health_families[0]))

struct health_samples {
	struct health_buf fam[HEALTH_FAMILIES];
};

/* Only names we could have written: family{label="value",…}. */
static bool
health_sample_name_ok(const char *name)
{
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_{}=\",") ==
	    strlen(name) && name[strlen(name) - 1] == '}';
}

static enum cpb_err
health_on_counter(const char *name, long value, void *ctx)
{
	struct health_samples *hs = ctx;
	size_t i, len;

	for (i = 0; i < HEALTH_FAMILIES; i++) {
		len = strlen(health_families[i].name);
		if (strncmp(name, health_families[i].name, len) == 0 &&
		    name[len] == '{' && health_sample_name_ok(name)) {
			health_printf(&hs->fam[i], "calplanebot_%s %ld\n", name,
			    value);
			break;
		}
	}
	return CPB_OK;
}

static void
health_family(struct health_buf *b, const char *name, const char *type,
    const char *help)
{
	health_printf(b, "# HELP calplanebot_%s %s\n# TYPE calplanebot_%s %s\n",
	    name, help, name, type);
}

static void
health_metrics_counters(struct health_buf *b, struct health_samples *hs)
{
	size_t i;

	for (i = 0; i < HEALTH_FAMILIES; i++) {
		health_family(b, health_families[i].name, "counter",
		    health_families[i].help);
		if (hs->fam[i].nomem)
			b->nomem = true;
		else if (hs->fam[i].len > 0)
			health_printf(b, "%s", hs->fam[i].p);
	}
}

static double
health_number(const cJSON *obj, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

/* The last finished run: its duration and counts. */
static void
health_metrics_sync(struct health_buf *b, const struct health_facts *f)
{
	static const char *const kinds[] = { "created", "updated", "deleted",
	    "unchanged", "skipped", "failed" };
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(f->last,
	    "counts");
	size_t i;

	health_family(b, "sync_duration_seconds", "gauge",
	    "Duration of the last finished full sync.");
	if (f->last != NULL)
		health_printf(b, "calplanebot_sync_duration_seconds %.3f\n",
		    health_number(f->last, "duration_ms") / 1000.0);
	health_family(b, "sync_events", "gauge",
	    "Events of the last finished full sync, by kind.");
	for (i = 0; f->last != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		health_printf(b, "calplanebot_sync_events{kind=\"%s\"} %.0f\n",
		    kinds[i], health_number(counts, kinds[i]));
}

static void
health_metrics_gauges(struct health_buf *b, const struct health_facts *f)
{
	health_family(b, "queue_depth", "gauge",
	    "Webhook deliveries waiting in the queue.");
	health_printf(b, "calplanebot_queue_depth %ld\n", f->queue_depth);
	health_family(b, "dead_letters", "gauge",
	    "Deliveries that failed too often.");
	health_printf(b, "calplanebot_dead_letters %ld\n", f->dead_count);
	health_family(b, "last_success_timestamp_seconds", "gauge",
	    "When the last successful full sync ended (unix time).");
	if (f->stats.last_ok_ended_ms > 0)
		health_printf(b, "calplanebot_last_success_timestamp_seconds "
		    "%.3f\n", (double)f->stats.last_ok_ended_ms / 1000.0);
}

/*
 * Families whose value is unknown (no finished run, never a success)
 * keep their HELP and TYPE but have no sample: absent, not a false zero.
 */
enum cpb_err
metrics_text(struct store *store, const struct health_self *self,
    char **text, char *errmsg)
{
	struct health_samples hs;
	struct health_facts f;
	struct health_buf b = { NULL, 0, 0, false };
	enum cpb_err err;
	size_t i;

	(void)self;
	*text = NULL;
	memset(&hs, 0, sizeof(hs));
	if ((err = health_facts_read(store, NULL, &f, errmsg)) != CPB_OK)
		return err;
	if ((err = store_counters_each(store, health_on_counter, &hs,
	    errmsg)) != CPB_OK)
		goto out;
	health_family(&b, "up", "gauge", "1 when the store could be read.");
	health_printf(&b, "calplanebot_up 1\n");
	health_metrics_counters(&b, &hs);
	health_metrics_sync(&b, &f);
	health_metrics_gauges(&b, &f);
	if (b.nomem) {
		err = health_nomem(errmsg);
		goto out;
	}
	*text = b.p;
	b.p = NULL;
out:
	for (i = 0; i < HEALTH_FAMILIES; i++)
		free(hs.fam[i].p);
	free(b.p);
	health_facts_free(&f);
	return err;
}
