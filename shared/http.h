/*
 * http.h - the one HTTP transport: a libcurl easy handle per client, so
 * connections are kept alive and reused, plus the retry policy.
 *
 * Rules every request follows: no redirects are followed (callers decide,
 * and credentials never go to another host); an empty "Expect:" header
 * (Radicale and php -S never answer 100-continue); bodies always sent with
 * Content-Length; responses capped at opts.max_body_bytes; TLS verified
 * unless the configuration turns it off.
 *
 * Ownership: the client owns its curl handle; a response owns its strings
 * until http_response_free().  Request fields are borrowed.
 */
#ifndef CPB_HTTP_H
#define CPB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct http_client;

struct http_client_opts {
	long	 timeout_seconds;
	long	 connect_timeout_seconds;
	bool	 tls_verify;
	size_t	 max_body_bytes;	/* response cap; 0: 64 MiB */
};

struct http_auth {
	enum cpb_auth_type type;
	const char *username;
	const char *password;		/* secret */
};

struct http_request {
	const char *method;		/* "GET", "PUT", "PROPFIND", … */
	const char *url;
	const char *const *headers;	/* NULL-terminated "Name: value", or NULL */
	const char *body;		/* may be NULL */
	size_t	 body_len;
	const struct http_auth *auth;	/* NULL: no credentials */
};

struct http_response {
	long	 status;
	char	*body;			/* NUL-terminated, body_len bytes before it */
	size_t	 body_len;
	char	*etag;			/* verbatim (quotes kept), or NULL */
	char	*content_type;		/* or NULL */
	char	*location;		/* or NULL */
	long	 retry_after_seconds;	/* -1: header absent */
	long	 ratelimit_remaining;	/* -1: header absent */
	int64_t	 ratelimit_reset;	/* unix time; -1: header absent */
};

struct http_retry_policy {
	long	 attempts;		/* total tries for network errors and 5xx */
	long	 min_ms;		/* first backoff */
	long	 max_ms;		/* backoff cap */
	long	 max_wait_seconds;	/* longest single 429 wait we accept */
	long	 max_429;		/* 429s tolerated per request before giving up */
};

enum cpb_err http_client_new(struct http_client **out,
    const struct http_client_opts *opts, char *errmsg);
void http_client_free(struct http_client *client);

/*
 * One attempt.  CPB_OK whenever a complete response arrived, whatever its
 * status; CPB_ERR_NETWORK for connect/TLS/timeout/truncated transfers;
 * CPB_ERR_TOO_LARGE past the body cap.  `resp` is zeroed first and must be
 * freed by the caller on every return.
 */
enum cpb_err http_perform(struct http_client *client,
    const struct http_request *req, struct http_response *resp, char *errmsg);

/*
 * http_perform with the policy: network errors, 500/502/503/504 and
 * timeouts are retried with exponential backoff; a 429 waits Retry-After
 * (capped at max_wait_seconds, at most max_429 times) and does not count as
 * an attempt; with max_wait_seconds 0 a 429 is returned at once.  The last
 * response (any status) is returned with CPB_OK.
 */
enum cpb_err http_perform_retry(struct http_client *client,
    const struct http_request *req, const struct http_retry_policy *policy,
    struct http_response *resp, char *errmsg);

void http_response_free(struct http_response *resp);

/* Delay before retry number `retry` (1-based): min*2^(retry-1), capped. */
long http_backoff_ms(long retry, long min_ms, long max_ms);

/* Sleep, interruptible only by process exit. */
void http_sleep_ms(long ms);

/* Requests sent through this client (every attempt counts). */
unsigned long http_request_count(const struct http_client *client);

/* Percent-encode everything outside RFC 3986's unreserved set. Caller frees. */
char *http_escape(const char *s);

/*
 * Header-value parsers, pure (the header callback uses them; unit-tested).
 *
 * http_parse_int: optional surrounding blanks, an optional '-', decimal
 * digits, nothing else; false unless the value lies in [min, max].
 *
 * http_parse_retry_after: RFC 9110 10.2.3, delta-seconds or an HTTP-date,
 * as seconds from now_unix: a date in the past gives 0, huge values are
 * clamped to HTTP_RETRY_AFTER_MAX; -1 when the value is neither.
 */
#define HTTP_RETRY_AFTER_MAX	86400L
bool http_parse_int(const char *value, int64_t min, int64_t max,
    int64_t *out);
long http_parse_retry_after(const char *value, int64_t now_unix);

#endif
