/*
 * test_health.c - the health, status and metrics documents, compared
 * whole against a store filled with known rows (times fixed through a raw
 * connection), and each alert rule on both sides of its threshold.
 */
#define _XOPEN_SOURCE 700	/* nftw */

#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "config.h"
#include "health.h"
#include "store.h"

/* 2024-05-01T12:00:00Z */
#define T0	1714564800LL

static char tmp[64];
static char db[128];
static struct cpb_config *cfg;
static struct store *st;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void
setup(void)
{
	char dbvar[200], msg[CPB_ERRMSG_MAX] = "";
	char *env[] = {
		(char *)"CALPLANEBOT_CONFIG=/dev/null",
		(char *)"PLANE_BASE_URL=http://127.0.0.1:1",
		(char *)"PLANE_API_TOKEN=t",
		(char *)"PLANE_WORKSPACE_SLUG=acme",
		(char *)"CALDAV_URL=http://127.0.0.1:1/",
		(char *)"SYNC_INTERVAL_SECONDS=300",
		dbvar, NULL,
	};

	snprintf(tmp, sizeof(tmp), "/tmp/cpb-health-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(db, sizeof(db), "%s/state.db", tmp);
	snprintf(dbvar, sizeof(dbvar), "CALPLANEBOT_DB=%s", db);
	cr_assert_eq(config_load(&cfg, env, stderr), CPB_OK);
	cr_assert_eq(cfg->sync_interval_seconds, 300);
	cr_assert_eq(store_open(&st, db, msg), CPB_OK, "%s", msg);
}

static void
teardown(void)
{
	store_close(st);
	config_free(cfg);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(health, .init = setup, .fini = teardown);

static void
raw_exec(const char *sql)
{
	sqlite3 *raw = NULL;

	cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
	sqlite3_busy_timeout(raw, 5000);
	cr_assert_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(raw));
	sqlite3_close(raw);
}

static char *
health(time_t started, time_t now)
{
	struct health_self self = { "1.2.3", started, now };
	char msg[CPB_ERRMSG_MAX] = "", *json = NULL;

	cr_assert_eq(health_json(st, cfg, &self, &json, msg), CPB_OK, "%s",
	    msg);
	cr_assert_not_null(json);
	return json;
}

/* Runs with fixed times: id n started at T0 + n*60 s, took n*100 ms. */
static void
add_runs(const enum store_run_status *status, size_t n)
{
	struct store_run_counts c = { 1, 2, 3, 4, 5, 6 };
	char msg[CPB_ERRMSG_MAX];
	int64_t id;
	size_t i;

	for (i = 0; i < n; i++) {
		cr_assert_eq(store_run_begin(st, "full", &id, msg), CPB_OK);
		if (status[i] != STORE_RUN_RUNNING)
			cr_assert_eq(store_run_finish(st, id, status[i], &c,
			    status[i] == STORE_RUN_OK ? NULL : "[\"boom\"]",
			    msg), CPB_OK, "%s", msg);
	}
	raw_exec("UPDATE runs SET started_at = (1714564800 + id * 60) * 1000,"
	    " ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE"
	    " (1714564800 + id * 60) * 1000 + id * 100 END");
}

static void
probe(const char *service, bool ok, long ms, const char *error)
{
	char msg[CPB_ERRMSG_MAX] = "";

	cr_assert_eq(health_record_probe(st, service, ok, ms, error, msg),
	    CPB_OK, "%s", msg);
	raw_exec("UPDATE meta SET set_at = 1714564900 WHERE key LIKE 'probe %'");
}

static void
bury(const char *delivery, const char *entity, const char *error)
{
	struct store_queue_item it = { .delivery = (char *)delivery,
	    .event = (char *)"issue", .action = (char *)"updated",
	    .entity_id = (char *)entity, .payload = (char *)"{}" };
	char msg[CPB_ERRMSG_MAX];
	bool flag;

	cr_assert_eq(store_queue_push(st, &it, &flag, msg), CPB_OK);
	cr_assert_eq(store_queue_lease(st, 60, &it, msg), CPB_OK);
	cr_assert_eq(store_queue_fail(st, &it, error, 1, 0, &flag, msg),
	    CPB_OK);
	cr_assert(flag);
	store_queue_item_free(&it);
	raw_exec("UPDATE dead_letters SET failed_at = 1714564950000,"
	    " received_at = 1714564940000");
}

static void
queue_n(int n)
{
	char sql[400];

	snprintf(sql, sizeof(sql), "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
	    " SELECT x + 1 FROM c WHERE x < %d) INSERT INTO queue (delivery,"
	    " event, action, entity_id, payload, received_at) SELECT 'q' || x,"
	    " 'issue', 'updated', 'i' || x, '{}', 0 FROM c", n);
	raw_exec(sql);
}

/* ------------------------------------------------------------- documents */

Test(health, empty_store)
{
	char *json = health(T0, T0 + 60);

	cr_assert_str_eq(json, "{\"status\":\"healthy\",\"version\":\"1.2.3\","
	    "\"timestamp\":\"2024-05-01T12:01:00Z\",\"uptime_seconds\":60,"
	    "\"plane_api\":{\"ok\":null,\"checked_at\":null,"
	    "\"latency_ms\":null,\"error\":null},"
	    "\"caldav_server\":{\"ok\":null,\"checked_at\":null,"
	    "\"latency_ms\":null,\"error\":null},"
	    "\"last_sync\":null,\"sync_status\":\"idle\","
	    "\"next_sync_at\":null,\"queue_depth\":0,"
	    "\"dead_letters\":{\"count\":0,\"recent\":[]},"
	    "\"consecutive_failures\":0,\"alerts\":[],\"recent_runs\":[]}");
	free(json);
}

Test(health, filled_store_exact_document)
{
	static const enum store_run_status runs[] = { STORE_RUN_OK,
	    STORE_RUN_PARTIAL, STORE_RUN_RUNNING };
	char *json;

	add_runs(runs, 3);
	probe("plane", true, 120, "ignored when ok");
	probe("caldav", false, -1, "PROPFIND http://dav/: connection refused");
	bury("d-1", "i1", "CalDAV: HTTP 500");
	queue_n(2);
	/* Run 3 says "running" but nobody holds the lock: a crashed run,
	 * left out of last_sync and recent_runs. */
	json = health(T0, T0 + 300);
	cr_assert_str_eq(json, "{\"status\":\"unhealthy\","
	    "\"version\":\"1.2.3\",\"timestamp\":\"2024-05-01T12:05:00Z\","
	    "\"uptime_seconds\":300,"
	    "\"plane_api\":{\"ok\":true,"
	    "\"checked_at\":\"2024-05-01T12:01:40Z\",\"latency_ms\":120,"
	    "\"error\":null},"
	    "\"caldav_server\":{\"ok\":false,"
	    "\"checked_at\":\"2024-05-01T12:01:40Z\",\"latency_ms\":null,"
	    "\"error\":\"PROPFIND http://dav/: connection refused\"},"
	    "\"last_sync\":{\"id\":2,\"started_at\":\"2024-05-01T12:02:00.000Z\","
	    "\"ended_at\":\"2024-05-01T12:02:00.200Z\",\"duration_ms\":200,"
	    "\"status\":\"partial\",\"counts\":{\"created\":1,\"updated\":2,"
	    "\"deleted\":3,\"unchanged\":4,\"skipped\":5,\"failed\":6},"
	    "\"errors\":[\"boom\"]},"
	    "\"sync_status\":\"idle\","
	    "\"next_sync_at\":\"2024-05-01T12:08:00Z\","
	    "\"queue_depth\":2,"
	    "\"dead_letters\":{\"count\":1,\"recent\":[{\"id\":1,"
	    "\"delivery\":\"d-1\",\"event\":\"issue\",\"entity_id\":\"i1\","
	    "\"error\":\"CalDAV: HTTP 500\","
	    "\"failed_at\":\"2024-05-01T12:02:30.000Z\"}]},"
	    "\"consecutive_failures\":1,"
	    "\"alerts\":[{\"code\":\"CALDAV_UNREACHABLE\","
	    "\"severity\":\"critical\",\"message\":\"CalDAV server "
	    "unreachable: PROPFIND http://dav/: connection refused\"},"
	    "{\"code\":\"DEAD_LETTERS\",\"severity\":\"warning\","
	    "\"message\":\"1 deliveries failed too often and wait in the "
	    "dead letters\"}],"
	    "\"recent_runs\":["
	    "{\"id\":1,\"started_at\":\"2024-05-01T12:01:00.000Z\","
	    "\"duration_ms\":100,\"status\":\"ok\",\"created\":1,"
	    "\"updated\":2,\"deleted\":3,\"failed\":6},"
	    "{\"id\":2,\"started_at\":\"2024-05-01T12:02:00.000Z\","
	    "\"duration_ms\":200,\"status\":\"partial\",\"created\":1,"
	    "\"updated\":2,\"deleted\":3,\"failed\":6}]}");
	free(json);
}

Test(health, recent_runs_are_the_last_fifty_oldest_first)
{
	enum store_run_status runs[60];
	cJSON *doc, *arr;
	char *json;
	size_t i;

	for (i = 0; i < 60; i++)
		runs[i] = STORE_RUN_OK;
	add_runs(runs, 60);
	json = health(T0, T0 + 3600);
	doc = cJSON_Parse(json);
	arr = cJSON_GetObjectItem(doc, "recent_runs");
	cr_assert_eq(cJSON_GetArraySize(arr), HEALTH_RECENT_RUNS);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0),
	    "id")->valueint, 11);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 49),
	    "id")->valueint, 60);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc,
	    "last_sync"), "id")->valueint, 60);
	cJSON_Delete(doc);
	free(json);
}

/* ---------------------------------------------------------------- alerts */

/* The alert codes of the document, comma-joined, and its status. */
static void
alerts(time_t started, time_t now, char *codes, size_t size, char *status,
    size_t status_size)
{
	char *json = health(started, now);
	cJSON *doc = cJSON_Parse(json), *a;
	size_t len = 0;

	cr_assert_not_null(doc);
	codes[0] = '\0';
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(doc, "alerts")) {
		len += (size_t)snprintf(codes + len, size - len, "%s%s:%s",
		    len ? "," : "", cJSON_GetObjectItem(a, "code")->valuestring,
		    cJSON_GetObjectItem(a, "severity")->valuestring);
	}
	snprintf(status, status_size, "%s",
	    cJSON_GetObjectItem(doc, "status")->valuestring);
	cJSON_Delete(doc);
	free(json);
}

#define EXPECT_ALERTS(started, now, want_codes, want_status) do {	\
	char c_[512], s_[32];						\
	alerts((started), (now), c_, sizeof(c_), s_, sizeof(s_));	\
	cr_assert_str_eq(c_, (want_codes));				\
	cr_assert_str_eq(s_, (want_status));				\
} while (0)

Test(health, sync_failing_after_more_than_three)
{
	static const enum store_run_status runs[] = { STORE_RUN_OK,
	    STORE_RUN_FAILED, STORE_RUN_PARTIAL, STORE_RUN_FAILED,
	    STORE_RUN_FAILED };

	add_runs(runs, 4);
	EXPECT_ALERTS(T0, T0 + 300, "", "healthy");
	add_runs(runs + 4, 1);
	EXPECT_ALERTS(T0, T0 + 400, "SYNC_FAILING:critical", "unhealthy");
}

Test(health, queue_backlog_above_one_thousand)
{
	queue_n(1000);
	EXPECT_ALERTS(T0, T0 + 60, "", "healthy");
	raw_exec("INSERT INTO queue (delivery, event, action, entity_id,"
	    " payload, received_at) VALUES ('x', 'issue', 'updated', 'x',"
	    " '{}', 0)");
	EXPECT_ALERTS(T0, T0 + 60, "QUEUE_BACKLOG:warning", "degraded");
}

Test(health, slow_api_above_thirty_seconds)
{
	probe("plane", true, 30000, NULL);
	probe("caldav", true, 10, NULL);
	EXPECT_ALERTS(T0, T0 + 60, "", "healthy");
	probe("plane", true, 30001, NULL);
	probe("caldav", true, 45000, NULL);
	EXPECT_ALERTS(T0, T0 + 60, "SLOW_API:warning,SLOW_API:warning",
	    "degraded");
}

Test(health, unreachable_services_are_critical)
{
	probe("plane", false, 5, "Plane unreachable (projects): refused");
	EXPECT_ALERTS(T0, T0 + 60, "PLANE_UNREACHABLE:critical", "unhealthy");
	probe("plane", true, 5, NULL);
	EXPECT_ALERTS(T0, T0 + 60, "", "healthy");
}

Test(health, dead_letters_warn)
{
	bury("d", "i", "e");
	EXPECT_ALERTS(T0, T0 + 60, "DEAD_LETTERS:warning", "degraded");
}

Test(health, sync_stale_after_three_intervals)
{
	static const enum store_run_status ok[] = { STORE_RUN_OK };

	/* Nothing ever ran: stale once the responder is up 3 intervals. */
	EXPECT_ALERTS(T0, T0 + 900, "", "healthy");
	EXPECT_ALERTS(T0, T0 + 901, "SYNC_STALE:warning", "degraded");
	/* Run 1 ok, ended at T0 + 60.1 s. */
	add_runs(ok, 1);
	EXPECT_ALERTS(T0, T0 + 960, "", "healthy");
	EXPECT_ALERTS(T0, T0 + 961, "SYNC_STALE:warning", "degraded");
}

Test(health, sync_stale_when_no_run_ever_succeeded)
{
	static const enum store_run_status failed[] = { STORE_RUN_FAILED };

	add_runs(failed, 1);
	EXPECT_ALERTS(T0 + 10000, T0 + 960, "", "healthy");
	EXPECT_ALERTS(T0 + 10000, T0 + 961, "SYNC_STALE:warning", "degraded");
}

Test(health, alert_order_criticals_first)
{
	static const enum store_run_status runs[] = { STORE_RUN_FAILED,
	    STORE_RUN_FAILED, STORE_RUN_FAILED, STORE_RUN_FAILED };

	add_runs(runs, 4);
	probe("plane", false, 40000, "down");
	probe("caldav", false, -1, "down");
	bury("d", "i", "e");
	queue_n(1001);
	EXPECT_ALERTS(T0, T0 + 5000, "SYNC_FAILING:critical,"
	    "PLANE_UNREACHABLE:critical,CALDAV_UNREACHABLE:critical,"
	    "SYNC_STALE:warning,QUEUE_BACKLOG:warning,DEAD_LETTERS:warning,"
	    "SLOW_API:warning", "unhealthy");
}

Test(health, record_probe_rejects_unknown_service)
{
	char msg[CPB_ERRMSG_MAX];
	char *value = NULL;

	cr_assert_eq(health_record_probe(st, "redis", true, 1, NULL, msg),
	    CPB_ERR_INVALID);
	cr_assert_str_eq(msg, "health: probe service must be plane or caldav");
	cr_assert_eq(health_record_probe(st, NULL, true, 1, NULL, msg),
	    CPB_ERR_INVALID);
	cr_assert_eq(health_record_probe(st, "plane", false, 7, NULL, msg),
	    CPB_OK);
	cr_assert_eq(store_meta_get(st, "probe plane", &value, NULL, msg),
	    CPB_OK);
	cr_assert_str_eq(value, "{\"ok\":false,\"latency_ms\":7,"
	    "\"error\":\"unreachable\"}");
	free(value);
}

/* ---------------------------------------------------------------- status */

Test(health, status_idle_and_running)
{
	static const enum store_run_status runs[] = { STORE_RUN_OK,
	    STORE_RUN_RUNNING };
	struct health_self self = { "1.2.3", T0, T0 + 200 };
	char msg[CPB_ERRMSG_MAX] = "", *json = NULL;
	int fd = -1;

	cr_assert_eq(status_json(st, cfg, &self, &json, msg), CPB_OK, "%s",
	    msg);
	cr_assert_str_eq(json, "{\"status\":\"healthy\",\"last_run\":null,"
	    "\"next_run_at\":null,\"queue_depth\":0,\"running\":false,"
	    "\"running_since\":null}");
	free(json);

	add_runs(runs, 2);
	queue_n(3);
	cr_assert_eq(store_sync_lock(db, &fd, msg), CPB_OK, "%s", msg);
	cr_assert_eq(status_json(st, cfg, &self, &json, msg), CPB_OK, "%s",
	    msg);
	cr_assert_str_eq(json, "{\"status\":\"healthy\",\"last_run\":{"
	    "\"id\":1,\"started_at\":\"2024-05-01T12:01:00.000Z\","
	    "\"ended_at\":\"2024-05-01T12:01:00.100Z\",\"duration_ms\":100,"
	    "\"status\":\"ok\",\"counts\":{\"created\":1,\"updated\":2,"
	    "\"deleted\":3,\"unchanged\":4,\"skipped\":5,\"failed\":6},"
	    "\"errors\":[]},"
	    "\"next_run_at\":\"2024-05-01T12:07:00Z\",\"queue_depth\":3,"
	    "\"running\":true,"
	    "\"running_since\":\"2024-05-01T12:02:00.000Z\"}");
	free(json);
	json = health(T0, T0 + 200);
	cr_assert_not_null(strstr(json, "\"sync_status\":\"running\""), "%s",
	    json);
	free(json);
	store_sync_unlock(fd);

	cr_assert_eq(status_json(st, cfg, &self, &json, msg), CPB_OK);
	cr_assert_not_null(strstr(json, "\"running\":false,"
	    "\"running_since\":null}"), "%s", json);
	free(json);
}

/* --------------------------------------------------------------- metrics */

static char *
metrics(void)
{
	struct health_self self = { "1.2.3", T0, T0 + 60 };
	char msg[CPB_ERRMSG_MAX] = "", *text = NULL;

	cr_assert_eq(metrics_text(st, &self, &text, msg), CPB_OK, "%s", msg);
	cr_assert_not_null(text);
	return text;
}

Test(health, metrics_empty)
{
	char *text = metrics();

	cr_assert_str_eq(text,
	    "# HELP calplanebot_up 1 when the store could be read.\n"
	    "# TYPE calplanebot_up gauge\n"
	    "calplanebot_up 1\n"
	    "# HELP calplanebot_webhooks_total Webhook deliveries received, "
	    "by outcome.\n"
	    "# TYPE calplanebot_webhooks_total counter\n"
	    "# HELP calplanebot_drain_total Queued deliveries settled by "
	    "drainers, by result.\n"
	    "# TYPE calplanebot_drain_total counter\n"
	    "# HELP calplanebot_operations_total Operations applied from "
	    "webhooks, by kind and result.\n"
	    "# TYPE calplanebot_operations_total counter\n"
	    "# HELP calplanebot_sync_duration_seconds Duration of the last "
	    "finished full sync.\n"
	    "# TYPE calplanebot_sync_duration_seconds gauge\n"
	    "# HELP calplanebot_sync_events Events of the last finished full "
	    "sync, by kind.\n"
	    "# TYPE calplanebot_sync_events gauge\n"
	    "# HELP calplanebot_queue_depth Webhook deliveries waiting in the "
	    "queue.\n"
	    "# TYPE calplanebot_queue_depth gauge\n"
	    "calplanebot_queue_depth 0\n"
	    "# HELP calplanebot_dead_letters Deliveries that failed too "
	    "often.\n"
	    "# TYPE calplanebot_dead_letters gauge\n"
	    "calplanebot_dead_letters 0\n"
	    "# HELP calplanebot_last_success_timestamp_seconds When the last "
	    "successful full sync ended (unix time).\n"
	    "# TYPE calplanebot_last_success_timestamp_seconds gauge\n");
	free(text);
}

Test(health, metrics_filled)
{
	static const enum store_run_status runs[] = { STORE_RUN_OK,
	    STORE_RUN_PARTIAL };
	char msg[CPB_ERRMSG_MAX];
	char *text;

	add_runs(runs, 2);
	queue_n(4);
	bury("d", "i", "e");
	cr_assert_eq(store_counter_add(st, "webhooks_total{outcome=\"queued\"}",
	    7, msg), CPB_OK);
	cr_assert_eq(store_counter_add(st,
	    "webhooks_total{outcome=\"rejected\"}", 2, msg), CPB_OK);
	cr_assert_eq(store_counter_add(st,
	    "operations_total{kind=\"create\",result=\"ok\"}", 3, msg), CPB_OK);
	cr_assert_eq(store_counter_add(st, "drain_total{result=\"applied\"}",
	    3, msg), CPB_OK);
	/* Not ours, or not well-formed: left out. */
	cr_assert_eq(store_counter_add(st, "other_total{a=\"b\"}", 1, msg),
	    CPB_OK);
	cr_assert_eq(store_counter_add(st, "webhooks_total{outcome=\"a b\"}",
	    1, msg), CPB_OK);
	text = metrics();
	cr_assert_str_eq(text,
	    "# HELP calplanebot_up 1 when the store could be read.\n"
	    "# TYPE calplanebot_up gauge\n"
	    "calplanebot_up 1\n"
	    "# HELP calplanebot_webhooks_total Webhook deliveries received, "
	    "by outcome.\n"
	    "# TYPE calplanebot_webhooks_total counter\n"
	    "calplanebot_webhooks_total{outcome=\"queued\"} 7\n"
	    "calplanebot_webhooks_total{outcome=\"rejected\"} 2\n"
	    "# HELP calplanebot_drain_total Queued deliveries settled by "
	    "drainers, by result.\n"
	    "# TYPE calplanebot_drain_total counter\n"
	    "calplanebot_drain_total{result=\"applied\"} 3\n"
	    "# HELP calplanebot_operations_total Operations applied from "
	    "webhooks, by kind and result.\n"
	    "# TYPE calplanebot_operations_total counter\n"
	    "calplanebot_operations_total{kind=\"create\",result=\"ok\"} 3\n"
	    "# HELP calplanebot_sync_duration_seconds Duration of the last "
	    "finished full sync.\n"
	    "# TYPE calplanebot_sync_duration_seconds gauge\n"
	    "calplanebot_sync_duration_seconds 0.200\n"
	    "# HELP calplanebot_sync_events Events of the last finished full "
	    "sync, by kind.\n"
	    "# TYPE calplanebot_sync_events gauge\n"
	    "calplanebot_sync_events{kind=\"created\"} 1\n"
	    "calplanebot_sync_events{kind=\"updated\"} 2\n"
	    "calplanebot_sync_events{kind=\"deleted\"} 3\n"
	    "calplanebot_sync_events{kind=\"unchanged\"} 4\n"
	    "calplanebot_sync_events{kind=\"skipped\"} 5\n"
	    "calplanebot_sync_events{kind=\"failed\"} 6\n"
	    "# HELP calplanebot_queue_depth Webhook deliveries waiting in the "
	    "queue.\n"
	    "# TYPE calplanebot_queue_depth gauge\n"
	    "calplanebot_queue_depth 4\n"
	    "# HELP calplanebot_dead_letters Deliveries that failed too "
	    "often.\n"
	    "# TYPE calplanebot_dead_letters gauge\n"
	    "calplanebot_dead_letters 1\n"
	    "# HELP calplanebot_last_success_timestamp_seconds When the last "
	    "successful full sync ended (unix time).\n"
	    "# TYPE calplanebot_last_success_timestamp_seconds gauge\n"
	    "calplanebot_last_success_timestamp_seconds 1714564860.100\n");
	free(text);
}

Test(health, broken_store_is_an_error_not_a_document)
{
	struct health_self self = { "1.2.3", T0, T0 + 60 };
	char msg[CPB_ERRMSG_MAX] = "", *out = (char *)"x";

	raw_exec("DROP TABLE dead_letters");
	cr_assert_eq(health_json(st, cfg, &self, &out, msg), CPB_ERR_IO);
	cr_assert_null(out);
	cr_assert_eq(status_json(st, cfg, &self, &out, msg), CPB_ERR_IO);
	cr_assert_null(out);
	cr_assert_eq(metrics_text(st, &self, &out, msg), CPB_ERR_IO);
	cr_assert_null(out);
	cr_assert_str_eq(msg, "store: prepare: no such table: dead_letters");
}
