/*
 * harness.c - see harness.h.  Test code: it may abort on allocation
 * failure, but never leaves a server running when a test ends normally.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libical/ical.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static char *
xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (d == NULL)
		abort();
	return d;
}

const char *
h_srcdir(void)
{
	const char *s = getenv("CPB_SRCDIR");

	return s && *s ? s : ".";
}

const char *
h_bindir(void)
{
	const char *s = getenv("CPB_BINDIR");

	return s && *s ? s : "bin";
}

bool
h_mkdtemp(char *out, size_t size, const char *tag)
{
	const char *root = getenv("CPB_TEST_TMP");

	snprintf(out, size, "%s/%s.XXXXXX", root && *root ? root : "/tmp", tag);
	return mkdtemp(out) != NULL;
}

void
h_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

long
h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
h_slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((buf = realloc(buf, cap + 1)) == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* Run argv, wait, capture stdout and stderr into malloc'd strings. */
static int
run_capture(const char *const *argv, char *const *envp, char **out, char **err)
{
	char opath[] = "/tmp/cpb-out.XXXXXX", epath[] = "/tmp/cpb-err.XXXXXX";
	int ofd = mkstemp(opath), efd = mkstemp(epath), status = -1;
	pid_t pid;

	if (ofd < 0 || efd < 0)
		abort();
	if ((pid = fork()) == 0) {
		dup2(ofd, 1);
		dup2(efd, 2);
		close(ofd);
		close(efd);
		if (envp)
			execve(argv[0], (char *const *)argv, envp);
		else
			execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(ofd);
	close(efd);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (out)
		*out = h_slurp(opath, NULL);
	if (err)
		*err = h_slurp(epath, NULL);
	unlink(opath);
	unlink(epath);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- CalDAV servers --------------------------------------------------- */

static void
copy_field(char *dst, size_t size, const char *line, const char *key)
{
	size_t klen = strlen(key);

	if (strncmp(line, key, klen) == 0 && line[klen] == '=')
		snprintf(dst, size, "%s", line + klen + 1);
}

bool
h_dav_start(struct h_dav *dav, const char *kind)
{
	char script[1024], *out = NULL, *err = NULL, *line, *save = NULL;
	const char *argv[] = { "/bin/bash", script, "start", kind, dav->dir, NULL };
	const char *show[] = { "/bin/bash", "-c",
	    ". \"$1\" && printf '%s\\n' \"CALDAV_URL=$CALDAV_URL\" "
	    "\"CALDAV_USERNAME=$CALDAV_USERNAME\" \"CALDAV_PASSWORD=$CALDAV_PASSWORD\" "
	    "\"CALDAV_AUTH_TYPE=$CALDAV_AUTH_TYPE\" \"CALDAV_HOME=$CALDAV_HOME\"",
	    "env", NULL, NULL };
	char envfile[600];
	int rc;

	memset(dav, 0, sizeof(*dav));
	snprintf(dav->kind, sizeof(dav->kind), "%s", kind);

	if (!h_mkdtemp(dav->dir, sizeof(dav->dir), kind))
		return false;
	snprintf(script, sizeof(script), "%s/tests/servers/caldav-server.sh",
	    h_srcdir());
	rc = run_capture(argv, NULL, &out, &err);
	if (rc != 0) {
		fprintf(stderr, "caldav-server.sh start %s failed (%d): %s\n",
		    kind, rc, err ? err : "");
		free(out);
		free(err);
		return false;
	}
	free(out);
	free(err);
	snprintf(envfile, sizeof(envfile), "%s/env", dav->dir);
	show[4] = envfile;
	if (run_capture(show, NULL, &out, NULL) != 0 || out == NULL) {
		free(out);
		return false;
	}
	for (line = strtok_r(out, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		copy_field(dav->url, sizeof(dav->url), line, "CALDAV_URL");
		copy_field(dav->user, sizeof(dav->user), line, "CALDAV_USERNAME");
		copy_field(dav->pass, sizeof(dav->pass), line, "CALDAV_PASSWORD");
		copy_field(dav->auth, sizeof(dav->auth), line, "CALDAV_AUTH_TYPE");
		copy_field(dav->home, sizeof(dav->home), line, "CALDAV_HOME");
	}
	free(out);
	return dav->url[0] != '\0';
}

void
h_dav_stop(struct h_dav *dav)
{
	char script[1024];
	const char *argv[] = { "/bin/bash", script, "stop", dav->dir, NULL };

	if (dav->dir[0] != '\0') {
		snprintf(script, sizeof(script),
		    "%s/tests/servers/caldav-server.sh", h_srcdir());
		run_capture(argv, NULL, NULL, NULL);
		dav->dir[0] = '\0';
	}
}

struct buf {
	char	*data;
	size_t	 len;
};

static size_t
buf_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if ((b->data = realloc(b->data, b->len + n + 1)) == NULL)
		abort();
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static long
http_call(const char *method, const char *url, const char *user,
    const char *pass, const char *auth, const char *content_type,
    const char *body, const char *extra_header, char **resp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct buf b = { NULL, 0 };
	char ct[256];
	long status = -1;

	if (c == NULL)
		abort();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (user && *user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, auth && strcmp(auth,
		    "digest") == 0 ? CURLAUTH_DIGEST : CURLAUTH_BASIC);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, ct);
	}
	if (extra_header)
		hdrs = curl_slist_append(hdrs, extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (resp)
		*resp = b.data ? b.data : xstrdup("");
	else
		free(b.data);
	return status;
}

long
h_dav_request(const struct h_dav *dav, const char *method, const char *url,
    const char *content_type, const char *body, const char *extra_header,
    char **resp_body)
{
	return http_call(method, url, dav->user, dav->pass, dav->auth,
	    content_type, body, extra_header, resp_body);
}

/* "http://host:port" of a URL, for joining server-relative hrefs. */
static void
url_origin(const char *url, char *out, size_t size)
{
	const char *p = strstr(url, "://");
	const char *slash = p ? strchr(p + 3, '/') : NULL;
	size_t n = slash ? (size_t)(slash - url) : strlen(url);

	snprintf(out, size, "%.*s", (int)n, url);
}

static xmlXPathObjectPtr
xpath(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
	ctx->node = node;
	return xmlXPathEvalExpression((const xmlChar *)expr, ctx);
}

static char *
xpath_string(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
	xmlXPathObjectPtr o = xpath(ctx, node, expr);
	char *s = NULL;

	if (o && o->nodesetval && o->nodesetval->nodeNr > 0) {
		xmlChar *t = xmlNodeGetContent(o->nodesetval->nodeTab[0]);

		s = xstrdup((const char *)t);
		xmlFree(t);
	}
	xmlXPathFreeObject(o);
	return s;
}

/* Parse a multistatus and call fn for each <response> node. */
static void
each_response(const char *xml, void (*fn)(xmlXPathContextPtr, xmlNodePtr,
    void *), void *arg)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "r.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr o;
	int i;

	if (doc == NULL)
		return;
	ctx = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(ctx, (const xmlChar *)"d", (const xmlChar *)"DAV:");
	xmlXPathRegisterNs(ctx, (const xmlChar *)"c",
	    (const xmlChar *)"urn:ietf:params:xml:ns:caldav");
	o = xpath(ctx, xmlDocGetRootElement(doc), "//d:response");
	for (i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr; i++)
		fn(ctx, o->nodesetval->nodeTab[i], arg);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
}

struct cal_list {
	char	**names, **urls;
	size_t	 n;
	const char *origin;
};

static void
on_calendar(xmlXPathContextPtr ctx, xmlNodePtr resp, void *arg)
{
	struct cal_list *cl = arg;
	xmlXPathObjectPtr is_cal = xpath(ctx, resp,
	    ".//d:resourcetype/c:calendar");
	char *href, *name, url[1024];

	if (is_cal && is_cal->nodesetval && is_cal->nodesetval->nodeNr > 0) {
		href = xpath_string(ctx, resp, "d:href");
		name = xpath_string(ctx, resp, ".//d:displayname");
		if (href[0] == '/')
			snprintf(url, sizeof(url), "%s%s", cl->origin, href);
		else
			snprintf(url, sizeof(url), "%s", href);
		cl->names = realloc(cl->names, (cl->n + 1) * sizeof(char *));
		cl->urls = realloc(cl->urls, (cl->n + 1) * sizeof(char *));
		cl->names[cl->n] = name ? name : xstrdup("");
		cl->urls[cl->n] = xstrdup(url);
		cl->n++;
		free(href);
	}
	xmlXPathFreeObject(is_cal);
}

size_t
h_dav_calendars(const struct h_dav *dav, char ***names, char ***urls)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\"><d:prop>"
	    "<d:resourcetype/><d:displayname/></d:prop></d:propfind>";
	char origin[512], home[1024], *resp = NULL;
	struct cal_list cl = { .origin = origin };

	url_origin(dav->url, origin, sizeof(origin));
	snprintf(home, sizeof(home), "%s%s", origin, dav->home);
	h_dav_request(dav, "PROPFIND", home, "application/xml; charset=utf-8",
	    body, "Depth: 1", &resp);
	each_response(resp, on_calendar, &cl);
	free(resp);
	*names = cl.names;
	*urls = cl.urls;
	return cl.n;
}

size_t
h_dav_plane_calendars(const struct h_dav *dav)
{
	char **names, **urls;
	size_t n = h_dav_calendars(dav, &names, &urls), i, ours = 0;

	for (i = 0; i < n; i++)
		ours += strncmp(names[i], "Plane: ", 7) == 0;
	h_strings_free(names, n);
	h_strings_free(urls, n);
	return ours;
}

void
h_strings_free(char **s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

struct ev_list {
	struct h_event *ev;
	size_t	 n;
	const char *calendar;
};

static char *
prop_text(icalcomponent *c, icalproperty_kind kind)
{
	icalproperty *p = icalcomponent_get_first_property(c, kind);
	icalvalue *v = p ? icalproperty_get_value(p) : NULL;

	if (v == NULL)
		return NULL;
	/* TEXT values unescaped, as a calendar client shows them. */
	if (icalvalue_isa(v) == ICAL_TEXT_VALUE)
		return xstrdup(icalvalue_get_text(v));
	return xstrdup(icalproperty_get_value_as_string(p));
}

static char *
x_prop_text(icalcomponent *c, const char *name)
{
	icalproperty *p;

	for (p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
	    p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
		const char *pn = icalproperty_get_property_name(p);

		if (pn && strcmp(pn, name) == 0)
			return xstrdup(icalproperty_get_value_as_string(p));
	}
	return NULL;
}

static char *
categories(icalcomponent *c)
{
	icalproperty *p;
	char *out = xstrdup("");
	size_t len = 0;

	for (p = icalcomponent_get_first_property(c, ICAL_CATEGORIES_PROPERTY); p;
	    p = icalcomponent_get_next_property(c, ICAL_CATEGORIES_PROPERTY)) {
		const char *v = icalproperty_get_categories(p);
		size_t vl = strlen(v);

		out = realloc(out, len + vl + 2);
		if (len)
			out[len++] = ',';
		memcpy(out + len, v, vl + 1);
		len += vl;
	}
	return out;
}

static char *
date_text(icalcomponent *c, icalproperty_kind kind)
{
	icalproperty *p = icalcomponent_get_first_property(c, kind);
	struct icaltimetype t;
	char buf[16];

	if (p == NULL)
		return NULL;
	t = kind == ICAL_DTSTART_PROPERTY ? icalproperty_get_dtstart(p) :
	    icalproperty_get_dtend(p);
	snprintf(buf, sizeof(buf), "%04d%02d%02d%s", t.year, t.month, t.day,
	    t.is_date ? "" : "T");
	return xstrdup(buf);
}

static void
on_event(xmlXPathContextPtr ctx, xmlNodePtr resp, void *arg)
{
	struct ev_list *el = arg;
	char *data = xpath_string(ctx, resp, ".//c:calendar-data");
	char *href = xpath_string(ctx, resp, "d:href");
	icalcomponent *cal, *ve;
	struct h_event *e;
	icalproperty *p;

	if (data == NULL || (cal = icalparser_parse_string(data)) == NULL) {
		free(data);
		free(href);
		return;
	}
	ve = icalcomponent_isa(cal) == ICAL_VEVENT_COMPONENT ? cal :
	    icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	if (ve != NULL) {
		el->ev = realloc(el->ev, (el->n + 1) * sizeof(*el->ev));
		e = &el->ev[el->n++];
		memset(e, 0, sizeof(*e));
		e->calendar = xstrdup(el->calendar);
		e->href = xstrdup(href);
		e->uid = prop_text(ve, ICAL_UID_PROPERTY);
		e->summary = prop_text(ve, ICAL_SUMMARY_PROPERTY);
		e->description = prop_text(ve, ICAL_DESCRIPTION_PROPERTY);
		e->dtstart = date_text(ve, ICAL_DTSTART_PROPERTY);
		e->dtend = date_text(ve, ICAL_DTEND_PROPERTY);
		e->status = prop_text(ve, ICAL_STATUS_PROPERTY);
		e->url = prop_text(ve, ICAL_URL_PROPERTY);
		e->color = x_prop_text(ve, "COLOR");
		e->categories = categories(ve);
		p = icalcomponent_get_first_property(ve, ICAL_PRIORITY_PROPERTY);
		e->priority = p ? icalproperty_get_priority(p) : -1;
		p = icalcomponent_get_first_property(ve, ICAL_SEQUENCE_PROPERTY);
		e->sequence = p ? icalproperty_get_sequence(p) : -1;
	}
	icalcomponent_free(cal);
	free(data);
	free(href);
}

static int
event_cmp(const void *a, const void *b)
{
	const struct h_event *x = a, *y = b;

	return strcmp(x->uid ? x->uid : "", y->uid ? y->uid : "");
}

size_t
h_dav_events(const struct h_dav *dav, struct h_event **out)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?><c:calendar-query xmlns:d=\"DAV:\" "
	    "xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:prop><d:getetag/>"
	    "<c:calendar-data/></d:prop><c:filter><c:comp-filter name=\"VCALENDAR\">"
	    "<c:comp-filter name=\"VEVENT\"/></c:comp-filter></c:filter>"
	    "</c:calendar-query>";
	struct ev_list el = { NULL, 0, NULL };
	char **names, **urls, *resp;
	size_t n = h_dav_calendars(dav, &names, &urls), i;

	for (i = 0; i < n; i++) {
		resp = NULL;
		h_dav_request(dav, "REPORT", urls[i],
		    "application/xml; charset=utf-8", body, "Depth: 1", &resp);
		el.calendar = names[i];
		each_response(resp, on_event, &el);
		free(resp);
	}
	h_strings_free(names, n);
	h_strings_free(urls, n);
	if (el.n > 1)
		qsort(el.ev, el.n, sizeof(*el.ev), event_cmp);
	*out = el.ev;
	return el.n;
}

const struct h_event *
h_event_find(const struct h_event *ev, size_t n, const char *uid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ev[i].uid && strcmp(ev[i].uid, uid) == 0)
			return &ev[i];
	return NULL;
}

void
h_events_free(struct h_event *ev, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(ev[i].calendar);
		free(ev[i].href);
		free(ev[i].uid);
		free(ev[i].summary);
		free(ev[i].description);
		free(ev[i].dtstart);
		free(ev[i].dtend);
		free(ev[i].status);
		free(ev[i].color);
		free(ev[i].url);
		free(ev[i].categories);
	}
	free(ev);
}

/* ---- the Plane simulator ---------------------------------------------- */

bool
h_sim_start(struct h_sim *sim, const char *fixture, const char *args)
{
	char script[1024], fix[1024], portfile[700], cmd[8192], *port;
	int i;

	memset(sim, 0, sizeof(*sim));
	snprintf(sim->token, sizeof(sim->token),
	    "plane_api_0123456789abcdef0123456789abcdef");
	snprintf(sim->slug, sizeof(sim->slug), "acme");
	if (!h_mkdtemp(sim->dir, sizeof(sim->dir), "sim"))
		return false;
	snprintf(script, sizeof(script), "%s/tests/sim/plane_sim.py", h_srcdir());
	snprintf(fix, sizeof(fix), "%s", fixture ? fixture : "");
	snprintf(portfile, sizeof(portfile), "%s/port", sim->dir);
	snprintf(cmd, sizeof(cmd), "exec /usr/bin/python3 %s %s%s "
	    "--port 0 --port-file %s --token %s --slug %s --log %s/sim.log %s "
	    ">%s/stdout 2>%s/stderr", script, fixture ? "--fixture " : "",
	    fix, portfile, sim->token, sim->slug, sim->dir, args ? args : "",
	    sim->dir, sim->dir);
	if ((sim->pid = fork()) == 0) {
		/* Dies with the test process, even when the test crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if ((port = h_slurp(portfile, NULL)) != NULL) {
			sim->port = (int)strtol(port, NULL, 10);
			free(port);
			if (sim->port > 0)
				break;
		}
		if (waitpid(sim->pid, NULL, WNOHANG) == sim->pid) {
			sim->pid = 0;
			return false;
		}
		h_sleep_ms(50);
	}
	snprintf(sim->url, sizeof(sim->url), "http://127.0.0.1:%d", sim->port);
	return sim->port > 0;
}

void
h_sim_stop(struct h_sim *sim)
{
	if (sim->pid > 0) {
		kill(sim->pid, SIGTERM);
		waitpid(sim->pid, NULL, 0);
		sim->pid = 0;
	}
}

cJSON *
h_sim_call(const struct h_sim *sim, const char *method, const char *path,
    const char *json, long *status)
{
	char url[1024], *resp = NULL;
	cJSON *parsed;
	long st;

	snprintf(url, sizeof(url), "%s%s", sim->url, path);
	st = http_call(method, url, NULL, NULL, NULL, json ? "application/json" :
	    NULL, json, NULL, &resp);
	if (status)
		*status = st;
	parsed = cJSON_Parse(resp);
	free(resp);
	return parsed;
}

long
h_sim_requests(const struct h_sim *sim)
{
	cJSON *stats = h_sim_call(sim, "GET", "/_sim/stats", NULL, NULL);
	cJSON *total = cJSON_GetObjectItemCaseSensitive(stats, "total");
	long n = cJSON_IsNumber(total) ? (long)total->valuedouble : -1;

	cJSON_Delete(stats);
	return n;
}

/* ---- the binary under test -------------------------------------------- */

void
h_env_set(struct h_env *env, const char *key, const char *value)
{
	size_t klen = strlen(key), i;
	char *kv = malloc(klen + strlen(value) + 2);

	if (kv == NULL)
		abort();
	snprintf(kv, klen + strlen(value) + 2, "%s=%s", key, value);
	for (i = 0; i < env->n; i++)
		if (strncmp(env->vars[i], key, klen) == 0 &&
		    env->vars[i][klen] == '=') {
			free(env->vars[i]);
			env->vars[i] = kv;
			return;
		}
	if (env->n + 1 >= sizeof(env->vars) / sizeof(env->vars[0]))
		abort();
	env->vars[env->n++] = kv;
	env->vars[env->n] = NULL;
}

void
h_env_for(struct h_env *env, const struct h_sim *sim, const struct h_dav *dav,
    const char *db_path)
{
	memset(env, 0, sizeof(*env));
	h_env_set(env, "PATH", "/usr/bin:/bin");
	h_env_set(env, "CALPLANEBOT_CONFIG", "/dev/null");
	h_env_set(env, "PLANE_BASE_URL", sim->url);
	h_env_set(env, "PLANE_API_TOKEN", sim->token);
	h_env_set(env, "PLANE_WORKSPACE_SLUG", sim->slug);
	h_env_set(env, "PLANE_WEB_URL", "https://plane.example.com");
	h_env_set(env, "CALPLANEBOT_DB", db_path);
	h_env_set(env, "CALPLANEBOT_RETRY_MIN_MS", "50");
	h_env_set(env, "CALPLANEBOT_RETRY_MAX_MS", "200");
	h_env_set(env, "CALPLANEBOT_HTTP_TIMEOUT", "20");
	h_env_set(env, "LOG_LEVEL", "INFO");
	if (dav != NULL) {
		h_env_set(env, "CALDAV_URL", dav->url);
		h_env_set(env, "CALDAV_USERNAME", dav->user);
		h_env_set(env, "CALDAV_PASSWORD", dav->pass);
		h_env_set(env, "CALDAV_AUTH_TYPE", dav->auth);
	}
}

void
h_env_free(struct h_env *env)
{
	size_t i;

	for (i = 0; i < env->n; i++)
		free(env->vars[i]);
	env->n = 0;
}

int
h_run_sync(const struct h_env *env, const char *const *args, struct h_run *run)
{
	char bin[1024];
	const char *argv[16];
	size_t i, n = 0;

	snprintf(bin, sizeof(bin), "%s/calplanebot-sync", h_bindir());
	argv[n++] = bin;
	for (i = 0; args && args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	memset(run, 0, sizeof(*run));
	run->status = run_capture(argv, (char *const *)env->vars, &run->out,
	    &run->err);
	return run->status;
}

void
h_run_free(struct h_run *run)
{
	free(run->out);
	free(run->err);
	run->out = run->err = NULL;
}

/* ---- the web stack: nginx over TLS + the spawn-fcgi pool --------------- */

int
h_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Whether something accepts TCP connections on 127.0.0.1:port. */
static bool
port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool open_ = false;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (fd >= 0)
		open_ = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return open_;
}

/*
 * The environment for nginx/run.sh: the configuration, the stack's own
 * settings, and the sanitizer options of this process (so an ASan build
 * of the responder reads the same suppressions as the tests).
 */
static void
stack_env(const struct h_stack *st, const struct h_env *env, struct h_env *out)
{
	static const char *const pass[] = { "ASAN_OPTIONS", "LSAN_OPTIONS",
	    "UBSAN_OPTIONS", NULL };
	char bindir[PATH_MAX], www[PATH_MAX], num[16], path[1100];
	const char *v;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < env->n; i++) {
		char *eq = strchr(env->vars[i], '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		h_env_set(out, env->vars[i], eq + 1);
		*eq = '=';
	}
	for (i = 0; pass[i] != NULL; i++)
		if ((v = getenv(pass[i])) != NULL)
			h_env_set(out, pass[i], v);
	if (realpath(h_bindir(), bindir) == NULL)
		snprintf(bindir, sizeof(bindir), "%s", h_bindir());
	snprintf(path, sizeof(path), "%s/www", h_srcdir());
	if (realpath(path, www) == NULL)
		snprintf(www, sizeof(www), "%s", path);
	h_env_set(out, "RUN_DIR", st->dir);
	snprintf(num, sizeof(num), "%d", st->port);
	h_env_set(out, "HTTPS_PORT", num);
	snprintf(num, sizeof(num), "%d", st->pool_size);
	h_env_set(out, "POOL_SIZE", num);
	h_env_set(out, "BINDIR", bindir);
	h_env_set(out, "WWW_ROOT", www);
	h_env_set(out, "NGINX_WORKERS", "1");
}

static int
stack_script(const struct h_stack *st, const struct h_env *env,
    const char *command, char **out, char **err)
{
	char script[1024];
	const char *argv[] = { "/bin/bash", script, command, NULL };
	struct h_env full;
	int rc;

	snprintf(script, sizeof(script), "%s/nginx/run.sh", h_srcdir());
	stack_env(st, env, &full);
	rc = run_capture(argv, (char *const *)full.vars, out, err);
	h_env_free(&full);
	return rc;
}

bool
h_stack_start(struct h_stack *st, const struct h_env *env, int pool_size)
{
	char *out = NULL, *err = NULL;
	int attempt, rc = -1;

	memset(st, 0, sizeof(*st));
	st->pool_size = pool_size;
	if (!h_mkdtemp(st->dir, sizeof(st->dir), "stack"))
		return false;
	/* nginx's workers (nobody, when we are root) reach the socket inside. */
	chmod(st->dir, 0711);
	/* The port is free when chosen, not necessarily when nginx binds it. */
	for (attempt = 0; attempt < 3 && rc != 0; attempt++) {
		st->port = h_free_port();
		rc = stack_script(st, env, "start", &out, &err);
		if (rc != 0) {
			fprintf(stderr, "nginx/run.sh start failed (%d):\n%s%s\n",
			    rc, out ? out : "", err ? err : "");
			free(out);
			free(err);
			out = err = NULL;
			stack_script(st, env, "stop", NULL, NULL);
		}
	}
	free(out);
	free(err);
	if (rc != 0) {
		st->dir[0] = '\0';
		return false;
	}
	snprintf(st->url, sizeof(st->url), "https://127.0.0.1:%d", st->port);
	snprintf(st->cacert, sizeof(st->cacert), "%s/tls/cert.pem", st->dir);
	snprintf(st->log, sizeof(st->log), "%s/logs/fcgi.log", st->dir);
	return true;
}

void
h_stack_stop(struct h_stack *st)
{
	struct h_env none = { .n = 0 };

	if (st->dir[0] == '\0')
		return;
	none.vars[0] = NULL;
	h_env_set(&none, "PATH", "/usr/bin:/bin");
	stack_script(st, &none, "stop", NULL, NULL);
	h_env_free(&none);
	st->dir[0] = '\0';
}

/* Keeps what did not start for the test's assertion message. */
static bool
world_failed(struct h_world *w, const char *why)
{
	snprintf(w->why, sizeof(w->why), "%s", why);
	return false;
}

bool
h_world_start(struct h_world *w, const char *tag, bool sample,
    const char *sim_args, const char *secret, const char *admin)
{
	char fixture[1024];

	memset(w, 0, sizeof(*w));
	if (!h_mkdtemp(w->dir, sizeof(w->dir), tag))
		return world_failed(w, "no test directory");
	/* As nginx/run.sh does for RUN_DIR: an nginx a test starts inside
	 * runs its workers as nobody when we are root. */
	chmod(w->dir, 0711);
	snprintf(fixture, sizeof(fixture), "%s/tests/sim/sample_workspace.json",
	    h_srcdir());
	if (!h_sim_start(&w->sim, sample ? fixture : NULL, sim_args))
		return world_failed(w, "plane simulator did not start");
	if (!h_dav_start(&w->dav, "radicale"))
		return world_failed(w, "radicale did not start");
	snprintf(w->db, sizeof(w->db), "%s/state.db", w->dir);
	h_env_for(&w->env, &w->sim, &w->dav, w->db);
	h_env_set(&w->env, "PLANE_WEBHOOK_SECRET", secret);
	h_env_set(&w->env, "CALPLANEBOT_ADMIN_TOKEN", admin);
	return true;
}

void
h_world_stop(struct h_world *w)
{
	h_stack_stop(&w->stack);
	h_dav_stop(&w->dav);
	h_sim_stop(&w->sim);
	h_env_free(&w->env);
}

size_t
h_stack_pool_pids(const struct h_stack *st, pid_t *pids, size_t max)
{
	char path[600], *text, *line, *save = NULL;
	size_t n = 0;
	long pid;

	snprintf(path, sizeof(path), "%s/fcgi.pid", st->dir);
	if ((text = h_slurp(path, NULL)) == NULL)
		return 0;
	for (line = strtok_r(text, "\n", &save); line && n < max;
	    line = strtok_r(NULL, "\n", &save)) {
		pid = strtol(line, NULL, 10);
		if (pid > 0 && kill((pid_t)pid, 0) == 0)
			pids[n++] = (pid_t)pid;
	}
	free(text);
	return n;
}

long
h_https(const struct h_stack *st, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    struct h_http *resp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct buf b = { NULL, 0 }, h = { NULL, 0 };
	char url[1024];
	size_t i;

	if (c == NULL)
		abort();
	memset(resp, 0, sizeof(*resp));
	resp->status = -1;
	snprintf(url, sizeof(url), "%s%s", st->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, st->cacert);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	hdrs = curl_slist_append(hdrs, "Expect:");
	for (i = 0; headers && headers[i]; i++)
		hdrs = curl_slist_append(hdrs, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)body_len);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	resp->body = b.data ? b.data : xstrdup("");
	resp->headers = h.data ? h.data : xstrdup("");
	return resp->status;
}

char *
h_http_header(const struct h_http *resp, const char *name)
{
	size_t nlen = strlen(name), vlen;
	const char *p = resp->headers, *v;

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			v = p + nlen + 1;
			v += strspn(v, " \t");
			vlen = strcspn(v, "\r\n");
			return strndup(v, vlen);
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

void
h_http_free(struct h_http *resp)
{
	free(resp->body);
	free(resp->headers);
	resp->body = resp->headers = NULL;
}

void
h_hmac_hex(const char *secret, const char *body, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0, i;

	HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)body, len, mac, &mlen);
	for (i = 0; i < mlen; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	out[2 * mlen] = '\0';
}

static int
dav_port(const struct h_dav *dav)
{
	const char *p = strstr(dav->url, "://");

	p = p ? strchr(p + 3, ':') : NULL;
	return p ? (int)strtol(p + 1, NULL, 10) : -1;
}

bool
h_dav_down(struct h_dav *dav)
{
	char script[1024];
	const char *argv[] = { "/bin/bash", script, "stop", dav->dir, NULL };
	int port = dav_port(dav), i;

	snprintf(script, sizeof(script), "%s/tests/servers/caldav-server.sh",
	    h_srcdir());
	run_capture(argv, NULL, NULL, NULL);
	for (i = 0; i < 100 && port_open(port); i++)
		h_sleep_ms(50);
	return !port_open(port);
}

bool
h_dav_up(struct h_dav *dav)
{
	/* What caldav-server.sh start does, minus the fresh configuration,
	 * and the pid files its stop reads. */
	const char *argv[] = { "/bin/bash", "-c",
	    "d=$1 && cd \"$d\" && { setsid /usr/bin/radicale -C \"$d/config\" "
	    "</dev/null >>\"$d/server.log\" 2>&1 & } && pid=$! && "
	    "echo \"$pid\" >\"$d/server.pid\" && "
	    "read -r line <\"/proc/$pid/stat\" && set -- ${line##*) } && "
	    "echo \"${20}\" >\"$d/server.starttime\"",
	    "up", dav->dir, NULL };
	int port = dav_port(dav), i;

	if (strcmp(dav->kind, "radicale") != 0)
		return false;
	if (run_capture(argv, NULL, NULL, NULL) != 0)
		return false;
	for (i = 0; i < 200 && !port_open(port); i++)
		h_sleep_ms(50);
	return port_open(port);
}
