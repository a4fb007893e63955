/*
 * response.h - what a route answers, built in memory and written by the
 * caller in one go (so a route can never leave a half-written answer).
 *
 * Every error is JSON of one shape:
 *   {"status":"error","error_code":"NOT_FOUND","message":"..."}
 * Messages are for people and never carry a secret; codes are stable and
 * listed in docs/api.md.
 *
 * Ownership: the body is the response's and freed by response_free();
 * header values are static strings.
 */
#ifndef CPB_FCGI_RESPONSE_H
#define CPB_FCGI_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define RESPONSE_JSON		"application/json"
#define RESPONSE_METRICS	"text/plain; version=0.0.4; charset=utf-8"

struct fcgi_response {
	int	 status;
	const char *content_type;
	const char *allow;		/* 405: the methods the route takes */
	const char *www_authenticate;	/* 401 on admin routes */
	char	*body;
	size_t	 body_len;
	bool	 drain_after;		/* drain the queue once this is sent */
};

/* A JSON document as the body (consumes `doc`, also on failure). */
void response_json(struct fcgi_response *resp, int status, cJSON *doc);
/* A body the caller allocated (consumed). */
void response_take(struct fcgi_response *resp, int status,
    const char *content_type, char *body);
/* The error document; `fmt` makes the message. */
void response_error(struct fcgi_response *resp, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "Not Found" for 404, ...; never NULL. */
const char *response_reason(int status);

/*
 * The CGI response head ("Status: 200 OK\r\n...\r\n\r\n") into buf;
 * false if it does not fit.
 */
bool response_head(const struct fcgi_response *resp, char *buf, size_t size);

void response_free(struct fcgi_response *resp);

#endif
