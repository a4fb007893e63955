/*
 * fuzz_href - the href helpers of the CalDAV client, fed what servers put
 * in <href>, Location and calendar-home-set: caldav_href_normalize,
 * caldav_url_resolve and caldav_resource_name.
 *
 * Input: "BASE\nHREF", or just HREF (then the base is a fixed calendar
 * home URL).
 *
 * Checks:
 *   normalize  NULL for an empty href, one over 4096 bytes or one with a
 *              control byte; otherwise the result is a path of
 *              unreserved bytes, '@', '/' and upper-case %XX escapes that
 *              encode no unreserved byte and no '@', without "//" or a
 *              trailing '/' (but "/" itself), at most 3 × the input, and
 *              normalising it again changes nothing (when it is within
 *              the cap); for a path href,
 *              writing any of its bytes as a %xx escape names the same
 *              resource (same result).
 *   resolve    an absolute URL without control bytes or blanks, which
 *              (within the cap) is a base URL in turn.
 *   resource_name  NULL only for "" or over 1024 bytes; else [A-Za-z0-9
 *              -._~] and %XX only (never a '/'), ending ".ics".
 */
#include "fuzz_common.h"

#include "caldav.h"

#define HREF_MAX	4096

static bool
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case is not canonical */
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static void
check_normal_form(const char *href, const char *n)
{
	size_t i, len = strlen(n);
	int hi, lo;

	FUZZ_CHECK(len > 0 && len <= 3 * strlen(href) + 1, "length %zu", len);
	FUZZ_CHECK(strstr(n, "//") == NULL, "[%s] has //", n);
	FUZZ_CHECK(len == 1 || n[len - 1] != '/', "[%s] ends in /", n);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n[i];

		if (c == '%') {
			hi = hexval(n[i + 1]);
			lo = i + 2 < len ? hexval(n[i + 2]) : -1;
			FUZZ_CHECK(hi >= 0 && lo >= 0, "[%s]: bad escape at %zu", n, i);
			c = (unsigned char)(hi << 4 | lo);
			FUZZ_CHECK(!unreserved(c) && c != '@',
			    "[%s]: needless escape %%%02X", n, c);
			i += 2;
			continue;
		}
		FUZZ_CHECK(unreserved(c) || c == '@' || c == '/',
		    "[%s]: raw byte %02x", n, c);
	}
}

/* The path part of href with every byte (but '/' and escapes) as %xx. */
static char *
escape_all(const char *href)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(href), i, o = 0;
	char *out = fuzz_nonnull(malloc(3 * len + 1));
	bool path = true;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)href[i];

		if (c == '?' || c == '#')
			path = false;
		if (path && c == '%' && i + 2 < len) {
			memcpy(out + o, href + i, 3);	/* an escape stays */
			o += 3;
			i += 2;
			continue;
		}
		if (!path || c == '/' || c == '%') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
	return out;
}

static void
check_normalize(const char *href)
{
	char *n, *again, *esc, *n2;
	size_t len = strlen(href);

	n = caldav_href_normalize(href);
	if (len == 0 || len > HREF_MAX || has_ctl(href))
		FUZZ_CHECK(n == NULL, "accepted a bad href");
	if (n == NULL)
		return;
	check_normal_form(href, n);
	/* (A normal form may outgrow the 4096-byte cap: raw bytes become
	 * escapes.  Normalising it again is then refused, by design.) */
	if (strlen(n) <= HREF_MAX) {
		again = caldav_href_normalize(n);
		FUZZ_CHECK(again != NULL && strcmp(again, n) == 0,
		    "not idempotent: [%.300s] -> [%.300s]", n,
		    again ? again : "(null)");
		free(again);
	}
	if (href[0] == '/') {
		esc = escape_all(href);
		if (strlen(esc) <= HREF_MAX) {
			n2 = caldav_href_normalize(esc);
			FUZZ_CHECK(n2 != NULL && strcmp(n2, n) == 0,
			    "[%s] -> [%s] but its escaped form -> [%s]", href, n,
			    n2 ? n2 : "(null)");
			free(n2);
		}
		free(esc);
	}
	free(n);
}

static void
check_resolve(const char *base, const char *href)
{
	char *url, *again;
	size_t i;

	url = caldav_url_resolve(base, href);
	if (url == NULL)
		return;
	FUZZ_CHECK(strstr(url, "://") != NULL, "[%s] not absolute", url);
	for (i = 0; url[i] != '\0'; i++) {
#ifdef FUZZ_KNOWN_HREF_RESOLVE_DEL
		/* Open defect: libcurl decodes "%7F" in a host to a raw DEL. */
		if (url[i] == 0x7f)
			continue;
#endif
		FUZZ_CHECK((unsigned char)url[i] > 0x20 &&
		    (unsigned char)url[i] != 0x7f, "[%.300s]: byte %02x", url,
		    (unsigned char)url[i]);
	}
	/* Usable as a base in turn (not necessarily spelt the same again:
	 * libcurl writes "http://%39" as "http://9/", then reads that as
	 * 0.0.0.9). */
#ifdef FUZZ_KNOWN_HREF_RESOLVE_DEL
	if (strchr(url, 0x7f) != NULL) {
		free(url);
		return;
	}
#endif
	if (strlen(url) <= HREF_MAX) {
		again = caldav_url_resolve(url, "");
		FUZZ_CHECK(again != NULL, "[%.300s] is no base URL", url);
		free(again);
	}
	free(url);
}

static void
check_resource_name(const char *uid)
{
	char *name = caldav_resource_name(uid);
	size_t len = strlen(uid), i, nlen;

	if (len == 0 || len > 1024) {
		FUZZ_CHECK(name == NULL, "named a resource for a bad UID");
		return;
	}
	FUZZ_CHECK(name != NULL, "no name for a UID of %zu bytes", len);
	nlen = strlen(name);
	FUZZ_CHECK(nlen > 4 && strcmp(name + nlen - 4, ".ics") == 0, "[%s]",
	    name);
	for (i = 0; i < nlen - 4; i++)
		FUZZ_CHECK(unreserved((unsigned char)name[i]) || name[i] == '%',
		    "[%s]: byte %02x", name, (unsigned char)name[i]);
	free(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_strndup(data, size), *nl;
	const char *base = "http://127.0.0.1:5232/user/calendars/", *href = in;

	if ((nl = strchr(in, '\n')) != NULL) {
		*nl = '\0';
		base = in;
		href = nl + 1;
	}
	check_normalize(href);
	check_resolve(base, href);
	check_resource_name(href);
	free(in);
	return 0;
}
