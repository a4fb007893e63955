/*
 * test_ical.c - the mapping of issue 3, byte for byte, plus the edge cases
 * of the Python original's tests/test_edge_cases.py and test_stress.py.
 *
 * Each event is also parsed back with libical, so a test checks both the
 * text we send and what a reader gets from it.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>

#include "ical.h"

#define ISSUE_ID	"8c0e1234-0000-4000-8000-000000000001"
#define PROJECT_ID	"5d2c0000-0000-4000-8000-0000000000aa"
#define UPDATED_US	1747058631902114LL	/* 2025-05-12T14:03:51.902114Z */
#define DTSTAMP_US	1747728000000000LL	/* 2025-05-20T08:00:00Z */

static struct plane_label base_labels[] = {
	{ "l1", "bug" }, { "l2", "release" },
};
static struct plane_user base_users[] = {
	{ "u1", "ann" }, { "u2", "bob" },
};

static const struct ical_context base_ctx = {
	.web_url = "https://app.plane.so",
	.workspace_slug = "acme",
	.project_name = "Ctx Project",
	.project_identifier = "CTX",
};

/* An issue as the REST API with expand= gives it; strings are literals. */
static struct plane_issue
base_issue(void)
{
	struct plane_issue is = {
		.id = ISSUE_ID,
		.project_id = PROJECT_ID,
		.project_name = "Website",
		.project_identifier = "WEB",
		.sequence_id = 42,
		.name = "Prepare Q2 release notes",
		.description_html = "<p>Draft and review.</p>",
		.priority = PLANE_PRIORITY_HIGH,
		.state_name = "In Progress",
		.state_group = PLANE_GROUP_STARTED,
		.target_date = { 2025, 5, 16 },
		.updated_at_us = UPDATED_US,
		.labels = base_labels,
		.n_labels = 2,
		.assignees = base_users,
		.n_assignees = 2,
	};

	return is;
}

/* ---- helpers ---- */

static char *
build_ctx(const struct plane_issue *is, const struct ical_context *ctx,
    unsigned seq, char hash[ICAL_HASH_HEX])
{
	char errmsg[CPB_ERRMSG_MAX] = "";
	char myhash[ICAL_HASH_HEX];
	char *out = NULL;
	enum cpb_err err;

	err = ical_build_event(is, ctx, seq, DTSTAMP_US, &out,
	    hash != NULL ? hash : myhash, errmsg);
	cr_assert_eq(err, CPB_OK, "ical_build_event: %d %s", err, errmsg);
	cr_assert_not_null(out);
	return out;
}

static char *
build(const struct plane_issue *is)
{
	return build_ctx(is, &base_ctx, 0, NULL);
}

static enum cpb_err
build_err(const struct plane_issue *is, const struct ical_context *ctx,
    unsigned seq, char *errmsg)
{
	char hash[ICAL_HASH_HEX];
	char *out = (char *)"untouched";
	enum cpb_err err;

	err = ical_build_event(is, ctx, seq, DTSTAMP_US, &out, hash, errmsg);
	cr_assert_null(out, "failed build leaves *out NULL");
	return err;
}

/* RFC 5545 §3.1 unfolding: CRLF followed by one space vanishes. */
static char *
unfold(const char *s)
{
	size_t n = strlen(s), i, o = 0;
	char *u = malloc(n + 1);

	cr_assert_not_null(u);
	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && s[i + 1] == '\n' && s[i + 2] == ' ') {
			i += 2;
			continue;
		}
		u[o++] = s[i];
	}
	u[o] = '\0';
	return u;
}

/* Sequence length announced by a UTF-8 lead byte (1 for ASCII). */
static size_t
lead_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	return 4;
}

/*
 * Every line ends in CRLF, holds no other CR or LF, has at most 75
 * octets, and no fold cuts a UTF-8 sequence.
 */
static void
check_lines(const char *s)
{
	const char *line = s, *end, *p;
	size_t len, k;

	cr_assert(strlen(s) > 2 && strcmp(s + strlen(s) - 2, "\r\n") == 0);
	while (*line != '\0') {
		end = strstr(line, "\r\n");
		cr_assert_not_null(end, "line without CRLF");
		len = (size_t)(end - line);
		cr_assert_leq(len, 75, "line of %zu octets: %.80s", len, line);
		cr_assert_null(memchr(line, '\n', len), "bare LF");
		cr_assert_null(memchr(line, '\r', len), "bare CR");
		p = line + (line[0] == ' ' ? 1 : 0);
		if (p < end)
			cr_assert_neq((unsigned char)*p & 0xc0, 0x80,
			    "fold split a UTF-8 sequence");
		/* The last character of the line is complete. */
		for (k = 0; k < len && ((unsigned char)end[-1 - (long)k] &
		    0xc0) == 0x80; k++)
			;
		if (k < len)
			cr_assert_eq(lead_len((unsigned char)end[-1 - (long)k]),
			    k + 1, "line ends inside a UTF-8 sequence");
		line = end + 2;
	}
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* The unfolded line of the first property `name` (e.g. "SUMMARY"). */
static char *
prop_line(const char *ics, const char *name)
{
	char *u = unfold(ics), *p, *e, *line;
	char key[64];
	size_t n;

	snprintf(key, sizeof(key), "\r\n%s", name);
	for (p = strstr(u, key); p != NULL; p = strstr(p + 1, key)) {
		n = strlen(key);
		if (p[n] == ':' || p[n] == ';')
			break;
	}
	if (p == NULL) {
		free(u);
		return NULL;
	}
	p += 2;
	e = strstr(p, "\r\n");
	line = strndup(p, (size_t)(e - p));
	free(u);
	return line;
}

static void
assert_line(const char *ics, const char *name, const char *expected)
{
	char *line = prop_line(ics, name);

	cr_assert_not_null(line, "no %s in:\n%s", name, ics);
	cr_assert_str_eq(line, expected);
	free(line);
}

/* Parse back: the one VEVENT (the calendar is in *cal, to free). */
static icalcomponent *
parse_event(const char *ics, icalcomponent **cal)
{
	icalcomponent *ev;

	*cal = icalparser_parse_string(ics);
	cr_assert_not_null(*cal);
	cr_assert_eq(icalcomponent_isa(*cal), ICAL_VCALENDAR_COMPONENT);
	cr_assert_eq(icalcomponent_count_components(*cal, ICAL_ANY_COMPONENT), 1);
	ev = icalcomponent_get_first_component(*cal, ICAL_VEVENT_COMPONENT);
	cr_assert_not_null(ev);
	cr_assert_eq(icalcomponent_count_properties(ev, ICAL_XLICERROR_PROPERTY),
	    0, "libical found errors in:\n%s", ics);
	return ev;
}

/* SUMMARY, as a reader gets it. */
static void
assert_summary(const struct plane_issue *is, const char *expected)
{
	icalcomponent *cal, *ev;
	char *out = build(is);

	check_lines(out);
	ev = parse_event(out, &cal);
	cr_assert_str_eq(icalcomponent_get_summary(ev), expected);
	icalcomponent_free(cal);
	free(out);
}

static void
assert_description(const struct plane_issue *is, const char *expected)
{
	icalcomponent *cal, *ev;
	char *out = build(is);

	check_lines(out);
	ev = parse_event(out, &cal);
	cr_assert_str_eq(icalcomponent_get_description(ev), expected);
	icalcomponent_free(cal);
	free(out);
}

static char *
repeat(const char *unit, size_t times)
{
	size_t n = strlen(unit), i;
	char *s = malloc(n * times + 1);

	cr_assert_not_null(s);
	for (i = 0; i < times; i++)
		memcpy(s + i * n, unit, n);
	s[n * times] = '\0';
	return s;
}

static char *
concat3(const char *a, const char *b, const char *c)
{
	size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
	char *s = malloc(na + nb + nc + 1);

	cr_assert_not_null(s);
	memcpy(s, a, na);
	memcpy(s + na, b, nb);
	memcpy(s + na + nb, c, nc + 1);
	return s;
}

/* ---- the whole event ---- */

Test(ical_event, full_event_exact)
{
	struct plane_issue is = base_issue();
	char hash[ICAL_HASH_HEX];
	char *out = build_ctx(&is, &base_ctx, 7, hash), *u;

	check_lines(out);
	u = unfold(out);
	cr_assert_str_eq(u,
	    "BEGIN:VCALENDAR\r\n"
	    "PRODID:-//CalPlaneBot//CalPlaneBot//EN\r\n"
	    "VERSION:2.0\r\n"
	    "CALSCALE:GREGORIAN\r\n"
	    "BEGIN:VEVENT\r\n"
	    "UID:plane-issue-" ISSUE_ID "@calplanebot\r\n"
	    "DTSTART;VALUE=DATE:20250516\r\n"
	    "DTEND;VALUE=DATE:20250517\r\n"
	    "SUMMARY:[42] Prepare Q2 release notes\r\n"
	    "DESCRIPTION:Draft and review.\\n---\\nPriority: high\\nState: In "
	    "Progress\\nAssignees: ann\\, bob\\nLabels: bug\\, release\\nProject: "
	    "Website\r\n"
	    "STATUS:CONFIRMED\r\n"
	    "PRIORITY:3\r\n"
	    "COLOR:orange\r\n"
	    "URL:https://app.plane.so/acme/browse/WEB-42/\r\n"
	    "DTSTAMP:20250520T080000Z\r\n"
	    "LAST-MODIFIED:20250512T140351Z\r\n"
	    "SEQUENCE:7\r\n"
	    "CATEGORIES:bug\r\n"
	    "CATEGORIES:release\r\n"
	    "END:VEVENT\r\n"
	    "END:VCALENDAR\r\n");
	cr_assert_eq(strlen(hash), 64);
	cr_assert_eq(strspn(hash, "0123456789abcdef"), 64);
	free(u);
	free(out);
}

Test(ical_event, parses_back_field_by_field)
{
	struct plane_issue is = base_issue();
	icalcomponent *cal, *ev;
	icalproperty *p;
	struct icaltimetype t;
	char *out = build_ctx(&is, &base_ctx, 3, NULL);

	ev = parse_event(out, &cal);
	cr_assert_str_eq(icalcomponent_get_uid(ev),
	    "plane-issue-" ISSUE_ID "@calplanebot");
	t = icalcomponent_get_dtstart(ev);
	cr_assert(t.is_date);
	cr_assert_eq(t.year * 10000 + t.month * 100 + t.day, 20250516);
	t = icalcomponent_get_dtend(ev);
	cr_assert(t.is_date);
	cr_assert_eq(t.year * 10000 + t.month * 100 + t.day, 20250517);
	cr_assert_eq(icalcomponent_get_status(ev), ICAL_STATUS_CONFIRMED);
	p = icalcomponent_get_first_property(ev, ICAL_SEQUENCE_PROPERTY);
	cr_assert_eq(icalproperty_get_sequence(p), 3);
	p = icalcomponent_get_first_property(ev, ICAL_PRIORITY_PROPERTY);
	cr_assert_eq(icalproperty_get_priority(p), 3);
	p = icalcomponent_get_first_property(ev, ICAL_COLOR_PROPERTY);
	cr_assert_str_eq(icalproperty_get_color(p), "orange");
	p = icalcomponent_get_first_property(ev, ICAL_URL_PROPERTY);
	cr_assert_str_eq(icalproperty_get_url(p),
	    "https://app.plane.so/acme/browse/WEB-42/");
	p = icalcomponent_get_first_property(ev, ICAL_DTSTAMP_PROPERTY);
	cr_assert_eq(icaltime_as_timet(icalproperty_get_dtstamp(p)),
	    DTSTAMP_US / 1000000);
	cr_assert(icaltime_is_utc(icalproperty_get_dtstamp(p)));
	p = icalcomponent_get_first_property(ev, ICAL_LASTMODIFIED_PROPERTY);
	cr_assert_eq(icaltime_as_timet(icalproperty_get_lastmodified(p)),
	    UPDATED_US / 1000000);
	icalcomponent_free(cal);
	free(out);
}

Test(ical_event, description_full_example)
{
	struct plane_issue is = base_issue();
	struct plane_label labels[] = { { "l1", "bug" }, { "l2", "a,b;c" } };

	is.description_html =
	    "<p>Fish &amp; chips &lt;3 it&#39;s&nbsp;fine</p>"
	    "<ul><li>one</li><li><p>two</p></li></ul><p></p>"
	    "<h2>Next</h2><p>a<br>b</p>"
	    "<script>alert(1)</script><style>p { color: red }</style>";
	is.labels = labels;
	assert_description(&is,
	    "Fish & chips <3 it's fine\n- one\n- two\n\nNext\na\nb\n"
	    "---\nPriority: high\nState: In Progress\nAssignees: ann, bob\n"
	    "Labels: bug, a,b;c\nProject: Website");
}

Test(ical_event, description_without_text_starts_with_rule)
{
	struct plane_issue is = base_issue();

	is.description_html = NULL;
	is.n_labels = 0;
	is.n_assignees = 0;
	is.priority = PLANE_PRIORITY_NONE;
	assert_description(&is,
	    "---\nPriority: none\nState: In Progress\nProject: Website");
	is.description_html = "<p></p>";	/* Plane's empty description */
	assert_description(&is,
	    "---\nPriority: none\nState: In Progress\nProject: Website");
}

Test(ical_event, description_fallbacks)
{
	struct plane_issue is = base_issue();

	is.state_name = NULL;
	is.project_name = NULL;
	is.n_labels = 0;
	is.n_assignees = 0;
	assert_description(&is, "Draft and review.\n---\nPriority: high\n"
	    "State: Unknown\nProject: Ctx Project");
	is.state_name = "";
	assert_description(&is, "Draft and review.\n---\nPriority: high\n"
	    "State: Unknown\nProject: Ctx Project");
	{
		struct ical_context ctx = base_ctx;
		icalcomponent *cal, *ev;
		char *out;

		ctx.project_name = NULL;
		out = build_ctx(&is, &ctx, 0, NULL);
		ev = parse_event(out, &cal);
		cr_assert_str_eq(icalcomponent_get_description(ev),
		    "Draft and review.\n---\nPriority: high\n"
		    "State: Unknown\nProject: Unknown");
		icalcomponent_free(cal);
		free(out);
	}
}

Test(ical_event, nameless_labels_and_assignees_are_left_out)
{
	struct plane_issue is = base_issue();
	struct plane_label labels[] = { { "l1", NULL }, { "l2", "x" },
	    { "l3", "" } };
	struct plane_user users[] = { { "u1", NULL } };
	char *out;

	is.labels = labels;
	is.n_labels = 3;
	is.assignees = users;
	is.n_assignees = 1;
	assert_description(&is, "Draft and review.\n---\nPriority: high\n"
	    "State: In Progress\nLabels: x\nProject: Website");
	out = build(&is);
	cr_assert_eq(count(out, "\r\nCATEGORIES:"), 1);
	assert_line(out, "CATEGORIES", "CATEGORIES:x");
	free(out);
}

Test(ical_event, crlf_line_endings)
{
	struct plane_issue is = base_issue();
	char *out = build(&is);
	size_t i;

	for (i = 0; out[i] != '\0'; i++) {
		if (out[i] == '\n')
			cr_assert(i > 0 && out[i - 1] == '\r');
		if (out[i] == '\r')
			cr_assert_eq(out[i + 1], '\n');
	}
	free(out);
}

Test(ical_event, last_modified_omitted_when_unknown)
{
	struct plane_issue is = base_issue();
	char *out;

	is.updated_at_us = 0;
	out = build(&is);
	cr_assert_null(strstr(out, "LAST-MODIFIED"));
	free(out);
}

Test(ical_event, times_are_utc)
{
	struct plane_issue is = base_issue();
	char hash[ICAL_HASH_HEX];
	char *out = NULL;

	/* 1999-12-31T23:59:59.999999Z: microseconds never round up. */
	is.updated_at_us = 946684799999999LL;
	cr_assert_eq(ical_build_event(&is, &base_ctx, 0, 0, &out, hash, NULL),
	    CPB_OK);
	assert_line(out, "LAST-MODIFIED", "LAST-MODIFIED:19991231T235959Z");
	assert_line(out, "DTSTAMP", "DTSTAMP:19700101T000000Z");
	free(out);
}

/* ---- dates (test_edge_cases.py) ---- */

static void
assert_dates(int y, int m, int d, const char *start, const char *end)
{
	struct plane_issue is = base_issue();
	char *out;

	is.target_date = (struct plane_date){ y, m, d };
	out = build(&is);
	assert_line(out, "DTSTART", start);
	assert_line(out, "DTEND", end);
	free(out);
}

Test(ical_dates, leap_day)
{
	assert_dates(2024, 2, 29, "DTSTART;VALUE=DATE:20240229",
	    "DTEND;VALUE=DATE:20240301");
}

Test(ical_dates, year_end)
{
	assert_dates(2024, 12, 31, "DTSTART;VALUE=DATE:20241231",
	    "DTEND;VALUE=DATE:20250101");
}

Test(ical_dates, far_future)
{
	assert_dates(2099, 12, 31, "DTSTART;VALUE=DATE:20991231",
	    "DTEND;VALUE=DATE:21000101");
}

Test(ical_dates, near_epoch)
{
	assert_dates(1970, 1, 2, "DTSTART;VALUE=DATE:19700102",
	    "DTEND;VALUE=DATE:19700103");
}

Test(ical_dates, no_or_bad_date_is_refused)
{
	static const struct plane_date bad[] = {
		{ 0, 0, 0 }, { 2023, 2, 29 }, { 2024, 13, 1 }, { 2024, 4, 31 },
		{ 9999, 12, 31 }, { -1, 1, 1 },
	};
	struct plane_issue is = base_issue();
	char errmsg[CPB_ERRMSG_MAX];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is.target_date = bad[i];
		cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg),
		    CPB_ERR_INVALID, "date %zu accepted", i);
		cr_assert_not_null(strstr(errmsg, "target date"));
	}
}

/* ---- names (test_edge_cases.py) ---- */

Test(ical_names, empty)
{
	struct plane_issue is = base_issue();

	char *out;

	/* The line keeps the space; libical drops trailing white space when
	 * it reads a line, so it reads back "[42]". */
	is.name = "";
	out = build(&is);
	assert_line(out, "SUMMARY", "SUMMARY:[42] ");
	free(out);
	assert_summary(&is, "[42]");
	is.name = NULL;
	out = build(&is);
	assert_line(out, "SUMMARY", "SUMMARY:[42] ");
	free(out);
}

Test(ical_names, thousand_chars_round_trip)
{
	struct plane_issue is = base_issue();
	char *name = repeat("A", 1000), *want = concat3("[42] ", name, "");

	is.name = name;
	assert_summary(&is, want);
	free(want);
	free(name);
}

Test(ical_names, chinese_and_emoji)
{
	struct plane_issue is = base_issue();

	is.name = "测试🎉";
	assert_summary(&is, "[42] 测试🎉");
}

Test(ical_names, hebrew)
{
	struct plane_issue is = base_issue();

	is.name = "עברית";
	assert_summary(&is, "[42] עברית");
}

Test(ical_names, special_characters)
{
	struct plane_issue is = base_issue();
	char *out;

	is.name = "Test\n\r\t<>&\"'";
	assert_summary(&is, "[42] Test\n\t<>&\"'");
	out = build(&is);
	assert_line(out, "SUMMARY", "SUMMARY:[42] Test\\n\t<>&\"'");
	free(out);
}

Test(ical_names, control_characters_removed)
{
	struct plane_issue is = base_issue();
	char name[64];
	size_t n = 0;
	int c;

	/* "Test\x00Issue" is "Test" in C: every other control instead. */
	memcpy(name, "Test", 4);
	n = 4;
	for (c = 0x01; c <= 0x1f; c++)
		name[n++] = (char)c;
	name[n++] = 0x7f;
	memcpy(name + n, "Issue", 6);
	is.name = name;
	assert_summary(&is, "[42] Test\t\nIssue");
}

Test(ical_names, zero_width_space_kept)
{
	struct plane_issue is = base_issue();

	is.name = "Test\u200BIssue";
	assert_summary(&is, "[42] Test\u200BIssue");
}

Test(ical_names, mathematical_letters)
{
	struct plane_issue is = base_issue();

	is.name = "Test 𝕳𝖊𝖑𝖑𝖔";
	assert_summary(&is, "[42] Test 𝕳𝖊𝖑𝖑𝖔");
}

Test(ical_names, html_is_plain_text)
{
	struct plane_issue is = base_issue();

	is.name = "<script>alert('xss')</script>";
	assert_summary(&is, "[42] <script>alert('xss')</script>");
}

Test(ical_names, ical_specials_escaped)
{
	struct plane_issue is = base_issue();
	char *out;

	is.name = "a,b;c\\d:e";
	assert_summary(&is, "[42] a,b;c\\d:e");
	out = build(&is);
	assert_line(out, "SUMMARY", "SUMMARY:[42] a\\,b\\;c\\\\d:e");
	free(out);
}

Test(ical_names, injection_stays_in_summary)
{
	struct plane_issue is = base_issue();
	icalcomponent *cal, *ev;
	char *out;

	is.name = "X\r\nBEGIN:VEVENT\r\nUID:evil";
	is.state_name = "S\r\nEND:VEVENT\r\nBEGIN:VTODO";
	out = build(&is);
	check_lines(out);
	cr_assert_eq(count(out, "\r\nBEGIN:VEVENT\r\n"), 1);
	cr_assert_eq(count(out, "\r\nEND:VEVENT\r\n"), 1);
	cr_assert_eq(count(out, "\r\nUID:"), 1);
	cr_assert_null(strstr(out, "BEGIN:VTODO\r\n"));
	ev = parse_event(out, &cal);
	cr_assert_eq(icalcomponent_count_components(cal, ICAL_VEVENT_COMPONENT), 1);
	cr_assert_eq(icalcomponent_count_properties(ev, ICAL_UID_PROPERTY), 1);
	cr_assert_str_eq(icalcomponent_get_uid(ev),
	    "plane-issue-" ISSUE_ID "@calplanebot");
	cr_assert_str_eq(icalcomponent_get_summary(ev),
	    "[42] X\nBEGIN:VEVENT\nUID:evil");
	icalcomponent_free(cal);
	free(out);
}

Test(ical_names, long_multibyte_folds_on_boundaries)
{
	struct plane_issue is = base_issue();
	char *name = repeat("é测🎉x", 300), *want = concat3("[42] ", name, "");

	is.name = name;
	assert_summary(&is, want);	/* check_lines runs in there */
	free(want);
	free(name);
}

Test(ical_names, sequence_ids_at_the_ends)
{
	struct plane_issue is = base_issue();
	char errmsg[CPB_ERRMSG_MAX];
	char *out;

	is.sequence_id = 0;
	assert_summary(&is, "[0] Prepare Q2 release notes");
	is.sequence_id = 2147483647;
	assert_summary(&is, "[2147483647] Prepare Q2 release notes");
	out = build(&is);
	assert_line(out, "URL",
	    "URL:https://app.plane.so/acme/browse/WEB-2147483647/");
	free(out);
	is.sequence_id = 2147483648LL;
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_INVALID);
	is.sequence_id = -1;
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_INVALID);
}

/* ---- big descriptions, many assignees and labels (test_stress.py) ---- */

static void
assert_big_description(const char *unit, size_t times)
{
	struct plane_issue is = base_issue();
	char *text = repeat(unit, times);
	char *html = concat3("<p>", text, "</p>");
	char *want = concat3(text, "\n---\nPriority: none\nState: In Progress\n",
	    "Project: Website");

	is.description_html = html;
	is.priority = PLANE_PRIORITY_NONE;
	is.n_labels = 0;
	is.n_assignees = 0;
	assert_description(&is, want);
	free(want);
	free(html);
	free(text);
}

Test(ical_stress, description_10000_chars)
{
	assert_big_description("A", 10000);
}

Test(ical_stress, description_10000_multibyte_chars)
{
	assert_big_description("测", 10000);
}

Test(ical_stress, description_1mib_chars)
{
	assert_big_description("A", 1024 * 1024);
}

static void
assert_assignees(size_t n, const char *want_line)
{
	struct plane_issue is = base_issue();
	struct plane_user *users = calloc(n + 1, sizeof(*users));
	char names[100][24], *out, *want;
	size_t i;

	cr_assert_not_null(users);
	cr_assert_leq(n, sizeof(names) / sizeof(names[0]));
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "u%zu", i);
		users[i].display_name = names[i];
	}
	is.assignees = users;
	is.n_assignees = n;
	is.n_labels = 0;
	want = concat3("Draft and review.\n---\nPriority: high\n"
	    "State: In Progress", want_line, "\nProject: Website");
	assert_description(&is, want);
	out = build(&is);
	check_lines(out);
	free(out);
	free(want);
	free(users);
}

Test(ical_stress, assignees_0_1_10_100)
{
	char line[1024] = "\nAssignees: ";
	size_t i, len;

	assert_assignees(0, "");
	assert_assignees(1, "\nAssignees: u0");
	assert_assignees(10, "\nAssignees: u0, u1, u2, u3, u4, u5, u6, u7, u8, "
	    "u9");
	for (i = 0; i < 100; i++) {
		len = strlen(line);
		snprintf(line + len, sizeof(line) - len, "%su%zu",
		    i ? ", " : "", i);
	}
	assert_assignees(100, line);
}

static void
assert_labels(size_t n)
{
	struct plane_issue is = base_issue();
	struct plane_label *labels = calloc(n + 1, sizeof(*labels));
	char (*names)[32] = calloc(n + 1, sizeof(*names));
	icalcomponent *cal, *ev;
	icalproperty *p;
	char *out;
	size_t i = 0;

	cr_assert(labels != NULL && names != NULL);
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "label %zu", i);
		labels[i].name = names[i];
	}
	is.labels = labels;
	is.n_labels = n;
	out = build(&is);
	check_lines(out);
	cr_assert_eq(count(out, "\r\nCATEGORIES:"), n);
	ev = parse_event(out, &cal);
	i = 0;
	for (p = icalcomponent_get_first_property(ev, ICAL_CATEGORIES_PROPERTY);
	    p != NULL;
	    p = icalcomponent_get_next_property(ev, ICAL_CATEGORIES_PROPERTY)) {
		cr_assert_lt(i, n);
		cr_assert_str_eq(icalproperty_get_categories(p), names[i]);
		i++;
	}
	cr_assert_eq(i, n, "read back %zu of %zu labels", i, n);
	if (n == 0)
		cr_assert_null(strstr(icalcomponent_get_description(ev),
		    "Labels:"));
	else
		cr_assert_not_null(strstr(icalcomponent_get_description(ev),
		    "\nLabels: label 0, label 1, "));
	icalcomponent_free(cal);
	free(out);
	free(names);
	free(labels);
}

Test(ical_stress, labels_0_50_250)
{
	assert_labels(0);
	assert_labels(50);
	assert_labels(250);
}

Test(ical_stress, batch_of_1000_issues)
{
	static char ids[1000][40];
	struct plane_issue is = base_issue();
	icalcomponent *cal, *ev;
	char hash[ICAL_HASH_HEX], hashes[1000][ICAL_HASH_HEX], uid[96];
	char *out;
	size_t i, j;

	for (i = 0; i < 1000; i++) {
		snprintf(ids[i], sizeof(ids[i]),
		    "00000000-0000-4000-8000-%012zu", i);
		is.id = ids[i];
		is.sequence_id = (int64_t)i + 1;
		out = build_ctx(&is, &base_ctx, 0, hash);
		memcpy(hashes[i], hash, sizeof(hash));
		ev = parse_event(out, &cal);
		snprintf(uid, sizeof(uid), "plane-issue-%.39s@calplanebot", ids[i]);
		cr_assert_str_eq(icalcomponent_get_uid(ev), uid);
		icalcomponent_free(cal);
		free(out);
	}
	for (i = 0; i < 1000; i++)
		for (j = i + 1; j < 1000; j++)
			cr_assert_str_neq(hashes[i], hashes[j]);
}

/* ---- priority, status, categories, URL ---- */

Test(ical_map, priority_table)
{
	static const struct {
		enum plane_priority p;
		const char *priority, *color, *name;
	} table[] = {
		{ PLANE_PRIORITY_URGENT, "PRIORITY:1", "COLOR:red", "urgent" },
		{ PLANE_PRIORITY_HIGH, "PRIORITY:3", "COLOR:orange", "high" },
		{ PLANE_PRIORITY_MEDIUM, "PRIORITY:5", "COLOR:gold", "medium" },
		{ PLANE_PRIORITY_LOW, "PRIORITY:7", "COLOR:green", "low" },
		{ PLANE_PRIORITY_NONE, "PRIORITY:0", NULL, "none" },
	};
	struct plane_issue is = base_issue();
	char *out, *line, want[64];
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		is.priority = table[i].p;
		out = build(&is);
		assert_line(out, "PRIORITY", table[i].priority);
		if (table[i].color != NULL) {
			assert_line(out, "COLOR", table[i].color);
		} else {
			line = prop_line(out, "COLOR");
			cr_assert_null(line, "priority none has %s", line);
		}
		snprintf(want, sizeof(want), "\\nPriority: %s\\n", table[i].name);
		cr_assert_not_null(strstr(out, want));
		free(out);
	}
}

Test(ical_map, status_for_every_group)
{
	static const struct {
		enum plane_state_group g;
		const char *status;
	} table[] = {
		{ PLANE_GROUP_BACKLOG, "STATUS:CONFIRMED" },
		{ PLANE_GROUP_UNSTARTED, "STATUS:CONFIRMED" },
		{ PLANE_GROUP_STARTED, "STATUS:CONFIRMED" },
		{ PLANE_GROUP_COMPLETED, "STATUS:CANCELLED" },
		{ PLANE_GROUP_CANCELLED, "STATUS:CANCELLED" },
		{ PLANE_GROUP_TRIAGE, "STATUS:CONFIRMED" },
		{ PLANE_GROUP_UNKNOWN, "STATUS:CONFIRMED" },
	};
	struct plane_issue is = base_issue();
	char *out;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		is.state_group = table[i].g;
		out = build(&is);
		assert_line(out, "STATUS", table[i].status);
		free(out);
	}
}

Test(ical_map, label_with_comma_survives)
{
	struct plane_issue is = base_issue();
	struct plane_label labels[] = { { "l1", "a,b" }, { "l2", "c;d\\e" },
	    { "l3", "plain" }, { "l4", "two\nlines" } };
	static const char *const want[] = { "a,b", "c;d\\e", "plain",
	    "two\nlines" };
	icalcomponent *cal, *ev;
	icalproperty *p;
	char *out;
	size_t i = 0;

	is.labels = labels;
	is.n_labels = 4;
	out = build(&is);
	assert_line(out, "CATEGORIES", "CATEGORIES:a\\,b");
	cr_assert_not_null(strstr(out, "\r\nCATEGORIES:c\\;d\\\\e\r\n"));
	cr_assert_not_null(strstr(out, "\r\nCATEGORIES:two\\nlines\r\n"));
	ev = parse_event(out, &cal);
	for (p = icalcomponent_get_first_property(ev, ICAL_CATEGORIES_PROPERTY);
	    p != NULL;
	    p = icalcomponent_get_next_property(ev, ICAL_CATEGORIES_PROPERTY))
		cr_assert_str_eq(icalproperty_get_categories(p), want[i++]);
	cr_assert_eq(i, 4);
	icalcomponent_free(cal);
	free(out);
}

Test(ical_map, long_label_folds_on_boundaries)
{
	struct plane_issue is = base_issue();
	char *name = repeat("é,测🎉", 60);
	struct plane_label labels[] = { { "l1", name } };
	icalcomponent *cal, *ev;
	char *out;

	is.labels = labels;
	is.n_labels = 1;
	out = build(&is);
	check_lines(out);
	ev = parse_event(out, &cal);
	cr_assert_str_eq(icalproperty_get_categories(
	    icalcomponent_get_first_property(ev, ICAL_CATEGORIES_PROPERTY)),
	    name);
	icalcomponent_free(cal);
	free(out);
	free(name);
}

Test(ical_map, url_forms)
{
	struct plane_issue is = base_issue();
	struct ical_context ctx = base_ctx;
	char *out;

	out = build(&is);
	assert_line(out, "URL", "URL:https://app.plane.so/acme/browse/WEB-42/");
	free(out);

	is.project_identifier = NULL;	/* the context knows it */
	out = build(&is);
	assert_line(out, "URL", "URL:https://app.plane.so/acme/browse/CTX-42/");
	free(out);

	ctx.project_identifier = NULL;	/* nobody does */
	out = build_ctx(&is, &ctx, 0, NULL);
	assert_line(out, "URL", "URL:https://app.plane.so/acme/projects/"
	    PROJECT_ID "/issues/" ISSUE_ID);
	free(out);

	is.project_id = NULL;		/* nothing to link to */
	out = build_ctx(&is, &ctx, 0, NULL);
	cr_assert_null(strstr(out, "\r\nURL"));
	free(out);
}

Test(ical_map, url_pieces_are_encoded)
{
	struct plane_issue is = base_issue();
	struct ical_context ctx = base_ctx;
	icalcomponent *cal;
	char *out;

	ctx.web_url = "https://plane.example.com/";	/* trailing '/' */
	ctx.workspace_slug = "my team";
	is.project_identifier = "W\r\nX:Y";
	out = build_ctx(&is, &ctx, 0, NULL);
	assert_line(out, "URL", "URL:https://plane.example.com/my%20team/"
	    "browse/W%0D%0AX%3AY-42/");
	parse_event(out, &cal);
	icalcomponent_free(cal);
	free(out);
}

Test(ical_map, bad_context_is_refused)
{
	struct plane_issue is = base_issue();
	struct ical_context ctx = base_ctx;
	char errmsg[CPB_ERRMSG_MAX];

	ctx.web_url = "https://x\r\nBEGIN:VEVENT";
	cr_assert_eq(build_err(&is, &ctx, 0, errmsg), CPB_ERR_INVALID);
	ctx.web_url = NULL;
	cr_assert_eq(build_err(&is, &ctx, 0, errmsg), CPB_ERR_INVALID);
	ctx = base_ctx;
	ctx.workspace_slug = "";
	cr_assert_eq(build_err(&is, &ctx, 0, errmsg), CPB_ERR_INVALID);
	cr_assert_eq(build_err(&is, NULL, 0, errmsg), CPB_ERR_INVALID);
	cr_assert_eq(build_err(NULL, &base_ctx, 0, errmsg), CPB_ERR_INVALID);
}

Test(ical_map, bad_issue_is_refused)
{
	struct plane_issue is = base_issue();
	char errmsg[CPB_ERRMSG_MAX];
	char *huge;

	is.id = "not/an id";
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_INVALID);
	is.id = NULL;
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_INVALID);
	is = base_issue();
	cr_assert_eq(build_err(&is, &base_ctx, 2147483648u, errmsg),
	    CPB_ERR_INVALID);
	is.n_labels = PLANE_LIST_MAX + 1;
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_TOO_LARGE);
	is = base_issue();
	is.labels = NULL;
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_INVALID);
	is = base_issue();
	huge = repeat("x", PLANE_NAME_MAX + 1);
	is.name = huge;
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_TOO_LARGE);
	cr_assert_not_null(strstr(errmsg, "name"));
	free(huge);
	cr_assert_eq(ical_build_event(&is, &base_ctx, 0, 0, NULL, NULL, errmsg),
	    CPB_ERR_INVALID);
}

/* ---- the content hash ---- */

static void
hash_of(const struct plane_issue *is, unsigned seq, int64_t dtstamp,
    char hash[ICAL_HASH_HEX])
{
	char *out = NULL;

	cr_assert_eq(ical_build_event(is, &base_ctx, seq, dtstamp, &out, hash,
	    NULL), CPB_OK);
	free(out);
}

Test(ical_hash, stable_and_blind_to_volatile_fields)
{
	struct plane_issue is = base_issue();
	char a[ICAL_HASH_HEX], b[ICAL_HASH_HEX];

	hash_of(&is, 0, DTSTAMP_US, a);
	hash_of(&is, 0, DTSTAMP_US, b);
	cr_assert_str_eq(a, b);
	hash_of(&is, 99, DTSTAMP_US + 123456789, b);
	cr_assert_str_eq(a, b, "SEQUENCE or DTSTAMP changed the hash");
	is.updated_at_us += 1000000;
	hash_of(&is, 0, DTSTAMP_US, b);
	cr_assert_str_eq(a, b, "updated_at alone changed the hash");
	is.updated_at_us = 0;
	hash_of(&is, 0, DTSTAMP_US, b);
	cr_assert_str_eq(a, b);
	cr_assert_eq(strlen(a), 64);
	cr_assert_eq(strspn(a, "0123456789abcdef"), 64);
}

Test(ical_hash, every_mapped_field_counts)
{
	static struct plane_label other_labels[] = {
		{ "l2", "release" }, { "l1", "bug" },	/* order only */
	};
	static struct plane_user other_users[] = { { "u1", "ann" },
	    { "u3", "cy" } };
	struct plane_issue base = base_issue(), is;
	char h0[ICAL_HASH_HEX], h[ICAL_HASH_HEX];
	int i;

	hash_of(&base, 0, DTSTAMP_US, h0);
	for (i = 0; i < 16; i++) {
		is = base;
		switch (i) {
		case 0: is.name = "Prepare Q2 release note"; break;
		case 1: is.description_html = "<p>Draft and review!</p>"; break;
		case 2: is.priority = PLANE_PRIORITY_URGENT; break;
		case 3: is.state_name = "Done"; break;
		case 4: is.state_group = PLANE_GROUP_COMPLETED; break;
		case 5: is.target_date.day = 17; break;
		case 6: is.labels = other_labels; break;
		case 7: is.n_labels = 1; break;
		case 8: is.assignees = other_users; break;
		case 9: is.n_assignees = 0; break;
		case 10: is.project_name = "Web site"; break;
		case 11: is.project_identifier = "WWW"; break;
		case 12: is.sequence_id = 43; break;
		case 13: is.id = "8c0e1234-0000-4000-8000-000000000002"; break;
		case 14: is.priority = PLANE_PRIORITY_NONE; break;
		case 15: is.target_date.month = 6; break;
		}
		hash_of(&is, 0, DTSTAMP_US, h);
		cr_assert_str_neq(h, h0, "change %d left the hash alone", i);
	}
}

/* ---- UIDs ---- */

Test(ical_uid, round_trip)
{
	char id[PLANE_ID_MAX];
	char *uid = ical_uid(ISSUE_ID);

	cr_assert_str_eq(uid, "plane-issue-" ISSUE_ID "@calplanebot");
	cr_assert(ical_uid_issue_id(uid, id, sizeof(id)));
	cr_assert_str_eq(id, ISSUE_ID);
	free(uid);
}

Test(ical_uid, foreign_uids_are_not_ours)
{
	static const char *const bad[] = {
		"plane-issue-@calplanebot",
		"plane-issue-abc@calplanebo",
		"plane-issue-abc@calplanebot.example",
		"Plane-issue-abc@calplanebot",
		"plane-issue-a/b@calplanebot",
		"plane-issue-a b@calplanebot",
		"plane-issue-a@b@calplanebot",
		"x-plane-issue-abc@calplanebot",
		"040000008200E00074C5B7101A82E008",
		"",
	};
	char id[PLANE_ID_MAX];
	char *longid = repeat("a", PLANE_ID_MAX);
	char *longuid = concat3("plane-issue-", longid, "@calplanebot");
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!ical_uid_issue_id(bad[i], id, sizeof(id)), "%s",
		    bad[i]);
	cr_assert(!ical_uid_issue_id(NULL, id, sizeof(id)));
	cr_assert(!ical_uid_issue_id(longuid, id, sizeof(id)));
	cr_assert(!ical_uid_issue_id("plane-issue-abcd@calplanebot", id, 4));
	cr_assert(ical_uid_issue_id("plane-issue-abc@calplanebot", id, 4));
	cr_assert_str_eq(id, "abc");
	cr_assert_null(ical_uid(longid));
	cr_assert_null(ical_uid(""));
	cr_assert_null(ical_uid("a\r\nb"));
	cr_assert_null(ical_uid(NULL));
	free(longuid);
	free(longid);
}

/* ---- text cleaning ---- */

static void
assert_clean(const char *in, const char *want)
{
	char *out = ical_clean_text(in);

	cr_assert_not_null(out);
	cr_assert_str_eq(out, want);
	free(out);
}

Test(ical_clean, controls)
{
	assert_clean("a\r\nb", "a\nb");
	assert_clean("a\rb\r", "ab");
	assert_clean("a\n\tb", "a\n\tb");
	assert_clean("\x01\x08\x0b\x0c\x1b\x1f\x7f", "");
	assert_clean("a\xc2\x80" "b\xc2\x9f" "c", "abc");	/* C1 */
	assert_clean("nb\xc2\xa0sp", "nb\xc2\xa0sp");		/* U+00A0 kept */
	assert_clean("", "");
	assert_clean(NULL, "");
}

Test(ical_clean, unicode_kept)
{
	assert_clean("Test\u200BIssue", "Test\u200BIssue");
	assert_clean("测试🎉 עברית 𝕳𝖊𝖑𝖑𝖔", "测试🎉 עברית 𝕳𝖊𝖑𝖑𝖔");
	assert_clean("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");	/* U+10FFFF */
	assert_clean("\xef\xbb\xbf" "x", "\xef\xbb\xbf" "x");	/* BOM is text */
}

Test(ical_clean, invalid_utf8_becomes_replacement_chars)
{
#define FFFD "\xef\xbf\xbd"
	assert_clean("x\xffy", "x" FFFD "y");
	assert_clean("\xe2\x82", FFFD FFFD);			/* cut short */
	assert_clean("\xc0\xaf", FFFD FFFD);			/* overlong */
	assert_clean("\xe0\x80\xaf", FFFD FFFD FFFD);		/* overlong */
	assert_clean("\xed\xa0\x80", FFFD FFFD FFFD);		/* surrogate */
	assert_clean("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);	/* > U+10FFFF */
	assert_clean("\x80z", FFFD "z");			/* stray */
	assert_clean("\xc3(", FFFD "(");
#undef FFFD
}

Test(ical_clean, invalid_utf8_in_a_name_reaches_the_event_cleanly)
{
	struct plane_issue is = base_issue();

	is.name = "bad\xff\xc2\x85name";
	assert_summary(&is, "[42] bad\xef\xbf\xbdname");
}

/* ---- HTML → text ---- */

static void
assert_text(const char *html, const char *want)
{
	char *out = ical_html_to_text(html, html != NULL ? strlen(html) : 0);

	cr_assert_not_null(out);
	cr_assert_str_eq(out, want, "html: %.200s", html != NULL ? html : "(null)");
	free(out);
}

Test(ical_html, empty_inputs)
{
	assert_text("<p></p>", "");
	assert_text("", "");
	assert_text(NULL, "");
	assert_text("   \n  ", "");
	assert_text("<p> </p><p></p>", "");
}

Test(ical_html, entities_decoded)
{
	assert_text("<p>Fish &amp; chips &lt;3 &gt; it&#39;s &quot;ok&quot; "
	    "&#x263A; &eacute;</p>",
	    "Fish & chips <3 > it's \"ok\" \u263a \u00e9");
	assert_text("a&nbsp;&nbsp;b", "a  b");
}

Test(ical_html, white_space_collapses)
{
	assert_text("<p>  lots \n\t of   space  </p>", "lots of space");
	assert_text("<b>a</b> <i>b</i>", "a b");
	assert_text("plain  text\n here", "plain text here");
}

Test(ical_html, blocks_lists_and_breaks)
{
	assert_text("<p>a</p><p>b</p>", "a\nb");
	assert_text("<p>a</p><p></p><p>b</p>", "a\n\nb");
	assert_text("<p>a</p><p></p><p></p><p></p><p>b</p>", "a\n\nb");
	assert_text("<p>a</p><p>&nbsp;</p><p> &nbsp;</p><p>&nbsp; </p><p>b</p>",
	    "a\n\nb");
	assert_text("a<br>b<br/><br><br><br>c", "a\nb\n\nc");
	assert_text("<ul><li>one</li><li>two</li></ul><ol><li>x</li></ol>",
	    "- one\n- two\n- x");
	assert_text("<h1>T</h1><div>d</div><blockquote>q</blockquote>",
	    "T\nd\nq");
	assert_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr>"
	    "</table>", "a b\nc");
	assert_text("text<p>para</p>tail", "text\npara\ntail");
}

Test(ical_html, pre_keeps_its_spaces)
{
	assert_text("<pre>  a\n   b</pre><p>x  y</p>", "  a\n   b\nx y");
}

Test(ical_html, script_and_style_dropped)
{
	assert_text("<p>x</p><script>alert('xss')</script><style>p{}</style>"
	    "<p>y</p>", "x\ny");
	assert_text("<script>document.write('<p>no</p>')</script>", "");
}

Test(ical_html, controls_and_bad_bytes)
{
	const char html[] = "<p>a\0b\x01" "c&#1;d\xff" "e</p>";

	{
		char *out = ical_html_to_text(html, sizeof(html) - 1);

		cr_assert_str_eq(out, "abcd\xef\xbf\xbd" "e");
		free(out);
	}
	assert_text("<p>Test\u200BIssue 测试🎉</p>", "Test\u200BIssue 测试🎉");
}

Test(ical_html, deep_nesting)
{
	char *open = repeat("<div>", 100000), *close = repeat("</div>", 100000);
	char *html = concat3(open, "deep", close);

	assert_text(html, "deep");
	free(html);
	free(close);
	free(open);
}

Test(ical_html, over_the_cap_is_truncated)
{
	char *text = repeat("A", PLANE_DESCRIPTION_MAX + 10);
	char *out = ical_html_to_text(text, strlen(text));
	size_t n;

	cr_assert_not_null(out);
	n = strlen(out);
	cr_assert_eq(n, PLANE_DESCRIPTION_MAX + strlen("\n[description truncated]"));
	cr_assert_str_eq(out + PLANE_DESCRIPTION_MAX, "\n[description truncated]");
	cr_assert_eq(strspn(out, "A"), PLANE_DESCRIPTION_MAX);
	free(out);
	free(text);
}

Test(ical_html, cap_never_cuts_a_character)
{
	static const char note[] = "\xc3\xa9\n[description truncated]";
	/* Starting one byte into "éé…" puts a lead byte right at the cap:
	 * the cut backs off to the last whole character. */
	char *text = repeat("\xc3\xa9", PLANE_DESCRIPTION_MAX / 2 + 5);
	char *out = ical_html_to_text(text + 1, strlen(text + 1));
	size_t n;

	cr_assert_not_null(out);
	n = strlen(out);
	cr_assert_gt(n, sizeof(note));
	cr_assert_str_eq(out + n - (sizeof(note) - 1), note);
	cr_assert_eq(memcmp(out, "\xef\xbf\xbd\xc3\xa9", 5), 0,
	    "the stray continuation byte at the start is U+FFFD");
	cr_assert_eq(n, 3 + (PLANE_DESCRIPTION_MAX - 2) + sizeof(note) - 1 - 2);
	free(out);
	free(text);
}

/* ---- regressions found by fuzzing (tests/fuzz, docs/reliability.md) ---- */

/* F2: libical folded a 73-octet last piece between CR and LF. */
Test(fuzz_regress, no_bare_cr_whatever_the_value_length)
{
	struct plane_issue is = base_issue();
	char *name, *out, want[200];
	size_t len;

	for (len = 60; len <= 160; len++) {
		name = repeat("a", len);
		is.name = name;
		is.sequence_id = 0;
		out = build(&is);
		check_lines(out);
		free(out);
		snprintf(want, sizeof(want), "[0] %s", name);
		assert_summary(&is, want);
		free(name);
	}
}

/* F1: libical writes dates after the year 3000 as 00000000. */
Test(fuzz_regress, dates_beyond_libical_are_refused_not_mangled)
{
	struct plane_issue is = base_issue();
	char errmsg[CPB_ERRMSG_MAX] = "", *out;

	is.target_date = (struct plane_date){ 3000, 12, 30 };
	out = build(&is);
	assert_line(out, "DTEND", "DTEND;VALUE=DATE:30001231");
	free(out);
	is.target_date = (struct plane_date){ 3000, 12, 31 };
	cr_assert_eq(build_err(&is, &base_ctx, 0, errmsg), CPB_ERR_INVALID);
	cr_assert(strstr(errmsg, "3000-12-30") != NULL, "%s", errmsg);
	/* A far-future updated_at loses LAST-MODIFIED, not the event. */
	is.target_date = (struct plane_date){ 2026, 12, 4 };
	is.updated_at_us = INT64_C(32535216000) * 1000000;
	out = build(&is);
	cr_assert_null(strstr(out, "LAST-MODIFIED"), "%s", out);
	free(out);
}

/* F3: a blank label would read back as an empty, invalid CATEGORIES. */
Test(fuzz_regress, blank_labels_are_left_out)
{
	struct plane_issue is = base_issue();
	struct plane_label labels[] = { { "l1", " " }, { "l2", "\t " },
	    { "l3", "real" } };
	char *out;

	is.labels = labels;
	is.n_labels = 3;
	out = build(&is);
	cr_assert_null(strstr(out, "CATEGORIES: "), "%s", out);
	assert_line(out, "CATEGORIES", "CATEGORIES:real");
	free(out);
}

/* F4: controls made by character references are cleaned before layout. */
Test(fuzz_regress, html_cleaning_comes_before_layout)
{
	char *t = ical_html_to_text("<p>a &#x85;</p>", 15);

	cr_assert_str_eq(t, "a");
	free(t);
	t = ical_html_to_text("a<br>&#x85;<br>&#x85;<br>b", 26);
	cr_assert_str_eq(t, "a\n\nb");
	free(t);
}
