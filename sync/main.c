/*
 * calplanebot-sync - the cron-invoked side of CalPlaneBot.
 *
 * main() only parses argv, loads the configuration and calls the library;
 * the exit code is the contract with cron and monitoring (see usage()).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "caldav.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "plane.h"
#include "store.h"
#include "version.h"
#include "webhook.h"


enum exit_code {
	EXIT_SYNCED = 0,
	EXIT_PARTIAL = 1,
	EXIT_CONFIG = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_RUNNING = 75,	/* EX_TEMPFAIL: cron will try again */
};

struct options {
	const char *command;
	struct engine_opts engine;
	bool	 verbose;
};

/* The clients one run needs, opened together and closed together. */
struct session {
	struct cpb_config *cfg;
	struct store	*store;
	struct http_client *plane_http;
	struct http_client *caldav_http;
	struct plane_client *plane;
	struct caldav_client *caldav;
	struct engine	*engine;
	int		 lock_fd;
};

static void
usage(FILE *out)
{
	fprintf(out,
"usage: calplanebot-sync [sync] [--dry-run] [--project ID] [--allow-mass-delete] [-v]\n"
"       calplanebot-sync check\n"
"       calplanebot-sync status\n"
"       calplanebot-sync drain\n"
"\n"
"Mirror every Plane issue with a due date into CalDAV, one calendar per project.\n"
"\n"
"  sync                 full sync (the default): create, update and delete events\n"
"  check                test configuration, Plane, CalDAV and the store (one line each)\n"
"  status               the last runs as JSON\n"
"  drain                apply the queued webhook deliveries (run from cron beside\n"
"                       sync; also picks up what a killed responder left)\n"
"\n"
"  -n, --dry-run        say what would change, change nothing\n"
"  -p, --project ID     only this Plane project\n"
"      --allow-mass-delete  allow deleting more than half of a calendar's events\n"
"  -v, --verbose        debug logging (overrides LOG_LEVEL)\n"
"  -h, --help           this text\n"
"  -V, --version        the version\n"
"\n"
"Configuration comes from the environment and the dotenv file named by\n"
"CALPLANEBOT_CONFIG (default ./calplanebot.env, then /etc/calplanebot/calplanebot.env).\n"
"\n"
"Exit codes:\n"
"  0   all synced\n"
"  1   partial failure: some events or projects failed, see the log\n"
"  2   configuration: a setting is missing or invalid, or credentials were refused\n"
"  3   a service (Plane, CalDAV) or the store is unreachable\n"
"  75  another sync is already running\n"
"\n"
"drain exits 0 when every delivery was applied, 1 when some failed (they are\n"
"retried later, or moved to the dead letters), 3 when the store is unusable,\n"
"75 when deliveries are due and another drainer is at work.\n");
}

static int
parse_options(int argc, char **argv, struct options *opts)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "project", required_argument, NULL, 'p' },
		{ "allow-mass-delete", no_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(opts, 0, sizeof(*opts));
	opts->command = "sync";
	while ((ch = getopt_long(argc, argv, "np:vhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			opts->engine.dry_run = true;
			break;
		case 'p':
			opts->engine.only_project = optarg;
			break;
		case 'M':
			opts->engine.allow_mass_delete = true;
			break;
		case 'v':
			opts->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SYNCED);
		case 'V':
			printf("calplanebot-sync %s\n", CPB_VERSION);
			exit(EXIT_SYNCED);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc)
		opts->command = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "calplanebot-sync: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	if (strcmp(opts->command, "sync") != 0 &&
	    strcmp(opts->command, "check") != 0 &&
	    strcmp(opts->command, "status") != 0 &&
	    strcmp(opts->command, "drain") != 0) {
		fprintf(stderr, "calplanebot-sync: unknown command '%s' "
		    "(expected sync, check, status or drain)\n", opts->command);
		return -1;
	}
	return 0;
}

static int
exit_for(enum cpb_err err)
{
	switch (err) {
	case CPB_OK:
		return EXIT_SYNCED;
	case CPB_ERR_AUTH:
	case CPB_ERR_INVALID:
		return EXIT_CONFIG;
	case CPB_ERR_NETWORK:
	case CPB_ERR_IO:
		return EXIT_UNREACHABLE;
	case CPB_ERR_BUSY:
		return EXIT_RUNNING;
	default:
		return EXIT_PARTIAL;
	}
}

/* Configuration first: its problems are exit code 2, one line each. */
static int
load_config(struct cpb_config **cfg, bool verbose)
{
	if (config_load(cfg, NULL, stderr) != CPB_OK) {
		fprintf(stderr, "calplanebot-sync: configuration invalid (see above)\n");
		return EXIT_CONFIG;
	}
	log_set_level(verbose ? LOG_DEBUG : (*cfg)->log_level);
	config_redact_secrets(*cfg);
	return 0;
}

static enum cpb_err
session_open(struct session *s, char *errmsg)
{
	struct http_client_opts hopts = {
		.timeout_seconds = s->cfg->http_timeout_seconds,
		.connect_timeout_seconds = s->cfg->http_connect_timeout_seconds,
		.tls_verify = s->cfg->tls_verify,
	};
	enum cpb_err err;

	/* One handle per peer keeps each one's connection alive. */
	if ((err = http_client_new(&s->plane_http, &hopts, errmsg)) != CPB_OK ||
	    (err = http_client_new(&s->caldav_http, &hopts, errmsg)) != CPB_OK ||
	    (err = plane_client_new(&s->plane, s->cfg, s->plane_http, errmsg)) != CPB_OK ||
	    (err = plane_client_set_page_size(s->plane, s->cfg->plane_page_size,
	    errmsg)) != CPB_OK ||
	    (err = caldav_client_new(&s->caldav, s->cfg, s->caldav_http, errmsg)) != CPB_OK ||
	    (err = store_open(&s->store, s->cfg->db_path, errmsg)) != CPB_OK)
		return err;
	return engine_new(&s->engine, s->cfg, s->store, s->plane, s->caldav,
	    errmsg);
}

static void
session_close(struct session *s)
{
	engine_free(s->engine);
	store_close(s->store);
	caldav_client_free(s->caldav);
	plane_client_free(s->plane);
	http_client_free(s->caldav_http);
	http_client_free(s->plane_http);
	if (s->lock_fd >= 0)
		store_sync_unlock(s->lock_fd);
	config_free(s->cfg);
}

/*
 * Reachability as the run saw it, for /api/v1/health, at no cost of a
 * request of its own: a run that got to the end reached both services; a
 * run stopped by a transport error marks the service at fault down (Plane
 * client errors start with "Plane", anything else came from CalDAV) and
 * leaves the other as last recorded.  The latency is the run's mean time
 * per request over both services, local work and backoff included: an
 * upper bound, which still shows a peer that takes seconds to answer.
 */
static void
record_probes(struct session *s, enum cpb_err err, const char *errmsg,
    int64_t run_ms)
{
	unsigned long requests = http_request_count(s->plane_http) +
	    http_request_count(s->caldav_http);
	long latency = requests > 0 ? (long)(run_ms / (int64_t)requests) : -1;
	char ignored[CPB_ERRMSG_MAX];

	if (err == CPB_OK) {
		health_record_probe(s->store, "plane", true, latency, NULL,
		    ignored);
		health_record_probe(s->store, "caldav", true, latency, NULL,
		    ignored);
		return;
	}
	if (err != CPB_ERR_NETWORK && err != CPB_ERR_AUTH &&
	    err != CPB_ERR_HTTP && err != CPB_ERR_RATE_LIMITED &&
	    err != CPB_ERR_PARSE)
		return;
	health_record_probe(s->store, strncasecmp(errmsg, "plane", 5) == 0 ?
	    "plane" : "caldav", false, latency, errmsg, ignored);
}

static int
cmd_sync(struct session *s, const struct options *opts)
{
	struct engine_report report;
	char errmsg[CPB_ERRMSG_MAX] = "", counts[256], exitbuf[16];
	const struct store_run_counts *c = &report.counts;
	enum cpb_err err;
	int64_t start;
	int rc;

	err = store_sync_lock(s->cfg->db_path, &s->lock_fd, errmsg);
	if (err != CPB_OK) {
		log_redact(errmsg, sizeof(errmsg));
		fprintf(stderr, "calplanebot-sync: %s\n", errmsg);
		return exit_for(err);
	}
	start = clock_mono_ms();
	err = engine_full_sync(s->engine, &opts->engine, &report, errmsg);
	if (!opts->engine.dry_run)
		record_probes(s, err, errmsg, clock_mono_ms() - start);
	snprintf(counts, sizeof(counts), "created=%ld updated=%ld deleted=%ld "
	    "unchanged=%ld skipped=%ld failed=%ld", c->created, c->updated,
	    c->deleted, c->unchanged, c->skipped, c->failed);
	if (err != CPB_OK) {
		log_redact(errmsg, sizeof(errmsg));
		fprintf(stderr, "calplanebot-sync: sync failed: %s\n", errmsg);
		rc = exit_for(err);
	} else if (c->failed || report.projects_incomplete ||
	    report.deletions_refused)
		rc = EXIT_PARTIAL;
	else
		rc = EXIT_SYNCED;
	snprintf(exitbuf, sizeof(exitbuf), "%d", rc);
	log_kv(rc == EXIT_SYNCED ? LOG_INFO : LOG_WARNING, "op", "sync_done",
	    "dry_run", opts->engine.dry_run ? "1" : "0", "counts", counts,
	    "exit", exitbuf, NULL);
	printf("%s%s\n", opts->engine.dry_run ? "dry run: " : "", counts);
	engine_report_free(&report);
	return rc;
}

static int
cmd_drain(struct session *s)
{
	struct webhook_drain_report r;
	char errmsg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	err = webhook_drain(s->cfg, s->store, s->engine, 0, NULL, &r, errmsg);
	if (err == CPB_ERR_BUSY) {
		log_redact(errmsg, sizeof(errmsg));
		fprintf(stderr, "calplanebot-sync: %s\n", errmsg);
		return EXIT_RUNNING;
	}
	printf("applied=%ld failed=%ld dead=%ld coalesced=%ld\n", r.applied,
	    r.failed, r.dead, r.coalesced);
	if (err != CPB_OK) {
		fprintf(stderr, "calplanebot-sync: drain stopped: %s\n", errmsg);
		return exit_for(err);
	}
	return r.failed > 0 || r.dead > 0 ? EXIT_PARTIAL : EXIT_SYNCED;
}

static int
cmd_status(struct session *s)
{
	char errmsg[CPB_ERRMSG_MAX] = "", *json = NULL;
	enum cpb_err err;

	if ((err = store_runs_json(s->store, 10, &json, errmsg)) != CPB_OK) {
		log_redact(errmsg, sizeof(errmsg));
		fprintf(stderr, "calplanebot-sync: %s\n", errmsg);
		return exit_for(err);
	}
	printf("%s\n", json);
	free(json);
	return EXIT_SYNCED;
}

static bool
check_line(bool ok, const char *what, const char *detail)
{
	char text[512];

	/* A server may echo a credential into what we show. */
	snprintf(text, sizeof(text), "%s", detail);
	log_redact(text, sizeof(text));
	printf("%s %s: %s\n", ok ? "\u2713" : "\u2717", what, text);
	return ok;
}

/* Prove CalDAV is writable: a scratch calendar, one event, both removed. */
static enum cpb_err
check_caldav_write(struct session *s, const char *home, char *errmsg)
{
	static const char ics[] =
	    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//CalPlaneBot//check//EN\r\n"
	    "BEGIN:VEVENT\r\nUID:calplanebot-check@calplanebot\r\n"
	    "DTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260101\r\n"
	    "SUMMARY:CalPlaneBot check\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
	char cal[2048], ev[2100], *etag = NULL;
	enum cpb_err err;

	snprintf(cal, sizeof(cal), "%scalplanebot-check-%ld/", home, (long)time(NULL));
	snprintf(ev, sizeof(ev), "%scheck.ics", cal);
	if ((err = caldav_make_calendar(s->caldav, cal, "CalPlaneBot check",
	    NULL, errmsg)) != CPB_OK)
		return err;
	err = caldav_put(s->caldav, ev, ics, sizeof(ics) - 1, NULL, &etag, errmsg);
	if (err == CPB_OK)
		err = caldav_delete(s->caldav, ev, etag, errmsg);
	free(etag);
	caldav_delete(s->caldav, cal, NULL, NULL);
	return err;
}

static int
cmd_check(struct session *s)
{
	char errmsg[CPB_ERRMSG_MAX] = "", who[256] = "", line[512];
	char *home = NULL;
	bool ok = true;

	snprintf(line, sizeof(line), "loaded%s%s", s->cfg->source_file ?
	    " from " : " from the environment", s->cfg->source_file ?
	    s->cfg->source_file : "");
	check_line(true, "configuration", line);
	ok &= check_line(true, "store", s->cfg->db_path);
	if (plane_whoami(s->plane, who, sizeof(who), errmsg) == CPB_OK) {
		snprintf(line, sizeof(line), "%s reachable, token valid (user %s)",
		    s->cfg->plane_base_url, who);
		check_line(true, "Plane", line);
	} else
		ok &= check_line(false, "Plane", errmsg);
	if (caldav_discover_home(s->caldav, &home, errmsg) == CPB_OK) {
		snprintf(line, sizeof(line), "calendar home %s", home);
		check_line(true, "CalDAV", line);
		if (check_caldav_write(s, home, errmsg) == CPB_OK)
			check_line(true, "CalDAV write", "created and deleted a test event");
		else
			ok &= check_line(false, "CalDAV write", errmsg);
	} else
		ok &= check_line(false, "CalDAV", errmsg);
	free(home);
	return ok ? EXIT_SYNCED : EXIT_UNREACHABLE;
}

int
main(int argc, char **argv)
{
	struct options opts;
	struct session s = { .lock_fd = -1 };
	char errmsg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;
	int rc;

	if (parse_options(argc, argv, &opts) != 0)
		return EXIT_CONFIG;
	if ((rc = load_config(&s.cfg, opts.verbose)) != 0)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "calplanebot-sync: libcurl failed to initialise\n");
		config_free(s.cfg);
		return EXIT_UNREACHABLE;
	}
	if ((err = session_open(&s, errmsg)) != CPB_OK) {
		log_redact(errmsg, sizeof(errmsg));
		fprintf(stderr, "calplanebot-sync: %s\n", errmsg);
		rc = exit_for(err);
		if (strcmp(opts.command, "check") == 0)
			check_line(false, "store", errmsg);
	} else if (strcmp(opts.command, "status") == 0)
		rc = cmd_status(&s);
	else if (strcmp(opts.command, "check") == 0)
		rc = cmd_check(&s);
	else if (strcmp(opts.command, "drain") == 0)
		rc = cmd_drain(&s);
	else
		rc = cmd_sync(&s, &opts);
	session_close(&s);
	curl_global_cleanup();
	return rc;
}
