/*
 * http.c - the libcurl transport (see http.h for the rules).
 *
 * One easy handle per client: curl_easy_reset() between requests drops
 * every per-request option (method, body, headers, credentials) but keeps
 * the connection cache, so keep-alive connections are reused while nothing
 * of one request can leak into the next.  The handle is reset again after
 * each transfer so it never holds borrowed pointers or credentials between
 * calls.
 *
 * Response headers are read case-insensitively (DAViCal sends "Etag:") and
 * start afresh at every status line: a Digest challenge or a 100 Continue
 * precedes the final response on the same transfer.
 */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define HTTP_DEFAULT_MAX_BODY	((size_t)64 * 1024 * 1024)
#define HTTP_MAX_BODY_LIMIT	((size_t)1 << 30)
#define HTTP_HEADER_VALUE_MAX	8192	/* longer ETag/Location: ignored */
#define HTTP_USER_AGENT		"CalPlaneBot/1.0"
#define HTTP_RATELIMIT_MAX	INT64_C(1000000000)
#define HTTP_UNIXTIME_MAX	INT64_C(253402300799)	/* 9999-12-31 */

struct http_client {
	CURL			*curl;
	struct http_client_opts	 opts;
	unsigned long		 requests;
	char			 curl_err[CURL_ERROR_SIZE];
};

/* State of one transfer, shared by the write and header callbacks. */
struct http_xfer {
	struct http_response	*resp;
	size_t			 cap;		/* allocated bytes of resp->body */
	size_t			 max;		/* body cap */
	int64_t			 now;
	bool			 too_large;
	bool			 nomem;
};

enum cpb_err
http_client_new(struct http_client **out, const struct http_client_opts *opts,
    char *errmsg)
{
	struct http_client *c;

	*out = NULL;
	if (opts == NULL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "http: no options");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "http: out of memory");
	c->opts = *opts;
	if (c->opts.max_body_bytes == 0)
		c->opts.max_body_bytes = HTTP_DEFAULT_MAX_BODY;
	/* The body buffer needs cap + 1 bytes, and curl_off_t is signed. */
	if (c->opts.max_body_bytes > HTTP_MAX_BODY_LIMIT)
		c->opts.max_body_bytes = HTTP_MAX_BODY_LIMIT;
	if ((c->curl = curl_easy_init()) == NULL) {
		free(c);
		return cpb_seterr(errmsg, CPB_ERR_NOMEM,
		    "http: cannot initialise libcurl");
	}
	*out = c;
	return CPB_OK;
}

void
http_client_free(struct http_client *client)
{
	if (client == NULL)
		return;
	curl_easy_cleanup(client->curl);
	free(client);
}

unsigned long
http_request_count(const struct http_client *client)
{
	return client == NULL ? 0 : client->requests;
}

static void
http_response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_seconds = -1;
	resp->ratelimit_remaining = -1;
	resp->ratelimit_reset = -1;
}

void
http_response_free(struct http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	free(resp->etag);
	free(resp->content_type);
	free(resp->location);
	http_response_init(resp);
}

/* ---- pure helpers ---------------------------------------------------- */

long
http_backoff_ms(long retry, long min_ms, long max_ms)
{
	long ms;

	if (min_ms < 0)
		min_ms = 0;
	if (max_ms < min_ms)
		max_ms = min_ms;
	ms = min_ms;
	/* Double step by step so a large retry number cannot overflow. */
	for (long i = 1; i < retry && ms < max_ms; i++)
		ms = ms > max_ms / 2 ? max_ms : ms * 2;
	return ms > max_ms ? max_ms : ms;
}

void
http_sleep_ms(long ms)
{
	struct timespec ts, rem;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

char *
http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len, o = 0;
	char *out;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (len > (SIZE_MAX - 1) / 3 || (out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		/* RFC 3986 2.3 unreserved; isalnum() would follow the locale. */
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			out[o++] = (char)ch;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[ch >> 4];
		out[o++] = hex[ch & 0x0f];
	}
	out[o] = '\0';
	return out;
}

static bool
http_is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

bool
http_parse_int(const char *value, int64_t min, int64_t max, int64_t *out)
{
	const char *p;
	char *end;
	long long v;

	if (value == NULL)
		return false;
	for (p = value; http_is_blank(*p); p++)
		;
	/* strtoll would also take "+5" and "- 5": a digit, after at most a
	   '-', must come first. */
	if (!isdigit((unsigned char)(p[0] == '-' ? p[1] : p[0])))
		return false;
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno == ERANGE)
		return false;
	while (http_is_blank(*end))
		end++;
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = (int64_t)v;
	return true;
}

long
http_parse_retry_after(const char *value, int64_t now_unix)
{
	const char *p;
	size_t digits;
	int64_t secs;
	time_t when;

	if (value == NULL)
		return -1;
	p = value + strspn(value, " \t");
	digits = strspn(p, "0123456789");
	if (digits > 0 && p[digits + strspn(p + digits, " \t")] == '\0') {
		/* Only overflow can fail here: a very long wait, not none. */
		if (!http_parse_int(p, 0, HTTP_RETRY_AFTER_MAX, &secs))
			return HTTP_RETRY_AFTER_MAX;
		return (long)secs;
	}
	/* Only a date may follow; a stray negative number is not one. */
	if (!isalpha((unsigned char)*p))
		return -1;
	/* curl_getdate() reads the three HTTP-date forms of RFC 9110 5.6.7. */
	if ((when = curl_getdate(value, NULL)) == -1)
		return -1;
	if ((int64_t)when <= now_unix)
		return 0;
	secs = (int64_t)when - now_unix;
	return secs > HTTP_RETRY_AFTER_MAX ? HTTP_RETRY_AFTER_MAX : (long)secs;
}

/* ---- callbacks ------------------------------------------------------- */

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_xfer *x = userp;
	struct http_response *r = x->resp;
	size_t n = size * nmemb, need, cap;
	char *p;

	if (n > x->max || r->body_len > x->max - n) {
		x->too_large = true;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	need = r->body_len + n + 1;
	if (need > x->cap) {
		cap = x->cap == 0 ? 16384 : x->cap;
		while (cap < need)
			cap = cap > x->max / 2 ? x->max + 1 : cap * 2;
		if ((p = realloc(r->body, cap)) == NULL) {
			x->nomem = true;
			return 0;
		}
		r->body = p;
		x->cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

/* Forget what an earlier response of this transfer (401, 100) said. */
static void
http_xfer_restart(struct http_xfer *x)
{
	struct http_response *r = x->resp;

	free(r->etag);
	free(r->content_type);
	free(r->location);
	r->etag = r->content_type = r->location = NULL;
	r->body_len = 0;
	if (r->body != NULL)
		r->body[0] = '\0';
	r->retry_after_seconds = -1;
	r->ratelimit_remaining = -1;
	r->ratelimit_reset = -1;
}

static bool
http_store_str(char **dst, const char *v, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		return false;
	memcpy(s, v, n);
	s[n] = '\0';
	free(*dst);
	*dst = s;
	return true;
}

enum http_numeric_header {
	HTTP_H_RETRY_AFTER,
	HTTP_H_RATELIMIT_REMAINING,
	HTTP_H_RATELIMIT_RESET,
};

/* Numeric headers: copied to a small NUL-terminated buffer, parsed bounded. */
static void
http_store_number(struct http_xfer *x, enum http_numeric_header which,
    const char *v, size_t n)
{
	struct http_response *r = x->resp;
	char num[64];
	int64_t i;

	if (n >= sizeof(num))
		return;
	memcpy(num, v, n);
	num[n] = '\0';
	switch (which) {
	case HTTP_H_RETRY_AFTER:
		r->retry_after_seconds = http_parse_retry_after(num, x->now);
		break;
	case HTTP_H_RATELIMIT_REMAINING:
		if (http_parse_int(num, 0, HTTP_RATELIMIT_MAX, &i))
			r->ratelimit_remaining = (long)i;
		break;
	case HTTP_H_RATELIMIT_RESET:
		if (http_parse_int(num, 0, HTTP_UNIXTIME_MAX, &i))
			r->ratelimit_reset = i;
		break;
	}
}

static bool
http_header_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static size_t
http_header_cb(char *line, size_t size, size_t nitems, void *userp)
{
	struct http_xfer *x = userp;
	struct http_response *r = x->resp;
	size_t n = size * nitems, nlen, vlen;
	const char *colon, *v;
	bool ok = true;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		http_xfer_restart(x);
		return n;
	}
	if ((colon = memchr(line, ':', n)) == NULL)
		return n;	/* the blank line, or an obsolete fold */
	nlen = (size_t)(colon - line);
	v = colon + 1;
	vlen = n - nlen - 1;
	while (vlen > 0 && http_is_blank(*v)) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (http_is_blank(v[vlen - 1]) || v[vlen - 1] == '\r' ||
	    v[vlen - 1] == '\n'))
		vlen--;
	if (vlen > HTTP_HEADER_VALUE_MAX)
		return n;
	if (http_header_is(line, nlen, "ETag"))
		ok = http_store_str(&r->etag, v, vlen);
	else if (http_header_is(line, nlen, "Content-Type"))
		ok = http_store_str(&r->content_type, v, vlen);
	else if (http_header_is(line, nlen, "Location"))
		ok = http_store_str(&r->location, v, vlen);
	else if (http_header_is(line, nlen, "Retry-After"))
		http_store_number(x, HTTP_H_RETRY_AFTER, v, vlen);
	else if (http_header_is(line, nlen, "X-RateLimit-Remaining"))
		http_store_number(x, HTTP_H_RATELIMIT_REMAINING, v,
		    vlen);
	else if (http_header_is(line, nlen, "X-RateLimit-Reset"))
		http_store_number(x, HTTP_H_RATELIMIT_RESET, v, vlen);
	if (!ok) {
		x->nomem = true;
		return 0;
	}
	return n;
}

/* ---- one request ----------------------------------------------------- */

static bool
http_has_header(const char *const *headers, const char *name)
{
	size_t len = strlen(name);

	for (; headers != NULL && *headers != NULL; headers++)
		if (strncasecmp(*headers, name, len) == 0 &&
		    (*headers)[len] == ':')
			return true;
	return false;
}

/*
 * Our fixed headers plus the caller's.  "Expect:" (empty) stops libcurl's
 * 100-continue, which Radicale and php -S never answer; an empty
 * "Content-Type:" stops libcurl's form-urlencoded default on bodies the
 * caller did not type.
 */
static struct curl_slist *
http_build_headers(const struct http_request *req)
{
	struct curl_slist *list = NULL, *t;
	const char *const *h;

	if ((list = curl_slist_append(NULL, "Expect:")) == NULL)
		return NULL;
	if (req->body != NULL && !http_has_header(req->headers, "Content-Type")) {
		if ((t = curl_slist_append(list, "Content-Type:")) == NULL)
			goto fail;
		list = t;
	}
	for (h = req->headers; h != NULL && *h != NULL; h++) {
		if ((t = curl_slist_append(list, *h)) == NULL)
			goto fail;
		list = t;
	}
	return list;
fail:
	curl_slist_free_all(list);
	return NULL;
}

/*
 * The method.  A body goes through POSTFIELDS (memory libcurl can resend,
 * as a Digest or CURLAUTH_ANY negotiation needs) with an explicit size, so
 * Content-Length is always sent (Radicale reads a chunked body as empty).
 */
static bool
http_set_method(CURL *curl, const struct http_request *req)
{
	const char *m = req->method != NULL ? req->method : "GET";
	bool ok = true;

	if (req->body != NULL) {
		ok = ok && curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len) == CURLE_OK;
		ok = ok && curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
		    req->body) == CURLE_OK;
		ok = ok && curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m) ==
		    CURLE_OK;
	} else if (strcmp(m, "HEAD") == 0) {
		ok = curl_easy_setopt(curl, CURLOPT_NOBODY, 1L) == CURLE_OK;
	} else if (strcmp(m, "GET") != 0) {
		ok = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m) == CURLE_OK;
	}
	return ok;
}

static bool
http_set_auth(CURL *curl, const struct http_auth *auth)
{
	unsigned long how;
	bool ok = true;

	if (auth == NULL || auth->username == NULL)
		return true;
	switch (auth->type) {
	case CPB_AUTH_DIGEST:
		how = CURLAUTH_DIGEST;
		break;
	case CPB_AUTH_AUTO:
		how = CURLAUTH_ANY;
		break;
	case CPB_AUTH_BASIC:
	default:
		/* Only Basic alone makes libcurl send it on the first request. */
		how = CURLAUTH_BASIC;
		break;
	}
	ok = ok && curl_easy_setopt(curl, CURLOPT_HTTPAUTH, how) == CURLE_OK;
	/* Separate options, never user:pass@ in the URL (nor in errors). */
	ok = ok && curl_easy_setopt(curl, CURLOPT_USERNAME, auth->username) ==
	    CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_PASSWORD,
	    auth->password != NULL ? auth->password : "") == CURLE_OK;
	return ok;
}

static bool
http_set_common(struct http_client *c, struct http_xfer *x,
    struct curl_slist *headers, const char *url)
{
	CURL *curl = c->curl;
	const struct http_client_opts *o = &c->opts;
	long verify = o->tls_verify ? 1L : 0L;
	bool ok = true;

	ok = ok && curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") ==
	    CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	if (o->timeout_seconds > 0)
		ok = ok && curl_easy_setopt(curl, CURLOPT_TIMEOUT,
		    o->timeout_seconds) == CURLE_OK;
	if (o->connect_timeout_seconds > 0)
		ok = ok && curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
		    o->connect_timeout_seconds) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify) ==
	    CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST,
	    verify ? 2L : 0L) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_USERAGENT, HTTP_USER_AGENT) ==
	    CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) ==
	    CURLE_OK;
	/* Refuses early when Content-Length already says too much. */
	ok = ok && curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)o->max_body_bytes) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb) ==
	    CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEDATA, x) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION,
	    http_header_cb) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_HEADERDATA, x) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->curl_err) ==
	    CURLE_OK;
	return ok;
}

/*
 * The URL for messages, without any userinfo (callers never put
 * credentials there, but a user's CALDAV_URL might) and without the query
 * (paging noise that pushed the reason out of a bounded message).
 */
static void
http_url_for_msg(const char *url, char *out, size_t size)
{
	const char *p, *auth, *end, *at;

	p = strstr(url, "://");
	auth = p != NULL ? p + 3 : url;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	if (at == NULL)
		snprintf(out, size, "%s", url);
	else
		snprintf(out, size, "%.*s%s", (int)(auth - url), url, at + 1);
	out[strcspn(out, "?#")] = '\0';
}

static enum cpb_err
http_map_error(struct http_client *c, const struct http_request *req,
    const struct http_xfer *x, CURLcode rc, char *errmsg)
{
	const char *m = req->method != NULL ? req->method : "GET";
	const char *why = c->curl_err[0] != '\0' ? c->curl_err :
	    curl_easy_strerror(rc);
	char url[160];

	http_url_for_msg(req->url, url, sizeof(url));
	if (x->nomem || rc == CURLE_OUT_OF_MEMORY)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "%s %s: out of memory",
		    m, url);
	if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "%s %s: response larger than %zu bytes", m, url,
		    c->opts.max_body_bytes);
	/*
	 * The reason first: callers prefix their own context, and a bounded
	 * message must keep why it failed rather than the end of a URL.
	 */
	if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "%s (%s %s)", why,
		    m, url);
	return cpb_seterr(errmsg, CPB_ERR_NETWORK, "%s (%s %s)", why, m, url);
}

enum cpb_err
http_perform(struct http_client *client, const struct http_request *req,
    struct http_response *resp, char *errmsg)
{
	struct http_xfer x;
	struct curl_slist *headers = NULL;
	enum cpb_err err = CPB_OK;
	CURLcode rc;

	http_response_init(resp);
	if (client == NULL || req == NULL || req->url == NULL ||
	    (req->body == NULL && req->body_len != 0))
		return cpb_seterr(errmsg, CPB_ERR_INVALID, "http: bad request");
	memset(&x, 0, sizeof(x));
	x.resp = resp;
	x.max = client->opts.max_body_bytes;
	x.now = (int64_t)time(NULL);
	client->curl_err[0] = '\0';
	curl_easy_reset(client->curl);
	if ((headers = http_build_headers(req)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "http: out of memory");
		goto out;
	}
	if (!http_set_common(client, &x, headers, req->url) ||
	    !http_set_method(client->curl, req) ||
	    !http_set_auth(client->curl, req->auth)) {
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "http: libcurl refused an option");
		goto out;
	}
	client->requests++;
	if ((rc = curl_easy_perform(client->curl)) != CURLE_OK) {
		err = http_map_error(client, req, &x, rc, errmsg);
		goto out;
	}
	curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->body == NULL && !http_store_str(&resp->body, "", 0))
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "http: out of memory");
out:
	/* Drop borrowed pointers and the credentials libcurl copied. */
	curl_easy_reset(client->curl);
	curl_slist_free_all(headers);
	return err;
}

/* ---- the retry policy ------------------------------------------------ */

static bool
http_status_transient(long status)
{
	return status == 500 || status == 502 || status == 503 || status == 504;
}

/* How long to wait after a 429, in ms: Retry-After, else the backoff. */
static long
http_429_wait_ms(const struct http_response *resp,
    const struct http_retry_policy *p, long n429)
{
	long max_ms = p->max_wait_seconds > 0 ? p->max_wait_seconds * 1000 : 0;
	long ms;

	if (resp->retry_after_seconds >= 0)
		ms = resp->retry_after_seconds * 1000;
	else
		ms = http_backoff_ms(n429, p->min_ms, p->max_ms);
	return ms > max_ms ? max_ms : ms;
}

/* Backoff before the next try; a 503's Retry-After is honoured if longer. */
static long
http_transient_wait_ms(const struct http_response *resp,
    const struct http_retry_policy *p, long failed)
{
	long ms = http_backoff_ms(failed, p->min_ms, p->max_ms);
	long max_ms = p->max_wait_seconds > 0 ? p->max_wait_seconds * 1000 : 0;
	long ra;

	if (resp->retry_after_seconds > 0) {
		ra = resp->retry_after_seconds * 1000;
		ra = ra > max_ms ? max_ms : ra;
		ms = ra > ms ? ra : ms;
	}
	return ms;
}

enum cpb_err
http_perform_retry(struct http_client *client, const struct http_request *req,
    const struct http_retry_policy *policy, struct http_response *resp,
    char *errmsg)
{
	long attempts = policy->attempts > 0 ? policy->attempts : 1;
	long failed = 0, n429 = 0, wait;
	enum cpb_err err;

	for (;;) {
		err = http_perform(client, req, resp, errmsg);
		if (err == CPB_OK && resp->status == 429) {
			/* max_wait_seconds 0: never wait, the caller backs
			 * off (asking again at once would only hammer). */
			if (n429 >= policy->max_429 ||
			    policy->max_wait_seconds <= 0)
				return CPB_OK;
			wait = http_429_wait_ms(resp, policy, ++n429);
		} else if (err == CPB_ERR_NETWORK ||
		    (err == CPB_OK && http_status_transient(resp->status))) {
			if (++failed >= attempts)
				return err;
			wait = http_transient_wait_ms(resp, policy, failed);
		} else {
			return err;
		}
		http_response_free(resp);
		http_sleep_ms(wait);
	}
}
