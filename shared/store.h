/*
 * store.h - the durable state, behind one narrow interface so a second
 * backend (PostgreSQL for multi-host deployments) can sit behind it later.
 * The SQLite backend runs in WAL mode with a busy timeout; the schema is
 * versioned and migrated on open; every change is one transaction.
 *
 * What it keeps:
 *   calendars  project → calendar URL, the display name we set, and the
 *              project's name and identifier (so webhooks need no lookup)
 *   events     issue → calendar, href, ETag, content hash, SEQUENCE,
 *              Plane's updated_at, last error
 *   runs       one row per full sync: times, counts, status, errors
 *   meta       small key/value cache (calendar home, its age, probes)
 *   queue, deliveries, dead_letters, counters
 *              the webhook queue, its dedupe memory, what failed too
 *              often, and the metrics counters (see below)
 *
 * Ownership: the store owns its connection; structs filled by store_*_get
 * own their strings until the matching *_free.  Arguments are borrowed.
 */
#ifndef CPB_STORE_H
#define CPB_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* The schema this build writes; a newer database is refused on open. */
#define STORE_SCHEMA_VERSION	3
/* Caps on what callers hand us (bytes): any text field, a run's errors. */
#define STORE_TEXT_MAX		(1024 * 1024)
#define STORE_ERRORS_MAX	(4 * 1024 * 1024)
/* Most runs store_runs_json returns. */
#define STORE_RUNS_MAX		1000

struct store;

struct store_calendar {
	char	*project_id;
	char	*url;			/* absolute calendar URL */
	char	*displayname;		/* the name we last set */
	char	*project_name;		/* Plane's, for webhooks; may be NULL */
	char	*project_identifier;	/* e.g. "WEB"; may be NULL */
};

struct store_event {
	char	*issue_id;
	char	*project_id;
	char	*calendar_url;
	char	*href;			/* absolute URL of the resource */
	char	*etag;			/* verbatim; NULL if the server sent none */
	char	 hash[65];		/* content hash of what we wrote */
	unsigned sequence;
	int64_t	 updated_at_us;		/* Plane's updated_at of what we wrote */
	char	*last_error;		/* NULL when the last write succeeded */
	long	 failures;		/* consecutive failed attempts */
};

struct store_run_counts {
	long	 created, updated, deleted, unchanged, skipped, failed;
};

enum store_run_status {
	STORE_RUN_RUNNING,
	STORE_RUN_OK,
	STORE_RUN_PARTIAL,
	STORE_RUN_FAILED,
};

/*
 * Open (creating the file, mode 0640, and its missing parent directories,
 * mode 0750) and migrate.  CPB_ERR_IO with the path and the reason when the
 * path is unusable; CPB_ERR_INVALID for a schema newer than
 * STORE_SCHEMA_VERSION or a SQLite file of another program.
 */
enum cpb_err store_open(struct store **out, const char *path, char *errmsg);
void store_close(struct store *store);

/*
 * SQLite's page cache for this connection, in KiB (PRAGMA cache_size =
 * -kib).  SQLite's default is 2000 KiB; a long-lived process that touches
 * little of the file (the FastCGI responder) fills it slowly and keeps it.
 */
enum cpb_err store_set_cache_kib(struct store *store, int kib, char *errmsg);

/*
 * Explicit transactions for batches (nesting not supported: CPB_ERR_INVALID).
 * A failed commit rolls back.  Outside them each call is its own transaction.
 */
enum cpb_err store_begin(struct store *store, char *errmsg);
enum cpb_err store_commit(struct store *store, char *errmsg);
void store_rollback(struct store *store);
/*
 * For steps that belong together whoever calls them: join the caller's
 * open transaction, or begin one (*owned).  store_tx_close then commits
 * (err CPB_OK) or rolls back what it began and returns the outcome; a
 * joined transaction is left to its owner.
 */
enum cpb_err store_tx_open(struct store *store, bool *owned, char *errmsg);
enum cpb_err store_tx_close(struct store *store, bool owned, enum cpb_err err,
    char *errmsg);

/* Calendars */
enum cpb_err store_calendar_get(struct store *store, const char *project_id,
    struct store_calendar *out, char *errmsg);	/* CPB_ERR_NOT_FOUND */
enum cpb_err store_calendar_put(struct store *store,
    const struct store_calendar *cal, char *errmsg);
enum cpb_err store_calendar_delete(struct store *store, const char *project_id,
    char *errmsg);				/* CPB_ERR_NOT_FOUND */
typedef enum cpb_err (*store_calendar_cb)(const struct store_calendar *cal,
    void *ctx);
/*
 * Every stored calendar, by project_id (borrowed during the call).  Rows are
 * read before the first call, so the callback may use the store; a callback
 * error stops the walk and is returned.
 */
enum cpb_err store_calendars_each(struct store *store, store_calendar_cb cb,
    void *ctx, char *errmsg);
void store_calendar_free(struct store_calendar *cal);

/* Events */
enum cpb_err store_event_get(struct store *store, const char *issue_id,
    struct store_event *out, char *errmsg);	/* CPB_ERR_NOT_FOUND */
enum cpb_err store_event_put(struct store *store, const struct store_event *ev,
    char *errmsg);	/* insert or replace; a success: failures 0, last_error NULL
			   whatever *ev says */
enum cpb_err store_event_delete(struct store *store, const char *issue_id,
    char *errmsg);				/* CPB_ERR_NOT_FOUND */
/*
 * Record a failed write for an issue (kept for the next run; counts up).
 * An existing row keeps everything but last_error and failures; a new one
 * gets project_id, no calendar/href/etag and an empty hash, so the next run
 * creates the event.  `error` may be the errmsg buffer itself.
 */
enum cpb_err store_event_fail(struct store *store, const char *issue_id,
    const char *project_id, const char *error, char *errmsg);
typedef enum cpb_err (*store_event_cb)(const struct store_event *ev, void *ctx);
/*
 * Every event of one calendar, by issue_id (borrowed during the call; the
 * same walk rules as store_calendars_each).
 */
enum cpb_err store_events_for_calendar(struct store *store,
    const char *calendar_url, store_event_cb cb, void *ctx, char *errmsg);
/* Every event of one project. */
enum cpb_err store_events_for_project(struct store *store,
    const char *project_id, store_event_cb cb, void *ctx, char *errmsg);
/* How many events one calendar holds (for the mass-delete limit). */
enum cpb_err store_event_count_for_calendar(struct store *store,
    const char *calendar_url, long *n, char *errmsg);
void store_event_free(struct store_event *ev);

/* Meta cache: value (caller frees) and when it was set (unix seconds;
 * set_at may be NULL). */
enum cpb_err store_meta_get(struct store *store, const char *key, char **value,
    int64_t *set_at, char *errmsg);		/* CPB_ERR_NOT_FOUND */
enum cpb_err store_meta_set(struct store *store, const char *key,
    const char *value, char *errmsg);

/* Runs */
enum cpb_err store_run_begin(struct store *store, const char *kind,
    int64_t *run_id, char *errmsg);
/*
 * errors_json: a JSON array of strings (may be NULL: none); counts may be
 * NULL (all zero).  status must not be STORE_RUN_RUNNING.
 * CPB_ERR_NOT_FOUND for an unknown run_id.
 */
enum cpb_err store_run_finish(struct store *store, int64_t run_id,
    enum store_run_status status, const struct store_run_counts *counts,
    const char *errors_json, char *errmsg);
/*
 * The newest `limit` (1 ..= STORE_RUNS_MAX) runs as a JSON array (caller
 * frees with free()), newest first:
 *   [{"id":7,"kind":"sync",
 *     "started_at":"2024-05-01T12:00:00.250Z","started_at_unix":1714564800,
 *     "ended_at":…,"ended_at_unix":…,"duration_ms":1500,"status":"ok",
 *     "counts":{"created":…,"updated":…,"deleted":…,"unchanged":…,
 *               "skipped":…,"failed":…},
 *     "errors":["…"]}]
 * A run still running has null ended_at, ended_at_unix and duration_ms.
 */
enum cpb_err store_runs_json(struct store *store, int limit, char **json,
    char *errmsg);

/*
 * One full sync at a time: an exclusive, non-blocking flock on
 * "<path>.lock", released by store_sync_unlock or by process death.
 * CPB_ERR_BUSY when another process (or another open of the file) holds it.
 * The lock file is created mode 0600, its directories as by store_open.
 */
enum cpb_err store_sync_lock(const char *db_path, int *fd, char *errmsg);
void store_sync_unlock(int fd);
/*
 * The same, for the one webhook drainer at a time ("<path>.drain.lock"),
 * beside an existing store: its directory is not created.
 */
enum cpb_err store_drain_lock(const char *db_path, int *fd, char *errmsg);
/*
 * Whether a full sync holds "<path>.lock" now (for health and status),
 * without creating the file.  It probes with a shared non-blocking flock
 * held for microseconds: a sync starting in exactly that window exits 75
 * and cron runs it again, which is the price of a probe that needs no
 * helper process.
 */
enum cpb_err store_sync_running(const char *db_path, bool *running,
    char *errmsg);

/* What health needs about runs, in one read (times in unix ms, 0: none). */
struct store_run_stats {
	long	 consecutive_failures;	/* failed or partial since the last ok */
	int64_t	 last_ok_ended_ms;
	int64_t	 newest_started_ms;
	int64_t	 oldest_started_ms;
};
enum cpb_err store_run_stats(struct store *store, struct store_run_stats *out,
    char *errmsg);

/*
 * The webhook queue (schema version 2, made cheaper to write in 3).  An
 * accepted delivery is stored before Plane gets its 202; a drainer leases
 * items, applies them and marks them done.  Deliveries are keyed by X-Plane-Delivery: a repeat is
 * recognised for STORE_DELIVERY_MEMORY_DAYS after it was first seen, also
 * after it was applied.
 *
 * Coalescing: Plane sends one delivery per changed field.  A lease takes
 * the entity (issue or project) of the oldest available item and returns
 * that entity's newest item (by data updated_at, then arrival), leasing
 * all of the entity's items; store_queue_done() removes every item of the
 * entity up to the one returned, so N deliveries end in one write.  An
 * entity is (event, entity_id).  An entity with an unexpired lease is
 * skipped, so a killed drainer's items wait out their lease.  A new
 * delivery for an entity whose item waits for its retry makes the entity
 * available at once: fresh data gets a fresh try.
 */
#define STORE_DELIVERY_MEMORY_DAYS 7

struct store_queue_item {
	int64_t	 id;
	char	*delivery;		/* X-Plane-Delivery */
	char	*event;			/* "issue" | "project" */
	char	*action;		/* "created" | "updated" | "deleted" */
	char	*entity_id;		/* the issue's or project's id */
	char	*payload;		/* the raw webhook body */
	int64_t	 updated_at_us;		/* of the data; 0 unknown */
	int64_t	 received_at_ms;
	long	 attempts;		/* failed applications so far */
	char	*last_error;
	long	 coalesced;		/* lease: older items of the entity
					   that this one supersedes */
};

/*
 * Store a delivery (id, attempts, last_error and coalesced are ignored;
 * received_at_ms 0 means now).  *duplicate is set (and nothing written)
 * for a repeat.
 */
enum cpb_err store_queue_push(struct store *store,
    const struct store_queue_item *item, bool *duplicate, char *errmsg);
/*
 * Lease the next item whose lease is free or expired and whose retry time
 * has come.  CPB_ERR_NOT_FOUND when there is nothing to do.
 */
enum cpb_err store_queue_lease(struct store *store, long lease_seconds,
    struct store_queue_item *out, char *errmsg);
/* Applied: drop it and the entity's older items. */
enum cpb_err store_queue_done(struct store *store,
    const struct store_queue_item *item, char *errmsg);
/*
 * Failed: attempts+1 and retry after `retry_after_ms`; at max_attempts the
 * item moves to the dead letters (*dead set).  The entity's older items
 * are dropped either way: this one supersedes them.  CPB_ERR_NOT_FOUND
 * when the item is gone (its lease expired and another drainer took it).
 */
enum cpb_err store_queue_fail(struct store *store,
    const struct store_queue_item *item, const char *error, long max_attempts,
    long retry_after_ms, bool *dead, char *errmsg);
/*
 * Free every lease.  Only for the holder of the drain lock: with one
 * drainer at a time, any lease it finds belongs to a drainer that died.
 */
enum cpb_err store_queue_reclaim(struct store *store, char *errmsg);
/*
 * Forget deliveries seen more than STORE_DELIVERY_MEMORY_DAYS ago.  Kept
 * out of store_queue_push, which must stay as cheap as it can: the
 * drainer calls it, once per round.
 */
enum cpb_err store_deliveries_prune(struct store *store, char *errmsg);
enum cpb_err store_queue_depth(struct store *store, long *depth, char *errmsg);
/*
 * Is any item ready for a lease (its retry time come, no live lease)?  A
 * read, so asking costs no write lock.
 */
enum cpb_err store_queue_due(struct store *store, bool *due, char *errmsg);
void store_queue_item_free(struct store_queue_item *item);

/*
 * Dead letters: list newest first as JSON, count, retry (back to the queue
 * with attempts 0), drop.  Unknown id → CPB_ERR_NOT_FOUND.  The list
 * (limit 1 ..= STORE_DEAD_MAX) leaves the payloads out:
 *   [{"id":3,"delivery":"…","event":"issue","action":"updated",
 *     "entity_id":"…","attempts":5,"error":"…",
 *     "received_at":"2024-05-01T12:00:00.250Z","failed_at":"…"}]
 */
#define STORE_DEAD_MAX		1000
enum cpb_err store_dead_json(struct store *store, int limit, char **json,
    char *errmsg);
enum cpb_err store_dead_count(struct store *store, long *count, char *errmsg);
enum cpb_err store_dead_retry(struct store *store, int64_t id, char *errmsg);
enum cpb_err store_dead_drop(struct store *store, int64_t id, char *errmsg);

/*
 * A mark that moves whenever the database may have changed: a commit by
 * another connection (PRAGMA data_version) or a change made through this
 * one.  Two equal marks of one store mean the same contents, so what was
 * built from the first may be served for the second.
 */
struct store_mark {
	int64_t	 others;
	int64_t	 ours;
};
enum cpb_err store_mark(struct store *store, struct store_mark *out,
    char *errmsg);

/*
 * Monotonic counters for /api/v1/metrics ("webhooks_total{outcome=...}"),
 * walked in name order.  Names are at most STORE_COUNTER_NAME_MAX bytes.
 */
#define STORE_COUNTER_NAME_MAX	200
enum cpb_err store_counter_add(struct store *store, const char *name,
    long delta, char *errmsg);
typedef enum cpb_err (*store_counter_cb)(const char *name, long value,
    void *ctx);
enum cpb_err store_counters_each(struct store *store, store_counter_cb cb,
    void *ctx, char *errmsg);

#endif
