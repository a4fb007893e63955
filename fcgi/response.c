/*
 * response.c - see response.h.  The head uses the CGI "Status:" header
 * (RFC 3875 section 6.3.3), which nginx turns into the status line.
 */
#include "response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* What we send when even building the error failed (out of memory). */
static const char response_oom[] =
    "{\"status\":\"error\",\"error_code\":\"INTERNAL_ERROR\","
    "\"message\":\"out of memory\"}";

static void
response_set(struct fcgi_response *resp, int status, const char *ctype,
    char *body)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = ctype;
	resp->body = body;
	resp->body_len = body ? strlen(body) : 0;
}

/* Out of memory: a fixed 500 that needs no allocation to describe. */
static void
response_nomem(struct fcgi_response *resp)
{
	char *copy = strdup(response_oom);

	response_set(resp, 500, RESPONSE_JSON, copy);
	resp->drain_after = false;
}

void
response_json(struct fcgi_response *resp, int status, cJSON *doc)
{
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;

	cJSON_Delete(doc);
	if (text == NULL) {
		response_nomem(resp);
		return;
	}
	response_set(resp, status, RESPONSE_JSON, text);
}

void
response_take(struct fcgi_response *resp, int status, const char *ctype,
    char *body)
{
	if (body == NULL) {
		response_nomem(resp);
		return;
	}
	response_set(resp, status, ctype, body);
}

void
response_error(struct fcgi_response *resp, int status, const char *code,
    const char *fmt, ...)
{
	char msg[CPB_ERRMSG_MAX];
	cJSON *doc = cJSON_CreateObject();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (doc == NULL ||
	    cJSON_AddStringToObject(doc, "status", "error") == NULL ||
	    cJSON_AddStringToObject(doc, "error_code", code) == NULL ||
	    cJSON_AddStringToObject(doc, "message", msg) == NULL) {
		cJSON_Delete(doc);
		response_nomem(resp);
		return;
	}
	/* An error never triggers work after the answer. */
	resp->drain_after = false;
	response_json(resp, status, doc);
}

const char *
response_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

bool
response_head(const struct fcgi_response *resp, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size,
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s%s%s"
	    "%s%s%s"
	    "\r\n",
	    resp->status, response_reason(resp->status),
	    resp->content_type ? resp->content_type : RESPONSE_JSON,
	    resp->body_len,
	    resp->allow ? "Allow: " : "", resp->allow ? resp->allow : "",
	    resp->allow ? "\r\n" : "",
	    resp->www_authenticate ? "WWW-Authenticate: " : "",
	    resp->www_authenticate ? resp->www_authenticate : "",
	    resp->www_authenticate ? "\r\n" : "");
	return n > 0 && (size_t)n < size;
}

void
response_free(struct fcgi_response *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
