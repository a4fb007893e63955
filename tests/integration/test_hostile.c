/*
 * test_hostile.c - bad input from every side, each case with the exact
 * answer it must get and a check that nothing was stored or written:
 *
 *   web      requests through nginx (TLS) and the responder pool: webhook
 *            signatures, bodies, envelopes, issue fields, headers, query
 *            strings, methods, paths, admin tokens (libcurl, one source
 *            address per 40 requests so nginx's per-address limit does
 *            not hide the answers);
 *   raw      bytes libcurl would never send, over a raw TLS socket;
 *   config   every setting invalid in turn (the real binary, exit 2);
 *   plane    a hostile Plane: a proxy in front of the simulator that
 *            spoils one kind of answer (tests/integration/hostile_server.py);
 *   caldav   a hostile CalDAV server: the same proxy in front of Radicale.
 *
 * "The other host" is a recorder on 127.0.0.2: no request, and so no
 * credential, may ever reach it.  docs/reliability.md lists the cases.
 */
#define _GNU_SOURCE	/* strcasestr */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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
#include <openssl/ssl.h>

#include "harness.h"
#include "store.h"

#define WEB_PROJECT	"6e6fd832-1bac-4f5c-8a4c-e95c7bf3f4e1"
#define WEB_1		"7bcf0520-cf71-4a35-8505-4208d97e0be1"
#define SECRET		"plane_wh_0badc0ffee0ddba11facade5eed5a1e5"
#define ADMIN		"adm-hostile-5d1e0b7c3a9f4e2d8c6b0a1f3e5d7c9b"

/* ---- helpers ------------------------------------------------------------ */

static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static struct h_world W;

/* What this file adds to W. */
static struct {
	pid_t		 proxy, evil;
	char		 proxy_url[128], evil_url[128];
	char		 proxy_log[700], evil_log[700];
	char		*good;		/* a real payload, as Plane sends it */
} X;

static void
down(void)
{
	if (X.proxy > 0) {
		kill(X.proxy, SIGTERM);
		waitpid(X.proxy, NULL, 0);
	}
	if (X.evil > 0) {
		kill(X.evil, SIGTERM);
		waitpid(X.evil, NULL, 0);
	}
	h_world_stop(&W);
	free(X.good);
	X.good = NULL;
}

static void
servers_up(void)
{
	memset(&X, 0, sizeof(X));
	cr_assert(h_world_start(&W, "hostile", true, "--rate-limit 0", SECRET,
	    ADMIN), "%s", W.why);
	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "1");
	h_env_set(&W.env, "CALPLANEBOT_CONNECT_TIMEOUT", "2");
	h_env_set(&W.env, "CALPLANEBOT_HTTP_TIMEOUT", "10");
}

static size_t
event_count(void)
{
	struct h_event *ev;
	size_t n = h_dav_events(&W.dav, &ev);

	h_events_free(ev, n);
	return n;
}

/* ---- the web: a client that says exactly what it is told ---------------- */

#define F_CHUNKED	0x01
#define F_AS_IS		0x02	/* the path as written: no dot segments removed */

struct resp {
	long	 status;
	char	*body;
	char	*headers;
};

struct buf {
	char	*data;
	size_t	 len;
};

static size_t
buf_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	b->data = realloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static long
web(const char *method, const char *path, const char *const *headers,
    const char *body, size_t len, unsigned flags, struct resp *r)
{
	static int sent;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = { NULL, 0 }, hb = { NULL, 0 };
	char url[8192], iface[40];
	size_t i;

	/* nginx allows each address bursts of 50 webhooks. */
	snprintf(iface, sizeof(iface), "host!127.0.%d.%d", 1 + sent / 10000,
	    2 + (sent / 40) % 250);
	sent++;
	snprintf(url, sizeof(url), "%s%s", W.stack.url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, W.stack.cacert);
	curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (flags & F_AS_IS)
		curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	h = curl_slist_append(h, "Expect:");
	if (flags & F_CHUNKED)
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
	for (i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		if (!(flags & F_CHUNKED))
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)len);
		else
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)-1);
	}
	r->status = -1;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	r->body = b.data ? b.data : strdup("");
	r->headers = hb.data ? hb.data : strdup("");
	return r->status;
}

static void
resp_free(struct resp *r)
{
	free(r->body);
	free(r->headers);
}

/* The answer's error_code, or its "status" for 2xx, or "(html)". */
static char *
answer_code(const struct resp *r)
{
	cJSON *doc = cJSON_Parse(r->body), *v;
	char *out;

	if (doc == NULL)
		return strdup(r->body[0] == '\0' ? "(empty)" : "(not json)");
	v = cJSON_GetObjectItem(doc, r->status < 300 ? "status" : "error_code");
	out = strdup(cJSON_IsString(v) ? v->valuestring : "(none)");
	cJSON_Delete(doc);
	return out;
}

static void
web_up(void)
{
	long status = 0;
	cJSON *p;

	servers_up();
	cr_assert(h_stack_start(&W.stack, &W.env, 2), "the stack did not start");
	p = h_sim_call(&W.sim, "GET", "/_sim/webhook_payload?event=issue"
	    "&action=updated&issue_id=" WEB_1 "&field=name", NULL, &status);
	cr_assert_eq(status, 200);
	X.good = strdup(cJSON_GetObjectItem(p, "body")->valuestring);
	cJSON_Delete(p);
}

/* The good payload with data.<field> replaced by a JSON value (or removed). */
static char *
mutate(const char *field, const char *json)
{
	cJSON *doc = cJSON_Parse(X.good), *data = cJSON_GetObjectItem(doc, "data");
	char *out;

	cr_assert_not_null(data);
	if (json == NULL)
		cJSON_DeleteItemFromObject(data, field);
	else {
		cJSON *v = cJSON_Parse(json);

		cr_assert_not_null(v, "bad test value %s", json);
		if (cJSON_HasObjectItem(data, field))
			cJSON_ReplaceItemInObject(data, field, v);
		else
			cJSON_AddItemToObject(data, field, v);
	}
	out = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return out;
}

/* A webhook case: body, how it is signed, the headers, the answer. */
struct wcase {
	const char	*body;		/* "@GOOD", "@MUT:field=json", ... or text */
	size_t		 len;		/* for bodies with NUL bytes; 0: strlen */
	const char	*sig;		/* NULL: the right MAC; "-": no header */
	const char	*ctype;		/* NULL: application/json; "-": none */
	const char	*extra;		/* one more header, or NULL */
	unsigned	 flags;
	long		 want;
	const char	*code;		/* error_code, or status of a 2xx */
};

static const char cycle_env[] = "{\"event\": \"cycle\", \"action\": "
    "\"updated\", \"webhook_id\": \"w\", \"workspace_id\": \"x\", "
    "\"data\": {\"id\": \"9c1e5a7b-0000-4000-8000-000000000001\"}}";

static char *
make_body(const char *spec, size_t *len)
{
	char *out, *eq;

	if (strcmp(spec, "@GOOD") == 0) {
		*len = strlen(X.good);
		return strdup(X.good);
	}
	if (strncmp(spec, "@MUT:", 5) == 0) {
		char field[64];

		eq = strchr(spec + 5, '=');
		snprintf(field, sizeof(field), "%.*s", (int)(eq ? eq - spec - 5 :
		    (long)strlen(spec + 5)), spec + 5);
		out = mutate(field, eq ? eq + 1 : NULL);
		*len = strlen(out);
		return out;
	}
	if (strcmp(spec, "@BIG") == 0 || strcmp(spec, "@EXACT1M") == 0) {
		size_t n = strcmp(spec, "@BIG") == 0 ? 1048577 : 1048576;

		out = malloc(n + 1);
		memset(out, ' ', n);
		memcpy(out, cycle_env, strlen(cycle_env));
		out[n] = '\0';
		*len = n;
		return out;
	}
	if (strcmp(spec, "@DEEP") == 0 || strcmp(spec, "@VERYDEEP") == 0) {
		/* 100 levels inside data (over the limit of 64), or 100000
		 * arrays (over cJSON's own limit). */
		int levels = strcmp(spec, "@DEEP") == 0 ? 100 : 100000, i;
		size_t n = 0;

		out = malloc((size_t)levels * 12 + 512);
		n += (size_t)sprintf(out, "{\"event\": \"issue\", \"action\": "
		    "\"updated\", \"data\": {\"id\": \"%s\", \"x\": ", WEB_1);
		for (i = 0; i < levels; i++)
			n += (size_t)sprintf(out + n, levels > 1000 ? "[" :
			    "{\"a\":");
		n += (size_t)sprintf(out + n, "1");
		for (i = 0; i < levels; i++)
			out[n++] = levels > 1000 ? ']' : '}';
		n += (size_t)sprintf(out + n, "}}");
		*len = n;
		return out;
	}
	*len = *len ? *len : strlen(spec);
	out = malloc(*len + 1);
	memcpy(out, spec, *len);
	out[*len] = '\0';
	return out;
}

static void
sign(const char *spec, const char *body, size_t len, char *out, size_t size)
{
	char hex[65];
	size_t i;

	h_hmac_hex(SECRET, body, len, hex);
	if (spec == NULL)
		snprintf(out, size, "%s", hex);
	else if (strcmp(spec, "@UPPER") == 0) {
		for (i = 0; hex[i]; i++)
			hex[i] = (char)toupper((unsigned char)hex[i]);
		snprintf(out, size, "%s", hex);
	} else if (strcmp(spec, "@SHA256UPPER") == 0) {
		for (i = 0; hex[i]; i++)
			hex[i] = (char)toupper((unsigned char)hex[i]);
		snprintf(out, size, "sha256=%s", hex);
	} else if (strcmp(spec, "@SHA1") == 0)
		snprintf(out, size, "sha1=%s", hex);
	else if (strcmp(spec, "@SHA256CAPS") == 0)
		snprintf(out, size, "SHA256=%s", hex);
	else if (strcmp(spec, "@SHORT") == 0)
		snprintf(out, size, "%.63s", hex);
	else if (strcmp(spec, "@LONG") == 0)
		snprintf(out, size, "%s0", hex);
	else if (strcmp(spec, "@WRONG") == 0) {
		hex[20] = hex[20] == 'a' ? 'b' : 'a';
		snprintf(out, size, "%s", hex);
	} else if (strcmp(spec, "@OTHER") == 0) {
		h_hmac_hex(SECRET, "{}", 2, hex);
		snprintf(out, size, "%s", hex);
	} else if (strcmp(spec, "@NOSECRET") == 0) {
		h_hmac_hex("", body, len, hex);
		snprintf(out, size, "%s", hex);
	} else if (strcmp(spec, "@PREFIX") == 0)
		snprintf(out, size, "sha256=%s", hex);
	else if (strcmp(spec, "@DOUBLEPREFIX") == 0)
		snprintf(out, size, "sha256=sha256=%s", hex);
	else if (strcmp(spec, "@SPACES") == 0)
		snprintf(out, size, "%.32s %.32s", hex, hex + 32);
	else
		snprintf(out, size, "%s", spec);
}

static void
run_cases(const char *group, const struct wcase *cases, size_t n)
{
	char sig[400], ct[200];
	struct resp r;
	size_t i, len;
	char *body, *code;

	for (i = 0; i < n; i++) {
		const struct wcase *c = &cases[i];
		const char *hdrs[6];
		size_t k = 0;

		len = c->len;
		body = make_body(c->body, &len);
		if (c->sig == NULL || strcmp(c->sig, "-") != 0) {
			char v[300];

			sign(c->sig, body, len, v, sizeof(v));
			/* curl drops "Name:" with no value: "Name;" sends it empty. */
			if (v[0] == '\0')
				snprintf(sig, sizeof(sig), "X-Plane-Signature;");
			else
				snprintf(sig, sizeof(sig), "X-Plane-Signature: %s", v);
			hdrs[k++] = sig;
		}
		if (c->ctype == NULL || strcmp(c->ctype, "-") != 0) {
			snprintf(ct, sizeof(ct), "Content-Type: %s", c->ctype ?
			    c->ctype : "application/json");
			hdrs[k++] = ct;
		} else
			hdrs[k++] = "Content-Type:";
		if (c->extra)
			hdrs[k++] = c->extra;
		hdrs[k] = NULL;
		web("POST", "/webhooks/plane", hdrs, body, len, c->flags, &r);
		code = answer_code(&r);
		cr_expect_eq(r.status, c->want, "%s case %zu (%.60s, sig %s): "
		    "%ld, expected %ld: %.300s", group, i + 1, c->body,
		    c->sig ? c->sig : "(right)", r.status, c->want, r.body);
		if (c->code)
			cr_expect_str_eq(code, c->code, "%s case %zu (%.60s): %s",
			    group, i + 1, c->body, r.body);
		free(code);
		resp_free(&r);
		free(body);
	}
}

/* Nothing of any refused delivery was stored or written. */
static void
expect_nothing_stored(void)
{
	struct store *store = NULL;
	char errmsg[CPB_ERRMSG_MAX];
	long depth = -1;

	h_sleep_ms(300);
	cr_assert_eq(store_open(&store, W.db, errmsg), CPB_OK, "%s", errmsg);
	cr_expect_eq(store_queue_depth(store, &depth, errmsg), CPB_OK);
	store_close(store);
	cr_expect_eq(depth, 0, "a refused delivery was queued");
	cr_expect_eq(event_count(), 0, "a refused delivery was applied");
}

/* The good delivery still works afterwards: the refusals were not luck. */
static void
expect_good_still_works(void)
{
	static const struct wcase good[] = {
		{ "@GOOD", 0, NULL, NULL, "X-Plane-Delivery: good-1", 0, 202,
		    "queued" },
	};
	long end = h_now_ms() + 10000;

	run_cases("control", good, 1);
	while (event_count() == 0 && h_now_ms() < end)
		h_sleep_ms(100);
	cr_expect_eq(event_count(), 1, "the good delivery was not applied");
}

/* ---- web: signatures ----------------------------------------------------- */

Test(web, signatures, .init = web_up, .fini = down, .timeout = 120)
{
	static const struct wcase cases[] = {
		{ "@GOOD", 0, "-", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@WRONG", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@UPPER", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@SHA256UPPER", NULL, NULL, 0, 401,
		    "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@SHA1", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@SHA256CAPS", NULL, NULL, 0, 401,
		    "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@DOUBLEPREFIX", NULL, NULL, 0, 401,
		    "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@SHORT", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@LONG", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
		    "zzzzzzzzz", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@OTHER", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@NOSECRET", NULL, NULL, 0, 401,
		    "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "sha256=", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		{ "@GOOD", 0, "@SPACES", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
		/* Everything is checked after the signature: unsigned junk
		 * gets 401, never a parser's opinion. */
		{ "{\"event\": 42", 0, "-", NULL, NULL, 0, 401,
		    "INVALID_SIGNATURE" },
		{ "", 0, "-", NULL, NULL, 0, 401, "INVALID_SIGNATURE" },
	};

	run_cases("signatures", cases, sizeof(cases) / sizeof(cases[0]));
	expect_nothing_stored();
	expect_good_still_works();
}

/* ---- web: bodies and envelopes -------------------------------------------- */

Test(web, bodies_and_envelopes, .init = web_up, .fini = down,
    .timeout = 120)
{
	static const struct wcase cases[] = {
		{ "", 0, NULL, NULL, NULL, 0, 400, "INVALID_JSON" },
		{ "@BIG", 0, NULL, NULL, NULL, 0, 413, "PAYLOAD_TOO_LARGE" },
		{ "@BIG", 0, NULL, NULL, NULL, F_CHUNKED, 413,
		    "PAYLOAD_TOO_LARGE" },
		/* Exactly 1 MiB is allowed (an event we do not act on). */
		{ "@EXACT1M", 0, NULL, NULL, NULL, 0, 202, "ignored" },
		{ "{\"event\": \"issue\", \"action\": \"updated\", \"data\": "
		    "{\"id\": \"\xc3\x28\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_JSON" },
		{ "{\"event\": \"issue\", \"action\": \"updated\", \"data\": "
		    "{\"id\": \"\xc0\xaf\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_JSON" },
		{ "{\"event\": \"issue\", \"action\": \"updated\", \"data\": "
		    "{\"id\": \"\xed\xa0\x80\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_JSON" },
		/* A UTF-8 BOM is skipped (cJSON; RFC 8259 8.1 allows it). */
		{ "\xef\xbb\xbf{\"event\": \"cycle\"}", 0, NULL, NULL, NULL, 0,
		    400, "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\",\0 \"action\": \"updated\"}", 40, NULL,
		    NULL, NULL, 0, 400, "INVALID_JSON" },
		{ "@DEEP", 0, NULL, NULL, NULL, 0, 400, "INVALID_JSON" },
		{ "@VERYDEEP", 0, NULL, NULL, NULL, 0, 400, "INVALID_JSON" },
		{ "{\"event\": \"cycle\", \"action\": \"updated\", \"data\": "
		    "{\"id\": \"c1\"}} trailing", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_JSON" },
		{ "{\"event\": \"cycle\"}{\"event\": \"issue\"}", 0, NULL, NULL,
		    NULL, 0, 400, "INVALID_JSON" },
		{ "[]", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "\"issue\"", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "null", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "1e999999", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		/* Duplicate keys: the first one counts (cJSON), and it was
		 * signed as a whole: "cycle" is ignored. */
		{ "{\"event\": \"cycle\", \"event\": \"issue\", \"action\": "
		    "\"updated\", \"data\": {\"id\": \"" WEB_1 "\"}}", 0, NULL,
		    NULL, NULL, 0, 202, "ignored" },
		/* Every envelope field wrong in turn. */
		{ "{\"action\": \"updated\", \"data\": {\"id\": \"a\"}}", 0,
		    NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "{\"event\": 42, \"action\": \"updated\", \"data\": {\"id\": "
		    "\"a\"}}", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "{\"event\": null, \"action\": \"updated\", \"data\": "
		    "{\"id\": \"a\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"\", \"action\": \"updated\", \"data\": {\"id\": "
		    "\"a\"}}", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue/../x\", \"action\": \"updated\", \"data\": "
		    "{\"id\": \"a\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"data\": {\"id\": \"a\"}}", 0, NULL,
		    NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": [\"updated\"], \"data\": "
		    "{\"id\": \"a\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"exploded\", \"data\": "
		    "{\"id\": \"a\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"updated\"}", 0, NULL,
		    NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"updated\", \"data\": "
		    "\"" WEB_1 "\"}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"updated\", \"data\": "
		    "[]}", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"updated\", \"data\": "
		    "{\"id\": 42}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"updated\", \"data\": "
		    "{\"id\": \"\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"deleted\", \"data\": "
		    "{\"id\": \"../../etc/passwd\"}}", 0, NULL, NULL, NULL, 0,
		    400, "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"deleted\", \"data\": "
		    "{\"id\": \"0123456789012345678901234567890123456789012345678"
		    "901234567890123\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"issue\", \"action\": \"deleted\", \"data\": "
		    "{\"id\": {\"$ne\": 1}}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "{\"event\": \"project\", \"action\": \"deleted\", \"data\": "
		    "{\"id\": \"a b\"}}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
	};

	run_cases("bodies", cases, sizeof(cases) / sizeof(cases[0]));
	expect_nothing_stored();
	expect_good_still_works();
}

/* ---- web: the issue inside, field by field --------------------------------- */

Test(web, issue_fields, .init = web_up, .fini = down, .timeout = 120)
{
	static const struct wcase cases[] = {
		{ "@MUT:name=42", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "@MUT:name", 0, NULL, NULL, NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "@MUT:target_date=20261204", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:target_date=\"2026-02-30\"", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:target_date=\"2026-12-04T25:00:00\"", 0, NULL, NULL,
		    NULL, 0, 400, "INVALID_PAYLOAD" },
		{ "@MUT:target_date=\"99999-01-01\"", 0, NULL, NULL, NULL, 0,
		    400, "INVALID_PAYLOAD" },
		{ "@MUT:updated_at=\"yesterday\"", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:sequence_id=1e308", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:sequence_id=-1", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:sequence_id=\"1\"", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:priority=[\"urgent\"]", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:priority=\"critical!!\"", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:labels=\"bug\"", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:labels=[42]", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:assignees={\"id\": \"x\"}", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:state=42", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:project=42", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:project=\"../../x\"", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@MUT:description_html=42", 0, NULL, NULL, NULL, 0, 400,
		    "INVALID_PAYLOAD" },
	};
	/* Control characters are Plane's data: stored, but the event
	 * carries none of them (RFC 5545 TEXT has no controls). */
	static const struct wcase ctl[] = {
		{ "@MUT:name=\"bell\\u0007esc\\u001b[31mred\\u007fdel\"", 0, NULL,
		    NULL, "X-Plane-Delivery: ctl-1", 0, 202, "queued" },
	};
	struct h_event *ev;
	size_t n = 0, i;
	long end;

	run_cases("issue", cases, sizeof(cases) / sizeof(cases[0]));
	expect_nothing_stored();
	run_cases("issue", ctl, 1);
	end = h_now_ms() + 10000;
	while (event_count() == 0 && h_now_ms() < end)
		h_sleep_ms(100);
	n = h_dav_events(&W.dav, &ev);
	cr_assert_eq(n, 1);
	cr_expect(strstr(ev[0].summary, "red") != NULL, "%s", ev[0].summary);
	for (i = 0; ev[0].summary[i]; i++)
		cr_expect((unsigned char)ev[0].summary[i] >= 0x20 &&
		    ev[0].summary[i] != 0x7f, "control character in SUMMARY");
	h_events_free(ev, n);
	expect_good_still_works();
}

/* ---- web: headers ---------------------------------------------------------- */

Test(web, headers, .init = web_up, .fini = down, .timeout = 120)
{
	static char long_delivery[128], huge_delivery[5200], giant[9500];
	struct wcase cases[] = {
		/* Without X-Plane-Delivery the id is the body's hash. */
		{ cycle_env, 0, NULL, NULL, NULL, 0, 202, "ignored" },
		{ cycle_env, 0, NULL, NULL, long_delivery, 0, 400,
		    "INVALID_PAYLOAD" },
		{ cycle_env, 0, NULL, NULL, huge_delivery, 0, 400, "BAD_REQUEST" },
		{ cycle_env, 0, NULL, NULL, giant, 0, 400, NULL },
		{ cycle_env, 0, NULL, NULL, "X-Plane-Delivery: ../../etc", 0, 400,
		    "INVALID_PAYLOAD" },
		{ cycle_env, 0, NULL, NULL, "X-Plane-Delivery: a b", 0, 400,
		    "INVALID_PAYLOAD" },
		{ cycle_env, 0, NULL, NULL, "X-Plane-Delivery: \xc3\xa9t\xc3\xa9",
		    0, 400, "INVALID_PAYLOAD" },
		{ "@GOOD", 0, NULL, NULL, "X-Plane-Event: project", 0, 400,
		    "INVALID_PAYLOAD" },
		{ "@GOOD", 0, NULL, "text/plain", NULL, 0, 415,
		    "UNSUPPORTED_MEDIA_TYPE" },
		{ "@GOOD", 0, NULL, "-", NULL, 0, 415, "UNSUPPORTED_MEDIA_TYPE" },
		{ "@GOOD", 0, NULL, "application/jsonx", NULL, 0, 415,
		    "UNSUPPORTED_MEDIA_TYPE" },
		{ "@GOOD", 0, NULL, "application/json-patch+json", NULL, 0, 415,
		    "UNSUPPORTED_MEDIA_TYPE" },
		{ "@GOOD", 0, NULL, "multipart/form-data; boundary=x", NULL, 0,
		    415, "UNSUPPORTED_MEDIA_TYPE" },
		/* Allowed spellings of the type, and chunked bodies. */
		{ cycle_env, 0, NULL, "APPLICATION/JSON; charset=utf-8",
		    "X-Plane-Delivery: ok-ct", 0, 202, "ignored" },
		{ cycle_env, 0, NULL, NULL, "X-Plane-Delivery: ok-chunked",
		    F_CHUNKED, 202, "ignored" },
		/* A header that tries to smuggle in a second one. */
		{ cycle_env, 0, NULL, NULL,
		    "X-Plane-Delivery: a%0d%0aX-Plane-Event:%20issue", 0, 400,
		    "INVALID_PAYLOAD" },
	};

	memset(long_delivery, 0, sizeof(long_delivery));
	snprintf(long_delivery, sizeof(long_delivery), "X-Plane-Delivery: ");
	memset(long_delivery + 18, 'd', 80);
	snprintf(huge_delivery, sizeof(huge_delivery), "X-Plane-Delivery: ");
	memset(huge_delivery + 18, 'd', 5000);
	huge_delivery[5018] = '\0';
	snprintf(giant, sizeof(giant), "X-Plane-Delivery: ");
	memset(giant + 18, 'd', 9400);
	giant[9418] = '\0';
	run_cases("headers", cases, sizeof(cases) / sizeof(cases[0]));
	expect_nothing_stored();
	expect_good_still_works();
}

/* ---- web: methods, paths, query strings, admin tokens ---------------------- */

struct rcase {
	const char	*method;
	const char	*path;
	const char	*header;
	unsigned	 flags;
	long		 want;
	const char	*code;		/* NULL: not checked (nginx's HTML) */
};

Test(web, methods_paths_queries_tokens, .init = web_up, .fini = down,
    .timeout = 120)
{
	static char long_query[3200], long_path[5200], long_token[5200];
	struct rcase cases[] = {
		{ "GET", "/webhooks/plane", NULL, 0, 405, "METHOD_NOT_ALLOWED" },
		{ "PUT", "/webhooks/plane", NULL, 0, 405, "METHOD_NOT_ALLOWED" },
		{ "HEAD", "/webhooks/plane", NULL, 0, 405, NULL },
		{ "DELETE", "/api/v1/health", NULL, 0, 405, "METHOD_NOT_ALLOWED" },
		{ "OPTIONS", "/api/v1/status", NULL, 0, 405,
		    "METHOD_NOT_ALLOWED" },
		{ "PATCH", "/health", NULL, 0, 405, "METHOD_NOT_ALLOWED" },
		{ "FOO", "/webhooks/plane", NULL, 0, 405, "METHOD_NOT_ALLOWED" },
		{ "TRACE", "/webhooks/plane", NULL, 0, 405, NULL },
		{ "post", "/webhooks/plane", NULL, 0, 400, NULL },
		{ "GET", "/webhooks/plane/", NULL, 0, 404, NULL },
		{ "GET", "/WEBHOOKS/PLANE", NULL, 0, 404, NULL },
		{ "GET", "/api/v1/nope", NULL, 0, 404, "NOT_FOUND" },
		{ "GET", "/api/v1/health/", NULL, 0, 404, "NOT_FOUND" },
		{ "GET", "/api/v1/../../etc/passwd", NULL, F_AS_IS, 404, NULL },
		{ "GET", "/%2e%2e/%2e%2e/etc/passwd", NULL, F_AS_IS, 400, NULL },
		{ "GET", "/../Makefile", NULL, F_AS_IS, 400, NULL },
		{ "GET", "/api/v1/%2e%2e/v1/health", NULL, F_AS_IS, 200, NULL },
		{ "GET", "/health%00", NULL, F_AS_IS, 400, NULL },
		{ "GET", "/health%0d%0aX-Injected:%201", NULL, F_AS_IS, 404, NULL },
		{ "GET", long_path, NULL, 0, 404, "NOT_FOUND" },
		{ "GET", "/api/v1/health?%00%ff%0d%0a", NULL, 0, 200, NULL },
		{ "GET", long_query, NULL, 0, 400, "BAD_REQUEST" },
		{ "GET", "/api/v1/dead-letters?limit=0", "Authorization: Bearer "
		    ADMIN, 0, 400, "INVALID_PARAMETER" },
		{ "GET", "/api/v1/dead-letters?limit=-1", "Authorization: Bearer "
		    ADMIN, 0, 400, "INVALID_PARAMETER" },
		/* A limit too long for its buffer is refused, not defaulted. */
		{ "GET", "/api/v1/dead-letters?limit=99999999999999999999999",
		    "Authorization: Bearer " ADMIN, 0, 400, "INVALID_PARAMETER" },
		{ "GET", "/api/v1/dead-letters?limit=1e3", "Authorization: Bearer "
		    ADMIN, 0, 400, "INVALID_PARAMETER" },
		{ "POST", "/api/v1/dead-letters/0/retry", "Authorization: Bearer "
		    ADMIN, 0, 404, "NOT_FOUND" },
		{ "POST", "/api/v1/dead-letters/-1/retry", "Authorization: Bearer "
		    ADMIN, 0, 404, "NOT_FOUND" },
		{ "POST", "/api/v1/dead-letters/99999999999999999999/retry",
		    "Authorization: Bearer " ADMIN, 0, 404, "NOT_FOUND" },
		{ "DELETE", "/api/v1/dead-letters/1%2f..%2f2", "Authorization: "
		    "Bearer " ADMIN, 0, 404, "NOT_FOUND" },
		{ "GET", "/api/v1/dead-letters", NULL, 0, 401, "UNAUTHORIZED" },
		{ "GET", "/api/v1/dead-letters", "Authorization: Bearer " ADMIN
		    "x", 0, 401, "UNAUTHORIZED" },
		{ "GET", "/api/v1/dead-letters", "Authorization: Bearer adm-",
		    0, 401, "UNAUTHORIZED" },
		{ "GET", "/api/v1/dead-letters", "Authorization: Basic "
		    "YWRtaW46YWRtaW4=", 0, 401, "UNAUTHORIZED" },
		{ "GET", "/api/v1/dead-letters", "Authorization: Bearer", 0, 401,
		    "UNAUTHORIZED" },
		{ "GET", "/api/v1/dead-letters", long_token, 0, 400,
		    "BAD_REQUEST" },
		/* RFC 6750: the scheme is case-insensitive. */
		{ "GET", "/api/v1/dead-letters", "Authorization: bearer " ADMIN,
		    0, 200, "ok" },
	};
	struct resp r;
	size_t i;
	char *code;

	snprintf(long_query, sizeof(long_query), "/api/v1/health?q=");
	memset(long_query + 17, 'q', 3000);
	long_query[3017] = '\0';
	snprintf(long_path, sizeof(long_path), "/api/v1/");
	memset(long_path + 8, 'p', 5000);
	long_path[5008] = '\0';
	snprintf(long_token, sizeof(long_token), "Authorization: Bearer ");
	memset(long_token + 22, 't', 5000);
	long_token[5022] = '\0';
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];
		const char *hdrs[] = { c->header, NULL };

		web(c->method, c->path, c->header ? hdrs : NULL, NULL, 0,
		    c->flags, &r);
		cr_expect_eq(r.status, c->want, "case %zu %s %.80s: %ld, "
		    "expected %ld: %.200s", i + 1, c->method, c->path, r.status,
		    c->want, r.body);
		if (c->code) {
			code = answer_code(&r);
			cr_expect_str_eq(code, c->code, "case %zu %s %.80s: %s",
			    i + 1, c->method, c->path, r.body);
			free(code);
		}
		/* No traversal ever reaches a file outside www/. */
		cr_expect(strstr(r.body, "root:") == NULL &&
		    strstr(r.body, "PREFIX") == NULL, "case %zu leaked a file",
		    i + 1);
		cr_expect(strcasestr(r.headers, "X-Injected") == NULL,
		    "case %zu: header injected", i + 1);
		resp_free(&r);
	}
	expect_nothing_stored();
}

/* ---- raw: bytes no client library would send ------------------------------ */

/* One request over TLS, the answer's status (or -1: closed without one). */
static long
raw_tls(const char *req, size_t len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sockaddr_in sa;
	char buf[4096];
	int fd = socket(AF_INET, SOCK_STREAM, 0), n, got = 0;
	long status = -1;
	SSL *ssl;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)W.stack.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	cr_assert_eq(SSL_connect(ssl), 1);
	SSL_write(ssl, req, (int)len);
	while (got < (int)sizeof(buf) - 1 &&
	    (n = SSL_read(ssl, buf + got, (int)sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) == 0)
		status = strtol(buf + 9, NULL, 10);
	cr_expect(strcasestr(buf, "\nX-Injected") == NULL, "header injected");
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return status;
}

Test(raw, malformed_http, .init = web_up, .fini = down, .timeout = 60)
{
	static const struct { const char *req; size_t len; long want; } cases[] = {
		/* A bare LF ends a header line (nginx): no smuggled header. */
		{ "POST /webhooks/plane HTTP/1.1\r\nHost: x\r\nContent-Type: "
		    "application/json\r\nX-Plane-Delivery: a\nX-Plane-Signature:"
		    " 00\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
		    0, 401 },
		{ "POST /webhooks/plane HTTP/1.1\r\nHost: x\r\nX-Plane-Delivery:"
		    " a\0b\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
		    89, 400 },
		{ "POST /webhooks/plane HTTP/1.1\r\nHost: x\r\nX-Plane-Signature:"
		    " 00\r\n folded\r\nContent-Length: 2\r\nConnection: close"
		    "\r\n\r\n{}", 0, 400 },
		{ "POST /webhooks/plane HTTP/1.1\r\nHost: x\r\nContent-Length: 2"
		    "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		    "2\r\n{}\r\n0\r\n\r\n", 0, 400 },
		{ "POST /webhooks/plane HTTP/1.1\r\nHost: x\r\nContent-Length: 2"
		    "\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}", 0,
		    400 },
		{ "POST /webhooks/plane HTTP/1.1\r\nHost: x\r\nContent-Length: -1"
		    "\r\nConnection: close\r\n\r\n{}", 0, 400 },
		{ "POST /webhooks/plane HTTP/1.1\r\nContent-Length: 2\r\n"
		    "Connection: close\r\n\r\n{}", 0, 400 },
		{ "GET /health HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
		    0, 505 },
		{ "GET  /health  HTTP/1.1 junk\r\nHost: x\r\nConnection: close"
		    "\r\n\r\n", 0, 400 },
		{ "G\x01T /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		    0, 400 },
		{ "GET /health HTTP/1.1\r\nHost: x\r\nX Plane Signature: 1\r\n"
		    "Connection: close\r\n\r\n", 0, 400 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].req);
		long st = raw_tls(cases[i].req, len);

		cr_expect_eq(st, cases[i].want, "raw case %zu: %ld, expected %ld",
		    i + 1, st, cases[i].want);
	}
	expect_nothing_stored();
}

/* ---- config: every setting invalid in turn --------------------------------- */

struct ccase {
	const char	*key;
	const char	*value;		/* NULL: unset */
	const char	*say;		/* in stderr: the variable at fault */
};

static void
config_up(void)
{
	memset(&W, 0, sizeof(W));
	cr_assert(h_mkdtemp(W.dir, sizeof(W.dir), "config"));
	snprintf(W.db, sizeof(W.db), "%s/never/state.db", W.dir);
	memset(&W.env, 0, sizeof(W.env));
	h_env_set(&W.env, "PATH", "/usr/bin:/bin");
	h_env_set(&W.env, "CALPLANEBOT_CONFIG", "/dev/null");
	h_env_set(&W.env, "PLANE_BASE_URL", "http://127.0.0.1:9");
	h_env_set(&W.env, "PLANE_API_TOKEN",
	    "plane_api_c0ffeec0ffeec0ffeec0ffeec0ffee99");
	h_env_set(&W.env, "PLANE_WORKSPACE_SLUG", "acme");
	h_env_set(&W.env, "CALDAV_URL", "http://127.0.0.1:9/");
	h_env_set(&W.env, "CALDAV_USERNAME", "alice");
	h_env_set(&W.env, "CALDAV_PASSWORD", "pw-c0ffee-Secret!");
	h_env_set(&W.env, "PLANE_WEBHOOK_SECRET", SECRET);
	h_env_set(&W.env, "CALPLANEBOT_ADMIN_TOKEN", ADMIN);
	h_env_set(&W.env, "CALPLANEBOT_DB", W.db);
}

static void config_down(void) { h_env_free(&W.env); }

static void
env_unset(struct h_env *env, const char *key)
{
	size_t i, klen = strlen(key);

	for (i = 0; i < env->n; i++)
		if (strncmp(env->vars[i], key, klen) == 0 &&
		    env->vars[i][klen] == '=') {
			free(env->vars[i]);
			env->vars[i] = env->vars[--env->n];
			env->vars[env->n] = NULL;
			return;
		}
}

static void
env_copy(struct h_env *dst, const struct h_env *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	for (i = 0; i < src->n; i++) {
		char *eq = strchr(src->vars[i], '=');

		*eq = '\0';
		h_env_set(dst, src->vars[i], eq + 1);
		*eq = '=';
	}
}

static void
expect_config_refused(const struct h_env *env, const char *say,
    const char *what)
{
	static const char *const secrets[] = {
	    "plane_api_c0ffeec0ffeec0ffeec0ffeec0ffee99", "pw-c0ffee-Secret!",
	    SECRET, ADMIN, "c0ffeec0", "c0ffee-Secret", NULL };
	struct h_run r;
	size_t i;

	h_run_sync(env, NULL, &r);
	cr_expect_eq(r.status, 2, "%s: exit %d: %s", what, r.status, r.err);
	cr_expect(strstr(r.err, say) != NULL, "%s: '%s' not named: %s", what,
	    say, r.err);
	for (i = 0; secrets[i]; i++)
		cr_expect(strstr(r.err, secrets[i]) == NULL &&
		    strstr(r.out, secrets[i]) == NULL, "%s: a secret printed: %s",
		    what, r.err);
	cr_expect(!file_exists(W.db), "%s: the store was created", what);
	h_run_free(&r);
}

Test(config, every_setting_invalid_in_turn, .init = config_up,
    .fini = config_down, .timeout = 60)
{
	static char long_slug[1100], long_url[5000];
	struct ccase cases[] = {
		{ "PLANE_BASE_URL", "ftp://plane.example.com", "PLANE_BASE_URL" },
		{ "PLANE_BASE_URL", "https://u:p@plane.example.com",
		    "PLANE_BASE_URL" },
		{ "PLANE_BASE_URL", "https://plane.example.com/?next=evil",
		    "PLANE_BASE_URL" },
		{ "PLANE_BASE_URL", "https://plane.example.com/#x",
		    "PLANE_BASE_URL" },
		{ "PLANE_BASE_URL", "not a url", "PLANE_BASE_URL" },
		{ "PLANE_BASE_URL", "https://plane.exa mple.com",
		    "PLANE_BASE_URL" },
		{ "PLANE_BASE_URL", long_url, "PLANE_BASE_URL" },
		{ "PLANE_BASE_URL", NULL, "PLANE_BASE_URL" },
		{ "PLANE_API_TOKEN", NULL, "PLANE_API_TOKEN" },
		{ "PLANE_API_TOKEN", "plane_api_x\r\nX-Evil: 1",
		    "PLANE_API_TOKEN" },
		{ "PLANE_WORKSPACE_SLUG", "../etc", "PLANE_WORKSPACE_SLUG" },
		{ "PLANE_WORKSPACE_SLUG", "a/b", "PLANE_WORKSPACE_SLUG" },
		{ "PLANE_WORKSPACE_SLUG", "acme?x=1", "PLANE_WORKSPACE_SLUG" },
		{ "PLANE_WORKSPACE_SLUG", long_slug, "PLANE_WORKSPACE_SLUG" },
		{ "PLANE_WEB_URL", "javascript:alert(1)", "PLANE_WEB_URL" },
		{ "PLANE_WEBHOOK_SECRET", "plane_wh_x\nY", "PLANE_WEBHOOK_SECRET" },
		{ "CALDAV_URL", "file:///etc/passwd", "CALDAV_URL" },
		{ "CALDAV_URL", "http://alice:pw@dav.example.com/", "CALDAV_URL" },
		{ "CALDAV_URL", NULL, "CALDAV_URL" },
		{ "CALDAV_USERNAME", "ali:ce", "CALDAV_USERNAME" },
		{ "CALDAV_USERNAME", NULL, "CALDAV_USERNAME" },
		{ "CALDAV_AUTH_TYPE", "kerberos", "CALDAV_AUTH_TYPE" },
		{ "CALDAV_AUTH_TYPE", "basic\n", "CALDAV_AUTH_TYPE" },
		{ "CALPLANEBOT_DB", long_url, "CALPLANEBOT_DB" },
		{ "CALENDAR_NAME_TEMPLATE", "Plane", "CALENDAR_NAME_TEMPLATE" },
		{ "SYNC_INTERVAL_SECONDS", "5", "SYNC_INTERVAL_SECONDS" },
		{ "SYNC_INTERVAL_SECONDS", "86401", "SYNC_INTERVAL_SECONDS" },
		{ "SYNC_INTERVAL_SECONDS", "1e3", "SYNC_INTERVAL_SECONDS" },
		{ "SYNC_INTERVAL_SECONDS", "99999999999999999999999",
		    "SYNC_INTERVAL_SECONDS" },
		{ "SYNC_INTERVAL_SECONDS", "0x20", "SYNC_INTERVAL_SECONDS" },
		{ "LOG_LEVEL", "TRACE", "LOG_LEVEL" },
		{ "CALPLANEBOT_HTTP_TIMEOUT", "0", "CALPLANEBOT_HTTP_TIMEOUT" },
		{ "CALPLANEBOT_HTTP_TIMEOUT", "-5", "CALPLANEBOT_HTTP_TIMEOUT" },
		{ "CALPLANEBOT_CONNECT_TIMEOUT", "601",
		    "CALPLANEBOT_CONNECT_TIMEOUT" },
		{ "CALPLANEBOT_RETRY_ATTEMPTS", "0", "CALPLANEBOT_RETRY_ATTEMPTS" },
		{ "CALPLANEBOT_RETRY_ATTEMPTS", "11",
		    "CALPLANEBOT_RETRY_ATTEMPTS" },
		{ "CALPLANEBOT_RETRY_MIN_MS", "-1", "CALPLANEBOT_RETRY_MIN_MS" },
		{ "CALPLANEBOT_RETRY_MAX_MS", "5", "CALPLANEBOT_RETRY_MAX_MS" },
		{ "CALPLANEBOT_RATE_LIMIT_MAX_WAIT", "3601",
		    "CALPLANEBOT_RATE_LIMIT_MAX_WAIT" },
		{ "CALPLANEBOT_TLS_VERIFY", "maybe", "CALPLANEBOT_TLS_VERIFY" },
		{ "CALPLANEBOT_DISCOVERY_TTL", "-1", "CALPLANEBOT_DISCOVERY_TTL" },
		{ "CALPLANEBOT_PAGE_SIZE", "1001", "CALPLANEBOT_PAGE_SIZE" },
		{ "CALPLANEBOT_PAGE_SIZE", "0", "CALPLANEBOT_PAGE_SIZE" },
		{ "CALPLANEBOT_MAX_ATTEMPTS", "0", "CALPLANEBOT_MAX_ATTEMPTS" },
		{ "ALLOW_UNSIGNED_WEBHOOKS", "perhaps", "ALLOW_UNSIGNED_WEBHOOKS" },
		{ "CALPLANEBOT_CONFIG", "/nonexistent/calplanebot.env",
		    "CALPLANEBOT_CONFIG" },
		{ "CALPLANEBOT_CONFIG", "/tmp", "CALPLANEBOT_CONFIG" },
	};
	struct h_env env;
	size_t i;

	memset(long_slug, 'a', 1000);
	snprintf(long_url, sizeof(long_url), "https://plane.example.com/");
	memset(long_url + 26, 'p', 4900);
	/* RETRY_MAX below RETRY_MIN: the pair is what is wrong. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[200];

		env_copy(&env, &W.env);
		if (cases[i].value == NULL)
			env_unset(&env, cases[i].key);
		else
			h_env_set(&env, cases[i].key, cases[i].value);
		if (strcmp(cases[i].key, "CALDAV_USERNAME") == 0 &&
		    cases[i].value == NULL)
			h_env_set(&env, "CALDAV_PASSWORD", "pw-c0ffee-Secret!");
		snprintf(what, sizeof(what), "case %zu %s=%.40s", i + 1,
		    cases[i].key, cases[i].value ? cases[i].value : "(unset)");
		expect_config_refused(&env, cases[i].say, what);
		h_env_free(&env);
	}
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f);
	fwrite(data, 1, len, f);
	fclose(f);
}

Test(config, hostile_dotenv_files, .init = config_up, .fini = config_down,
    .timeout = 60)
{
	static const struct { const char *text; size_t len; const char *say; }
	    files[] = {
		{ "PLANE_WORKSPACE_SLUG=acme\nthis is not a setting\n", 0, ":2" },
		{ "PLANE_WORKSPACE_SLUG=\"acme\n", 0, ":1" },
		{ "PLANE_WORKSPACE_SLUG='acme\n", 0, ":1" },
		{ "PLANE_WORKSPACE_SLUG=acme\n\0\0\0GARBAGE=1\n", 40, "" },
		{ "=value\n", 0, ":1" },
		{ "1ABC=value\n", 0, ":1" },
		{ "PLANE_API_TOKEN=plane_api_dotenvsecret123\nbad line here\n", 0,
		    ":2" },
	};
	char path[700], *big;
	struct h_env env;
	struct h_run r;
	size_t i;

	snprintf(path, sizeof(path), "%s/calplanebot.env", W.dir);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char what[64];

		write_file(path, files[i].text, files[i].len ? files[i].len :
		    strlen(files[i].text));
		env_copy(&env, &W.env);
		h_env_set(&env, "CALPLANEBOT_CONFIG", path);
		env_unset(&env, "PLANE_WORKSPACE_SLUG");
		snprintf(what, sizeof(what), "dotenv case %zu", i + 1);
		expect_config_refused(&env, files[i].say[0] ? files[i].say :
		    "calplanebot.env", what);
		h_run_sync(&env, NULL, &r);
		cr_expect(strstr(r.err, "dotenvsecret") == NULL,
		    "a secret from the file printed: %s", r.err);
		h_run_free(&r);
		h_env_free(&env);
	}
	/* Over 1 MiB. */
	big = malloc(1100 * 1024);
	memset(big, '#', 1100 * 1024);
	write_file(path, big, 1100 * 1024);
	free(big);
	env_copy(&env, &W.env);
	h_env_set(&env, "CALPLANEBOT_CONFIG", path);
	expect_config_refused(&env, "CALPLANEBOT_CONFIG", "dotenv over 1 MiB");
	h_env_free(&env);
}

/* ---- hostile servers ------------------------------------------------------- */

static pid_t
start_py(const char *mode, const char *host, const char *upstream,
    const char *tag, char *url, size_t url_size, char *log, size_t log_size)
{
	char script[1024], portfile[700], *port = NULL;
	pid_t pid;
	int i, p = 0;

	snprintf(script, sizeof(script), "%s/tests/integration/hostile_server.py",
	    h_srcdir());
	snprintf(portfile, sizeof(portfile), "%s/%s.port", W.dir, tag);
	snprintf(log, log_size, "%s/%s.log", W.dir, tag);
	unlink(portfile);
	unlink(log);
	if ((pid = fork()) == 0) {
		int fd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fd, 0);
		dup2(fd, 1);
		execl("/usr/bin/python3", "python3", script, "--mode", mode,
		    "--host", host, "--upstream", upstream, "--evil",
		    X.evil_url[0] ? X.evil_url : "http://127.0.0.2:9",
		    "--port-file", portfile, "--log", log, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && p <= 0; i++) {
		if ((port = h_slurp(portfile, NULL)) != NULL) {
			p = atoi(port);
			free(port);
		}
		if (p <= 0)
			h_sleep_ms(25);
	}
	cr_assert_gt(p, 0, "hostile_server.py %s did not start", mode);
	snprintf(url, url_size, "http://%s:%d", host, p);
	return pid;
}

static void
stop_py(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

static void
hostile_up(void)
{
	servers_up();
	X.evil = start_py("record", "127.0.0.2", "", "evil", X.evil_url,
	    sizeof(X.evil_url), X.evil_log, sizeof(X.evil_log));
}

/* The other host heard nothing at all (so no credential either). */
static void
expect_evil_silent(const char *what)
{
	char *log = h_slurp(X.evil_log, NULL);

	cr_expect(log == NULL || log[0] == '\0',
	    "%s: a request went to the other host:\n%.600s", what, log);
	free(log);
}

struct scase {
	const char	*mode;
	int		 exit1, exit2;	/* accepted exit codes */
	const char	*say;		/* in stderr, or NULL */
	long		 max_ms;
};

/* Run one full sync through a hostile proxy of this mode; its result. */
static int
through_proxy(const struct scase *c, bool plane_side, struct h_run *r)
{
	struct h_env env;
	char db[800], upstream[600];
	long t0;

	snprintf(upstream, sizeof(upstream), "%s", plane_side ? W.sim.url :
	    W.dav.url);
	if (!plane_side) {
		/* The origin of Radicale's URL. */
		char *slash = strchr(upstream + 7, '/');

		if (slash)
			*slash = '\0';
	}
	if (truncate(X.evil_log, 0) != 0 && errno != ENOENT)
		cr_log_warn("cannot empty %s", X.evil_log);
	X.proxy = start_py(c->mode, "127.0.0.1", upstream, c->mode, X.proxy_url,
	    sizeof(X.proxy_url), X.proxy_log, sizeof(X.proxy_log));
	env_copy(&env, &W.env);
	snprintf(db, sizeof(db), "%s/%s.db", W.dir, c->mode);
	h_env_set(&env, "CALPLANEBOT_DB", db);
	if (plane_side)
		h_env_set(&env, "PLANE_BASE_URL", X.proxy_url);
	else {
		char u[200];

		snprintf(u, sizeof(u), "%s/", X.proxy_url);
		h_env_set(&env, "CALDAV_URL", u);
	}
	t0 = h_now_ms();
	h_run_sync(&env, NULL, r);
	cr_expect(r->status == c->exit1 || r->status == c->exit2,
	    "%s: exit %d, expected %d or %d\n%s", c->mode, r->status, c->exit1,
	    c->exit2, r->err);
	cr_expect_leq(h_now_ms() - t0, c->max_ms, "%s: took %ld ms", c->mode,
	    h_now_ms() - t0);
	if (c->say)
		cr_expect(strcasestr(r->err, c->say) != NULL,
		    "%s: '%s' not said: %.1500s", c->mode, c->say, r->err);
	h_env_free(&env);
	stop_py(&X.proxy);
	expect_evil_silent(c->mode);
	return r->status;
}

Test(plane_server, hostile_answers, .init = hostile_up, .fini = down,
    .timeout = 240)
{
	static const struct scase cases[] = {
		/* The project list itself is unusable: nothing is written. */
		{ "p_html", 1, 3, "JSON", 15000 },
		{ "p_garbage", 1, 3, "JSON", 15000 },
		{ "p_deep", 1, 3, "JSON", 15000 },
		{ "p_huge_length", 1, 3, "larger than", 15000 },
		{ "p_huge_stream", 1, 3, "larger than", 30000 },
		{ "p_redirect_other", 1, 2, "redirect", 15000 },
		{ "p_redirect_same", 1, 2, "redirect", 15000 },
		/* A page of issues is unusable: no deletions, others go on. */
		{ "p_results_object", 1, 1, "results", 15000 },
		{ "p_no_more_flag", 1, 1, "next_page_results", 15000 },
		{ "p_cursor_cycle", 1, 1, "cursor", 30000 },
		{ "p_bad_items", 1, 1, "could not be read", 15000 },
		{ "p_wrong_types", 1, 1, "could not be read", 15000 },
		{ "p_traversal", 1, 1, "could not be read", 15000 },
	};
	struct h_event *ev;
	struct h_run r;
	size_t i, n, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		through_proxy(&cases[i], true, &r);
		h_run_free(&r);
		if (i < 7)
			cr_expect_eq(event_count(), 0, "%s wrote events",
			    cases[i].mode);
	}
	/* Whatever was written is ours and well-formed: no path from a
	 * hostile id. */
	n = h_dav_events(&W.dav, &ev);
	for (j = 0; j < n; j++) {
		cr_expect(ev[j].uid && strncmp(ev[j].uid, "plane-issue-", 12) == 0 &&
		    strspn(ev[j].uid + 12, "0123456789abcdef-") == 36,
		    "odd event %s at %s", ev[j].uid, ev[j].href);
		cr_expect(strstr(ev[j].href, "..") == NULL, "%s", ev[j].href);
	}
	h_events_free(ev, n);
}

Test(caldav_server, hostile_answers, .init = hostile_up, .fini = down,
    .timeout = 240)
{
	static const struct scase discovery[] = {
		/* Redirects and hrefs to another host: never followed. */
		{ "c_propfind_redirect_other", 3, 1, NULL, 20000 },
		{ "c_principal_other", 2, 2, "another host", 20000 },
		{ "c_home_other", 2, 2, "another host", 20000 },
		/* Answers that are not what they claim. */
		{ "c_junk_207", 3, 1, "CalDAV", 20000 },
		{ "c_html_200", 3, 1, "CalDAV", 20000 },
		{ "c_xxe", 3, 1, NULL, 20000 },
		{ "c_laughs", 3, 1, NULL, 20000 },
	};
	static const struct scase writes[] = {
		/* Not followed: discovery starts at CALDAV_URL itself. */
		{ "c_wellknown_other", 0, 0, NULL, 20000 },
		{ "c_report_junk", 1, 3, NULL, 20000 },
		{ "c_put_207", 1, 1, "failed", 20000 },
		{ "c_huge_etag_header", 0, 1, NULL, 30000 },
		{ "c_huge_getetag", 0, 1, NULL, 30000 },
		{ "c_report_foreign", 0, 1, NULL, 30000 },
	};
	struct h_run r;
	char *log;
	size_t i;

	for (i = 0; i < sizeof(discovery) / sizeof(discovery[0]); i++) {
		through_proxy(&discovery[i], false, &r);
		h_run_free(&r);
		log = h_slurp(X.proxy_log, NULL);
		cr_expect(log == NULL || strstr(log, "root:") == NULL,
		    "%s: a local file was read into a request", discovery[i].mode);
		free(log);
		cr_expect_eq(event_count(), 0, "%s wrote events",
		    discovery[i].mode);
	}
	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		through_proxy(&writes[i], false, &r);
		h_run_free(&r);
		log = h_slurp(X.proxy_log, NULL);
		cr_expect(log == NULL || (strstr(log, "\"DELETE\"") == NULL &&
		    strstr(log, "/etc/") == NULL), "%s: deleted or touched "
		    "something not ours:\n%.800s", writes[i].mode, log);
		free(log);
	}
}
