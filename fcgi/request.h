/*
 * request.h - one FastCGI request, read with bounds.
 *
 * Only the parameters the routes use are read (a whitelist: everything
 * else nginx sends is ignored), each checked for length and form before a
 * route sees it.  The body is read only for routes that want one, and
 * never more than `max` + 1 bytes whatever CONTENT_LENGTH says: a missing
 * or lying length cannot make us allocate or read more.
 *
 * The module does not know libfcgi: the caller hands it a parameter
 * getter and a body reader (struct request_source), so the parsing can be
 * driven by tests and fuzzers without a FastCGI server.
 *
 * Ownership: parameter strings point into the source (for libfcgi, its
 * parameter array, valid until FCGX_Finish_r); the path is copied; the
 * body is malloc'd and released by request_free().
 */
#ifndef CPB_FCGI_REQUEST_H
#define CPB_FCGI_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define REQUEST_PATH_MAX	2048	/* longer paths match no route: 404 */
#define REQUEST_QUERY_MAX	2048
#define REQUEST_HEADER_MAX	4096	/* nginx's own line limit is 8 KiB */
#define REQUEST_METHOD_MAX	15

struct request_source {
	/* A parameter's value, or NULL when absent. */
	const char *(*param)(void *ctx, const char *name);
	/* Up to n body bytes into buf: bytes read, 0 at the end, -1 on error. */
	ssize_t	(*read)(void *ctx, char *buf, size_t n);
	void	*ctx;
};

struct fcgi_request {
	const char *method;		/* REQUEST_METHOD, upper-case token */
	char	 path[REQUEST_PATH_MAX + 1];	/* no query string */
	bool	 path_too_long;
	const char *query;		/* QUERY_STRING, or "" */
	const char *content_type;	/* CONTENT_TYPE, or NULL */
	const char *authorization;	/* HTTP_AUTHORIZATION, or NULL */
	const char *signature;		/* HTTP_X_PLANE_SIGNATURE, or NULL */
	const char *delivery;		/* HTTP_X_PLANE_DELIVERY, or NULL */
	const char *event;		/* HTTP_X_PLANE_EVENT, or NULL */
	const char *remote_addr;	/* REMOTE_ADDR, for the log only */
	bool	 has_length;		/* CONTENT_LENGTH given and not empty */
	size_t	 content_length;
	char	*body;			/* NUL-terminated; NULL until read */
	size_t	 body_len;
};

/*
 * Read and check the parameters.  CPB_ERR_INVALID (400) for a missing or
 * malformed method, a malformed CONTENT_LENGTH or an over-long header,
 * with the reason in errmsg.  `req` is reset first.
 */
enum cpb_err request_parse(struct fcgi_request *req,
    const struct request_source *src, char *errmsg);

/*
 * Read the body: CPB_ERR_TOO_LARGE (413) when it is, or says it is, over
 * `max` bytes; CPB_ERR_INVALID (400) when it is shorter or longer than
 * CONTENT_LENGTH; CPB_ERR_IO when the stream failed; CPB_ERR_NOMEM.
 */
enum cpb_err request_read_body(struct fcgi_request *req,
    const struct request_source *src, size_t max, char *errmsg);

/*
 * A strictly decimal number in [min, max], the whole string consumed (no
 * sign, no spaces, no leading zeros beyond "0" itself).
 */
bool request_parse_num(const char *s, long long min, long long max,
    long long *out);

/*
 * One query parameter's raw value (not decoded) copied into out:
 * QUERY_FOUND, QUERY_ABSENT, or QUERY_TOO_LONG when it does not fit (a
 * caller must refuse that, not fall back to a default).
 */
enum request_query { QUERY_ABSENT, QUERY_FOUND, QUERY_TOO_LONG };
enum request_query request_query_get(const char *query, const char *name,
    char *out, size_t size);

void request_free(struct fcgi_request *req);

#endif
