/*
 * request.c - see request.h.  The rules come from the CGI/1.1 meta
 * variables (RFC 3875 section 4.1) as nginx fills them through
 * fastcgi_params, plus the Plane headers (HTTP_X_PLANE_*).
 */
#include "request.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* First buffer for a body of unknown length; doubled up to the cap. */
#define REQUEST_BODY_CHUNK	(16 * 1024)

bool
request_parse_num(const char *s, long long min, long long max,
    long long *out)
{
	unsigned long long v = 0;
	const char *p;

	if (s == NULL || *s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		/* Stop before overflow: anything past LLONG_MAX is out of range. */
		if (v > ((unsigned long long)LLONG_MAX - (unsigned)(*p - '0')) / 10)
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if ((long long)v < min || (long long)v > max)
		return false;
	*out = (long long)v;
	return true;
}

enum request_query
request_query_get(const char *query, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name), vlen;
	const char *p = query, *end;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			vlen = (size_t)(end - p) - nlen - 1;
			if (vlen + 1 > size)
				return QUERY_TOO_LONG;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return QUERY_FOUND;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return QUERY_ABSENT;
}

static const char *
param(const struct request_source *src, const char *name)
{
	return src->param(src->ctx, name);
}

/* An optional header: absent is fine, over-long is a 400. */
static enum cpb_err
header(const struct request_source *src, const char *name, const char *shown,
    const char **out, char *errmsg)
{
	const char *v = param(src, name);

	if (v != NULL && strlen(v) > REQUEST_HEADER_MAX)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "header %s is longer than %d bytes", shown,
		    REQUEST_HEADER_MAX);
	*out = v;
	return CPB_OK;
}

static bool
method_ok(const char *m)
{
	size_t i;

	for (i = 0; m[i] != '\0'; i++)
		if (m[i] < 'A' || m[i] > 'Z' || i >= REQUEST_METHOD_MAX)
			return false;
	return i > 0;
}

/*
 * The path routes match on: DOCUMENT_URI (nginx's normalised $uri, the
 * same string its location blocks matched), else REQUEST_URI without the
 * query, else SCRIPT_NAME.
 */
static void
set_path(struct fcgi_request *req, const struct request_source *src)
{
	const char *p = param(src, "DOCUMENT_URI");
	size_t len;

	if (p == NULL || *p == '\0') {
		p = param(src, "REQUEST_URI");
		if (p == NULL || *p == '\0')
			p = param(src, "SCRIPT_NAME");
	}
	if (p == NULL || *p == '\0')
		p = "/";
	len = strcspn(p, "?");
	if (len > REQUEST_PATH_MAX) {
		req->path_too_long = true;
		len = 0;
	}
	memcpy(req->path, p, len);
	req->path[len] = '\0';
}

enum cpb_err
request_parse(struct fcgi_request *req, const struct request_source *src,
    char *errmsg)
{
	const char *len;
	long long n;
	enum cpb_err err;

	memset(req, 0, sizeof(*req));
	req->method = param(src, "REQUEST_METHOD");
	if (req->method == NULL || !method_ok(req->method))
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "missing or malformed request method");
	set_path(req, src);
	req->query = param(src, "QUERY_STRING");
	if (req->query == NULL)
		req->query = "";
	if (strlen(req->query) > REQUEST_QUERY_MAX)
		return cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "query string longer than %d bytes", REQUEST_QUERY_MAX);
	req->remote_addr = param(src, "REMOTE_ADDR");
	if ((err = header(src, "CONTENT_TYPE", "Content-Type",
	    &req->content_type, errmsg)) != CPB_OK ||
	    (err = header(src, "HTTP_AUTHORIZATION", "Authorization",
	    &req->authorization, errmsg)) != CPB_OK ||
	    (err = header(src, "HTTP_X_PLANE_SIGNATURE", "X-Plane-Signature",
	    &req->signature, errmsg)) != CPB_OK ||
	    (err = header(src, "HTTP_X_PLANE_DELIVERY", "X-Plane-Delivery",
	    &req->delivery, errmsg)) != CPB_OK ||
	    (err = header(src, "HTTP_X_PLANE_EVENT", "X-Plane-Event",
	    &req->event, errmsg)) != CPB_OK)
		return err;
	/* nginx sends CONTENT_LENGTH "" for requests without a body. */
	len = param(src, "CONTENT_LENGTH");
	if (len != NULL && *len != '\0') {
		req->has_length = true;
		if (request_parse_num(len, 0, (long long)(SIZE_MAX / 2), &n))
			req->content_length = (size_t)n;
		else if (strspn(len, "0123456789") == strlen(len) && len[0] != '0')
			/* Only digits, but too many: too large, not malformed. */
			req->content_length = SIZE_MAX;
		else
			return cpb_seterr(errmsg, CPB_ERR_INVALID,
			    "malformed Content-Length");
	}
	return CPB_OK;
}

enum cpb_err
request_read_body(struct fcgi_request *req, const struct request_source *src,
    size_t max, char *errmsg)
{
	size_t cap, want, got = 0;
	char *buf = NULL, *nbuf;
	ssize_t n;
	enum cpb_err err = CPB_OK;

	if (req->has_length && req->content_length > max)
		return cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "request body larger than %zu bytes", max);
	/*
	 * Read one byte more than we accept (or than announced): that byte
	 * is how a body longer than its length, or than the cap, shows.
	 */
	want = (req->has_length ? req->content_length : max) + 1;
	cap = req->has_length ? want : (want < REQUEST_BODY_CHUNK ? want :
	    REQUEST_BODY_CHUNK);
	if ((buf = malloc(cap + 1)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (got < want) {
		if (got == cap) {
			cap = cap * 2 < want ? cap * 2 : want;
			if ((nbuf = realloc(buf, cap + 1)) == NULL) {
				err = cpb_seterr(errmsg, CPB_ERR_NOMEM,
				    "out of memory");
				goto out;
			}
			buf = nbuf;
		}
		n = src->read(src->ctx, buf + got, cap - got);
		if (n < 0) {
			err = cpb_seterr(errmsg, CPB_ERR_IO,
			    "reading the request body failed");
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max)
		err = cpb_seterr(errmsg, CPB_ERR_TOO_LARGE,
		    "request body larger than %zu bytes", max);
	else if (req->has_length && got != req->content_length)
		err = cpb_seterr(errmsg, CPB_ERR_INVALID,
		    "request body is %s than its Content-Length",
		    got < req->content_length ? "shorter" : "longer");
out:
	if (err != CPB_OK) {
		free(buf);
		return err;
	}
	buf[got] = '\0';
	req->body = buf;
	req->body_len = got;
	return CPB_OK;
}

void
request_free(struct fcgi_request *req)
{
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}
