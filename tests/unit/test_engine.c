/*
 * test_engine.c - the decision table of engine_decide(), which every write
 * of a full sync and of a webhook goes through, and the calendar name.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "engine.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static enum engine_op
decide(struct engine_view v, const char **if_match)
{
	return engine_decide(&v, if_match);
}

Test(decide, listing_without_our_event_creates)
{
	const char *m = "x";

	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1, .listing_known = true }, &m), ENGINE_OP_CREATE);
	cr_expect_null(m, "a create must be If-None-Match, not If-Match");
	/* A store row whose event vanished from the calendar: create again. */
	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1, .stored_hash = H1, .stored_etag = "\"a\"",
	    .listing_known = true }, &m), ENGINE_OP_CREATE);
}

Test(decide, same_hash_same_etag_is_unchanged)
{
	const char *m;

	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1, .stored_hash = H1, .stored_etag = "\"a\"",
	    .listing_known = true, .in_listing = true, .listed_etag = "\"a\"" },
	    &m), ENGINE_OP_UNCHANGED);
}

Test(decide, changed_content_updates_on_the_listed_etag)
{
	const char *m = NULL;

	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H2, .stored_hash = H1, .stored_etag = "\"a\"",
	    .listing_known = true, .in_listing = true, .listed_etag = "\"a\"" },
	    &m), ENGINE_OP_UPDATE);
	cr_expect_str_eq(m, "\"a\"");
}

Test(decide, edited_in_the_calendar_is_overwritten_plane_wins)
{
	const char *m = NULL;

	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1, .stored_hash = H1, .stored_etag = "\"a\"",
	    .listing_known = true, .in_listing = true, .listed_etag = "\"b\"" },
	    &m), ENGINE_OP_UPDATE);
	cr_expect_str_eq(m, "\"b\"");
}

Test(decide, no_etag_from_server_trusts_the_hash)
{
	const char *m;

	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1, .stored_hash = H1, .stored_etag = NULL,
	    .listing_known = true, .in_listing = true, .listed_etag = "\"b\"" },
	    &m), ENGINE_OP_UNCHANGED);
}

Test(decide, adopted_event_without_store_row_is_updated)
{
	const char *m = NULL;

	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1, .listing_known = true, .in_listing = true,
	    .listed_etag = "\"py\"" }, &m), ENGINE_OP_UPDATE);
	cr_expect_str_eq(m, "\"py\"");
}

Test(decide, undated_issue_deletes_what_is_there)
{
	const char *m = NULL;

	cr_expect_eq(decide((struct engine_view){ .has_date = false,
	    .listing_known = true, .in_listing = true, .listed_etag = "\"a\"" },
	    &m), ENGINE_OP_DELETE);
	cr_expect_str_eq(m, "\"a\"");
	cr_expect_eq(decide((struct engine_view){ .has_date = false,
	    .listing_known = true }, &m), ENGINE_OP_SKIP);
	cr_expect_eq(decide((struct engine_view){ .has_date = false,
	    .stored_hash = H1, .stored_etag = "\"s\"" }, &m), ENGINE_OP_DELETE);
	cr_expect_str_eq(m, "\"s\"");
	cr_expect_eq(decide((struct engine_view){ .has_date = false }, &m),
	    ENGINE_OP_SKIP);
}

Test(decide, webhook_path_uses_the_store)
{
	const char *m = NULL;

	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1 }, &m), ENGINE_OP_CREATE);
	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H1, .stored_hash = H1, .stored_etag = "\"s\"" }, &m),
	    ENGINE_OP_UNCHANGED);
	cr_expect_eq(decide((struct engine_view){ .has_date = true,
	    .new_hash = H2, .stored_hash = H1, .stored_etag = "\"s\"" }, &m),
	    ENGINE_OP_UPDATE);
	cr_expect_str_eq(m, "\"s\"");
}

Test(calendar_name, template)
{
	char *s = engine_calendar_name("Plane: {project}", "Web Shop");

	cr_expect_str_eq(s, "Plane: Web Shop");
	free(s);
	s = engine_calendar_name("{project} (due dates)", "Ops");
	cr_expect_str_eq(s, "Ops (due dates)");
	free(s);
	s = engine_calendar_name("Plane: {project}", "");
	cr_expect_str_eq(s, "Plane: ");
	free(s);
	s = engine_calendar_name("Plane: {project}", "{project}");
	cr_expect_str_eq(s, "Plane: {project}", "only the template's marker is replaced");
	free(s);
}

Test(op_name, every_operation_has_a_log_name)
{
	cr_expect_str_eq(engine_op_name(ENGINE_OP_CREATE), "create");
	cr_expect_str_eq(engine_op_name(ENGINE_OP_UPDATE), "update");
	cr_expect_str_eq(engine_op_name(ENGINE_OP_DELETE), "delete");
	cr_expect_str_eq(engine_op_name(ENGINE_OP_UNCHANGED), "unchanged");
	cr_expect_str_eq(engine_op_name(ENGINE_OP_SKIP), "skip");
}
