/*
 * config.h - CalPlaneBot's configuration, read once and validated.
 *
 * Sources, later wins: the dotenv file (CALPLANEBOT_CONFIG, else
 * ./calplanebot.env, else /etc/calplanebot/calplanebot.env, if present),
 * then the process environment.  This module holds every getenv() of the
 * program; everyone else gets a const struct cpb_config *.
 *
 * Ownership: config_load() allocates the struct and every string in it;
 * config_free() releases them (secrets are wiped first).
 */
#ifndef CPB_CONFIG_H
#define CPB_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"
#include "log.h"

enum cpb_auth_type {
	CPB_AUTH_BASIC,
	CPB_AUTH_DIGEST,
	CPB_AUTH_AUTO,		/* let libcurl negotiate (CURLAUTH_ANY) */
};

struct cpb_config {
	/* Plane */
	char	*plane_base_url;	/* instance root, no trailing '/', no /api/v1 */
	char	*plane_api_token;	/* secret */
	char	*plane_workspace_slug;
	char	*plane_web_url;		/* for issue links; default plane_base_url */
	char	*plane_webhook_secret;	/* secret; NULL when unset */

	/* CalDAV */
	char	*caldav_url;
	char	*caldav_username;
	char	*caldav_password;	/* secret */
	enum cpb_auth_type caldav_auth_type;

	/* ours */
	char	*db_path;		/* SQLite file */
	char	*calendar_name_template; /* "{project}" is replaced */
	long	 sync_interval_seconds;
	enum log_level log_level;

	/* transport knobs (tests shrink these) */
	long	 http_timeout_seconds;	/* whole request */
	long	 http_connect_timeout_seconds;
	long	 retry_attempts;	/* total tries for transient failures */
	long	 retry_min_ms;		/* first backoff */
	long	 retry_max_ms;		/* backoff cap */
	long	 rate_limit_max_wait_seconds; /* longest 429/reset wait we accept */
	bool	 tls_verify;		/* CALPLANEBOT_TLS_VERIFY=false turns off */
	long	 discovery_ttl_seconds;	/* calendar-home cache */
	long	 plane_page_size;	/* per_page; Plane's maximum 1000 is best */
	long	 max_event_failures;	/* webhook attempts before dead letter */

	/* the webhook responder */
	char	*admin_token;		/* secret; NULL when unset */
	bool	 allow_unsigned_webhooks;
	char	*source_file;		/* the dotenv file read, or NULL */
};

/*
 * Load and validate.  On failure returns CPB_ERR_INVALID and writes one
 * line per problem ("VARIABLE: what is wrong\n") to `problems` (may be
 * NULL); unknown keys of the dotenv file produce warnings there too but do
 * not fail.  `environ_override` is for tests: when non-NULL it replaces the
 * process environment (a NULL-terminated "KEY=VALUE" array).
 */
enum cpb_err config_load(struct cpb_config **out, char *const *environ_override,
    FILE *problems);

void config_free(struct cpb_config *cfg);

/*
 * Parse one dotenv file into a NULL-terminated "KEY=VALUE" array (caller
 * frees with config_free_env).  Syntax: KEY=VALUE lines, '#' comments,
 * blank lines, optional `export `, single or double quotes (double quotes
 * take \n \" \\ escapes), inline " #" comments after unquoted values.
 * Errors name the file and line.
 */
enum cpb_err config_parse_dotenv(const char *text, size_t len, const char *name,
    char ***out, char *errmsg);
void config_free_env(char **env);

/*
 * Hand every secret of cfg to the log's redactor (log_add_secret): both
 * binaries call this once after config_load.
 */
void config_redact_secrets(const struct cpb_config *cfg);

/* True for the names whose values must never be shown. */
bool config_is_secret(const char *name);

#endif
