/*
 * engine.c - the sync rules.  See engine.h for the shape of a run.
 *
 * Per project the engine holds two sorted arrays, both keyed by issue id:
 * what the calendar listing showed (ours only) and what the store
 * remembers.  Issues stream in from Plane page by page and are looked up
 * with bsearch; whatever is left unseen when the listing was complete is
 * deleted.  Memory is bounded by one project's events plus one page.
 */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "ical.h"
#include "log.h"

/* Apple calendar-color of the calendars we create: Plane's blue. */
#define ENGINE_CALENDAR_COLOR "#3F76FF"

struct engine {
	const struct cpb_config *cfg;
	struct store	*store;
	struct plane_client *plane;
	struct caldav_client *caldav;
	char		*home_url;	/* discovered or cached this run */
	struct caldav_calendar *cals;	/* the home's calendars, loaded lazily */
	size_t		 n_cals;
	bool		 cals_loaded;
};

/* One of our resources in a calendar listing. */
struct listed {
	char	*issue_id;
	char	*url;			/* absolute */
	char	*etag;
	bool	 seen;
};

/* A store row of the project, and whether Plane still has its issue. */
struct stored {
	struct store_event ev;
	bool	 seen;
};

struct project_run {
	struct engine	*eng;
	const struct engine_opts *opts;
	struct engine_report *report;
	const struct plane_project *project;
	char		*calendar_url;	/* NULL in a dry run before creation */
	struct listed	*listed;
	size_t		 n_listed, cap_listed;
	struct stored	*stored;
	size_t		 n_stored, cap_stored;
	bool		 listing_known;
};

static long
elapsed_ms(int64_t start_us)
{
	return (long)((clock_mono_us() - start_us) / 1000);
}

const char *
engine_op_name(enum engine_op op)
{
	switch (op) {
	case ENGINE_OP_SKIP:		return "skip";
	case ENGINE_OP_UNCHANGED:	return "unchanged";
	case ENGINE_OP_CREATE:		return "create";
	case ENGINE_OP_UPDATE:		return "update";
	case ENGINE_OP_DELETE:		return "delete";
	}
	return "unknown";
}

static bool
str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

enum engine_op
engine_decide(const struct engine_view *v, const char **if_match)
{
	*if_match = NULL;
	if (!v->has_date) {
		if (v->listing_known) {
			if (!v->in_listing)
				return ENGINE_OP_SKIP;
			*if_match = v->listed_etag;
			return ENGINE_OP_DELETE;
		}
		if (v->stored_hash == NULL)
			return ENGINE_OP_SKIP;
		*if_match = v->stored_etag;
		return ENGINE_OP_DELETE;
	}
	if (v->listing_known) {
		if (!v->in_listing)
			return ENGINE_OP_CREATE;
		/*
		 * Unchanged only when we wrote this very content and nobody
		 * rewrote it since (same ETag).  A server that sent no ETag on
		 * our write leaves stored_etag NULL: trust the hash then.
		 */
		if (str_eq(v->stored_hash, v->new_hash) &&
		    (v->stored_etag == NULL || str_eq(v->stored_etag, v->listed_etag)))
			return ENGINE_OP_UNCHANGED;
		*if_match = v->listed_etag;
		return ENGINE_OP_UPDATE;
	}
	if (v->stored_hash == NULL)
		return ENGINE_OP_CREATE;
	if (str_eq(v->stored_hash, v->new_hash))
		return ENGINE_OP_UNCHANGED;
	*if_match = v->stored_etag;
	return ENGINE_OP_UPDATE;
}

char *
engine_calendar_name(const char *tmpl, const char *project_name)
{
	const char *at = strstr(tmpl, "{project}");
	size_t head, name_len, tail, len;
	char *out;

	if (at == NULL)
		return strdup(tmpl);
	head = (size_t)(at - tmpl);
	name_len = strlen(project_name);
	tail = strlen(at + strlen("{project}"));
	len = head + name_len + tail;
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(out, tmpl, head);
	memcpy(out + head, project_name, name_len);
	memcpy(out + head + name_len, at + strlen("{project}"), tail);
	out[len] = '\0';
	return out;
}

static void
report_error(struct engine_report *report, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
report_error(struct engine_report *report, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_kv(LOG_ERROR, "msg", buf, NULL);
	if (report->n_errors < ENGINE_MAX_ERRORS &&
	    (report->errors[report->n_errors] = strdup(buf)) != NULL)
		report->n_errors++;
	else
		report->errors_dropped++;
}

void
engine_report_free(struct engine_report *report)
{
	size_t i;

	if (report == NULL)
		return;
	for (i = 0; i < report->n_errors; i++)
		free(report->errors[i]);
	memset(report, 0, sizeof(*report));
}

enum cpb_err
engine_new(struct engine **out, const struct cpb_config *cfg,
    struct store *store, struct plane_client *plane,
    struct caldav_client *caldav, char *errmsg)
{
	struct engine *eng;

	*out = NULL;
	if ((eng = calloc(1, sizeof(*eng))) == NULL)
		return cpb_seterr(errmsg, CPB_ERR_NOMEM, "engine: out of memory");
	eng->cfg = cfg;
	eng->store = store;
	eng->plane = plane;
	eng->caldav = caldav;
	*out = eng;
	return CPB_OK;
}

static void
engine_forget_calendars(struct engine *eng)
{
	caldav_calendars_free(eng->cals, eng->n_cals);
	eng->cals = NULL;
	eng->n_cals = 0;
	eng->cals_loaded = false;
}

void
engine_free(struct engine *eng)
{
	if (eng == NULL)
		return;
	engine_forget_calendars(eng);
	free(eng->home_url);
	free(eng);
}

/* ---- discovery and calendars ------------------------------------------ */

/*
 * The home URL is cached in the store for discovery_ttl_seconds under a key
 * naming the server and the user, so a changed CALDAV_URL is rediscovered.
 */
static enum cpb_err
engine_resolve_home(struct engine *eng, bool dry_run, char *errmsg)
{
	const struct cpb_config *cfg = eng->cfg;
	char key[1024], *cached = NULL;
	int64_t set_at = 0;
	enum cpb_err err;

	if (eng->home_url != NULL)
		return CPB_OK;
	snprintf(key, sizeof(key), "caldav_home %s %s", cfg->caldav_url,
	    cfg->caldav_username ? cfg->caldav_username : "");
	err = store_meta_get(eng->store, key, &cached, &set_at, errmsg);
	if (err == CPB_OK && time(NULL) - set_at < cfg->discovery_ttl_seconds) {
		eng->home_url = cached;
		return CPB_OK;
	}
	free(cached);
	if (err != CPB_OK && err != CPB_ERR_NOT_FOUND)
		return err;
	if ((err = caldav_discover_home(eng->caldav, &eng->home_url, errmsg)) != CPB_OK)
		return err;
	log_kv(LOG_INFO, "op", "discover", "home", eng->home_url, NULL);
	if (!dry_run)
		return store_meta_set(eng->store, key, eng->home_url, errmsg);
	return CPB_OK;
}

static enum cpb_err
engine_load_calendars(struct engine *eng, char *errmsg)
{
	enum cpb_err err;

	if (eng->cals_loaded)
		return CPB_OK;
	err = caldav_list_calendars(eng->caldav, eng->home_url, &eng->cals,
	    &eng->n_cals, errmsg);
	if (err == CPB_OK)
		eng->cals_loaded = true;
	return err;
}

static const char *
engine_find_calendar_by_name(struct engine *eng, const char *name)
{
	size_t i;

	for (i = 0; i < eng->n_cals; i++)
		if (str_eq(eng->cals[i].displayname, name))
			return eng->cals[i].url;
	return NULL;
}

static enum cpb_err
engine_remember_calendar(struct engine *eng, const struct plane_project *project,
    const char *url, const char *name, char *errmsg)
{
	struct store_calendar cal = {
		.project_id = project->id,
		.url = (char *)url,
		.displayname = (char *)name,
		.project_name = project->name,
		.project_identifier = project->identifier,
	};

	return store_calendar_put(eng->store, &cal, errmsg);
}

/* A new calendar: MKCALENDAR at home/plane-<project id>/. */
static enum cpb_err
engine_create_calendar(struct engine *eng, const struct plane_project *project,
    const char *name, char **url, char *errmsg)
{
	char *escaped = NULL, *candidate = NULL;
	size_t len;
	enum cpb_err err;

	if ((escaped = http_escape(project->id)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	len = strlen(eng->home_url) + strlen("plane-/") + strlen(escaped) + 1;
	if ((candidate = malloc(len)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(candidate, len, "%splane-%s/", eng->home_url, escaped);
	err = caldav_make_calendar(eng->caldav, candidate, name,
	    ENGINE_CALENDAR_COLOR, errmsg);
	/* Already there (a store that was reset): adopt it. */
	if (err == CPB_ERR_CONFLICT)
		err = caldav_rename_calendar(eng->caldav, candidate, name, errmsg);
	if (err != CPB_OK)
		goto out;
	log_kv(LOG_INFO, "op", "mkcalendar", "project", project->id,
	    "calendar", candidate, NULL);
	engine_forget_calendars(eng);
	*url = candidate;
	candidate = NULL;
out:
	free(escaped);
	free(candidate);
	return err;
}

/*
 * The project's calendar: the one the store remembers (renamed when the
 * project was), else one already carrying the name (the Python original's,
 * adopted), else a new one.  In a dry run *url may stay NULL.
 */
static enum cpb_err
engine_ensure_calendar(struct engine *eng, const struct plane_project *project,
    bool dry_run, char **url, char *errmsg)
{
	struct store_calendar cal = { 0 };
	char *name = NULL;
	const char *found;
	enum cpb_err err;

	*url = NULL;
	if ((name = engine_calendar_name(eng->cfg->calendar_name_template,
	    project->name ? project->name : project->id)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	err = store_calendar_get(eng->store, project->id, &cal, errmsg);
	if (err == CPB_OK) {
		bool renamed = !str_eq(cal.displayname, name);

		if (renamed) {
			log_kv(LOG_INFO, "op", "rename", "project", project->id,
			    "calendar", cal.url, "dry_run", dry_run ? "1" : "0", NULL);
			if (!dry_run && (err = caldav_rename_calendar(eng->caldav,
			    cal.url, name, errmsg)) != CPB_OK)
				goto out;
		}
		/* Keep the name and identifier current for webhooks. */
		if (!dry_run && (renamed ||
		    !str_eq(cal.project_name, project->name) ||
		    !str_eq(cal.project_identifier, project->identifier)) &&
		    (err = engine_remember_calendar(eng, project, cal.url, name,
		    errmsg)) != CPB_OK)
			goto out;
		*url = cal.url;
		cal.url = NULL;
		goto out;
	}
	if (err != CPB_ERR_NOT_FOUND)
		goto out;
	if ((err = engine_resolve_home(eng, dry_run, errmsg)) != CPB_OK ||
	    (err = engine_load_calendars(eng, errmsg)) != CPB_OK)
		goto out;
	if ((found = engine_find_calendar_by_name(eng, name)) != NULL) {
		if ((*url = strdup(found)) == NULL) {
			err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
			goto out;
		}
		log_kv(LOG_INFO, "op", "adopt", "project", project->id,
		    "calendar", found, NULL);
	} else if (dry_run) {
		log_kv(LOG_INFO, "op", "mkcalendar", "project", project->id,
		    "name", name, "dry_run", "1", NULL);
		goto out;
	} else if ((err = engine_create_calendar(eng, project, name, url,
	    errmsg)) != CPB_OK)
		goto out;
	if (!dry_run)
		err = engine_remember_calendar(eng, project, *url, name, errmsg);
out:
	if (err != CPB_OK) {
		free(*url);
		*url = NULL;
	}
	store_calendar_free(&cal);
	free(name);
	return err;
}

/* ---- writing one event ------------------------------------------------ */

/* Fresh ETag of a resource, for retrying after a 412 (Plane wins). */
static enum cpb_err
engine_current_etag(struct engine *eng, const char *url, char **etag,
    char *errmsg)
{
	char *body = NULL;
	enum cpb_err err;

	*etag = NULL;
	err = caldav_get(eng->caldav, url, &body, etag, errmsg);
	free(body);
	return err;
}

/*
 * PUT, conditional; a 412 means someone else changed (or created) the
 * resource: re-read its ETag once and write Plane's version over it.  A
 * 404 on an update means it vanished: create it again.
 */
static enum cpb_err
engine_put(struct engine *eng, const char *url, const char *ics,
    const char *if_match, char **new_etag, char *errmsg)
{
	size_t len = strlen(ics);
	char *fresh = NULL;
	enum cpb_err err;

	err = caldav_put(eng->caldav, url, ics, len, if_match, new_etag, errmsg);
	if (err == CPB_ERR_NOT_FOUND && if_match != NULL)
		return caldav_put(eng->caldav, url, ics, len, NULL, new_etag, errmsg);
	if (err != CPB_ERR_PRECONDITION)
		return err;
	err = engine_current_etag(eng, url, &fresh, errmsg);
	if (err == CPB_ERR_NOT_FOUND)
		err = caldav_put(eng->caldav, url, ics, len, NULL, new_etag, errmsg);
	else if (err == CPB_OK)
		err = caldav_put(eng->caldav, url, ics, len, fresh, new_etag, errmsg);
	free(fresh);
	return err;
}

static enum cpb_err
engine_delete(struct engine *eng, const char *url, const char *if_match,
    char *errmsg)
{
	char *fresh = NULL;
	enum cpb_err err;

	err = caldav_delete(eng->caldav, url, if_match, errmsg);
	if (err == CPB_ERR_PRECONDITION) {
		err = engine_current_etag(eng, url, &fresh, errmsg);
		if (err == CPB_OK)
			err = caldav_delete(eng->caldav, url, fresh, errmsg);
		free(fresh);
	}
	return err == CPB_ERR_NOT_FOUND ? CPB_OK : err;
}

static void
engine_log_op(enum engine_op op, const char *issue_id, const char *uid,
    const char *calendar, int64_t start_us, bool dry_run, enum cpb_err err,
    const char *errmsg)
{
	char ms[32];

	snprintf(ms, sizeof(ms), "%ld", elapsed_ms(start_us));
	log_kv(err == CPB_OK ? LOG_INFO : LOG_ERROR,
	    "op", engine_op_name(op), "issue", issue_id, "uid", uid,
	    "calendar", calendar ? calendar : "(new)", "ms", ms,
	    "ok", err == CPB_OK ? "1" : "0",
	    dry_run ? "dry_run" : (err == CPB_OK ? NULL : "error"),
	    dry_run ? "1" : errmsg, NULL);
}

/* Everything one write needs to know about its issue. */
struct engine_write {
	const struct plane_issue *issue;
	const char *calendar_url;
	const char *url;		/* resource URL, absolute */
	const char *if_match;
	const char *ics;
	const char *hash;
	unsigned sequence;
	enum engine_op op;
};

/* Do one decided operation and record it in the store. */
static enum cpb_err
engine_execute(struct engine *eng, const struct engine_write *w, char *errmsg)
{
	struct store_event ev = { 0 };
	char *etag = NULL;
	enum cpb_err err;

	if (w->op == ENGINE_OP_DELETE) {
		err = engine_delete(eng, w->url, w->if_match, errmsg);
		if (err == CPB_OK)
			err = store_event_delete(eng->store, w->issue->id, errmsg);
		return err;
	}
	err = engine_put(eng, w->url, w->ics, w->if_match, &etag, errmsg);
	if (err != CPB_OK)
		return err;
	ev.issue_id = w->issue->id;
	ev.project_id = w->issue->project_id;
	ev.calendar_url = (char *)w->calendar_url;
	ev.href = (char *)w->url;
	ev.etag = etag;
	snprintf(ev.hash, sizeof(ev.hash), "%s", w->hash);
	ev.sequence = w->sequence;
	ev.updated_at_us = w->issue->updated_at_us;
	err = store_event_put(eng->store, &ev, errmsg);
	free(etag);
	return err;
}

/* The resource URL for an issue in a calendar: <calendar>/<UID>.ics. */
static char *
engine_event_url(const char *calendar_url, const char *uid)
{
	char *name, *url;
	size_t len;

	if ((name = caldav_resource_name(uid)) == NULL)
		return NULL;
	len = strlen(calendar_url) + strlen(name) + 1;
	if ((url = malloc(len)) != NULL)
		snprintf(url, len, "%s%s", calendar_url, name);
	free(name);
	return url;
}

/* ---- one project ------------------------------------------------------ */

static int
listed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->issue_id,
	    ((const struct listed *)b)->issue_id);
}

static int
stored_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stored *)a)->ev.issue_id,
	    ((const struct stored *)b)->ev.issue_id);
}

static struct listed *
run_find_listed(struct project_run *run, const char *issue_id)
{
	struct listed key = { .issue_id = (char *)issue_id };

	if (run->n_listed == 0)
		return NULL;
	return bsearch(&key, run->listed, run->n_listed, sizeof(key), listed_cmp);
}

static struct stored *
run_find_stored(struct project_run *run, const char *issue_id)
{
	struct stored key = { .ev.issue_id = (char *)issue_id };

	if (run->n_stored == 0)
		return NULL;
	return bsearch(&key, run->stored, run->n_stored, sizeof(key), stored_cmp);
}

/*
 * Ours if the resource name, decoded, is "<our UID>.ics": that is how we
 * and the Python original name events, so the id comes from the href and
 * nothing needs to be fetched.
 */
static bool
engine_href_issue_id(const char *href, char *id, size_t id_size)
{
	const char *base = strrchr(href, '/');
	char uid[PLANE_ID_MAX + 64];
	size_t len;

	base = base ? base + 1 : href;
	len = strlen(base);
	if (len <= 4 || len - 4 >= sizeof(uid) ||
	    strcmp(base + len - 4, ".ics") != 0)
		return false;
	memcpy(uid, base, len - 4);
	uid[len - 4] = '\0';
	return ical_uid_issue_id(uid, id, id_size);
}

static enum cpb_err
run_on_listed(const char *href, const char *etag, void *ctx)
{
	struct project_run *run = ctx;
	char id[PLANE_ID_MAX];
	struct listed *l;

	if (!engine_href_issue_id(href, id, sizeof(id)))
		return CPB_OK;		/* not ours: never touched */
	if (run->n_listed == run->cap_listed) {
		size_t cap = run->cap_listed ? run->cap_listed * 2 : 64;
		struct listed *grown = realloc(run->listed, cap * sizeof(*grown));

		if (grown == NULL)
			return CPB_ERR_NOMEM;
		run->listed = grown;
		run->cap_listed = cap;
	}
	l = &run->listed[run->n_listed];
	memset(l, 0, sizeof(*l));
	l->issue_id = strdup(id);
	l->url = caldav_url_resolve(run->calendar_url, href);
	l->etag = etag ? strdup(etag) : NULL;
	if (l->issue_id == NULL || l->url == NULL || (etag && l->etag == NULL)) {
		free(l->issue_id);
		free(l->url);
		free(l->etag);
		return CPB_ERR_NOMEM;
	}
	run->n_listed++;
	return CPB_OK;
}

static char *
strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static enum cpb_err
run_on_stored(const struct store_event *ev, void *ctx)
{
	struct project_run *run = ctx;
	struct stored *s;

	if (run->n_stored == run->cap_stored) {
		size_t cap = run->cap_stored ? run->cap_stored * 2 : 64;
		struct stored *grown = realloc(run->stored, cap * sizeof(*grown));

		if (grown == NULL)
			return CPB_ERR_NOMEM;
		run->stored = grown;
		run->cap_stored = cap;
	}
	s = &run->stored[run->n_stored];
	memset(s, 0, sizeof(*s));
	s->ev = *ev;
	s->ev.issue_id = strdup_or_null(ev->issue_id);
	s->ev.project_id = strdup_or_null(ev->project_id);
	s->ev.calendar_url = strdup_or_null(ev->calendar_url);
	s->ev.href = strdup_or_null(ev->href);
	s->ev.etag = strdup_or_null(ev->etag);
	s->ev.last_error = NULL;
	run->n_stored++;
	if (s->ev.issue_id == NULL)
		return CPB_ERR_NOMEM;
	return CPB_OK;
}

static void
run_free(struct project_run *run)
{
	size_t i;

	for (i = 0; i < run->n_listed; i++) {
		free(run->listed[i].issue_id);
		free(run->listed[i].url);
		free(run->listed[i].etag);
	}
	free(run->listed);
	for (i = 0; i < run->n_stored; i++)
		store_event_free(&run->stored[i].ev);
	free(run->stored);
	free(run->calendar_url);
}

static void
engine_count(struct store_run_counts *c, enum engine_op op)
{
	switch (op) {
	case ENGINE_OP_SKIP:		break;
	case ENGINE_OP_UNCHANGED:	c->unchanged++; break;
	case ENGINE_OP_CREATE:		c->created++; break;
	case ENGINE_OP_UPDATE:		c->updated++; break;
	case ENGINE_OP_DELETE:		c->deleted++; break;
	}
}

/*
 * Decide and do one issue.  `listed` and `stored` may be NULL; `listing`
 * tells whether a calendar listing backs the decision (full sync) or not
 * (webhook).  Returns the operation through *op.
 */
static enum cpb_err
engine_sync_issue(struct engine *eng, const struct plane_issue *issue,
    const struct plane_project *project, const char *calendar_url,
    bool listing, const struct listed *listed, const struct store_event *stored,
    bool dry_run, enum engine_op *op, char *errmsg)
{
	struct ical_context ctx = {
		.web_url = eng->cfg->plane_web_url,
		.workspace_slug = eng->cfg->plane_workspace_slug,
		.project_name = project ? project->name : NULL,
		.project_identifier = project ? project->identifier : NULL,
	};
	struct engine_view view = { 0 };
	struct engine_write w = { .issue = issue, .calendar_url = calendar_url };
	char hash[ICAL_HASH_HEX] = "", *ics = NULL, *uid = NULL, *url = NULL;
	int64_t start = clock_mono_us();
	enum cpb_err err = CPB_OK;

	*op = ENGINE_OP_SKIP;
	/*
	 * Last write wins by Plane's updated_at: a listing taken before a
	 * webhook was applied must not put the older data back.
	 */
	if (stored != NULL && stored->href != NULL && issue->updated_at_us != 0 &&
	    stored->updated_at_us > issue->updated_at_us) {
		*op = ENGINE_OP_UNCHANGED;
		return CPB_OK;
	}
	if ((uid = ical_uid(issue->id)) == NULL) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	view.has_date = issue->target_date.year != 0;
	if (stored != NULL && stored->href != NULL && stored->hash[0] != '\0') {
		view.stored_hash = stored->hash;
		view.stored_etag = stored->etag;
	}
	view.listing_known = listing;
	view.in_listing = listed != NULL;
	view.listed_etag = listed ? listed->etag : NULL;
	w.sequence = stored ? stored->sequence + (stored->href ? 1 : 0) : 0;
	if (view.has_date) {
		err = ical_build_event(issue, &ctx, w.sequence, clock_unix_us(), &ics,
		    hash, errmsg);
		if (err != CPB_OK)
			goto out;
		view.new_hash = hash;
	}
	*op = engine_decide(&view, &w.if_match);
	if (*op == ENGINE_OP_SKIP)
		goto out;
	if (*op == ENGINE_OP_UNCHANGED) {
		/* The server gave no ETag on our write: learn it now, silently. */
		if (!dry_run && listed && stored && stored->etag == NULL &&
		    listed->etag != NULL) {
			struct store_event ev = *stored;

			ev.etag = listed->etag;
			err = store_event_put(eng->store, &ev, errmsg);
		}
		goto out;
	}
	if (listed != NULL)
		w.url = listed->url;
	else if (stored != NULL && stored->href != NULL &&
	    str_eq(stored->calendar_url, calendar_url))
		w.url = stored->href;
	else if (calendar_url != NULL)
		w.url = url = engine_event_url(calendar_url, uid);
	if (w.url == NULL && !dry_run) {
		err = cpb_seterr(errmsg, CPB_ERR_NOMEM, "out of memory");
		goto out;
	}
	w.ics = ics;
	w.hash = hash;
	w.op = *op;
	if (!dry_run)
		err = engine_execute(eng, &w, errmsg);
	engine_log_op(*op, issue->id, uid, calendar_url, start, dry_run, err,
	    errmsg);
out:
	free(ics);
	free(uid);
	free(url);
	return err;
}

struct issue_ctx {
	struct project_run *run;
	char	 errmsg[CPB_ERRMSG_MAX];
};

static enum cpb_err
run_on_issue(const struct plane_issue *issue, void *arg)
{
	struct issue_ctx *ic = arg;
	struct project_run *run = ic->run;
	struct listed *listed = run_find_listed(run, issue->id);
	struct stored *stored = run_find_stored(run, issue->id);
	enum engine_op op = ENGINE_OP_SKIP;
	char errmsg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	if (listed)
		listed->seen = true;
	if (stored)
		stored->seen = true;
	if (issue->target_date.year == 0)
		run->report->counts.skipped++;
	err = engine_sync_issue(run->eng, issue, run->project, run->calendar_url,
	    run->listing_known, listed, stored ? &stored->ev : NULL,
	    run->opts->dry_run, &op, errmsg);
	if (err == CPB_ERR_NOMEM)
		return err;
	if (err != CPB_OK) {
		run->report->counts.failed++;
		report_error(run->report, "issue %s (%s): %s", issue->id,
		    engine_op_name(op), errmsg);
		if (!run->opts->dry_run)
			store_event_fail(run->eng->store, issue->id,
			    issue->project_id, errmsg, errmsg);
		return CPB_OK;
	}
	engine_count(&run->report->counts, op);
	/* An undated issue whose event was already gone leaves no row. */
	if (op == ENGINE_OP_SKIP && stored && !run->opts->dry_run)
		store_event_delete(run->eng->store, issue->id, errmsg);
	return CPB_OK;
}

/* Issues Plane no longer lists: delete their events, within the guard. */
static void
run_delete_vanished(struct project_run *run)
{
	struct engine *eng = run->eng;
	char errmsg[CPB_ERRMSG_MAX];
	size_t i, doomed = 0;

	for (i = 0; i < run->n_listed; i++)
		if (!run->listed[i].seen)
			doomed++;
	if (doomed > 0 && doomed * 2 > run->n_listed &&
	    !run->opts->allow_mass_delete) {
		run->report->deletions_refused += (long)doomed;
		report_error(run->report, "project %s: refusing to delete %zu of "
		    "%zu events (more than half); run with --allow-mass-delete "
		    "if this is intended", run->project->id, doomed, run->n_listed);
		return;
	}
	for (i = 0; i < run->n_listed; i++) {
		struct listed *l = &run->listed[i];
		struct plane_issue gone = { .id = l->issue_id,
		    .project_id = run->project->id };
		struct engine_write w = { .issue = &gone, .url = l->url,
		    .if_match = l->etag, .op = ENGINE_OP_DELETE };
		int64_t start = clock_mono_us();
		char *uid;
		enum cpb_err err = CPB_OK;

		if (l->seen)
			continue;
		if (!run->opts->dry_run)
			err = engine_execute(eng, &w, errmsg);
		uid = ical_uid(l->issue_id);
		engine_log_op(ENGINE_OP_DELETE, l->issue_id, uid ? uid : "",
		    run->calendar_url, start, run->opts->dry_run, err, errmsg);
		free(uid);
		if (err != CPB_OK) {
			run->report->counts.failed++;
			report_error(run->report, "issue %s (delete): %s",
			    l->issue_id, errmsg);
		} else
			run->report->counts.deleted++;
	}
	/* Rows whose event is in neither Plane nor the calendar: forget. */
	for (i = 0; i < run->n_stored && !run->opts->dry_run; i++)
		if (!run->stored[i].seen &&
		    run_find_listed(run, run->stored[i].ev.issue_id) == NULL)
			store_event_delete(eng->store, run->stored[i].ev.issue_id,
			    errmsg);
}

/* Take the calendar listing; a calendar deleted by hand is recreated once. */
static enum cpb_err
run_take_listing(struct project_run *run, char *errmsg)
{
	struct engine *eng = run->eng;
	enum cpb_err err;

	if (run->calendar_url == NULL) {	/* dry run, not created yet */
		run->listing_known = true;
		return CPB_OK;
	}
	err = caldav_list_events(eng->caldav, run->calendar_url, run_on_listed,
	    run, errmsg);
	if (err == CPB_ERR_NOT_FOUND && !run->opts->dry_run) {
		log_kv(LOG_WARNING, "msg", "calendar vanished; recreating",
		    "calendar", run->calendar_url, NULL);
		if ((err = store_calendar_delete(eng->store, run->project->id,
		    errmsg)) != CPB_OK)
			return err;
		free(run->calendar_url);
		run->calendar_url = NULL;
		err = engine_ensure_calendar(eng, run->project, false,
		    &run->calendar_url, errmsg);
		if (err == CPB_OK)
			err = caldav_list_events(eng->caldav, run->calendar_url,
			    run_on_listed, run, errmsg);
	}
	if (err != CPB_OK)
		return err;
	if (run->n_listed > 1)
		qsort(run->listed, run->n_listed, sizeof(*run->listed), listed_cmp);
	run->listing_known = true;
	return CPB_OK;
}

/*
 * Errors that mean the service as a whole is unusable end the run; others
 * end only this project.
 */
static bool
engine_fatal(enum cpb_err err)
{
	return err == CPB_ERR_NETWORK || err == CPB_ERR_AUTH ||
	    err == CPB_ERR_NOMEM || err == CPB_ERR_IO;
}

struct sync_ctx {
	struct engine	*eng;
	const struct engine_opts *opts;
	struct engine_report *report;
	char		**seen;		/* project ids Plane listed, in order */
	size_t		 n_seen, cap_seen;
	bool		 out_of_memory;
	char		 errmsg[CPB_ERRMSG_MAX];
};

static void
sync_ctx_saw(struct sync_ctx *sc, const char *project_id)
{
	char *id;

	if (sc->n_seen == sc->cap_seen) {
		size_t cap = sc->cap_seen ? sc->cap_seen * 2 : 16;
		char **grown = realloc(sc->seen, cap * sizeof(*grown));

		if (grown == NULL) {
			sc->out_of_memory = true;
			return;
		}
		sc->seen = grown;
		sc->cap_seen = cap;
	}
	if ((id = strdup(project_id)) == NULL) {
		sc->out_of_memory = true;
		return;
	}
	sc->seen[sc->n_seen++] = id;
}

static bool
sync_ctx_has_seen(const struct sync_ctx *sc, const char *project_id)
{
	size_t i;

	for (i = 0; i < sc->n_seen; i++)
		if (strcmp(sc->seen[i], project_id) == 0)
			return true;
	return false;
}

/*
 * A calendar whose project Plane no longer lists (deleted, archived, or
 * our access removed): removing all its events is a mass delete, so it
 * needs --allow-mass-delete like any other.
 */
static enum cpb_err
engine_vanished_project(const struct store_calendar *cal, void *arg)
{
	struct sync_ctx *sc = arg;
	char errmsg[CPB_ERRMSG_MAX] = "";
	long events = 0;
	enum cpb_err err;

	if (sync_ctx_has_seen(sc, cal->project_id))
		return CPB_OK;
	if (store_event_count_for_calendar(sc->eng->store, cal->url, &events,
	    errmsg) != CPB_OK || events == 0)
		return CPB_OK;
	if (!sc->opts->allow_mass_delete) {
		sc->report->deletions_refused += events;
		report_error(sc->report, "project %s is no longer in Plane: "
		    "refusing to delete its %ld events; run with "
		    "--allow-mass-delete if this is intended", cal->project_id,
		    events);
		return CPB_OK;
	}
	log_kv(LOG_INFO, "op", "delete_project", "project", cal->project_id,
	    "calendar", cal->url, "dry_run", sc->opts->dry_run ? "1" : "0", NULL);
	if (sc->opts->dry_run) {
		sc->report->counts.deleted += events;
		return CPB_OK;
	}
	err = engine_delete_project(sc->eng, cal->project_id, errmsg);
	if (err != CPB_OK) {
		report_error(sc->report, "project %s: %s", cal->project_id, errmsg);
		sc->report->counts.failed++;
	} else
		sc->report->counts.deleted += events;
	return engine_fatal(err) ? err : CPB_OK;
}

static enum cpb_err
engine_sync_project(const struct plane_project *project, void *arg)
{
	struct sync_ctx *sc = arg;
	struct project_run run = { .eng = sc->eng, .opts = sc->opts,
	    .report = sc->report, .project = project };
	struct issue_ctx ic = { .run = &run };
	char errmsg[CPB_ERRMSG_MAX] = "";
	enum cpb_err err;

	if (sc->opts->only_project && !str_eq(sc->opts->only_project, project->id))
		return CPB_OK;
	sync_ctx_saw(sc, project->id);
	sc->report->projects++;
	if ((err = engine_ensure_calendar(sc->eng, project, sc->opts->dry_run,
	    &run.calendar_url, errmsg)) != CPB_OK)
		goto fail;
	if ((err = run_take_listing(&run, errmsg)) != CPB_OK)
		goto fail;
	if ((err = store_events_for_project(sc->eng->store, project->id,
	    run_on_stored, &run, errmsg)) != CPB_OK)
		goto fail;
	if (run.n_stored > 1)
		qsort(run.stored, run.n_stored, sizeof(*run.stored), stored_cmp);
	err = plane_list_issues(sc->eng->plane, project->id, run_on_issue, &ic,
	    errmsg);
	if (err != CPB_OK) {
		sc->report->projects_incomplete++;
		report_error(sc->report, "project %s: issue listing incomplete, "
		    "no deletions this run: %s", project->id, errmsg);
		goto done;
	}
	run_delete_vanished(&run);
	goto done;
fail:
	sc->report->projects_incomplete++;
	report_error(sc->report, "project %s: %s", project->id, errmsg);
done:
	run_free(&run);
	if (engine_fatal(err)) {
		snprintf(sc->errmsg, sizeof(sc->errmsg), "%s", errmsg);
		return err;
	}
	return CPB_OK;
}

static char *
engine_errors_json(const struct engine_report *report)
{
	cJSON *arr = cJSON_CreateArray();
	char *json = NULL;
	size_t i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < report->n_errors; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(report->errors[i]));
	json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return json;
}

enum cpb_err
engine_full_sync(struct engine *eng, const struct engine_opts *opts,
    struct engine_report *report, char *errmsg)
{
	struct sync_ctx sc = { .eng = eng, .opts = opts, .report = report };
	enum store_run_status status;
	int64_t run_id = 0;
	char *errors = NULL, ignored[CPB_ERRMSG_MAX];
	enum cpb_err err;

	memset(report, 0, sizeof(*report));
	engine_forget_calendars(eng);
	free(eng->home_url);
	eng->home_url = NULL;
	if (!opts->dry_run &&
	    (err = store_run_begin(eng->store, "full", &run_id, errmsg)) != CPB_OK)
		return err;
	err = engine_resolve_home(eng, opts->dry_run, errmsg);
	if (err == CPB_OK) {
		err = plane_list_projects(eng->plane, engine_sync_project, &sc,
		    errmsg);
		/* A fatal error inside a project carries its own message. */
		if (err != CPB_OK && sc.errmsg[0] != '\0')
			snprintf(errmsg, CPB_ERRMSG_MAX, "%s", sc.errmsg);
	}
	/* Only a complete project listing can tell that a project is gone. */
	if (err == CPB_OK && opts->only_project == NULL && !sc.out_of_memory)
		err = store_calendars_each(eng->store, engine_vanished_project,
		    &sc, errmsg);
	for (size_t i = 0; i < sc.n_seen; i++)
		free(sc.seen[i]);
	free(sc.seen);
	if (err != CPB_OK)
		report_error(report, "sync stopped: %s", errmsg);
	if (opts->dry_run)
		return err;
	if (err != CPB_OK)
		status = STORE_RUN_FAILED;
	else if (report->counts.failed || report->projects_incomplete ||
	    report->deletions_refused)
		status = STORE_RUN_PARTIAL;
	else
		status = STORE_RUN_OK;
	errors = engine_errors_json(report);
	store_run_finish(eng->store, run_id, status, &report->counts, errors,
	    ignored);
	free(errors);
	return err;
}

/*
 * The project of a webhook's issue: the store remembers its calendar, name
 * and identifier; only an unknown project costs a request to Plane.
 */
static enum cpb_err
engine_webhook_calendar(struct engine *eng, const char *project_id,
    struct plane_project *project, char **calendar_url, char *errmsg)
{
	struct store_calendar cal = { 0 };
	enum cpb_err err;

	err = store_calendar_get(eng->store, project_id, &cal, errmsg);
	if (err == CPB_OK && cal.project_name != NULL) {
		project->id = cal.project_id;
		project->name = cal.project_name;
		project->identifier = cal.project_identifier;
		*calendar_url = cal.url;
		free(cal.displayname);
		return CPB_OK;
	}
	store_calendar_free(&cal);
	if (err != CPB_OK && err != CPB_ERR_NOT_FOUND)
		return err;
	if ((err = plane_get_project(eng->plane, project_id, project,
	    errmsg)) != CPB_OK)
		return err;
	return engine_ensure_calendar(eng, project, false, calendar_url, errmsg);
}

enum cpb_err
engine_apply_issue(struct engine *eng, const struct plane_issue *issue,
    const struct plane_project *project, enum engine_op *op, char *errmsg)
{
	struct plane_project known = { 0 };
	struct store_event stored = { 0 };
	char *calendar_url = NULL;
	bool have_stored = false;
	enum cpb_err err;

	*op = ENGINE_OP_SKIP;
	err = store_event_get(eng->store, issue->id, &stored, errmsg);
	if (err == CPB_OK)
		have_stored = true;
	else if (err != CPB_ERR_NOT_FOUND)
		goto out;
	/* Last write wins: never put older Plane data over newer. */
	if (have_stored && stored.href && issue->updated_at_us != 0 &&
	    stored.updated_at_us > issue->updated_at_us) {
		*op = ENGINE_OP_UNCHANGED;
		err = CPB_OK;
		goto out;
	}
	if (project != NULL)
		err = engine_ensure_calendar(eng, project, false, &calendar_url,
		    errmsg);
	else {
		err = engine_webhook_calendar(eng, issue->project_id, &known,
		    &calendar_url, errmsg);
		project = &known;
	}
	if (err != CPB_OK)
		goto out;
	err = engine_sync_issue(eng, issue, project, calendar_url, false, NULL,
	    have_stored ? &stored : NULL, false, op, errmsg);
out:
	plane_project_free(&known);
	store_event_free(&stored);
	free(calendar_url);
	return err;
}

/* ---- webhook path: deletions and project changes ---------------------- */

/* Delete one stored event (if it was ever written) and forget its row. */
static enum cpb_err
engine_forget_event(struct engine *eng, const struct store_event *ev,
    char *errmsg)
{
	int64_t start = clock_mono_us();
	char *uid = NULL;
	enum cpb_err err = CPB_OK;

	if (ev->href != NULL) {
		err = engine_delete(eng, ev->href, ev->etag, errmsg);
		uid = ical_uid(ev->issue_id);
		engine_log_op(ENGINE_OP_DELETE, ev->issue_id, uid ? uid : "",
		    ev->calendar_url, start, false, err, errmsg);
		free(uid);
	}
	if (err == CPB_OK)
		err = store_event_delete(eng->store, ev->issue_id, errmsg);
	return err == CPB_ERR_NOT_FOUND ? CPB_OK : err;
}

enum cpb_err
engine_delete_issue(struct engine *eng, const char *issue_id, char *errmsg)
{
	struct store_event ev = { 0 };
	enum cpb_err err;

	err = store_event_get(eng->store, issue_id, &ev, errmsg);
	if (err == CPB_ERR_NOT_FOUND)
		return CPB_OK;
	if (err == CPB_OK)
		err = engine_forget_event(eng, &ev, errmsg);
	store_event_free(&ev);
	return err;
}

enum cpb_err
engine_apply_project(struct engine *eng, const struct plane_project *project,
    char *errmsg)
{
	struct store_calendar cal = { 0 };
	char *url = NULL;
	enum cpb_err err;

	err = store_calendar_get(eng->store, project->id, &cal, errmsg);
	store_calendar_free(&cal);
	if (err == CPB_ERR_NOT_FOUND)
		return CPB_OK;
	if (err != CPB_OK)
		return err;
	err = engine_ensure_calendar(eng, project, false, &url, errmsg);
	free(url);
	return err;
}

struct project_delete_ctx {
	struct engine	*eng;
	char		*errmsg;
};

static enum cpb_err
engine_on_project_event(const struct store_event *ev, void *arg)
{
	struct project_delete_ctx *pd = arg;

	return engine_forget_event(pd->eng, ev, pd->errmsg);
}

enum cpb_err
engine_delete_project(struct engine *eng, const char *project_id,
    char *errmsg)
{
	struct project_delete_ctx pd = { .eng = eng, .errmsg = errmsg };
	enum cpb_err err;

	err = store_events_for_project(eng->store, project_id,
	    engine_on_project_event, &pd, errmsg);
	if (err == CPB_OK)
		err = store_calendar_delete(eng->store, project_id, errmsg);
	if (err == CPB_OK)
		log_kv(LOG_INFO, "op", "forget_project", "project", project_id,
		    NULL);
	return err == CPB_ERR_NOT_FOUND ? CPB_OK : err;
}
