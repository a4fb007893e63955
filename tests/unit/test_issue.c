/*
 * test_issue.c - Plane issue JSON (REST expanded, webhook, unexpanded),
 * dates and times, exactly as plane-api.md shows them.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issue.h"

#define T_US	1747058631LL	/* 2025-05-12T14:03:51Z */

static const char *rest_expanded =
    "{\"id\":\"8c0e1111-2222-3333-4444-555555555501\","
    "\"type_id\":null,\"created_at\":\"2025-05-10T09:15:22.481233Z\","
    "\"updated_at\":\"2025-05-12T14:03:51.902114Z\",\"deleted_at\":null,"
    "\"name\":\"Prepare Q2 release notes\","
    "\"description_html\":\"<p>Draft and review.</p>\","
    "\"priority\":\"high\",\"start_date\":\"2025-05-12\","
    "\"target_date\":\"2025-05-16\",\"sequence_id\":42,"
    "\"sort_order\":75535.0,\"completed_at\":null,\"is_draft\":false,"
    "\"project\":{\"id\":\"p1\",\"identifier\":\"WEB\",\"name\":\"Website\","
    "\"cover_image\":null,\"emoji\":null,\"description\":\"\"},"
    "\"workspace\":\"w1\",\"parent\":null,"
    "\"state\":{\"id\":\"s1\",\"name\":\"In Progress\",\"color\":\"#F59E0B\","
    "\"group\":\"started\"},"
    "\"assignees\":[{\"id\":\"u2\",\"first_name\":\"Ann\",\"last_name\":\"Lee\","
    "\"email\":\"ann@x.io\",\"avatar\":\"\",\"avatar_url\":null,"
    "\"display_name\":\"ann\"}],"
    "\"labels\":[{\"id\":\"l1\",\"name\":\"bug\",\"color\":\"#ff4444\"},"
    "{\"id\":\"l2\",\"name\":\"frontend\",\"color\":\"#00ff00\"}]}";

static cJSON *
parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	cr_assert_not_null(j, "bad test JSON: %s", text);
	return j;
}

/* Parse the expanded REST issue with one member replaced (or removed). */
static enum cpb_err
parse_with(const char *member, const char *json_value,
    struct plane_issue *out, char *errmsg)
{
	cJSON *root = parse(rest_expanded);
	enum cpb_err err;

	cJSON_DeleteItemFromObjectCaseSensitive(root, member);
	if (json_value != NULL)
		cJSON_AddItemToObject(root, member, parse(json_value));
	err = plane_issue_from_json(root, out, errmsg);
	cJSON_Delete(root);
	return err;
}

static void
expect_error(const char *member, const char *json_value, const char *msg)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX] = "";

	cr_assert_eq(parse_with(member, json_value, &is, errmsg),
	    CPB_ERR_INVALID, "%s=%s accepted", member, json_value);
	cr_assert_str_eq(errmsg, msg);
	cr_assert_null(is.id);
	cr_assert_null(is.name);
	cr_assert_eq(is.n_labels, 0);
}

/* ------------------------------------------------------------ times */

Test(time, utc_with_microseconds)
{
	int64_t us;

	cr_assert(plane_time_parse("2025-05-12T14:03:51.902114Z", &us));
	cr_assert_eq(us, T_US * 1000000 + 902114);
}

Test(time, zones_normalise_to_utc)
{
	int64_t us;

	cr_assert(plane_time_parse("2025-05-12T19:33:51.902114+05:30", &us));
	cr_assert_eq(us, T_US * 1000000 + 902114);
	cr_assert(plane_time_parse("2025-05-12T06:03:51.902114-08:00", &us));
	cr_assert_eq(us, T_US * 1000000 + 902114);
	cr_assert(plane_time_parse("2025-05-12T19:33:51.902114+0530", &us));
	cr_assert_eq(us, T_US * 1000000 + 902114);
	cr_assert(plane_time_parse("2025-05-12T14:03:51+00:00", &us));
	cr_assert_eq(us, T_US * 1000000);
	/* across a day boundary */
	cr_assert(plane_time_parse("2025-05-13T00:33:51-08:30", &us));
	cr_assert_eq(us, (T_US + 19 * 3600) * 1000000);
}

Test(time, fraction_digits)
{
	int64_t us;

	cr_assert(plane_time_parse("2025-05-12T14:03:51Z", &us));
	cr_assert_eq(us, T_US * 1000000);
	cr_assert(plane_time_parse("2025-05-12T14:03:51.9Z", &us));
	cr_assert_eq(us, T_US * 1000000 + 900000);
	cr_assert(plane_time_parse("2025-05-12T14:03:51.123Z", &us));
	cr_assert_eq(us, T_US * 1000000 + 123000);
	cr_assert(plane_time_parse("2025-05-12T14:03:51.123456789Z", &us));
	cr_assert_eq(us, T_US * 1000000 + 123456);
}

Test(time, epoch_and_before)
{
	int64_t us = 42;

	cr_assert(plane_time_parse("1970-01-01T00:00:00Z", &us));
	cr_assert_eq(us, 0);
	cr_assert(plane_time_parse("1969-12-31T23:59:59Z", &us));
	cr_assert_eq(us, -1000000);
	cr_assert(plane_time_parse("2099-12-31T23:59:59Z", &us));
	cr_assert_eq(us, 4102444799LL * 1000000);
}

Test(time, rejects_bad_input)
{
	static const char *const bad[] = {
		"", "garbage", "2025-05-12", "2025-05-12T14:03:51",
		"2025-13-12T14:03:51Z", "2025-00-12T14:03:51Z",
		"2025-02-30T14:03:51Z", "2023-02-29T00:00:00Z",
		"2025-05-12T24:00:00Z", "2025-05-12T23:60:00Z",
		"2025-05-12T23:59:60Z", "2025-05-12 14:03:51Z",
		"2025-05-12T14:03:51.Z", "2025-05-12T14:03:51.1234567890Z",
		"2025-05-12T14:03:51Zx", "2025-05-12T14:03:51+05:3",
		"2025-05-12T14:03:51+24:00", "2025-05-12T14:03:51+05:60",
		"2025-05-12T14:03:51+5:30", "2025-05-12T14:03:51 +05:30",
		"2025-05-12T4:03:51Z", "25-05-12T14:03:51Z",
		"2025-05-12T14:03:51+05:30:00", "2025-05-12T14:03:51.12a4Z",
		"0000-01-01T00:00:00Z",
	};
	size_t i;
	int64_t us = 7;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(plane_time_parse(bad[i], &us), "accepted %s",
		    bad[i]);
	cr_assert_not(plane_time_parse(NULL, &us));
	cr_assert_eq(us, 7);
}

/* ------------------------------------------------------------ dates */

Test(date, parse_leap_rules)
{
	struct plane_date d = { 0, 0, 0 };

	cr_assert(plane_date_parse("2024-02-29", &d));
	cr_assert_eq(d.year, 2024);
	cr_assert_eq(d.month, 2);
	cr_assert_eq(d.day, 29);
	cr_assert(plane_date_parse("2000-02-29", &d));
	cr_assert_not(plane_date_parse("2023-02-29", &d));
	cr_assert_not(plane_date_parse("1900-02-29", &d));
	cr_assert_not(plane_date_parse("2024-04-31", &d));
	cr_assert(plane_date_parse("2024-12-31", &d));
	cr_assert_eq(d.month, 12);
	cr_assert_eq(d.day, 31);
}

Test(date, parse_requires_exact_form)
{
	static const char *const bad[] = {
		"", "2024-2-29", "2024-02-9", "24-02-29", "2024-02-29x",
		" 2024-02-29", "2024-02-29T00:00:00Z", "2024/02/29",
		"2024-00-10", "2024-13-10", "2024-01-00", "2024-01-32",
		"0000-01-01", "+024-01-01", "2024-0a-01",
	};
	struct plane_date d = { 1, 2, 3 };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(plane_date_parse(bad[i], &d), "accepted %s",
		    bad[i]);
	cr_assert_not(plane_date_parse(NULL, &d));
	cr_assert_eq(d.year, 1);
}

static void
expect_next(int y, int m, int d, int ny, int nm, int nd)
{
	struct plane_date n = plane_date_next((struct plane_date){ y, m, d });

	cr_assert(n.year == ny && n.month == nm && n.day == nd,
	    "%04d-%02d-%02d -> %04d-%02d-%02d", y, m, d, n.year, n.month,
	    n.day);
}

Test(date, next_day_boundaries)
{
	expect_next(2024, 2, 28, 2024, 2, 29);
	expect_next(2024, 2, 29, 2024, 3, 1);
	expect_next(2023, 2, 28, 2023, 3, 1);
	expect_next(2024, 12, 31, 2025, 1, 1);
	expect_next(2099, 12, 31, 2100, 1, 1);
	expect_next(1970, 1, 2, 1970, 1, 3);
	expect_next(2025, 4, 30, 2025, 5, 1);
	expect_next(2025, 5, 30, 2025, 5, 31);
	expect_next(2100, 2, 28, 2100, 3, 1);
}

/* ------------------------------------------------------------ enums, UTF-8 */

Test(enums, priority_round_trip)
{
	static const char *const names[] = {
		"urgent", "high", "medium", "low", "none",
	};
	enum plane_priority p;
	size_t i;

	for (i = 0; i < 5; i++) {
		cr_assert(plane_priority_parse(names[i], &p));
		cr_assert_str_eq(plane_priority_name(p), names[i]);
	}
	cr_assert(plane_priority_parse("urgent", &p));
	cr_assert_eq(p, PLANE_PRIORITY_URGENT);
	cr_assert_not(plane_priority_parse("URGENT", &p));
	cr_assert_not(plane_priority_parse("critical", &p));
	cr_assert_not(plane_priority_parse(NULL, &p));
}

Test(enums, state_groups)
{
	enum plane_state_group g;

	cr_assert(plane_state_group_parse("backlog", &g));
	cr_assert_eq(g, PLANE_GROUP_BACKLOG);
	cr_assert(plane_state_group_parse("unstarted", &g));
	cr_assert_eq(g, PLANE_GROUP_UNSTARTED);
	cr_assert(plane_state_group_parse("started", &g));
	cr_assert_eq(g, PLANE_GROUP_STARTED);
	cr_assert(plane_state_group_parse("completed", &g));
	cr_assert_eq(g, PLANE_GROUP_COMPLETED);
	cr_assert(plane_state_group_parse("cancelled", &g));
	cr_assert_eq(g, PLANE_GROUP_CANCELLED);
	cr_assert(plane_state_group_parse("triage", &g));
	cr_assert_eq(g, PLANE_GROUP_TRIAGE);
	cr_assert_not(plane_state_group_parse("canceled", &g));
	cr_assert_not(plane_state_group_parse("", &g));
}

Test(utf8, validation)
{
	cr_assert(plane_utf8_valid("", 0));
	cr_assert(plane_utf8_valid("测试🎉 עברית 𝕳", strlen("测试🎉 עברית 𝕳")));
	cr_assert_not(plane_utf8_valid("\xc0\x80", 2));		/* overlong NUL */
	cr_assert_not(plane_utf8_valid("\xe0\x80\xaf", 3));	/* overlong '/' */
	cr_assert_not(plane_utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	cr_assert_not(plane_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	cr_assert_not(plane_utf8_valid("a\xe6\xb5", 3));	/* cut short */
	cr_assert_not(plane_utf8_valid("\x80", 1));
	cr_assert_not(plane_utf8_valid("\xff", 1));
	cr_assert(plane_utf8_valid("\xf4\x8f\xbf\xbf", 4));	/* U+10FFFF */
}

/* ------------------------------------------------------------ JSON */

Test(json, rest_expanded_issue)
{
	cJSON *root = parse(rest_expanded);
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(plane_issue_from_json(root, &is, errmsg), CPB_OK, "%s",
	    errmsg);
	cr_assert_str_eq(is.id, "8c0e1111-2222-3333-4444-555555555501");
	cr_assert_str_eq(is.project_id, "p1");
	cr_assert_str_eq(is.project_name, "Website");
	cr_assert_str_eq(is.project_identifier, "WEB");
	cr_assert_eq(is.sequence_id, 42);
	cr_assert_str_eq(is.name, "Prepare Q2 release notes");
	cr_assert_str_eq(is.description_html, "<p>Draft and review.</p>");
	cr_assert_eq(is.priority, PLANE_PRIORITY_HIGH);
	cr_assert_str_eq(is.state_name, "In Progress");
	cr_assert_eq(is.state_group, PLANE_GROUP_STARTED);
	cr_assert_eq(is.target_date.year, 2025);
	cr_assert_eq(is.target_date.month, 5);
	cr_assert_eq(is.target_date.day, 16);
	cr_assert_eq(is.updated_at_us, T_US * 1000000 + 902114);
	cr_assert_eq(is.n_labels, 2);
	cr_assert_str_eq(is.labels[0].id, "l1");
	cr_assert_str_eq(is.labels[0].name, "bug");
	cr_assert_str_eq(is.labels[1].name, "frontend");
	cr_assert_eq(is.n_assignees, 1);
	cr_assert_str_eq(is.assignees[0].id, "u2");
	cr_assert_str_eq(is.assignees[0].display_name, "ann");
	plane_issue_free(&is);
	cr_assert_null(is.id);
	cr_assert_eq(is.n_labels, 0);
	cJSON_Delete(root);
}

Test(json, webhook_shape_project_uuid)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse_with("project",
	    "\"4af1c0de-0000-4000-8000-00000000abcd\"", &is, errmsg), CPB_OK,
	    "%s", errmsg);
	cr_assert_str_eq(is.project_id, "4af1c0de-0000-4000-8000-00000000abcd");
	cr_assert_null(is.project_name);
	cr_assert_null(is.project_identifier);
	cr_assert_eq(is.n_labels, 2);
	plane_issue_free(&is);
}

Test(json, unexpanded_relations_are_skipped)
{
	static const char *text =
	    "{\"id\":\"i1\",\"name\":\"n\",\"sequence_id\":1,\"project\":\"p1\","
	    "\"state\":\"s1\",\"labels\":[\"l1\",\"l2\"],"
	    "\"assignees\":[\"u1\"],\"priority\":\"none\","
	    "\"target_date\":null,\"description_html\":null}";
	cJSON *root = parse(text);
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(plane_issue_from_json(root, &is, errmsg), CPB_OK, "%s",
	    errmsg);
	cr_assert_eq(is.state_group, PLANE_GROUP_UNKNOWN);
	cr_assert_null(is.state_name);
	cr_assert_eq(is.n_labels, 0);
	cr_assert_null(is.labels);
	cr_assert_eq(is.n_assignees, 0);
	cr_assert_eq(is.target_date.year, 0);
	cr_assert_null(is.description_html);
	cr_assert_eq(is.updated_at_us, 0);
	cr_assert_eq(is.priority, PLANE_PRIORITY_NONE);
	plane_issue_free(&is);
	cJSON_Delete(root);
}

Test(json, mixed_label_list_keeps_objects_in_order)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse_with("labels", "[\"l0\",{\"id\":\"l1\",\"name\":\"b\"},"
	    "\"l2\",{\"id\":\"l3\",\"name\":\"a\"}]", &is, errmsg), CPB_OK);
	cr_assert_eq(is.n_labels, 2);
	cr_assert_str_eq(is.labels[0].name, "b");
	cr_assert_str_eq(is.labels[1].name, "a");
	plane_issue_free(&is);
}

Test(json, names_kept_byte_for_byte)
{
	static const char *const names[] = {
		"", "测试🎉", "עברית", "Test\n\r\t<>&\"'", "Test\u200BIssue",
		"Test 𝕳𝖊𝖑𝖑𝖔", "<script>alert('xss')</script>",
	};
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	cJSON *s;
	char *json;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		s = cJSON_CreateString(names[i]);
		json = cJSON_PrintUnformatted(s);
		cr_assert_eq(parse_with("name", json, &is, errmsg), CPB_OK,
		    "%s", errmsg);
		cr_assert_str_eq(is.name, names[i]);
		plane_issue_free(&is);
		free(json);
		cJSON_Delete(s);
	}
}

Test(json, long_name_and_description)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	cJSON *root = parse(rest_expanded);
	char *big = malloc(1024 * 1024 + 1);

	cr_assert_not_null(big);
	memset(big, 'A', 1024 * 1024);
	big[1024 * 1024] = '\0';
	cJSON_ReplaceItemInObjectCaseSensitive(root, "description_html",
	    cJSON_CreateString(big));
	big[1000] = '\0';
	cJSON_ReplaceItemInObjectCaseSensitive(root, "name",
	    cJSON_CreateString(big));
	cr_assert_eq(plane_issue_from_json(root, &is, errmsg), CPB_OK);
	cr_assert_eq(strlen(is.name), 1000);
	cr_assert_eq(strlen(is.description_html), 1024 * 1024);
	plane_issue_free(&is);
	cJSON_Delete(root);
	free(big);
}

Test(json, oversized_description_rejected)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	cJSON *root = parse(rest_expanded);
	char *big = malloc(PLANE_DESCRIPTION_MAX + 2);

	cr_assert_not_null(big);
	memset(big, 'x', PLANE_DESCRIPTION_MAX + 1);
	big[PLANE_DESCRIPTION_MAX + 1] = '\0';
	cJSON_ReplaceItemInObjectCaseSensitive(root, "description_html",
	    cJSON_CreateString(big));
	cr_assert_eq(plane_issue_from_json(root, &is, errmsg), CPB_ERR_INVALID);
	cr_assert_str_eq(errmsg, "issue.description_html: too long "
	    "(4194305 bytes, at most 4194304)");
	cJSON_Delete(root);
	free(big);
}

Test(json, invalid_utf8_rejected)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	cJSON *root = parse(rest_expanded);

	/* cJSON keeps raw bytes, so a bad sequence reaches us as is */
	cJSON_ReplaceItemInObjectCaseSensitive(root, "name",
	    cJSON_CreateString("bad \xc3\x28 byte"));
	cr_assert_eq(plane_issue_from_json(root, &is, errmsg), CPB_ERR_INVALID);
	cr_assert_str_eq(errmsg, "issue.name: not valid UTF-8");
	cJSON_Delete(root);
}

Test(json, name_rules)
{
	expect_error("name", "null", "issue.name: not a string");
	expect_error("name", NULL, "issue.name: missing");
	expect_error("name", "42", "issue.name: not a string");
}

Test(json, id_rules)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	char id[80];

	expect_error("id", NULL, "issue.id: not a string (expected a UUID)");
	expect_error("id", "\"../etc\"", "issue.id: not an id (expected a "
	    "UUID: 1 to 63 of A-Z a-z 0-9 - _)");
	expect_error("id", "\"\"", "issue.id: not an id (expected a "
	    "UUID: 1 to 63 of A-Z a-z 0-9 - _)");
	memset(id, 'a', sizeof(id));
	id[0] = '"';
	memcpy(id + 64, "\"", 2);	/* 63 characters */
	cr_assert_eq(parse_with("id", id, &is, errmsg), CPB_OK);
	cr_assert_eq(strlen(is.id), 63);
	plane_issue_free(&is);
	id[64] = 'a';
	memcpy(id + 65, "\"", 2);	/* 64 characters */
	expect_error("id", id, "issue.id: not an id (expected a "
	    "UUID: 1 to 63 of A-Z a-z 0-9 - _)");
}

Test(json, sequence_id_bounds)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	const char *range = "issue.sequence_id: out of range (expected an "
	    "integer 0..2147483647)";

	cr_assert_eq(parse_with("sequence_id", "0", &is, errmsg), CPB_OK);
	cr_assert_eq(is.sequence_id, 0);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("sequence_id", "2147483647", &is, errmsg),
	    CPB_OK);
	cr_assert_eq(is.sequence_id, 2147483647);
	plane_issue_free(&is);
	expect_error("sequence_id", "-1", range);
	expect_error("sequence_id", "2147483648", range);
	expect_error("sequence_id", "1.5", range);
	expect_error("sequence_id", "1e300", range);
	expect_error("sequence_id", "\"42\"", "issue.sequence_id: not a "
	    "number (expected an integer 0..2147483647)");
	expect_error("sequence_id", NULL, "issue.sequence_id: not a "
	    "number (expected an integer 0..2147483647)");
}

Test(json, priority_rules)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	const char *msg = "issue.priority: unknown priority (expected urgent, "
	    "high, medium, low or none)";

	cr_assert_eq(parse_with("priority", "null", &is, errmsg), CPB_OK);
	cr_assert_eq(is.priority, PLANE_PRIORITY_NONE);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("priority", NULL, &is, errmsg), CPB_OK);
	cr_assert_eq(is.priority, PLANE_PRIORITY_NONE);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("priority", "\"urgent\"", &is, errmsg), CPB_OK);
	cr_assert_eq(is.priority, PLANE_PRIORITY_URGENT);
	plane_issue_free(&is);
	expect_error("priority", "\"critical\"", msg);
	expect_error("priority", "3", msg);
}

Test(json, target_date_rules)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	const char *msg = "issue.target_date: not a date (expected YYYY-MM-DD)";

	cr_assert_eq(parse_with("target_date", "null", &is, errmsg), CPB_OK);
	cr_assert_eq(is.target_date.year, 0);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("target_date", NULL, &is, errmsg), CPB_OK);
	cr_assert_eq(is.target_date.year, 0);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("target_date", "\"2024-02-29\"", &is, errmsg),
	    CPB_OK);
	cr_assert_eq(is.target_date.day, 29);
	plane_issue_free(&is);
	expect_error("target_date", "\"2023-02-29\"", msg);
	expect_error("target_date", "\"2024-02-29T00:00:00Z\"", msg);
	expect_error("target_date", "20240229", msg);
}

Test(json, updated_at_rules)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse_with("updated_at",
	    "\"2025-05-12T19:33:51.902114+05:30\"", &is, errmsg), CPB_OK);
	cr_assert_eq(is.updated_at_us, T_US * 1000000 + 902114);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("updated_at", NULL, &is, errmsg), CPB_OK);
	cr_assert_eq(is.updated_at_us, 0);
	plane_issue_free(&is);
	expect_error("updated_at", "\"yesterday\"", "issue.updated_at: not a "
	    "time (expected ISO 8601 with a zone, e.g. "
	    "2025-05-12T14:03:51.902114Z)");
}

Test(json, state_rules)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse_with("state", "{\"id\":\"s\",\"name\":\"Done\","
	    "\"group\":\"completed\"}", &is, errmsg), CPB_OK);
	cr_assert_str_eq(is.state_name, "Done");
	cr_assert_eq(is.state_group, PLANE_GROUP_COMPLETED);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("state", "\"b3f2...\"", &is, errmsg), CPB_OK);
	cr_assert_null(is.state_name);
	cr_assert_eq(is.state_group, PLANE_GROUP_UNKNOWN);
	plane_issue_free(&is);
	cr_assert_eq(parse_with("state", "{\"id\":\"s\",\"name\":\"X\"}", &is,
	    errmsg), CPB_OK);
	cr_assert_str_eq(is.state_name, "X");
	cr_assert_eq(is.state_group, PLANE_GROUP_UNKNOWN);
	plane_issue_free(&is);
	/* A group a newer Plane may add is not an error: it reads as UNKNOWN. */
	cr_assert_eq(parse_with("state", "{\"name\":\"X\",\"group\":\"review\"}",
	    &is, errmsg), CPB_OK);
	cr_assert_eq(is.state_group, PLANE_GROUP_UNKNOWN);
	plane_issue_free(&is);
	expect_error("state", "{\"name\":\"X\",\"group\":7}",
	    "issue.state.group: not a string");
	expect_error("state", "7", "issue.state: not a state (expected a UUID "
	    "or an object)");
}

Test(json, project_rules)
{
	expect_error("project", NULL, "issue.project: missing (expected a "
	    "UUID or a project object)");
	expect_error("project", "null", "issue.project: missing (expected a "
	    "UUID or a project object)");
	expect_error("project", "{\"name\":\"Website\"}", "issue.project.id: "
	    "not a string (expected a UUID)");
	expect_error("project", "{\"id\":\"p1\",\"name\":5}",
	    "issue.project.name: not a string");
}

Test(json, assignee_display_names)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(parse_with("assignees", "["
	    "{\"id\":\"u1\",\"display_name\":\"ann\",\"first_name\":\"Ann\"},"
	    "{\"id\":\"u2\",\"display_name\":\"\",\"first_name\":\" Bob \","
	    "\"last_name\":\"Ray\"},"
	    "{\"id\":\"u3\",\"first_name\":\"Cy\",\"last_name\":null},"
	    "{\"id\":\"u4\",\"last_name\":\"Dee\"},"
	    "{\"id\":\"u5\",\"first_name\":\"\",\"last_name\":\"\","
	    "\"email\":\"eve@x.io\"},"
	    "{\"id\":\"u6\",\"first_name\":\" \",\"email\":\"\"},"
	    "\"u7\"]", &is, errmsg), CPB_OK, "%s", errmsg);
	cr_assert_eq(is.n_assignees, 5);
	cr_assert_str_eq(is.assignees[0].display_name, "ann");
	cr_assert_str_eq(is.assignees[1].display_name, "Bob  Ray");
	cr_assert_str_eq(is.assignees[2].display_name, "Cy");
	cr_assert_str_eq(is.assignees[3].display_name, "Dee");
	cr_assert_str_eq(is.assignees[4].display_name, "eve@x.io");
	cr_assert_str_eq(is.assignees[4].id, "u5");
	plane_issue_free(&is);
}

Test(json, list_rules)
{
	expect_error("labels", "{}", "issue.labels: not an array");
	expect_error("labels", "[{\"id\":\"l1\"}]",
	    "issue.labels[0].name: not a string");
	expect_error("labels", "[\"l0\", 5]",
	    "issue.labels[1]: not an object or a UUID");
	expect_error("assignees", "[{\"id\":\"u1\",\"display_name\":7}]",
	    "issue.assignees[0].display_name: not a string");
	expect_error("assignees", "[{\"display_name\":\"x\"}]",
	    "issue.assignees[0].id: not a string (expected a UUID)");
}

static char *
uuid_list(size_t n, bool objects)
{
	size_t i, off = 0, cap = n * 64 + 3;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	s[off++] = '[';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, objects ?
		    "%s{\"id\":\"x%zu\",\"name\":\"n%zu\",\"display_name\":"
		    "\"n%zu\"}" : "%s\"x%zu\"", i ? "," : "", i, i, i);
	s[off++] = ']';
	s[off] = '\0';
	return s;
}

Test(json, list_sizes)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	char *list;

	list = uuid_list(250, true);
	cr_assert_eq(parse_with("labels", list, &is, errmsg), CPB_OK);
	cr_assert_eq(is.n_labels, 250);
	cr_assert_str_eq(is.labels[249].name, "n249");
	plane_issue_free(&is);
	free(list);
	list = uuid_list(100, true);
	cr_assert_eq(parse_with("assignees", list, &is, errmsg), CPB_OK);
	cr_assert_eq(is.n_assignees, 100);
	cr_assert_str_eq(is.assignees[99].display_name, "n99");
	plane_issue_free(&is);
	free(list);
	list = uuid_list(PLANE_LIST_MAX, false);
	cr_assert_eq(parse_with("labels", list, &is, errmsg), CPB_OK);
	cr_assert_eq(is.n_labels, 0);
	plane_issue_free(&is);
	free(list);
	list = uuid_list(PLANE_LIST_MAX + 1, false);
	expect_error("labels", list, "issue.labels: more than 10000 entries");
	free(list);
}

Test(json, not_an_object)
{
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX];
	cJSON *root = parse("[1,2]");

	cr_assert_eq(plane_issue_from_json(root, &is, errmsg), CPB_ERR_INVALID);
	cr_assert_str_eq(errmsg, "issue: not a JSON object");
	cJSON_Delete(root);
	cr_assert_eq(plane_issue_from_json(NULL, &is, errmsg), CPB_ERR_INVALID);
}

/* ------------------------------------------------------------ copy */

Test(copy, deep_and_independent)
{
	cJSON *root = parse(rest_expanded);
	struct plane_issue a, b;
	char errmsg[CPB_ERRMSG_MAX];

	cr_assert_eq(plane_issue_from_json(root, &a, errmsg), CPB_OK);
	cJSON_Delete(root);
	cr_assert_eq(plane_issue_copy(&b, &a), CPB_OK);
	cr_assert_neq(b.id, a.id);
	cr_assert_neq(b.labels, a.labels);
	cr_assert_neq(b.labels[0].name, a.labels[0].name);
	plane_issue_free(&a);
	cr_assert_str_eq(b.id, "8c0e1111-2222-3333-4444-555555555501");
	cr_assert_str_eq(b.project_identifier, "WEB");
	cr_assert_str_eq(b.project_name, "Website");
	cr_assert_str_eq(b.state_name, "In Progress");
	cr_assert_str_eq(b.description_html, "<p>Draft and review.</p>");
	cr_assert_eq(b.sequence_id, 42);
	cr_assert_eq(b.priority, PLANE_PRIORITY_HIGH);
	cr_assert_eq(b.state_group, PLANE_GROUP_STARTED);
	cr_assert_eq(b.target_date.day, 16);
	cr_assert_eq(b.updated_at_us, T_US * 1000000 + 902114);
	cr_assert_eq(b.n_labels, 2);
	cr_assert_str_eq(b.labels[1].id, "l2");
	cr_assert_str_eq(b.labels[1].name, "frontend");
	cr_assert_eq(b.n_assignees, 1);
	cr_assert_str_eq(b.assignees[0].display_name, "ann");
	plane_issue_free(&b);
}

Test(copy, keeps_null_fields_null)
{
	struct plane_issue a, b;

	memset(&a, 0, sizeof(a));
	a.sequence_id = 7;
	cr_assert_eq(plane_issue_copy(&b, &a), CPB_OK);
	cr_assert_null(b.id);
	cr_assert_null(b.labels);
	cr_assert_null(b.assignees);
	cr_assert_eq(b.sequence_id, 7);
	plane_issue_free(&b);
}
