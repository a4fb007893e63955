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
 * Build a whole VCALENDAR (PRODID, VERSION, one VEVENT) in `*out`.
 * `hash_hex` receives the SHA-256 of everything that comes from Plane
 * (all but DTSTAMP and SEQUENCE), so a change shows as a new hash whatever
 * the server later does to the text.  The issue must have a target date.
 */
enum cpb_err ical_build_event(const struct plane_issue *issue,
    const struct ical_context *ctx, unsigned sequence, int64_t dtstamp_us,
    char **out, char hash_hex[ICAL_HASH_HEX], char *errmsg);

/* "plane-issue-{id}@calplanebot".  Caller frees. */
char *ical_uid(const char *issue_id);

/* If uid has our form, copy the issue id into id (size PLANE_ID_MAX) and return true. */
bool ical_uid_issue_id(const char *uid, char *id, size_t id_size);

/* HTML (Plane's description_html) → plain text via libxml2's HTML parser:
 * entities decoded, block elements end lines, list items get "- ".  Caller frees. */
char *ical_html_to_text(const char *html, size_t len);

/* Drop control characters iCalendar text may not hold (keeps \n, \t). */
char *ical_clean_text(const char *s);

#endif
