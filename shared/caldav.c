/*
 * caldav.c - the CalDAV client: discovery, calendars, one REPORT per
 * calendar, conditional PUT/DELETE, and the multistatus parser.
 *
 * Design:
 * - Every request goes through caldav_send() → http_perform_retry() with
 *   the policy from the configuration; nothing here talks to libcurl's
 *   transfer API.  libcurl's URL API (CURLU) does the RFC 3986 work:
 *   resolving hrefs and comparing origins.
 * - XML is libxml2 only.  Request bodies that never change are constant
 *   strings; those carrying user text (display names, colours) are built
 *   as trees and serialised, so escaping is libxml2's job.
 * - Responses are parsed with no DTD, no entity substitution and no
 *   network: a document with a DOCTYPE is refused outright (a multistatus
 *   never has one), which closes billion-laughs and XXE at the door.
 *   Elements are matched by namespace URI and local name, never by prefix:
 *   the four servers use "d:", "D:", "ns0:" and the default namespace.
 * - Hrefs are compared only after caldav_href_normalize(): servers spell
 *   one resource several ways (%40 or @, %2b or %2B, trailing slash or not,
 *   Xandikos even percent-encodes whole URLs in some hrefs).
 *
 * Ownership: the client borrows cfg and http (both outlive it).  Every
 * string handed out is malloc'd and the caller's.
 */
#include "caldav.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlstring.h>

#define DAV_NS		"DAV:"
#define CALDAV_NS	"urn:ietf:params:xml:ns:caldav"
#define APPLE_NS	"http://apple.com/ns/ical/"

#define CALDAV_HREF_MAX		4096	/* longest href we accept */
#define CALDAV_UID_MAX		1024	/* longest UID we name a resource after */
#define CALDAV_NAME_MAX		4096	/* longest display name or colour we send */
#define CALDAV_MAX_REDIRECTS	3	/* RFC 6764 discovery hops */
#define CALDAV_MAX_429		5	/* 429s waited out per request */
#define CALDAV_URL_MSG		160	/* URL length kept in messages */

#define AUTH_HINT " — check CALDAV_USERNAME/CALDAV_PASSWORD/CALDAV_AUTH_TYPE"
#define RIGHTS_HINT " — the CalDAV account may not do this (check CALDAV_USERNAME)"
#define URL_HINT " — check CALDAV_URL"

#define XML_TYPE "Content-Type: application/xml; charset=utf-8"
#define ICS_TYPE "Content-Type: text/calendar; charset=utf-8"

/* RFC 4918 15 / RFC 5397 / RFC 4791 6.2.1: what discovery asks for. */
static const char dav_body_principal[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\" xmlns:C=\"" CALDAV_NS "\"><D:prop>"
    "<D:current-user-principal/><C:calendar-home-set/><D:resourcetype/>"
    "</D:prop></D:propfind>\n";

static const char dav_body_home[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\" xmlns:C=\"" CALDAV_NS "\"><D:prop>"
    "<C:calendar-home-set/></D:prop></D:propfind>\n";

static const char dav_body_calendars[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\" xmlns:A=\"" APPLE_NS "\"><D:prop>"
    "<D:resourcetype/><D:displayname/><A:calendar-color/>"
    "</D:prop></D:propfind>\n";

/* RFC 4791 7.8: every VEVENT resource, ETags only. */
static const char dav_body_events[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"" CALDAV_NS "\">"
    "<D:prop><D:getetag/></D:prop>"
    "<C:filter><C:comp-filter name=\"VCALENDAR\">"
    "<C:comp-filter name=\"VEVENT\"/></C:comp-filter></C:filter>"
    "</C:calendar-query>\n";

struct caldav_client {
	const struct cpb_config *cfg;
	struct http_client *http;
	struct http_auth auth;
	struct http_retry_policy retry;
};

/* One request: the fields that vary between the WebDAV methods. */
struct dav_call {
	const char *ctx;		/* message prefix: "CalDAV discovery" */
	const char *method;
	const char *url;
	const char *depth;		/* "0", "1" or NULL */
	const char *content_type;	/* a whole header line, or NULL */
	const char *condition;		/* If-Match/If-None-Match line, or NULL */
	const char *body;
	size_t	 body_len;
};

/* ---- small helpers --------------------------------------------------- */

static bool
caldav_is_2xx(long status)
{
	return status >= 200 && status < 300;
}

static bool
caldav_is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	    status == 307 || status == 308;
}

static bool
caldav_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * The URL for messages, without any userinfo: we never put credentials
 * there, but a user's CALDAV_URL might ("https://me:pw@host/").
 */
static void
caldav_url_for_msg(const char *url, char *out, size_t size)
{
	const char *p, *auth, *end, *at;

	if (url == NULL) {
		snprintf(out, size, "(none)");
		return;
	}
	p = strstr(url, "://");
	auth = p != NULL ? p + 3 : url;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	if (at == NULL)
		snprintf(out, size, "%s", url);
	else
		snprintf(out, size, "%.*s%s", (int)(auth - url), url, at + 1);
}

static enum cpb_err
caldav_status_err(long status)
{
	switch (status) {
	case 401:
	case 403:
		return CPB_ERR_AUTH;
	case 404:
	case 410:
		return CPB_ERR_NOT_FOUND;
	case 409:
		return CPB_ERR_CONFLICT;
	case 412:
		return CPB_ERR_PRECONDITION;
	case 429:
		return CPB_ERR_RATE_LIMITED;
	default:
		return CPB_ERR_HTTP;
	}
}

static const char *
caldav_status_hint(long status, bool discovery)
{
	if (status == 401)
		return AUTH_HINT;
	if (status == 403)
		return RIGHTS_HINT;
	if (discovery && (status == 404 || status == 405 || status == 501))
		return URL_HINT;
	return "";
}

/* "CalDAV[ discovery]: <what> on <url> answered <status>[ — hint]" */
static enum cpb_err
caldav_fail(char *errmsg, enum cpb_err err, bool discovery, const char *what,
    const char *url, long status)
{
	char u[CALDAV_URL_MSG];

	caldav_url_for_msg(url, u, sizeof(u));
	return cpb_seterr(errmsg, err, "CalDAV%s: %s on %s answered %ld%s",
	    discovery ? " discovery" : "", what, u, status,
	    caldav_status_hint(status, discovery));
}

static enum cpb_err
caldav_fail_status(char *errmsg, bool discovery, const char *what,
    const char *url, long status)
{
	return caldav_fail(errmsg, caldav_status_err(status), discovery, what,
	    url, status);
}

static char *
caldav_strndup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* ---- URLs ------------------------------------------------------------ */

/* Length of an RFC 3986 scheme at the start of s, or 0. */
static size_t
caldav_scheme_len(const char *s)
{
	size_t i;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		char c = s[i];

		if (c == ':')
			return i;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
			return 0;
	}
	return 0;
}

/*
 * Where the path of an href starts: after "scheme://authority" for an
 * absolute URL, after "scheme%3A//authority" for the percent-encoded
 * absolute URLs Xandikos 0.2.8 puts in some 207 responses, else at once.
 */
static const char *
caldav_href_path(const char *href)
{
	size_t n = caldav_scheme_len(href);
	const char *auth = NULL, *p;

	if (n > 0 && strncmp(href + n, "://", 3) == 0)
		auth = href + n + 3;
	if (auth == NULL && href[0] != '/') {
		p = href;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		if (p > href && strncasecmp(p, "%3A//", 5) == 0)
			auth = p + 5;
	}
	if (auth == NULL)
		return href;
	p = auth + strcspn(auth, "/?#");
	return p;
}

static int
caldav_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
caldav_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/*
 * Append one path byte in canonical form.  A literal '/' separates
 * segments (runs collapse to one); an escaped one (%2F) stays data.
 * Unreserved bytes and '@' (sent raw by some servers, %40 by others) are
 * written raw, everything else as an upper-case escape, so "a+b", "a%2bb"
 * and "a%2Bb" all become "a%2Bb" - the servers decode paths, so these
 * name one resource.
 */
static void
caldav_norm_put(char *out, size_t *o, unsigned char c, bool escaped)
{
	static const char hex[] = "0123456789ABCDEF";

	if (c == '/' && !escaped) {
		if (*o == 0 || out[*o - 1] != '/')
			out[(*o)++] = '/';
		return;
	}
	if (caldav_unreserved(c) || c == '@') {
		out[(*o)++] = (char)c;
		return;
	}
	out[(*o)++] = '%';
	out[(*o)++] = hex[c >> 4];
	out[(*o)++] = hex[c & 0x0f];
}

char *
caldav_href_normalize(const char *href)
{
	const char *p, *end;
	char *out;
	size_t len, o = 0;
	int hi, lo;

	if (href == NULL || (len = strlen(href)) == 0 || len > CALDAV_HREF_MAX ||
	    caldav_has_ctl(href))
		return NULL;
	p = caldav_href_path(href);
	end = p + strcspn(p, "?#");
	/* Each byte may grow to an escape; "/" for an empty path. */
	if ((out = malloc(3 * len + 2)) == NULL)
		return NULL;
	for (; p < end; p++) {
		if (*p != '%') {
			caldav_norm_put(out, &o, (unsigned char)*p, false);
			continue;
		}
		if (end - p < 3 || (hi = caldav_hexval(p[1])) < 0 ||
		    (lo = caldav_hexval(p[2])) < 0) {
			free(out);
			return NULL;
		}
		caldav_norm_put(out, &o, (unsigned char)(hi << 4 | lo), true);
		p += 2;
	}
	if (o > 1 && out[o - 1] == '/')
		o--;
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

char *
caldav_url_resolve(const char *base_url, const char *href)
{
	CURLU *u = NULL;
	char *tmp = NULL, *out = NULL;

	if (base_url == NULL || href == NULL ||
	    strlen(base_url) > CALDAV_HREF_MAX || strlen(href) > CALDAV_HREF_MAX)
		return NULL;
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, base_url, 0) != CURLUE_OK)
		goto out;
	/*
	 * RFC 3986 5.2.2: an empty reference is the base itself (libcurl
	 * would take the base's directory instead).
	 */
	if (href[0] == '\0') {
		if (curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK)
			goto out;
	} else if (curl_url_set(u, CURLUPART_URL, href, 0) != CURLUE_OK) {
		goto out;
	}
	if (curl_url_get(u, CURLUPART_URL, &tmp, 0) != CURLUE_OK)
		goto out;
	/* libcurl passes some raw bytes through (a DEL in the host): refuse. */
	for (const char *p = tmp; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			goto out;
	out = strdup(tmp);
out:
	curl_free(tmp);
	curl_url_cleanup(u);
	return out;
}

/* Scheme, host and port of two URLs agree (default ports made explicit). */
static bool
caldav_same_origin(const char *a, const char *b)
{
	static const CURLUPart parts[] = {
		CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT,
	};
	CURLU *ua = curl_url(), *ub = curl_url();
	char *pa = NULL, *pb = NULL;
	bool same = ua != NULL && ub != NULL &&
	    curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
	    curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK;
	size_t i;

	for (i = 0; same && i < sizeof(parts) / sizeof(parts[0]); i++) {
		same = curl_url_get(ua, parts[i], &pa, CURLU_DEFAULT_PORT) ==
		    CURLUE_OK && curl_url_get(ub, parts[i], &pb,
		    CURLU_DEFAULT_PORT) == CURLUE_OK && strcasecmp(pa, pb) == 0;
		curl_free(pa);
		curl_free(pb);
		pa = pb = NULL;
	}
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

/* True when the URL's path is empty or "/": the bare server root. */
static bool
caldav_url_is_root(const char *url)
{
	CURLU *u = curl_url();
	char *path = NULL;
	bool root = false;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK)
		root = path[0] == '\0' || strcmp(path, "/") == 0;
	curl_free(path);
	curl_url_cleanup(u);
	return root;
}

/* Resolve and make sure the result ends in '/' (collections). */
static char *
caldav_collection_url(const char *base_url, const char *href)
{
	char *url = caldav_url_resolve(base_url, href), *grown;
	size_t len;

	if (url == NULL)
		return NULL;
	len = strlen(url);
	if (len > 0 && url[len - 1] == '/')
		return url;
	if ((grown = realloc(url, len + 2)) == NULL) {
		free(url);
		return NULL;
	}
	grown[len] = '/';
	grown[len + 1] = '\0';
	return grown;
}

/*
 * Discovery hands out hrefs; an absolute one may name another host.  The
 * credentials go only where CALDAV_URL points (and its same-origin
 * redirects): a principal or home elsewhere is refused, with the way out
 * (point CALDAV_URL there, which makes it the operator's choice).
 */
static enum cpb_err
caldav_check_origin(const char *from, const char *to, const char *what,
    char *errmsg)
{
	char u[CALDAV_URL_MSG];

	if (caldav_same_origin(from, to))
		return CPB_OK;
	caldav_url_for_msg(to, u, sizeof(u));
	return cpb_seterr(errmsg, CPB_ERR_INVALID, "CalDAV discovery: the %s "
	    "is on another host (%s); credentials are sent only to "
	    "CALDAV_URL's host — set CALDAV_URL to it if that host is meant",
	    what, u);
}

char *
caldav_resource_name(const char *uid)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len, o = 0, i;
	char *out;

	if (uid == NULL || (len = strlen(uid)) == 0 || len > CALDAV_UID_MAX)
		return NULL;
	if ((out = malloc(3 * len + sizeof(".ics"))) == NULL)
		return NULL;
	/*
	 * Python's quote(uid) + ".ics", as the original's caldav library
	 * named resources, except that '/' is escaped too: a UID must never
	 * name a resource in another collection.
	 */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uid[i];

		if (caldav_unreserved(c)) {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 0x0f];
	}
	memcpy(out + o, ".ics", sizeof(".ics"));
	return out;
}

/* ---- XML in ------------------------------------------------------------ */

static bool
dav_is(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    n->ns->href != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0 &&
	    strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *
dav_child(const xmlNode *parent, const char *ns, const char *name)
{
	const xmlNode *c;

	for (c = parent->children; c != NULL; c = c->next)
		if (dav_is(c, ns, name))
			return c;
	return NULL;
}

/*
 * The element's own text and CDATA, trimmed if asked.  Entity-reference
 * nodes are never followed (xmlNodeGetContent would expand them).
 */
static char *
dav_text(const xmlNode *n, bool trim)
{
	const xmlNode *c;
	size_t len = 0, o = 0, start = 0;
	char *s;

	for (c = n->children; c != NULL; c = c->next)
		if ((c->type == XML_TEXT_NODE ||
		    c->type == XML_CDATA_SECTION_NODE) && c->content != NULL)
			len += strlen((const char *)c->content);
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (c = n->children; c != NULL; c = c->next) {
		size_t l;

		if ((c->type != XML_TEXT_NODE &&
		    c->type != XML_CDATA_SECTION_NODE) || c->content == NULL)
			continue;
		l = strlen((const char *)c->content);
		memcpy(s + o, c->content, l);
		o += l;
	}
	s[o] = '\0';
	if (!trim)
		return s;
	while (o > 0 && strchr(" \t\r\n", s[o - 1]) != NULL)
		s[--o] = '\0';
	while (s[start] != '\0' && strchr(" \t\r\n", s[start]) != NULL)
		start++;
	memmove(s, s + start, o - start + 1);
	return s;
}

/* "HTTP/1.1 412 Precondition Failed" → 412; 0 when malformed. */
static int
dav_parse_status(const char *s)
{
	const char *p;

	if (strncmp(s, "HTTP/", 5) != 0 || (p = strchr(s, ' ')) == NULL)
		return 0;
	while (*p == ' ')
		p++;
	if (p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9' || (p[3] != '\0' && p[3] != ' '))
		return 0;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* Status of the element's DAV:status child, 0 when absent or malformed. */
static enum cpb_err
dav_child_status(const xmlNode *parent, int *status)
{
	const xmlNode *st = dav_child(parent, DAV_NS, "status");
	char *text;

	*status = 0;
	if (st == NULL)
		return CPB_OK;
	if ((text = dav_text(st, true)) == NULL)
		return CPB_ERR_NOMEM;
	*status = dav_parse_status(text);
	free(text);
	return CPB_OK;
}

/* Keep the first non-empty text of a property (later ones are ignored). */
static enum cpb_err
dav_set_text(char **dst, const xmlNode *n, bool trim)
{
	char *text;

	if (*dst != NULL)
		return CPB_OK;
	if ((text = dav_text(n, trim)) == NULL)
		return CPB_ERR_NOMEM;
	if (text[0] == '\0')
		free(text);
	else
		*dst = text;
	return CPB_OK;
}

/* The first DAV:href inside a property; unusable hrefs count as absent. */
static enum cpb_err
dav_set_href(char **dst, const xmlNode *prop)
{
	const xmlNode *h = dav_child(prop, DAV_NS, "href");
	char *text;

	if (*dst != NULL || h == NULL)
		return CPB_OK;
	if ((text = dav_text(h, true)) == NULL)
		return CPB_ERR_NOMEM;
	if (text[0] == '\0' || strlen(text) > CALDAV_HREF_MAX ||
	    caldav_has_ctl(text))
		free(text);
	else
		*dst = text;
	return CPB_OK;
}

/*
 * ETags go back verbatim in If-Match headers: refuse anything that could
 * not be a header value.
 */
static enum cpb_err
dav_set_etag(struct dav_response *r, const xmlNode *n)
{
	enum cpb_err err = dav_set_text(&r->etag, n, true);

	if (err == CPB_OK && r->etag != NULL &&
	    (strlen(r->etag) > CALDAV_ETAG_MAX || caldav_has_ctl(r->etag)))
		err = CPB_ERR_PARSE;
	return err;
}

static void
dav_resourcetype(const xmlNode *rt, struct dav_response *r)
{
	if (dav_child(rt, DAV_NS, "collection") != NULL)
		r->is_collection = true;
	if (dav_child(rt, CALDAV_NS, "calendar") != NULL)
		r->is_calendar = true;
}

/* One property we know (others are ignored). */
static enum cpb_err
dav_take_prop(const xmlNode *n, struct dav_response *r)
{
	if (dav_is(n, DAV_NS, "getetag"))
		return dav_set_etag(r, n);
	if (dav_is(n, DAV_NS, "displayname"))
		return dav_set_text(&r->displayname, n, false);
	if (dav_is(n, APPLE_NS, "calendar-color"))
		return dav_set_text(&r->color, n, true);
	if (dav_is(n, DAV_NS, "current-user-principal"))
		return dav_set_href(&r->principal_href, n);
	if (dav_is(n, CALDAV_NS, "calendar-home-set"))
		return dav_set_href(&r->home_href, n);
	if (dav_is(n, DAV_NS, "resourcetype"))
		dav_resourcetype(n, r);
	return CPB_OK;
}

/* The properties of one DAV:prop of a 2xx propstat. */
static enum cpb_err
dav_take_props(const xmlNode *prop, struct dav_response *r, char *errmsg)
{
	const xmlNode *n;
	enum cpb_err err = CPB_OK;

	for (n = prop->children; n != NULL && err == CPB_OK; n = n->next)
		err = dav_take_prop(n, r);
	if (err == CPB_ERR_PARSE)
		return cpb_seterr(errmsg, err,
		    "CalDAV: multistatus carries an unusable getetag");
	if (err != CPB_OK)
		return cpb_seterr(errmsg, err, "CalDAV: out of memory");
	return CPB_OK;
}

/*
 * One propstat: props are taken only from 2xx ones.  *ok gets the first
 * 2xx status; *bad the first failure other than 424 (Failed Dependency is
 * the collateral status of an atomic PROPPATCH/MKCALENDAR, not the cause).
 */
static enum cpb_err
dav_parse_propstat(const xmlNode *ps, struct dav_response *r, int *ok,
    int *bad, char *errmsg)
{
	const xmlNode *prop;
	enum cpb_err err;
	int status;

	if ((err = dav_child_status(ps, &status)) != CPB_OK)
		return cpb_seterr(errmsg, err, "CalDAV: out of memory");
	if (!caldav_is_2xx(status)) {
		if (status != 0 && (*bad == 0 || *bad == 424))
			*bad = status;
		return CPB_OK;
	}
	if (*ok == 0)
		*ok = status;
	for (prop = ps->children; prop != NULL; prop = prop->next)
		if (dav_is(prop, DAV_NS, "prop") &&
		    (err = dav_take_props(prop, r, errmsg)) != CPB_OK)
			return err;
	return CPB_OK;
}

static enum cpb_err
dav_parse_href(const xmlNode *resp, struct dav_response *r, char *errmsg)
{
	const xmlNode *h = dav_child(resp, DAV_NS, "href");
	char *text;

	if (h == NULL)
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "CalDAV: multistatus response without an href");
	if ((text = dav_text(h, true)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	r->href = caldav_href_normalize(text);
	free(text);
	if (r->href == NULL)
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "CalDAV: multistatus response with a malformed href");
	return CPB_OK;
}

/* One DAV:response: href, status (the response's or a propstat's), props. */
static enum cpb_err
dav_parse_response(const xmlNode *resp, struct dav_response *r, char *errmsg)
{
	const xmlNode *n;
	enum cpb_err err;
	int rstatus, ok = 0, bad = 0;

	if ((err = dav_parse_href(resp, r, errmsg)) != CPB_OK)
		return err;
	if ((err = dav_child_status(resp, &rstatus)) != CPB_OK)
		return cpb_seterr(errmsg, err, "CalDAV: out of memory");
	for (n = resp->children; n != NULL; n = n->next)
		if (dav_is(n, DAV_NS, "propstat") &&
		    (err = dav_parse_propstat(n, r, &ok, &bad, errmsg)) != CPB_OK)
			return err;
	r->status = rstatus != 0 ? rstatus : ok != 0 ? ok : bad;
	return CPB_OK;
}

/* SAX hook: a DOCTYPE (internal subset or not) stops the parser. */
static void
dav_refuse_dtd(void *ctx, const xmlChar *name, const xmlChar *external_id,
    const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;

	(void)name;
	(void)external_id;
	(void)system_id;
	*(bool *)ctxt->_private = true;
	xmlStopParser(ctxt);
}

static enum cpb_err
dav_xml_error(xmlParserCtxtPtr ctxt, bool dtd, char *errmsg)
{
	const xmlError *e = xmlCtxtGetLastError(ctxt);
	char why[160];
	size_t len;

	if (dtd)
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "CalDAV: refused an XML body with a DOCTYPE");
	snprintf(why, sizeof(why), "%s",
	    e != NULL && e->message != NULL ? e->message : "not well-formed");
	len = strlen(why);
	while (len > 0 && (why[len - 1] == '\n' || why[len - 1] == ' '))
		why[--len] = '\0';
	return cpb_seterr(errmsg, CPB_ERR_PARSE, "CalDAV: malformed XML (line %d): %s",
	    e != NULL ? e->line : 0, why);
}

/*
 * Parse untrusted XML: no network, no entity substitution, no DTD (a
 * DOCTYPE stops the parser), no messages on stderr.
 */
static enum cpb_err
dav_read_xml(const char *xml, size_t len, xmlDocPtr *out, char *errmsg)
{
	int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	bool dtd = false;
	enum cpb_err err = CPB_OK;

#if LIBXML_VERSION >= 21300
	opts |= XML_PARSE_NO_XXE;
#endif
	*out = NULL;
	if (len > CALDAV_XML_MAX)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "CalDAV: XML body of %zu bytes is over the %d-byte cap", len,
		    CALDAV_XML_MAX);
	if (xml == NULL || len == 0)
		return cpb_seterr(errmsg, CPB_ERR_PARSE, "CalDAV: empty XML body");
	if ((ctxt = xmlNewParserCtxt()) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	ctxt->sax->internalSubset = dav_refuse_dtd;
	ctxt->_private = &dtd;
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL, opts);
	if (doc == NULL || dtd || xmlDocGetRootElement(doc) == NULL) {
		err = dav_xml_error(ctxt, dtd, errmsg);
		goto out;
	}
	*out = doc;
	doc = NULL;
out:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return err;
}

void
dav_responses_free(struct dav_response *r, size_t n)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(r[i].href);
		free(r[i].etag);
		free(r[i].displayname);
		free(r[i].color);
		free(r[i].principal_href);
		free(r[i].home_href);
	}
	free(r);
}

static enum cpb_err
dav_parse_root(const xmlNode *root, struct dav_response **out, size_t *n,
    char *errmsg)
{
	const xmlNode *c;
	struct dav_response *r = NULL;
	size_t count = 0, i = 0;
	enum cpb_err err = CPB_OK;

	if (!dav_is(root, DAV_NS, "multistatus"))
		return cpb_seterr(errmsg, CPB_ERR_PARSE,
		    "CalDAV: expected a DAV: multistatus, got <%.40s>",
		    (const char *)root->name);
	for (c = root->children; c != NULL; c = c->next)
		count += dav_is(c, DAV_NS, "response");
	if (count > 0 && (r = calloc(count, sizeof(*r))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	for (c = root->children; c != NULL && err == CPB_OK; c = c->next)
		if (dav_is(c, DAV_NS, "response"))
			err = dav_parse_response(c, &r[i++], errmsg);
	if (err != CPB_OK) {
		dav_responses_free(r, count);
		return err;
	}
	*out = r;
	*n = count;
	return CPB_OK;
}

enum cpb_err
caldav_parse_multistatus(const char *xml, size_t len,
    struct dav_response **out, size_t *n, char *errmsg)
{
	xmlDocPtr doc = NULL;
	enum cpb_err err;

	*out = NULL;
	*n = 0;
	if ((err = dav_read_xml(xml, len, &doc, errmsg)) != CPB_OK)
		return err;
	err = dav_parse_root(xmlDocGetRootElement(doc), out, n, errmsg);
	xmlFreeDoc(doc);
	return err;
}

/*
 * MKCALENDAR answered 201 with a body: did it refuse calendar-color?
 * (Xandikos 0.2.8 does, in a mkcalendar-response, and takes it from a
 * later PROPPATCH.)  Anything unparsable counts as "no".
 */
static bool
dav_color_refused(const char *body, size_t len)
{
	xmlDocPtr doc = NULL;
	const xmlNode *ps, *prop;
	bool refused = false;
	int status;

	if (len == 0 || body[0] != '<' ||
	    dav_read_xml(body, len, &doc, NULL) != CPB_OK)
		return false;
	for (ps = xmlDocGetRootElement(doc)->children; ps != NULL; ps = ps->next) {
		if (!dav_is(ps, DAV_NS, "propstat") ||
		    dav_child_status(ps, &status) != CPB_OK ||
		    caldav_is_2xx(status) ||
		    (prop = dav_child(ps, DAV_NS, "prop")) == NULL)
			continue;
		if (dav_child(prop, APPLE_NS, "calendar-color") != NULL)
			refused = true;
	}
	xmlFreeDoc(doc);
	return refused;
}

/* ---- XML out --------------------------------------------------------- */

/* Text we put into a request body: valid UTF-8, no control characters. */
static enum cpb_err
dav_check_text(const char *what, const char *s, char *errmsg)
{
	size_t len = strlen(s);

	if (len == 0 || len > CALDAV_NAME_MAX)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: %s must be 1 to %d bytes", what, CALDAV_NAME_MAX);
	if (!xmlCheckUTF8((const xmlChar *)s) || caldav_has_ctl(s))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: %s is not valid UTF-8 text", what);
	return CPB_OK;
}

static enum cpb_err
dav_dump(xmlDocPtr doc, xmlChar **body, int *len, char *errmsg)
{
	xmlDocDumpMemoryEnc(doc, body, len, "UTF-8");
	if (*body == NULL || *len <= 0)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	return CPB_OK;
}

/*
 * RFC 4791 5.3.1 MKCALENDAR body: display name, VEVENT only, and the
 * Apple colour when there is one.
 */
static enum cpb_err
dav_build_mkcalendar(const char *displayname, const char *color,
    xmlChar **body, int *len, char *errmsg)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = NULL, set = NULL, prop = NULL, cs = NULL, comp = NULL;
	xmlNsPtr c = NULL, d = NULL, a = NULL;
	bool ok;

	if (doc != NULL && (root = xmlNewDocNode(doc, NULL,
	    BAD_CAST "mkcalendar", NULL)) != NULL) {
		xmlDocSetRootElement(doc, root);
		c = xmlNewNs(root, BAD_CAST CALDAV_NS, BAD_CAST "C");
		d = xmlNewNs(root, BAD_CAST DAV_NS, BAD_CAST "D");
		if (color != NULL)
			a = xmlNewNs(root, BAD_CAST APPLE_NS, BAD_CAST "A");
		xmlSetNs(root, c);
	}
	ok = root != NULL && c != NULL && d != NULL && (color == NULL || a);
	ok = ok && (set = xmlNewChild(root, d, BAD_CAST "set", NULL)) != NULL;
	ok = ok && (prop = xmlNewChild(set, d, BAD_CAST "prop", NULL)) != NULL;
	ok = ok && xmlNewTextChild(prop, d, BAD_CAST "displayname",
	    BAD_CAST displayname) != NULL;
	ok = ok && (cs = xmlNewChild(prop, c,
	    BAD_CAST "supported-calendar-component-set", NULL)) != NULL;
	ok = ok && (comp = xmlNewChild(cs, c, BAD_CAST "comp", NULL)) != NULL;
	ok = ok && xmlNewProp(comp, BAD_CAST "name", BAD_CAST "VEVENT") != NULL;
	ok = ok && (color == NULL || xmlNewTextChild(prop, a,
	    BAD_CAST "calendar-color", BAD_CAST color) != NULL);
	if (!ok) {
		xmlFreeDoc(doc);
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	}
	ok = dav_dump(doc, body, len, errmsg) == CPB_OK;
	xmlFreeDoc(doc);
	return ok ? CPB_OK : CPB_ERR_NOMEM;
}

/* RFC 4918 9.2 PROPPATCH setting one text property. */
static enum cpb_err
dav_build_proppatch(const char *ns, const char *name, const char *value,
    xmlChar **body, int *len, char *errmsg)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = NULL, set = NULL, prop = NULL;
	xmlNsPtr d = NULL, p = NULL;
	bool ok;

	if (doc != NULL && (root = xmlNewDocNode(doc, NULL,
	    BAD_CAST "propertyupdate", NULL)) != NULL) {
		xmlDocSetRootElement(doc, root);
		d = xmlNewNs(root, BAD_CAST DAV_NS, BAD_CAST "D");
		p = strcmp(ns, DAV_NS) == 0 ? d :
		    xmlNewNs(root, BAD_CAST ns, BAD_CAST "P");
		xmlSetNs(root, d);
	}
	ok = root != NULL && d != NULL && p != NULL;
	ok = ok && (set = xmlNewChild(root, d, BAD_CAST "set", NULL)) != NULL;
	ok = ok && (prop = xmlNewChild(set, d, BAD_CAST "prop", NULL)) != NULL;
	ok = ok && xmlNewTextChild(prop, p, BAD_CAST name, BAD_CAST value) !=
	    NULL;
	if (!ok) {
		xmlFreeDoc(doc);
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	}
	ok = dav_dump(doc, body, len, errmsg) == CPB_OK;
	xmlFreeDoc(doc);
	return ok ? CPB_OK : CPB_ERR_NOMEM;
}

/* ---- requests -------------------------------------------------------- */

enum cpb_err
caldav_client_new(struct caldav_client **out, const struct cpb_config *cfg,
    struct http_client *http, char *errmsg)
{
	struct caldav_client *c;

	*out = NULL;
	if (cfg == NULL || http == NULL || cfg->caldav_url == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: no configuration or transport");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	xmlInitParser();
	c->cfg = cfg;
	c->http = http;
	c->auth.type = cfg->caldav_auth_type;
	c->auth.username = cfg->caldav_username;
	c->auth.password = cfg->caldav_password;
	c->retry.attempts = cfg->retry_attempts;
	c->retry.min_ms = cfg->retry_min_ms;
	c->retry.max_ms = cfg->retry_max_ms;
	c->retry.max_wait_seconds = cfg->rate_limit_max_wait_seconds;
	c->retry.max_429 = CALDAV_MAX_429;
	*out = c;
	return CPB_OK;
}

void
caldav_client_free(struct caldav_client *client)
{
	free(client);
}

/*
 * One request with the retry policy.  CPB_OK whenever a response came
 * back, whatever its status; transport errors get the context prefix.
 */
static enum cpb_err
caldav_send(struct caldav_client *c, const struct dav_call *call,
    struct http_response *resp, char *errmsg)
{
	const char *headers[5];
	char depth[16], why[CPB_ERRMSG_MAX];
	struct http_request req;
	size_t h = 0;
	enum cpb_err err;

	memset(resp, 0, sizeof(*resp));
	if (call->depth != NULL) {
		snprintf(depth, sizeof(depth), "Depth: %s", call->depth);
		headers[h++] = depth;
	}
	if (call->content_type != NULL)
		headers[h++] = call->content_type;
	if (call->condition != NULL)
		headers[h++] = call->condition;
	/* Radicale and php -S never answer 100-continue. */
	headers[h++] = "Expect:";
	headers[h] = NULL;
	memset(&req, 0, sizeof(req));
	req.method = call->method;
	req.url = call->url;
	req.headers = headers;
	req.body = call->body;
	req.body_len = call->body_len;
	req.auth = c->auth.username != NULL ? &c->auth : NULL;
	why[0] = '\0';
	err = http_perform_retry(c->http, &req, &c->retry, resp, why);
	if (err != CPB_OK)
		return cpb_seterr(errmsg, err, "%s: %s", call->ctx, why);
	return CPB_OK;
}

/* "If-Match: <etag>" with the ETag verbatim, or "If-None-Match: *". */
static enum cpb_err
caldav_condition(const char *if_match, bool none_match, char **line,
    char *errmsg)
{
	size_t len;

	*line = NULL;
	if (if_match == NULL)
		return (none_match && (*line = strdup("If-None-Match: *")) ==
		    NULL) ? cpb_seterr(errmsg, CPB_ERR_NOMEM,
		    "CalDAV: out of memory") : CPB_OK;
	len = strlen(if_match);
	if (len == 0 || len > CALDAV_ETAG_MAX || caldav_has_ctl(if_match))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: unusable ETag for If-Match");
	if ((*line = malloc(len + sizeof("If-Match: "))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	snprintf(*line, len + sizeof("If-Match: "), "If-Match: %s", if_match);
	return CPB_OK;
}

/*
 * A 207 where a plain status was expected (Xandikos answers a failed PUT
 * this way): the first non-2xx status inside decides.  CPB_OK when none.
 */
static enum cpb_err
caldav_check_207(const struct http_response *resp, const char *what,
    const char *url, bool mkcalendar, char *errmsg)
{
	struct dav_response *r = NULL;
	char u[CALDAV_URL_MSG];
	size_t n = 0, i;
	enum cpb_err err;
	int bad = 0;

	err = caldav_parse_multistatus(resp->body, resp->body_len, &r, &n,
	    errmsg);
	if (err != CPB_OK)
		return err;
	for (i = 0; i < n && bad == 0; i++)
		if (!caldav_is_2xx(r[i].status))
			bad = r[i].status;
	dav_responses_free(r, n);
	if (n > 0 && bad == 0)
		return CPB_OK;
	caldav_url_for_msg(url, u, sizeof(u));
	/* A write is proven only by a 2xx inside, never by the 207 alone. */
	if (n == 0)
		return cpb_seterr(errmsg, CPB_ERR_HTTP,
		    "CalDAV: %s on %s answered an empty 207", what, u);
	/*
	 * Xandikos: a PUT whose UID is taken, or whose data it refuses, is
	 * 207/412; MKCALENDAR over an existing collection is 207/403.
	 */
	if (mkcalendar && (bad == 403 || bad == 405 || bad == 409))
		err = CPB_ERR_CONFLICT;
	else if (bad == 412)
		err = CPB_ERR_PRECONDITION;
	else if (bad == 409)
		err = CPB_ERR_CONFLICT;
	else
		err = CPB_ERR_HTTP;
	return cpb_seterr(errmsg, err,
	    "CalDAV: %s on %s answered 207 with %d inside", what, u, bad);
}

/* ---- discovery ------------------------------------------------------- */

/*
 * PROPFIND Depth 0, following up to CALDAV_MAX_REDIRECTS redirects to the
 * same scheme, host and port (credentials never go elsewhere).  Returns
 * the last response and the URL that gave it.
 */
static enum cpb_err
caldav_propfind0(struct caldav_client *c, const char *url, const char *body,
    struct http_response *resp, char **final_url, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV discovery", .method = "PROPFIND", .depth = "0",
		.content_type = XML_TYPE, .body = body, .body_len = strlen(body),
	};
	char *cur, *next;
	enum cpb_err err;
	int hop;

	*final_url = NULL;
	memset(resp, 0, sizeof(*resp));
	if ((cur = strdup(url)) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	for (hop = 0;; hop++) {
		call.url = cur;
		if ((err = caldav_send(c, &call, resp, errmsg)) != CPB_OK)
			break;
		if (!caldav_is_redirect(resp->status) || resp->location == NULL ||
		    hop == CALDAV_MAX_REDIRECTS)
			break;
		next = caldav_url_resolve(cur, resp->location);
		if (next == NULL || !caldav_same_origin(cur, next)) {
			free(next);
			break;
		}
		free(cur);
		cur = next;
		http_response_free(resp);
	}
	if (err != CPB_OK)
		free(cur);
	else
		*final_url = cur;
	return err;
}

/*
 * RFC 6764 5: where to start when CALDAV_URL is a bare server root.  The
 * well-known URL (after same-origin redirects) if it answered 207, else
 * CALDAV_URL itself.
 */
static enum cpb_err
caldav_well_known(struct caldav_client *c, char **start, char *errmsg)
{
	const char *base = c->cfg->caldav_url;
	struct http_response resp;
	char *wk = NULL, *final = NULL;
	enum cpb_err err;

	*start = NULL;
	if ((wk = caldav_url_resolve(base, "/.well-known/caldav")) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV discovery: CALDAV_URL is not a valid URL");
	err = caldav_propfind0(c, wk, dav_body_principal, &resp, &final,
	    errmsg);
	if (err == CPB_OK && resp.status == 207) {
		*start = final;
		final = NULL;
	} else if (err == CPB_OK && (*start = strdup(base)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	}
	http_response_free(&resp);
	free(final);
	free(wk);
	return err;
}

/*
 * One discovery PROPFIND: 207 expected, the first response with a 2xx
 * status taken.  *r is NULL-safe to free either way.
 */
static enum cpb_err
caldav_discovery_step(struct caldav_client *c, const char *url,
    const char *body, const char *what, struct dav_response **r, size_t *n,
    char **final_url, char *errmsg)
{
	struct http_response resp;
	enum cpb_err err;

	*r = NULL;
	*n = 0;
	err = caldav_propfind0(c, url, body, &resp, final_url, errmsg);
	if (err != CPB_OK)
		goto out;
	if (resp.status != 207) {
		err = caldav_fail_status(errmsg, true, what,
		    *final_url, resp.status);
		goto out;
	}
	err = caldav_parse_multistatus(resp.body, resp.body_len, r, n, errmsg);
out:
	http_response_free(&resp);
	return err;
}

static const struct dav_response *
caldav_first_ok(const struct dav_response *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (caldav_is_2xx(r[i].status))
			return &r[i];
	return NULL;
}

/* Step 3: calendar-home-set on the principal. */
static enum cpb_err
caldav_home_of(struct caldav_client *c, const char *principal, char **home,
    char *errmsg)
{
	struct dav_response *r = NULL;
	const struct dav_response *ok;
	char *final = NULL, u[CALDAV_URL_MSG];
	size_t n = 0;
	enum cpb_err err;

	err = caldav_discovery_step(c, principal, dav_body_home,
	    "PROPFIND calendar-home-set", &r, &n, &final, errmsg);
	if (err != CPB_OK)
		goto out;
	if ((ok = caldav_first_ok(r, n)) == NULL || ok->home_href == NULL) {
		caldav_url_for_msg(final, u, sizeof(u));
		err = cpb_seterr(errmsg, CPB_ERR_HTTP, "CalDAV discovery: "
		    "principal %s reported no calendar-home-set", u);
		goto out;
	}
	if ((*home = caldav_collection_url(final, ok->home_href)) == NULL)
		err = cpb_seterr(errmsg, CPB_ERR_PARSE, "CalDAV discovery: "
		    "unusable calendar-home-set href");
	else if ((err = caldav_check_origin(final, *home,
	    "calendar-home-set", errmsg)) != CPB_OK) {
		free(*home);
		*home = NULL;
	}
out:
	dav_responses_free(r, n);
	free(final);
	return err;
}

/*
 * Step 2: current-user-principal on the start URL.  A URL that answers
 * calendar-home-set itself (a principal, or DAViCal's root) is accepted
 * at once.
 */
static enum cpb_err
caldav_home_from(struct caldav_client *c, const char *start, char **home,
    char *errmsg)
{
	struct dav_response *r = NULL;
	const struct dav_response *ok;
	char *final = NULL, *principal = NULL, u[CALDAV_URL_MSG];
	size_t n = 0;
	enum cpb_err err;

	err = caldav_discovery_step(c, start, dav_body_principal,
	    "PROPFIND current-user-principal", &r, &n, &final, errmsg);
	if (err != CPB_OK)
		goto out;
	ok = caldav_first_ok(r, n);
	if (ok != NULL && ok->home_href != NULL) {
		if ((*home = caldav_collection_url(final, ok->home_href)) == NULL)
			err = cpb_seterr(errmsg, CPB_ERR_PARSE, "CalDAV "
			    "discovery: unusable calendar-home-set href");
		else if ((err = caldav_check_origin(final, *home,
		    "calendar-home-set", errmsg)) != CPB_OK) {
			free(*home);
			*home = NULL;
		}
		goto out;
	}
	if (ok == NULL || ok->principal_href == NULL) {
		caldav_url_for_msg(final, u, sizeof(u));
		err = cpb_seterr(errmsg, CPB_ERR_HTTP, "CalDAV discovery: %s "
		    "reported no current-user-principal" URL_HINT, u);
		goto out;
	}
	if ((principal = caldav_url_resolve(final, ok->principal_href)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_PARSE, "CalDAV discovery: "
		    "unusable current-user-principal href");
		goto out;
	}
	if ((err = caldav_check_origin(final, principal,
	    "current-user-principal", errmsg)) != CPB_OK)
		goto out;
	err = caldav_home_of(c, principal, home, errmsg);
out:
	dav_responses_free(r, n);
	free(principal);
	free(final);
	return err;
}

enum cpb_err
caldav_discover_home(struct caldav_client *client, char **home_url,
    char *errmsg)
{
	char *start = NULL;
	enum cpb_err err;

	*home_url = NULL;
	if (caldav_url_is_root(client->cfg->caldav_url))
		err = caldav_well_known(client, &start, errmsg);
	else if ((start = strdup(client->cfg->caldav_url)) == NULL)
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	else
		err = CPB_OK;
	if (err == CPB_OK)
		err = caldav_home_from(client, start, home_url, errmsg);
	free(start);
	return err;
}

/* ---- calendars ------------------------------------------------------- */

void
caldav_calendars_free(struct caldav_calendar *cals, size_t n)
{
	size_t i;

	if (cals == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(cals[i].url);
		free(cals[i].displayname);
		free(cals[i].color);
	}
	free(cals);
}

/* The calendar collections of a Depth 1 listing, moved into cals. */
static enum cpb_err
caldav_pick_calendars(const char *home_url, struct dav_response *r, size_t n,
    struct caldav_calendar *cals, size_t *found, char *errmsg)
{
	char *home = caldav_href_normalize(home_url);
	size_t i;
	enum cpb_err err = CPB_OK;

	*found = 0;
	if (home == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: malformed calendar home URL");
	for (i = 0; i < n; i++) {
		struct caldav_calendar *cal = &cals[*found];

		if (!r[i].is_calendar || !caldav_is_2xx(r[i].status) ||
		    strcmp(r[i].href, home) == 0)
			continue;
		/* A normalised href is a path: the calendar stays on our host. */
		if ((cal->url = caldav_collection_url(home_url, r[i].href)) ==
		    NULL) {
			err = cpb_seterr(errmsg, CPB_ERR_NOMEM,
			    "CalDAV: out of memory");
			break;
		}
		cal->displayname = r[i].displayname;
		cal->color = r[i].color;
		r[i].displayname = r[i].color = NULL;
		(*found)++;
	}
	free(home);
	return err;
}

enum cpb_err
caldav_list_calendars(struct caldav_client *client, const char *home_url,
    struct caldav_calendar **out, size_t *n, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV", .method = "PROPFIND", .url = home_url,
		.depth = "1", .content_type = XML_TYPE,
		.body = dav_body_calendars, .body_len = strlen(dav_body_calendars),
	};
	struct http_response resp;
	struct dav_response *r = NULL;
	struct caldav_calendar *cals = NULL;
	size_t nr = 0, found = 0;
	enum cpb_err err;

	*out = NULL;
	*n = 0;
	if ((err = caldav_send(client, &call, &resp, errmsg)) != CPB_OK)
		goto out;
	if (resp.status != 207) {
		err = caldav_fail_status(errmsg, false, "PROPFIND calendars",
		    home_url, resp.status);
		goto out;
	}
	err = caldav_parse_multistatus(resp.body, resp.body_len, &r, &nr,
	    errmsg);
	if (err != CPB_OK || nr == 0)
		goto out;
	if ((cals = calloc(nr, sizeof(*cals))) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
		goto out;
	}
	err = caldav_pick_calendars(home_url, r, nr, cals, &found, errmsg);
	if (err != CPB_OK)
		goto out;
	*out = found > 0 ? cals : NULL;
	*n = found;
	cals = found > 0 ? NULL : cals;
out:
	caldav_calendars_free(cals, nr);
	dav_responses_free(r, nr);
	http_response_free(&resp);
	return err;
}

/* PROPPATCH one property; every status in the 207 must be 2xx. */
static enum cpb_err
caldav_proppatch(struct caldav_client *c, const char *url, const char *ns,
    const char *name, const char *value, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV", .method = "PROPPATCH", .url = url,
		.content_type = XML_TYPE,
	};
	struct http_response resp;
	xmlChar *body = NULL;
	int len = 0;
	enum cpb_err err;

	memset(&resp, 0, sizeof(resp));
	err = dav_build_proppatch(ns, name, value, &body, &len, errmsg);
	if (err != CPB_OK)
		goto out;
	call.body = (const char *)body;
	call.body_len = (size_t)len;
	if ((err = caldav_send(c, &call, &resp, errmsg)) != CPB_OK)
		goto out;
	if (resp.status == 207)
		err = caldav_check_207(&resp, "PROPPATCH", url, false, errmsg);
	else if (!caldav_is_2xx(resp.status))
		err = caldav_fail_status(errmsg, false, "PROPPATCH", url,
		    resp.status);
out:
	xmlFree(body);
	http_response_free(&resp);
	return err;
}

enum cpb_err
caldav_rename_calendar(struct caldav_client *client, const char *url,
    const char *displayname, char *errmsg)
{
	enum cpb_err err;

	if (url == NULL || displayname == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: rename needs a URL and a name");
	if ((err = dav_check_text("display name", displayname, errmsg)) != CPB_OK)
		return err;
	return caldav_proppatch(client, url, DAV_NS, "displayname", displayname,
	    errmsg);
}

static enum cpb_err
caldav_mkcalendar_status(struct caldav_client *c, const char *url,
    const char *color, const struct http_response *resp, char *errmsg)
{
	char ignored[CPB_ERRMSG_MAX];

	if (resp->status == 207)
		return caldav_check_207(resp, "MKCALENDAR", url, true, errmsg);
	/* Radicale 409, SabreDAV and DAViCal 405: something is there. */
	if (resp->status == 405 || resp->status == 409)
		return caldav_fail(errmsg, CPB_ERR_CONFLICT, false,
		    "MKCALENDAR (exists)", url, resp->status);
	if (!caldav_is_2xx(resp->status))
		return caldav_fail_status(errmsg, false, "MKCALENDAR", url,
		    resp->status);
	/* The colour is decoration: a server that refuses it is no error. */
	if (color != NULL && dav_color_refused(resp->body, resp->body_len))
		(void)caldav_proppatch(c, url, APPLE_NS, "calendar-color", color,
		    ignored);
	return CPB_OK;
}

enum cpb_err
caldav_make_calendar(struct caldav_client *client, const char *url,
    const char *displayname, const char *color, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV", .method = "MKCALENDAR", .url = url,
		.content_type = XML_TYPE,
	};
	struct http_response resp;
	xmlChar *body = NULL;
	int len = 0;
	enum cpb_err err;

	memset(&resp, 0, sizeof(resp));
	if (url == NULL || displayname == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: MKCALENDAR needs a URL and a name");
		goto out;
	}
	if ((err = dav_check_text("display name", displayname, errmsg)) != CPB_OK ||
	    (color != NULL &&
	    (err = dav_check_text("colour", color, errmsg)) != CPB_OK))
		goto out;
	err = dav_build_mkcalendar(displayname, color, &body, &len, errmsg);
	if (err != CPB_OK)
		goto out;
	call.body = (const char *)body;
	call.body_len = (size_t)len;
	if ((err = caldav_send(client, &call, &resp, errmsg)) != CPB_OK)
		goto out;
	err = caldav_mkcalendar_status(client, url, color, &resp, errmsg);
out:
	xmlFree(body);
	http_response_free(&resp);
	return err;
}

/* ---- events ---------------------------------------------------------- */

/*
 * Whether a normalised href names a resource directly inside the
 * collection `self` (normalised too): a server that lists hrefs of other
 * collections, of the home, or with dot segments ("/cal/../../etc/x")
 * must not make us write or delete there.
 */
static bool
caldav_is_member(const char *self, const char *href)
{
	size_t n = strlen(self);
	const char *name;

	if (n == 0 || strncmp(href, self, n) != 0)
		return false;
	name = href + n;
	if (self[n - 1] != '/') {
		if (*name != '/')
			return false;
		name++;
	}
	return *name != '\0' && strchr(name, '/') == NULL &&
	    strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/*
 * Hand the listing to cb; the collection itself, bodiless ones and hrefs
 * outside the collection skipped.
 */
static enum cpb_err
caldav_emit_events(const char *calendar_url, const struct dav_response *r,
    size_t n, caldav_listing_cb cb, void *ctx, char *errmsg)
{
	char *self = caldav_href_normalize(calendar_url);
	enum cpb_err err = CPB_OK;
	size_t i;

	if (self == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: malformed calendar URL");
	for (i = 0; i < n && err == CPB_OK; i++) {
		/* RFC 4918 / 5323: 507 on the collection = results truncated. */
		if (r[i].status == 507) {
			err = cpb_seterr(errmsg, CPB_ERR_INCOMPLETE,
			    "CalDAV: the server truncated the event listing");
			break;
		}
		if (strcmp(r[i].href, self) == 0 ||
		    !caldav_is_2xx(r[i].status) || r[i].etag == NULL)
			continue;
		/* Not ours to touch: never seen, never written or deleted. */
		if (!caldav_is_member(self, r[i].href))
			continue;
		if ((err = cb(r[i].href, r[i].etag, ctx)) != CPB_OK)
			cpb_seterr(errmsg, err, "CalDAV: listing stopped: %s",
			    cpb_strerror(err));
	}
	free(self);
	return err;
}

enum cpb_err
caldav_list_events(struct caldav_client *client, const char *calendar_url,
    caldav_listing_cb cb, void *ctx, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV", .method = "REPORT", .url = calendar_url,
		.depth = "1", .content_type = XML_TYPE,
		.body = dav_body_events, .body_len = strlen(dav_body_events),
	};
	struct http_response resp;
	struct dav_response *r = NULL;
	size_t n = 0;
	enum cpb_err err;

	if ((err = caldav_send(client, &call, &resp, errmsg)) != CPB_OK)
		goto out;
	if (resp.status != 207) {
		err = caldav_fail_status(errmsg, false, "REPORT calendar-query",
		    calendar_url, resp.status);
		goto out;
	}
	err = caldav_parse_multistatus(resp.body, resp.body_len, &r, &n, errmsg);
	if (err == CPB_OK)
		err = caldav_emit_events(calendar_url, r, n, cb, ctx, errmsg);
out:
	dav_responses_free(r, n);
	http_response_free(&resp);
	return err;
}

/*
 * Status of a PUT or DELETE: 200/201/204 succeed (Radicale answers an
 * update with 201 and a DELETE with 200 plus XML), a 207 is looked into.
 */
static enum cpb_err
caldav_write_status(const struct http_response *resp, const char *method,
    const char *url, char *errmsg)
{
	if (resp->status == 207)
		return caldav_check_207(resp, method, url, false, errmsg);
	if (resp->status == 200 || resp->status == 201 || resp->status == 204)
		return CPB_OK;
	return caldav_fail_status(errmsg, false, method, url, resp->status);
}

enum cpb_err
caldav_put(struct caldav_client *client, const char *url, const char *ics,
    size_t ics_len, const char *if_match, char **new_etag, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV", .method = "PUT", .url = url,
		.content_type = ICS_TYPE, .body = ics, .body_len = ics_len,
	};
	struct http_response resp;
	char *cond = NULL;
	enum cpb_err err;

	memset(&resp, 0, sizeof(resp));
	*new_etag = NULL;
	if (url == NULL || ics == NULL || ics_len == 0) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "CalDAV: PUT needs a URL and a body");
		goto out;
	}
	if ((err = caldav_condition(if_match, true, &cond, errmsg)) != CPB_OK)
		goto out;
	call.condition = cond;
	if ((err = caldav_send(client, &call, &resp, errmsg)) != CPB_OK)
		goto out;
	if ((err = caldav_write_status(&resp, "PUT", url, errmsg)) != CPB_OK)
		goto out;
	if (resp.etag != NULL && (*new_etag = strdup(resp.etag)) == NULL)
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
out:
	free(cond);
	http_response_free(&resp);
	return err;
}

enum cpb_err
caldav_delete(struct caldav_client *client, const char *url,
    const char *if_match, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV", .method = "DELETE", .url = url,
	};
	struct http_response resp;
	char *cond = NULL;
	enum cpb_err err;

	memset(&resp, 0, sizeof(resp));
	if (url == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID, "CalDAV: DELETE needs a URL");
		goto out;
	}
	if ((err = caldav_condition(if_match, false, &cond, errmsg)) != CPB_OK)
		goto out;
	call.condition = cond;
	if ((err = caldav_send(client, &call, &resp, errmsg)) != CPB_OK)
		goto out;
	err = caldav_write_status(&resp, "DELETE", url, errmsg);
out:
	free(cond);
	http_response_free(&resp);
	return err;
}

enum cpb_err
caldav_get(struct caldav_client *client, const char *url, char **ics,
    char **etag, char *errmsg)
{
	struct dav_call call = {
		.ctx = "CalDAV", .method = "GET", .url = url,
	};
	struct http_response resp;
	enum cpb_err err;

	memset(&resp, 0, sizeof(resp));
	*ics = NULL;
	*etag = NULL;
	if (url == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID, "CalDAV: GET needs a URL");
		goto out;
	}
	if ((err = caldav_send(client, &call, &resp, errmsg)) != CPB_OK)
		goto out;
	if (resp.status != 200) {
		err = caldav_fail_status(errmsg, false, "GET", url, resp.status);
		goto out;
	}
	if ((*ics = caldav_strndup(resp.body, resp.body_len)) == NULL ||
	    (resp.etag != NULL && (*etag = strdup(resp.etag)) == NULL)) {
		free(*ics);
		*ics = NULL;
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "CalDAV: out of memory");
	}
out:
	http_response_free(&resp);
	return err;
}
