#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *
cpb_strerror(enum cpb_err err)
{
	switch (err) {
	case CPB_OK:			return "success";
	case CPB_ERR_NOMEM:		return "out of memory";
	case CPB_ERR_INVALID:		return "invalid input";
	case CPB_ERR_PARSE:		return "unparsable response";
	case CPB_ERR_TOO_LARGE:		return "input too large";
	case CPB_ERR_IO:		return "local I/O error";
	case CPB_ERR_NETWORK:		return "service unreachable";
	case CPB_ERR_HTTP:		return "unexpected HTTP status";
	case CPB_ERR_AUTH:		return "authentication failed";
	case CPB_ERR_NOT_FOUND:		return "not found";
	case CPB_ERR_PRECONDITION:	return "precondition failed";
	case CPB_ERR_CONFLICT:		return "conflict";
	case CPB_ERR_RATE_LIMITED:	return "rate limited";
	case CPB_ERR_BUSY:		return "busy";
	case CPB_ERR_SAFETY:		return "refused by a safety limit";
	case CPB_ERR_INCOMPLETE:	return "listing incomplete";
	}
	return "unknown error";
}

enum cpb_err
cpb_seterr(char *errmsg, enum cpb_err err, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL)
		return err;
	va_start(ap, fmt);
	vsnprintf(errmsg, CPB_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	return err;
}
