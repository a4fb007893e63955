/*
 * test_secrets.c - the four secrets (Plane API token, CalDAV password,
 * webhook secret, admin token) never show: not in a log line at DEBUG,
 * not in an API answer, not on the status page, not in an error message,
 * even when the servers fail or echo a secret back; and TLS certificates
 * are verified unless CALPLANEBOT_TLS_VERIFY=false says otherwise.
 *
 * The whole product runs: Radicale, the Plane simulator, nginx over TLS
 * with the spawn-fcgi pool, calplanebot-sync.  For TLS a second nginx
 * serves Radicale and the simulator over https with a self-signed
 * certificate.  Every server is stopped in .fini.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "harness.h"

#define WEB_1		"7bcf0520-cf71-4a35-8505-4208d97e0be1"
#define WEB_2		"58df768a-3c97-41ce-abca-8811ed211296"
#define SECRET		"plane_wh_5ec7e75ec7e75ec7e75ec7e75ec7e7ff"
#define ADMIN		"adm-5ec7e7-a11ce-b0b-c4r01-d4ve-e11e"

static struct h_world W;

/* What this file adds to W. */
static struct {
	char		 tls_dir[700];	/* the https nginx, when started */
	/* Everything the product said, to search for secrets at the end. */
	char		*said;
	size_t		 said_len;
	int		 pieces;
} X;

static void
up(void)
{
	memset(&X, 0, sizeof(X));
	cr_assert(h_world_start(&W, "secrets", true, "--rate-limit 0", SECRET,
	    ADMIN), "%s", W.why);
	h_env_set(&W.env, "LOG_LEVEL", "DEBUG");
	h_env_set(&W.env, "CALPLANEBOT_RETRY_ATTEMPTS", "1");
	h_env_set(&W.env, "CALPLANEBOT_MAX_ATTEMPTS", "1");
	h_env_set(&W.env, "CALPLANEBOT_CONNECT_TIMEOUT", "2");
	h_env_set(&W.env, "CALPLANEBOT_HTTP_TIMEOUT", "5");
}

static void
tls_stop(void)
{
	char path[800], *pid;

	if (X.tls_dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/nginx.pid", X.tls_dir);
	if ((pid = h_slurp(path, NULL)) != NULL) {
		pid_t p = (pid_t)strtol(pid, NULL, 10);
		long end = h_now_ms() + 5000;

		if (p > 0) {
			kill(p, SIGQUIT);
			while (kill(p, 0) == 0 && h_now_ms() < end)
				h_sleep_ms(50);
			if (kill(p, 0) == 0)
				kill(p, SIGKILL);
		}
		free(pid);
	}
	X.tls_dir[0] = '\0';
}

static void
down(void)
{
	tls_stop();
	h_world_stop(&W);
	free(X.said);
	X.said = NULL;
}

/* Keep what the product said, labelled, for the final search. */
static void
keep(const char *label, const char *text)
{
	size_t l = strlen(label), t = text ? strlen(text) : 0;

	X.said = realloc(X.said, X.said_len + l + t + 8);
	cr_assert_not_null(X.said);
	X.said_len += (size_t)sprintf(X.said + X.said_len, "\n@@%s\n", label);
	if (t)
		memcpy(X.said + X.said_len, text, t);
	X.said_len += t;
	X.said[X.said_len] = '\0';
	X.pieces++;
}

static int
run(const char *command, const char *label)
{
	const char *args[] = { command, NULL };
	struct h_run r;
	char l[128];
	int st;

	h_run_sync(&W.env, command ? args : NULL, &r);
	snprintf(l, sizeof(l), "%s stdout", label);
	keep(l, r.out);
	snprintf(l, sizeof(l), "%s stderr", label);
	keep(l, r.err);
	st = r.status;
	h_run_free(&r);
	return st;
}

static long
fetch(const char *method, const char *path, const char *header,
    const char *body, const char *label)
{
	const char *hdrs[] = { header, NULL };
	struct h_http h;
	long st;

	st = h_https(&W.stack, method, path, header ? hdrs : NULL, body,
	    body ? strlen(body) : 0, &h);
	keep(label, h.headers);
	keep(label, h.body);
	h_http_free(&h);
	return st;
}

static long
hook(const char *body, const char *sig, const char *delivery,
    const char *label)
{
	char s[120], d[120];
	const char *hdrs[] = { "Content-Type: application/json", s, d, NULL };
	struct h_http h;
	long st;

	snprintf(s, sizeof(s), "X-Plane-Signature: %s", sig);
	snprintf(d, sizeof(d), "X-Plane-Delivery: %s", delivery);
	st = h_https(&W.stack, "POST", "/webhooks/plane", hdrs, body,
	    strlen(body), &h);
	keep(label, h.headers);
	keep(label, h.body);
	h_http_free(&h);
	return st;
}

/* How many dead letters the API lists (the answer is kept). */
static long
dead_total(void)
{
	const char *hdrs[] = { "Authorization: Bearer " ADMIN, NULL };
	struct h_http h;
	cJSON *doc;
	long n = -1;

	h_https(&W.stack, "GET", "/api/v1/dead-letters", hdrs, NULL, 0, &h);
	keep("dead letters", h.body);
	if ((doc = cJSON_Parse(h.body)) != NULL) {
		cJSON *t = cJSON_GetObjectItem(doc, "total");

		n = cJSON_IsNumber(t) ? (long)t->valuedouble : -1;
		cJSON_Delete(doc);
	}
	h_http_free(&h);
	return n;
}

static char *
payload(const char *issue)
{
	char path[256];
	long status = 0;
	cJSON *p;
	char *body;

	snprintf(path, sizeof(path), "/_sim/webhook_payload?event=issue"
	    "&action=updated&issue_id=%s&field=name", issue);
	p = h_sim_call(&W.sim, "GET", path, NULL, &status);
	cr_assert_eq(status, 200);
	body = strdup(cJSON_GetObjectItem(p, "body")->valuestring);
	cJSON_Delete(p);
	return body;
}

static void
sim_ok(const char *method, const char *path, const char *json)
{
	long status = 0;

	cJSON_Delete(h_sim_call(&W.sim, method, path, json, &status));
	cr_assert_eq(status, 200, "%s %s -> %ld", method, path, status);
}

static void
b64(const char *in, char *out, size_t size)
{
	unsigned char buf[512];
	int n = EVP_EncodeBlock(buf, (const unsigned char *)in, (int)strlen(in));

	snprintf(out, size, "%.*s", n, (const char *)buf);
}

/* No secret, no part of one, no Basic credentials anywhere. */
static void
expect_no_secret(void)
{
	const char *secrets[] = { W.sim.token, W.dav.pass, SECRET, ADMIN, NULL };
	char basic[300], frag[40], up_[300];
	size_t i, len;

	for (i = 0; secrets[i]; i++) {
		cr_expect(strstr(X.said, secrets[i]) == NULL,
		    "secret %zu shown:\n%.3000s", i,
		    strstr(X.said, secrets[i]) - 1500 > X.said ?
		    strstr(X.said, secrets[i]) - 1500 : X.said);
		/* Not even in part: any 12 characters of its second half. */
		len = strlen(secrets[i]);
		snprintf(frag, sizeof(frag), "%.12s", secrets[i] + len / 2);
		cr_expect(strstr(X.said, frag) == NULL, "part of secret %zu "
		    "(%s) shown", i, frag);
	}
	snprintf(up_, sizeof(up_), "%s:%s", W.dav.user, W.dav.pass);
	b64(up_, basic, sizeof(basic));
	cr_expect(strstr(X.said, basic) == NULL, "Basic credentials shown");
	cr_log_info("searched %d outputs, %zu bytes", X.pieces, X.said_len);
	{
		char path[700];
		FILE *f;

		/* Kept for a look when something was found. */
		snprintf(path, sizeof(path), "%s/said.txt", W.dir);
		if ((f = fopen(path, "w")) != NULL) {
			fwrite(X.said, 1, X.said_len, f);
			fclose(f);
		}
	}
}

Test(secrets, nowhere_in_logs_answers_pages_or_errors, .init = up,
    .fini = down, .timeout = 150)
{
	char *good, hex[65], log[800], *text, fault[512];
	static const char *const files[] = { "/", "/index.html", "/app.js",
	    "/style.css", "/favicon.svg", NULL };
	long end;
	size_t i;

	cr_assert(h_stack_start(&W.stack, &W.env, 2), "stack did not start");

	/* The sync's commands at DEBUG. */
	cr_expect_eq(run("check", "check"), 0);
	cr_expect_eq(run(NULL, "sync"), 0);
	cr_expect_eq(run("status", "status"), 0);

	/* Webhooks: good, badly signed, duplicate. */
	good = payload(WEB_1);
	h_hmac_hex(SECRET, good, strlen(good), hex);
	cr_expect_eq(hook(good, hex, "sec-1", "webhook good"), 202);
	cr_expect_eq(hook(good, hex, "sec-1", "webhook duplicate"), 202);
	cr_expect_eq(hook(good, "0000", "sec-2", "webhook bad sig"), 401);
	hex[5] = hex[5] == 'a' ? 'b' : 'a';
	cr_expect_eq(hook(good, hex, "sec-3", "webhook wrong sig"), 401);
	free(good);

	/* Admin routes: without, wrong, right token. */
	cr_expect_eq(fetch("GET", "/api/v1/dead-letters", NULL, NULL,
	    "admin none"), 401);
	cr_expect_eq(fetch("GET", "/api/v1/dead-letters", "Authorization: "
	    "Bearer " ADMIN "0", NULL, "admin wrong"), 401);
	cr_expect_eq(fetch("POST", "/api/v1/sync", "Authorization: Bearer "
	    "wrong", NULL, "admin sync wrong"), 401);

	/* Failures: CalDAV down while a webhook waits (a dead letter with
	 * its error), the full sync failing, Plane refusing the token. */
	cr_assert(h_dav_down(&W.dav));
	/* A real change, so the delivery needs CalDAV. */
	sim_ok("PATCH", "/_sim/issues/" WEB_2, "{\"name\":\"Changed while "
	    "CalDAV is down\"}");
	good = payload(WEB_2);
	h_hmac_hex(SECRET, good, strlen(good), hex);
	cr_expect_eq(hook(good, hex, "sec-4", "webhook during outage"), 202);
	free(good);
	end = h_now_ms() + 15000;
	do {
		run("drain", "drain outage");
		h_sleep_ms(200);
	} while (dead_total() == 0 && h_now_ms() < end);
	cr_expect_gt(dead_total(), 0, "the failed delivery is no dead letter");
	cr_expect_neq(run(NULL, "sync during outage"), 0);
	cr_expect_neq(run("check", "check during outage"), 0);
	cr_assert(h_dav_up(&W.dav));

	/* A server that echoes the credentials in its error (as a careless
	 * proxy might): Plane answers 400 with the key in "detail". */
	snprintf(fault, sizeof(fault), "{\"path_regex\":\"/projects/\","
	    "\"status\":400,\"times\":-1,\"body\":{\"detail\":\"bad key %s "
	    "for user with password %s\"}}", W.sim.token, W.dav.pass);
	sim_ok("POST", "/_sim/faults", fault);
	cr_expect_neq(run(NULL, "sync with echoing Plane"), 0);
	sim_ok("DELETE", "/_sim/faults", NULL);
	{
		char bad[120];

		snprintf(bad, sizeof(bad), "%s", W.sim.token);
		h_env_set(&W.env, "PLANE_API_TOKEN",
		    "plane_api_ffffffffffffffffffffffffffffffff");
		cr_expect_eq(run(NULL, "sync with a wrong token"), 2);
		h_env_set(&W.env, "PLANE_API_TOKEN", bad);
		h_env_set(&W.env, "CALDAV_PASSWORD", "not-the-password");
		cr_expect_neq(run(NULL, "sync with a wrong password"), 0);
		h_env_set(&W.env, "CALDAV_PASSWORD", W.dav.pass);
	}

	/* What the operator and the world can read. */
	cr_expect_eq(fetch("GET", "/health", NULL, NULL, "health"), 200);
	cr_expect_eq(fetch("GET", "/api/v1/health", NULL, NULL, "api health"),
	    200);
	cr_expect_eq(fetch("GET", "/api/v1/status", NULL, NULL, "api status"),
	    200);
	cr_expect_eq(fetch("GET", "/api/v1/metrics", NULL, NULL, "metrics"),
	    200);
	cr_expect_eq(fetch("GET", "/api/v1/dead-letters", "Authorization: "
	    "Bearer " ADMIN, NULL, "dead letters"), 200);
	for (i = 0; files[i]; i++)
		cr_expect_eq(fetch("GET", files[i], NULL, NULL, files[i]), 200,
		    "%s", files[i]);
	cr_expect_eq(run("status", "status at the end"), 0);

	/* Every log the stack wrote. */
	{
		static const char *const logs[] = { "fcgi.log", "sync.log",
		    "nginx-error.log", "nginx-access.log", "check.out",
		    "spawn-fcgi.out", NULL };

		for (i = 0; logs[i]; i++) {
			snprintf(log, sizeof(log), "%s/logs/%s", W.stack.dir,
			    logs[i]);
			text = h_slurp(log, NULL);
			keep(logs[i], text);
			free(text);
		}
	}
	/* The errors really happened. */
	cr_expect(strstr(X.said, "bad key") != NULL ||
	    strstr(X.said, "400") != NULL, "the echoing Plane was not seen");
	expect_no_secret();
}

/* ---- TLS ------------------------------------------------------------------ */

/*
 * nginx serving Radicale and the simulator over https with a fresh
 * self-signed certificate; the two https ports.
 */
static void
tls_start(int *dav_port, int *plane_port)
{
	char conf[1000], cmd[3000], tmp[800], *text;
	int dav_upstream = -1, attempt;
	const char *p = strstr(W.dav.url, "://");
	FILE *f;

	snprintf(X.tls_dir, sizeof(X.tls_dir), "%s/tls", W.dir);
	mkdir(X.tls_dir, 0711);
	snprintf(tmp, sizeof(tmp), "%s/tmp", X.tls_dir);
	mkdir(tmp, 0777);
	chmod(tmp, 0777);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=127.0.0.1' "
	    "-addext 'subjectAltName=IP:127.0.0.1' -keyout '%s/key.pem' "
	    "-out '%s/cert.pem' >/dev/null 2>&1", X.tls_dir, X.tls_dir);
	cr_assert_eq(system(cmd), 0, "openssl failed");
	p = p ? strchr(p + 3, ':') : NULL;
	dav_upstream = p ? atoi(p + 1) : -1;
	cr_assert_gt(dav_upstream, 0);
	for (attempt = 0; attempt < 3; attempt++) {
		*dav_port = h_free_port();
		*plane_port = h_free_port();
		snprintf(conf, sizeof(conf), "%s/nginx.conf", X.tls_dir);
		f = fopen(conf, "w");
		cr_assert_not_null(f);
		fprintf(f, "worker_processes 1;\npid %s/nginx.pid;\n"
		    "error_log %s/error.log warn;\nevents { worker_connections 64; }\n"
		    "http {\n access_log off;\n client_body_temp_path %s/body;\n"
		    " proxy_temp_path %s/proxy;\n fastcgi_temp_path %s/fcgi;\n"
		    " uwsgi_temp_path %s/uwsgi;\n scgi_temp_path %s/scgi;\n"
		    " client_max_body_size 10m;\n"
		    " ssl_certificate %s/cert.pem;\n ssl_certificate_key %s/key.pem;\n"
		    " server { listen 127.0.0.1:%d ssl; location / {"
		    " proxy_pass http://127.0.0.1:%d; proxy_set_header Host $http_host; } }\n"
		    " server { listen 127.0.0.1:%d ssl; location / {"
		    " proxy_pass http://127.0.0.1:%d; proxy_set_header Host $http_host; } }\n"
		    "}\n", X.tls_dir, X.tls_dir, tmp, tmp, tmp, tmp, tmp,
		    X.tls_dir, X.tls_dir, *dav_port, dav_upstream, *plane_port,
		    W.sim.port);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "nginx -p '%s' -c '%s' -e '%s/error.log' "
		    ">/dev/null 2>&1", X.tls_dir, conf, X.tls_dir);
		if (system(cmd) == 0)
			break;
	}
	cr_assert_lt(attempt, 3, "the https nginx did not start");
	snprintf(cmd, sizeof(cmd), "%s/nginx.pid", X.tls_dir);
	for (attempt = 0; attempt < 100; attempt++) {
		if ((text = h_slurp(cmd, NULL)) != NULL) {
			free(text);
			break;
		}
		h_sleep_ms(20);
	}
}

Test(tls, self_signed_refused_unless_verification_is_off, .init = up,
    .fini = down, .timeout = 90)
{
	char url[128];
	struct h_run r;
	int dav_port, plane_port;

	h_env_set(&W.env, "LOG_LEVEL", "INFO");
	tls_start(&dav_port, &plane_port);

	/* CalDAV over https, self-signed: refused with a clear TLS error. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", dav_port);
	h_env_set(&W.env, "CALDAV_URL", url);
	h_run_sync(&W.env, NULL, &r);
	cr_expect_eq(r.status, 3, "exit %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "certificate") != NULL, "no TLS reason: %s",
	    r.err);
	h_run_free(&r);
	cr_expect_eq(h_dav_plane_calendars(&W.dav), 0);

	/* Plane over https, self-signed: refused too. */
	h_env_set(&W.env, "CALDAV_URL", W.dav.url);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", plane_port);
	h_env_set(&W.env, "PLANE_BASE_URL", url);
	h_run_sync(&W.env, NULL, &r);
	cr_expect_eq(r.status, 3, "exit %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "certificate") != NULL, "no TLS reason: %s",
	    r.err);
	cr_expect(strstr(r.err, "Plane") != NULL, "which service? %s", r.err);
	h_run_free(&r);

	/* The operator turns verification off, explicitly: it works. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", dav_port);
	h_env_set(&W.env, "CALDAV_URL", url);
	h_env_set(&W.env, "CALPLANEBOT_TLS_VERIFY", "false");
	h_run_sync(&W.env, NULL, &r);
	cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "created=11") != NULL, "%s", r.out);
	h_run_free(&r);

	/* And back on (the default spelled out): refused again. */
	h_env_set(&W.env, "CALPLANEBOT_TLS_VERIFY", "true");
	h_run_sync(&W.env, NULL, &r);
	cr_expect_eq(r.status, 3, "exit %d: %s", r.status, r.err);
	h_run_free(&r);
}
