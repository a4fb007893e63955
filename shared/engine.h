/*
 * engine.h - the sync rules: make each project's calendar match Plane.
 *
 * A full sync walks Plane's projects page by page; for each project it
 * takes one REPORT of the calendar (hrefs and ETags), the store's rows for
 * the project, and then Plane's issues page by page, deciding per issue
 * with engine_decide() (a pure function) and writing only what must
 * change.  Deletions come last and only when the project's issue listing
 * was complete, and never more than half a calendar unless allowed.
 *
 * Only resources named like ours ("plane-issue-<id>@calplanebot.ics",
 * percent-encoded as the Python original's caldav library wrote them) or
 * recorded in the store are ever touched.
 *
 * Ownership: the engine borrows config, store and clients; a report owns
 * its error strings until engine_report_free().
 */
#ifndef CPB_ENGINE_H
#define CPB_ENGINE_H

#include <stdbool.h>

#include "caldav.h"
#include "config.h"
#include "err.h"
#include "issue.h"
#include "plane.h"
#include "store.h"

#define ENGINE_MAX_ERRORS 50	/* kept per report; the rest are counted */

struct engine;

struct engine_opts {
	bool	 dry_run;		/* decide and log, write nothing */
	bool	 allow_mass_delete;
	const char *only_project;	/* project id, or NULL for all */
};

struct engine_report {
	struct store_run_counts counts;
	long	 projects;		/* projects visited */
	long	 projects_incomplete;	/* listing failed or cut short: no deletions */
	long	 deletions_refused;	/* held back by the mass-delete guard */
	char	*errors[ENGINE_MAX_ERRORS];
	size_t	 n_errors;
	long	 errors_dropped;
};

enum engine_op {
	ENGINE_OP_SKIP,			/* no date, no event: nothing to do */
	ENGINE_OP_UNCHANGED,
	ENGINE_OP_CREATE,
	ENGINE_OP_UPDATE,
	ENGINE_OP_DELETE,
};

/* What is known about one issue's event, for engine_decide(). */
struct engine_view {
	bool	 has_date;
	const char *new_hash;		/* NULL when !has_date */
	const char *stored_hash;	/* NULL: no store row (or never written) */
	const char *stored_etag;
	bool	 listing_known;		/* a calendar listing was taken */
	bool	 in_listing;
	const char *listed_etag;
};

/*
 * The decision, pure.  *if_match gets the ETag a write must be conditional
 * on (NULL: create with If-None-Match).
 */
enum engine_op engine_decide(const struct engine_view *view,
    const char **if_match);

const char *engine_op_name(enum engine_op op);

enum cpb_err engine_new(struct engine **out, const struct cpb_config *cfg,
    struct store *store, struct plane_client *plane,
    struct caldav_client *caldav, char *errmsg);
void engine_free(struct engine *eng);

/*
 * The full sync.  Returns CPB_OK when it ran to the end (single-event
 * failures are in the report and the counts); an error when it could not
 * run at all (Plane or CalDAV unreachable, auth refused, store broken).
 * The run is recorded in the store unless opts->dry_run.
 */
enum cpb_err engine_full_sync(struct engine *eng, const struct engine_opts *opts,
    struct engine_report *report, char *errmsg);

/*
 * Apply one issue as Plane sent it (webhook path): create, update or
 * delete its event without a calendar listing.  `project` names the
 * project when the issue does not carry it (may be NULL: then it is
 * fetched from Plane).  *op tells what was done.
 */
enum cpb_err engine_apply_issue(struct engine *eng,
    const struct plane_issue *issue, const struct plane_project *project,
    enum engine_op *op, char *errmsg);

/*
 * Webhook path, beside engine_apply_issue:
 *
 * engine_delete_issue: delete the issue's event if the store knows it
 * (If-Match its ETag; a 412 re-reads once, a 404 counts as gone) and
 * forget the row.  An unknown issue is CPB_OK: nothing to do.
 *
 * engine_apply_project: a project's name or identifier changed.  Renames
 * its calendar through the same path as the full sync when the store knows
 * the calendar; an unknown project is left alone (its first issue or the
 * next full sync creates the calendar; a webhook never creates one for a
 * project the sync does not manage).
 *
 * engine_delete_project: the project is gone.  Deletes every event the
 * store records for it and forgets its calendar row; the calendar
 * collection itself stays (it may hold events that are not ours).  Stops
 * at the first failure; what was deleted stays deleted, so a retry goes
 * on from there.
 */
enum cpb_err engine_delete_issue(struct engine *eng, const char *issue_id,
    char *errmsg);
enum cpb_err engine_apply_project(struct engine *eng,
    const struct plane_project *project, char *errmsg);
enum cpb_err engine_delete_project(struct engine *eng, const char *project_id,
    char *errmsg);

void engine_report_free(struct engine_report *report);

/* Replace "{project}" in the template.  Caller frees. */
char *engine_calendar_name(const char *tmpl, const char *project_name);

#endif
