/*
 * issue.c - Plane's issue JSON → struct plane_issue, strictly.
 *
 * Plane sends the same issue in two shapes (plane-api.md): the REST API
 * with expand=state,labels,assignees,project gives objects, a webhook gives
 * project as a UUID string and the rest as objects, and an unexpanded REST
 * answer gives UUID strings everywhere.  Relations that come as bare UUIDs
 * carry no name, so they are skipped rather than shown as UUIDs.
 *
 * Everything that reaches a calendar is validated here once (UTF-8, size,
 * real dates), so the mapping can trust the struct.
 */
#include "issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ dates */

static bool
issue_is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
issue_days_in_month(int y, int m)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	if (m < 1 || m > 12)
		return 0;
	if (m == 2 && issue_is_leap(y))
		return 29;
	return days[m - 1];
}

/* Exactly n ASCII digits → value. */
static bool
issue_digits(const char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* "YYYY-MM-DD" at s (not necessarily terminated there). */
static bool
issue_date_fields(const char *s, struct plane_date *d)
{
	if (!issue_digits(s, 4, &d->year) || s[4] != '-' ||
	    !issue_digits(s + 5, 2, &d->month) || s[7] != '-' ||
	    !issue_digits(s + 8, 2, &d->day))
		return false;
	return d->year >= 1 && d->month >= 1 && d->month <= 12 &&
	    d->day >= 1 && d->day <= issue_days_in_month(d->year, d->month);
}

bool
plane_date_parse(const char *s, struct plane_date *out)
{
	struct plane_date d;

	if (s == NULL || strlen(s) != 10 || !issue_date_fields(s, &d))
		return false;
	if (out != NULL)
		*out = d;
	return true;
}

struct plane_date
plane_date_next(struct plane_date d)
{
	if (++d.day > issue_days_in_month(d.year, d.month)) {
		d.day = 1;
		if (++d.month > 12) {
			d.month = 1;
			d.year++;
		}
	}
	return d;
}

/* ".f{1,9}" at *p, if any → microseconds (digits past six are dropped). */
static bool
issue_time_fraction(const char **p, int64_t *us)
{
	const char *s = *p;
	size_t n = 0, k;
	int64_t v = 0;

	*us = 0;
	if (*s != '.')
		return true;
	s++;
	while (s[n] >= '0' && s[n] <= '9') {
		if (n < 6)
			v = v * 10 + (s[n] - '0');
		n++;
	}
	if (n < 1 || n > 9)
		return false;
	for (k = n; k < 6; k++)
		v *= 10;
	*us = v;
	*p = s + n;
	return true;
}

/* "Z", "+hh:mm", "-hh:mm" or "+hhmm" that ends the string → seconds east. */
static bool
issue_time_zone(const char *s, long *offset)
{
	int hh, mm, sign;
	size_t len = strlen(s);

	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
		*offset = 0;
		return true;
	}
	if (s[0] != '+' && s[0] != '-')
		return false;
	sign = s[0] == '-' ? -1 : 1;
	if (len == 6 && s[3] == ':') {
		if (!issue_digits(s + 1, 2, &hh) || !issue_digits(s + 4, 2, &mm))
			return false;
	} else if (len == 5) {
		if (!issue_digits(s + 1, 2, &hh) || !issue_digits(s + 3, 2, &mm))
			return false;
	} else
		return false;
	if (hh > 23 || mm > 59)
		return false;
	*offset = sign * (hh * 3600L + mm * 60L);
	return true;
}

bool
plane_time_parse(const char *s, int64_t *out_us)
{
	struct plane_date d;
	struct tm tm;
	int hh, mi, ss;
	int64_t frac;
	long offset;
	const char *p;
	time_t t;

	if (s == NULL || strlen(s) < 20 || !issue_date_fields(s, &d) ||
	    (s[10] != 'T' && s[10] != 't') ||
	    !issue_digits(s + 11, 2, &hh) || s[13] != ':' ||
	    !issue_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !issue_digits(s + 17, 2, &ss))
		return false;
	if (hh > 23 || mi > 59 || ss > 59)
		return false;
	p = s + 19;
	if (!issue_time_fraction(&p, &frac) || !issue_time_zone(p, &offset))
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d.year - 1900;
	tm.tm_mon = d.month - 1;
	tm.tm_mday = d.day;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss;
	t = timegm(&tm);	/* fields are checked, so -1 is a real time */
	if (out_us != NULL)
		*out_us = ((int64_t)t - offset) * 1000000 + frac;
	return true;
}

/* ------------------------------------------------------------ text */

bool
plane_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 1; cp = p[i] & 0x1f; min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 2; cp = p[i] & 0x0f; min = 0x800;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 3; cp = p[i] & 0x07; min = 0x10000;
		} else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static const char *const issue_priority_names[] = {
	[PLANE_PRIORITY_NONE] = "none",
	[PLANE_PRIORITY_LOW] = "low",
	[PLANE_PRIORITY_MEDIUM] = "medium",
	[PLANE_PRIORITY_HIGH] = "high",
	[PLANE_PRIORITY_URGENT] = "urgent",
};

static const char *const issue_group_names[] = {
	[PLANE_GROUP_UNKNOWN] = NULL,
	[PLANE_GROUP_BACKLOG] = "backlog",
	[PLANE_GROUP_UNSTARTED] = "unstarted",
	[PLANE_GROUP_STARTED] = "started",
	[PLANE_GROUP_COMPLETED] = "completed",
	[PLANE_GROUP_CANCELLED] = "cancelled",
	[PLANE_GROUP_TRIAGE] = "triage",
};

const char *
plane_priority_name(enum plane_priority p)
{
	if ((size_t)p >= sizeof(issue_priority_names) /
	    sizeof(issue_priority_names[0]))
		return "none";
	return issue_priority_names[p];
}

bool
plane_priority_parse(const char *s, enum plane_priority *out)
{
	size_t i;

	for (i = 0; s != NULL && i < sizeof(issue_priority_names) /
	    sizeof(issue_priority_names[0]); i++) {
		if (strcmp(s, issue_priority_names[i]) == 0) {
			if (out != NULL)
				*out = (enum plane_priority)i;
			return true;
		}
	}
	return false;
}

bool
plane_state_group_parse(const char *s, enum plane_state_group *out)
{
	size_t i;

	for (i = 1; s != NULL && i < sizeof(issue_group_names) /
	    sizeof(issue_group_names[0]); i++) {
		if (strcmp(s, issue_group_names[i]) == 0) {
			if (out != NULL)
				*out = (enum plane_state_group)i;
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------ JSON */

static bool
issue_absent(const cJSON *item)
{
	return item == NULL || cJSON_IsNull(item);
}

static const cJSON *
issue_member(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A JSON string, UTF-8 and at most max bytes → malloc'd copy. */
static enum cpb_err
issue_text(const cJSON *item, const char *field, size_t max, char **out,
    char *errmsg)
{
	size_t len;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "%s: not a string", field);
	len = strlen(item->valuestring);
	if (len > max)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "%s: too long (%zu bytes, at most %zu)", field, len, max);
	if (!plane_utf8_valid(item->valuestring, len))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "%s: not valid UTF-8", field);
	if ((*out = malloc(len + 1)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "%s: out of memory",
		    field);
	memcpy(*out, item->valuestring, len + 1);
	return CPB_OK;
}

/*
 * Ids end up in URLs, UIDs and file names of other modules, so they are
 * held to what Plane's UUIDs use.
 */
static enum cpb_err
issue_id(const cJSON *item, const char *field, char **out, char *errmsg)
{
	const char *s;
	size_t len;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "%s: not a string (expected a UUID)", field);
	s = item->valuestring;
	len = strlen(s);
	if (len == 0 || len >= PLANE_ID_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_") != len)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "%s: not an id (expected a UUID: 1 to %d of A-Z a-z 0-9 - _)",
		    field, PLANE_ID_MAX - 1);
	return issue_text(item, field, PLANE_ID_MAX - 1, out, errmsg);
}

/* Optional string member `base.key`: absent or null leaves *out NULL. */
static enum cpb_err
issue_opt_text(const cJSON *obj, const char *base, const char *key,
    size_t max, char **out, char *errmsg)
{
	const cJSON *item = issue_member(obj, key);
	char field[96];

	if (issue_absent(item))
		return CPB_OK;
	snprintf(field, sizeof(field), "%s.%s", base, key);
	return issue_text(item, field, max, out, errmsg);
}

static enum cpb_err
issue_parse_sequence(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	const cJSON *item = issue_member(obj, "sequence_id");
	double v;

	if (!cJSON_IsNumber(item))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.sequence_id: not a number (expected an integer "
		    "0..2147483647)");
	v = item->valuedouble;
	if (!(v >= 0 && v <= 2147483647.0) || (double)(int64_t)v != v)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.sequence_id: out of range (expected an integer "
		    "0..2147483647)");
	out->sequence_id = (int64_t)v;
	return CPB_OK;
}

static enum cpb_err
issue_parse_priority(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	const cJSON *item = issue_member(obj, "priority");

	out->priority = PLANE_PRIORITY_NONE;
	if (issue_absent(item))
		return CPB_OK;
	if (!cJSON_IsString(item) ||
	    !plane_priority_parse(item->valuestring, &out->priority))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.priority: unknown priority (expected urgent, high, "
		    "medium, low or none)");
	return CPB_OK;
}

static enum cpb_err
issue_parse_project(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	const cJSON *item = issue_member(obj, "project");
	enum cpb_err err;

	if (cJSON_IsString(item))
		return issue_id(item, "issue.project", &out->project_id,
		    errmsg);
	if (!cJSON_IsObject(item))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.project: missing (expected a UUID or a project "
		    "object)");
	if ((err = issue_id(issue_member(item, "id"), "issue.project.id",
	    &out->project_id, errmsg)) != CPB_OK)
		return err;
	if ((err = issue_opt_text(item, "issue.project", "name",
	    PLANE_NAME_MAX, &out->project_name, errmsg)) != CPB_OK)
		return err;
	return issue_opt_text(item, "issue.project", "identifier",
	    PLANE_ID_MAX - 1, &out->project_identifier, errmsg);
}

static enum cpb_err
issue_parse_state(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	const cJSON *item = issue_member(obj, "state"), *group;
	enum cpb_err err;

	out->state_group = PLANE_GROUP_UNKNOWN;
	if (issue_absent(item) || cJSON_IsString(item))
		return CPB_OK;	/* not expanded: a UUID tells nothing */
	if (!cJSON_IsObject(item))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.state: not a state (expected a UUID or an object)");
	if ((err = issue_opt_text(item, "issue.state", "name",
	    PLANE_NAME_MAX, &out->state_name, errmsg)) != CPB_OK)
		return err;
	group = issue_member(item, "group");
	if (issue_absent(group))
		return CPB_OK;
	if (!cJSON_IsString(group))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.state.group: not a string");
	/* A group a newer Plane adds maps to UNKNOWN (CONFIRMED), not an error. */
	if (!plane_state_group_parse(group->valuestring, &out->state_group))
		out->state_group = PLANE_GROUP_UNKNOWN;
	return CPB_OK;
}

static enum cpb_err
issue_parse_times(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	const cJSON *item;

	item = issue_member(obj, "target_date");
	if (!issue_absent(item) && (!cJSON_IsString(item) ||
	    !plane_date_parse(item->valuestring, &out->target_date)))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.target_date: not a date (expected YYYY-MM-DD)");
	item = issue_member(obj, "updated_at");
	if (!issue_absent(item) && (!cJSON_IsString(item) ||
	    !plane_time_parse(item->valuestring, &out->updated_at_us)))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.updated_at: not a time (expected ISO 8601 with a "
		    "zone, e.g. 2025-05-12T14:03:51.902114Z)");
	return CPB_OK;
}

/* Check a relation list and count its objects (UUID strings are skipped). */
static enum cpb_err
issue_list_objects(const cJSON *list, const char *field, size_t *count,
    char *errmsg)
{
	const cJSON *el;
	size_t n = 0, i = 0;

	*count = 0;
	if (issue_absent(list))
		return CPB_OK;
	if (!cJSON_IsArray(list))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue.%s: not an array", field);
	cJSON_ArrayForEach(el, list) {
		if (i++ >= PLANE_LIST_MAX)
			return cpb_seterr(errmsg, CPB_ERR_INVALID,
			    "issue.%s: more than %d entries", field,
			    PLANE_LIST_MAX);
		if (cJSON_IsObject(el))
			n++;
		else if (!cJSON_IsString(el))
			return cpb_seterr(errmsg, CPB_ERR_INVALID,
			    "issue.%s[%zu]: not an object or a UUID", field,
			    i - 1);
	}
	*count = n;
	return CPB_OK;
}

static enum cpb_err
issue_parse_label(const cJSON *el, size_t idx, struct plane_label *label,
    char *errmsg)
{
	char field[64];
	enum cpb_err err;

	snprintf(field, sizeof(field), "issue.labels[%zu].id", idx);
	if ((err = issue_id(issue_member(el, "id"), field, &label->id,
	    errmsg)) != CPB_OK)
		return err;
	snprintf(field, sizeof(field), "issue.labels[%zu].name", idx);
	return issue_text(issue_member(el, "name"), field, PLANE_NAME_MAX,
	    &label->name, errmsg);
}

static enum cpb_err
issue_parse_labels(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	const cJSON *list = issue_member(obj, "labels"), *el;
	size_t n, idx = 0;
	enum cpb_err err;

	if ((err = issue_list_objects(list, "labels", &n, errmsg)) != CPB_OK ||
	    n == 0)
		return err;
	if ((out->labels = calloc(n, sizeof(*out->labels))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM,
		    "issue.labels: out of memory");
	cJSON_ArrayForEach(el, list) {
		if (cJSON_IsObject(el)) {
			/* counted before parsing, so free() sees every slot */
			err = issue_parse_label(el, idx,
			    &out->labels[out->n_labels++], errmsg);
			if (err != CPB_OK)
				return err;
		}
		idx++;
	}
	return CPB_OK;
}

/* Trimmed "first last", or NULL when both are empty or absent. */
static enum cpb_err
issue_full_name(const cJSON *el, const char *field, char **out, char *errmsg)
{
	char *first = NULL, *last = NULL, *name = NULL;
	const char *b, *e;
	size_t n;
	enum cpb_err err;

	*out = NULL;
	if ((err = issue_opt_text(el, field, "first_name", PLANE_NAME_MAX,
	    &first, errmsg)) != CPB_OK ||
	    (err = issue_opt_text(el, field, "last_name", PLANE_NAME_MAX,
	    &last, errmsg)) != CPB_OK)
		goto out;
	n = (first ? strlen(first) : 0) + (last ? strlen(last) : 0) + 2;
	if ((name = malloc(n)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "%s: out of memory",
		    field);
		goto out;
	}
	snprintf(name, n, "%s %s", first ? first : "", last ? last : "");
	for (b = name; *b == ' ' || *b == '\t'; b++)
		continue;
	for (e = name + strlen(name); e > b && (e[-1] == ' ' || e[-1] == '\t');
	    e--)
		continue;
	if (e > b) {
		memmove(name, b, (size_t)(e - b));
		name[e - b] = '\0';
		*out = name;
		name = NULL;
	}
out:
	free(name);
	free(last);
	free(first);
	return err;
}

/* display_name, else "first last", else email, else NULL (skipped). */
static enum cpb_err
issue_user_name(const cJSON *el, const char *field, char **out, char *errmsg)
{
	enum cpb_err err;

	*out = NULL;
	if ((err = issue_opt_text(el, field, "display_name", PLANE_NAME_MAX,
	    out, errmsg)) != CPB_OK)
		return err;
	if (*out != NULL && **out != '\0')
		return CPB_OK;
	free(*out);
	*out = NULL;
	if ((err = issue_full_name(el, field, out, errmsg)) != CPB_OK ||
	    *out != NULL)
		return err;
	if ((err = issue_opt_text(el, field, "email", PLANE_NAME_MAX, out,
	    errmsg)) != CPB_OK)
		return err;
	if (*out != NULL && **out == '\0') {
		free(*out);
		*out = NULL;
	}
	return CPB_OK;
}

static enum cpb_err
issue_parse_assignee(const cJSON *el, size_t idx, struct plane_issue *out,
    char *errmsg)
{
	char field[64], *name = NULL, *id = NULL;
	enum cpb_err err;

	snprintf(field, sizeof(field), "issue.assignees[%zu].id", idx);
	if ((err = issue_id(issue_member(el, "id"), field, &id, errmsg)) !=
	    CPB_OK)
		goto out;
	snprintf(field, sizeof(field), "issue.assignees[%zu]", idx);
	if ((err = issue_user_name(el, field, &name, errmsg)) != CPB_OK ||
	    name == NULL)
		goto out;	/* no name at all: nothing to show, skipped */
	out->assignees[out->n_assignees].id = id;
	out->assignees[out->n_assignees].display_name = name;
	out->n_assignees++;
	id = name = NULL;
out:
	free(id);
	free(name);
	return err;
}

static enum cpb_err
issue_parse_assignees(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	const cJSON *list = issue_member(obj, "assignees"), *el;
	size_t n, idx = 0;
	enum cpb_err err;

	if ((err = issue_list_objects(list, "assignees", &n, errmsg)) !=
	    CPB_OK || n == 0)
		return err;
	if ((out->assignees = calloc(n, sizeof(*out->assignees))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM,
		    "issue.assignees: out of memory");
	cJSON_ArrayForEach(el, list) {
		if (cJSON_IsObject(el) &&
		    (err = issue_parse_assignee(el, idx, out, errmsg)) != CPB_OK)
			return err;
		idx++;
	}
	return CPB_OK;
}

static enum cpb_err
issue_parse_text_fields(const cJSON *obj, struct plane_issue *out,
    char *errmsg)
{
	const cJSON *item;
	enum cpb_err err;

	if ((err = issue_id(issue_member(obj, "id"), "issue.id", &out->id,
	    errmsg)) != CPB_OK)
		return err;
	/* "" is a name Plane stores; null or a missing name is not. */
	item = issue_member(obj, "name");
	if (item == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "issue.name: missing");
	if ((err = issue_text(item, "issue.name", PLANE_NAME_MAX, &out->name,
	    errmsg)) != CPB_OK)
		return err;
	return issue_opt_text(obj, "issue", "description_html",
	    PLANE_DESCRIPTION_MAX, &out->description_html, errmsg);
}

enum cpb_err
plane_issue_from_json(const cJSON *obj, struct plane_issue *out, char *errmsg)
{
	enum cpb_err err;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(obj)) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "issue: not a JSON object");
		goto out;
	}
	if ((err = issue_parse_text_fields(obj, out, errmsg)) != CPB_OK ||
	    (err = issue_parse_project(obj, out, errmsg)) != CPB_OK ||
	    (err = issue_parse_sequence(obj, out, errmsg)) != CPB_OK ||
	    (err = issue_parse_priority(obj, out, errmsg)) != CPB_OK ||
	    (err = issue_parse_state(obj, out, errmsg)) != CPB_OK ||
	    (err = issue_parse_times(obj, out, errmsg)) != CPB_OK ||
	    (err = issue_parse_labels(obj, out, errmsg)) != CPB_OK ||
	    (err = issue_parse_assignees(obj, out, errmsg)) != CPB_OK)
		goto out;
out:
	if (err != CPB_OK)
		plane_issue_free(out);
	return err;
}

void
plane_issue_free(struct plane_issue *issue)
{
	size_t i;

	if (issue == NULL)
		return;
	for (i = 0; i < issue->n_labels; i++) {
		free(issue->labels[i].id);
		free(issue->labels[i].name);
	}
	for (i = 0; i < issue->n_assignees; i++) {
		free(issue->assignees[i].id);
		free(issue->assignees[i].display_name);
	}
	free(issue->labels);
	free(issue->assignees);
	free(issue->id);
	free(issue->project_id);
	free(issue->project_name);
	free(issue->project_identifier);
	free(issue->name);
	free(issue->description_html);
	free(issue->state_name);
	memset(issue, 0, sizeof(*issue));
}

/* ------------------------------------------------------------ copy */

/* NULL-preserving strdup; false only when an allocation failed. */
static bool
issue_dup(char **dst, const char *src)
{
	size_t len;

	*dst = NULL;
	if (src == NULL)
		return true;
	len = strlen(src);
	if ((*dst = malloc(len + 1)) == NULL)
		return false;
	memcpy(*dst, src, len + 1);
	return true;
}

static bool
issue_copy_lists(struct plane_issue *dst, const struct plane_issue *src)
{
	size_t i;

	if (src->n_labels > 0 &&
	    (dst->labels = calloc(src->n_labels, sizeof(*dst->labels))) == NULL)
		return false;
	for (i = 0; i < src->n_labels; i++) {
		dst->n_labels++;
		if (!issue_dup(&dst->labels[i].id, src->labels[i].id) ||
		    !issue_dup(&dst->labels[i].name, src->labels[i].name))
			return false;
	}
	if (src->n_assignees > 0 && (dst->assignees = calloc(src->n_assignees,
	    sizeof(*dst->assignees))) == NULL)
		return false;
	for (i = 0; i < src->n_assignees; i++) {
		dst->n_assignees++;
		if (!issue_dup(&dst->assignees[i].id, src->assignees[i].id) ||
		    !issue_dup(&dst->assignees[i].display_name,
		    src->assignees[i].display_name))
			return false;
	}
	return true;
}

enum cpb_err
plane_issue_copy(struct plane_issue *dst, const struct plane_issue *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->sequence_id = src->sequence_id;
	dst->priority = src->priority;
	dst->state_group = src->state_group;
	dst->target_date = src->target_date;
	dst->updated_at_us = src->updated_at_us;
	if (!issue_dup(&dst->id, src->id) ||
	    !issue_dup(&dst->project_id, src->project_id) ||
	    !issue_dup(&dst->project_name, src->project_name) ||
	    !issue_dup(&dst->project_identifier, src->project_identifier) ||
	    !issue_dup(&dst->name, src->name) ||
	    !issue_dup(&dst->description_html, src->description_html) ||
	    !issue_dup(&dst->state_name, src->state_name) ||
	    !issue_copy_lists(dst, src)) {
		plane_issue_free(dst);
		return CPB_ERR_NOMEM;
	}
	return CPB_OK;
}
