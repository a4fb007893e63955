/*
 * fuzz_multistatus - a WebDAV 207 body as CalDAV servers answer PROPFIND
 * and REPORT: caldav_parse_multistatus (libxml2 underneath, DTDs refused).
 *
 * Input: the XML body.
 *
 * Checks: a refused body leaves no responses and says why; for an
 * accepted one every response has an href that is already in normal form
 * (caldav_href_normalize is idempotent on it); an ETag, when there is
 * one, fits a header (at most 1024 bytes, no control characters), as do
 * the discovery hrefs; statuses are 0 or 100..599.
 */
#include "fuzz_common.h"

#include "caldav.h"

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dav_response *r = (struct dav_response *)&r;
	char errmsg[CPB_ERRMSG_MAX] = "", *again;
	size_t n = 12345, i;
	enum cpb_err err;

	err = caldav_parse_multistatus((const char *)data, size, &r, &n, errmsg);
	if (err != CPB_OK) {
		FUZZ_CHECK(r == NULL && n == 0, "outputs set on error");
		FUZZ_CHECK(err == CPB_ERR_PARSE || err == CPB_ERR_TOO_LARGE,
		    "error %d", (int)err);
		FUZZ_CHECK(errmsg[0] != '\0', "no reason");
		return 0;
	}
	FUZZ_CHECK(n == 0 || r != NULL, "responses missing");
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(r[i].href != NULL && r[i].href[0] != '\0',
		    "response %zu without href", i);
		again = caldav_href_normalize(r[i].href);
		FUZZ_CHECK(again != NULL && strcmp(again, r[i].href) == 0,
		    "href [%s] not normal: [%s]", r[i].href,
		    again ? again : "(null)");
		free(again);
		FUZZ_CHECK(r[i].status == 0 ||
		    (r[i].status >= 100 && r[i].status <= 599), "status %d",
		    r[i].status);
		if (r[i].etag != NULL)
			FUZZ_CHECK(r[i].etag[0] != '\0' &&
			    strlen(r[i].etag) <= CALDAV_ETAG_MAX &&
			    !has_ctl(r[i].etag), "etag");
		if (r[i].principal_href != NULL)
			FUZZ_CHECK(r[i].principal_href[0] != '\0' &&
			    !has_ctl(r[i].principal_href), "principal href");
		if (r[i].home_href != NULL)
			FUZZ_CHECK(r[i].home_href[0] != '\0' &&
			    !has_ctl(r[i].home_href), "home href");
	}
	dav_responses_free(r, n);
	return 0;
}
