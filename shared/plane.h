/*
 * plane.h - the client of Plane's REST API (/api/v1/), as plane-api.md
 * describes the real server: X-Api-Key auth, trailing slashes, the cursor
 * envelope with per_page=1000, expand=state,labels,assignees,project.
 *
 * Listings are streamed: each page is fetched, parsed, handed to the
 * callback item by item and freed before the next page, so memory is
 * bounded by one page.  Requests are paced on X-RateLimit-Remaining /
 * X-RateLimit-Reset, 429s wait Retry-After, 5xx and timeouts are retried
 * with backoff (http.h), 401/403 fail at once with what to fix.
 *
 * Ownership: the client borrows the config and the http client; items
 * passed to callbacks live only during the call (copy what you keep).
 */
#ifndef CPB_PLANE_H
#define CPB_PLANE_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "issue.h"

struct plane_client;

struct plane_project {
	char	*id;
	char	*identifier;		/* "WEB" */
	char	*name;
};

/* Return CPB_OK to go on; anything else stops the listing with that code. */
typedef enum cpb_err (*plane_project_cb)(const struct plane_project *project,
    void *ctx);
typedef enum cpb_err (*plane_issue_cb)(const struct plane_issue *issue,
    void *ctx);

enum cpb_err plane_client_new(struct plane_client **out,
    const struct cpb_config *cfg, struct http_client *http, char *errmsg);
void plane_client_free(struct plane_client *client);

/*
 * Items per page of every listing: 1000 (Plane's maximum, one request per
 * 1000 issues) unless changed; tests use small pages to cross boundaries.
 * CPB_ERR_INVALID outside 1..1000.
 */
enum cpb_err plane_client_set_page_size(struct plane_client *client,
    long per_page, char *errmsg);

/*
 * Every project of the workspace whose member the token's user is, all
 * pages.  Plane also lists public projects the user has not joined
 * ("is_member": false); their issues answer 403, so they are left out.
 */
enum cpb_err plane_list_projects(struct plane_client *client,
    plane_project_cb cb, void *ctx, char *errmsg);

/*
 * Every issue of a project, all pages, expanded.  When a page fails after
 * earlier pages were delivered, returns the error: the caller must treat
 * the listing as incomplete (no deletions).
 */
enum cpb_err plane_list_issues(struct plane_client *client,
    const char *project_id, plane_issue_cb cb, void *ctx, char *errmsg);

/* One project / one issue (expanded).  CPB_ERR_NOT_FOUND on 404. */
enum cpb_err plane_get_project(struct plane_client *client,
    const char *project_id, struct plane_project *out, char *errmsg);
enum cpb_err plane_get_issue(struct plane_client *client,
    const char *project_id, const char *issue_id, struct plane_issue *out,
    char *errmsg);

/* GET /users/me/: proves the URL and the token.  Writes the display name. */
enum cpb_err plane_whoami(struct plane_client *client, char *name,
    size_t name_size, char *errmsg);

enum cpb_err plane_project_from_json(const cJSON *obj,
    struct plane_project *out, char *errmsg);
void plane_project_free(struct plane_project *project);

/*
 * Parse one page envelope: results array, next_page_results, next_cursor.
 * `results` points into `root` (caller owns root).  Pure; unit-tested.
 */
enum cpb_err plane_parse_page(const cJSON *root, const cJSON **results,
    bool *has_next, const char **next_cursor, char *errmsg);

/*
 * How long to wait before the next request, in ms.  From the last answer:
 * X-RateLimit-Remaining and -Reset (unix seconds; -1 when absent) and when
 * it came (answered_ms, unix ms); oldest_ms is when we sent our oldest
 * request that is still inside the window (-1: none we know of).  Only an
 * exhausted window is waited for, and Plane's window slides: a slot frees
 * when the request that took it is a window old, so the wait lasts until
 * our oldest request in the window leaves it, not the whole window that
 * the Reset header names (always "now + 60").  Pure; unit-tested.
 */
#define PLANE_PACE_MARGIN_MS	250	/* our send time to Plane's record */
long plane_pace_ms(long remaining, int64_t reset_unix, int64_t answered_ms,
    int64_t oldest_ms, int64_t now_ms);

#endif
