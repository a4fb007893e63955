/*
 * store.h - the durable state, behind one narrow interface so a second
 * backend (PostgreSQL for multi-host deployments) can sit behind it later.
 * The SQLite backend runs in WAL mode with a busy timeout; the schema is
 * versioned and migrated on open; every change is one transaction.
 *
 * What it keeps:
 *   calendars  project → calendar URL and the display name we set
 *   events     issue → calendar, href, ETag, content hash, SEQUENCE,
 *              Plane's updated_at, last error
 *   runs       one row per full sync: times, counts, status, errors
 *   meta       small key/value cache (calendar home, its age)
 *
 * Ownership: the store owns its connection; structs filled by store_*_get
 * own their strings until the matching *_free.  Arguments are borrowed.
 */
#ifndef CPB_STORE_H
#define CPB_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct store;

struct store_calendar {
	char	*project_id;
	char	*url;			/* absolute calendar URL */
	char	*displayname;		/* the name we last set */
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

/* Open (creating the file and its directory's file if needed) and migrate. */
enum cpb_err store_open(struct store **out, const char *path, char *errmsg);
void store_close(struct store *store);

/* Explicit transactions for batches (nesting not supported). */
enum cpb_err store_begin(struct store *store, char *errmsg);
enum cpb_err store_commit(struct store *store, char *errmsg);
void store_rollback(struct store *store);

/* Calendars */
enum cpb_err store_calendar_get(struct store *store, const char *project_id,
    struct store_calendar *out, char *errmsg);	/* CPB_ERR_NOT_FOUND */
enum cpb_err store_calendar_put(struct store *store,
    const struct store_calendar *cal, char *errmsg);
enum cpb_err store_calendar_delete(struct store *store, const char *project_id,
    char *errmsg);
void store_calendar_free(struct store_calendar *cal);

/* Events */
enum cpb_err store_event_get(struct store *store, const char *issue_id,
    struct store_event *out, char *errmsg);	/* CPB_ERR_NOT_FOUND */
enum cpb_err store_event_put(struct store *store, const struct store_event *ev,
    char *errmsg);				/* insert or replace */
enum cpb_err store_event_delete(struct store *store, const char *issue_id,
    char *errmsg);
/* Record a failed write for an issue (kept for the next run; counts up). */
enum cpb_err store_event_fail(struct store *store, const char *issue_id,
    const char *project_id, const char *error, char *errmsg);
typedef enum cpb_err (*store_event_cb)(const struct store_event *ev, void *ctx);
/* Every event of one calendar (borrowed during the call). */
enum cpb_err store_events_for_calendar(struct store *store,
    const char *calendar_url, store_event_cb cb, void *ctx, char *errmsg);
/* Every event of one project. */
enum cpb_err store_events_for_project(struct store *store,
    const char *project_id, store_event_cb cb, void *ctx, char *errmsg);
void store_event_free(struct store_event *ev);

/* Meta cache: value and when it was set (unix seconds). */
enum cpb_err store_meta_get(struct store *store, const char *key, char **value,
    int64_t *set_at, char *errmsg);		/* CPB_ERR_NOT_FOUND */
enum cpb_err store_meta_set(struct store *store, const char *key,
    const char *value, char *errmsg);

/* Runs */
enum cpb_err store_run_begin(struct store *store, const char *kind,
    int64_t *run_id, char *errmsg);
/* errors_json: a JSON array of strings (may be NULL). */
enum cpb_err store_run_finish(struct store *store, int64_t run_id,
    enum store_run_status status, const struct store_run_counts *counts,
    const char *errors_json, char *errmsg);
/* The newest `limit` runs as a JSON array (caller frees). */
enum cpb_err store_runs_json(struct store *store, int limit, char **json,
    char *errmsg);

/*
 * One full sync at a time: an exclusive, non-blocking flock on
 * "<path>.lock", released by store_sync_unlock or by process death.
 * CPB_ERR_BUSY when another process holds it.
 */
enum cpb_err store_sync_lock(const char *db_path, int *fd, char *errmsg);
void store_sync_unlock(int fd);

#endif
