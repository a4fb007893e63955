/*
 * calplanebot-fcgi - the FastCGI responder behind nginx.
 *
 * Started as a pool by spawn-fcgi, which hands every process the listening
 * socket as fd 0.  Each process takes one request at a time
 * (FCGX_Accept_r), answers it, and only after the answer is out
 * (FCGX_Finish_r) drains the webhook queue, so Plane never waits for
 * CalDAV.  The process keeps its store connection and HTTP clients for
 * its whole life; nothing of one request survives into the next.
 *
 * SIGTERM (and SIGINT, SIGHUP) stop the process after the request or
 * drain item in hand; an interrupted drain loses nothing, as leased items
 * go back to the queue.
 *
 * main() only parses options, loads the configuration, and runs the loop;
 * routes live in router.c, request reading in request.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define NO_FCGI_DEFINES
#include <fcgiapp.h>

#include "caldav.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "plane.h"
#include "request.h"
#include "response.h"
#include "router.h"
#include "store.h"
#include "webhook.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,		/* could not run (not under FastCGI, store) */
	EXIT_CONFIG = 2,		/* configuration missing or invalid */
};

/* After a webhook: at most this many items per drain, then accept again. */
#define FCGI_DRAIN_MAX_ITEMS	1000
#define FCGI_HEAD_MAX		1024
/*
 * SQLite's page cache per responder, KiB.  A responder reads a few pages
 * per request (queue, deliveries, health), and any other process's commit
 * empties the cache anyway; SQLite's 2000 KiB default only fills over
 * hours and stays resident in every process of the pool.
 */
#define FCGI_STORE_CACHE_KIB	512

/* The one piece of process state: set by the signal handler. */
static volatile sig_atomic_t fcgi_stop;

struct options {
	const char *log_file;
	const char *sync_bin;
	const char *sync_log;
	bool	 check;
};

/* Everything one responder opens at start and closes at exit. */
struct session {
	struct cpb_config *cfg;
	struct http_client *plane_http;
	struct http_client *caldav_http;
	struct plane_client *plane;
	struct caldav_client *caldav;
	struct store	*store;
	struct engine	*engine;
	char		 sync_bin[PATH_MAX];
	struct doc_cache health_cache;
	struct fcgi_app	 app;
};

static void
usage(FILE *out)
{
	fprintf(out,
"usage: calplanebot-fcgi [--log FILE] [--sync-bin PATH] [--sync-log FILE]\n"
"       calplanebot-fcgi --check\n"
"\n"
"CalPlaneBot's FastCGI responder: Plane's webhooks and the JSON API.\n"
"Start it with spawn-fcgi, which passes the listening socket as stdin:\n"
"  spawn-fcgi -s /run/calplanebot/fcgi.sock -M 0660 -F 4 -- %s\n"
"\n"
"  --log FILE       append the log here instead of stderr (spawn-fcgi\n"
"                   closes stderr)\n"
"  --sync-bin PATH  calplanebot-sync for POST /api/v1/sync (default:\n"
"                   $CALPLANEBOT_SYNC_BIN, else beside this program)\n"
"  --sync-log FILE  where a sync started that way writes (default: /dev/null)\n"
"  --check          load the configuration and open the store, then exit\n"
"  -h, --help       this text\n"
"  -V, --version    the version\n"
"\n"
"Configuration: as calplanebot-sync (CALPLANEBOT_CONFIG, ./calplanebot.env,\n"
"/etc/calplanebot/calplanebot.env, the environment).  PLANE_WEBHOOK_SECRET is\n"
"required unless ALLOW_UNSIGNED_WEBHOOKS=true.\n"
"\n"
"Exit codes: 0 stopped cleanly, 1 could not run, 2 configuration.\n",
	    "/usr/local/bin/calplanebot-fcgi");
}

static int
parse_options(int argc, char **argv, struct options *opts)
{
	static const struct option longopts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "sync-bin", required_argument, NULL, 'b' },
		{ "sync-log", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(opts, 0, sizeof(*opts));
	while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			opts->log_file = optarg;
			break;
		case 'b':
			opts->sync_bin = optarg;
			break;
		case 's':
			opts->sync_log = optarg;
			break;
		case 'c':
			opts->check = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("calplanebot-fcgi %s\n", CPB_VERSION);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "calplanebot-fcgi: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

/*
 * spawn-fcgi leaves fds 1 and 2 closed.  Fill them (the log file, or
 * /dev/null), so no file we open later becomes "stderr" by accident.
 */
static int
setup_stdio(const char *log_file)
{
	int fd, i;

	for (i = 1; i <= 2; i++)
		if (fcntl(i, F_GETFD) == -1 &&
		    (fd = open("/dev/null", O_WRONLY)) != -1 && fd != i) {
			dup2(fd, i);
			close(fd);
		}
	if (log_file == NULL)
		return 0;
	if ((fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		fprintf(stderr, "calplanebot-fcgi: cannot open log %s: %s\n",
		    log_file, strerror(errno));
		return -1;
	}
	dup2(fd, 2);
	close(fd);
	setvbuf(stderr, NULL, _IOLBF, 0);
	return 0;
}

/* --sync-bin, else $CALPLANEBOT_SYNC_BIN, else beside our own binary. */
static void
resolve_sync_bin(const struct options *opts, char *out, size_t size)
{
	const char *env = getenv("CALPLANEBOT_SYNC_BIN");
	/* Room left in `out` for "/calplanebot-sync". */
	char self[PATH_MAX - 32], *slash;
	ssize_t n;

	if (opts->sync_bin != NULL && *opts->sync_bin != '\0') {
		snprintf(out, size, "%s", opts->sync_bin);
		return;
	}
	if (env != NULL && *env != '\0') {
		snprintf(out, size, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(out, size, "/usr/local/bin/calplanebot-sync");
		return;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	snprintf(out, size, "%s/calplanebot-sync", self);
}

static int
load_config(struct session *s)
{
	if (config_load(&s->cfg, NULL, stderr) != CPB_OK) {
		fprintf(stderr, "calplanebot-fcgi: configuration invalid (see above)\n");
		return EXIT_CONFIG;
	}
	log_set_level(s->cfg->log_level);
	config_redact_secrets(s->cfg);
	/*
	 * The responder only drains the webhook queue, which has its own
	 * backoff and dead letters: one attempt per request and no wait for
	 * a 429 or a rate-limit reset.  Retrying here as well would multiply
	 * the two, and a responder asleep in a retry is one fewer answering
	 * Plane (and would hold up a stop).
	 */
	s->cfg->retry_attempts = 1;
	s->cfg->rate_limit_max_wait_seconds = 0;
	if (s->cfg->plane_webhook_secret == NULL ||
	    s->cfg->plane_webhook_secret[0] == '\0') {
		if (!s->cfg->allow_unsigned_webhooks) {
			fprintf(stderr, "calplanebot-fcgi: PLANE_WEBHOOK_SECRET "
			    "is not set: refusing to accept unsigned webhooks.\n"
			    "Copy the secret from Plane's webhook settings "
			    "(plane_wh_...), or set ALLOW_UNSIGNED_WEBHOOKS=true "
			    "to accept webhooks without a signature.\n");
			return EXIT_CONFIG;
		}
		log_kv(LOG_WARNING, "op", "start", "msg", "PLANE_WEBHOOK_SECRET "
		    "not set and ALLOW_UNSIGNED_WEBHOOKS=true: webhooks are "
		    "accepted without a signature", NULL);
	}
	return EXIT_OK;
}

static enum cpb_err
session_open(struct session *s, const struct options *opts, char *errmsg)
{
	struct http_client_opts hopts = {
		.timeout_seconds = s->cfg->http_timeout_seconds,
		.connect_timeout_seconds = s->cfg->http_connect_timeout_seconds,
		.tls_verify = s->cfg->tls_verify,
	};
	enum cpb_err err;

	if ((err = http_client_new(&s->plane_http, &hopts, errmsg)) != CPB_OK ||
	    (err = http_client_new(&s->caldav_http, &hopts, errmsg)) != CPB_OK ||
	    (err = plane_client_new(&s->plane, s->cfg, s->plane_http,
	    errmsg)) != CPB_OK ||
	    (err = plane_client_set_page_size(s->plane, s->cfg->plane_page_size,
	    errmsg)) != CPB_OK ||
	    (err = caldav_client_new(&s->caldav, s->cfg, s->caldav_http,
	    errmsg)) != CPB_OK ||
	    (err = store_open(&s->store, s->cfg->db_path, errmsg)) != CPB_OK ||
	    (err = store_set_cache_kib(s->store, FCGI_STORE_CACHE_KIB,
	    errmsg)) != CPB_OK ||
	    (err = engine_new(&s->engine, s->cfg, s->store, s->plane, s->caldav,
	    errmsg)) != CPB_OK)
		return err;
	resolve_sync_bin(opts, s->sync_bin, sizeof(s->sync_bin));
	if (access(s->sync_bin, X_OK) != 0)
		log_kv(LOG_WARNING, "op", "start", "msg", "the sync program is "
		    "not executable: POST /api/v1/sync will fail", "path",
		    s->sync_bin, NULL);
	s->app.cfg = s->cfg;
	s->app.store = s->store;
	s->app.engine = s->engine;
	s->app.started_at = time(NULL);
	s->app.sync_bin = s->sync_bin;
	s->app.sync_log = opts->sync_log;
	s->app.health_cache = &s->health_cache;
	return CPB_OK;
}

static void
session_close(struct session *s)
{
	doc_cache_clear(&s->health_cache);
	engine_free(s->engine);
	store_close(s->store);
	caldav_client_free(s->caldav);
	plane_client_free(s->plane);
	http_client_free(s->caldav_http);
	http_client_free(s->plane_http);
	config_free(s->cfg);
}

/* ---- signals ----------------------------------------------------------- */

static void
on_stop(int sig)
{
	int saved = errno, fd;

	(void)sig;
	fcgi_stop = 1;
	FCGX_ShutdownPending();
	/*
	 * libfcgi checks its shutdown flag only before accept(): a signal
	 * that lands just before the call would leave us waiting for one
	 * more request.  Putting /dev/null where the listening socket was
	 * (in this process only; the pool keeps the socket) makes that
	 * accept() fail at once.  open and dup2 are async-signal-safe.
	 */
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) > 0) {
		dup2(fd, 0);
		close(fd);
	}
	errno = saved;
}

static int
setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocked accept() must return with EINTR. */
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		return -1;
	/* nginx may hang up on us mid-answer: a write error, not a death. */
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/* ---- one request ------------------------------------------------------- */

static const char *
fcgx_param(void *ctx, const char *name)
{
	FCGX_Request *fr = ctx;

	return FCGX_GetParam(name, fr->envp);
}

static ssize_t
fcgx_read(void *ctx, char *buf, size_t n)
{
	FCGX_Request *fr = ctx;
	int got;

	got = FCGX_GetStr(buf, n > INT_MAX ? INT_MAX : (int)n, fr->in);
	if (got == 0 && FCGX_GetError(fr->in) != 0)
		return -1;
	return got;
}

static void
body_failed(struct fcgi_response *resp, enum cpb_err err, const char *errmsg)
{
	switch (err) {
	case CPB_ERR_TOO_LARGE:
		response_error(resp, 413, "PAYLOAD_TOO_LARGE", "%s", errmsg);
		break;
	case CPB_ERR_NOMEM:
		response_error(resp, 500, "INTERNAL_ERROR", "out of memory");
		break;
	default:
		response_error(resp, 400, "BAD_REQUEST", "%s", errmsg);
		break;
	}
}

static void
write_response(FCGX_Request *fr, const struct fcgi_response *resp,
    bool head_only)
{
	char head[FCGI_HEAD_MAX];

	if (!response_head(resp, head, sizeof(head)))
		return;
	FCGX_PutS(head, fr->out);
	if (!head_only && resp->body != NULL && resp->body_len > 0 &&
	    resp->body_len <= INT_MAX)
		FCGX_PutStr(resp->body, (int)resp->body_len, fr->out);
}

/* Answer one request; true when the queue should be drained afterwards. */
static bool
handle(const struct fcgi_app *app, FCGX_Request *fr)
{
	struct request_source src = { fcgx_param, fcgx_read, fr };
	struct fcgi_request req;
	struct fcgi_response resp;
	struct route_match m;
	int64_t t0 = clock_mono_ms();
	char errmsg[CPB_ERRMSG_MAX] = "", status[8], ms[24];
	enum cpb_err err;
	bool drain;

	memset(&resp, 0, sizeof(resp));
	if ((err = request_parse(&req, &src, errmsg)) != CPB_OK)
		response_error(&resp, 400, "BAD_REQUEST", "%s", errmsg);
	else if (router_match(&req, &m, &resp)) {
		if (router_wants_body(&m) && (err = request_read_body(&req,
		    &src, WEBHOOK_BODY_MAX, errmsg)) != CPB_OK)
			body_failed(&resp, err, errmsg);
		else
			router_dispatch(app, &req, &m, &resp);
	}
	write_response(fr, &resp, req.method != NULL &&
	    strcmp(req.method, "HEAD") == 0);
	snprintf(status, sizeof(status), "%d", resp.status);
	snprintf(ms, sizeof(ms), "%lld", (long long)(clock_mono_ms() - t0));
	log_kv(resp.status >= 500 ? LOG_WARNING : LOG_INFO, "op", "request",
	    "method", req.method ? req.method : "-", "path",
	    req.path[0] ? req.path : "-", "status", status, "ms", ms, NULL);
	drain = resp.drain_after;
	response_free(&resp);
	request_free(&req);
	return drain;
}

/*
 * Apply what is queued.  CPB_ERR_BUSY: another responder is draining and
 * takes our delivery as well (webhook_drain looks at the queue once more
 * after it lets go of the lock), so we go back to accepting at once.
 * Failed items wait for their backoff: the next webhook or the cron
 * drain retries them.
 */
static void
drain(const struct fcgi_app *app)
{
	struct webhook_drain_report rep;
	char errmsg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	err = webhook_drain(app->cfg, app->store, app->engine,
	    FCGI_DRAIN_MAX_ITEMS, &fcgi_stop, &rep, errmsg);
	if (err != CPB_OK && err != CPB_ERR_BUSY)
		log_kv(LOG_ERROR, "op", "drain", "error", errmsg, NULL);
}

static int
serve(const struct fcgi_app *app)
{
	FCGX_Request fr;
	bool want_drain;
	int rc;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0,
	    FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		fprintf(stderr, "calplanebot-fcgi: libfcgi failed to initialise\n");
		return EXIT_FAILED;
	}
	log_kv(LOG_INFO, "op", "start", "version", CPB_VERSION, NULL);
	while (!fcgi_stop) {
		if ((rc = FCGX_Accept_r(&fr)) < 0) {
			if (fcgi_stop)
				break;
			if (rc == -EINTR)
				continue;
			log_kv(LOG_ERROR, "op", "accept", "error",
			    strerror(-rc > 0 ? -rc : EIO), NULL);
			FCGX_Free(&fr, 1);
			return EXIT_FAILED;
		}
		want_drain = handle(app, &fr);
		FCGX_Finish_r(&fr);
		if (want_drain)
			drain(app);
	}
	FCGX_Free(&fr, 1);
	log_kv(LOG_INFO, "op", "stop", NULL);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct options opts;
	struct session s;
	char errmsg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;
	int rc;

	memset(&s, 0, sizeof(s));
	if (parse_options(argc, argv, &opts) != 0)
		return EXIT_CONFIG;
	if (setup_stdio(opts.log_file) != 0)
		return EXIT_FAILED;
	if ((rc = load_config(&s)) != EXIT_OK) {
		config_free(s.cfg);
		return rc;
	}
	if (!opts.check && FCGX_IsCGI()) {
		fprintf(stderr, "calplanebot-fcgi: stdin is not a FastCGI "
		    "socket; start it with spawn-fcgi (see --help)\n");
		config_free(s.cfg);
		return EXIT_FAILED;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "calplanebot-fcgi: libcurl failed to initialise\n");
		config_free(s.cfg);
		return EXIT_FAILED;
	}
	if ((err = session_open(&s, &opts, errmsg)) != CPB_OK) {
		fprintf(stderr, "calplanebot-fcgi: %s\n", errmsg);
		rc = err == CPB_ERR_INVALID ? EXIT_CONFIG : EXIT_FAILED;
	} else if (opts.check) {
		printf("calplanebot-fcgi: configuration OK (%s), store %s\n",
		    s.cfg->source_file ? s.cfg->source_file : "environment",
		    s.cfg->db_path);
		rc = EXIT_OK;
	} else if (setup_signals() != 0) {
		fprintf(stderr, "calplanebot-fcgi: signal set-up failed: %s\n",
		    strerror(errno));
		rc = EXIT_FAILED;
	} else
		rc = serve(&s.app);
	session_close(&s);
	curl_global_cleanup();
	return rc;
}
