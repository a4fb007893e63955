/*
 * test_store.c - the SQLite store: schema and migration, every table's
 * round trip, the failure counters, the runs JSON, transactions, the sync
 * lock across processes, and the errors an unusable path gives.
 *
 * Each test works in its own mkdtemp directory, removed afterwards; raw
 * sqlite3 connections look at the file from outside the store.
 */
#define _XOPEN_SOURCE 700	/* nftw */

#include <criterion/criterion.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

/* Test paths are short: mkdtemp's plus a few components. */
#define TP 128

static char tmp[64];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void
setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/cpb-store-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void
teardown(void)
{
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown);

/* tmp/name, in a buffer that lives for the test. */
static const char *
tpath(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", tmp, name);
	return buf;
}

static struct store *
open_ok(const char *path)
{
	struct store *s = NULL;
	char msg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	err = store_open(&s, path, msg);
	cr_assert_eq(err, CPB_OK, "store_open: %s", msg);
	cr_assert_not_null(s);
	return s;
}

/* Open tmp/state.db. */
static struct store *
open_default(char *buf, size_t size)
{
	return open_ok(tpath(buf, size, "state.db"));
}

/* One integer from a raw connection to the file. */
static long long
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v;

	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* One text value (copied into out) from a raw connection. */
static void
raw_text(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const unsigned char *t;

	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
	t = sqlite3_column_text(st, 0);
	snprintf(out, size, "%s", t != NULL ? (const char *)t : "(null)");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* A string of n copies of c (caller frees). */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(content, f);
	fclose(f);
}

/* ------------------------------------------------------------ open, schema */

Test(store, open_twice_migrates_once)
{
	char p[TP], names[256];
	struct store *s;
	char *value = NULL;
	char msg[CPB_ERRMSG_MAX];

	s = open_default(p, sizeof(p));
	cr_assert_eq(store_meta_set(s, "k", "v", msg), CPB_OK, "%s", msg);
	store_close(s);
	cr_assert_eq(raw_int(p, "PRAGMA user_version"), STORE_SCHEMA_VERSION);

	s = open_ok(p);
	cr_assert_eq(raw_int(p, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	/* Nothing recreated: the data of the first open is still there. */
	cr_assert_eq(store_meta_get(s, "k", &value, NULL, msg), CPB_OK);
	cr_assert_str_eq(value, "v");
	free(value);
	store_close(s);

	raw_text(p, "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	    "sqlite_master WHERE type = 'table' ORDER BY name)", names,
	    sizeof(names));
	cr_assert_str_eq(names, "calendars,counters,dead_letters,deliveries,"
	    "events,meta,queue,runs,sqlite_sequence");
	raw_text(p, "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	    "sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND "
	    "sql IS NOT NULL ORDER BY name)", names, sizeof(names));
	cr_assert_str_eq(names, "events_calendar_url,events_project_id");
}

Test(store, wal_mode_is_on)
{
	char p[TP], mode[16], wal[TP + 8];
	struct store *s;
	char msg[CPB_ERRMSG_MAX];
	struct stat sb;

	s = open_default(p, sizeof(p));
	cr_assert_eq(store_meta_set(s, "k", "v", msg), CPB_OK);
	snprintf(wal, sizeof(wal), "%s-wal", p);
	cr_assert_eq(stat(wal, &sb), 0, "no %s while the store is open", wal);
	raw_text(p, "PRAGMA journal_mode", mode, sizeof(mode));
	cr_assert_str_eq(mode, "wal");
	store_close(s);
}

Test(store, creates_missing_directories_and_file_modes)
{
	char p[TP], d[TP];
	struct store *s;
	struct stat sb;

	umask(022);
	s = open_ok(tpath(p, sizeof(p), "a/b/state.db"));
	store_close(s);
	cr_assert_eq(stat(tpath(d, sizeof(d), "a"), &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0750, "mode %o", sb.st_mode & 07777);
	cr_assert_eq(stat(tpath(d, sizeof(d), "a/b"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0750, "mode %o", sb.st_mode & 07777);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert(S_ISREG(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0640, "mode %o", sb.st_mode & 07777);
}

/* store_open must fail with err and exactly the message `want`. */
static void
open_fails(const char *path, enum cpb_err want_err, const char *want)
{
	struct store *s = (struct store *)&s;	/* must be reset to NULL */
	char msg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	err = store_open(&s, path, msg);
	cr_assert_eq(err, want_err, "store_open(%s) = %d: %s", path, err, msg);
	cr_assert_null(s);
	cr_assert_str_eq(msg, want);
}

Test(store, parent_is_a_file)
{
	char p[TP], f[TP], want[CPB_ERRMSG_MAX];

	write_file(tpath(f, sizeof(f), "file"), "x");
	snprintf(want, sizeof(want), "store: %s exists and is not a directory",
	    f);
	open_fails(tpath(p, sizeof(p), "file/state.db"), CPB_ERR_IO, want);
	open_fails(tpath(p, sizeof(p), "file/sub/state.db"), CPB_ERR_IO, want);
}

Test(store, path_is_a_directory)
{
	char p[TP], want[CPB_ERRMSG_MAX];

	cr_assert_eq(mkdir(tpath(p, sizeof(p), "dir"), 0700), 0);
	snprintf(want, sizeof(want), "store: %s is a directory", p);
	open_fails(p, CPB_ERR_IO, want);
}

Test(store, not_a_database)
{
	char p[TP], want[CPB_ERRMSG_MAX];
	char *junk = repeat('j', 4096);

	write_file(tpath(p, sizeof(p), "junk.db"), junk);
	free(junk);
	snprintf(want, sizeof(want), "store: %s: file is not a database", p);
	open_fails(p, CPB_ERR_IO, want);
}

Test(store, empty_or_missing_path)
{
	struct store *s = NULL;
	char msg[CPB_ERRMSG_MAX];

	open_fails("", CPB_ERR_INVALID, "store: no database path");
	cr_assert_eq(store_open(&s, NULL, msg), CPB_ERR_INVALID);
	cr_assert_null(s);
}

Test(store, newer_schema_refused)
{
	char p[TP], sql[64], want[CPB_ERRMSG_MAX];

	store_close(open_default(p, sizeof(p)));
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION + 1);
	raw_exec(p, sql);
	snprintf(want, sizeof(want), "store: %s has schema version %d, newer "
	    "than the %d this program knows: upgrade calplanebot", p,
	    STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
	open_fails(p, CPB_ERR_INVALID, want);
	/* Refusing did not touch it. */
	cr_assert_eq(raw_int(p, "PRAGMA user_version"),
	    STORE_SCHEMA_VERSION + 1);
}

Test(store, foreign_database_refused)
{
	char p[TP], want[CPB_ERRMSG_MAX];

	raw_exec(tpath(p, sizeof(p), "other.db"),
	    "CREATE TABLE notes (body TEXT)");
	snprintf(want, sizeof(want), "store: %s is a SQLite database of "
	    "another program (tables but no schema version)", p);
	open_fails(p, CPB_ERR_INVALID, want);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM sqlite_master"), 1);
}

/*
 * A directory we may not write in.  Root ignores permissions, so as root
 * the open runs in a child that became nobody first.
 */
static void
open_unprivileged(const char *path, enum cpb_err *err, char *msg)
{
	struct store *s = NULL;
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	if (geteuid() != 0) {
		*err = store_open(&s, path, msg);
		store_close(s);
		return;
	}
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		*err = store_open(&s, path, msg);
		store_close(s);
		if (write(fds[1], err, sizeof(*err)) != sizeof(*err) ||
		    write(fds[1], msg, CPB_ERRMSG_MAX) != CPB_ERRMSG_MAX)
			_exit(3);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], err, sizeof(*err));
	cr_assert_eq(n, (ssize_t)sizeof(*err));
	n = read(fds[0], msg, CPB_ERRMSG_MAX);
	cr_assert_eq(n, CPB_ERRMSG_MAX);
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(store, read_only_directory)
{
	char ro[TP], p[TP], want[CPB_ERRMSG_MAX];
	char msg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	cr_assert_eq(chmod(tmp, 0755), 0);
	cr_assert_eq(mkdir(tpath(ro, sizeof(ro), "ro"), 0555), 0);
	cr_assert_eq(chmod(ro, 0555), 0);

	open_unprivileged(tpath(p, sizeof(p), "ro/state.db"), &err, msg);
	cr_assert_eq(err, CPB_ERR_IO, "%s", msg);
	snprintf(want, sizeof(want), "store: cannot create files (database, "
	    "-wal, -shm) in directory %s: Permission denied", ro);
	cr_assert_str_eq(msg, want);

	open_unprivileged(tpath(p, sizeof(p), "ro/sub/state.db"), &err, msg);
	cr_assert_eq(err, CPB_ERR_IO, "%s", msg);
	snprintf(want, sizeof(want), "store: cannot create directory %s/sub: "
	    "Permission denied", ro);
	cr_assert_str_eq(msg, want);
}

/* -------------------------------------------------------------- calendars */

Test(store, calendar_round_trip)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_calendar in = {
		.project_id = "p1",
		.url = "https://dav.example/cal/p1/",
		.displayname = "Plane: Website",
		.project_name = "Website",
		.project_identifier = "WEB",
	};
	struct store_calendar out;

	cr_assert_eq(store_calendar_put(s, &in, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_calendar_get(s, "p1", &out, msg), CPB_OK, "%s", msg);
	cr_assert_str_eq(out.project_id, "p1");
	cr_assert_str_eq(out.url, "https://dav.example/cal/p1/");
	cr_assert_str_eq(out.displayname, "Plane: Website");
	cr_assert_str_eq(out.project_name, "Website");
	cr_assert_str_eq(out.project_identifier, "WEB");
	store_calendar_free(&out);
	cr_assert_null(out.url);

	/* Same project again: an update, NULLs stored as NULLs. */
	in.url = "https://dav.example/cal/p1-new/";
	in.displayname = NULL;
	in.project_name = NULL;
	in.project_identifier = NULL;
	cr_assert_eq(store_calendar_put(s, &in, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_calendar_get(s, "p1", &out, msg), CPB_OK);
	cr_assert_str_eq(out.url, "https://dav.example/cal/p1-new/");
	cr_assert_null(out.displayname);
	cr_assert_null(out.project_name);
	cr_assert_null(out.project_identifier);
	store_calendar_free(&out);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM calendars"), 1);
	store_close(s);
}

Test(store, calendar_long_strings)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	char *url = repeat('u', STORE_TEXT_MAX);
	char *name = repeat('n', 100000);
	struct store_calendar in = { .project_id = "p", .url = url,
	    .displayname = name, .project_name = name };
	struct store_calendar out;

	cr_assert_eq(store_calendar_put(s, &in, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_calendar_get(s, "p", &out, msg), CPB_OK);
	cr_assert_str_eq(out.url, url);
	cr_assert_str_eq(out.displayname, name);
	cr_assert_str_eq(out.project_name, name);
	store_calendar_free(&out);
	free(url);

	url = repeat('u', STORE_TEXT_MAX + 1);
	in.url = url;
	cr_assert_eq(store_calendar_put(s, &in, msg), CPB_ERR_TOO_LARGE);
	cr_assert_str_eq(msg, "store: calendar url longer than 1048576 bytes");
	free(url);
	free(name);
	store_close(s);
}

Test(store, calendar_not_found_conflict_invalid)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_calendar a = { .project_id = "a", .url = "https://x/a/" };
	struct store_calendar b = { .project_id = "b", .url = "https://x/a/" };
	struct store_calendar out;

	cr_assert_eq(store_calendar_get(s, "a", &out, msg), CPB_ERR_NOT_FOUND);
	cr_assert_str_eq(msg, "store: no calendar for project a");
	cr_assert_null(out.url);
	cr_assert_eq(store_calendar_delete(s, "a", msg), CPB_ERR_NOT_FOUND);
	cr_assert_str_eq(msg, "store: no row for project_id a");

	cr_assert_eq(store_calendar_put(s, &a, msg), CPB_OK);
	/* Two projects cannot share one calendar. */
	cr_assert_eq(store_calendar_put(s, &b, msg), CPB_ERR_CONFLICT);
	cr_assert_str_eq(msg, "store: calendar put: UNIQUE constraint failed: "
	    "calendars.url");

	b.project_id = NULL;
	cr_assert_eq(store_calendar_put(s, &b, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: project_id missing");
	b.project_id = "b";
	b.url = "";
	cr_assert_eq(store_calendar_put(s, &b, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: calendar url empty");

	cr_assert_eq(store_calendar_delete(s, "a", msg), CPB_OK);
	cr_assert_eq(store_calendar_get(s, "a", &out, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_calendar_delete(s, "a", msg), CPB_ERR_NOT_FOUND);
	store_close(s);
}

struct cal_walk {
	struct store	*s;
	char		 seen[8][8];
	int		 n;
	int		 stop_at;	/* return CPB_ERR_SAFETY at this call */
};

static enum cpb_err
cal_walk_cb(const struct store_calendar *cal, void *ctx)
{
	struct cal_walk *w = ctx;
	char msg[CPB_ERRMSG_MAX];

	if (w->n == w->stop_at)
		return CPB_ERR_SAFETY;
	snprintf(w->seen[w->n++], sizeof(w->seen[0]), "%s", cal->project_id);
	/* Writing while walking is allowed: the rows were read first. */
	cr_assert_eq(store_calendar_delete(w->s, cal->project_id, msg), CPB_OK,
	    "%s", msg);
	return CPB_OK;
}

Test(store, calendars_each)
{
	char p[TP], msg[CPB_ERRMSG_MAX], url[32];
	struct store *s = open_default(p, sizeof(p));
	const char *ids[] = { "c", "a", "b" };
	struct cal_walk w = { .s = s, .stop_at = 1 };
	size_t i;

	for (i = 0; i < 3; i++) {
		struct store_calendar c = { .project_id = (char *)ids[i],
		    .url = url };
		snprintf(url, sizeof(url), "https://x/%s/", ids[i]);
		cr_assert_eq(store_calendar_put(s, &c, msg), CPB_OK);
	}
	cr_assert_eq(store_calendars_each(s, cal_walk_cb, &w, msg),
	    CPB_ERR_SAFETY);
	cr_assert_eq(w.n, 1);
	cr_assert_str_eq(w.seen[0], "a");

	w.n = 0;
	w.stop_at = -1;
	cr_assert_eq(store_calendars_each(s, cal_walk_cb, &w, msg), CPB_OK);
	cr_assert_eq(w.n, 2);
	cr_assert_str_eq(w.seen[0], "b");
	cr_assert_str_eq(w.seen[1], "c");
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM calendars"), 0);

	w.n = 0;
	cr_assert_eq(store_calendars_each(s, cal_walk_cb, &w, msg), CPB_OK);
	cr_assert_eq(w.n, 0);
	store_close(s);
}

/* ----------------------------------------------------------------- events */

static struct store_event
sample_event(const char *issue, const char *project, const char *cal)
{
	struct store_event ev = {
		.issue_id = (char *)issue,
		.project_id = (char *)project,
		.calendar_url = (char *)cal,
		.href = "https://dav.example/cal/p1/plane-issue-1.ics",
		.etag = "\"abc-1\"",
		.hash = "0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef",
		.sequence = 3,
		.updated_at_us = 1714564800123456,
	};
	return ev;
}

Test(store, event_round_trip)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_event in = sample_event("i1", "p1", "https://x/p1/");
	struct store_event out;
	time_t t0 = time(NULL);

	/* A put records a success whatever these say. */
	in.last_error = "ignored";
	in.failures = 9;
	cr_assert_eq(store_event_put(s, &in, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_OK, "%s", msg);
	cr_assert_str_eq(out.issue_id, "i1");
	cr_assert_str_eq(out.project_id, "p1");
	cr_assert_str_eq(out.calendar_url, "https://x/p1/");
	cr_assert_str_eq(out.href, in.href);
	cr_assert_str_eq(out.etag, "\"abc-1\"");
	cr_assert_str_eq(out.hash, in.hash);
	cr_assert_eq(strlen(out.hash), 64);
	cr_assert_eq(out.sequence, 3);
	cr_assert_eq(out.updated_at_us, 1714564800123456);
	cr_assert_null(out.last_error);
	cr_assert_eq(out.failures, 0);
	store_event_free(&out);
	cr_assert_null(out.issue_id);
	cr_assert_geq(raw_int(p, "SELECT written_at FROM events"), t0);
	cr_assert_leq(raw_int(p, "SELECT written_at FROM events"), time(NULL));
	store_close(s);
}

Test(store, event_nulls_extremes_and_long_strings)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_event in = sample_event("i1", "p1", NULL);
	struct store_event out;
	char *etag = repeat('e', STORE_TEXT_MAX);

	in.href = NULL;
	in.etag = NULL;
	in.hash[0] = '\0';
	in.sequence = UINT_MAX;
	in.updated_at_us = INT64_MIN;
	cr_assert_eq(store_event_put(s, &in, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_OK, "%s", msg);
	cr_assert_null(out.calendar_url);
	cr_assert_null(out.href);
	cr_assert_null(out.etag);
	cr_assert_str_eq(out.hash, "");
	cr_assert_eq(out.sequence, UINT_MAX);
	cr_assert_eq(out.updated_at_us, INT64_MIN);
	store_event_free(&out);

	in.etag = etag;
	in.href = "测试🎉 עברית \"quoted\" ';--";
	in.updated_at_us = INT64_MAX;
	cr_assert_eq(store_event_put(s, &in, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_OK, "%s", msg);
	cr_assert_str_eq(out.etag, etag);
	cr_assert_str_eq(out.href, "测试🎉 עברית \"quoted\" ';--");
	cr_assert_eq(out.updated_at_us, INT64_MAX);
	store_event_free(&out);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM events"), 1);
	free(etag);
	store_close(s);
}

Test(store, event_invalid_and_not_found)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_event in = sample_event("i1", "p1", "https://x/p1/");
	struct store_event out;
	char *big = repeat('h', STORE_TEXT_MAX + 1);

	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_ERR_NOT_FOUND);
	cr_assert_str_eq(msg, "store: no event for issue i1");
	cr_assert_null(out.issue_id);
	cr_assert_eq(store_event_delete(s, "i1", msg), CPB_ERR_NOT_FOUND);

	memset(in.hash, 'a', sizeof(in.hash));
	cr_assert_eq(store_event_put(s, &in, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: event hash not terminated");
	in = sample_event(NULL, "p1", NULL);
	cr_assert_eq(store_event_put(s, &in, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: issue_id missing");
	in = sample_event("i1", "p1", NULL);
	in.href = big;
	cr_assert_eq(store_event_put(s, &in, msg), CPB_ERR_TOO_LARGE);
	cr_assert_str_eq(msg, "store: href longer than 1048576 bytes");
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM events"), 0);

	in.href = NULL;
	cr_assert_eq(store_event_put(s, &in, msg), CPB_OK);
	cr_assert_eq(store_event_delete(s, "i1", msg), CPB_OK);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_event_fail(s, "i1", "p1", NULL, msg),
	    CPB_ERR_INVALID);
	free(big);
	store_close(s);
}

Test(store, event_fail_counts_and_put_resets)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_event in = sample_event("i1", "p1", "https://x/p1/");
	struct store_event out;

	/* A new row: enough for the next run to create the event. */
	cr_assert_eq(store_event_fail(s, "i1", "p1", "HTTP 500", msg), CPB_OK,
	    "%s", msg);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_OK);
	cr_assert_str_eq(out.project_id, "p1");
	cr_assert_null(out.calendar_url);
	cr_assert_null(out.href);
	cr_assert_null(out.etag);
	cr_assert_str_eq(out.hash, "");
	cr_assert_eq(out.sequence, 0);
	cr_assert_eq(out.updated_at_us, 0);
	cr_assert_str_eq(out.last_error, "HTTP 500");
	cr_assert_eq(out.failures, 1);
	store_event_free(&out);
	cr_assert_eq(raw_int(p, "SELECT written_at IS NULL FROM events"), 1);

	/* The engine records its own errmsg, passing the buffer twice. */
	snprintf(msg, sizeof(msg), "caldav: timeout");
	cr_assert_eq(store_event_fail(s, "i1", "p1", msg, msg), CPB_OK);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_OK);
	cr_assert_str_eq(out.last_error, "caldav: timeout");
	cr_assert_eq(out.failures, 2);
	store_event_free(&out);

	cr_assert_eq(store_event_put(s, &in, msg), CPB_OK);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_OK);
	cr_assert_null(out.last_error);
	cr_assert_eq(out.failures, 0);
	store_event_free(&out);

	/* An existing row keeps what was written; only the error changes. */
	cr_assert_eq(store_event_fail(s, "i1", "other-project", "412", msg),
	    CPB_OK);
	cr_assert_eq(store_event_get(s, "i1", &out, msg), CPB_OK);
	cr_assert_str_eq(out.project_id, "p1");
	cr_assert_str_eq(out.calendar_url, "https://x/p1/");
	cr_assert_str_eq(out.href, in.href);
	cr_assert_str_eq(out.etag, in.etag);
	cr_assert_str_eq(out.hash, in.hash);
	cr_assert_eq(out.sequence, 3);
	cr_assert_eq(out.updated_at_us, in.updated_at_us);
	cr_assert_str_eq(out.last_error, "412");
	cr_assert_eq(out.failures, 1);
	store_event_free(&out);
	store_close(s);
}

struct ev_walk {
	struct store	*s;
	char		 seen[8][8];
	int		 n;
	bool		 delete;
	bool		 fail;
};

static enum cpb_err
ev_walk_cb(const struct store_event *ev, void *ctx)
{
	struct ev_walk *w = ctx;
	char msg[CPB_ERRMSG_MAX];

	snprintf(w->seen[w->n++], sizeof(w->seen[0]), "%s", ev->issue_id);
	if (w->fail)
		return CPB_ERR_NETWORK;
	if (w->delete)
		cr_assert_eq(store_event_delete(w->s, ev->issue_id, msg),
		    CPB_OK, "%s", msg);
	return CPB_OK;
}

Test(store, events_for_calendar_and_project)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_event e;
	struct ev_walk w = { .s = s };
	long n = -1;

	e = sample_event("i3", "p1", "https://x/c1/");
	cr_assert_eq(store_event_put(s, &e, msg), CPB_OK);
	e = sample_event("i1", "p1", "https://x/c1/");
	cr_assert_eq(store_event_put(s, &e, msg), CPB_OK);
	e = sample_event("i2", "p2", "https://x/c2/");
	cr_assert_eq(store_event_put(s, &e, msg), CPB_OK);
	cr_assert_eq(store_event_fail(s, "i4", "p1", "boom", msg), CPB_OK);

	cr_assert_eq(store_event_count_for_calendar(s, "https://x/c1/", &n,
	    msg), CPB_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(store_event_count_for_calendar(s, "https://x/c3/", &n,
	    msg), CPB_OK);
	cr_assert_eq(n, 0);

	cr_assert_eq(store_events_for_calendar(s, "https://x/c1/", ev_walk_cb,
	    &w, msg), CPB_OK, "%s", msg);
	cr_assert_eq(w.n, 2);
	cr_assert_str_eq(w.seen[0], "i1");
	cr_assert_str_eq(w.seen[1], "i3");

	/* The failed, never-written i4 belongs to its project. */
	w.n = 0;
	cr_assert_eq(store_events_for_project(s, "p1", ev_walk_cb, &w, msg),
	    CPB_OK);
	cr_assert_eq(w.n, 3);
	cr_assert_str_eq(w.seen[0], "i1");
	cr_assert_str_eq(w.seen[1], "i3");
	cr_assert_str_eq(w.seen[2], "i4");

	w.n = 0;
	w.fail = true;
	cr_assert_eq(store_events_for_project(s, "p1", ev_walk_cb, &w, msg),
	    CPB_ERR_NETWORK);
	cr_assert_eq(w.n, 1);

	w.n = 0;
	w.fail = false;
	w.delete = true;
	cr_assert_eq(store_events_for_project(s, "p1", ev_walk_cb, &w, msg),
	    CPB_OK);
	cr_assert_eq(w.n, 3);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM events"), 1);

	w.n = 0;
	cr_assert_eq(store_events_for_project(s, "nope", ev_walk_cb, &w, msg),
	    CPB_OK);
	cr_assert_eq(w.n, 0);
	cr_assert_eq(store_events_for_calendar(s, NULL, ev_walk_cb, &w, msg),
	    CPB_ERR_INVALID);
	store_close(s);
}

/* ------------------------------------------------------------------- meta */

Test(store, meta_round_trip)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	char *value = (char *)"junk";
	int64_t set_at = -1;
	time_t t0 = time(NULL);

	cr_assert_eq(store_meta_get(s, "home", &value, &set_at, msg),
	    CPB_ERR_NOT_FOUND);
	cr_assert_str_eq(msg, "store: no meta value home");
	cr_assert_null(value);

	cr_assert_eq(store_meta_set(s, "home", "https://x/home/", msg), CPB_OK);
	cr_assert_eq(store_meta_get(s, "home", &value, &set_at, msg), CPB_OK);
	cr_assert_str_eq(value, "https://x/home/");
	cr_assert_geq(set_at, t0);
	cr_assert_leq(set_at, time(NULL));
	free(value);

	cr_assert_eq(store_meta_set(s, "home", "", msg), CPB_OK);
	cr_assert_eq(store_meta_get(s, "home", &value, NULL, msg), CPB_OK);
	cr_assert_str_eq(value, "");
	free(value);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM meta"), 1);

	cr_assert_eq(store_meta_set(s, "home", NULL, msg), CPB_ERR_INVALID);
	cr_assert_eq(store_meta_set(s, "", "v", msg), CPB_ERR_INVALID);
	store_close(s);
}

/* ------------------------------------------------------------------- runs */

Test(store, runs_json_exact_shape)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_run_counts c = { 4, 3, 2, 100, 5, 1 };
	int64_t id1, id2, id3;
	char *json = NULL;

	cr_assert_eq(store_runs_json(s, 50, &json, msg), CPB_OK);
	cr_assert_str_eq(json, "[]");
	free(json);

	cr_assert_eq(store_run_begin(s, "full", &id1, msg), CPB_OK);
	cr_assert_eq(store_run_begin(s, "drain", &id2, msg), CPB_OK);
	cr_assert_eq(store_run_begin(s, "full", &id3, msg), CPB_OK);
	cr_assert_eq(id1, 1);
	cr_assert_eq(id2, 2);
	cr_assert_eq(id3, 3);
	cr_assert_eq(store_run_finish(s, id1, STORE_RUN_OK, &c,
	    "[\"issue a: HTTP 500\", \"say \\\"hi\\\"\"]", msg), CPB_OK, "%s",
	    msg);
	cr_assert_eq(store_run_finish(s, id2, STORE_RUN_PARTIAL, NULL, NULL,
	    msg), CPB_OK, "%s", msg);
	/* Fixed times, so the JSON can be compared whole. */
	raw_exec(p, "UPDATE runs SET started_at = 1714564800250,"
	    " ended_at = 1714564801750 WHERE id = 1;"
	    "UPDATE runs SET started_at = 1714566600000,"
	    " ended_at = 1714566600999 WHERE id = 2;"
	    "UPDATE runs SET started_at = 1714568400000 WHERE id = 3");

	cr_assert_eq(store_runs_json(s, 50, &json, msg), CPB_OK, "%s", msg);
	cr_assert_str_eq(json, "["
	    "{\"id\":3,\"kind\":\"full\","
	    "\"started_at\":\"2024-05-01T13:00:00.000Z\","
	    "\"started_at_unix\":1714568400,"
	    "\"ended_at\":null,\"ended_at_unix\":null,\"duration_ms\":null,"
	    "\"status\":\"running\","
	    "\"counts\":{\"created\":0,\"updated\":0,\"deleted\":0,"
	    "\"unchanged\":0,\"skipped\":0,\"failed\":0},"
	    "\"errors\":[]},"
	    "{\"id\":2,\"kind\":\"drain\","
	    "\"started_at\":\"2024-05-01T12:30:00.000Z\","
	    "\"started_at_unix\":1714566600,"
	    "\"ended_at\":\"2024-05-01T12:30:00.999Z\","
	    "\"ended_at_unix\":1714566600,\"duration_ms\":999,"
	    "\"status\":\"partial\","
	    "\"counts\":{\"created\":0,\"updated\":0,\"deleted\":0,"
	    "\"unchanged\":0,\"skipped\":0,\"failed\":0},"
	    "\"errors\":[]},"
	    "{\"id\":1,\"kind\":\"full\","
	    "\"started_at\":\"2024-05-01T12:00:00.250Z\","
	    "\"started_at_unix\":1714564800,"
	    "\"ended_at\":\"2024-05-01T12:00:01.750Z\","
	    "\"ended_at_unix\":1714564801,\"duration_ms\":1500,"
	    "\"status\":\"ok\","
	    "\"counts\":{\"created\":4,\"updated\":3,\"deleted\":2,"
	    "\"unchanged\":100,\"skipped\":5,\"failed\":1},"
	    "\"errors\":[\"issue a: HTTP 500\",\"say \\\"hi\\\"\"]}"
	    "]");
	free(json);

	cr_assert_eq(store_runs_json(s, 1, &json, msg), CPB_OK);
	cr_assert(strncmp(json, "[{\"id\":3,", 9) == 0, "%s", json);
	cr_assert_null(strstr(json, "\"id\":2"));
	free(json);
	store_close(s);
}

Test(store, runs_real_times_and_failed_status)
{
	char p[TP], msg[CPB_ERRMSG_MAX], status[16];
	struct store *s = open_default(p, sizeof(p));
	int64_t id;
	long long t0 = (long long)time(NULL) * 1000, started, ended;

	cr_assert_eq(store_run_begin(s, "full", &id, msg), CPB_OK);
	cr_assert_eq(store_run_finish(s, id, STORE_RUN_FAILED, NULL,
	    "[\"plane unreachable\"]", msg), CPB_OK);
	started = raw_int(p, "SELECT started_at FROM runs");
	ended = raw_int(p, "SELECT ended_at FROM runs");
	cr_assert_geq(started, t0);
	cr_assert_geq(ended, started);
	cr_assert_leq(ended, (long long)time(NULL) * 1000 + 1000);
	raw_text(p, "SELECT status FROM runs", status, sizeof(status));
	cr_assert_str_eq(status, "failed");
	store_close(s);
}

Test(store, runs_invalid)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	int64_t id;
	char *json = (char *)"junk";

	cr_assert_eq(store_run_begin(s, NULL, &id, msg), CPB_ERR_INVALID);
	cr_assert_eq(store_run_begin(s, "full", &id, msg), CPB_OK);
	cr_assert_eq(store_run_finish(s, id, STORE_RUN_RUNNING, NULL, NULL,
	    msg), CPB_ERR_INVALID);
	cr_assert_eq(store_run_finish(s, id, STORE_RUN_OK, NULL, "{}", msg),
	    CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: run errors are not a JSON array");
	cr_assert_eq(store_run_finish(s, id, STORE_RUN_OK, NULL, "[1]", msg),
	    CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: run errors must all be strings");
	cr_assert_eq(store_run_finish(s, id, STORE_RUN_OK, NULL, "[\"a\"", msg),
	    CPB_ERR_INVALID);
	cr_assert_eq(store_run_finish(s, 42, STORE_RUN_OK, NULL, NULL, msg),
	    CPB_ERR_NOT_FOUND);
	cr_assert_str_eq(msg, "store: no run 42");
	/* Nothing above finished the run. */
	cr_assert_eq(raw_int(p, "SELECT ended_at IS NULL FROM runs"), 1);

	cr_assert_eq(store_runs_json(s, 0, &json, msg), CPB_ERR_INVALID);
	cr_assert_null(json);
	cr_assert_eq(store_runs_json(s, STORE_RUNS_MAX + 1, &json, msg),
	    CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: runs limit must be 1 to 1000");

	raw_exec(p, "UPDATE runs SET errors = 'not json'");
	cr_assert_eq(store_runs_json(s, 10, &json, msg), CPB_ERR_IO);
	cr_assert_str_eq(msg, "store: run 1: stored errors are not a JSON "
	    "array");
	cr_assert_null(json);
	store_close(s);
}

/* ----------------------------------------------------------- transactions */

Test(store, rollback_leaves_nothing)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_calendar c = { .project_id = "p1", .url = "https://x/1/" };
	struct store_event e = sample_event("i1", "p1", "https://x/1/");
	struct store_calendar cout;
	struct store_event eout;
	char *v = NULL;
	int64_t id;

	cr_assert_eq(store_begin(s, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_begin(s, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: a transaction is already open");
	cr_assert_eq(store_calendar_put(s, &c, msg), CPB_OK);
	cr_assert_eq(store_event_put(s, &e, msg), CPB_OK);
	cr_assert_eq(store_event_fail(s, "i2", "p1", "x", msg), CPB_OK);
	cr_assert_eq(store_meta_set(s, "k", "v", msg), CPB_OK);
	cr_assert_eq(store_run_begin(s, "full", &id, msg), CPB_OK);
	/* Visible inside the transaction... */
	cr_assert_eq(store_event_get(s, "i1", &eout, msg), CPB_OK);
	store_event_free(&eout);
	store_rollback(s);
	/* ...and gone after it. */
	cr_assert_eq(store_calendar_get(s, "p1", &cout, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_event_get(s, "i1", &eout, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_event_get(s, "i2", &eout, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_meta_get(s, "k", &v, NULL, msg), CPB_ERR_NOT_FOUND);
	store_close(s);
	cr_assert_eq(raw_int(p, "SELECT (SELECT count(*) FROM calendars) + "
	    "(SELECT count(*) FROM events) + (SELECT count(*) FROM meta) + "
	    "(SELECT count(*) FROM runs)"), 0);

	s = open_ok(p);
	store_rollback(s);	/* none open: a no-op */
	cr_assert_eq(store_commit(s, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: no transaction to commit");
	store_close(s);
}

Test(store, commit_is_atomic_across_connections)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *a = open_default(p, sizeof(p));
	struct store *b = open_ok(p);
	struct store_event e1 = sample_event("i1", "p1", "https://x/1/");
	struct store_event e2 = sample_event("i2", "p1", "https://x/1/");
	long n = -1;

	cr_assert_eq(store_begin(a, msg), CPB_OK);
	cr_assert_eq(store_event_put(a, &e1, msg), CPB_OK);
	cr_assert_eq(store_event_put(a, &e2, msg), CPB_OK);
	/* WAL: the other connection reads the last commit meanwhile. */
	cr_assert_eq(store_event_count_for_calendar(b, "https://x/1/", &n, msg),
	    CPB_OK, "%s", msg);
	cr_assert_eq(n, 0);
	cr_assert_eq(store_commit(a, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_event_count_for_calendar(b, "https://x/1/", &n, msg),
	    CPB_OK);
	cr_assert_eq(n, 2);
	store_close(a);
	store_close(b);

	a = open_ok(p);
	cr_assert_eq(store_event_count_for_calendar(a, "https://x/1/", &n, msg),
	    CPB_OK);
	cr_assert_eq(n, 2);
	store_close(a);
}

/* ------------------------------------------------------------------- lock */

Test(store, sync_lock_held_by_child)
{
	char p[TP], lock[TP + 8], msg[CPB_ERRMSG_MAX], want[600];
	int ready[2], go[2], fd = -1, status;
	struct stat sb;
	pid_t pid;
	char c;

	tpath(p, sizeof(p), "run/state.db");
	snprintf(lock, sizeof(lock), "%s.lock", p);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int cfd = -1;

		close(ready[0]);
		close(go[1]);
		c = store_sync_lock(p, &cfd, msg) == CPB_OK ? 'L' : 'E';
		if (write(ready[1], &c, 1) != 1)
			_exit(2);
		/* Hold the lock until the parent says go (or dies). */
		if (read(go[0], &c, 1) < 0)
			_exit(3);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1);
	cr_assert_eq(c, 'L', "the child could not take the lock");

	cr_assert_eq(store_sync_lock(p, &fd, msg), CPB_ERR_BUSY, "%s", msg);
	cr_assert_eq(fd, -1);
	snprintf(want, sizeof(want), "store: another sync is running (%s is "
	    "locked)", lock);
	cr_assert_str_eq(msg, want);
	cr_assert_eq(stat(lock, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600, "mode %o", sb.st_mode & 07777);

	/* The child exits without unlocking: its death releases the lock. */
	cr_assert_eq(write(go[1], "x", 1), 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(store_sync_lock(p, &fd, msg), CPB_OK, "%s", msg);
	cr_assert_geq(fd, 0);
	close(ready[0]);
	close(go[1]);
	store_sync_unlock(fd);
}

Test(store, sync_lock_in_one_process)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	int fd1 = -1, fd2 = -1;

	tpath(p, sizeof(p), "state.db");
	cr_assert_eq(store_sync_lock(p, &fd1, msg), CPB_OK, "%s", msg);
	/* flock is per open file: a second open conflicts even here. */
	cr_assert_eq(store_sync_lock(p, &fd2, msg), CPB_ERR_BUSY);
	cr_assert_eq(fd2, -1);
	store_sync_unlock(fd1);
	cr_assert_eq(store_sync_lock(p, &fd2, msg), CPB_OK, "%s", msg);
	store_sync_unlock(fd2);
	store_sync_unlock(-1);
	cr_assert_eq(store_sync_lock("", &fd1, msg), CPB_ERR_INVALID);
	cr_assert_eq(fd1, -1);
}

/* ----------------------------------------------------- migration 1 → 2 */

/* The schema version 1 wrote, verbatim (commit 2148bc3). */
static const char v1_schema[] =
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
	"PRAGMA user_version = 1;";

Test(store, migrates_version_1_keeping_its_data)
{
	char p[TP], msg[CPB_ERRMSG_MAX], names[256];
	struct store *s;
	struct store_event ev;
	struct store_queue_item in = { .delivery = "d1", .event = "issue",
	    .action = "updated", .entity_id = "i9", .payload = "{}" };
	bool dup = true;
	long depth = -1;

	tpath(p, sizeof(p), "v1.db");
	raw_exec(p, v1_schema);
	raw_exec(p, "INSERT INTO events (issue_id, project_id, href, hash)"
	    " VALUES ('i1', 'p1', 'https://x/1/a.ics', 'h');"
	    "INSERT INTO runs (kind, started_at, status) VALUES ('full', 5,"
	    " 'ok')");
	cr_assert_eq(raw_int(p, "PRAGMA user_version"), 1);

	s = open_ok(p);
	cr_assert_eq(raw_int(p, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	cr_assert_eq(store_event_get(s, "i1", &ev, msg), CPB_OK, "%s", msg);
	cr_assert_str_eq(ev.href, "https://x/1/a.ics");
	store_event_free(&ev);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM runs"), 1);
	cr_assert_eq(store_queue_push(s, &in, &dup, msg), CPB_OK, "%s", msg);
	cr_assert_not(dup);
	cr_assert_eq(store_queue_depth(s, &depth, msg), CPB_OK);
	cr_assert_eq(depth, 1);
	store_close(s);
	raw_text(p, "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	    "sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
	    "ORDER BY name)", names, sizeof(names));
	cr_assert_str_eq(names, "deliveries_seen_at,events_calendar_url,"
	    "events_project_id,queue_entity");
}

/* Version 2 as issue 4 made it, with a queued delivery and a memory. */
Test(store, migrates_version_2_keeping_the_queue)
{
	char p[TP], msg[CPB_ERRMSG_MAX], sql[128];
	struct store *s;
	struct store_queue_item in = { .delivery = "d2", .event = "issue",
	    .action = "updated", .entity_id = "i9", .payload = "{}" };
	struct store_queue_item out;
	bool dup = false;

	tpath(p, sizeof(p), "v2.db");
	s = open_ok(p);
	store_close(s);
	/* Back to version 2's two tables, as they were. */
	raw_exec(p, "DROP TABLE queue; DROP TABLE deliveries;"
	    "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " delivery TEXT NOT NULL UNIQUE, event TEXT NOT NULL,"
	    " action TEXT NOT NULL, entity_id TEXT NOT NULL,"
	    " payload TEXT NOT NULL, updated_at_us INTEGER NOT NULL DEFAULT 0,"
	    " received_at INTEGER NOT NULL, attempts INTEGER NOT NULL"
	    " DEFAULT 0 CHECK (attempts >= 0), retry_at INTEGER NOT NULL"
	    " DEFAULT 0, lease_until INTEGER NOT NULL DEFAULT 0,"
	    " last_error TEXT);"
	    "CREATE INDEX queue_entity ON queue (entity_id, event);"
	    "CREATE TABLE deliveries (delivery TEXT PRIMARY KEY NOT NULL,"
	    " seen_at INTEGER NOT NULL);"
	    "CREATE INDEX deliveries_seen_at ON deliveries (seen_at);"
	    "PRAGMA user_version = 2;");
	snprintf(sql, sizeof(sql), "INSERT INTO deliveries VALUES ('d1', %lld)",
	    (long long)time(NULL) * 1000);
	raw_exec(p, sql);
	raw_exec(p, "INSERT INTO queue (id, delivery, event, action, entity_id,"
	    " payload, received_at, attempts) VALUES (7, 'd1', 'issue',"
	    " 'updated', 'i1', '{\"a\":1}', 5, 2)");

	s = open_ok(p);
	cr_assert_eq(raw_int(p, "PRAGMA user_version"), 3);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'sqlite_autoindex_queue_1'"), 0);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'deliveries' AND sql LIKE '%WITHOUT ROWID'"), 1);
	/* The memory survived: d1 is a repeat; d2 is new and queued after. */
	cr_assert_eq(store_queue_push(s, &(struct store_queue_item){
	    .delivery = "d1", .event = "issue", .action = "updated",
	    .entity_id = "i1", .payload = "{}" }, &dup, msg), CPB_OK, "%s", msg);
	cr_assert(dup);
	cr_assert_eq(store_queue_push(s, &in, &dup, msg), CPB_OK, "%s", msg);
	cr_assert_not(dup);
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK, "%s", msg);
	cr_assert_eq(out.id, 7);
	cr_assert_str_eq(out.payload, "{\"a\":1}");
	cr_assert_eq(out.attempts, 2);
	store_queue_item_free(&out);
	cr_assert_eq(raw_int(p, "SELECT id FROM queue WHERE delivery = 'd2'"),
	    8);
	store_close(s);
}

Test(store, failed_migration_keeps_version_1)
{
	char p[TP], want[CPB_ERRMSG_MAX];

	tpath(p, sizeof(p), "v1.db");
	raw_exec(p, v1_schema);
	/* A table in the way of step 2: the step fails and rolls back. */
	raw_exec(p, "CREATE TABLE counters (x INTEGER)");
	snprintf(want, sizeof(want), "store: %s: migration to schema version "
	    "2 failed: table queue already exists", p);
	raw_exec(p, "CREATE TABLE queue (x INTEGER)");
	open_fails(p, CPB_ERR_IO, want);
	cr_assert_eq(raw_int(p, "PRAGMA user_version"), 1);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'deliveries'"), 0);
}

/* ----------------------------------------------------------------- queue */

static struct store_queue_item
qitem(const char *delivery, const char *event, const char *entity,
    int64_t updated_at_us)
{
	return (struct store_queue_item){ .delivery = (char *)delivery,
	    .event = (char *)event, .action = (char *)"updated",
	    .entity_id = (char *)entity, .payload = (char *)delivery,
	    .updated_at_us = updated_at_us };
}

static void
push_ok(struct store *s, struct store_queue_item it)
{
	char msg[CPB_ERRMSG_MAX] = "";
	bool dup = true;

	cr_assert_eq(store_queue_push(s, &it, &dup, msg), CPB_OK, "%s", msg);
	cr_assert_not(dup, "%s pushed as a duplicate", it.delivery);
}

static long
depth_of(struct store *s)
{
	char msg[CPB_ERRMSG_MAX];
	long d = -1;

	cr_assert_eq(store_queue_depth(s, &d, msg), CPB_OK, "%s", msg);
	return d;
}

Test(store, queue_push_lease_done_round_trip)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item in = qitem("d-1", "issue", "i1", 1700000000123456);
	struct store_queue_item out;
	long long t0 = (long long)time(NULL) * 1000;

	in.action = "created";
	in.payload = "{\"event\":\"issue\"}";
	push_ok(s, in);
	cr_assert_eq(depth_of(s), 1);
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK, "%s", msg);
	cr_assert_eq(out.id, 1);
	cr_assert_str_eq(out.delivery, "d-1");
	cr_assert_str_eq(out.event, "issue");
	cr_assert_str_eq(out.action, "created");
	cr_assert_str_eq(out.entity_id, "i1");
	cr_assert_str_eq(out.payload, "{\"event\":\"issue\"}");
	cr_assert_eq(out.updated_at_us, 1700000000123456);
	cr_assert_geq(out.received_at_ms, t0);
	cr_assert_eq(out.attempts, 0);
	cr_assert_null(out.last_error);
	cr_assert_eq(out.coalesced, 0);
	cr_assert_geq(raw_int(p, "SELECT lease_until FROM queue"), t0 + 60000);

	/* Leased: nothing else to do, but still in the queue. */
	{
		struct store_queue_item none;

		cr_assert_eq(store_queue_lease(s, 60, &none, msg),
		    CPB_ERR_NOT_FOUND);
		cr_assert_str_eq(msg, "store: nothing to do in the queue");
		cr_assert_null(none.delivery);
	}
	cr_assert_eq(depth_of(s), 1);
	cr_assert_eq(store_queue_done(s, &out, msg), CPB_OK, "%s", msg);
	cr_assert_eq(depth_of(s), 0);
	store_queue_item_free(&out);
	cr_assert_null(out.delivery);
	store_queue_item_free(NULL);
	store_close(s);
}

Test(store, queue_reclaim_frees_a_dead_drainers_leases)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out, again;

	push_ok(s, qitem("d-1", "issue", "i1", 1));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_queue_lease(s, 60, &again, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_queue_reclaim(s, msg), CPB_OK, "%s", msg);
	cr_assert_eq(raw_int(p, "SELECT lease_until FROM queue"), 0);
	cr_assert_eq(store_queue_lease(s, 60, &again, msg), CPB_OK, "%s", msg);
	cr_assert_str_eq(again.delivery, "d-1");
	store_queue_item_free(&out);
	store_queue_item_free(&again);
	store_close(s);
}

Test(store, queue_duplicate_is_remembered_after_done)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item in = qitem("same", "issue", "i1", 1);
	struct store_queue_item out;
	bool dup = false;

	push_ok(s, in);
	/* Queued, not yet applied. */
	cr_assert_eq(store_queue_push(s, &in, &dup, msg), CPB_OK);
	cr_assert(dup);
	cr_assert_eq(depth_of(s), 1);
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_eq(store_queue_done(s, &out, msg), CPB_OK);
	store_queue_item_free(&out);
	/* Applied: still a repeat. */
	dup = false;
	cr_assert_eq(store_queue_push(s, &in, &dup, msg), CPB_OK);
	cr_assert(dup);
	cr_assert_eq(depth_of(s), 0);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM deliveries"), 1);
	store_close(s);
}

Test(store, cache_size_is_positive_kib)
{
	char p[TP], msg[CPB_ERRMSG_MAX] = "";
	struct store *s = open_default(p, sizeof(p));

	cr_assert_eq(store_set_cache_kib(s, 512, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_set_cache_kib(s, 0, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: cache size must be positive");
	cr_assert_eq(store_set_cache_kib(s, -5, msg), CPB_ERR_INVALID);
	store_close(s);
}

static bool
due_of(struct store *s)
{
	char msg[CPB_ERRMSG_MAX] = "";
	bool due = true;

	cr_assert_eq(store_queue_due(s, &due, msg), CPB_OK, "%s", msg);
	return due;
}

Test(store, queue_due_ignores_leased_and_waiting_items)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out;
	bool dead = true;

	cr_assert_not(due_of(s), "empty");
	push_ok(s, qitem("d1", "issue", "i1", 1));
	cr_assert(due_of(s));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK, "%s", msg);
	cr_assert_not(due_of(s), "leased");
	cr_assert_eq(store_queue_fail(s, &out, "down", 5, 60000, &dead, msg),
	    CPB_OK, "%s", msg);
	cr_assert_not(dead);
	cr_assert_not(due_of(s), "waiting a minute for its retry");
	cr_assert_eq(depth_of(s), 1);
	store_queue_item_free(&out);
	push_ok(s, qitem("d2", "issue", "i2", 1));
	cr_assert(due_of(s));
	store_close(s);
}

Test(store, queue_delivery_memory_is_pruned)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item a = qitem("old", "issue", "i1", 1);
	struct store_queue_item out;
	long long now = (long long)time(NULL) * 1000;
	char sql[256];
	bool dup = true;

	push_ok(s, a);
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_eq(store_queue_done(s, &out, msg), CPB_OK);
	store_queue_item_free(&out);
	/* Seen 8 days ago: past the memory. */
	snprintf(sql, sizeof(sql), "UPDATE deliveries SET seen_at = %lld",
	    now - 8LL * 86400 * 1000);
	raw_exec(p, sql);
	raw_exec(p, "INSERT INTO deliveries VALUES ('ancient', 0)");
	cr_assert_eq(store_queue_push(s, &a, &dup, msg), CPB_OK);
	cr_assert_not(dup, "a delivery past the memory is new again");
	/* The push re-remembered "old"; pruning is the drainer's job. */
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM deliveries"), 2);
	cr_assert_eq(store_deliveries_prune(s, msg), CPB_OK, "%s", msg);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM deliveries"), 1);
	cr_assert_geq(raw_int(p, "SELECT seen_at FROM deliveries"), now);
	store_close(s);
}

Test(store, queue_coalesces_one_entity_newest_wins)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out;

	/* Three field deliveries for i1, one for i2 between them, and a
	 * stale i1 delivery that arrives last with the oldest data. */
	push_ok(s, qitem("a", "issue", "i1", 100));
	push_ok(s, qitem("b", "issue", "i2", 500));
	push_ok(s, qitem("c", "issue", "i1", 300));
	push_ok(s, qitem("d", "issue", "i1", 300));
	push_ok(s, qitem("e", "issue", "i1", 50));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	/* i1 first (its oldest item is the oldest); newest data, and of
	 * equal data the later arrival. */
	cr_assert_str_eq(out.delivery, "d");
	cr_assert_eq(out.coalesced, 3);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM queue WHERE "
	    "lease_until > 0"), 4);
	cr_assert_eq(store_queue_done(s, &out, msg), CPB_OK);
	store_queue_item_free(&out);
	cr_assert_eq(depth_of(s), 1);

	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_str_eq(out.delivery, "b");
	cr_assert_eq(out.coalesced, 0);
	store_queue_item_free(&out);
	store_close(s);
}

Test(store, queue_entity_is_event_and_id)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out;

	push_ok(s, qitem("a", "issue", "x1", 1));
	push_ok(s, qitem("b", "project", "x1", 2));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_str_eq(out.delivery, "a");
	cr_assert_eq(out.coalesced, 0);
	store_queue_item_free(&out);
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_str_eq(out.delivery, "b");
	store_queue_item_free(&out);
	store_close(s);
}

Test(store, queue_done_keeps_what_arrived_during_the_lease)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out, next;

	push_ok(s, qitem("a", "issue", "i1", 100));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	/* While applying: newer data, and a stale repeat of older data. */
	push_ok(s, qitem("newer", "issue", "i1", 200));
	push_ok(s, qitem("stale", "issue", "i1", 90));
	/* The entity is held: neither is leased meanwhile. */
	cr_assert_eq(store_queue_lease(s, 60, &next, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_queue_done(s, &out, msg), CPB_OK);
	store_queue_item_free(&out);
	cr_assert_eq(depth_of(s), 1);
	cr_assert_eq(store_queue_lease(s, 60, &next, msg), CPB_OK);
	cr_assert_str_eq(next.delivery, "newer");
	store_queue_item_free(&next);
	store_close(s);
}

Test(store, queue_expired_lease_is_taken_again)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out, again;

	push_ok(s, qitem("a", "issue", "i1", 1));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	/* The drainer died; its lease ran out. */
	raw_exec(p, "UPDATE queue SET lease_until = 1");
	cr_assert_eq(store_queue_lease(s, 60, &again, msg), CPB_OK);
	cr_assert_eq(again.id, out.id);
	store_queue_item_free(&out);
	store_queue_item_free(&again);
	cr_assert_eq(store_queue_lease(s, 0, &again, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_queue_lease(s, -1, &again, msg), CPB_ERR_INVALID);
	cr_assert_eq(store_queue_lease(s, 86401, &again, msg),
	    CPB_ERR_INVALID);
	store_close(s);
}

Test(store, queue_fail_backs_off_then_buries)
{
	char p[TP], msg[CPB_ERRMSG_MAX], text[128];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out, none;
	long long t0 = (long long)time(NULL) * 1000;
	bool dead = true;
	long n = -1;

	push_ok(s, qitem("a", "issue", "i1", 10));
	push_ok(s, qitem("b", "issue", "i1", 20));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_str_eq(out.delivery, "b");
	cr_assert_eq(store_queue_fail(s, &out, "CalDAV: HTTP 500", 3, 60000,
	    &dead, msg), CPB_OK, "%s", msg);
	cr_assert_not(dead);
	store_queue_item_free(&out);
	/* The superseded "a" is gone; "b" waits for its retry, unleased. */
	cr_assert_eq(depth_of(s), 1);
	cr_assert_eq(raw_int(p, "SELECT attempts FROM queue"), 1);
	cr_assert_eq(raw_int(p, "SELECT lease_until FROM queue"), 0);
	cr_assert_geq(raw_int(p, "SELECT retry_at FROM queue"), t0 + 60000);
	raw_text(p, "SELECT last_error FROM queue", text, sizeof(text));
	cr_assert_str_eq(text, "CalDAV: HTTP 500");
	cr_assert_eq(store_queue_lease(s, 60, &none, msg), CPB_ERR_NOT_FOUND);

	/* Retry time come: attempts 2, then 3 = max: dead. */
	raw_exec(p, "UPDATE queue SET retry_at = 0");
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_eq(out.attempts, 1);
	cr_assert_str_eq(out.last_error, "CalDAV: HTTP 500");
	cr_assert_eq(store_queue_fail(s, &out, "again", 3, 0, &dead, msg),
	    CPB_OK);
	cr_assert_not(dead);
	store_queue_item_free(&out);
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_eq(out.attempts, 2);
	cr_assert_eq(store_queue_fail(s, &out, "third", 3, 0, &dead, msg),
	    CPB_OK);
	cr_assert(dead);
	cr_assert_eq(depth_of(s), 0);
	cr_assert_eq(store_dead_count(s, &n, msg), CPB_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(raw_int(p, "SELECT attempts FROM dead_letters"), 3);
	raw_text(p, "SELECT payload FROM dead_letters", text, sizeof(text));
	cr_assert_str_eq(text, "b");
	/* Gone from the queue: a second fail finds nothing. */
	cr_assert_eq(store_queue_fail(s, &out, "x", 3, 0, &dead, msg),
	    CPB_ERR_NOT_FOUND);
	cr_assert_not(dead);
	cr_assert_str_eq(msg, "store: no queue item 2");
	store_queue_item_free(&out);
	store_close(s);
}

Test(store, queue_new_delivery_overtakes_a_retry_wait)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out;
	bool dead;

	push_ok(s, qitem("a", "issue", "i1", 10));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_eq(store_queue_fail(s, &out, "down", 5, 3600000, &dead,
	    msg), CPB_OK);
	store_queue_item_free(&out);
	push_ok(s, qitem("b", "issue", "i1", 20));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_str_eq(out.delivery, "b");
	cr_assert_eq(out.coalesced, 1);
	cr_assert_eq(out.attempts, 0);
	cr_assert_eq(store_queue_done(s, &out, msg), CPB_OK);
	store_queue_item_free(&out);
	cr_assert_eq(depth_of(s), 0);
	store_close(s);
}

Test(store, queue_invalid_arguments)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item it = qitem("a", "issue", "i1", 1);
	bool dup = true, dead = true;
	char *big = repeat('x', STORE_TEXT_MAX + 1);

	it.delivery = NULL;
	cr_assert_eq(store_queue_push(s, &it, &dup, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: delivery missing");
	cr_assert_not(dup);
	it = qitem("a", "issue", "", 1);
	cr_assert_eq(store_queue_push(s, &it, &dup, msg), CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: entity_id empty");
	it = qitem("a", "issue", "i1", 1);
	it.payload = big;
	cr_assert_eq(store_queue_push(s, &it, &dup, msg), CPB_ERR_TOO_LARGE);
	cr_assert_eq(depth_of(s), 0);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM deliveries"), 0);
	it = qitem("a", "issue", "i1", 1);
	cr_assert_eq(store_queue_fail(s, &it, NULL, 3, 0, &dead, msg),
	    CPB_ERR_INVALID);
	cr_assert_eq(store_queue_fail(s, &it, "e", 0, 0, &dead, msg),
	    CPB_ERR_INVALID);
	cr_assert_eq(store_queue_fail(s, &it, "e", 3, -1, &dead, msg),
	    CPB_ERR_INVALID);
	cr_assert_not(dead);
	free(big);
	store_close(s);
}

Test(store, queue_push_inside_a_batch_rolls_back_with_it)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));

	cr_assert_eq(store_begin(s, msg), CPB_OK);
	push_ok(s, qitem("a", "issue", "i1", 1));
	cr_assert_eq(depth_of(s), 1);
	store_rollback(s);
	cr_assert_eq(depth_of(s), 0);
	cr_assert_eq(raw_int(p, "SELECT count(*) FROM deliveries"), 0);
	store_close(s);
}

/* ---------------------------------------------------------- dead letters */

/* Push, lease and fail at once (max 1): one dead letter. */
static void
bury(struct store *s, const char *delivery, const char *entity,
    const char *error)
{
	char msg[CPB_ERRMSG_MAX];
	struct store_queue_item out;
	bool dead = false;

	push_ok(s, qitem(delivery, "issue", entity, 1));
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_eq(store_queue_fail(s, &out, error, 1, 0, &dead, msg),
	    CPB_OK);
	cr_assert(dead);
	store_queue_item_free(&out);
}

Test(store, dead_letters_json_retry_drop)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_queue_item out;
	char *json = NULL;
	long n = -1;

	cr_assert_eq(store_dead_json(s, 5, &json, msg), CPB_OK);
	cr_assert_str_eq(json, "[]");
	free(json);
	bury(s, "d1", "i1", "HTTP 500");
	bury(s, "d2", "i2", "say \"no\"");
	raw_exec(p, "UPDATE dead_letters SET received_at = 1714564800250,"
	    " failed_at = 1714564801000");
	cr_assert_eq(store_dead_json(s, 5, &json, msg), CPB_OK, "%s", msg);
	cr_assert_str_eq(json, "["
	    "{\"id\":2,\"delivery\":\"d2\",\"event\":\"issue\","
	    "\"action\":\"updated\",\"entity_id\":\"i2\",\"attempts\":1,"
	    "\"error\":\"say \\\"no\\\"\","
	    "\"received_at\":\"2024-05-01T12:00:00.250Z\","
	    "\"failed_at\":\"2024-05-01T12:00:01.000Z\"},"
	    "{\"id\":1,\"delivery\":\"d1\",\"event\":\"issue\","
	    "\"action\":\"updated\",\"entity_id\":\"i1\",\"attempts\":1,"
	    "\"error\":\"HTTP 500\","
	    "\"received_at\":\"2024-05-01T12:00:00.250Z\","
	    "\"failed_at\":\"2024-05-01T12:00:01.000Z\"}]");
	free(json);
	cr_assert_eq(store_dead_json(s, 1, &json, msg), CPB_OK);
	cr_assert(strncmp(json, "[{\"id\":2,", 9) == 0, "%s", json);
	cr_assert_null(strstr(json, "\"id\":1"));
	free(json);
	cr_assert_eq(store_dead_json(s, 0, &json, msg), CPB_ERR_INVALID);
	cr_assert_eq(store_dead_json(s, STORE_DEAD_MAX + 1, &json, msg),
	    CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "store: dead letter limit must be 1 to 1000");
	cr_assert_null(json);

	/* Retry: back in the queue with attempts 0, gone from the dead. */
	cr_assert_eq(store_dead_retry(s, 1, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_dead_count(s, &n, msg), CPB_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(store_queue_lease(s, 60, &out, msg), CPB_OK);
	cr_assert_str_eq(out.delivery, "d1");
	cr_assert_eq(out.attempts, 0);
	cr_assert_str_eq(out.payload, "d1");
	store_queue_item_free(&out);

	cr_assert_eq(store_dead_retry(s, 1, msg), CPB_ERR_NOT_FOUND);
	cr_assert_str_eq(msg, "store: no dead letter 1");
	cr_assert_eq(store_dead_drop(s, 2, msg), CPB_OK);
	cr_assert_eq(store_dead_drop(s, 2, msg), CPB_ERR_NOT_FOUND);
	cr_assert_eq(store_dead_count(s, &n, msg), CPB_OK);
	cr_assert_eq(n, 0);
	store_close(s);
}

/* -------------------------------------------------------------- counters */

struct ctr_seen {
	char	 text[512];
};

static enum cpb_err
collect_counter(const char *name, long value, void *ctx)
{
	struct ctr_seen *cs = ctx;
	size_t len = strlen(cs->text);

	snprintf(cs->text + len, sizeof(cs->text) - len, "%s=%ld;", name,
	    value);
	return CPB_OK;
}

static enum cpb_err
stop_counter(const char *name, long value, void *ctx)
{
	(void)name; (void)value; (void)ctx;
	return CPB_ERR_CONFLICT;
}

Test(store, counters_add_and_walk_in_name_order)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct ctr_seen cs = { "" };
	char *long_name = repeat('a', STORE_COUNTER_NAME_MAX + 1);

	cr_assert_eq(store_counter_add(s, "webhooks_total{outcome=\"queued\"}",
	    1, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_counter_add(s, "webhooks_total{outcome=\"queued\"}",
	    2, msg), CPB_OK);
	cr_assert_eq(store_counter_add(s, "drain_total{result=\"dead\"}", 0,
	    msg), CPB_OK);
	cr_assert_eq(store_counters_each(s, collect_counter, &cs, msg), CPB_OK);
	cr_assert_str_eq(cs.text, "drain_total{result=\"dead\"}=0;"
	    "webhooks_total{outcome=\"queued\"}=3;");
	cr_assert_eq(store_counters_each(s, stop_counter, &cs, msg),
	    CPB_ERR_CONFLICT);
	cr_assert_eq(store_counter_add(s, "x", -1, msg), CPB_ERR_INVALID);
	cr_assert_eq(store_counter_add(s, long_name, 1, msg), CPB_ERR_INVALID);
	cr_assert_eq(store_counter_add(s, "", 1, msg), CPB_ERR_INVALID);
	free(long_name);
	store_close(s);
}

/* ------------------------------------------------------ run stats, locks */

Test(store, run_stats)
{
	char p[TP], msg[CPB_ERRMSG_MAX];
	struct store *s = open_default(p, sizeof(p));
	struct store_run_stats st;
	int64_t id;
	int i;
	static const enum store_run_status seq[] = { STORE_RUN_FAILED,
	    STORE_RUN_OK, STORE_RUN_PARTIAL, STORE_RUN_FAILED,
	    STORE_RUN_FAILED };

	cr_assert_eq(store_run_stats(s, &st, msg), CPB_OK, "%s", msg);
	cr_assert_eq(st.consecutive_failures, 0);
	cr_assert_eq(st.last_ok_ended_ms, 0);
	cr_assert_eq(st.newest_started_ms, 0);
	cr_assert_eq(st.oldest_started_ms, 0);
	for (i = 0; i < 5; i++) {
		cr_assert_eq(store_run_begin(s, "full", &id, msg), CPB_OK);
		cr_assert_eq(store_run_finish(s, id, seq[i], NULL, NULL, msg),
		    CPB_OK);
	}
	/* A run still going counts neither way. */
	cr_assert_eq(store_run_begin(s, "full", &id, msg), CPB_OK);
	raw_exec(p, "UPDATE runs SET started_at = id * 1000,"
	    " ended_at = id * 1000 + 500 WHERE ended_at IS NOT NULL;"
	    "UPDATE runs SET started_at = 9000 WHERE ended_at IS NULL");
	cr_assert_eq(store_run_stats(s, &st, msg), CPB_OK);
	cr_assert_eq(st.consecutive_failures, 3);
	cr_assert_eq(st.last_ok_ended_ms, 2500);
	cr_assert_eq(st.newest_started_ms, 9000);
	cr_assert_eq(st.oldest_started_ms, 1000);
	store_close(s);
}

Test(store, drain_lock_and_sync_running)
{
	char p[TP], msg[CPB_ERRMSG_MAX], want[600];
	int fd1 = -1, fd2 = -1, sfd = -1;
	bool running = true;

	tpath(p, sizeof(p), "state.db");
	/* No lock file yet: not running, and none created. */
	cr_assert_eq(store_sync_running(p, &running, msg), CPB_OK, "%s", msg);
	cr_assert_not(running);
	cr_assert_eq(access(tpath(want, sizeof(want), "state.db.lock"), F_OK),
	    -1);

	cr_assert_eq(store_drain_lock(p, &fd1, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_drain_lock(p, &fd2, msg), CPB_ERR_BUSY);
	cr_assert_eq(fd2, -1);
	snprintf(want, sizeof(want), "store: another drainer is running "
	    "(%s.drain.lock is locked)", p);
	cr_assert_str_eq(msg, want);
	/* Independent of the sync lock. */
	cr_assert_eq(store_sync_running(p, &running, msg), CPB_OK);
	cr_assert_not(running);
	cr_assert_eq(store_sync_lock(p, &sfd, msg), CPB_OK, "%s", msg);
	cr_assert_eq(store_sync_running(p, &running, msg), CPB_OK);
	cr_assert(running);
	store_sync_unlock(sfd);
	cr_assert_eq(store_sync_running(p, &running, msg), CPB_OK);
	cr_assert_not(running);
	/* The probe left the lock free for the next sync. */
	cr_assert_eq(store_sync_lock(p, &sfd, msg), CPB_OK, "%s", msg);
	store_sync_unlock(sfd);
	store_sync_unlock(fd1);
	cr_assert_eq(store_drain_lock(p, &fd2, msg), CPB_OK);
	store_sync_unlock(fd2);
	cr_assert_eq(store_drain_lock("", &fd2, msg), CPB_ERR_INVALID);
	cr_assert_eq(store_sync_running("", &running, msg), CPB_ERR_INVALID);
}
