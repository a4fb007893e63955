/*
 * ical.h - the mapping: one Plane issue → one all-day VEVENT, built with
 * libical so escaping, folding and structure are the library's.
 *
 *   UID          plane-issue-{id}@calplanebot
 *   SUMMARY      [{sequence_id}] {name}
 *   DESCRIPTION  description as text, "---", Priority/State/Assignees/
 *                Labels/Project lines
 *   DTSTART/DTEND VALUE=DATE target date / the next day
 *   STATUS       CANCELLED for completed|cancelled groups, else CONFIRMED
 *   COLOR, PRIORITY from priority; CATEGORIES from labels; URL to Plane
 *   LAST-MODIFIED from updated_at; SEQUENCE and DTSTAMP from the caller
 *
 * Control characters iCalendar forbids are removed from every text value.
 *
 * Choices the mapping leaves open:
 *   - DESCRIPTION lines are joined with "\n"; without description text it
 *     starts with "---".  A missing state name reads "State: Unknown"; the
 *     project name is the issue's, else the context's, else "Unknown".
 *     Assignees/Labels lines appear only when some entry has a name;
 *     nameless entries are left out.
 *   - PRIORITY urgent 1, high 3, medium 5, low 7, none 0; COLOR (RFC 7986)
 *     red, orange, gold, green, and none for priority none.
 *   - CATEGORIES: one property per label, in Plane's order.  libical 3.0.16
 *     cannot escape ',' in CATEGORIES (and its reader stops splitting a list
 *     at the first escaped comma), so these lines are escaped and folded in
 *     ical.c; a label "a,b" stays one category for every reader.
 *   - URL {web_url}/{slug}/browse/{IDENT}-{seq}/ with IDENT from the issue,
 *     else the context; with neither, {web_url}/{slug}/projects/{project_id}
 *     /issues/{id}; with no project id either, no URL.  Pieces are
 *     percent-encoded.
 *   - LAST-MODIFIED is left out when updated_at is unknown (0).
 *   - Invalid UTF-8 becomes U+FFFD, one per offending byte.
 *   - A description_html over PLANE_DESCRIPTION_MAX is cut there (on a
 *     character boundary) and the text ends "[description truncated]".
 *
 * Ownership: returned strings are malloc'd and the caller's.
 */
#ifndef CPB_ICAL_H
#define CPB_ICAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "issue.h"

#define ICAL_HASH_HEX 65	/* SHA-256 hex + NUL */

struct ical_context {
	const char *web_url;		/* PLANE_WEB_URL, no trailing '/' */
	const char *workspace_slug;
	const char *project_name;	/* fallback when the issue lacks it */
	const char *project_identifier;	/* fallback when the issue lacks it */
};

/*
 * Build a whole VCALENDAR (PRODID, VERSION, CALSCALE, one VEVENT) in `*out`,
 * CRLF line ends.  `hash_hex` receives the SHA-256 (lowercase hex) of the
 * event without DTSTAMP, SEQUENCE and LAST-MODIFIED, so a change of mapped
 * content shows as a new hash whatever the server later does to the text,
 * and an updated_at change alone does not.  The issue must have a valid
 * target date (else CPB_ERR_INVALID); ctx->web_url and workspace_slug are
 * required.  On error *out is NULL.
 */
enum cpb_err ical_build_event(const struct plane_issue *issue,
    const struct ical_context *ctx, unsigned sequence, int64_t dtstamp_us,
    char **out, char hash_hex[ICAL_HASH_HEX], char *errmsg);

/* "plane-issue-{id}@calplanebot".  Caller frees.  NULL when out of memory
 * or when id is empty, too long or holds more than [A-Za-z0-9._-]. */
char *ical_uid(const char *issue_id);

/* If uid has our form, copy the issue id into id (size PLANE_ID_MAX) and return true. */
bool ical_uid_issue_id(const char *uid, char *id, size_t id_size);

/* HTML (Plane's description_html) → plain text via libxml2's HTML parser:
 * entities decoded, block elements end lines, list items get "- ", script
 * and style dropped, white space collapsed outside <pre>, at most one empty
 * line in a row, trimmed; "<p></p>" → "".  NULL html is "".  The result is
 * cleaned as by ical_clean_text.  Caller frees; NULL only when out of memory. */
char *ical_html_to_text(const char *html, size_t len);

/* Drop control characters iCalendar text may not hold (keeps \n, \t):
 * CRLF → LF, other CR, C0, DEL and C1 (U+0080..U+009F) dropped, invalid
 * UTF-8 → U+FFFD.  NULL is "".  Caller frees; NULL only when out of memory. */
char *ical_clean_text(const char *s);

#endif
