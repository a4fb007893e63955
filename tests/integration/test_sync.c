/*
 * test_sync.c - the full sync, end to end: the real calplanebot-sync
 * binary, the Plane simulator with the sample workspace, and real CalDAV
 * servers (Radicale, Xandikos, SabreDAV with Digest, DAViCal).  Every
 * calendar is read back independently (raw REPORT + libical).
 *
 * The sample workspace (tests/sim/sample_workspace.json) has 11 visible
 * issues with a due date in three projects; the rest are undated,
 * archived, draft, triage or deleted and must not appear.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"

#define WEB_PROJECT	"6e6fd832-1bac-4f5c-8a4c-e95c7bf3f4e1"
#define WEB_1		"7bcf0520-cf71-4a35-8505-4208d97e0be1"
#define WEB_2		"58df768a-3c97-41ce-abca-8811ed211296"
#define WEB_3		"61a3cec5-f5a6-4d56-abb9-10a83ef6ce79"
#define WEB_4_UNDATED	"fe14d701-c136-4759-b22b-68936fa8b12a"
#define WEB_5_DONE	"70f4f820-927b-4133-a0db-452ea5dc6c12"
#define MOB_2		"a48554db-6665-4929-b9f1-0f061ab76374"
#define OPS_2		"60d2f293-e13a-4500-95de-257a7b2a42e6"
#define SAMPLE_EVENTS	11

#define UID(id)		"plane-issue-" id "@calplanebot"

struct world {
	struct h_sim	 sim;
	struct h_dav	 dav;
	struct h_env	 env;
	char		 db[700];
};

static struct world W;

static void
world_up(const char *kind, const char *sim_args)
{
	char fixture[1024];

	memset(&W, 0, sizeof(W));
	snprintf(fixture, sizeof(fixture), "%s/tests/sim/sample_workspace.json",
	    h_srcdir());
	cr_assert(h_sim_start(&W.sim, sim_args && strstr(sim_args, "--generate")
	    ? NULL : fixture, sim_args ? sim_args : "--rate-limit 0"),
	    "plane simulator did not start");
	cr_assert(h_dav_start(&W.dav, kind), "%s did not start", kind);
	snprintf(W.db, sizeof(W.db), "%s/state.db", W.sim.dir);
	h_env_for(&W.env, &W.sim, &W.dav, W.db);
}

static void
world_down(void)
{
	h_env_free(&W.env);
	h_dav_stop(&W.dav);
	h_sim_stop(&W.sim);
}

static void up_radicale(void) { world_up("radicale", NULL); }
static void up_xandikos(void) { world_up("xandikos", NULL); }
static void up_sabredav(void) { world_up("sabredav", NULL); }
static void up_davical(void) { world_up("davical", NULL); }

/* A scenario that must hold on every server. */
#define EVERY_SERVER(name)						\
	static void scenario_##name(void);				\
	Test(radicale, name, .init = up_radicale, .fini = world_down,	\
	    .timeout = 120) { scenario_##name(); }			\
	Test(xandikos, name, .init = up_xandikos, .fini = world_down,	\
	    .timeout = 120) { scenario_##name(); }			\
	Test(sabredav, name, .init = up_sabredav, .fini = world_down,	\
	    .timeout = 120) { scenario_##name(); }			\
	Test(davical, name, .init = up_davical, .fini = world_down,	\
	    .timeout = 120) { scenario_##name(); }			\
	static void scenario_##name(void)

/* Run the binary; on an unexpected exit show its stderr. */
static void
sync_expect(int want, struct h_run *run, const char *const *args)
{
	static const char *const none[] = { NULL };

	h_run_sync(&W.env, args ? args : none, run);
	cr_assert_eq(run->status, want, "exit %d, expected %d\nstdout: %s\n"
	    "stderr: %s", run->status, want, run->out, run->err);
}

static void
sync_ok(const char *expect_counts)
{
	struct h_run run;

	sync_expect(0, &run, NULL);
	if (expect_counts)
		cr_assert(strstr(run.out, expect_counts) != NULL,
		    "expected '%s' in: %s", expect_counts, run.out);
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

/* hrefs and ETags of every event, to prove a run wrote nothing. */
static char *
etag_fingerprint(void)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?><c:calendar-query xmlns:d=\"DAV:\" "
	    "xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:prop><d:getetag/>"
	    "</d:prop><c:filter><c:comp-filter name=\"VCALENDAR\">"
	    "<c:comp-filter name=\"VEVENT\"/></c:comp-filter></c:filter>"
	    "</c:calendar-query>";
	char **names, **urls, *all = strdup(""), *resp;
	size_t n = h_dav_calendars(&W.dav, &names, &urls), i, len = 0;

	for (i = 0; i < n; i++) {
		h_dav_request(&W.dav, "REPORT", urls[i],
		    "application/xml; charset=utf-8", body, "Depth: 1", &resp);
		all = realloc(all, len + strlen(resp) + 1);
		memcpy(all + len, resp, strlen(resp) + 1);
		len += strlen(resp);
		free(resp);
	}
	h_strings_free(names, n);
	h_strings_free(urls, n);
	return all;
}

EVERY_SERVER(first_sync_creates_exactly_the_expected_events)
{
	struct h_event *ev;
	const struct h_event *e;
	size_t n, ncal;

	sync_ok("created=11 updated=0 deleted=0 unchanged=0 skipped=3 failed=0");
	n = h_dav_events(&W.dav, &ev);
	cr_assert_eq(n, SAMPLE_EVENTS, "%zu events in the calendars", n);

	e = h_event_find(ev, n, UID(WEB_1));
	cr_assert_not_null(e, "WEB-1 missing");
	cr_expect_str_eq(e->calendar, "Plane: Website");
	cr_expect_str_eq(e->summary, "[1] Prepare Q1 release notes");
	cr_expect_str_eq(e->dtstart, "20261204");
	cr_expect_str_eq(e->dtend, "20261205");
	cr_expect_str_eq(e->status, "CONFIRMED");
	cr_expect_eq(e->priority, 3);
	cr_expect_str_eq(e->color, "orange");
	cr_expect_str_eq(e->url, "https://plane.example.com/acme/browse/WEB-1/");
	cr_expect_str_eq(e->categories, "");
	cr_expect_str_eq(e->description, "Draft and review.\n---\n"
	    "Priority: high\nState: In Progress\nAssignees: ann\nProject: Website");

	e = h_event_find(ev, n, UID(WEB_2));
	cr_assert_not_null(e, "WEB-2 missing");
	cr_expect_str_eq(e->summary, "[2] Fix checkout button on Safari");
	cr_expect_str_eq(e->categories, "bug,frontend");
	cr_expect_eq(e->priority, 1);
	cr_expect_str_eq(e->color, "red");

	e = h_event_find(ev, n, UID(WEB_5_DONE));
	cr_assert_not_null(e, "WEB-5 missing");
	cr_expect_str_eq(e->status, "CANCELLED");
	cr_expect_str_eq(e->dtstart, "20261130");
	cr_expect_str_eq(e->dtend, "20261201");

	e = h_event_find(ev, n, UID(OPS_2));
	cr_assert_not_null(e, "OPS-2 missing");
	cr_expect_str_eq(e->calendar, "Plane: Operations");
	cr_expect_str_eq(e->dtend, "20270101");

	cr_expect_null(h_event_find(ev, n, UID(WEB_4_UNDATED)));
	h_events_free(ev, n);

	ncal = h_dav_plane_calendars(&W.dav);
	cr_expect_eq(ncal, 3, "%zu calendars", ncal);
}

EVERY_SERVER(second_sync_writes_nothing)
{
	char *before, *after;
	long requests;

	sync_ok("created=11");
	before = etag_fingerprint();
	cJSON_Delete(h_sim_call(&W.sim, "POST", "/_sim/stats/reset", "{}", NULL));
	sync_ok("created=0 updated=0 deleted=0 unchanged=11 skipped=3 failed=0");
	/* One page of projects and one page of issues per project. */
	requests = h_sim_requests(&W.sim);
	cr_expect_eq(requests, 1 + 3, "%ld Plane requests on a warm run", requests);
	after = etag_fingerprint();
	cr_expect_str_eq(after, before, "a warm run changed the calendars");
	free(before);
	free(after);
}

EVERY_SERVER(changes_in_plane_end_up_right)
{
	struct h_event *ev;
	const struct h_event *e;
	size_t n;

	sync_ok("created=11");
	sim_ok("PATCH", "/_sim/issues/" WEB_1, "{\"name\":\"Release notes, final\"}");
	sim_ok("PATCH", "/_sim/issues/" WEB_2, "{\"target_date\":\"2027-02-28\"}");
	sim_ok("PATCH", "/_sim/issues/" WEB_3,
	    "{\"state\":\"db09449e-073c-498d-8ecf-5c418ed85f53\"}");
	sim_ok("PATCH", "/_sim/issues/" MOB_2, "{\"target_date\":null}");
	sim_ok("DELETE", "/_sim/issues/" OPS_2, NULL);
	sync_ok("created=0 updated=3 deleted=2");

	n = h_dav_events(&W.dav, &ev);
	cr_expect_eq(n, SAMPLE_EVENTS - 2);
	e = h_event_find(ev, n, UID(WEB_1));
	cr_assert_not_null(e);
	cr_expect_str_eq(e->summary, "[1] Release notes, final");
	cr_expect_gt(e->sequence, 0, "SEQUENCE must grow on change");
	e = h_event_find(ev, n, UID(WEB_2));
	cr_assert_not_null(e);
	cr_expect_str_eq(e->dtstart, "20270228");
	cr_expect_str_eq(e->dtend, "20270301");
	e = h_event_find(ev, n, UID(WEB_3));
	cr_assert_not_null(e);
	cr_expect_str_eq(e->status, "CANCELLED");
	cr_expect_null(h_event_find(ev, n, UID(MOB_2)), "undated issue kept its event");
	cr_expect_null(h_event_find(ev, n, UID(OPS_2)), "deleted issue kept its event");
	h_events_free(ev, n);
	sync_ok("created=0 updated=0 deleted=0 unchanged=9");
}

EVERY_SERVER(foreign_event_survives)
{
	static const char foreign[] =
	    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//someone//else//EN\r\n"
	    "BEGIN:VEVENT\r\nUID:dentist-appointment@example.com\r\n"
	    "DTSTAMP:20261101T000000Z\r\nDTSTART;VALUE=DATE:20261203\r\n"
	    "SUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
	char **names, **urls, url[1200];
	struct h_event *ev;
	size_t n, i;
	long st;

	sync_ok("created=11");
	n = h_dav_calendars(&W.dav, &names, &urls);
	for (i = 0; i < n && strcmp(names[i], "Plane: Website") != 0; i++)
		;
	cr_assert_lt(i, n, "no Website calendar");
	snprintf(url, sizeof(url), "%sdentist.ics", urls[i]);
	h_strings_free(names, n);
	h_strings_free(urls, n);
	st = h_dav_request(&W.dav, "PUT", url, "text/calendar; charset=utf-8",
	    foreign, "If-None-Match: *", NULL);
	cr_assert(st == 201 || st == 204, "PUT foreign -> %ld", st);
	sim_ok("DELETE", "/_sim/issues/" WEB_1, NULL);
	sync_ok("deleted=1");
	sync_ok("deleted=0");
	n = h_dav_events(&W.dav, &ev);
	cr_expect_not_null(h_event_find(ev, n, "dentist-appointment@example.com"),
	    "the foreign event was touched");
	cr_expect_null(h_event_find(ev, n, UID(WEB_1)));
	h_events_free(ev, n);
}

EVERY_SERVER(renamed_project_renames_its_calendar)
{
	char **names, **urls;
	size_t n, i;
	bool found = false;

	sync_ok("created=11");
	sim_ok("PATCH", "/_sim/projects/" WEB_PROJECT, "{\"name\":\"Web Shop\"}");
	sync_ok("updated=4");
	cr_expect_eq(h_dav_plane_calendars(&W.dav), 3, "a rename must not add a calendar");
	n = h_dav_calendars(&W.dav, &names, &urls);
	for (i = 0; i < n; i++) {
		cr_expect_str_neq(names[i], "Plane: Website");
		found |= strcmp(names[i], "Plane: Web Shop") == 0;
	}
	cr_expect(found, "no calendar 'Plane: Web Shop'");
	h_strings_free(names, n);
	h_strings_free(urls, n);
}
