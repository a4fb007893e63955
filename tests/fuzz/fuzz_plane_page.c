/*
 * fuzz_plane_page - one page of a Plane listing, as plane_list_issues and
 * plane_list_projects see it: cJSON_ParseWithLength, plane_parse_page,
 * then every item through plane_issue_from_json and
 * plane_project_from_json.
 *
 * Input: the JSON body of a page (or anything else a server may answer).
 *
 * Checks: an accepted page has an array of results and a next_page_results
 * boolean; "more" comes with a non-empty cursor of at most 128 bytes; no
 * cursor without "more"; a refused page leaves every output empty and
 * says why; items parse or are refused with a reason, and accepted
 * projects have an id and identifier.
 */
#include "fuzz_common.h"

#include <cjson/cJSON.h>

#include "issue.h"
#include "plane.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const cJSON *results = (const cJSON *)&results, *item, *more;
	const char *cursor = "x";
	char errmsg[CPB_ERRMSG_MAX] = "";
	struct plane_issue is;
	struct plane_project pr;
	bool has_next = true;
	cJSON *root;
	enum cpb_err err;

	root = cJSON_ParseWithLength((const char *)data, size);
	if (root == NULL)
		return 0;
	err = plane_parse_page(root, &results, &has_next, &cursor, errmsg);
	if (err != CPB_OK) {
		FUZZ_CHECK(err == CPB_ERR_PARSE, "error %d", (int)err);
		FUZZ_CHECK(results == NULL && !has_next && cursor == NULL,
		    "outputs set on error");
		FUZZ_CHECK(errmsg[0] != '\0', "no reason");
		cJSON_Delete(root);
		return 0;
	}
	FUZZ_CHECK(cJSON_IsArray(results), "results not an array");
	FUZZ_CHECK(results == cJSON_GetObjectItemCaseSensitive(root, "results"),
	    "results not the page's");
	more = cJSON_GetObjectItemCaseSensitive(root, "next_page_results");
	FUZZ_CHECK(cJSON_IsBool(more) && has_next == (bool)cJSON_IsTrue(more),
	    "has_next %d", has_next);
	if (has_next)
		FUZZ_CHECK(cursor != NULL && cursor[0] != '\0' &&
		    strlen(cursor) <= 128, "cursor");
	else
		FUZZ_CHECK(cursor == NULL, "cursor without more results");

	cJSON_ArrayForEach(item, results) {
		errmsg[0] = '\0';
		err = plane_issue_from_json(item, &is, errmsg);
		FUZZ_CHECK(err == CPB_OK || (err == CPB_ERR_INVALID &&
		    errmsg[0] != '\0'), "issue: %d", (int)err);
		if (err == CPB_OK)
			FUZZ_CHECK(is.id != NULL && is.name != NULL &&
			    is.project_id != NULL, "issue without id or name");
		plane_issue_free(&is);

		errmsg[0] = '\0';
		err = plane_project_from_json(item, &pr, errmsg);
		FUZZ_CHECK(err == CPB_OK || errmsg[0] != '\0', "project: %d",
		    (int)err);
		if (err == CPB_OK)
			FUZZ_CHECK(pr.id != NULL && pr.id[0] != '\0' &&
			    pr.identifier != NULL &&
			    plane_utf8_valid(pr.id, strlen(pr.id)) &&
			    (pr.name == NULL ||
			    plane_utf8_valid(pr.name, strlen(pr.name))),
			    "project fields");
		else
			FUZZ_CHECK(pr.id == NULL && pr.identifier == NULL &&
			    pr.name == NULL, "project not zeroed");
		plane_project_free(&pr);
	}
	cJSON_Delete(root);
	return 0;
}
