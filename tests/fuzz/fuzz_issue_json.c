/*
 * fuzz_issue_json - Plane's issue JSON (REST with expand, REST without,
 * webhook data): cJSON_ParseWithLength, then plane_issue_from_json.
 *
 * Input: the JSON text of one issue object.
 *
 * Checks, for an issue the parser accepts:
 *   - the struct keeps issue.h's promises: id a Plane id (1..63 of
 *     [A-Za-z0-9_-]), name present, every string valid UTF-8 and within
 *     its bound, sequence_id 0..2147483647, target_date none or a real
 *     date, lists within PLANE_LIST_MAX with a name for every entry;
 *   - plane_issue_copy() gives an equal struct;
 *   - an issue with a target date maps to an event that passes the
 *     round-trip oracle (fuzz_ical_check.h), or is refused only for a date
 *     libical cannot write.
 * A refused issue must come back zeroed, with a reason.
 */
#include "fuzz_common.h"
#include "fuzz_ical_check.h"

#include <cjson/cJSON.h>

#include "issue.h"

static void
check_text(const char *s, size_t max, bool nullable, const char *what)
{
	if (s == NULL) {
		FUZZ_CHECK(nullable, "%s is NULL", what);
		return;
	}
	FUZZ_CHECK(strlen(s) <= max, "%s: %zu bytes", what, strlen(s));
	FUZZ_CHECK(plane_utf8_valid(s, strlen(s)), "%s: not UTF-8", what);
}

static void
check_id(const char *s, bool nullable, const char *what)
{
	check_text(s, PLANE_ID_MAX - 1, nullable, what);
	if (s == NULL)
		return;
	FUZZ_CHECK(s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == strlen(s),
	    "%s [%s] is no Plane id", what, s);
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
check_copy(const struct plane_issue *a)
{
	struct plane_issue b;
	size_t i;

	FUZZ_CHECK(plane_issue_copy(&b, a) == CPB_OK, "copy failed");
	FUZZ_CHECK(same_str(a->id, b.id) && same_str(a->name, b.name) &&
	    same_str(a->project_id, b.project_id) &&
	    same_str(a->project_name, b.project_name) &&
	    same_str(a->project_identifier, b.project_identifier) &&
	    same_str(a->description_html, b.description_html) &&
	    same_str(a->state_name, b.state_name) &&
	    a->sequence_id == b.sequence_id && a->priority == b.priority &&
	    a->state_group == b.state_group &&
	    a->target_date.year == b.target_date.year &&
	    a->target_date.month == b.target_date.month &&
	    a->target_date.day == b.target_date.day &&
	    a->updated_at_us == b.updated_at_us &&
	    a->n_labels == b.n_labels && a->n_assignees == b.n_assignees,
	    "copy differs");
	for (i = 0; i < a->n_labels; i++)
		FUZZ_CHECK(same_str(a->labels[i].id, b.labels[i].id) &&
		    same_str(a->labels[i].name, b.labels[i].name),
		    "copied label %zu differs", i);
	for (i = 0; i < a->n_assignees; i++)
		FUZZ_CHECK(same_str(a->assignees[i].id, b.assignees[i].id) &&
		    same_str(a->assignees[i].display_name,
		    b.assignees[i].display_name), "copied assignee %zu differs",
		    i);
	plane_issue_free(&b);
	FUZZ_CHECK(b.id == NULL && b.n_labels == 0, "free left the struct");
}

static void
check_issue(const struct plane_issue *is)
{
	char date[32];
	size_t i;

	check_id(is->id, false, "id");
	check_text(is->name, PLANE_NAME_MAX, false, "name");
	check_id(is->project_id, false, "project_id");
	check_text(is->project_name, PLANE_NAME_MAX, true, "project_name");
	check_text(is->project_identifier, PLANE_ID_MAX - 1, true,
	    "project_identifier");
	check_text(is->description_html, PLANE_DESCRIPTION_MAX, true,
	    "description_html");
	check_text(is->state_name, PLANE_NAME_MAX, true, "state_name");
	FUZZ_CHECK(is->sequence_id >= 0 && is->sequence_id <= INT32_MAX,
	    "sequence_id %lld", (long long)is->sequence_id);
	FUZZ_CHECK((int)is->priority >= PLANE_PRIORITY_NONE &&
	    (int)is->priority <= PLANE_PRIORITY_URGENT, "priority");
	FUZZ_CHECK((int)is->state_group >= PLANE_GROUP_UNKNOWN &&
	    (int)is->state_group <= PLANE_GROUP_TRIAGE, "state group");
	if (is->target_date.year != 0) {
		snprintf(date, sizeof(date), "%04d-%02d-%02d",
		    is->target_date.year, is->target_date.month,
		    is->target_date.day);
		FUZZ_CHECK(plane_date_parse(date, NULL), "target_date %s", date);
	}
	FUZZ_CHECK(is->n_labels <= PLANE_LIST_MAX &&
	    is->n_assignees <= PLANE_LIST_MAX, "list sizes");
	FUZZ_CHECK(is->n_labels == 0 || is->labels != NULL, "labels NULL");
	FUZZ_CHECK(is->n_assignees == 0 || is->assignees != NULL,
	    "assignees NULL");
	for (i = 0; i < is->n_labels; i++) {
		check_id(is->labels[i].id, false, "label id");
		check_text(is->labels[i].name, PLANE_NAME_MAX, false, "label name");
	}
	for (i = 0; i < is->n_assignees; i++) {
		check_id(is->assignees[i].id, false, "assignee id");
		check_text(is->assignees[i].display_name, PLANE_NAME_MAX, false,
		    "assignee name");
		FUZZ_CHECK(is->assignees[i].display_name[0] != '\0',
		    "assignee with an empty name kept");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ical_context ctx = {
		.web_url = "https://plane.example.com",
		.workspace_slug = "acme",
		.project_name = "Website",
		.project_identifier = NULL,
	};
	struct plane_issue is;
	char errmsg[CPB_ERRMSG_MAX] = "";
	cJSON *root;
	enum cpb_err err;

	root = cJSON_ParseWithLength((const char *)data, size);
	if (root == NULL)
		return 0;
	err = plane_issue_from_json(root, &is, errmsg);
	if (err != CPB_OK) {
		FUZZ_CHECK(err == CPB_ERR_INVALID, "error %d", (int)err);
		FUZZ_CHECK(errmsg[0] != '\0', "no reason given");
		FUZZ_CHECK(is.id == NULL && is.name == NULL && is.labels == NULL &&
		    is.assignees == NULL && is.n_labels == 0, "not zeroed");
		cJSON_Delete(root);
		return 0;
	}
	check_issue(&is);
	check_copy(&is);
	if (is.target_date.year != 0) {
#ifdef FUZZ_KNOWN_ICAL_YEAR_3000
		if (plane_date_next(is.target_date).year > 3000 ||
		    is.updated_at_us >= FZ_YEAR_3001_US)
			goto out;
#endif
		err = fuzz_ical_roundtrip(&is, &ctx, 1, 1700000000000000LL);
		FUZZ_CHECK(fz_known_defect || err == CPB_OK ||
		    (err == CPB_ERR_INVALID &&
		    plane_date_next(is.target_date).year > 3000),
		    "event refused (%d): %s", (int)err, fz_errmsg);
	}
#ifdef FUZZ_KNOWN_ICAL_YEAR_3000
out:
#endif
	plane_issue_free(&is);
	cJSON_Delete(root);
	return 0;
}
