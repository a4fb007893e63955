/*
 * test_faults.c - the product against the real stack while things break:
 * a CalDAV server killed in the middle of a full sync, a Plane that
 * fails one page (500, timeout, truncated body, 429 without end), the
 * responder pool killed with -9 under a load of signed webhooks, a store
 * on a full or read-only disk, and two full syncs started at once.
 *
 * Real binaries (CPB_BINDIR), the Plane simulator, Radicale, nginx over
 * TLS with the spawn-fcgi pool (nginx/run.sh, as `make run`).  Every
 * server a test starts is stopped in its .fini; the tmpfs mounts of the
 * disk tests are unmounted there too.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "harness.h"
#include "store.h"

#define WEB_PROJECT	"6e6fd832-1bac-4f5c-8a4c-e95c7bf3f4e1"
#define WEB_1		"7bcf0520-cf71-4a35-8505-4208d97e0be1"
#define WEB_2		"58df768a-3c97-41ce-abca-8811ed211296"
#define WEB_3		"61a3cec5-f5a6-4d56-abb9-10a83ef6ce79"
#define UID(id)		"plane-issue-" id "@calplanebot"
#define SECRET		"plane_wh_f4a1c0de5ec2e7faa17500d1ce0ff1ce"
#define ADMIN		"adm-faults-8c1f0e2d4b6a8c0e2f4a6b8d0c2e4f6a"

/* ---- small helpers ------------------------------------------------------ */

static int
count_in_file(const char *path, const char *needle)
{
	char *text = h_slurp(path, NULL), *p;
	int n = 0;

	for (p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

/* Start bin/calplanebot-sync in the background, output into files. */
static pid_t
spawn_sync(const struct h_env *env, const char *command, const char *out,
    const char *err)
{
	char bin[1024];
	pid_t pid;
	int fd;

	snprintf(bin, sizeof(bin), "%s/calplanebot-sync", h_bindir());
	if ((pid = fork()) == 0) {
		if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
			dup2(fd, 1);
		if ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
			dup2(fd, 2);
		if (command)
			execle(bin, bin, command, (char *)NULL, env->vars);
		else
			execle(bin, bin, (char *)NULL, env->vars);
		_exit(127);
	}
	cr_assert_gt(pid, 0);
	return pid;
}

/* Exit status of a child (128+signal), or -1 after timeout_ms (killed). */
static int
wait_child(pid_t pid, long timeout_ms)
{
	long end = h_now_ms() + timeout_ms;
	int status;

	do {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		h_sleep_ms(20);
	} while (h_now_ms() < end);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int
run_cmd(const struct h_env *env, const char *command, struct h_run *r)
{
	const char *args[] = { command, NULL };

	return h_run_sync(env, command ? args : NULL, r);
}

static void
sim_ok(const struct h_sim *sim, const char *method, const char *path,
    const char *json)
{
	long status = 0;

	cJSON_Delete(h_sim_call(sim, method, path, json, &status));
	cr_assert_eq(status, 200, "%s %s -> %ld", method, path, status);
}

/* Sum of visible issues with a target date, from /_sim/summary. */
static int
sim_dated(const struct h_sim *sim)
{
	cJSON *s = h_sim_call(sim, "GET", "/_sim/summary", NULL, NULL), *p;
	int n = 0;

	cr_assert_not_null(s);
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(s, "projects"))
		n += cJSON_GetObjectItem(p, "visible_with_target_date")->valueint;
	cJSON_Delete(s);
	return n;
}

/*
 * The calendars read back: every event once (no two with one UID, no two
 * at one href), and every UID is ours.  Returns the number of events.
 */
static size_t
events_unique(const struct h_dav *dav, struct h_event **out)
{
	struct h_event *ev;
	size_t n = h_dav_events(dav, &ev), i, j;

	for (i = 0; i < n; i++) {
		cr_assert_not_null(ev[i].uid, "an event without UID at %s",
		    ev[i].href);
		if (i > 0)
			cr_assert_str_neq(ev[i].uid, ev[i - 1].uid,
			    "duplicate event %s", ev[i].uid);
		for (j = i + 1; j < n; j++)
			cr_assert_str_neq(ev[i].href, ev[j].href);
	}
	if (out)
		*out = ev;
	else
		h_events_free(ev, n);
	return n;
}

static bool
event_exists(const struct h_event *ev, size_t n, const char *issue_id)
{
	char uid[160];

	snprintf(uid, sizeof(uid), "plane-issue-%s@calplanebot", issue_id);
	return h_event_find(ev, n, uid) != NULL;
}

static long
store_depth(const char *db)
{
	struct store *store = NULL;
	char errmsg[CPB_ERRMSG_MAX];
	long depth = -1;

	cr_assert_eq(store_open(&store, db, errmsg), CPB_OK, "%s", errmsg);
	cr_assert_eq(store_queue_depth(store, &depth, errmsg), CPB_OK, "%s",
	    errmsg);
	store_close(store);
	return depth;
}

/* PRAGMA integrity_check on the store file: "ok" or the first problem. */
static char *
integrity(const char *db)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char *res;

	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	cr_assert_eq(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st,
	    NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sqlite3_errmsg(h));
	res = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return res;
}

/* ---- worlds ------------------------------------------------------------- */

static struct h_world W;

/* What this file adds to W. */
static struct {
	char	 mnt[600];	/* a tmpfs, when mounted */
} X;

static void
world_up(const char *sim_args, bool fixture)
{
	memset(&X, 0, sizeof(X));
	cr_assert(h_world_start(&W, "faults", fixture, sim_args, SECRET, ADMIN),
	    "%s", W.why);
	h_env_set(&W.env, "CALPLANEBOT_CONNECT_TIMEOUT", "2");
}

static void
world_down(void)
{
	char cmd[800];

	/* The servers first: the pool may hold the store on the tmpfs. */
	h_world_stop(&W);
	if (X.mnt[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "umount -l '%s' 2>/dev/null", X.mnt);
		if (system(cmd) != 0)
			fprintf(stderr, "umount %s failed\n", X.mnt);
		X.mnt[0] = '\0';
	}
}

static void up_sample(void) { world_up("--rate-limit 0", true); }

/* ---- CalDAV killed in the middle of a full sync -------------------------- */

static void up_big(void) { world_up("--generate 2,150 --rate-limit 0", false); }

static pid_t
dav_pid(void)
{
	char path[700], *text;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/server.pid", W.dav.dir);
	text = h_slurp(path, NULL);
	cr_assert_not_null(text, "no server.pid in %s", W.dav.dir);
	pid = (pid_t)strtol(text, NULL, 10);
	free(text);
	return pid;
}

Test(caldav, killed_mid_full_sync_then_next_run_finishes, .init = up_big,
    .fini = world_down, .timeout = 180)
{
	char out[700], err[700], want[96];
	int dated = sim_dated(&W.sim), rc, creates;
	struct h_event *ev;
	struct h_run r;
	cJSON *issues, *it;
	size_t n;
	long end;
	pid_t sync;

	cr_assert_gt(dated, 150, "generated workspace too small: %d", dated);
	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "1");
	snprintf(out, sizeof(out), "%s/sync1.out", W.dir);
	snprintf(err, sizeof(err), "%s/sync1.err", W.dir);
	sync = spawn_sync(&W.env, NULL, out, err);

	/* Kill Radicale (-9) once the sync has written a good part. */
	end = h_now_ms() + 60000;
	while ((creates = count_in_file(err, "op=create")) < 40 &&
	    h_now_ms() < end)
		h_sleep_ms(10);
	cr_assert_geq(creates, 40, "the sync did not get going");
	cr_assert_eq(kill(dav_pid(), SIGKILL), 0);
	cr_assert(h_dav_down(&W.dav), "radicale did not go away");
	rc = wait_child(sync, 60000);
	cr_assert(rc == 1 || rc == 3, "interrupted sync exit %d", rc);
	creates = count_in_file(err, "op=create");
	cr_log_info("radicale killed: %d dated issues, %d creates logged, "
	    "interrupted run exit %d", dated, creates, rc);
	cr_assert_lt(creates, dated, "the sync finished before the kill");
	{
		char *e = h_slurp(err, NULL);

		cr_expect(strstr(e, "CalDAV") != NULL, "no CalDAV error: %s",
		    e + (strlen(e) > 2000 ? strlen(e) - 2000 : 0));
		free(e);
	}

	/* Same port, same data: the next run completes the job. */
	cr_assert(h_dav_up(&W.dav), "radicale did not come back");
	run_cmd(&W.env, NULL, &r);
	cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
	cr_expect(strstr(r.out, "deleted=0") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "failed=0") != NULL, "%s", r.out);
	h_run_free(&r);

	/* Every dated issue exactly once, nothing else. */
	n = events_unique(&W.dav, &ev);
	cr_expect_eq((int)n, dated, "%zu events for %d dated issues", n, dated);
	issues = h_sim_call(&W.sim, "GET", "/_sim/issues", NULL, NULL);
	cr_assert(cJSON_IsArray(issues));
	cJSON_ArrayForEach(it, issues) {
		const cJSON *td = cJSON_GetObjectItem(it, "target_date");
		const char *id = cJSON_GetObjectItem(it, "id")->valuestring;

		if (cJSON_IsString(td))
			cr_expect(event_exists(ev, n, id), "issue %s lost", id);
	}
	cJSON_Delete(issues);
	h_events_free(ev, n);

	/* And it is settled: the third run finds nothing to do. */
	run_cmd(&W.env, NULL, &r);
	snprintf(want, sizeof(want), "created=0 updated=0 deleted=0 unchanged=%d",
	    dated);
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(r.out, want) != NULL, "third run: %s", r.out);
	h_run_free(&r);
}

/* ---- Plane fails one page ------------------------------------------------ */

/*
 * The common shape: a complete run, one issue deleted in Plane, then a run
 * whose listing of that project fails on page 1 (of 2 per page): it must
 * delete nothing and say so (exit 1 or 3); after the fault the next run
 * deletes the issue's event.
 */
static void
plane_page_fault(const char *rule, const char *say, long max_ms)
{
	struct h_event *ev;
	struct h_run r;
	size_t n;
	long t0;
	cJSON *runs, *last;

	h_env_set(&W.env, "CALPLANEBOT_PAGE_SIZE", "2");
	run_cmd(&W.env, NULL, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "created=11") != NULL, "%s", r.out);
	h_run_free(&r);
	sim_ok(&W.sim, "DELETE", "/_sim/issues/" WEB_1, NULL);
	sim_ok(&W.sim, "POST", "/_sim/faults", rule);

	t0 = h_now_ms();
	run_cmd(&W.env, NULL, &r);
	cr_assert(r.status == 1 || r.status == 3, "exit %d\n%s\n%s", r.status,
	    r.out, r.err);
	cr_expect_leq(h_now_ms() - t0, max_ms, "the failing run took %ld ms",
	    h_now_ms() - t0);
	cr_expect(strstr(r.err, say) != NULL, "'%s' not reported: %s", say,
	    r.err);
	cr_expect(strstr(r.out, "deleted=0") != NULL || r.out[0] == '\0',
	    "%s", r.out);
	cr_log_info("fault %s: exit %d after %ld ms", rule, r.status,
	    h_now_ms() - t0);
	h_run_free(&r);
	n = events_unique(&W.dav, &ev);
	cr_expect_eq(n, 11, "events after the failed run: %zu", n);
	cr_expect(event_exists(ev, n, WEB_1), "an incomplete listing deleted");
	h_events_free(ev, n);

	/* The run is recorded as not ok (calplanebot-sync status, health). */
	run_cmd(&W.env, "status", &r);
	runs = cJSON_Parse(r.out);
	cr_assert(cJSON_IsArray(runs), "%s", r.out);
	last = cJSON_GetObjectItem(cJSON_GetArrayItem(runs, 0), "status");
	cr_expect(cJSON_IsString(last) && strcmp(last->valuestring, "ok") != 0,
	    "the failed run is recorded as ok: %.300s", r.out);
	cJSON_Delete(runs);
	h_run_free(&r);

	sim_ok(&W.sim, "DELETE", "/_sim/faults", NULL);
	run_cmd(&W.env, NULL, &r);
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(r.out, "deleted=1") != NULL, "%s", r.out);
	h_run_free(&r);
	n = events_unique(&W.dav, &ev);
	cr_expect_eq(n, 10);
	cr_expect(!event_exists(ev, n, WEB_1), "the next run must delete it");
	h_events_free(ev, n);
}

#define PAGE1 "\"path_regex\":\"/projects/" WEB_PROJECT "/issues/\",\"page\":1"

Test(plane, server_error_on_one_page, .init = up_sample, .fini = world_down,
    .timeout = 90)
{
	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "2");
	plane_page_fault("{" PAGE1 ",\"status\":500,\"times\":-1}", "500",
	    20000);
}

Test(plane, timeout_on_one_page, .init = up_sample, .fini = world_down,
    .timeout = 90)
{
	/* The page answers after 3 s; the client gives up after 2. */
	h_env_set(&W.env, "CALPLANEBOT_HTTP_TIMEOUT", "2");
	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "2");
	plane_page_fault("{" PAGE1 ",\"delay_ms\":3000,\"status\":200,"
	    "\"times\":-1}", "timed out", 20000);
}

Test(plane, truncated_body_on_one_page, .init = up_sample,
    .fini = world_down, .timeout = 90)
{
	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "2");
	plane_page_fault("{" PAGE1 ",\"truncate\":true,\"times\":-1}",
	    "incomplete", 20000);
}

Test(plane, rate_limited_without_end, .init = up_sample, .fini = world_down,
    .timeout = 120)
{
	/* Plane says "come back in a minute", again and again; the client
	 * waits at most CALPLANEBOT_RATE_LIMIT_MAX_WAIT each time. */
	h_env_set(&W.env, "CALPLANEBOT_RATE_LIMIT_MAX_WAIT", "1");
	plane_page_fault("{" PAGE1 ",\"status\":429,\"retry_after\":60,"
	    "\"times\":-1}", "429", 40000);
}

/* ---- two full syncs at once ---------------------------------------------- */

Test(lock, two_syncs_started_together_one_exits_75, .init = up_sample,
    .fini = world_down, .timeout = 60)
{
	char o1[700], e1[700], o2[700], e2[700], *err;
	pid_t a, b;
	int ra, rb;

	/* Plane's project list is slow once: the first sync holds its lock
	 * for at least 1.5 s. */
	sim_ok(&W.sim, "POST", "/_sim/faults", "{\"path_regex\":"
	    "\"/workspaces/acme/projects/$|/workspaces/acme/projects/\\\\?\","
	    "\"delay_ms\":1500,\"times\":1}");
	snprintf(o1, sizeof(o1), "%s/a.out", W.dir);
	snprintf(e1, sizeof(e1), "%s/a.err", W.dir);
	snprintf(o2, sizeof(o2), "%s/b.out", W.dir);
	snprintf(e2, sizeof(e2), "%s/b.err", W.dir);
	a = spawn_sync(&W.env, NULL, o1, e1);
	b = spawn_sync(&W.env, NULL, o2, e2);
	ra = wait_child(a, 30000);
	rb = wait_child(b, 30000);
	cr_assert((ra == 0 && rb == 75) || (ra == 75 && rb == 0),
	    "exits %d and %d", ra, rb);
	err = h_slurp(ra == 75 ? e1 : e2, NULL);
	cr_expect(strstr(err, "another sync is running") != NULL, "%s", err);
	free(err);
	{
		struct h_run r;

		run_cmd(&W.env, NULL, &r);
		cr_expect_eq(r.status, 0);
		cr_expect(strstr(r.out, "unchanged=11") != NULL, "%s", r.out);
		h_run_free(&r);
	}
	cr_expect_eq(events_unique(&W.dav, NULL), 11);
}

/* ---- the store's disk: full, read-only ----------------------------------- */

static bool
mount_tmpfs(const char *size)
{
	char cmd[800];

	snprintf(X.mnt, sizeof(X.mnt), "%s/disk", W.dir);
	mkdir(X.mnt, 0711);
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=%s,mode=0711 "
	    "cpb-test '%s' 2>&1", size, X.mnt);
	if (system(cmd) != 0) {
		X.mnt[0] = '\0';
		return false;
	}
	return true;
}

/* Fill the file system with one file until it is full. */
static void
fill_disk(const char *path)
{
	static char block[64 * 1024];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t w;

	cr_assert_geq(fd, 0);
	memset(block, 'f', sizeof(block));
	do
		w = write(fd, block, sizeof(block));
	while (w > 0);
	/* The last bytes: smaller writes until not even one fits. */
	for (size_t sz = sizeof(block) / 2; sz > 0; sz /= 2)
		while (write(fd, block, sz) > 0)
			;
	cr_assert_eq(errno, ENOSPC);
	close(fd);
}

static long
post_webhook(const char *body, const char *delivery, struct h_http *r)
{
	char hex[65], sig[100], del[128];
	const char *hdrs[] = { "Content-Type: application/json", sig, del,
	    NULL };

	h_hmac_hex(SECRET, body, strlen(body), hex);
	snprintf(sig, sizeof(sig), "X-Plane-Signature: %s", hex);
	snprintf(del, sizeof(del), "X-Plane-Delivery: %s", delivery);
	return h_https(&W.stack, "POST", "/webhooks/plane", hdrs, body,
	    strlen(body), r);
}

/* Plane's payload for the issue, with a description of `pad` bytes. */
static char *
payload_padded(const char *issue_id, size_t pad)
{
	char path[256];
	long status = 0;
	cJSON *r, *doc, *data;
	char *big, *out;

	snprintf(path, sizeof(path), "/_sim/webhook_payload?event=issue"
	    "&action=updated&issue_id=%s&field=name", issue_id);
	r = h_sim_call(&W.sim, "GET", path, NULL, &status);
	cr_assert_eq(status, 200);
	doc = cJSON_Parse(cJSON_GetObjectItem(r, "body")->valuestring);
	cJSON_Delete(r);
	data = cJSON_GetObjectItem(doc, "data");
	if (pad > 0) {
		big = malloc(pad + 8);
		cr_assert_not_null(big);
		memcpy(big, "<p>", 3);
		memset(big + 3, 'x', pad);
		memcpy(big + 3 + pad, "</p>", 5);
		cJSON_ReplaceItemInObject(data, "description_html",
		    cJSON_CreateString(big));
		free(big);
	}
	out = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return out;
}

static void
expect_json_error(const struct h_http *r, long status, const char *code)
{
	cJSON *doc = cJSON_Parse(r->body);

	cr_assert_eq(r->status, status, "status %ld: %s", r->status, r->body);
	cr_assert_not_null(doc, "%s", r->body);
	cr_expect_str_eq(cJSON_GetObjectItem(doc, "error_code")->valuestring,
	    code);
	cJSON_Delete(doc);
}

static void
up_disk(void)
{
	up_sample();
	if (!mount_tmpfs("6m"))
		cr_skip_test("cannot mount a tmpfs here (not root?)");
	snprintf(W.db, sizeof(W.db), "%s/store/state.db", X.mnt);
	h_env_set(&W.env, "CALPLANEBOT_DB", W.db);
}

Test(store, disk_full_webhooks_get_503_never_202, .init = up_disk,
    .fini = world_down, .timeout = 150)
{
	static const char *const ids[] = { WEB_1, WEB_2, WEB_3 };
	char filler[700], delivery[64], *body;
	struct h_http h;
	struct h_event *ev;
	struct h_run r;
	int i, refused = -1, stored = 0, sent = 0;
	long end;
	size_t n;
	char *ok;

	cr_assert(h_stack_start(&W.stack, &W.env, 1), "stack did not start");
	run_cmd(&W.env, NULL, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	h_run_free(&r);

	snprintf(filler, sizeof(filler), "%s/filler", X.mnt);
	fill_disk(filler);

	/*
	 * Deliveries of 600 KB: whatever SQLite can still place in pages it
	 * already has may be stored (then 202 is the truth); the first that
	 * needs room it cannot get must be 503, nothing stored.
	 */
	for (i = 0; i < 12 && refused < 0; i++) {
		body = payload_padded(ids[i % 3], 600 * 1024);
		snprintf(delivery, sizeof(delivery), "full-%d", i);
		post_webhook(body, delivery, &h);
		free(body);
		sent++;
		if (h.status == 202) {
			stored++;
		} else {
			expect_json_error(&h, 503, "STORE_UNAVAILABLE");
			refused = i;
		}
		h_http_free(&h);
	}
	cr_assert_geq(refused, 0, "a full disk never refused a delivery");
	/* Small ones, while still full: each 202 or 503, nothing else. */
	for (i = 0; i < 3; i++) {
		body = payload_padded(ids[i], 0);
		snprintf(delivery, sizeof(delivery), "small-%d", i);
		post_webhook(body, delivery, &h);
		free(body);
		cr_expect(h.status == 202 || h.status == 503, "%ld: %s",
		    h.status, h.body);
		if (h.status == 503)
			expect_json_error(&h, 503, "STORE_UNAVAILABLE");
		h_http_free(&h);
	}
	/* Reads still work and say what is wrong. */
	h_https(&W.stack, "GET", "/health", NULL, NULL, 0, &h);
	cr_expect_eq(h.status, 200);
	h_http_free(&h);
	cr_expect_gt(count_in_file(W.stack.log, "full"), 0,
	    "the responder's log does not say the disk is full");

	/* Nothing is corrupted. */
	ok = integrity(W.db);
	cr_expect_str_eq(ok, "ok");
	free(ok);

	/* Room again: the refused delivery was not stored (queued, not a
	 * duplicate), and everything accepted is applied. */
	cr_assert_eq(unlink(filler), 0);
	body = payload_padded(ids[refused % 3], 600 * 1024);
	snprintf(delivery, sizeof(delivery), "full-%d", refused);
	post_webhook(body, delivery, &h);
	free(body);
	cr_expect_eq(h.status, 202, "%s", h.body);
	cr_expect(strstr(h.body, "\"queued\"") != NULL,
	    "the refused delivery had been stored: %s", h.body);
	h_http_free(&h);
	end = h_now_ms() + 30000;
	do {
		run_cmd(&W.env, "drain", &r);
		h_run_free(&r);
		if (store_depth(W.db) == 0)
			break;
		h_sleep_ms(300);
	} while (h_now_ms() < end);
	cr_expect_eq(store_depth(W.db), 0);
	ok = integrity(W.db);
	cr_expect_str_eq(ok, "ok");
	free(ok);
	n = events_unique(&W.dav, &ev);
	cr_expect_eq(n, 11);
	h_events_free(ev, n);
	cr_log_info("disk full: %d sent, %d stored before the first 503",
	    sent, stored);
}

static char *
file_digest(const char *path)
{
	size_t len = 0;
	char *data = h_slurp(path, &len), hex[65];

	cr_assert_not_null(data, "%s missing", path);
	h_hmac_hex("digest", data, len, hex);
	free(data);
	return strdup(hex);
}

Test(store, read_only_disk_refuses_clearly_and_changes_nothing,
    .init = up_disk, .fini = world_down, .timeout = 60)
{
	char cmd[1200], bin[1024], *before, *after, *out = NULL;
	struct h_run r;
	size_t i;
	FILE *p;
	int st;

	run_cmd(&W.env, NULL, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	h_run_free(&r);
	before = file_digest(W.db);
	snprintf(cmd, sizeof(cmd), "mount -o remount,ro '%s'", X.mnt);
	cr_assert_eq(system(cmd), 0, "remount read-only failed");

	/* The full sync, the drain: exit 3, the store named. */
	run_cmd(&W.env, NULL, &r);
	cr_expect_eq(r.status, 3, "sync exit %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, W.db) != NULL || strstr(r.err, "store") !=
	    NULL, "unclear: %s", r.err);
	h_run_free(&r);
	run_cmd(&W.env, "drain", &r);
	cr_expect_eq(r.status, 3, "drain exit %d: %s", r.status, r.err);
	h_run_free(&r);

	/* The responder refuses to start (run.sh runs this before the pool):
	 * nothing could ever answer 202. */
	snprintf(bin, sizeof(bin), "%s/calplanebot-fcgi", h_bindir());
	snprintf(cmd, sizeof(cmd), "env -i");
	for (i = 0; i < W.env.n; i++) {
		strncat(cmd, " '", sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, W.env.vars[i], sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, "'", sizeof(cmd) - strlen(cmd) - 1);
	}
	strncat(cmd, " ", sizeof(cmd) - strlen(cmd) - 1);
	strncat(cmd, bin, sizeof(cmd) - strlen(cmd) - 1);
	strncat(cmd, " --check 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	out = calloc(1, 8192);
	fread(out, 1, 8191, p);
	st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) != 0,
	    "the responder accepts a read-only store: %s", out);
	cr_expect(strstr(out, X.mnt) != NULL && strstr(out, "Read-only") !=
	    NULL, "unclear: %s", out);
	free(out);

	after = file_digest(W.db);
	cr_expect_str_eq(before, after, "the store changed");
	free(before);
	free(after);
	snprintf(cmd, sizeof(cmd), "mount -o remount,rw '%s'", X.mnt);
	cr_expect_eq(system(cmd), 0);
	{
		char *ok = integrity(W.db);

		cr_expect_str_eq(ok, "ok");
		free(ok);
	}
}

/* ---- the pool killed under a load of signed webhooks --------------------- */

#define LOAD_CLIENTS	3
#define LOAD_EACH	45

struct delivery {
	char	 issue[40];
	char	*body;
	char	 sig[65];
	long	 status;
	long	 t_start, t_end;
};

static struct delivery D[LOAD_CLIENTS * LOAD_EACH];

static void up_load(void) { world_up("--generate 1,240 --rate-limit 0", false); }

struct sink {
	char	*data;
	size_t	 len;
};

static size_t
sink_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->len < 4096) {
		s->data = realloc(s->data, s->len + n + 1);
		memcpy(s->data + s->len, ptr, n);
		s->len += n;
		s->data[s->len] = '\0';
	}
	return n;
}

/*
 * One client: its deliveries in order, every ~50 ms, from its own
 * loopback address (nginx limits each address to bursts of 50), on one
 * kept-alive TLS connection.  Results go to a file: index status t0 t1.
 */
static void
load_client(int c, const char *results, long epoch)
{
	CURL *h = curl_easy_init();
	char url[256], iface[32], sig[120], del[64];
	struct curl_slist *hdrs;
	FILE *f = fopen(results, "w");
	int i, k;

	snprintf(url, sizeof(url), "%s/webhooks/plane", W.stack.url);
	snprintf(iface, sizeof(iface), "host!127.0.0.%d", 2 + c);
	for (i = 0; i < LOAD_EACH; i++) {
		struct sink s = { NULL, 0 };
		long status = -1, t0;

		k = c * LOAD_EACH + i;
		hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		hdrs = curl_slist_append(hdrs, "Expect:");
		snprintf(sig, sizeof(sig), "X-Plane-Signature: %s", D[k].sig);
		snprintf(del, sizeof(del), "X-Plane-Delivery: load-%d", k);
		hdrs = curl_slist_append(hdrs, sig);
		hdrs = curl_slist_append(hdrs, del);
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_CAINFO, W.stack.cacert);
		curl_easy_setopt(h, CURLOPT_INTERFACE, iface);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, D[k].body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(D[k].body));
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
		t0 = h_now_ms() - epoch;
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		fprintf(f, "%d %ld %ld %ld\n", k, status, t0, h_now_ms() - epoch);
		fflush(f);
		curl_slist_free_all(hdrs);
		free(s.data);
		h_sleep_ms(50);
	}
	fclose(f);
	curl_easy_cleanup(h);
}

/* Start a new pool on the stack's socket, as nginx/run.sh does. */
static void
pool_restart(int size)
{
	static const char *const pass[] = { "ASAN_OPTIONS", "LSAN_OPTIONS",
	    "UBSAN_OPTIONS", NULL };
	char sock[700], pidf[700], log[700], slog[700], fcgi[1100], num[8];
	struct group *gr;
	struct passwd *pw = getpwnam("nobody");
	struct h_env env = { .n = 0 };
	const char *group, *v;
	size_t i;
	pid_t pid;
	int st;

	for (i = 0; i < W.env.n; i++) {
		char *eq = strchr(W.env.vars[i], '=');

		*eq = '\0';
		h_env_set(&env, W.env.vars[i], eq + 1);
		*eq = '=';
	}
	for (i = 0; pass[i]; i++)
		if ((v = getenv(pass[i])) != NULL)
			h_env_set(&env, pass[i], v);
	gr = pw ? getgrgid(pw->pw_gid) : NULL;
	group = gr ? gr->gr_name : "nogroup";
	snprintf(sock, sizeof(sock), "%s/fcgi.sock", W.stack.dir);
	snprintf(pidf, sizeof(pidf), "%s/fcgi.pid", W.stack.dir);
	snprintf(log, sizeof(log), "%s/logs/fcgi.log", W.stack.dir);
	snprintf(slog, sizeof(slog), "%s/logs/sync.log", W.stack.dir);
	{
		char bindir[1024];

		if (realpath(h_bindir(), bindir) == NULL)
			snprintf(bindir, sizeof(bindir), "%s", h_bindir());
		snprintf(fcgi, sizeof(fcgi), "%s/calplanebot-fcgi", bindir);
	}
	snprintf(num, sizeof(num), "%d", size);
	if ((pid = fork()) == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 1);
		dup2(fd, 2);
		execle("/usr/bin/spawn-fcgi", "spawn-fcgi", "-s", sock, "-M",
		    "0660", "-G", group, "-F", num, "-P", pidf, "--", fcgi,
		    "--log", log, "--sync-log", slog, (char *)NULL, env.vars);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	h_env_free(&env);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "spawn-fcgi failed");
}

Test(pool, killed_under_signed_load_loses_no_accepted_delivery,
    .init = up_load, .fini = world_down, .timeout = 200)
{
	char results[LOAD_CLIENTS][700], path[300], line[256];
	cJSON *issues, *it;
	pid_t kids[LOAD_CLIENTS], pids[8];
	long epoch, t_kill = -1, t_up = -1, end, depth;
	int n = 0, c, k, accepted = 0, bad = 0, gateway = 0, limited = 0;
	struct h_event *ev;
	struct h_run r;
	size_t nev, np, i;
	FILE *f;

	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "2");
	cr_assert(h_stack_start(&W.stack, &W.env, 2), "stack did not start");

	/* One delivery per dated issue, as Plane would sign it. */
	issues = h_sim_call(&W.sim, "GET", "/_sim/issues", NULL, NULL);
	cJSON_ArrayForEach(it, issues) {
		long status = 0;
		cJSON *p;

		if (n == LOAD_CLIENTS * LOAD_EACH)
			break;
		if (!cJSON_IsString(cJSON_GetObjectItem(it, "target_date")))
			continue;
		snprintf(D[n].issue, sizeof(D[n].issue), "%s",
		    cJSON_GetObjectItem(it, "id")->valuestring);
		snprintf(path, sizeof(path), "/_sim/webhook_payload?event=issue"
		    "&action=updated&issue_id=%s&field=name", D[n].issue);
		p = h_sim_call(&W.sim, "GET", path, NULL, &status);
		cr_assert_eq(status, 200);
		D[n].body = strdup(cJSON_GetObjectItem(p, "body")->valuestring);
		h_hmac_hex(SECRET, D[n].body, strlen(D[n].body), D[n].sig);
		D[n].status = -2;
		cJSON_Delete(p);
		n++;
	}
	cJSON_Delete(issues);
	cr_assert_eq(n, LOAD_CLIENTS * LOAD_EACH, "only %d dated issues", n);

	epoch = h_now_ms();
	for (c = 0; c < LOAD_CLIENTS; c++) {
		snprintf(results[c], sizeof(results[c]), "%s/load-%d.txt",
		    W.dir, c);
		if ((kids[c] = fork()) == 0) {
			load_client(c, results[c], epoch);
			_exit(0);
		}
	}
	/* The whole pool dies (-9) in the middle, and is started again. */
	h_sleep_ms(900);
	np = h_stack_pool_pids(&W.stack, pids, 8);
	cr_assert_eq(np, 2);
	t_kill = h_now_ms() - epoch;
	for (i = 0; i < np; i++)
		kill(pids[i], SIGKILL);
	h_sleep_ms(700);
	pool_restart(2);
	end = h_now_ms() + 5000;
	while (h_stack_pool_pids(&W.stack, pids, 8) < 2 && h_now_ms() < end)
		h_sleep_ms(10);
	t_up = h_now_ms() - epoch;
	for (c = 0; c < LOAD_CLIENTS; c++)
		cr_assert_eq(wait_child(kids[c], 60000), 0, "load client %d", c);

	for (c = 0; c < LOAD_CLIENTS; c++) {
		f = fopen(results[c], "r");
		cr_assert_not_null(f);
		while (fgets(line, sizeof(line), f)) {
			long st, t0, t1;

			if (sscanf(line, "%d %ld %ld %ld", &k, &st, &t0, &t1) != 4)
				continue;
			D[k].status = st;
			D[k].t_start = t0;
			D[k].t_end = t1;
		}
		fclose(f);
	}
	for (k = 0; k < n; k++) {
		switch (D[k].status) {
		case 202:
			accepted++;
			break;
		case 502:
			gateway++;
			/* Only while no responder was up. */
			cr_expect(D[k].t_end >= t_kill && D[k].t_start <= t_up,
			    "502 outside the outage: %ld..%ld, pool down "
			    "%ld..%ld", D[k].t_start, D[k].t_end, t_kill, t_up);
			break;
		case 429:
			limited++;
			break;
		default:
			bad++;
			cr_expect_fail("delivery %d: status %ld", k, D[k].status);
		}
	}
	cr_expect_gt(gateway, 0, "the outage was not seen");
	cr_expect_gt(accepted, n / 2, "only %d of %d accepted", accepted, n);

	/* cron's drain: what the killed responders held comes back after
	 * its lease (60 s). */
	end = h_now_ms() + 120000;
	do {
		run_cmd(&W.env, "drain", &r);
		cr_assert(r.status == 0 || r.status == 1 || r.status == 75,
		    "drain exit %d: %s", r.status, r.err);
		h_run_free(&r);
		if ((depth = store_depth(W.db)) == 0)
			break;
		h_sleep_ms(2000);
	} while (h_now_ms() < end);
	cr_assert_eq(depth, 0, "deliveries left in the queue");

	/* Exactly the accepted deliveries are in the calendar, once each. */
	nev = events_unique(&W.dav, &ev);
	for (k = 0; k < n; k++)
		if (D[k].status == 202)
			cr_expect(event_exists(ev, nev, D[k].issue),
			    "accepted delivery %d (%s) lost", k, D[k].issue);
		else
			cr_expect(!event_exists(ev, nev, D[k].issue),
			    "delivery %d got %ld but was applied", k,
			    D[k].status);
	cr_expect_eq((int)nev, accepted, "%zu events, %d accepted", nev,
	    accepted);
	h_events_free(ev, nev);
	cr_log_info("load: %d deliveries, %d accepted, %d x 502 (pool down "
	    "%ld..%ld ms), %d x 429, %d other", n, accepted, gateway, t_kill,
	    t_up, limited, bad);
	for (k = 0; k < n; k++)
		free(D[k].body);
}
