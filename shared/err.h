/*
 * err.h - the one error vocabulary of libcalplanebot.
 *
 * Every fallible function in shared/ returns an enum cpb_err (CPB_OK == 0)
 * and, where a human needs more than the code, writes a one-line reason
 * into a caller-owned buffer of CPB_ERRMSG_MAX bytes.  Nothing in the
 * library prints or exits: callers decide what to show.
 */
#ifndef CPB_ERR_H
#define CPB_ERR_H

#include <stddef.h>

#define CPB_ERRMSG_MAX 256

enum cpb_err {
	CPB_OK = 0,
	CPB_ERR_NOMEM,		/* allocation failed */
	CPB_ERR_INVALID,	/* bad argument or malformed input */
	CPB_ERR_PARSE,		/* a peer sent something we cannot parse */
	CPB_ERR_TOO_LARGE,	/* input over a hard size cap */
	CPB_ERR_IO,		/* local file or database failure */
	CPB_ERR_NETWORK,	/* connect/DNS/TLS/timeout: peer unreachable */
	CPB_ERR_HTTP,		/* peer answered with an unexpected status */
	CPB_ERR_AUTH,		/* 401/403: credentials wrong or lacking rights */
	CPB_ERR_NOT_FOUND,	/* 404 or no such row */
	CPB_ERR_PRECONDITION,	/* 412: someone else changed the resource */
	CPB_ERR_CONFLICT,	/* 409 or a uniqueness clash */
	CPB_ERR_RATE_LIMITED,	/* 429 that outlasted our patience */
	CPB_ERR_BUSY,		/* lock held by another process */
	CPB_ERR_SAFETY,		/* refused by a safety limit (mass delete) */
	CPB_ERR_INCOMPLETE,	/* a listing was cut short */
};

/* A static, human description of the code; never NULL. */
const char *cpb_strerror(enum cpb_err err);

/* printf into an errmsg buffer (NULL-safe, always terminated); returns err. */
enum cpb_err cpb_seterr(char *errmsg, enum cpb_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
