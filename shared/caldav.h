/*
 * caldav.h - the CalDAV client (RFC 4791, RFC 4918, RFC 6764, RFC 5397):
 * discovery, calendars (MKCALENDAR, PROPPATCH), one REPORT per calendar
 * for hrefs and ETags, conditional PUT/DELETE.  WebDAV XML is built and
 * parsed with libxml2 only.
 *
 * Server quirks handled here (caldav-servers.md): hrefs come back
 * percent-encoded in either case and collections without their slash, so
 * hrefs are compared after caldav_href_normalize(); Radicale answers PUT
 * updates with 201 and DELETE with 200+XML, Xandikos answers a failed PUT
 * with 207 carrying the real status, DAViCal sends "Etag:".
 *
 * Ownership: the client borrows config and http client; every char * and
 * array returned is the caller's to free with the matching *_free.
 */
#ifndef CPB_CALDAV_H
#define CPB_CALDAV_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "http.h"

#define CALDAV_XML_MAX	(64 * 1024 * 1024)	/* multistatus cap */
#define CALDAV_ETAG_MAX	1024

struct caldav_client;

struct caldav_calendar {
	char	*url;			/* absolute, with trailing '/' */
	char	*displayname;		/* or NULL */
	char	*color;			/* Apple calendar-color, or NULL */
};

/* One <response> of a multistatus. */
struct dav_response {
	char	*href;			/* normalised path (see caldav_href_normalize) */
	int	 status;		/* the response's own <status>, else the first
					 * 2xx propstat's, else the first failing
					 * one's (424 only if nothing else); 0 if none */
	char	*etag;			/* getetag, verbatim */
	char	*displayname;
	char	*color;
	char	*principal_href;	/* current-user-principal */
	char	*home_href;		/* calendar-home-set (first) */
	bool	 is_collection;
	bool	 is_calendar;
};

enum cpb_err caldav_client_new(struct caldav_client **out,
    const struct cpb_config *cfg, struct http_client *http, char *errmsg);
void caldav_client_free(struct caldav_client *client);

/*
 * Find the calendar home: /.well-known/caldav when CALDAV_URL is a bare
 * root (same-host redirects only), then current-user-principal, then
 * calendar-home-set.  Returns an absolute URL ending in '/'.
 */
enum cpb_err caldav_discover_home(struct caldav_client *client, char **home_url,
    char *errmsg);

/* Calendars (collections with a calendar resourcetype) under the home. */
enum cpb_err caldav_list_calendars(struct caldav_client *client,
    const char *home_url, struct caldav_calendar **out, size_t *n,
    char *errmsg);
void caldav_calendars_free(struct caldav_calendar *cals, size_t n);

/* MKCALENDAR with displayname and (if non-NULL) calendar-color, VEVENT only. */
enum cpb_err caldav_make_calendar(struct caldav_client *client, const char *url,
    const char *displayname, const char *color, char *errmsg);
/* PROPPATCH displayname. */
enum cpb_err caldav_rename_calendar(struct caldav_client *client,
    const char *url, const char *displayname, char *errmsg);

/* Called once per VEVENT resource: normalised href path, verbatim ETag. */
typedef enum cpb_err (*caldav_listing_cb)(const char *href, const char *etag,
    void *ctx);

/* One calendar-query REPORT (Depth: 1) for getetag of every VEVENT. */
enum cpb_err caldav_list_events(struct caldav_client *client,
    const char *calendar_url, caldav_listing_cb cb, void *ctx, char *errmsg);

/*
 * PUT an iCalendar object.  if_match NULL: create (If-None-Match: *);
 * otherwise update (If-Match: the ETag verbatim).  CPB_ERR_PRECONDITION on
 * 412 (also when a 207 carries it), CPB_ERR_CONFLICT on 409.  *new_etag
 * gets the ETag the server returned, or NULL if it sent none.
 */
enum cpb_err caldav_put(struct caldav_client *client, const char *url,
    const char *ics, size_t ics_len, const char *if_match, char **new_etag,
    char *errmsg);

/* DELETE with If-Match (NULL: unconditional).  404 → CPB_ERR_NOT_FOUND. */
enum cpb_err caldav_delete(struct caldav_client *client, const char *url,
    const char *if_match, char *errmsg);

/* GET one resource. */
enum cpb_err caldav_get(struct caldav_client *client, const char *url,
    char **ics, char **etag, char *errmsg);

/* Parse a 207 body.  Pure; fuzzed. */
enum cpb_err caldav_parse_multistatus(const char *xml, size_t len,
    struct dav_response **out, size_t *n, char *errmsg);
void dav_responses_free(struct dav_response *r, size_t n);

/*
 * Path of an href (absolute URL or path) with percent-escapes of
 * unreserved characters and '@' decoded, every other byte (raw or
 * escaped) written as an upper-case escape except the '/' separators,
 * "//" collapsed, query/fragment and a trailing '/' removed, so two
 * spellings of one resource compare equal ("a+b", "a%2bb", "a%2Bb").
 * The result is still a valid URL path.  Caller frees; NULL on malformed
 * input (bad escape, control character, over 4096 bytes).
 */
char *caldav_href_normalize(const char *href);

/* Resolve href against base URL → absolute URL.  Caller frees. */
char *caldav_url_resolve(const char *base_url, const char *href);

/*
 * Resource name for a UID: every byte outside [A-Za-z0-9-._~] percent-
 * encoded, then ".ics" (the Python original's names; '/' escaped too).
 * NULL for an empty UID or one over 1024 bytes.
 */
char *caldav_resource_name(const char *uid);

#endif
