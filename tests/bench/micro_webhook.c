/*
 * micro_webhook.c - where a webhook's time goes, without nginx, FastCGI or
 * wrk: the library's receive path (and the drain the responder runs after
 * each answer) called in a loop, step by step, in one process or in
 * several processes sharing one store as the spawn-fcgi pool does.
 *
 *   micro_webhook [-P PROCS] [-n N] [-d] DB WEBHOOKS
 *
 * DB is a state database (a copy of the one a cold sync made, so every
 * issue is known; -d then drains after every webhook, as calplanebot-fcgi
 * does, and the drain finds every event unchanged: no CalDAV request).
 * WEBHOOKS holds "signature TAB body" lines (tests/bench/bench.py makes
 * them).  The configuration comes from the environment (CALPLANEBOT_CONFIG
 * or the variables), as for calplanebot-fcgi.
 *
 * Prints one JSON line: per-step mean microseconds in one process (HMAC,
 * JSON parse, issue parse, store push, counter, the whole receive; the
 * drain lock, a lease finding nothing, the depth query, applying an
 * unchanged issue, the whole drain of one item), and with -P the
 * throughput of PROCS processes receiving (and draining) together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "caldav.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "issue.h"
#include "log.h"
#include "plane.h"
#include "store.h"
#include "webhook.h"

#define MW_MAX_LINES	20000

struct mw_hook {
	char	*sig;
	char	*body;
	size_t	 len;
};

static double
mw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static size_t
mw_load(const char *path, struct mw_hook *hooks)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *tab;
	size_t size = 0, n = 0;
	ssize_t len;

	if (f == NULL) {
		fprintf(stderr, "micro_webhook: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (n < MW_MAX_LINES && (len = getline(&line, &size, f)) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if ((tab = strchr(line, '\t')) == NULL)
			continue;
		*tab = '\0';
		hooks[n].sig = strdup(line);
		hooks[n].body = strdup(tab + 1);
		if (hooks[n].sig == NULL || hooks[n].body == NULL)
			exit(2);
		hooks[n].len = strlen(hooks[n].body);
		n++;
	}
	free(line);
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "micro_webhook: no webhooks in %s\n", path);
		exit(2);
	}
	return n;
}

struct mw_ctx {
	struct cpb_config *cfg;
	struct store	*store;
	struct http_client *plane_http, *caldav_http;
	struct plane_client *plane;
	struct caldav_client *caldav;
	struct engine	*engine;
};

static void
mw_open(struct mw_ctx *c, const char *db)
{
	struct http_client_opts hopts = { .timeout_seconds = 10,
	    .connect_timeout_seconds = 2, .tls_verify = true };
	char errmsg[CPB_ERRMSG_MAX] = "";

	memset(c, 0, sizeof(*c));
	if (config_load(&c->cfg, NULL, stderr) != CPB_OK)
		exit(2);
	if (c->cfg->plane_webhook_secret == NULL) {
		fprintf(stderr, "micro_webhook: PLANE_WEBHOOK_SECRET is needed\n");
		exit(2);
	}
	free(c->cfg->db_path);
	if ((c->cfg->db_path = strdup(db)) == NULL)
		exit(2);
	log_set_level(LOG_WARNING);
	if (http_client_new(&c->plane_http, &hopts, errmsg) != CPB_OK ||
	    http_client_new(&c->caldav_http, &hopts, errmsg) != CPB_OK ||
	    plane_client_new(&c->plane, c->cfg, c->plane_http, errmsg) != CPB_OK ||
	    caldav_client_new(&c->caldav, c->cfg, c->caldav_http, errmsg) != CPB_OK ||
	    store_open(&c->store, db, errmsg) != CPB_OK ||
	    engine_new(&c->engine, c->cfg, c->store, c->plane, c->caldav,
	    errmsg) != CPB_OK) {
		fprintf(stderr, "micro_webhook: %s\n", errmsg);
		exit(2);
	}
}

static void
mw_close(struct mw_ctx *c)
{
	engine_free(c->engine);
	store_close(c->store);
	caldav_client_free(c->caldav);
	plane_client_free(c->plane);
	http_client_free(c->caldav_http);
	http_client_free(c->plane_http);
	config_free(c->cfg);
}

static void
mw_request(struct webhook_request *r, const struct mw_hook *h, char *delivery)
{
	memset(r, 0, sizeof(*r));
	r->body = h->body;
	r->body_len = h->len;
	r->signature = h->sig;
	r->delivery = delivery;
	r->event = "issue";
	r->content_type = "application/json";
}

/* Receive (and with drain, drain) n webhooks; returns wall microseconds. */
static double
mw_receive_loop(struct mw_ctx *c, const struct mw_hook *hooks, size_t nh,
    long n, bool drain, const char *tag, double *drain_us, long *bad)
{
	struct webhook_request req;
	struct webhook_result res;
	struct webhook_drain_report rep;
	char delivery[80], errmsg[CPB_ERRMSG_MAX];
	double t0 = mw_now(), t1, d = 0;
	long i;

	for (i = 0; i < n; i++) {
		snprintf(delivery, sizeof(delivery), "%s-%ld", tag, i);
		mw_request(&req, &hooks[(size_t)i % nh], delivery);
		webhook_receive(c->cfg, c->store, &req, &res);
		if (res.http_status != 202)
			(*bad)++;
		if (drain) {
			t1 = mw_now();
			webhook_drain(c->cfg, c->store, c->engine, 1000, NULL,
			    &rep, errmsg);
			d += mw_now() - t1;
		}
	}
	if (drain_us != NULL)
		*drain_us = d;
	return mw_now() - t0;
}

int
main(int argc, char **argv)
{
	static struct mw_hook hooks[MW_MAX_LINES];
	struct mw_ctx c;
	struct plane_issue issue;
	struct store_queue_item item;
	char errmsg[CPB_ERRMSG_MAX], delivery[80], tag[32];
	long n = 2000, procs = 0, i, bad = 0;
	double t, hmac, parse, issue_us, push, counter, receive, drain_us = 0;
	double lock_us, empty_us, depth_us, apply_us;
	enum engine_op op;
	long depth;
	int fd;
	double wall, cpu0;
	bool drain = false, dup;
	size_t nh;
	cJSON *root;
	int ch, status;

	while ((ch = getopt(argc, argv, "P:n:d")) != -1) {
		switch (ch) {
		case 'P':
			procs = strtol(optarg, NULL, 10);
			break;
		case 'n':
			n = strtol(optarg, NULL, 10);
			break;
		case 'd':
			drain = true;
			break;
		default:
			fprintf(stderr, "usage: micro_webhook [-P PROCS] [-n N] [-d] "
			    "DB WEBHOOKS\n");
			return 2;
		}
	}
	if (optind + 2 != argc || n < 1 || procs < 0 || procs > 64)
		return 2;
	nh = mw_load(argv[optind + 1], hooks);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	mw_open(&c, argv[optind]);
	snprintf(tag, sizeof(tag), "mw%ld", (long)getpid());

	/* Step by step, one process. */
	t = mw_now();
	for (i = 0; i < n; i++)
		if (!webhook_signature_ok(c.cfg->plane_webhook_secret,
		    hooks[i % (long)nh].body, hooks[i % (long)nh].len,
		    hooks[i % (long)nh].sig))
			bad++;
	hmac = (mw_now() - t) / (double)n;
	t = mw_now();
	for (i = 0; i < n; i++)
		cJSON_Delete(cJSON_ParseWithLength(hooks[i % (long)nh].body,
		    hooks[i % (long)nh].len));
	parse = (mw_now() - t) / (double)n;
	root = cJSON_Parse(hooks[0].body);
	t = mw_now();
	for (i = 0; i < n; i++) {
		if (plane_issue_from_json(cJSON_GetObjectItemCaseSensitive(root,
		    "data"), &issue, errmsg) == CPB_OK)
			plane_issue_free(&issue);
		else
			bad++;
	}
	issue_us = (mw_now() - t) / (double)n;
	t = mw_now();
	for (i = 0; i < n; i++) {
		snprintf(delivery, sizeof(delivery), "%s-push-%ld", tag, i);
		memset(&item, 0, sizeof(item));
		item.delivery = delivery;
		item.event = "issue";
		item.action = "updated";
		item.entity_id = "micro-entity";
		item.payload = hooks[i % (long)nh].body;
		if (store_queue_push(c.store, &item, &dup, errmsg) != CPB_OK)
			bad++;
	}
	push = (mw_now() - t) / (double)n;
	t = mw_now();
	for (i = 0; i < n; i++)
		store_counter_add(c.store, "micro_total{x=\"y\"}", 1, errmsg);
	counter = (mw_now() - t) / (double)n;
	/* Take the pushed items out again (one lease covers the entity). */
	while (store_queue_lease(c.store, 60, &item, errmsg) == CPB_OK) {
		store_queue_done(c.store, &item, errmsg);
		store_queue_item_free(&item);
	}
	/* The drain's pieces: its lock, a lease that finds nothing, the
	 * depth query, and applying an issue whose event is unchanged. */
	t = mw_now();
	for (i = 0; i < n; i++)
		if (store_drain_lock(c.cfg->db_path, &fd, errmsg) == CPB_OK)
			store_sync_unlock(fd);
	lock_us = (mw_now() - t) / (double)n;
	t = mw_now();
	for (i = 0; i < n; i++)
		if (store_queue_lease(c.store, 60, &item, errmsg) == CPB_OK)
			store_queue_item_free(&item);
	empty_us = (mw_now() - t) / (double)n;
	t = mw_now();
	for (i = 0; i < n; i++)
		store_queue_depth(c.store, &depth, errmsg);
	depth_us = (mw_now() - t) / (double)n;
	t = mw_now();
	for (i = 0; i < n; i++) {
		if (plane_issue_from_json(cJSON_GetObjectItemCaseSensitive(root,
		    "data"), &issue, errmsg) != CPB_OK) {
			bad++;
			continue;
		}
		if (engine_apply_issue(c.engine, &issue, NULL, &op, errmsg) !=
		    CPB_OK || op != ENGINE_OP_UNCHANGED)
			bad++;
		plane_issue_free(&issue);
	}
	apply_us = (mw_now() - t) / (double)n;
	cJSON_Delete(root);
	receive = mw_receive_loop(&c, hooks, nh, n, false, tag, NULL, &bad) /
	    (double)n;
	if (drain) {
		snprintf(tag, sizeof(tag), "mwd%ld", (long)getpid());
		mw_receive_loop(&c, hooks, nh, n, true, tag, &drain_us, &bad);
		drain_us /= (double)n;
	}
	mw_close(&c);
	printf("{\"n\":%ld,\"bad\":%ld,\"us\":{\"hmac\":%.1f,\"json_parse\":%.1f,"
	    "\"issue_parse\":%.1f,\"store_push\":%.1f,\"counter\":%.1f,"
	    "\"receive\":%.1f,\"drain\":%.1f,\"drain_lock\":%.1f,"
	    "\"lease_empty\":%.1f,\"queue_depth\":%.1f,\"apply_unchanged\":%.1f}",
	    n, bad, hmac, parse, issue_us, push, counter, receive, drain_us,
	    lock_us, empty_us, depth_us, apply_us);

	/* PROCS processes receiving (and draining) together. */
	if (procs > 0) {
		t = mw_now();
		for (i = 0; i < procs; i++) {
			if (fork() == 0) {
				struct mw_ctx cc;
				char ctag[32];
				long cbad = 0;

				mw_open(&cc, argv[optind]);
				snprintf(ctag, sizeof(ctag), "mwp%ld", (long)getpid());
				mw_receive_loop(&cc, hooks, nh, n / procs, drain,
				    ctag, NULL, &cbad);
				mw_close(&cc);
				_exit(cbad > 0 ? 1 : 0);
			}
		}
		while (wait(&status) > 0)
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				bad++;
		wall = mw_now() - t;
		{
			struct rusage ru;

			getrusage(RUSAGE_CHILDREN, &ru);
			cpu0 = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
			    1e6 + (double)(ru.ru_utime.tv_usec +
			    ru.ru_stime.tv_usec);
		}
		printf(",\"procs\":%ld,\"procs_per_s\":%.1f,\"procs_cpu_us\":%.1f,"
		    "\"procs_bad\":%ld", procs, (double)(n / procs * procs) /
		    (wall / 1e6), cpu0 / (double)(n / procs * procs), bad);
	}
	printf("}\n");
	curl_global_cleanup();
	return bad > 0 ? 1 : 0;
}
