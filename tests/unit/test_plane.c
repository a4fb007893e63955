/*
 * test_plane.c - the Plane client: the page envelope and pacing as pure
 * functions, then real listings against the Plane simulator
 * (tests/sim/plane_sim.py), started per test on a free loopback port and
 * killed in teardown.  Faults, rate limits and time zones are set through
 * the simulator's /_sim/ control API.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "plane.h"

#define TOKEN	"plane_api_0123456789abcdef0123456789abcdef"
#define SLUG	"sim-workspace"
#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

/* ---- the page envelope ------------------------------------------------ */

/* plane-api.md's example envelope, with two (unexpanded) issues. */
static const char first_page[] =
	"{\"grouped_by\": null, \"sub_grouped_by\": null, \"total_count\": 5,"
	" \"next_cursor\": \"2:1:0\", \"prev_cursor\": \"2:-1:1\","
	" \"next_page_results\": true, \"prev_page_results\": false,"
	" \"count\": 2, \"total_pages\": 3, \"total_results\": 5,"
	" \"extra_stats\": null, \"results\": [{\"id\": \"a\"}, {\"id\": \"b\"}]}";

static const char last_page[] =
	"{\"grouped_by\": null, \"sub_grouped_by\": null, \"total_count\": 5,"
	" \"next_cursor\": \"2:3:0\", \"prev_cursor\": \"2:1:1\","
	" \"next_page_results\": false, \"prev_page_results\": true,"
	" \"count\": 1, \"total_pages\": 3, \"total_results\": 5,"
	" \"extra_stats\": null, \"results\": [{\"id\": \"e\"}]}";

Test(plane_page, first_page_of_the_real_envelope)
{
	cJSON *root = cJSON_Parse(first_page);
	const cJSON *results;
	const char *cursor;
	bool more;
	char err[CPB_ERRMSG_MAX];

	cr_assert_not_null(root);
	cr_assert_eq(plane_parse_page(root, &results, &more, &cursor, err),
	    CPB_OK, "%s", err);
	cr_assert(more);
	cr_assert_str_eq(cursor, "2:1:0");
	cr_assert_eq(cJSON_GetArraySize(results), 2);
	cr_assert_str_eq(cJSON_GetArrayItem(results, 1)->child->valuestring, "b");
	cJSON_Delete(root);
}

Test(plane_page, last_page_has_no_next_cursor)
{
	cJSON *root = cJSON_Parse(last_page);
	const cJSON *results;
	const char *cursor = "x";
	bool more = true;

	cr_assert_eq(plane_parse_page(root, &results, &more, &cursor, NULL),
	    CPB_OK);
	cr_assert_not(more);
	cr_assert_null(cursor, "the cursor of a last page is not followed");
	cr_assert_eq(cJSON_GetArraySize(results), 1);
	cJSON_Delete(root);
}

static void
assert_bad_page(const char *json, const char *why)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *results = (const cJSON *)1;
	const char *cursor;
	bool more;
	char err[CPB_ERRMSG_MAX] = "";

	cr_assert_not_null(root, "%s", json);
	cr_assert_eq(plane_parse_page(root, &results, &more, &cursor, err),
	    CPB_ERR_PARSE, "%s", json);
	cr_assert(strstr(err, why) != NULL, "%s: %s", json, err);
	cr_assert_null(results);
	cr_assert_not(more);
	cJSON_Delete(root);
}

Test(plane_page, malformed_envelopes_are_parse_errors)
{
	/* The members routes answer a bare array: not a page. */
	assert_bad_page("[]", "not a JSON object");
	assert_bad_page("{\"next_page_results\": false}", "\"results\"");
	assert_bad_page("{\"results\": {}, \"next_page_results\": false}",
	    "\"results\"");
	assert_bad_page("{\"results\": []}", "\"next_page_results\"");
	assert_bad_page("{\"results\": [], \"next_page_results\": \"true\"}",
	    "\"next_page_results\"");
	assert_bad_page("{\"results\": [], \"next_page_results\": true}",
	    "next_cursor");
	assert_bad_page("{\"results\": [], \"next_page_results\": true,"
	    " \"next_cursor\": null}", "next_cursor");
	assert_bad_page("{\"results\": [], \"next_page_results\": true,"
	    " \"next_cursor\": \"\"}", "next_cursor");
	assert_bad_page("{\"results\": [], \"next_page_results\": true,"
	    " \"next_cursor\": 7}", "next_cursor");
	assert_bad_page("{\"results\": [], \"next_page_results\": true,"
	    " \"next_cursor\": \"1000:1:0000000000000000000000000000000000000000"
	    "00000000000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000\"}", "longer than 128");
}

/* ---- pacing ----------------------------------------------------------- */

Test(plane_pace, table)
{
	const int64_t now = 1800000000, ms = now * 1000;

	/* Unknown or plenty left: no wait. */
	cr_assert_eq(plane_pace_ms(-1, now + 60, ms, -1, ms), 0);
	cr_assert_eq(plane_pace_ms(0, -1, ms, -1, ms), 0);
	cr_assert_eq(plane_pace_ms(59, now + 60, ms, -1, ms), 0);
	/* What remains is spent at full speed ... */
	cr_assert_eq(plane_pace_ms(4, now + 60, ms, ms - 50000, ms), 0);
	cr_assert_eq(plane_pace_ms(1, now + 60, ms, ms - 50000, ms), 0);
	/* ... and only an exhausted window is waited for: without a request
	 * of ours inside it, the whole window the header names ... */
	cr_assert_eq(plane_pace_ms(0, now + 60, ms, -1, ms), 60000);
	cr_assert_eq(plane_pace_ms(0, now + 7, ms, -1, ms), 7000);
	cr_assert_eq(plane_pace_ms(0, now + 1, ms, -1, ms), 1000);
	cr_assert_eq(plane_pace_ms(0, now + 60, ms, -1, ms + 20000), 40000);
	/* ... else until our oldest request in it is a window old: sent 52 s
	 * ago, a 60 s window, 250 ms for it to reach Plane. */
	cr_assert_eq(plane_pace_ms(0, now + 60, ms, ms - 52000, ms),
	    8000 + PLANE_PACE_MARGIN_MS);
	/* The header cut to seconds: answered 0.4 s past the second. */
	cr_assert_eq(plane_pace_ms(0, now + 60, ms + 400, ms - 52000, ms + 400),
	    8000 + PLANE_PACE_MARGIN_MS - 400);
	/* Never longer than the header says. */
	cr_assert_eq(plane_pace_ms(0, now + 5, ms, ms - 100, ms), 5000);
	cr_assert_eq(plane_pace_ms(0, now + 5, ms, ms - 1000, ms),
	    4000 + PLANE_PACE_MARGIN_MS);
	/* A reset already passed, and an absurd one. */
	cr_assert_eq(plane_pace_ms(0, now, ms, -1, ms), 0);
	cr_assert_eq(plane_pace_ms(0, now - 5, ms, ms - 1000, ms), 0);
	cr_assert_eq(plane_pace_ms(0, now + 10000000, ms, -1, ms),
	    HTTP_RETRY_AFTER_MAX * 1000);
}

/* ---- projects from JSON ----------------------------------------------- */

Test(plane_project, from_json_takes_id_identifier_and_name)
{
	cJSON *o = cJSON_Parse("{\"id\": \"8fabaa63-fae8-4d65-ad2e-01014786b321\","
	    " \"identifier\": \"WEB\", \"name\": \"Website \xc3\xa9\","
	    " \"emoji\": null, \"network\": 2}");
	struct plane_project p;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(plane_project_from_json(o, &p, err), CPB_OK, "%s", err);
	cr_assert_str_eq(p.id, "8fabaa63-fae8-4d65-ad2e-01014786b321");
	cr_assert_str_eq(p.identifier, "WEB");
	cr_assert_str_eq(p.name, "Website \xc3\xa9");
	plane_project_free(&p);
	cr_assert_null(p.id);
	cJSON_Delete(o);
}

static void
assert_bad_project(const char *json, const char *why)
{
	cJSON *o = cJSON_Parse(json);
	struct plane_project p;
	char err[CPB_ERRMSG_MAX] = "";

	cr_assert_eq(plane_project_from_json(o, &p, err), CPB_ERR_INVALID, "%s",
	    json);
	cr_assert(strstr(err, why) != NULL, "%s: %s", json, err);
	cr_assert_null(p.id);
	cr_assert_null(p.identifier);
	cr_assert_null(p.name);
	cJSON_Delete(o);
}

Test(plane_project, from_json_rejects_what_is_not_a_project)
{
	assert_bad_project("\"p1\"", "not a JSON object");
	assert_bad_project("{\"identifier\": \"WEB\", \"name\": \"W\"}",
	    "project.id");
	assert_bad_project("{\"id\": \"p1/../x\", \"identifier\": \"WEB\","
	    " \"name\": \"W\"}", "project.id");
	assert_bad_project("{\"id\": \"p1\", \"name\": \"W\"}",
	    "project.identifier");
	assert_bad_project("{\"id\": \"p1\", \"identifier\": \"WEB\","
	    " \"name\": 5}", "project.name");
	assert_bad_project("{\"id\": \"p1\", \"identifier\": \"WEB\","
	    " \"name\": \"a\\nb\"}", "project.name: control characters");
	assert_bad_project("{\"id\": \"p1\", \"identifier\": \"WEB\","
	    " \"name\": \"a\xc3\"}", "invalid UTF-8");
	assert_bad_project("{\"id\": \"p1\", \"identifier\": \"\","
	    " \"name\": \"W\"}", "project.identifier: empty");
}

/* ---- client construction ---------------------------------------------- */

static struct cpb_config
test_config(const char *base, const char *token, const char *slug)
{
	struct cpb_config cfg = {
		.plane_base_url = (char *)base,
		.plane_api_token = (char *)token,
		.plane_workspace_slug = (char *)slug,
		.http_timeout_seconds = 20,
		.http_connect_timeout_seconds = 5,
		.retry_attempts = 3,
		.retry_min_ms = 10,
		.retry_max_ms = 40,
		.rate_limit_max_wait_seconds = 1,
		.tls_verify = true,
	};

	return cfg;
}

static struct http_client *
test_http_client(void)
{
	struct http_client_opts opts = {
		.timeout_seconds = 20, .connect_timeout_seconds = 5,
		.tls_verify = true,
	};
	struct http_client *h = NULL;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_client_new(&h, &opts, err), CPB_OK, "%s", err);
	return h;
}

static void
assert_bad_config(const char *base, const char *token, const char *slug,
    const char *why)
{
	struct cpb_config cfg = test_config(base, token, slug);
	struct http_client *h = test_http_client();
	struct plane_client *pc = (struct plane_client *)1;
	char err[CPB_ERRMSG_MAX] = "";

	cr_assert_eq(plane_client_new(&pc, &cfg, h, err), CPB_ERR_INVALID);
	cr_assert_null(pc);
	cr_assert(strstr(err, why) != NULL, "%s", err);
	cr_assert_null(strstr(err, "s3cret"), "%s", err);
	http_client_free(h);
}

Test(plane_client, rejects_incomplete_configuration)
{
	assert_bad_config(NULL, TOKEN, SLUG, "PLANE_BASE_URL");
	assert_bad_config("/api/v1/", TOKEN, SLUG, "PLANE_BASE_URL");
	assert_bad_config("http://x", NULL, SLUG, "PLANE_API_TOKEN");
	assert_bad_config("http://x", "", SLUG, "PLANE_API_TOKEN");
	assert_bad_config("http://x", "s3cret\r\nX-Evil: 1", SLUG,
	    "PLANE_API_TOKEN: contains control characters");
	assert_bad_config("http://x", TOKEN, "", "PLANE_WORKSPACE_SLUG");
}

Test(plane_client, page_size_is_bounded_by_plane)
{
	struct cpb_config cfg = test_config("http://x", TOKEN, SLUG);
	struct http_client *h = test_http_client();
	struct plane_client *pc;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(plane_client_new(&pc, &cfg, h, err), CPB_OK, "%s", err);
	cr_assert_eq(plane_client_set_page_size(pc, 0, err), CPB_ERR_INVALID);
	cr_assert_eq(plane_client_set_page_size(pc, 1001, err), CPB_ERR_INVALID);
	cr_assert(strstr(err, "1..1000") != NULL, "%s", err);
	cr_assert_eq(plane_client_set_page_size(pc, 1, err), CPB_OK);
	cr_assert_eq(plane_client_set_page_size(pc, 1000, err), CPB_OK);
	plane_client_free(pc);
	http_client_free(h);
}

static enum cpb_err
never_called(const struct plane_project *p, void *arg)
{
	(void)p;
	(void)arg;
	cr_assert_fail("no project can arrive");
	return CPB_OK;
}

Test(plane_client, an_unreachable_plane_is_a_network_error_after_retries)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char base[64], err[CPB_ERRMSG_MAX];
	struct cpb_config c;
	struct http_client *h = test_http_client();
	struct plane_client *p;

	/* A port nothing listens on: bound, then closed. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	c = test_config(base, TOKEN, SLUG);
	cr_assert_eq(plane_client_new(&p, &c, h, err), CPB_OK);
	cr_assert_eq(plane_list_projects(p, never_called, NULL, err),
	    CPB_ERR_NETWORK);
	/* The reason first, then the request (tests/integration/test_faults.c). */
	cr_assert(strncmp(err, "Plane unreachable (projects (page 1)): ", 39) ==
	    0 && strstr(err, "(GET http://127.0.0.1:") != NULL, "%s", err);
	cr_assert_null(strstr(err, TOKEN), "%s", err);
	cr_assert_eq(http_request_count(h), 3, "retry_attempts = 3");
	plane_client_free(p);
	http_client_free(h);
}

/* ---- the simulator ---------------------------------------------------- */

static pid_t sim_pid = -1;
static int sim_out = -1;
static char sim_base[64];
static struct http_client *ctl;		/* for /_sim/ and raw API reads */
static struct http_client *hc;		/* the plane client's transport */
static struct plane_client *pc;
static struct cpb_config cfg;

static long
sim_read_port(int fd)
{
	char line[64];
	size_t n = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (n < sizeof(line) - 1) {
		if (poll(&pfd, 1, 20000) != 1 || read(fd, line + n, 1) != 1)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	if (strncmp(line, "PORT=", 5) != 0)
		return -1;
	return strtol(line + 5, NULL, 10);
}

/* Start the simulator with up to four extra arguments (NULL-terminated). */
static void
sim_start(const char *a1, const char *a2, const char *a3, const char *a4)
{
	const char *srcdir = getenv("CPB_SRCDIR");
	char sim[512], err[CPB_ERRMSG_MAX];
	int fds[2];
	long port;

	snprintf(sim, sizeof(sim), "%s/tests/sim/plane_sim.py",
	    srcdir != NULL ? srcdir : ".");
	cr_assert_eq(access(sim, R_OK), 0, "no simulator at %s", sim);
	cr_assert_eq(pipe(fds), 0);
	sim_pid = fork();
	cr_assert_neq(sim_pid, -1);
	if (sim_pid == 0) {
		/* Dies with the test process, even one that crashed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/usr/bin/python3", "python3", sim, "--port", "0",
		    "--token", TOKEN, "--slug", SLUG, a1, a2, a3, a4,
		    (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	sim_out = fds[0];
	port = sim_read_port(sim_out);
	cr_assert_gt(port, 0, "the simulator did not start");
	snprintf(sim_base, sizeof(sim_base), "http://127.0.0.1:%ld", port);
	cfg = test_config(sim_base, TOKEN, SLUG);
	ctl = test_http_client();
	hc = test_http_client();
	cr_assert_eq(plane_client_new(&pc, &cfg, hc, err), CPB_OK, "%s", err);
}

static void
sim_stop(void)
{
	plane_client_free(pc);
	http_client_free(hc);
	http_client_free(ctl);
	pc = NULL;
	hc = ctl = NULL;
	if (sim_pid > 0) {
		kill(sim_pid, SIGKILL);
		waitpid(sim_pid, NULL, 0);
		sim_pid = -1;
	}
	if (sim_out >= 0) {
		close(sim_out);
		sim_out = -1;
	}
}

static void
sim_start_big(void)
{
	sim_start("--generate", "2,2500", NULL, NULL);
}

static void
sim_start_small(void)
{
	sim_start("--generate", "1,50", NULL, NULL);
}

static void
sim_start_sample(void)
{
	const char *srcdir = getenv("CPB_SRCDIR");
	static char fixture[512];

	snprintf(fixture, sizeof(fixture), "%s/tests/sim/sample_workspace.json",
	    srcdir != NULL ? srcdir : ".");
	sim_start("--fixture", fixture, NULL, NULL);
}

/* A request to the simulator outside the client under test. */
static cJSON *
sim_call(const char *method, const char *path, const char *body, bool key)
{
	const char *hdrs[] = { "Content-Type: application/json",
	    key ? "X-Api-Key: " TOKEN : NULL, NULL };
	char url[512];
	struct http_request req = { .method = method, .url = url,
	    .headers = hdrs, .body = body, .body_len = body ? strlen(body) : 0 };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];
	cJSON *root;

	snprintf(url, sizeof(url), "%s%s", sim_base, path);
	cr_assert_eq(http_perform(ctl, &req, &resp, err), CPB_OK, "%s", err);
	cr_assert_eq(resp.status, 200, "%s %s: %ld %s", method, path,
	    resp.status, resp.body);
	root = cJSON_ParseWithLength(resp.body, resp.body_len);
	cr_assert_not_null(root);
	http_response_free(&resp);
	return root;
}

static void
sim_post(const char *path, const char *body)
{
	cJSON_Delete(sim_call("POST", path, body, false));
}

/* The id of project number `i` in the simulator's summary. */
static void
sim_project_id(int i, char *out, size_t size)
{
	cJSON *s = sim_call("GET", "/_sim/summary", NULL, false);
	const cJSON *p = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(s, "projects"), i);

	cr_assert_not_null(p);
	snprintf(out, size, "%s",
	    cJSON_GetObjectItemCaseSensitive(p, "id")->valuestring);
	cJSON_Delete(s);
}

/* The API requests the simulator saw, of one kind, as "STATUS TARGET". */
static int
sim_requests(const char *kind, char lines[][320], int max)
{
	cJSON *st = sim_call("GET", "/_sim/stats", NULL, false);
	const cJSON *r;
	int n = 0;

	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "recent")) {
		if (strcmp(cJSON_GetObjectItemCaseSensitive(r, "kind")->valuestring,
		    kind) != 0)
			continue;
		cr_assert_lt(n, max);
		snprintf(lines[n++], 320, "%d %s",
		    cJSON_GetObjectItemCaseSensitive(r, "status")->valueint,
		    cJSON_GetObjectItemCaseSensitive(r, "path")->valuestring);
	}
	cJSON_Delete(st);
	return n;
}

/* What a listing delivered. */
struct seen {
	int	 n;
	int	 stop_at;		/* return CPB_ERR_IO at this count; 0 never */
	char	 ids[6000][40];
	int64_t	 updated[6000];
	int	 with_date;
	int	 expanded;		/* had state group, project identifier */
};

static enum cpb_err
on_issue(const struct plane_issue *issue, void *arg)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, 6000);
	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", issue->id);
	s->updated[s->n] = issue->updated_at_us;
	if (issue->target_date.year != 0)
		s->with_date++;
	if (issue->state_group != PLANE_GROUP_UNKNOWN &&
	    issue->project_identifier != NULL)
		s->expanded++;
	s->n++;
	return s->stop_at != 0 && s->n == s->stop_at ? CPB_ERR_IO : CPB_OK;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
distinct_ids(struct seen *s)
{
	static char sorted[6000][40];
	int i, d = 0;

	memcpy(sorted, s->ids, sizeof(sorted));
	qsort(sorted, (size_t)s->n, sizeof(sorted[0]), cmp_id);
	for (i = 0; i < s->n; i++)
		if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
			d++;
	return d;
}

static struct seen *
seen_new(void)
{
	struct seen *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	return s;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- projects and issues, 2 × 2500 ------------------------------------ */

TestSuite(plane_big, .init = sim_start_big, .fini = sim_stop, .timeout = 60);

struct projects_seen {
	int	 n;
	char	 ident[8][16];
	char	 name[8][32];
};

static enum cpb_err
on_project(const struct plane_project *p, void *arg)
{
	struct projects_seen *ps = arg;

	cr_assert_lt(ps->n, 8);
	snprintf(ps->ident[ps->n], sizeof(ps->ident[0]), "%s", p->identifier);
	snprintf(ps->name[ps->n], sizeof(ps->name[0]), "%s", p->name);
	ps->n++;
	return CPB_OK;
}

Test(plane_big, lists_the_projects_in_one_request)
{
	struct projects_seen ps = { 0 };
	char err[CPB_ERRMSG_MAX], req[4][320];

	cr_assert_eq(plane_list_projects(pc, on_project, &ps, err), CPB_OK,
	    "%s", err);
	cr_assert_eq(ps.n, 2);
	/* Plane's order: newest first. */
	cr_assert_str_eq(ps.ident[0], "MOB");
	cr_assert_str_eq(ps.name[0], "Mobile App");
	cr_assert_str_eq(ps.ident[1], "WEB");
	cr_assert_str_eq(ps.name[1], "Website");
	cr_assert_eq(http_request_count(hc), 1);
	cr_assert_eq(sim_requests("projects", req, 4), 1);
	cr_assert_str_eq(req[0],
	    "200 /api/v1/workspaces/sim-workspace/projects/?per_page=1000");
}

Test(plane_big, lists_2500_issues_in_three_pages_each_once)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX], req[8][320], want[320];
	int n;

	sim_project_id(0, pid, sizeof(pid));
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK,
	    "%s", err);
	cr_assert_eq(s->n, 2500);
	cr_assert_eq(distinct_ids(s), 2500);
	cr_assert_eq(s->expanded, 2500, "expand=state,labels,assignees,project");
	cr_assert_eq(s->with_date, 1981, "the summary's visible_with_target_date");
	cr_assert_eq(http_request_count(hc), 3);
	n = sim_requests("issues", req, 8);
	cr_assert_eq(n, 3);
	snprintf(want, sizeof(want), "200 /api/v1/workspaces/sim-workspace/"
	    "projects/%s/issues/?per_page=1000&expand=state,labels,assignees,"
	    "project", pid);
	cr_assert_str_eq(req[0], want);
	cr_assert(strncmp(req[1], want, strlen(want)) == 0);
	cr_assert_str_eq(req[1] + strlen(want), "&cursor=1000:1:0");
	cr_assert_str_eq(req[2] + strlen(want), "&cursor=1000:2:0");
	free(s);
}

Test(plane_big, server_error_on_page_two_fails_after_page_one)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];

	sim_project_id(0, pid, sizeof(pid));
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"page\": 1,"
	    " \"status\": 500, \"times\": -1}");
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err),
	    CPB_ERR_HTTP);
	cr_assert_eq(s->n, 1000, "page one was delivered");
	cr_assert(strstr(err, "(page 2)") != NULL, "%s", err);
	cr_assert(strstr(err, "500 after 3 attempts") != NULL, "%s", err);
	cr_assert(strstr(err, "Something went wrong") != NULL, "%s", err);
	cr_assert_eq(http_request_count(hc), 1 + 3);
	free(s);
}

Test(plane_big, a_passing_503_is_retried_and_the_listing_completes)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];

	sim_project_id(1, pid, sizeof(pid));
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"page\": 1,"
	    " \"status\": 503, \"times\": 2}");
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK,
	    "%s", err);
	cr_assert_eq(s->n, 2500);
	cr_assert_eq(distinct_ids(s), 2500);
	cr_assert_eq(http_request_count(hc), 3 + 2);
	free(s);
}

Test(plane_big, a_429_storm_is_waited_out)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX], req[16][320];
	double t0, dt;
	int n, i, n429 = 0;

	sim_project_id(0, pid, sizeof(pid));
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"status\": 429,"
	    " \"times\": 3, \"retry_after\": 1}");
	t0 = now_s();
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK,
	    "%s", err);
	dt = now_s() - t0;
	cr_assert_eq(s->n, 2500);
	cr_assert_eq(distinct_ids(s), 2500);
	cr_assert(dt >= 2.9 && dt < 10.0, "took %.2f s", dt);
	n = sim_requests("issues", req, 16);
	for (i = 0; i < n; i++)
		n429 += strncmp(req[i], "429 ", 4) == 0;
	cr_assert_eq(n429, 3);
	cr_assert_eq(n, 6);
	free(s);
}

Test(plane_big, a_repeating_cursor_ends_the_listing_as_incomplete)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];

	sim_project_id(0, pid, sizeof(pid));
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"page\": 1,"
	    " \"status\": 200, \"times\": -1, \"body\": {\"results\":"
	    " [{\"id\": \"bad\"}], \"next_page_results\": true,"
	    " \"next_cursor\": \"1000:1:0\"}}");
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err),
	    CPB_ERR_INCOMPLETE);
	cr_assert(strstr(err, "cursor '1000:1:0' repeats") != NULL, "%s", err);
	cr_assert_eq(s->n, 1000);
	cr_assert_eq(http_request_count(hc), 2);
	free(s);
}

/* ---- small pages, pacing, time zones: 1 × 50 -------------------------- */

TestSuite(plane_small, .init = sim_start_small, .fini = sim_stop,
    .timeout = 60);

Test(plane_small, pages_of_seven_cross_every_boundary)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX], req[16][320];

	sim_project_id(0, pid, sizeof(pid));
	cr_assert_eq(plane_client_set_page_size(pc, 7, err), CPB_OK);
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK,
	    "%s", err);
	cr_assert_eq(s->n, 50);
	cr_assert_eq(distinct_ids(s), 50);
	cr_assert_eq(http_request_count(hc), 8);	/* 7 × 7 + 1 */
	cr_assert_eq(sim_requests("issues", req, 16), 8);
	cr_assert(strstr(req[7], "?per_page=7&expand=state,labels,assignees,"
	    "project&cursor=7:7:0") != NULL, "%s", req[7]);
	free(s);
}

Test(plane_small, an_exact_multiple_needs_no_extra_request)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];

	sim_project_id(0, pid, sizeof(pid));
	cr_assert_eq(plane_client_set_page_size(pc, 10, err), CPB_OK);
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK,
	    "%s", err);
	cr_assert_eq(s->n, 50);
	cr_assert_eq(distinct_ids(s), 50);
	cr_assert_eq(http_request_count(hc), 5);
	free(s);
}

Test(plane_small, a_truncated_page_is_fetched_again)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX], req[16][320];

	sim_project_id(0, pid, sizeof(pid));
	/* Half the body, then the connection closes (curl's error 18). */
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"page\": 1,"
	    " \"truncate\": true}");
	cr_assert_eq(plane_client_set_page_size(pc, 10, err), CPB_OK);
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK,
	    "%s", err);
	cr_assert_eq(s->n, 50);
	cr_assert_eq(distinct_ids(s), 50);
	cr_assert_eq(http_request_count(hc), 5 + 1);
	cr_assert_eq(sim_requests("issues", req, 16), 6);
	cr_assert_str_eq(req[1], req[2], "page 2 asked for again");
	free(s);
}

Test(plane_small, what_remains_is_spent_without_waiting_or_429)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];
	double t0, dt;
	cJSON *st;

	sim_project_id(0, pid, sizeof(pid));
	/* Five requests allowed, five pages needed: remaining 4, 3, 2, 1, 0
	   and no reason to wait before any of them. */
	sim_post("/_sim/rate_limit", "{\"per_minute\": 5}");
	cr_assert_eq(plane_client_set_page_size(pc, 10, err), CPB_OK);
	t0 = now_s();
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK,
	    "%s", err);
	dt = now_s() - t0;
	cr_assert_eq(s->n, 50);
	cr_assert(dt < 1.5, "took %.2f s", dt);
	st = sim_call("GET", "/_sim/stats?recent=0", NULL, false);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(st, "rate_limited")->valueint,
	    0);
	cJSON_Delete(st);
	free(s);
}

Test(plane_small, plenty_remaining_means_no_waiting)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];
	double t0;

	sim_project_id(0, pid, sizeof(pid));
	cr_assert_eq(plane_client_set_page_size(pc, 10, err), CPB_OK);
	t0 = now_s();
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_OK);
	cr_assert_lt(now_s() - t0, 0.9);
	free(s);
}

Test(plane_small, an_unreadable_issue_is_skipped_and_the_listing_incomplete)
{
	struct seen *s = seen_new();
	char pid[64], path[256], err[CPB_ERRMSG_MAX], *fault;
	cJSON *page, *rule, *results, *mixed;

	sim_project_id(0, pid, sizeof(pid));
	/* A real page of three, with a broken issue put in the middle. */
	snprintf(path, sizeof(path), "/api/v1/workspaces/" SLUG "/projects/%s/"
	    "issues/?per_page=3&expand=state,labels,assignees,project", pid);
	page = sim_call("GET", path, NULL, true);
	results = cJSON_GetObjectItemCaseSensitive(page, "results");
	mixed = cJSON_CreateArray();
	/* (cJSON 1.7.15's InsertItemInArray refuses parsed arrays.) */
	cJSON_AddItemToArray(mixed, cJSON_DetachItemFromArray(results, 0));
	cJSON_AddItemToArray(mixed,
	    cJSON_Parse("{\"id\": \"broken-1\", \"name\": 7}"));
	while (cJSON_GetArraySize(results) > 0)
		cJSON_AddItemToArray(mixed,
		    cJSON_DetachItemFromArray(results, 0));
	cJSON_ReplaceItemInObjectCaseSensitive(page, "results", mixed);
	cr_assert_eq(cJSON_GetArraySize(mixed), 4);
	cJSON_ReplaceItemInObjectCaseSensitive(page, "next_page_results",
	    cJSON_CreateFalse());
	rule = cJSON_CreateObject();
	cJSON_AddStringToObject(rule, "path_regex", "/issues/");
	cJSON_AddNumberToObject(rule, "status", 200);
	cJSON_AddItemToObject(rule, "body", page);
	fault = cJSON_PrintUnformatted(rule);
	sim_post("/_sim/faults", fault);
	free(fault);
	cJSON_Delete(rule);

	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err),
	    CPB_ERR_INCOMPLETE, "%s", err);
	cr_assert_eq(s->n, 3, "the three good issues still arrive");
	cr_assert(strstr(err, "1 of issues of project") != NULL, "%s", err);
	cr_assert(strstr(err, "broken-1: issue.") != NULL, "%s", err);
	free(s);
}

Test(plane_small, times_in_the_users_zone_are_normalised_to_utc)
{
	struct seen *z = seen_new(), *ist = seen_new();
	char pid[64], path[256], err[CPB_ERRMSG_MAX];
	const cJSON *first;
	cJSON *page;
	int i;

	sim_project_id(0, pid, sizeof(pid));
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, z, err), CPB_OK, "%s",
	    err);
	sim_post("/_sim/tz", "{\"tz\": \"+05:30\"}");
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, ist, err), CPB_OK,
	    "%s", err);

	/* The wire really carried +05:30 ... */
	snprintf(path, sizeof(path), "/api/v1/workspaces/" SLUG "/projects/%s/"
	    "issues/?per_page=1", pid);
	page = sim_call("GET", path, NULL, true);
	first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(page,
	    "results"), 0);
	cr_assert(strstr(cJSON_GetObjectItemCaseSensitive(first,
	    "updated_at")->valuestring, "+05:30") != NULL);
	cJSON_Delete(page);

	/* ... and every instant came out the same as in UTC. */
	cr_assert_eq(z->n, 50);
	cr_assert_eq(ist->n, 50);
	for (i = 0; i < 50; i++) {
		cr_assert_str_eq(z->ids[i], ist->ids[i]);
		cr_assert_gt(z->updated[i], 0);
		cr_assert_eq(z->updated[i], ist->updated[i], "issue %s",
		    z->ids[i]);
	}
	free(z);
	free(ist);
}

/* ---- errors and single reads: 1 × 50 ----------------------------------- */

Test(plane_small, a_401_says_to_set_the_token)
{
	struct projects_seen ps = { 0 };
	char err[CPB_ERRMSG_MAX];

	sim_post("/_sim/faults", "{\"path_regex\": \"/projects/\", \"status\": 401,"
	    " \"body\": {\"detail\": \"Authentication credentials were not "
	    "provided.\"}}");
	cr_assert_eq(plane_list_projects(pc, on_project, &ps, err), CPB_ERR_AUTH);
	cr_assert_str_eq(err, "Plane rejected the request (401): no API key "
	    "sent — set PLANE_API_TOKEN");
	cr_assert_eq(http_request_count(hc), 1);
}

Test(plane_small, a_base_url_with_api_v1_and_slash_is_normalised)
{
	char base[96];
	struct cpb_config c2;
	struct plane_client *pc2;
	char name[64], err[CPB_ERRMSG_MAX];

	snprintf(base, sizeof(base), "%s/api/v1/", sim_base);
	c2 = test_config(base, TOKEN, SLUG);
	cr_assert_eq(plane_client_new(&pc2, &c2, hc, err), CPB_OK);
	cr_assert_eq(plane_whoami(pc2, name, sizeof(name), err), CPB_OK, "%s",
	    err);
	cr_assert_str_eq(name, "ann");
	plane_client_free(pc2);
}

Test(plane_small, a_callback_error_stops_the_listing_with_its_code)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];

	s->stop_at = 5;
	sim_project_id(0, pid, sizeof(pid));
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_ERR_IO);
	cr_assert_eq(s->n, 5);
	cr_assert(strstr(err, "stopped by the caller") != NULL, "%s", err);
	cr_assert_eq(http_request_count(hc), 1);
	free(s);
}

Test(plane_small, a_cursor_of_other_characters_is_escaped)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX], req[8][320];
	int n;

	sim_project_id(0, pid, sizeof(pid));
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"page\": 0,"
	    " \"status\": 200, \"body\": {\"results\": [],"
	    " \"next_page_results\": true, \"next_cursor\": \"a b&c=d\"}}");
	/* An empty page that announces more is a listing cut short. */
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err),
	    CPB_ERR_INCOMPLETE);
	cr_assert(strstr(err, "empty") != NULL, "%s", err);
	cJSON_Delete(sim_call("DELETE", "/_sim/faults", NULL, false));
	/* A non-empty one: its cursor goes out escaped (and is refused). */
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"page\": 0,"
	    " \"status\": 200, \"body\": {\"results\": [{\"id\": \"bad\"}],"
	    " \"next_page_results\": true, \"next_cursor\": \"a b&c=d\"}}");
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_ERR_HTTP);
	cr_assert(strstr(err, "Invalid cursor parameter.") != NULL, "%s", err);
	n = sim_requests("issues", req, 8);
	cr_assert_eq(n, 3);
	cr_assert(strstr(req[2], "&cursor=a%20b%26c%3Dd") != NULL, "%s", req[2]);
	cr_assert_eq(s->n, 0);
	free(s);
}

Test(plane_small, a_missing_slash_redirect_is_reported_not_followed)
{
	struct projects_seen ps = { 0 };
	char err[CPB_ERRMSG_MAX];

	sim_post("/_sim/faults", "{\"path_regex\": \"/projects/\", \"status\": 301,"
	    " \"body\": \"\", \"headers\": {\"Location\": \"https://elsewhere/\"}}");
	cr_assert_eq(plane_list_projects(pc, on_project, &ps, err),
	    CPB_ERR_HTTP);
	cr_assert(strstr(err, "301, a redirect to https://elsewhere/ — check "
	    "PLANE_BASE_URL") != NULL, "%s", err);
	cr_assert_eq(http_request_count(hc), 1);
}

Test(plane_small, an_html_answer_is_a_parse_error)
{
	struct projects_seen ps = { 0 };
	char err[CPB_ERRMSG_MAX];

	sim_post("/_sim/faults", "{\"path_regex\": \"/projects/\", \"status\": 200,"
	    " \"body\": \"<html>login</html>\", \"content_type\": \"text/html\"}");
	cr_assert_eq(plane_list_projects(pc, on_project, &ps, err),
	    CPB_ERR_PARSE);
	cr_assert(strstr(err, "not JSON (Content-Type text/html") != NULL, "%s",
	    err);
}

Test(plane_small, a_wrong_token_says_what_to_fix)
{
	struct cpb_config bad = test_config(sim_base, "plane_api_wrongwrongwrong",
	    SLUG);
	struct plane_client *wrong;
	struct projects_seen ps = { 0 };
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(plane_client_new(&wrong, &bad, hc, err), CPB_OK);
	cr_assert_eq(plane_list_projects(wrong, on_project, &ps, err),
	    CPB_ERR_AUTH);
	cr_assert_str_eq(err, "Plane API token invalid or lacking access to "
	    "workspace 'sim-workspace' (403: Given API token is not valid) — "
	    "check PLANE_API_TOKEN and PLANE_WORKSPACE_SLUG");
	cr_assert_eq(ps.n, 0);
	/* Not retried. */
	cr_assert_eq(http_request_count(hc), 1);
	plane_client_free(wrong);
}

Test(plane_small, a_wrong_workspace_says_what_to_fix)
{
	struct cpb_config bad = test_config(sim_base, TOKEN, "other-ws");
	struct plane_client *wrong;
	struct projects_seen ps = { 0 };
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(plane_client_new(&wrong, &bad, hc, err), CPB_OK);
	cr_assert_eq(plane_list_projects(wrong, on_project, &ps, err),
	    CPB_ERR_AUTH);
	cr_assert_str_eq(err, "Plane API token invalid or lacking access to "
	    "workspace 'other-ws' (403: You do not have permission to perform "
	    "this action.) — check PLANE_API_TOKEN and PLANE_WORKSPACE_SLUG");
	plane_client_free(wrong);
}

Test(plane_small, endless_429s_end_as_rate_limited)
{
	struct seen *s = seen_new();
	char pid[64], err[CPB_ERRMSG_MAX];

	sim_project_id(0, pid, sizeof(pid));
	sim_post("/_sim/faults", "{\"path_regex\": \"/issues/\", \"status\": 429,"
	    " \"times\": -1, \"retry_after\": 0}");
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err),
	    CPB_ERR_RATE_LIMITED);
	cr_assert(strstr(err, "429") != NULL, "%s", err);
	cr_assert_eq(s->n, 0);
	cr_assert_eq(http_request_count(hc), 1 + 10);
	free(s);
}

Test(plane_small, one_project_and_one_issue_and_who_i_am)
{
	struct plane_project p;
	struct plane_issue issue;
	struct seen *s = seen_new();
	char pid[64], name[64], err[CPB_ERRMSG_MAX];

	sim_project_id(0, pid, sizeof(pid));
	cr_assert_eq(plane_get_project(pc, pid, &p, err), CPB_OK, "%s", err);
	cr_assert_str_eq(p.id, pid);
	cr_assert_str_eq(p.identifier, "WEB");
	plane_project_free(&p);

	s->stop_at = 1;
	cr_assert_eq(plane_list_issues(pc, pid, on_issue, s, err), CPB_ERR_IO);
	cr_assert_eq(plane_get_issue(pc, pid, s->ids[0], &issue, err), CPB_OK,
	    "%s", err);
	cr_assert_str_eq(issue.id, s->ids[0]);
	cr_assert_str_eq(issue.project_identifier, "WEB");
	cr_assert_neq(issue.state_group, PLANE_GROUP_UNKNOWN);
	plane_issue_free(&issue);

	cr_assert_eq(plane_get_issue(pc, pid, NO_SUCH_ID, &issue, err),
	    CPB_ERR_NOT_FOUND);
	cr_assert(strstr(err, "The requested resource does not exist.") != NULL,
	    "%s", err);

	cr_assert_eq(plane_whoami(pc, name, sizeof(name), err), CPB_OK, "%s",
	    err);
	cr_assert_str_eq(name, "ann");
	free(s);
}

/* ---- the sample workspace --------------------------------------------- */

TestSuite(plane_sample, .init = sim_start_sample, .fini = sim_stop,
    .timeout = 60);

static enum cpb_err
count_project_issues(const struct plane_project *p, void *arg)
{
	struct seen *s = arg;
	char err[CPB_ERRMSG_MAX];

	/* Nested listings, as the sync engine does them. */
	return plane_list_issues(pc, p->id, on_issue, s, err);
}

Test(plane_sample, every_visible_issue_of_every_project)
{
	struct seen *s = seen_new();
	cJSON *sum = sim_call("GET", "/_sim/summary", NULL, false);
	const cJSON *p;
	int visible = 0, dated = 0, projects = 0;
	char err[CPB_ERRMSG_MAX];

	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(sum, "projects")) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "archived")) ||
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "deleted")))
			continue;
		projects++;
		visible += cJSON_GetObjectItemCaseSensitive(p,
		    "issues_visible")->valueint;
		dated += cJSON_GetObjectItemCaseSensitive(p,
		    "visible_with_target_date")->valueint;
	}
	cJSON_Delete(sum);
	cr_assert_eq(plane_list_projects(pc, count_project_issues, s, err),
	    CPB_OK, "%s", err);
	cr_assert_gt(visible, 0);
	cr_assert_eq(s->n, visible);
	cr_assert_eq(s->with_date, dated);
	cr_assert_eq(distinct_ids(s), visible);
	cr_assert_eq(http_request_count(hc), 1 + (unsigned long)projects);
	free(s);
}

Test(plane_sample, public_projects_without_membership_are_left_out)
{
	struct projects_seen ps = { 0 };
	char err[CPB_ERRMSG_MAX];
	cJSON *page;
	const cJSON *p;
	int listed = 0, public_listed = 0, i;

	/* Bilal's project, public (network 2): Plane lists it to Ann ... */
	sim_post("/_sim/projects", "{\"identifier\": \"PUB\", \"name\": \"Public\","
	    " \"network\": 2, \"members\": [\"ef196ebe-5d88-4f25-beb3-bf93b17b8ce3\"]}");
	page = sim_call("GET", "/api/v1/workspaces/" SLUG "/projects/", NULL,
	    true);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(page, "results")) {
		listed++;
		if (strcmp(cJSON_GetObjectItemCaseSensitive(p,
		    "identifier")->valuestring, "PUB") == 0 && cJSON_IsFalse(
		    cJSON_GetObjectItemCaseSensitive(p, "is_member")))
			public_listed++;
	}
	cJSON_Delete(page);
	cr_assert_eq(listed, 4);
	cr_assert_eq(public_listed, 1);

	/* ... but its issues would answer 403: the client leaves it out. */
	cr_assert_eq(plane_list_projects(pc, on_project, &ps, err), CPB_OK, "%s",
	    err);
	cr_assert_eq(ps.n, 3);
	for (i = 0; i < ps.n; i++)
		cr_assert_str_neq(ps.ident[i], "PUB");
}
