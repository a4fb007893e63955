/*
 * harness.h - what the integration tests need to drive the real product:
 * the Plane simulator, real CalDAV servers on loopback, the real
 * calplanebot-sync binary, and an independent read-back of the calendars
 * (raw WebDAV REPORTs parsed with libxml2 and libical, not our client).
 *
 * Every server is started in a directory under $CPB_TEST_TMP (set by
 * tests/run-tests.sh, which stops whatever a crashed test left behind) and
 * stopped by the matching *_stop, which the tests call from .fini.
 *
 * Ownership: structs are the caller's; strings returned are malloc'd.
 */
#ifndef CPB_HARNESS_H
#define CPB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

struct h_dav {
	char	 kind[16];
	char	 dir[512];
	char	 url[512];
	char	 user[64];
	char	 pass[128];
	char	 auth[16];		/* basic | digest */
	char	 home[512];		/* calendar home path */
};

struct h_sim {
	char	 dir[512];
	pid_t	 pid;
	int	 port;
	char	 url[128];		/* http://127.0.0.1:PORT */
	char	 token[80];
	char	 slug[64];
};

/* Environment for the binary under test: "KEY=VALUE" strings. */
struct h_env {
	char	*vars[64];
	size_t	 n;
};

struct h_run {
	int	 status;		/* exit code, or 128+signal */
	char	*out;
	char	*err;
};

struct h_event {
	char	*calendar;		/* displayname of its calendar */
	char	*href;
	char	*uid;
	char	*summary;
	char	*description;
	char	*dtstart;		/* "20240229" */
	char	*dtend;
	char	*status;		/* "CONFIRMED" */
	char	*color;
	char	*url;
	char	*categories;		/* comma-joined values */
	int	 priority;
	int	 sequence;
};

const char *h_srcdir(void);
/* Sleep (EINTR-safe) and a monotonic clock, for polling with a deadline. */
void h_sleep_ms(long ms);
long h_now_ms(void);
const char *h_bindir(void);
/* A fresh private directory under $CPB_TEST_TMP (or /tmp). */
bool h_mkdtemp(char *out, size_t size, const char *tag);
/* A whole file, NUL-terminated, its length in *len unless NULL; NULL if
 * it cannot be opened.  Any bytes: NULs inside count in *len. */
char *h_slurp(const char *path, size_t *len);

bool h_dav_start(struct h_dav *dav, const char *kind);
void h_dav_stop(struct h_dav *dav);
/* Every event in every calendar of the home, sorted by UID. */
size_t h_dav_events(const struct h_dav *dav, struct h_event **out);
void h_events_free(struct h_event *ev, size_t n);
const struct h_event *h_event_find(const struct h_event *ev, size_t n,
    const char *uid);
/* Raw request with the server's credentials; returns the status. */
long h_dav_request(const struct h_dav *dav, const char *method,
    const char *url, const char *content_type, const char *body,
    const char *extra_header, char **resp_body);
/* The calendars in the home: displaynames and URLs, in server order. */
size_t h_dav_calendars(const struct h_dav *dav, char ***names, char ***urls);
void h_strings_free(char **s, size_t n);
/* How many calendars of the home have a name starting with "Plane: ". */
size_t h_dav_plane_calendars(const struct h_dav *dav);

/* Start the simulator: fixture path (NULL: the sample) and extra args. */
bool h_sim_start(struct h_sim *sim, const char *fixture, const char *args);
void h_sim_stop(struct h_sim *sim);
/* Control API call; the parsed JSON answer (caller frees) or NULL. */
cJSON *h_sim_call(const struct h_sim *sim, const char *method,
    const char *path, const char *json, long *status);
/* Total REST requests the simulator answered (from /_sim/stats). */
long h_sim_requests(const struct h_sim *sim);

void h_env_set(struct h_env *env, const char *key, const char *value);
void h_env_for(struct h_env *env, const struct h_sim *sim,
    const struct h_dav *dav, const char *db_path);
void h_env_free(struct h_env *env);

/* Run bin/calplanebot-sync with exactly this environment. */
int h_run_sync(const struct h_env *env, const char *const *args,
    struct h_run *run);
void h_run_free(struct h_run *run);

/* ---- the web stack: nginx over TLS + the spawn-fcgi pool --------------- */

/*
 * Started with nginx/run.sh (what `make run` uses) in a run directory
 * under $CPB_TEST_TMP, on a free 127.0.0.1 port, with a self-signed
 * certificate that requests verify against.
 */
struct h_stack {
	char	 dir[512];		/* RUN_DIR */
	int	 port;
	char	 url[128];		/* https://127.0.0.1:PORT */
	char	 cacert[600];
	char	 log[600];		/* the responders' log */
	int	 pool_size;
};

struct h_http {
	long	 status;		/* -1: no answer (connection, TLS) */
	char	*body;
	char	*headers;		/* the raw header block */
};

/* `env` is the configuration the pool gets (as for h_run_sync). */
bool h_stack_start(struct h_stack *st, const struct h_env *env, int pool_size);
void h_stack_stop(struct h_stack *st);
/* The pool's processes (from spawn-fcgi's pid file); how many. */
size_t h_stack_pool_pids(const struct h_stack *st, pid_t *pids, size_t max);

/*
 * What the tests of the whole product run on: the simulator and Radicale
 * under a directory of the test's own, the configuration for both (the
 * store in dir/state.db), and the stack, which the test starts itself
 * once its configuration is final.  The world owns env's strings and the
 * servers; h_world_stop stops and frees them all, in a zeroed or half
 * started world too, so that .fini can always call it.
 */
struct h_world {
	struct h_sim	 sim;
	struct h_dav	 dav;
	struct h_env	 env;
	struct h_stack	 stack;		/* not started by h_world_start */
	char		 dir[512];	/* the test's own files */
	char		 db[700];
	char		 why[48];	/* what h_world_start could not start */
};

/*
 * The simulator on the sample workspace (or, without `sample`, on what
 * sim_args generates) and Radicale, with the webhook secret and admin
 * token set; the strings passed in are copied, not kept.  On false,
 * w->why says what failed.
 */
bool h_world_start(struct h_world *w, const char *tag, bool sample,
    const char *sim_args, const char *secret, const char *admin);
void h_world_stop(struct h_world *w);

/*
 * One HTTPS request through nginx: `headers` NULL or NULL-terminated
 * "Name: value" lines; body may hold any bytes.  Returns the status.
 */
long h_https(const struct h_stack *st, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    struct h_http *resp);
/* A response header's value (first match, any case; malloc'd) or NULL. */
char *h_http_header(const struct h_http *resp, const char *name);
void h_http_free(struct h_http *resp);
/* HMAC-SHA256(secret, body) as lowercase hex, into out[65]. */
void h_hmac_hex(const char *secret, const char *body, size_t len, char *out);
/* A free TCP port on 127.0.0.1 (racy by nature; callers retry). */
int h_free_port(void);

/*
 * A CalDAV outage and its end, for Radicale: down stops the server and
 * keeps its data; up starts it again on the same port and data (and
 * h_dav_stop still stops it).
 */
bool h_dav_down(struct h_dav *dav);
bool h_dav_up(struct h_dav *dav);

#endif
