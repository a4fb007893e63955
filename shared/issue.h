/*
 * issue.h - a Plane issue as the sync needs it, parsed from Plane's JSON.
 *
 * The same parser serves the REST API (with expand=state,labels,assignees,
 * project) and webhook payloads (where project is a bare UUID).  Every field is
 * validated: strings are UTF-8 and bounded, dates are real calendar dates,
 * times are normalised to UTC.
 *
 * Ownership: struct plane_issue owns every pointer in it;
 * plane_issue_free() releases them (not the struct itself).
 */
#ifndef CPB_ISSUE_H
#define CPB_ISSUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "err.h"

#define PLANE_ID_MAX		64	/* UUIDs are 36 */
#define PLANE_NAME_MAX		(256 * 1024)	/* bytes, generous: Plane caps at 255 chars */
#define PLANE_DESCRIPTION_MAX	(4 * 1024 * 1024)
#define PLANE_LIST_MAX		10000	/* labels or assignees per issue */

enum plane_priority {
	PLANE_PRIORITY_NONE,
	PLANE_PRIORITY_LOW,
	PLANE_PRIORITY_MEDIUM,
	PLANE_PRIORITY_HIGH,
	PLANE_PRIORITY_URGENT,
};

enum plane_state_group {
	PLANE_GROUP_UNKNOWN,	/* state not expanded */
	PLANE_GROUP_BACKLOG,
	PLANE_GROUP_UNSTARTED,
	PLANE_GROUP_STARTED,
	PLANE_GROUP_COMPLETED,
	PLANE_GROUP_CANCELLED,
	PLANE_GROUP_TRIAGE,
};

struct plane_date {
	int	year, month, day;	/* year 0 = no date */
};

struct plane_label {
	char	*id;
	char	*name;
};

struct plane_user {
	char	*id;
	char	*display_name;
};

struct plane_issue {
	char	*id;			/* UUID */
	char	*project_id;		/* UUID */
	char	*project_name;		/* NULL unless expanded or filled in */
	char	*project_identifier;	/* e.g. "WEB"; NULL unless known */
	int64_t	 sequence_id;		/* 0 ..= INT32_MAX */
	char	*name;
	char	*description_html;	/* may be NULL; description_stripped is ignored so
					   webhook and REST produce the same event */
	enum plane_priority priority;
	char	*state_name;		/* NULL unless expanded */
	enum plane_state_group state_group;
	struct plane_date target_date;	/* year 0: no due date */
	int64_t	 updated_at_us;		/* UTC, microseconds since the epoch; 0 unknown */
	struct plane_label *labels;	/* Plane's order */
	size_t	 n_labels;
	struct plane_user *assignees;	/* Plane's order */
	size_t	 n_assignees;
};

/*
 * Fill `out` (zeroed first) from one issue object.  CPB_ERR_INVALID with
 * the field at fault in errmsg when the JSON does not have Plane's shape.
 */
enum cpb_err plane_issue_from_json(const cJSON *obj, struct plane_issue *out,
    char *errmsg);
void plane_issue_free(struct plane_issue *issue);

/* Deep copy; dst is overwritten. */
enum cpb_err plane_issue_copy(struct plane_issue *dst, const struct plane_issue *src);

/* "YYYY-MM-DD" → date; rejects anything that is not a real date. */
bool plane_date_parse(const char *s, struct plane_date *out);
/* The following day (for DTEND of an all-day event). */
struct plane_date plane_date_next(struct plane_date d);

/*
 * ISO 8601 with optional fraction and a zone (Z, +hh:mm, -hh:mm, +hhmm)
 * → microseconds since the epoch, UTC.  Rejects out-of-range fields.
 */
bool plane_time_parse(const char *s, int64_t *out_us);

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool plane_utf8_valid(const char *s, size_t len);

const char *plane_priority_name(enum plane_priority p);	/* "urgent" … "none" */
bool plane_priority_parse(const char *s, enum plane_priority *out);
bool plane_state_group_parse(const char *s, enum plane_state_group *out);

#endif
