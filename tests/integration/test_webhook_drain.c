/*
 * test_webhook_drain.c - webhooks end to end below the web stack: the
 * Plane simulator builds and signs deliveries exactly as Plane does
 * (/_sim/webhook_payload), webhook_receive() stores them in the real
 * store, and the real `calplanebot-sync drain` applies them to a real
 * Radicale, read back independently.  The FastCGI/nginx path is tested by
 * the stack tests; this one pins the library and the drain subcommand.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "harness.h"
#include "log.h"
#include "store.h"
#include "webhook.h"

#define WEB_PROJECT	"6e6fd832-1bac-4f5c-8a4c-e95c7bf3f4e1"
#define WEB_1		"7bcf0520-cf71-4a35-8505-4208d97e0be1"
#define WEB_2		"58df768a-3c97-41ce-abca-8811ed211296"
#define SIM_SECRET	"plane_wh_9a8b7c6d5e4f30211203f4e5d6c7b8a9"
#define UID(id)		"plane-issue-" id "@calplanebot"

static struct {
	struct h_sim	 sim;
	struct h_dav	 dav;
	struct h_env	 env;
	char		 db[700];
} W;

static void
up(void)
{
	char fixture[1024];

	memset(&W, 0, sizeof(W));
	log_set_level(LOG_ERROR);
	snprintf(fixture, sizeof(fixture), "%s/tests/sim/sample_workspace.json",
	    h_srcdir());
	cr_assert(h_sim_start(&W.sim, fixture, "--rate-limit 0"),
	    "plane simulator did not start");
	cr_assert(h_dav_start(&W.dav, "radicale"), "radicale did not start");
	snprintf(W.db, sizeof(W.db), "%s/state.db", W.sim.dir);
	h_env_for(&W.env, &W.sim, &W.dav, W.db);
	h_env_set(&W.env, "PLANE_WEBHOOK_SECRET", SIM_SECRET);
}

static void
down(void)
{
	h_env_free(&W.env);
	h_dav_stop(&W.dav);
	h_sim_stop(&W.sim);
}

TestSuite(radicale, .init = up, .fini = down, .timeout = 120);

static void
run_expect(const char *command, int want, const char *out)
{
	const char *args[] = { command, NULL };
	struct h_run run;

	h_run_sync(&W.env, args, &run);
	cr_assert_eq(run.status, want, "%s: exit %d, expected %d\nstdout: %s\n"
	    "stderr: %s", command, run.status, want, run.out, run.err);
	if (out != NULL)
		cr_assert(strstr(run.out, out) != NULL, "expected '%s' in: %s",
		    out, run.out);
	h_run_free(&run);
}

static void
sim_ok(const char *method, const char *path, const char *json)
{
	long status = 0;
	cJSON *r = h_sim_call(&W.sim, method, path, json, &status);

	cr_assert_eq(status, 200, "%s %s -> %ld", method, path, status);
	cJSON_Delete(r);
}

/* A delivery as Plane would send it now; body and signature are the
 * caller's (free). */
struct delivery {
	char	*body;
	char	*signature;
	char	*delivery;
};

static struct delivery
sim_delivery(const char *query)
{
	char path[512];
	long status = 0;
	cJSON *r, *h;
	struct delivery d;

	snprintf(path, sizeof(path), "/_sim/webhook_payload?%s", query);
	r = h_sim_call(&W.sim, "GET", path, NULL, &status);
	cr_assert_eq(status, 200, "%s -> %ld", path, status);
	h = cJSON_GetObjectItem(r, "headers");
	d.body = strdup(cJSON_GetObjectItem(r, "body")->valuestring);
	d.signature = strdup(cJSON_GetObjectItem(h,
	    "X-Plane-Signature")->valuestring);
	d.delivery = strdup(cJSON_GetObjectItem(h,
	    "X-Plane-Delivery")->valuestring);
	cJSON_Delete(r);
	return d;
}

/* webhook_receive() in this process, with the binary's configuration. */
static void
receive(const struct delivery *d, enum webhook_outcome want)
{
	char *env[66], msg[CPB_ERRMSG_MAX] = "";
	struct cpb_config *cfg = NULL;
	struct store *st = NULL;
	struct webhook_request req = { .body = d->body,
	    .body_len = strlen(d->body), .signature = d->signature,
	    .delivery = d->delivery, .content_type = "application/json" };
	struct webhook_result r;
	size_t i;

	for (i = 0; i < W.env.n; i++)
		env[i] = W.env.vars[i];
	env[i] = NULL;
	cr_assert_eq(config_load(&cfg, env, stderr), CPB_OK);
	cr_assert_eq(store_open(&st, W.db, msg), CPB_OK, "%s", msg);
	webhook_receive(cfg, st, &req, &r);
	cr_assert_eq(r.outcome, want, "outcome %d (%d %s): %s", r.outcome,
	    r.http_status, r.error_code ? r.error_code : "", r.message);
	store_close(st);
	config_free(cfg);
}

static void
delivery_free(struct delivery *d)
{
	free(d->body);
	free(d->signature);
	free(d->delivery);
}

static struct h_event *
events(size_t *n)
{
	struct h_event *ev;

	*n = h_dav_events(&W.dav, &ev);
	return ev;
}

Test(radicale, webhooks_reach_the_calendar)
{
	struct delivery a, b;
	struct h_event *ev;
	const struct h_event *e;
	size_t n;

	run_expect("sync", 0, "created=11");
	sim_ok("PATCH", "/_sim/issues/" WEB_1, "{\"name\":\"Notes, final\"}");
	sim_ok("PATCH", "/_sim/issues/" WEB_2,
	    "{\"target_date\":\"2027-02-28\"}");
	a = sim_delivery("event=issue&action=updated&issue_id=" WEB_1
	    "&field=name");
	b = sim_delivery("event=issue&action=updated&issue_id=" WEB_2
	    "&field=target_date");
	receive(&a, WEBHOOK_QUEUED);
	receive(&b, WEBHOOK_QUEUED);
	/* Plane's retry of the same delivery is one. */
	receive(&a, WEBHOOK_DUPLICATE);
	run_expect("drain", 0, "applied=2 failed=0 dead=0 coalesced=0");
	run_expect("drain", 0, "applied=0 failed=0 dead=0 coalesced=0");

	ev = events(&n);
	cr_expect_eq(n, 11);
	e = h_event_find(ev, n, UID(WEB_1));
	cr_assert_not_null(e);
	cr_expect_str_eq(e->summary, "[1] Notes, final");
	e = h_event_find(ev, n, UID(WEB_2));
	cr_assert_not_null(e);
	cr_expect_str_eq(e->dtstart, "20270228");
	cr_expect_str_eq(e->dtend, "20270301");
	h_events_free(ev, n);
	/* The full sync agrees: nothing left to write. */
	run_expect("sync", 0, "created=0 updated=0 deleted=0 unchanged=11");
	delivery_free(&a);
	delivery_free(&b);
}

Test(radicale, field_deliveries_end_in_one_write_and_older_data_loses)
{
	struct delivery f[3], older;
	static const char *const fields[] = { "name", "priority",
	    "target_date" };
	char q[256];
	struct h_event *ev;
	const struct h_event *e;
	size_t n, i;

	run_expect("sync", 0, "created=11");
	sim_ok("PATCH", "/_sim/issues/" WEB_1, "{\"name\":\"First edit\"}");
	older = sim_delivery("event=issue&action=updated&issue_id=" WEB_1
	    "&field=name");
	sim_ok("PATCH", "/_sim/issues/" WEB_1, "{\"name\":\"Second edit\","
	    "\"priority\":\"low\",\"target_date\":\"2027-03-01\"}");
	for (i = 0; i < 3; i++) {
		snprintf(q, sizeof(q), "event=issue&action=updated&issue_id="
		    WEB_1 "&field=%s", fields[i]);
		f[i] = sim_delivery(q);
		receive(&f[i], WEBHOOK_QUEUED);
	}
	run_expect("drain", 0, "applied=1 failed=0 dead=0 coalesced=2");
	/* The first edit's delivery arrives late: it must not win. */
	receive(&older, WEBHOOK_QUEUED);
	run_expect("drain", 0, "applied=1 failed=0 dead=0 coalesced=0");

	ev = events(&n);
	e = h_event_find(ev, n, UID(WEB_1));
	cr_assert_not_null(e);
	cr_expect_str_eq(e->summary, "[1] Second edit");
	cr_expect_str_eq(e->dtstart, "20270301");
	cr_expect_eq(e->priority, 7);
	h_events_free(ev, n);
	for (i = 0; i < 3; i++)
		delivery_free(&f[i]);
	delivery_free(&older);
}

Test(radicale, project_renamed_then_deleted)
{
	struct delivery u, d;
	char **names, **urls;
	struct h_event *ev;
	size_t n, i, web = 0;
	bool found = false;

	run_expect("sync", 0, "created=11");
	sim_ok("PATCH", "/_sim/projects/" WEB_PROJECT, "{\"name\":\"Web Shop\"}");
	u = sim_delivery("event=project&action=updated&project_id="
	    WEB_PROJECT);
	receive(&u, WEBHOOK_QUEUED);
	run_expect("drain", 0, "applied=1 failed=0");
	n = h_dav_calendars(&W.dav, &names, &urls);
	for (i = 0; i < n; i++) {
		cr_expect_str_neq(names[i], "Plane: Website");
		found |= strcmp(names[i], "Plane: Web Shop") == 0;
	}
	cr_expect(found, "no calendar 'Plane: Web Shop'");
	h_strings_free(names, n);
	h_strings_free(urls, n);
	cr_expect_eq(h_dav_plane_calendars(&W.dav), 3);

	ev = events(&n);
	for (i = 0; i < n; i++)
		web += strcmp(ev[i].calendar, "Plane: Web Shop") == 0;
	cr_assert_gt(web, 0);
	h_events_free(ev, n);
	d = sim_delivery("event=project&action=deleted&project_id="
	    WEB_PROJECT);
	receive(&d, WEBHOOK_QUEUED);
	run_expect("drain", 0, "applied=1 failed=0");
	ev = events(&n);
	cr_expect_eq(n, 11 - web, "%zu events left", n);
	for (i = 0; i < n; i++)
		cr_expect_str_neq(ev[i].calendar, "Plane: Web Shop");
	h_events_free(ev, n);
	delivery_free(&u);
	delivery_free(&d);
}

Test(radicale, drain_exit_codes)
{
	char msg[CPB_ERRMSG_MAX] = "";
	struct delivery a;
	int fd = -1;

	run_expect("sync", 0, "created=11");
	cr_assert_eq(store_drain_lock(W.db, &fd, msg), CPB_OK, "%s", msg);
	/* Nothing queued: nothing to wait for, whoever holds the lock. */
	run_expect("drain", 0, "applied=0 failed=0 dead=0");
	sim_ok("PATCH", "/_sim/issues/" WEB_1, "{\"name\":\"Offline edit\"}");
	a = sim_delivery("event=issue&action=updated&issue_id=" WEB_1
	    "&field=name");
	receive(&a, WEBHOOK_QUEUED);
	/* Something queued and another drainer at it: 75, as for sync. */
	run_expect("drain", 75, NULL);
	store_sync_unlock(fd);
	/* CalDAV gone: the delivery fails, stays queued, exit 1. */
	h_dav_stop(&W.dav);
	run_expect("drain", 1, "applied=0 failed=1 dead=0");
	delivery_free(&a);
}
