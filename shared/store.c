/*
 * store.c - the SQLite backend of store.h.
 *
 * Connection: WAL, so the FastCGI responders can read while a sync writes;
 * synchronous=NORMAL, which in WAL mode survives any process crash and can
 * only lose the last commits (never corrupt) on power loss; a busy
 * handler that looks again every 50 us to 1 ms for 5 s, so short writers
 * queue up instead of failing (store_busy); foreign keys on for the
 * tables that will use them.
 *
 * Schema: store_migrations[i] moves PRAGMA user_version from i to i + 1.
 * All pending steps run in one BEGIN IMMEDIATE transaction, so two
 * processes opening a fresh file do not both migrate, and a failed step
 * leaves the old schema intact.  Step 1 → 2 adds the webhook queue
 * (issue 4): `queue` (one row per accepted delivery, with its lease, retry
 * time and attempts), `deliveries` (the X-Plane-Delivery ids seen, the
 * memory that makes a repeat a no-op even after its item was applied),
 * `dead_letters` and `counters`.  Step 2 → 3 makes a webhook's commit
 * cheaper (issue 7): `deliveries` WITHOUT ROWID, `queue` without
 * AUTOINCREMENT and without a second index on the delivery id.
 *
 * Times: calendars.updated_at, events.written_at and meta.set_at are unix
 * seconds; runs.started_at and runs.ended_at are unix milliseconds (a run's
 * duration matters to the millisecond), and so is every time of the queue
 * tables; events.updated_at_us and queue.updated_at_us are Plane's
 * updated_at in microseconds.
 *
 * A struct store is one connection, opened SQLITE_OPEN_NOMUTEX: one thread
 * at a time (each process of ours has its own).
 *
 * Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT)
 * and every value is bound, never formatted into SQL.  Walks over many
 * rows read them all before calling back, so callbacks may write.
 */
#include "store.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "clock.h"

#define STORE_BUSY_MS		5000
#define STORE_DIR_MODE		0750
#define STORE_FILE_MODE		0640
#define STORE_LOCK_MODE		0600
/* UPSERT (INSERT … ON CONFLICT DO UPDATE) arrived in SQLite 3.24.0. */
#define STORE_SQLITE_MIN	3024000

static const char *const store_migrations[] = {
	/* 0 → 1: the sync engine's state (issue 3). */
	"CREATE TABLE calendars ("
	"  project_id  TEXT PRIMARY KEY NOT NULL,"
	"  url         TEXT NOT NULL UNIQUE,"
	"  displayname TEXT,"
	"  project_name       TEXT,"
	"  project_identifier TEXT,"
	"  updated_at  INTEGER NOT NULL"
	");"
	"CREATE TABLE events ("
	"  issue_id      TEXT PRIMARY KEY NOT NULL,"
	"  project_id    TEXT NOT NULL,"
	"  calendar_url  TEXT,"
	"  href          TEXT,"
	"  etag          TEXT,"
	"  hash          TEXT NOT NULL DEFAULT '',"
	"  sequence      INTEGER NOT NULL DEFAULT 0 CHECK (sequence >= 0),"
	"  updated_at_us INTEGER NOT NULL DEFAULT 0,"
	"  last_error    TEXT,"
	"  failures      INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),"
	"  written_at    INTEGER"
	");"
	"CREATE INDEX events_calendar_url ON events (calendar_url);"
	"CREATE INDEX events_project_id ON events (project_id);"
	"CREATE TABLE runs ("
	"  id         INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  kind       TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  ended_at   INTEGER,"
	"  status     TEXT NOT NULL DEFAULT 'running' CHECK (status IN"
	"               ('running', 'ok', 'partial', 'failed')),"
	"  created    INTEGER NOT NULL DEFAULT 0,"
	"  updated    INTEGER NOT NULL DEFAULT 0,"
	"  deleted    INTEGER NOT NULL DEFAULT 0,"
	"  unchanged  INTEGER NOT NULL DEFAULT 0,"
	"  skipped    INTEGER NOT NULL DEFAULT 0,"
	"  failed     INTEGER NOT NULL DEFAULT 0,"
	"  errors     TEXT NOT NULL DEFAULT '[]'"
	");"
	"CREATE TABLE meta ("
	"  key    TEXT PRIMARY KEY NOT NULL,"
	"  value  TEXT NOT NULL,"
	"  set_at INTEGER NOT NULL"
	");"
	"PRAGMA user_version = 1;",
	/* 1 → 2: the webhook queue (issue 4). */
	"CREATE TABLE queue ("
	"  id            INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  delivery      TEXT NOT NULL UNIQUE,"
	"  event         TEXT NOT NULL,"
	"  action        TEXT NOT NULL,"
	"  entity_id     TEXT NOT NULL,"
	"  payload       TEXT NOT NULL,"
	"  updated_at_us INTEGER NOT NULL DEFAULT 0,"
	"  received_at   INTEGER NOT NULL,"
	"  attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
	"  retry_at      INTEGER NOT NULL DEFAULT 0,"
	"  lease_until   INTEGER NOT NULL DEFAULT 0,"
	"  last_error    TEXT"
	");"
	"CREATE INDEX queue_entity ON queue (entity_id, event);"
	"CREATE TABLE deliveries ("
	"  delivery TEXT PRIMARY KEY NOT NULL,"
	"  seen_at  INTEGER NOT NULL"
	");"
	"CREATE INDEX deliveries_seen_at ON deliveries (seen_at);"
	"CREATE TABLE dead_letters ("
	"  id            INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  delivery      TEXT NOT NULL,"
	"  event         TEXT NOT NULL,"
	"  action        TEXT NOT NULL,"
	"  entity_id     TEXT NOT NULL,"
	"  payload       TEXT NOT NULL,"
	"  updated_at_us INTEGER NOT NULL DEFAULT 0,"
	"  received_at   INTEGER NOT NULL,"
	"  attempts      INTEGER NOT NULL DEFAULT 0,"
	"  last_error    TEXT,"
	"  failed_at     INTEGER NOT NULL"
	");"
	"CREATE TABLE counters ("
	"  name  TEXT PRIMARY KEY NOT NULL,"
	"  value INTEGER NOT NULL DEFAULT 0"
	");"
	"PRAGMA user_version = 2;",
	/*
	 * 2 → 3: a cheaper write per webhook (issue 7).  `deliveries` keyed
	 * by its text without a rowid B-tree beside it; `queue` without
	 * AUTOINCREMENT (its sqlite_sequence row was one more page in every
	 * commit; a new id is still above every id in the table, which is
	 * all the queue's ordering needs) and without the UNIQUE index on
	 * delivery (`deliveries` alone answers "seen before?").
	 */
	"CREATE TABLE deliveries_v3 ("
	"  delivery TEXT PRIMARY KEY NOT NULL,"
	"  seen_at  INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO deliveries_v3 SELECT delivery, seen_at FROM deliveries;"
	"DROP TABLE deliveries;"
	"ALTER TABLE deliveries_v3 RENAME TO deliveries;"
	"CREATE INDEX deliveries_seen_at ON deliveries (seen_at);"
	"CREATE TABLE queue_v3 ("
	"  id            INTEGER PRIMARY KEY,"
	"  delivery      TEXT NOT NULL,"
	"  event         TEXT NOT NULL,"
	"  action        TEXT NOT NULL,"
	"  entity_id     TEXT NOT NULL,"
	"  payload       TEXT NOT NULL,"
	"  updated_at_us INTEGER NOT NULL DEFAULT 0,"
	"  received_at   INTEGER NOT NULL,"
	"  attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
	"  retry_at      INTEGER NOT NULL DEFAULT 0,"
	"  lease_until   INTEGER NOT NULL DEFAULT 0,"
	"  last_error    TEXT"
	");"
	"INSERT INTO queue_v3 SELECT id, delivery, event, action, entity_id,"
	"  payload, updated_at_us, received_at, attempts, retry_at,"
	"  lease_until, last_error FROM queue;"
	"DROP TABLE queue;"
	"ALTER TABLE queue_v3 RENAME TO queue;"
	"CREATE INDEX queue_entity ON queue (entity_id, event);"
	"PRAGMA user_version = 3;",
};

_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) ==
    STORE_SCHEMA_VERSION, "one migration step per schema version");

#define CAL_COLS \
	"project_id, url, displayname, project_name, project_identifier"
#define QUEUE_COLS \
	"id, delivery, event, action, entity_id, payload, updated_at_us," \
	" received_at, attempts, last_error"
#define EVENT_COLS \
	"issue_id, project_id, calendar_url, href, etag, hash, sequence," \
	" updated_at_us, last_error, failures"

enum store_sql {
	SQL_BEGIN,
	SQL_COMMIT,
	SQL_ROLLBACK,
	SQL_CAL_GET,
	SQL_CAL_PUT,
	SQL_CAL_DELETE,
	SQL_CAL_ALL,
	SQL_EV_GET,
	SQL_EV_PUT,
	SQL_EV_DELETE,
	SQL_EV_FAIL,
	SQL_EV_BY_CAL,
	SQL_EV_BY_PROJECT,
	SQL_EV_COUNT_CAL,
	SQL_META_GET,
	SQL_META_SET,
	SQL_RUN_BEGIN,
	SQL_RUN_FINISH,
	SQL_RUN_NEWEST,
	SQL_RUN_STATS,
	SQL_DLV_SEEN,
	SQL_DLV_PRUNE,
	SQL_DLV_PUT,
	SQL_Q_PUSH,
	SQL_Q_PICK,
	SQL_Q_NEWEST,
	SQL_Q_LEASE,
	SQL_Q_DROP,
	SQL_Q_ATTEMPTS,
	SQL_Q_RETRY,
	SQL_Q_BURY,
	SQL_Q_DELETE,
	SQL_Q_DEPTH,
	SQL_Q_DUE,
	SQL_Q_RECLAIM,
	SQL_DEAD_LIST,
	SQL_DEAD_COUNT,
	SQL_DEAD_REQUEUE,
	SQL_DEAD_DELETE,
	SQL_CTR_ADD,
	SQL_CTR_ALL,
	SQL_DATA_VERSION,
	SQL__COUNT
};

static const char *const store_sql[SQL__COUNT] = {
	/* IMMEDIATE: take the write lock now, so a batch never fails half-way
	 * on a read → write upgrade that the busy handler cannot wait out. */
	[SQL_BEGIN] = "BEGIN IMMEDIATE",
	[SQL_COMMIT] = "COMMIT",
	[SQL_ROLLBACK] = "ROLLBACK",
	[SQL_CAL_GET] = "SELECT " CAL_COLS " FROM calendars"
	    " WHERE project_id = ?1",
	[SQL_CAL_PUT] = "INSERT INTO calendars (project_id, url, displayname,"
	    " project_name, project_identifier, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
	    " ON CONFLICT (project_id) DO UPDATE SET url = excluded.url,"
	    " displayname = excluded.displayname,"
	    " project_name = excluded.project_name,"
	    " project_identifier = excluded.project_identifier,"
	    " updated_at = excluded.updated_at",
	[SQL_CAL_DELETE] = "DELETE FROM calendars WHERE project_id = ?1",
	[SQL_CAL_ALL] = "SELECT " CAL_COLS " FROM calendars"
	    " ORDER BY project_id",
	[SQL_EV_GET] = "SELECT " EVENT_COLS " FROM events WHERE issue_id = ?1",
	[SQL_EV_PUT] = "INSERT INTO events (issue_id, project_id, calendar_url,"
	    " href, etag, hash, sequence, updated_at_us, last_error, failures,"
	    " written_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 0, ?9)"
	    " ON CONFLICT (issue_id) DO UPDATE SET"
	    " project_id = excluded.project_id,"
	    " calendar_url = excluded.calendar_url, href = excluded.href,"
	    " etag = excluded.etag, hash = excluded.hash,"
	    " sequence = excluded.sequence,"
	    " updated_at_us = excluded.updated_at_us, last_error = NULL,"
	    " failures = 0, written_at = excluded.written_at",
	[SQL_EV_DELETE] = "DELETE FROM events WHERE issue_id = ?1",
	[SQL_EV_FAIL] = "INSERT INTO events (issue_id, project_id, hash,"
	    " last_error, failures) VALUES (?1, ?2, '', ?3, 1)"
	    " ON CONFLICT (issue_id) DO UPDATE SET"
	    " last_error = excluded.last_error,"
	    " failures = events.failures + 1",
	[SQL_EV_BY_CAL] = "SELECT " EVENT_COLS " FROM events"
	    " WHERE calendar_url = ?1 ORDER BY issue_id",
	[SQL_EV_BY_PROJECT] = "SELECT " EVENT_COLS " FROM events"
	    " WHERE project_id = ?1 ORDER BY issue_id",
	[SQL_EV_COUNT_CAL] = "SELECT count(*) FROM events"
	    " WHERE calendar_url = ?1",
	[SQL_META_GET] = "SELECT value, set_at FROM meta WHERE key = ?1",
	[SQL_META_SET] = "INSERT INTO meta (key, value, set_at)"
	    " VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET"
	    " value = excluded.value, set_at = excluded.set_at",
	[SQL_RUN_BEGIN] = "INSERT INTO runs (kind, started_at, status)"
	    " VALUES (?1, ?2, 'running')",
	[SQL_RUN_FINISH] = "UPDATE runs SET ended_at = ?2, status = ?3,"
	    " created = ?4, updated = ?5, deleted = ?6, unchanged = ?7,"
	    " skipped = ?8, failed = ?9, errors = ?10 WHERE id = ?1",
	[SQL_RUN_NEWEST] = "SELECT id, kind, started_at, ended_at, status,"
	    " created, updated, deleted, unchanged, skipped, failed, errors"
	    " FROM runs ORDER BY id DESC LIMIT ?1",
	[SQL_RUN_STATS] = "SELECT"
	    " (SELECT count(*) FROM runs WHERE status IN ('failed', 'partial')"
	    "   AND id > coalesce((SELECT max(id) FROM runs"
	    "   WHERE status = 'ok'), 0)),"
	    " (SELECT max(ended_at) FROM runs WHERE status = 'ok'),"
	    " (SELECT max(started_at) FROM runs),"
	    " (SELECT min(started_at) FROM runs)",
	[SQL_DLV_SEEN] = "SELECT 1 FROM deliveries WHERE delivery = ?1"
	    " AND seen_at >= ?2",
	[SQL_DLV_PRUNE] = "DELETE FROM deliveries WHERE seen_at < ?1",
	[SQL_DLV_PUT] = "INSERT INTO deliveries (delivery, seen_at)"
	    " VALUES (?1, ?2) ON CONFLICT (delivery) DO UPDATE SET"
	    " seen_at = excluded.seen_at",
	[SQL_Q_PUSH] = "INSERT INTO queue (delivery, event, action, entity_id,"
	    " payload, updated_at_us, received_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* The oldest due item of an entity nobody holds a live lease on. */
	[SQL_Q_PICK] = "SELECT q.event, q.entity_id FROM queue q"
	    " WHERE q.retry_at <= ?1 AND q.lease_until <= ?1"
	    " AND NOT EXISTS (SELECT 1 FROM queue l"
	    "   WHERE l.entity_id = q.entity_id AND l.event = q.event"
	    "   AND l.lease_until > ?1)"
	    " ORDER BY q.id LIMIT 1",
	[SQL_Q_NEWEST] = "SELECT " QUEUE_COLS " FROM queue"
	    " WHERE event = ?1 AND entity_id = ?2"
	    " ORDER BY updated_at_us DESC, id DESC LIMIT 1",
	[SQL_Q_LEASE] = "UPDATE queue SET lease_until = ?3"
	    " WHERE event = ?1 AND entity_id = ?2",
	[SQL_Q_RECLAIM] = "UPDATE queue SET lease_until = 0"
	    " WHERE lease_until > 0",
	/* The entity's items up to (updated_at_us ?3, id ?4), but id ?5. */
	[SQL_Q_DROP] = "DELETE FROM queue WHERE event = ?1 AND entity_id = ?2"
	    " AND (updated_at_us < ?3 OR (updated_at_us = ?3 AND id <= ?4))"
	    " AND id <> ?5",
	[SQL_Q_ATTEMPTS] = "SELECT attempts FROM queue WHERE id = ?1",
	[SQL_Q_RETRY] = "UPDATE queue SET attempts = ?2, retry_at = ?3,"
	    " last_error = ?4, lease_until = 0 WHERE id = ?1",
	[SQL_Q_BURY] = "INSERT INTO dead_letters (delivery, event, action,"
	    " entity_id, payload, updated_at_us, received_at, attempts,"
	    " last_error, failed_at)"
	    " SELECT delivery, event, action, entity_id, payload,"
	    " updated_at_us, received_at, ?2, ?3, ?4 FROM queue WHERE id = ?1",
	[SQL_Q_DELETE] = "DELETE FROM queue WHERE id = ?1",
	[SQL_Q_DEPTH] = "SELECT count(*) FROM queue",
	[SQL_Q_DUE] = "SELECT count(*) FROM (SELECT 1 FROM queue"
	    " WHERE retry_at <= ?1 AND lease_until <= ?1 LIMIT 1)",
	[SQL_DEAD_LIST] = "SELECT id, delivery, event, action, entity_id,"
	    " attempts, last_error, received_at, failed_at FROM dead_letters"
	    " ORDER BY id DESC LIMIT ?1",
	[SQL_DEAD_COUNT] = "SELECT count(*) FROM dead_letters",
	[SQL_DEAD_REQUEUE] = "INSERT INTO queue (delivery, event, action,"
	    " entity_id, payload, updated_at_us, received_at, attempts,"
	    " retry_at, lease_until, last_error)"
	    " SELECT delivery, event, action, entity_id, payload,"
	    " updated_at_us, received_at, 0, 0, 0, last_error"
	    " FROM dead_letters WHERE id = ?1",
	[SQL_DEAD_DELETE] = "DELETE FROM dead_letters WHERE id = ?1",
	[SQL_CTR_ADD] = "INSERT INTO counters (name, value) VALUES (?1, ?2)"
	    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
	[SQL_CTR_ALL] = "SELECT name, value FROM counters ORDER BY name",
	[SQL_DATA_VERSION] = "PRAGMA data_version",
};

struct store {
	sqlite3		*db;
	sqlite3_stmt	*stmt[SQL__COUNT];
	int64_t		 busy_since_us;	/* when the current wait began */
};

/* ---------------------------------------------------------------- helpers */

static enum cpb_err
store_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return CPB_ERR_BUSY;
	case SQLITE_CONSTRAINT:
		return CPB_ERR_CONFLICT;
	case SQLITE_NOMEM:
		return CPB_ERR_NOMEM;
	case SQLITE_TOOBIG:
		return CPB_ERR_TOO_LARGE;
	default:
		return CPB_ERR_IO;
	}
}

/* SQLite's messages name tables and columns, never bound values. */
static enum cpb_err
store_dberr(sqlite3 *db, int rc, char *errmsg, const char *what)
{
	return cpb_seterr(errmsg, store_code(rc), "store: %s: %s", what,
	    sqlite3_errmsg(db));
}

static const char *
store_strerror(int errnum, char *buf, size_t size)
{
	/* XSI strerror_r: thread-safe, unlike strerror. */
	if (strerror_r(errnum, buf, size) != 0)
		snprintf(buf, size, "error %d", errnum);
	return buf;
}

static enum cpb_err
store_syserr(char *errmsg, const char *what, const char *path)
{
	char reason[128];

	store_strerror(errno, reason, sizeof(reason));
	return cpb_seterr(errmsg, CPB_ERR_IO, "store: %s %s: %s", what,
	    path, reason);
}

/* A text argument: present (unless optional) and within STORE_TEXT_MAX. */
static enum cpb_err
store_check_text(char *errmsg, const char *name, const char *s, bool required)
{
	if (s == NULL)
		return required ? cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: %s missing", name) : CPB_OK;
	if (required && *s == '\0')
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "store: %s empty",
		    name);
	if (strnlen(s, STORE_TEXT_MAX + 1) > STORE_TEXT_MAX)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "store: %s longer than %d bytes", name, STORE_TEXT_MAX);
	return CPB_OK;
}

static enum cpb_err
store_stmt(struct store *store, enum store_sql which, sqlite3_stmt **st,
    char *errmsg)
{
	int rc;

	if (store->stmt[which] == NULL) {
		rc = sqlite3_prepare_v3(store->db, store_sql[which], -1,
		    SQLITE_PREPARE_PERSISTENT, &store->stmt[which], NULL);
		if (rc != SQLITE_OK)
			return store_dberr(store->db, rc, errmsg, "prepare");
	}
	*st = store->stmt[which];
	return CPB_OK;
}

/* Ready a cached statement for its next use; drops borrowed bindings. */
static void
store_release(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Bound as SQLITE_STATIC: every caller releases before returning. */
static int
store_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Step a statement that returns no rows. */
static enum cpb_err
store_step_done(struct store *store, sqlite3_stmt *st, const char *what,
    char *errmsg)
{
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return store_dberr(store->db, rc, errmsg, what);
	return CPB_OK;
}

/* A copy of a text column; NULL stays NULL. */
static enum cpb_err
store_col_dup(sqlite3_stmt *st, int col, char **out, char *errmsg)
{
	const unsigned char *text;
	int len;

	*out = NULL;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return CPB_OK;
	text = sqlite3_column_text(st, col);
	len = sqlite3_column_bytes(st, col);
	if (text == NULL || len < 0 || (*out = malloc((size_t)len + 1)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
	memcpy(*out, text, (size_t)len);
	(*out)[len] = '\0';
	return CPB_OK;
}

/* Grow an array of `size`-byte elements so one more fits. */
static enum cpb_err
store_grow(void **v, size_t n, size_t *cap, size_t size, char *errmsg)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return CPB_OK;
	ncap = *cap == 0 ? 16 : *cap * 2;
	if (ncap > SIZE_MAX / size ||
	    (nv = realloc(*v, ncap * size)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
	memset((char *)nv + *cap * size, 0, (ncap - *cap) * size);
	*v = nv;
	*cap = ncap;
	return CPB_OK;
}

/* ------------------------------------------------------------ file system */

/* mkdir -p, each new directory STORE_DIR_MODE; `dir` is restored. */
static enum cpb_err
store_mkdirs(char *dir, char *errmsg)
{
	struct stat sb;
	char *p, c;

	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, STORE_DIR_MODE) != 0 && errno != EEXIST) {
			store_syserr(errmsg, "cannot create directory", dir);
			*p = c;
			return CPB_ERR_IO;
		}
		if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			cpb_seterr(errmsg, CPB_ERR_IO,
			    "store: %s exists and is not a directory", dir);
			*p = c;
			return CPB_ERR_IO;
		}
		*p = c;
		if (c == '\0')
			return CPB_OK;
	}
}

/* The directory part of `path` into dir ("." when there is none). */
static enum cpb_err
store_dirname(const char *path, char *dir, size_t size, char *errmsg)
{
	const char *slash;
	size_t len;

	slash = strrchr(path, '/');
	if (slash == NULL) {
		memcpy(dir, ".", 2);
		return CPB_OK;
	}
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= size)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "store: path too long");
	memcpy(dir, path, len);
	dir[len] = '\0';
	return CPB_OK;
}

static enum cpb_err
store_check_path(const char *path, char *errmsg)
{
	if (path == NULL || *path == '\0')
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: no database path");
	if (strnlen(path, PATH_MAX) >= PATH_MAX - sizeof(".lock"))
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "store: database path longer than %d bytes",
		    (int)(PATH_MAX - sizeof(".lock")) - 1);
	return CPB_OK;
}

/* The parent directory of `path` exists (created if needed) and is ours. */
static enum cpb_err
store_prepare_dir(const char *path, char *errmsg)
{
	char dir[PATH_MAX];
	enum cpb_err err;

	if ((err = store_dirname(path, dir, sizeof(dir), errmsg)) != CPB_OK)
		return err;
	if ((err = store_mkdirs(dir, errmsg)) != CPB_OK)
		return err;
	/* WAL mode creates <db>-wal and <db>-shm beside the database. */
	if (access(dir, W_OK | X_OK) != 0)
		return store_syserr(errmsg,
		    "cannot create files (database, -wal, -shm) in directory",
		    dir);
	return CPB_OK;
}

/*
 * Create the file ourselves so its mode is ours (SQLite would use 0644 and
 * give its -wal and -shm files the same), and so an unusable path gets a
 * precise reason instead of SQLite's "unable to open database file".
 */
static enum cpb_err
store_create_file(const char *path, char *errmsg)
{
	struct stat sb;
	enum cpb_err err = CPB_OK;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
	if (fd == -1) {
		if (errno == EISDIR)
			return cpb_seterr(errmsg, CPB_ERR_IO,
			    "store: %s is a directory", path);
		return store_syserr(errmsg, "cannot open", path);
	}
	if (fstat(fd, &sb) != 0)
		err = store_syserr(errmsg, "cannot stat", path);
	else if (!S_ISREG(sb.st_mode))
		err = cpb_seterr(errmsg, CPB_ERR_IO,
		    "store: %s is not a regular file", path);
	close(fd);
	return err;
}

/* ------------------------------------------------------------- migration */

static enum cpb_err
store_int_query(sqlite3 *db, const char *sql, int *out, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err = CPB_OK;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	else
		err = store_dberr(db, rc, errmsg, sqlite3_db_filename(db,
		    "main"));
	sqlite3_finalize(st);
	return err;
}

/* Called inside the migration transaction: may we migrate this file? */
static enum cpb_err
store_check_version(sqlite3 *db, const char *path, int *version, char *errmsg)
{
	enum cpb_err err;
	int tables = 0;

	if ((err = store_int_query(db, "PRAGMA user_version", version,
	    errmsg)) != CPB_OK)
		return err;
	if (*version > STORE_SCHEMA_VERSION || *version < 0)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: %s has schema version %d, newer than the %d this "
		    "program knows: upgrade calplanebot", path, *version,
		    STORE_SCHEMA_VERSION);
	if (*version > 0)
		return CPB_OK;
	/* Version 0 with tables: some other program's database, not a
	 * fresh file; creating ours inside it would mix the two. */
	if ((err = store_int_query(db, "SELECT count(*) FROM sqlite_master",
	    &tables, errmsg)) != CPB_OK)
		return err;
	if (tables > 0)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: %s is a SQLite database of another program "
		    "(tables but no schema version)", path);
	return CPB_OK;
}

static enum cpb_err
store_migrate(sqlite3 *db, const char *path, char *errmsg)
{
	enum cpb_err err = CPB_OK;
	int rc, version = 0, i;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_dberr(db, rc, errmsg, path);
	if ((err = store_check_version(db, path, &version, errmsg)) != CPB_OK)
		goto out;
	for (i = version; i < STORE_SCHEMA_VERSION; i++) {
		rc = sqlite3_exec(db, store_migrations[i], NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			err = cpb_seterr(errmsg, store_code(rc),
			    "store: %s: migration to schema version %d "
			    "failed: %s", path, i + 1, sqlite3_errmsg(db));
			goto out;
		}
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		err = store_dberr(db, rc, errmsg, path);
out:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/* ----------------------------------------------------------- open, close */

static enum cpb_err
store_pragmas(sqlite3 *db, const char *path, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err = CPB_OK;
	const unsigned char *mode;
	int rc;

	/* The first statement to read the file: "file is not a database"
	 * and its kin surface here. */
	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = store_dberr(db, rc, errmsg, path);
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		err = cpb_seterr(errmsg, CPB_ERR_IO, "store: %s: cannot enable "
		    "WAL mode (journal mode stays %s)", path,
		    mode != NULL ? (const char *)mode : "unknown");
		goto out;
	}
	rc = sqlite3_exec(db, "PRAGMA synchronous = NORMAL;"
	    "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		err = store_dberr(db, rc, errmsg, path);
out:
	sqlite3_finalize(st);
	return err;
}

/*
 * SQLite's own busy handler sleeps 1, 2, 5, 10, ... 100 ms between looks.
 * Our write transactions last about a hundred microseconds, so with a
 * pool of responders writing at once most of such a wait is spent asleep
 * after the lock was free again (it was most of a webhook's latency under
 * load).  Look again after 50 us, backing off to 1 ms, for STORE_BUSY_MS
 * in all.
 */
static int
store_busy(void *arg, int count)
{
	struct store *store = arg;
	int64_t now = clock_mono_us();
	struct timespec nap = { 0, 0 };

	if (count == 0)
		store->busy_since_us = now;
	else if (now - store->busy_since_us >= (int64_t)STORE_BUSY_MS * 1000)
		return 0;
	nap.tv_nsec = count < 20 ? 50000L : count < 200 ? 200000L : 1000000L;
	nanosleep(&nap, NULL);
	return 1;
}

static enum cpb_err
store_connect(struct store *store, const char *path, char *errmsg)
{
	sqlite3 **db = &store->db;
	int rc;

	if (sqlite3_libversion_number() < STORE_SQLITE_MIN)
		return cpb_seterr(errmsg, CPB_ERR_IO, "store: SQLite %s is too "
		    "old (3.24.0 or newer needed)", sqlite3_libversion());
	rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (*db == NULL)
			return cpb_seterr(errmsg, CPB_ERR_NOMEM,
			    "store: out of memory");
		return store_dberr(*db, rc, errmsg, path);
	}
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_handler(*db, store_busy, store);
	return CPB_OK;
}

enum cpb_err
store_open(struct store **out, const char *path, char *errmsg)
{
	struct store *store = NULL;
	enum cpb_err err;

	*out = NULL;
	if ((err = store_check_path(path, errmsg)) != CPB_OK ||
	    (err = store_prepare_dir(path, errmsg)) != CPB_OK ||
	    (err = store_create_file(path, errmsg)) != CPB_OK)
		goto out;
	if ((store = calloc(1, sizeof(*store))) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	if ((err = store_connect(store, path, errmsg)) != CPB_OK ||
	    (err = store_pragmas(store->db, path, errmsg)) != CPB_OK ||
	    (err = store_migrate(store->db, path, errmsg)) != CPB_OK)
		goto out;
	*out = store;
	store = NULL;
out:
	store_close(store);
	return err;
}

enum cpb_err
store_set_cache_kib(struct store *store, int kib, char *errmsg)
{
	char sql[48];
	int rc;

	if (kib <= 0)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "store: cache size "
		    "must be positive");
	/* A PRAGMA takes no parameters: the one formatted value is an int. */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", kib);
	if ((rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
		return store_dberr(store->db, rc, errmsg, "cache_size");
	return CPB_OK;
}

void
store_close(struct store *store)
{
	size_t i;

	if (store == NULL)
		return;
	for (i = 0; i < SQL__COUNT; i++)
		sqlite3_finalize(store->stmt[i]);
	/* Closing with a transaction open rolls it back. */
	sqlite3_close(store->db);
	free(store);
}

/* ---------------------------------------------------------- transactions */

static enum cpb_err
store_exec_cached(struct store *store, enum store_sql which, const char *what,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;

	if ((err = store_stmt(store, which, &st, errmsg)) != CPB_OK)
		return err;
	err = store_step_done(store, st, what, errmsg);
	store_release(st);
	return err;
}

enum cpb_err
store_begin(struct store *store, char *errmsg)
{
	if (!sqlite3_get_autocommit(store->db))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: a transaction is already open");
	return store_exec_cached(store, SQL_BEGIN, "begin", errmsg);
}

enum cpb_err
store_commit(struct store *store, char *errmsg)
{
	enum cpb_err err;

	if (sqlite3_get_autocommit(store->db))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: no transaction to commit");
	err = store_exec_cached(store, SQL_COMMIT, "commit", errmsg);
	if (err != CPB_OK)
		store_rollback(store);
	return err;
}

void
store_rollback(struct store *store)
{
	if (store == NULL || sqlite3_get_autocommit(store->db))
		return;
	store_exec_cached(store, SQL_ROLLBACK, "rollback", NULL);
}

/* ------------------------------------------------------------- calendars */

/* A lookup of one row by one text key (?1). */
struct store_lookup {
	enum store_sql	 sql;
	const char	*key_name;	/* for a refused key */
	const char	*missing;	/* "store: no <missing> <key>" */
	const char	*label;		/* for SQLite's errors */
};

/*
 * Check and bind the key and step to the row: CPB_OK with the row ready
 * in *st, CPB_ERR_NOT_FOUND when there is none.  The caller reads the row
 * and releases *st whenever it is not NULL.
 */
static enum cpb_err
store_row_by_key(struct store *store, const struct store_lookup *l,
    const char *key, sqlite3_stmt **st, char *errmsg)
{
	enum cpb_err err;
	int rc;

	*st = NULL;
	if ((err = store_check_text(errmsg, l->key_name, key, true)) !=
	    CPB_OK || (err = store_stmt(store, l->sql, st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(*st, 1, key);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(*st);
	if (rc == SQLITE_ROW)
		return CPB_OK;
	if (rc == SQLITE_DONE)
		return cpb_seterr(errmsg, CPB_ERR_NOT_FOUND, "store: no %s %s",
		    l->missing, key);
	return store_dberr(store->db, rc, errmsg, l->label);
}

static enum cpb_err
store_calendar_row(sqlite3_stmt *st, struct store_calendar *cal,
    char *errmsg)
{
	enum cpb_err err;

	memset(cal, 0, sizeof(*cal));
	if ((err = store_col_dup(st, 0, &cal->project_id, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 1, &cal->url, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 2, &cal->displayname, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 3, &cal->project_name, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 4, &cal->project_identifier, errmsg)) !=
	    CPB_OK)
		store_calendar_free(cal);
	return err;
}

enum cpb_err
store_calendar_get(struct store *store, const char *project_id,
    struct store_calendar *out, char *errmsg)
{
	static const struct store_lookup lookup = { SQL_CAL_GET, "project_id",
	    "calendar for project", "calendar get" };
	sqlite3_stmt *st;
	enum cpb_err err;

	memset(out, 0, sizeof(*out));
	if ((err = store_row_by_key(store, &lookup, project_id, &st,
	    errmsg)) == CPB_OK)
		err = store_calendar_row(st, out, errmsg);
	if (st != NULL)
		store_release(st);
	return err;
}

enum cpb_err
store_calendar_put(struct store *store, const struct store_calendar *cal,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_check_text(errmsg, "project_id", cal->project_id,
	    true)) != CPB_OK ||
	    (err = store_check_text(errmsg, "calendar url", cal->url, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "displayname", cal->displayname,
	    false)) != CPB_OK ||
	    (err = store_check_text(errmsg, "project_name", cal->project_name,
	    false)) != CPB_OK ||
	    (err = store_check_text(errmsg, "project_identifier",
	    cal->project_identifier, false)) != CPB_OK ||
	    (err = store_stmt(store, SQL_CAL_PUT, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, cal->project_id);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 2, cal->url);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 3, cal->displayname);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 4, cal->project_name);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 5, cal->project_identifier);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, clock_unix_ms() / 1000);
	if (rc != SQLITE_OK)
		err = store_dberr(store->db, rc, errmsg, "calendar put");
	else
		err = store_step_done(store, st, "calendar put", errmsg);
	store_release(st);
	return err;
}

/* DELETE by one key; CPB_ERR_NOT_FOUND when there was no such row. */
static enum cpb_err
store_delete_by(struct store *store, enum store_sql which, const char *key,
    const char *what, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_check_text(errmsg, what, key, true)) != CPB_OK ||
	    (err = store_stmt(store, which, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, key);
	if (rc != SQLITE_OK)
		err = store_dberr(store->db, rc, errmsg, "delete");
	else
		err = store_step_done(store, st, "delete", errmsg);
	if (err == CPB_OK && sqlite3_changes(store->db) == 0)
		err = cpb_seterr(errmsg, CPB_ERR_NOT_FOUND,
		    "store: no row for %s %s", what, key);
	store_release(st);
	return err;
}

enum cpb_err
store_calendar_delete(struct store *store, const char *project_id,
    char *errmsg)
{
	return store_delete_by(store, SQL_CAL_DELETE, project_id, "project_id",
	    errmsg);
}

struct store_cal_list {
	struct store_calendar	*v;
	size_t			 n, cap;
};

static void
store_cal_list_free(struct store_cal_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		store_calendar_free(&l->v[i]);
	free(l->v);
}

static enum cpb_err
store_cal_list_read(struct store *store, struct store_cal_list *l,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_CAL_ALL, &st, errmsg)) != CPB_OK)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = store_grow((void **)&l->v, l->n, &l->cap,
		    sizeof(*l->v), errmsg)) != CPB_OK ||
		    (err = store_calendar_row(st, &l->v[l->n], errmsg)) !=
		    CPB_OK)
			goto out;
		l->n++;
	}
	if (rc != SQLITE_DONE)
		err = store_dberr(store->db, rc, errmsg, "calendar list");
out:
	store_release(st);
	return err;
}

enum cpb_err
store_calendars_each(struct store *store, store_calendar_cb cb, void *ctx,
    char *errmsg)
{
	struct store_cal_list l = { NULL, 0, 0 };
	enum cpb_err err;
	size_t i;

	if ((err = store_cal_list_read(store, &l, errmsg)) != CPB_OK)
		goto out;
	for (i = 0; i < l.n && err == CPB_OK; i++)
		err = cb(&l.v[i], ctx);
out:
	store_cal_list_free(&l);
	return err;
}

void
store_calendar_free(struct store_calendar *cal)
{
	if (cal == NULL)
		return;
	free(cal->project_id);
	free(cal->url);
	free(cal->displayname);
	free(cal->project_name);
	free(cal->project_identifier);
	memset(cal, 0, sizeof(*cal));
}

/* ---------------------------------------------------------------- events */

/* A row in EVENT_COLS order. */
static enum cpb_err
store_event_row(sqlite3_stmt *st, struct store_event *ev, char *errmsg)
{
	const unsigned char *hash;
	enum cpb_err err;
	int64_t seq, failures;
	int len;

	memset(ev, 0, sizeof(*ev));
	if ((err = store_col_dup(st, 0, &ev->issue_id, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 1, &ev->project_id, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 2, &ev->calendar_url, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 3, &ev->href, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 4, &ev->etag, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 8, &ev->last_error, errmsg)) != CPB_OK)
		goto out;
	hash = sqlite3_column_text(st, 5);
	len = sqlite3_column_bytes(st, 5);
	seq = sqlite3_column_int64(st, 6);
	failures = sqlite3_column_int64(st, 9);
	if (len < 0 || len >= (int)sizeof(ev->hash) || seq < 0 ||
	    seq > UINT_MAX || failures < 0 || failures > LONG_MAX) {
		err = cpb_seterr(errmsg, CPB_ERR_IO, "store: event %s: stored "
		    "hash, sequence or failures out of range", ev->issue_id);
		goto out;
	}
	if (len > 0 && hash == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	if (len > 0)
		memcpy(ev->hash, hash, (size_t)len);
	ev->hash[len] = '\0';
	ev->sequence = (unsigned)seq;
	ev->updated_at_us = sqlite3_column_int64(st, 7);
	ev->failures = (long)failures;
out:
	if (err != CPB_OK)
		store_event_free(ev);
	return err;
}

enum cpb_err
store_event_get(struct store *store, const char *issue_id,
    struct store_event *out, char *errmsg)
{
	static const struct store_lookup lookup = { SQL_EV_GET, "issue_id",
	    "event for issue", "event get" };
	sqlite3_stmt *st;
	enum cpb_err err;

	memset(out, 0, sizeof(*out));
	if ((err = store_row_by_key(store, &lookup, issue_id, &st, errmsg)) ==
	    CPB_OK)
		err = store_event_row(st, out, errmsg);
	if (st != NULL)
		store_release(st);
	return err;
}

static enum cpb_err
store_event_check(const struct store_event *ev, char *errmsg)
{
	enum cpb_err err;

	if ((err = store_check_text(errmsg, "issue_id", ev->issue_id, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "project_id", ev->project_id,
	    true)) != CPB_OK ||
	    (err = store_check_text(errmsg, "calendar_url", ev->calendar_url,
	    false)) != CPB_OK ||
	    (err = store_check_text(errmsg, "href", ev->href, false)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "etag", ev->etag, false)) != CPB_OK)
		return err;
	if (memchr(ev->hash, '\0', sizeof(ev->hash)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: event hash not terminated");
	return CPB_OK;
}

enum cpb_err
store_event_put(struct store *store, const struct store_event *ev,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_event_check(ev, errmsg)) != CPB_OK ||
	    (err = store_stmt(store, SQL_EV_PUT, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, ev->issue_id);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 2, ev->project_id);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 3, ev->calendar_url);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 4, ev->href);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 5, ev->etag);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 6, ev->hash);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, ev->sequence);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 8, ev->updated_at_us);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 9, clock_unix_ms() / 1000);
	if (rc != SQLITE_OK)
		err = store_dberr(store->db, rc, errmsg, "event put");
	else
		err = store_step_done(store, st, "event put", errmsg);
	store_release(st);
	return err;
}

enum cpb_err
store_event_delete(struct store *store, const char *issue_id, char *errmsg)
{
	return store_delete_by(store, SQL_EV_DELETE, issue_id, "issue_id",
	    errmsg);
}

enum cpb_err
store_event_fail(struct store *store, const char *issue_id,
    const char *project_id, const char *error, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_check_text(errmsg, "issue_id", issue_id, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "project_id", project_id, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "error", error, true)) != CPB_OK ||
	    (err = store_stmt(store, SQL_EV_FAIL, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, issue_id);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 2, project_id);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 3, error);
	if (rc != SQLITE_OK)
		err = store_dberr(store->db, rc, errmsg, "event fail");
	else
		err = store_step_done(store, st, "event fail", errmsg);
	store_release(st);
	return err;
}

struct store_ev_list {
	struct store_event	*v;
	size_t			 n, cap;
};

static void
store_ev_list_free(struct store_ev_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		store_event_free(&l->v[i]);
	free(l->v);
}

static enum cpb_err
store_ev_list_read(struct store *store, enum store_sql which, const char *key,
    struct store_ev_list *l, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err = CPB_OK;
	int rc;

	if ((err = store_stmt(store, which, &st, errmsg)) != CPB_OK)
		return err;
	if ((rc = store_bind_text(st, 1, key)) == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if ((err = store_grow((void **)&l->v, l->n, &l->cap,
			    sizeof(*l->v), errmsg)) != CPB_OK ||
			    (err = store_event_row(st, &l->v[l->n], errmsg)) !=
			    CPB_OK)
				goto out;
			l->n++;
		}
	if (rc != SQLITE_DONE)
		err = store_dberr(store->db, rc, errmsg, "event list");
out:
	store_release(st);
	return err;
}

static enum cpb_err
store_events_where(struct store *store, enum store_sql which,
    const char *name, const char *key, store_event_cb cb, void *ctx,
    char *errmsg)
{
	struct store_ev_list l = { NULL, 0, 0 };
	enum cpb_err err;
	size_t i;

	if ((err = store_check_text(errmsg, name, key, true)) != CPB_OK ||
	    (err = store_ev_list_read(store, which, key, &l, errmsg)) != CPB_OK)
		goto out;
	for (i = 0; i < l.n && err == CPB_OK; i++)
		err = cb(&l.v[i], ctx);
out:
	store_ev_list_free(&l);
	return err;
}

enum cpb_err
store_events_for_calendar(struct store *store, const char *calendar_url,
    store_event_cb cb, void *ctx, char *errmsg)
{
	return store_events_where(store, SQL_EV_BY_CAL, "calendar_url",
	    calendar_url, cb, ctx, errmsg);
}

enum cpb_err
store_events_for_project(struct store *store, const char *project_id,
    store_event_cb cb, void *ctx, char *errmsg)
{
	return store_events_where(store, SQL_EV_BY_PROJECT, "project_id",
	    project_id, cb, ctx, errmsg);
}

enum cpb_err
store_event_count_for_calendar(struct store *store, const char *calendar_url,
    long *n, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	*n = 0;
	if ((err = store_check_text(errmsg, "calendar_url", calendar_url,
	    true)) != CPB_OK ||
	    (err = store_stmt(store, SQL_EV_COUNT_CAL, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, calendar_url);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = (long)sqlite3_column_int64(st, 0);
	else
		err = store_dberr(store->db, rc, errmsg, "event count");
	store_release(st);
	return err;
}

void
store_event_free(struct store_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->issue_id);
	free(ev->project_id);
	free(ev->calendar_url);
	free(ev->href);
	free(ev->etag);
	free(ev->last_error);
	memset(ev, 0, sizeof(*ev));
}

/* ------------------------------------------------------------------ meta */

enum cpb_err
store_meta_get(struct store *store, const char *key, char **value,
    int64_t *set_at, char *errmsg)
{
	static const struct store_lookup lookup = { SQL_META_GET, "meta key",
	    "meta value", "meta get" };
	sqlite3_stmt *st;
	enum cpb_err err;

	*value = NULL;
	if ((err = store_row_by_key(store, &lookup, key, &st, errmsg)) ==
	    CPB_OK) {
		err = store_col_dup(st, 0, value, errmsg);
		if (set_at != NULL)
			*set_at = sqlite3_column_int64(st, 1);
	}
	if (st != NULL)
		store_release(st);
	return err;
}

enum cpb_err
store_meta_set(struct store *store, const char *key, const char *value,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_check_text(errmsg, "meta key", key, true)) != CPB_OK)
		return err;
	if (value == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: meta value missing");
	if ((err = store_check_text(errmsg, "meta value", value, false)) !=
	    CPB_OK ||
	    (err = store_stmt(store, SQL_META_SET, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, key);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 2, value);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, clock_unix_ms() / 1000);
	if (rc != SQLITE_OK)
		err = store_dberr(store->db, rc, errmsg, "meta set");
	else
		err = store_step_done(store, st, "meta set", errmsg);
	store_release(st);
	return err;
}

/* ------------------------------------------------------------------ runs */

static const char *
store_status_name(enum store_run_status status)
{
	switch (status) {
	case STORE_RUN_RUNNING:	return "running";
	case STORE_RUN_OK:	return "ok";
	case STORE_RUN_PARTIAL:	return "partial";
	case STORE_RUN_FAILED:	return "failed";
	}
	return NULL;
}

enum cpb_err
store_run_begin(struct store *store, const char *kind, int64_t *run_id,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	*run_id = 0;
	if ((err = store_check_text(errmsg, "run kind", kind, true)) !=
	    CPB_OK ||
	    (err = store_stmt(store, SQL_RUN_BEGIN, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, kind);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, clock_unix_ms());
	if (rc != SQLITE_OK)
		err = store_dberr(store->db, rc, errmsg, "run begin");
	else
		err = store_step_done(store, st, "run begin", errmsg);
	if (err == CPB_OK)
		*run_id = sqlite3_last_insert_rowid(store->db);
	store_release(st);
	return err;
}

/* errors_json checked to be an array of strings, re-printed compactly. */
static enum cpb_err
store_errors_normalise(const char *errors_json, char **out, char *errmsg)
{
	cJSON *arr = NULL, *item;
	enum cpb_err err = CPB_OK;
	size_t len;

	*out = NULL;
	len = strnlen(errors_json, STORE_ERRORS_MAX + 1);
	if (len > STORE_ERRORS_MAX)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE, "store: run errors "
		    "longer than %d bytes", STORE_ERRORS_MAX);
	arr = cJSON_ParseWithLength(errors_json, len);
	if (!cJSON_IsArray(arr)) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: run errors are not a JSON array");
		goto out;
	}
	cJSON_ArrayForEach(item, arr) {
		if (!cJSON_IsString(item)) {
			err = cpb_seterr(errmsg, CPB_ERR_INVALID,
			    "store: run errors must all be strings");
			goto out;
		}
	}
	if ((*out = cJSON_PrintUnformatted(arr)) == NULL)
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
out:
	cJSON_Delete(arr);
	return err;
}

static int
store_bind_counts(sqlite3_stmt *st, const struct store_run_counts *c)
{
	static const struct store_run_counts zero;
	int rc;

	if (c == NULL)
		c = &zero;
	rc = sqlite3_bind_int64(st, 4, c->created);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, c->updated);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, c->deleted);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, c->unchanged);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 8, c->skipped);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 9, c->failed);
	return rc;
}

enum cpb_err
store_run_finish(struct store *store, int64_t run_id,
    enum store_run_status status, const struct store_run_counts *counts,
    const char *errors_json, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	char *errors = NULL;
	const char *name = store_status_name(status);
	enum cpb_err err = CPB_OK;
	int rc;

	if (name == NULL || status == STORE_RUN_RUNNING) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: a run must finish ok, partial or failed");
		goto out;
	}
	if ((errors_json != NULL && (err = store_errors_normalise(errors_json,
	    &errors, errmsg)) != CPB_OK) ||
	    (err = store_stmt(store, SQL_RUN_FINISH, &st, errmsg)) != CPB_OK)
		goto out;
	rc = sqlite3_bind_int64(st, 1, run_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, clock_unix_ms());
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 3, name);
	if (rc == SQLITE_OK)
		rc = store_bind_counts(st, counts);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 10, errors != NULL ? errors : "[]");
	if (rc != SQLITE_OK)
		err = store_dberr(store->db, rc, errmsg, "run finish");
	else
		err = store_step_done(store, st, "run finish", errmsg);
	if (err == CPB_OK && sqlite3_changes(store->db) == 0)
		err = cpb_seterr(errmsg, CPB_ERR_NOT_FOUND,
		    "store: no run %lld", (long long)run_id);
out:
	if (st != NULL)
		store_release(st);
	cJSON_free(errors);
	return err;
}

/* "2024-05-01T12:00:00.250Z" from unix milliseconds. */
static bool
store_iso8601(int64_t ms, char *buf, size_t size, int64_t *sec_out)
{
	int64_t sec = ms / 1000, frac = ms % 1000;
	struct tm tm;
	time_t t;
	char base[32];

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return false;
	*sec_out = sec;
	return snprintf(buf, size, "%s.%03dZ", base, (int)frac) < (int)size;
}

static bool
store_json_time(cJSON *obj, const char *name, const char *unix_name,
    sqlite3_stmt *st, int col)
{
	char iso[64];
	int64_t sec = 0;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return cJSON_AddNullToObject(obj, name) != NULL &&
		    cJSON_AddNullToObject(obj, unix_name) != NULL;
	return store_iso8601(sqlite3_column_int64(st, col), iso, sizeof(iso),
	    &sec) &&
	    cJSON_AddStringToObject(obj, name, iso) != NULL &&
	    cJSON_AddNumberToObject(obj, unix_name, (double)sec) != NULL;
}

static bool
store_json_counts(cJSON *obj, sqlite3_stmt *st)
{
	static const char *const names[] = { "created", "updated", "deleted",
	    "unchanged", "skipped", "failed" };
	cJSON *counts;
	size_t i;

	if ((counts = cJSON_AddObjectToObject(obj, "counts")) == NULL)
		return false;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (cJSON_AddNumberToObject(counts, names[i],
		    (double)sqlite3_column_int64(st, 5 + (int)i)) == NULL)
			return false;
	return true;
}

static bool
store_json_duration(cJSON *obj, sqlite3_stmt *st)
{
	if (sqlite3_column_type(st, 3) == SQLITE_NULL)
		return cJSON_AddNullToObject(obj, "duration_ms") != NULL;
	return cJSON_AddNumberToObject(obj, "duration_ms",
	    (double)(sqlite3_column_int64(st, 3) -
	    sqlite3_column_int64(st, 2))) != NULL;
}

/* The fields of one SQL_RUN_NEWEST row but its errors; false: no memory. */
static bool
store_json_run_fields(cJSON *obj, sqlite3_stmt *st)
{
	return cJSON_AddNumberToObject(obj, "id",
	    (double)sqlite3_column_int64(st, 0)) != NULL &&
	    cJSON_AddStringToObject(obj, "kind",
	    (const char *)sqlite3_column_text(st, 1)) != NULL &&
	    store_json_time(obj, "started_at", "started_at_unix", st, 2) &&
	    store_json_time(obj, "ended_at", "ended_at_unix", st, 3) &&
	    store_json_duration(obj, st) &&
	    cJSON_AddStringToObject(obj, "status",
	    (const char *)sqlite3_column_text(st, 4)) != NULL &&
	    store_json_counts(obj, st);
}

/* One row of SQL_RUN_NEWEST appended to arr. */
static enum cpb_err
store_json_run(cJSON *arr, sqlite3_stmt *st, char *errmsg)
{
	cJSON *obj = NULL, *errors = NULL;
	const char *text;
	enum cpb_err err = CPB_OK;

	text = (const char *)sqlite3_column_text(st, 11);
	if (text != NULL)
		errors = cJSON_ParseWithLength(text,
		    (size_t)sqlite3_column_bytes(st, 11));
	if (!cJSON_IsArray(errors)) {
		err = cpb_seterr(errmsg, CPB_ERR_IO, "store: run %lld: stored "
		    "errors are not a JSON array",
		    (long long)sqlite3_column_int64(st, 0));
		goto out;
	}
	if ((obj = cJSON_CreateObject()) == NULL ||
	    !store_json_run_fields(obj, st) ||
	    !cJSON_AddItemToObject(obj, "errors", errors)) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	errors = NULL;
	if (!cJSON_AddItemToArray(arr, obj)) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	obj = NULL;
out:
	cJSON_Delete(errors);
	cJSON_Delete(obj);
	return err;
}

enum cpb_err
store_runs_json(struct store *store, int limit, char **json, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	cJSON *arr = NULL;
	enum cpb_err err = CPB_OK;
	int rc;

	*json = NULL;
	if (limit < 1 || limit > STORE_RUNS_MAX) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: runs limit must be 1 to %d", STORE_RUNS_MAX);
		goto out;
	}
	if ((err = store_stmt(store, SQL_RUN_NEWEST, &st, errmsg)) != CPB_OK)
		goto out;
	if ((arr = cJSON_CreateArray()) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	if ((rc = sqlite3_bind_int(st, 1, limit)) == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if ((err = store_json_run(arr, st, errmsg)) != CPB_OK)
				goto out;
	if (rc != SQLITE_DONE) {
		err = store_dberr(store->db, rc, errmsg, "runs");
		goto out;
	}
	if ((*json = cJSON_PrintUnformatted(arr)) == NULL)
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
out:
	if (st != NULL)
		store_release(st);
	cJSON_Delete(arr);
	return err;
}

/* ------------------------------------------------------------------ lock */

/*
 * An exclusive, non-blocking flock on "<db_path><suffix>"; `prepare`
 * creates the directory first (a sync may run before any store exists).
 */
static enum cpb_err
store_flock(const char *db_path, const char *suffix, const char *busy,
    bool prepare, int *fd, char *errmsg)
{
	char path[PATH_MAX];
	enum cpb_err err;
	int lfd, rc;

	*fd = -1;
	if ((err = store_check_path(db_path, errmsg)) != CPB_OK)
		return err;
	snprintf(path, sizeof(path), "%s%s", db_path, suffix);
	if (prepare && (err = store_prepare_dir(path, errmsg)) != CPB_OK)
		return err;
	lfd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, STORE_LOCK_MODE);
	if (lfd == -1)
		return store_syserr(errmsg, "cannot open lock file", path);
	while ((rc = flock(lfd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
		continue;
	if (rc != 0) {
		if (errno == EWOULDBLOCK)
			err = cpb_seterr(errmsg, CPB_ERR_BUSY,
			    "store: %s (%s is locked)", busy, path);
		else
			err = store_syserr(errmsg, "cannot lock", path);
		close(lfd);
		return err;
	}
	*fd = lfd;
	return CPB_OK;
}

enum cpb_err
store_sync_lock(const char *db_path, int *fd, char *errmsg)
{
	return store_flock(db_path, ".lock", "another sync is running", true,
	    fd, errmsg);
}

enum cpb_err
store_drain_lock(const char *db_path, int *fd, char *errmsg)
{
	/* ".drain.lock" is longer than ".lock": keep within the path cap. */
	if (db_path != NULL && strnlen(db_path, PATH_MAX) >=
	    PATH_MAX - sizeof(".drain.lock"))
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "store: database path too long");
	/* Drainers have the store open: its directory is there.  This runs
	 * after every webhook, so it spends no system call it need not. */
	return store_flock(db_path, ".drain.lock",
	    "another drainer is running", false, fd, errmsg);
}

enum cpb_err
store_sync_running(const char *db_path, bool *running, char *errmsg)
{
	char path[PATH_MAX];
	enum cpb_err err;
	int lfd, rc;

	*running = false;
	if ((err = store_check_path(db_path, errmsg)) != CPB_OK)
		return err;
	snprintf(path, sizeof(path), "%s.lock", db_path);
	/* No lock file: no sync ever ran here, so none runs now. */
	if ((lfd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? CPB_OK :
		    store_syserr(errmsg, "cannot open lock file", path);
	while ((rc = flock(lfd, LOCK_SH | LOCK_NB)) != 0 && errno == EINTR)
		continue;
	if (rc == 0)
		flock(lfd, LOCK_UN);
	else if (errno == EWOULDBLOCK)
		*running = true;
	else
		err = store_syserr(errmsg, "cannot probe lock", path);
	close(lfd);
	return err;
}

void
store_sync_unlock(int fd)
{
	if (fd < 0)
		return;
	/* Closing releases the lock; the explicit unlock documents it and
	 * covers a descriptor duplicated into a child. */
	flock(fd, LOCK_UN);
	close(fd);
}

/* ------------------------------------------------------------ run stats */

enum cpb_err
store_run_stats(struct store *store, struct store_run_stats *out,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((err = store_stmt(store, SQL_RUN_STATS, &st, errmsg)) != CPB_OK)
		return err;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* max()/min() of no rows is NULL, which reads as 0: "none". */
		out->consecutive_failures = (long)sqlite3_column_int64(st, 0);
		out->last_ok_ended_ms = sqlite3_column_int64(st, 1);
		out->newest_started_ms = sqlite3_column_int64(st, 2);
		out->oldest_started_ms = sqlite3_column_int64(st, 3);
	} else
		err = store_dberr(store->db, rc, errmsg, "run stats");
	store_release(st);
	return err;
}

/* ----------------------------------------------------------------- queue */

/*
 * A write of several statements is one transaction: a BEGIN IMMEDIATE of
 * its own (read-then-write must hold the write lock from the start), or
 * the caller's batch when store_begin() opened one.
 */
enum cpb_err
store_tx_open(struct store *store, bool *owned, char *errmsg)
{
	enum cpb_err err;

	*owned = false;
	if (!sqlite3_get_autocommit(store->db))
		return CPB_OK;
	if ((err = store_exec_cached(store, SQL_BEGIN, "begin", errmsg)) !=
	    CPB_OK)
		return err;
	*owned = true;
	return CPB_OK;
}

enum cpb_err
store_tx_close(struct store *store, bool owned, enum cpb_err err,
    char *errmsg)
{
	if (!owned)
		return err;
	if (err == CPB_OK)
		return store_commit(store, errmsg);
	store_rollback(store);
	return err;
}

/* One count(*); `at`, when not NULL, is bound as ?1 (a time). */
static enum cpb_err
store_count(struct store *store, enum store_sql which, const int64_t *at,
    long *n, const char *what, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc = SQLITE_OK;

	*n = 0;
	if ((err = store_stmt(store, which, &st, errmsg)) != CPB_OK)
		return err;
	if (at != NULL)
		rc = sqlite3_bind_int64(st, 1, *at);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		*n = (long)sqlite3_column_int64(st, 0);
	else
		err = store_dberr(store->db, rc, errmsg, what);
	store_release(st);
	return err;
}

/* ?1 event, ?2 entity_id: the key of an entity. */
static int
store_bind_entity(sqlite3_stmt *st, const struct store_queue_item *item)
{
	int rc = store_bind_text(st, 1, item->event);

	return rc == SQLITE_OK ? store_bind_text(st, 2, item->entity_id) : rc;
}

static enum cpb_err
store_queue_check(const struct store_queue_item *item, char *errmsg)
{
	enum cpb_err err;

	if ((err = store_check_text(errmsg, "delivery", item->delivery,
	    true)) != CPB_OK ||
	    (err = store_check_text(errmsg, "event", item->event, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "action", item->action, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "entity_id", item->entity_id,
	    true)) != CPB_OK ||
	    (err = store_check_text(errmsg, "payload", item->payload, true)) !=
	    CPB_OK)
		return err;
	return CPB_OK;
}

/* Known: remembered within STORE_DELIVERY_MEMORY_DAYS, or still queued. */
static enum cpb_err
store_delivery_seen(struct store *store, const char *delivery, int64_t now,
    bool *seen, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	*seen = false;
	if ((err = store_stmt(store, SQL_DLV_SEEN, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, delivery);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, now -
		    (int64_t)STORE_DELIVERY_MEMORY_DAYS * 86400 * 1000);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seen = true;
	else if (rc != SQLITE_DONE)
		err = store_dberr(store->db, rc, errmsg, "delivery lookup");
	store_release(st);
	return err;
}

static enum cpb_err
store_delivery_remember(struct store *store, const char *delivery,
    int64_t now, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_DLV_PUT, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, delivery);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, now);
	err = rc == SQLITE_OK ? store_step_done(store, st, "delivery put",
	    errmsg) : store_dberr(store->db, rc, errmsg, "delivery put");
	store_release(st);
	return err;
}

enum cpb_err
store_deliveries_prune(struct store *store, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_DLV_PRUNE, &st, errmsg)) != CPB_OK)
		return err;
	rc = sqlite3_bind_int64(st, 1, clock_unix_ms() -
	    (int64_t)STORE_DELIVERY_MEMORY_DAYS * 86400 * 1000);
	err = rc == SQLITE_OK ? store_step_done(store, st, "delivery prune",
	    errmsg) : store_dberr(store->db, rc, errmsg, "delivery prune");
	store_release(st);
	return err;
}

static enum cpb_err
store_queue_insert(struct store *store, const struct store_queue_item *item,
    int64_t now, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_Q_PUSH, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, item->delivery);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 2, item->event);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 3, item->action);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 4, item->entity_id);
	if (rc == SQLITE_OK)
		rc = store_bind_text(st, 5, item->payload);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, item->updated_at_us);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, item->received_at_ms != 0 ?
		    item->received_at_ms : now);
	err = rc == SQLITE_OK ? store_step_done(store, st, "queue push",
	    errmsg) : store_dberr(store->db, rc, errmsg, "queue push");
	store_release(st);
	return err;
}

enum cpb_err
store_queue_push(struct store *store, const struct store_queue_item *item,
    bool *duplicate, char *errmsg)
{
	int64_t now = clock_unix_ms();
	enum cpb_err err;
	bool owned;

	*duplicate = false;
	if ((err = store_queue_check(item, errmsg)) != CPB_OK ||
	    (err = store_tx_open(store, &owned, errmsg)) != CPB_OK)
		return err;
	err = store_delivery_seen(store, item->delivery, now, duplicate,
	    errmsg);
	if (err == CPB_OK && !*duplicate)
		err = store_delivery_remember(store, item->delivery, now,
		    errmsg);
	if (err == CPB_OK && !*duplicate)
		err = store_queue_insert(store, item, now, errmsg);
	return store_tx_close(store, owned, err, errmsg);
}

/* A row in QUEUE_COLS order. */
static enum cpb_err
store_queue_row(sqlite3_stmt *st, struct store_queue_item *item,
    char *errmsg)
{
	enum cpb_err err;

	memset(item, 0, sizeof(*item));
	item->id = sqlite3_column_int64(st, 0);
	item->updated_at_us = sqlite3_column_int64(st, 6);
	item->received_at_ms = sqlite3_column_int64(st, 7);
	item->attempts = (long)sqlite3_column_int64(st, 8);
	if ((err = store_col_dup(st, 1, &item->delivery, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 2, &item->event, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 3, &item->action, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 4, &item->entity_id, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 5, &item->payload, errmsg)) != CPB_OK ||
	    (err = store_col_dup(st, 9, &item->last_error, errmsg)) != CPB_OK)
		store_queue_item_free(item);
	return err;
}

/* The entity of the oldest due item: key->event and key->entity_id. */
static enum cpb_err
store_queue_pick(struct store *store, int64_t now,
    struct store_queue_item *key, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_Q_PICK, &st, errmsg)) != CPB_OK)
		return err;
	if ((rc = sqlite3_bind_int64(st, 1, now)) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if ((err = store_col_dup(st, 0, &key->event, errmsg)) ==
		    CPB_OK)
			err = store_col_dup(st, 1, &key->entity_id, errmsg);
	} else if (rc == SQLITE_DONE)
		err = cpb_seterr(errmsg, CPB_ERR_NOT_FOUND,
		    "store: nothing to do in the queue");
	else
		err = store_dberr(store->db, rc, errmsg, "queue pick");
	store_release(st);
	return err;
}

static enum cpb_err
store_queue_newest(struct store *store, const struct store_queue_item *key,
    struct store_queue_item *out, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_Q_NEWEST, &st, errmsg)) != CPB_OK)
		return err;
	if ((rc = store_bind_entity(st, key)) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = store_queue_row(st, out, errmsg);
	else
		err = store_dberr(store->db, rc, errmsg, "queue newest");
	store_release(st);
	return err;
}

/* Lease every item of the entity; *n: how many. */
static enum cpb_err
store_queue_hold(struct store *store, const struct store_queue_item *item,
    int64_t until, long *n, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	*n = 0;
	if ((err = store_stmt(store, SQL_Q_LEASE, &st, errmsg)) != CPB_OK)
		return err;
	if ((rc = store_bind_entity(st, item)) == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, until);
	err = rc == SQLITE_OK ? store_step_done(store, st, "queue lease",
	    errmsg) : store_dberr(store->db, rc, errmsg, "queue lease");
	if (err == CPB_OK)
		*n = (long)sqlite3_changes(store->db);
	store_release(st);
	return err;
}

enum cpb_err
store_queue_lease(struct store *store, long lease_seconds,
    struct store_queue_item *out, char *errmsg)
{
	struct store_queue_item key = { 0 };
	int64_t now = clock_unix_ms();
	enum cpb_err err;
	long n = 0;
	bool owned;

	memset(out, 0, sizeof(*out));
	if (lease_seconds < 0 || lease_seconds > 86400)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: lease must be 0 to 86400 seconds");
	if ((err = store_tx_open(store, &owned, errmsg)) != CPB_OK)
		return err;
	if ((err = store_queue_pick(store, now, &key, errmsg)) == CPB_OK &&
	    (err = store_queue_newest(store, &key, out, errmsg)) == CPB_OK &&
	    (err = store_queue_hold(store, out, now + lease_seconds * 1000,
	    &n, errmsg)) == CPB_OK)
		out->coalesced = n > 0 ? n - 1 : 0;
	err = store_tx_close(store, owned, err, errmsg);
	if (err != CPB_OK)
		store_queue_item_free(out);
	store_queue_item_free(&key);
	return err;
}

/* Drop the entity's items up to `item`, except the one with id `keep`. */
static enum cpb_err
store_queue_drop(struct store *store, const struct store_queue_item *item,
    int64_t keep, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_Q_DROP, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_entity(st, item);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, item->updated_at_us);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, item->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, keep);
	err = rc == SQLITE_OK ? store_step_done(store, st, "queue drop",
	    errmsg) : store_dberr(store->db, rc, errmsg, "queue drop");
	store_release(st);
	return err;
}

enum cpb_err
store_queue_done(struct store *store, const struct store_queue_item *item,
    char *errmsg)
{
	enum cpb_err err;

	if ((err = store_check_text(errmsg, "event", item->event, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "entity_id", item->entity_id,
	    true)) != CPB_OK)
		return err;
	/* Ids start at 1: keep 0 keeps nothing. */
	return store_queue_drop(store, item, 0, errmsg);
}

static enum cpb_err
store_queue_attempts(struct store *store, int64_t id, long *attempts,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	*attempts = 0;
	if ((err = store_stmt(store, SQL_Q_ATTEMPTS, &st, errmsg)) != CPB_OK)
		return err;
	if ((rc = sqlite3_bind_int64(st, 1, id)) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*attempts = (long)sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		err = cpb_seterr(errmsg, CPB_ERR_NOT_FOUND,
		    "store: no queue item %lld", (long long)id);
	else
		err = store_dberr(store->db, rc, errmsg, "queue attempts");
	store_release(st);
	return err;
}

/* ?1 id, ?2 attempts, ?3 a time, ?4 error: retry or bury. */
static enum cpb_err
store_queue_mark(struct store *store, enum store_sql which, int64_t id,
    long attempts, int64_t at, const char *error, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, which, &st, errmsg)) != CPB_OK)
		return err;
	rc = sqlite3_bind_int64(st, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, attempts);
	if (rc == SQLITE_OK)
		rc = which == SQL_Q_RETRY ? sqlite3_bind_int64(st, 3, at) :
		    store_bind_text(st, 3, error);
	if (rc == SQLITE_OK)
		rc = which == SQL_Q_RETRY ? store_bind_text(st, 4, error) :
		    sqlite3_bind_int64(st, 4, at);
	err = rc == SQLITE_OK ? store_step_done(store, st, "queue mark",
	    errmsg) : store_dberr(store->db, rc, errmsg, "queue mark");
	store_release(st);
	return err;
}

/* Delete one row by integer id; CPB_ERR_NOT_FOUND when there was none. */
static enum cpb_err
store_delete_id(struct store *store, enum store_sql which, int64_t id,
    const char *what, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, which, &st, errmsg)) != CPB_OK)
		return err;
	rc = sqlite3_bind_int64(st, 1, id);
	err = rc == SQLITE_OK ? store_step_done(store, st, what, errmsg) :
	    store_dberr(store->db, rc, errmsg, what);
	if (err == CPB_OK && sqlite3_changes(store->db) == 0)
		err = cpb_seterr(errmsg, CPB_ERR_NOT_FOUND, "store: no %s %lld",
		    what, (long long)id);
	store_release(st);
	return err;
}

enum cpb_err
store_queue_fail(struct store *store, const struct store_queue_item *item,
    const char *error, long max_attempts, long retry_after_ms, bool *dead,
    char *errmsg)
{
	int64_t now = clock_unix_ms();
	enum cpb_err err;
	long attempts = 0;
	bool owned;

	*dead = false;
	if ((err = store_check_text(errmsg, "error", error, true)) != CPB_OK ||
	    (err = store_check_text(errmsg, "event", item->event, true)) !=
	    CPB_OK ||
	    (err = store_check_text(errmsg, "entity_id", item->entity_id,
	    true)) != CPB_OK)
		return err;
	if (retry_after_ms < 0 || max_attempts < 1)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "store: retry delay "
		    "must be >= 0 and max attempts >= 1");
	if ((err = store_tx_open(store, &owned, errmsg)) != CPB_OK)
		return err;
	if ((err = store_queue_attempts(store, item->id, &attempts,
	    errmsg)) != CPB_OK)
		goto out;
	attempts = attempts < LONG_MAX ? attempts + 1 : attempts;
	if (attempts >= max_attempts) {
		*dead = true;
		if ((err = store_queue_mark(store, SQL_Q_BURY, item->id,
		    attempts, now, error, errmsg)) != CPB_OK ||
		    (err = store_delete_id(store, SQL_Q_DELETE, item->id,
		    "queue item", errmsg)) != CPB_OK)
			goto out;
	} else if ((err = store_queue_mark(store, SQL_Q_RETRY, item->id,
	    attempts, now + retry_after_ms, error, errmsg)) != CPB_OK)
		goto out;
	err = store_queue_drop(store, item, item->id, errmsg);
out:
	if (err != CPB_OK)
		*dead = false;
	return store_tx_close(store, owned, err, errmsg);
}

enum cpb_err
store_queue_reclaim(struct store *store, char *errmsg)
{
	return store_exec_cached(store, SQL_Q_RECLAIM, "queue reclaim", errmsg);
}

enum cpb_err
store_queue_depth(struct store *store, long *depth, char *errmsg)
{
	return store_count(store, SQL_Q_DEPTH, NULL, depth, "queue depth",
	    errmsg);
}

enum cpb_err
store_queue_due(struct store *store, bool *due, char *errmsg)
{
	int64_t now = clock_unix_ms();
	enum cpb_err err;
	long n = 0;

	err = store_count(store, SQL_Q_DUE, &now, &n, "queue due", errmsg);
	*due = n > 0;
	return err;
}

void
store_queue_item_free(struct store_queue_item *item)
{
	if (item == NULL)
		return;
	free(item->delivery);
	free(item->event);
	free(item->action);
	free(item->entity_id);
	free(item->payload);
	free(item->last_error);
	memset(item, 0, sizeof(*item));
}

/* ---------------------------------------------------------- dead letters */

/* A unix-ms column as ISO 8601, or null. */
static bool
store_json_ms(cJSON *obj, const char *name, sqlite3_stmt *st, int col)
{
	char iso[64];
	int64_t sec;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return cJSON_AddNullToObject(obj, name) != NULL;
	return store_iso8601(sqlite3_column_int64(st, col), iso, sizeof(iso),
	    &sec) && cJSON_AddStringToObject(obj, name, iso) != NULL;
}

/* A text column as a string, or null. */
static bool
store_json_text(cJSON *obj, const char *name, sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	if (text == NULL)
		return cJSON_AddNullToObject(obj, name) != NULL;
	return cJSON_AddStringToObject(obj, name, text) != NULL;
}

/* One SQL_DEAD_LIST row. */
static bool
store_json_dead(cJSON *arr, sqlite3_stmt *st)
{
	cJSON *obj = cJSON_CreateObject();

	if (obj == NULL || !cJSON_AddItemToArray(arr, obj)) {
		cJSON_Delete(obj);
		return false;
	}
	return cJSON_AddNumberToObject(obj, "id",
	    (double)sqlite3_column_int64(st, 0)) != NULL &&
	    store_json_text(obj, "delivery", st, 1) &&
	    store_json_text(obj, "event", st, 2) &&
	    store_json_text(obj, "action", st, 3) &&
	    store_json_text(obj, "entity_id", st, 4) &&
	    cJSON_AddNumberToObject(obj, "attempts",
	    (double)sqlite3_column_int64(st, 5)) != NULL &&
	    store_json_text(obj, "error", st, 6) &&
	    store_json_ms(obj, "received_at", st, 7) &&
	    store_json_ms(obj, "failed_at", st, 8);
}

enum cpb_err
store_dead_json(struct store *store, int limit, char **json, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	cJSON *arr = NULL;
	enum cpb_err err = CPB_OK;
	int rc;

	*json = NULL;
	if (limit < 1 || limit > STORE_DEAD_MAX)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "store: dead letter limit must be 1 to %d", STORE_DEAD_MAX);
	if ((err = store_stmt(store, SQL_DEAD_LIST, &st, errmsg)) != CPB_OK)
		return err;
	if ((arr = cJSON_CreateArray()) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	if ((rc = sqlite3_bind_int(st, 1, limit)) == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if (!store_json_dead(arr, st)) {
				err = cpb_seterr(errmsg, CPB_ERR_NOMEM,
				    "store: out of memory");
				goto out;
			}
	if (rc != SQLITE_DONE) {
		err = store_dberr(store->db, rc, errmsg, "dead letters");
		goto out;
	}
	if ((*json = cJSON_PrintUnformatted(arr)) == NULL)
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "store: out of memory");
out:
	store_release(st);
	cJSON_Delete(arr);
	return err;
}

enum cpb_err
store_dead_count(struct store *store, long *count, char *errmsg)
{
	return store_count(store, SQL_DEAD_COUNT, NULL, count,
	    "dead letter count", errmsg);
}

enum cpb_err
store_dead_retry(struct store *store, int64_t id, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	bool owned;
	int rc;

	if ((err = store_tx_open(store, &owned, errmsg)) != CPB_OK)
		return err;
	if ((err = store_stmt(store, SQL_DEAD_REQUEUE, &st, errmsg)) != CPB_OK)
		goto out;
	rc = sqlite3_bind_int64(st, 1, id);
	err = rc == SQLITE_OK ? store_step_done(store, st, "dead letter retry",
	    errmsg) : store_dberr(store->db, rc, errmsg, "dead letter retry");
	store_release(st);
	/* The requeue found no row: the delete below names the id. */
	if (err == CPB_OK)
		err = store_delete_id(store, SQL_DEAD_DELETE, id, "dead letter",
		    errmsg);
out:
	return store_tx_close(store, owned, err, errmsg);
}

enum cpb_err
store_dead_drop(struct store *store, int64_t id, char *errmsg)
{
	return store_delete_id(store, SQL_DEAD_DELETE, id, "dead letter",
	    errmsg);
}

/* ------------------------------------------------------------------ mark */

enum cpb_err
store_mark(struct store *store, struct store_mark *out, char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((err = store_stmt(store, SQL_DATA_VERSION, &st, errmsg)) != CPB_OK)
		return err;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* data_version moves with other connections' commits only;
		 * our own show in the connection's change count. */
		out->others = sqlite3_column_int64(st, 0);
		out->ours = sqlite3_total_changes(store->db);
	} else
		err = store_dberr(store->db, rc, errmsg, "data version");
	store_release(st);
	return err;
}

/* -------------------------------------------------------------- counters */

enum cpb_err
store_counter_add(struct store *store, const char *name, long delta,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_check_text(errmsg, "counter name", name, true)) !=
	    CPB_OK)
		return err;
	if (strlen(name) > STORE_COUNTER_NAME_MAX || delta < 0)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "store: counter "
		    "names are at most %d bytes and counters only grow",
		    STORE_COUNTER_NAME_MAX);
	if ((err = store_stmt(store, SQL_CTR_ADD, &st, errmsg)) != CPB_OK)
		return err;
	rc = store_bind_text(st, 1, name);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, delta);
	err = rc == SQLITE_OK ? store_step_done(store, st, "counter add",
	    errmsg) : store_dberr(store->db, rc, errmsg, "counter add");
	store_release(st);
	return err;
}

struct store_ctr {
	char	*name;
	long	 value;
};

struct store_ctr_list {
	struct store_ctr *v;
	size_t		 n, cap;
};

static void
store_ctr_list_free(struct store_ctr_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

static enum cpb_err
store_ctr_list_read(struct store *store, struct store_ctr_list *l,
    char *errmsg)
{
	sqlite3_stmt *st = NULL;
	enum cpb_err err;
	int rc;

	if ((err = store_stmt(store, SQL_CTR_ALL, &st, errmsg)) != CPB_OK)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = store_grow((void **)&l->v, l->n, &l->cap,
		    sizeof(*l->v), errmsg)) != CPB_OK ||
		    (err = store_col_dup(st, 0, &l->v[l->n].name, errmsg)) !=
		    CPB_OK)
			goto out;
		l->v[l->n++].value = (long)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		err = store_dberr(store->db, rc, errmsg, "counters");
out:
	store_release(st);
	return err;
}

enum cpb_err
store_counters_each(struct store *store, store_counter_cb cb, void *ctx,
    char *errmsg)
{
	struct store_ctr_list l = { NULL, 0, 0 };
	enum cpb_err err;
	size_t i;

	if ((err = store_ctr_list_read(store, &l, errmsg)) != CPB_OK)
		goto out;
	for (i = 0; i < l.n && err == CPB_OK; i++)
		err = cb(l.v[i].name, l.v[i].value, ctx);
out:
	store_ctr_list_free(&l);
	return err;
}
