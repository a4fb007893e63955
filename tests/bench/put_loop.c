/*
 * put_loop.c - the benchmarks' client baseline: a plain libcurl loop over
 * a list of requests, with nothing of CalPlaneBot in it.
 *
 *   put_loop [-j JOBS] [-H 'Name: value']... MANIFEST
 *
 * MANIFEST has one request per line: METHOD, URL and BODYFILE separated
 * by tabs ("-" for no body).  Every body is read into memory before the
 * clock starts.  With -j 1 (the default) one easy handle is reused for
 * every request, so libcurl keeps the connection alive where the server
 * allows it; with -j N, N easy handles (one connection each) run in one
 * multi handle, each taking the next line when it is done.
 *
 * Headers, as calplanebot-sync sends them: an empty "Expect:" always;
 * PUT: "Content-Type: text/calendar; charset=utf-8" and "If-None-Match: *";
 * MKCALENDAR, PROPFIND, REPORT: "Content-Type: application/xml;
 * charset=utf-8"; REPORT and PROPFIND also "Depth: 1".  -H adds more.
 * Credentials (Basic, pre-emptive) come from BENCH_USER and BENCH_PASS in
 * the environment, never from the command line.
 *
 * Prints one JSON line: requests, seconds, statuses, transport errors.
 * Exit 0 when every request completed with a 2xx status, else 1.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define PL_MAX_JOBS	64
#define PL_MAX_HEADERS	16
#define PL_MAX_BODY	(16L * 1024 * 1024)
#define PL_STATUS_MAX	600

struct pl_req {
	char	*method;
	char	*url;
	char	*body;			/* NULL: none */
	long	 body_len;
};

struct pl_opts {
	long	 jobs;
	const char *headers[PL_MAX_HEADERS];
	int	 n_headers;
	const char *user;
	const char *pass;
};

struct pl_result {
	long	 status[PL_STATUS_MAX];
	long	 other_status;
	long	 errors;
	long	 done;
	char	 first_error[256];
};

static size_t
pl_discard(char *data, size_t size, size_t nmemb, void *userp)
{
	(void)data;
	(void)userp;
	return size * nmemb;
}

static double
pl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
pl_read_file(const char *path, long *len)
{
	FILE *f;
	char *buf = NULL;
	long n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > PL_MAX_BODY || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The whole manifest, bodies included; exits on any problem. */
static struct pl_req *
pl_load(const char *path, size_t *count)
{
	FILE *f;
	char *line = NULL, *method, *url, *file, *save;
	size_t cap = 0, n = 0, size = 0;
	struct pl_req *reqs = NULL, *grown;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "put_loop: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (getline(&line, &size, f) != -1) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		method = strtok_r(line, "\t", &save);
		url = strtok_r(NULL, "\t", &save);
		file = strtok_r(NULL, "\t", &save);
		if (method == NULL || url == NULL || file == NULL) {
			fprintf(stderr, "put_loop: %s: bad line %zu\n", path, n + 1);
			exit(2);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((grown = realloc(reqs, cap * sizeof(*reqs))) == NULL)
				exit(2);
			reqs = grown;
		}
		memset(&reqs[n], 0, sizeof(reqs[n]));
		reqs[n].method = strdup(method);
		reqs[n].url = strdup(url);
		if (reqs[n].method == NULL || reqs[n].url == NULL)
			exit(2);
		if (strcmp(file, "-") != 0 &&
		    (reqs[n].body = pl_read_file(file, &reqs[n].body_len)) == NULL) {
			fprintf(stderr, "put_loop: cannot read %s\n", file);
			exit(2);
		}
		n++;
	}
	free(line);
	fclose(f);
	*count = n;
	return reqs;
}

static struct curl_slist *
pl_headers(const struct pl_opts *o, const struct pl_req *r)
{
	struct curl_slist *h = NULL;
	int i;

	h = curl_slist_append(h, "Expect:");
	if (strcmp(r->method, "PUT") == 0) {
		h = curl_slist_append(h, "Content-Type: text/calendar; charset=utf-8");
		h = curl_slist_append(h, "If-None-Match: *");
	} else if (r->body != NULL)
		h = curl_slist_append(h, "Content-Type: application/xml; charset=utf-8");
	if (strcmp(r->method, "REPORT") == 0 || strcmp(r->method, "PROPFIND") == 0)
		h = curl_slist_append(h, "Depth: 1");
	for (i = 0; i < o->n_headers; i++)
		h = curl_slist_append(h, o->headers[i]);
	return h;
}

/* Set one request on a handle that may have carried another before. */
static void
pl_setup(CURL *c, const struct pl_opts *o, const struct pl_req *r,
    struct curl_slist *headers)
{
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "put_loop/1.0");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, pl_discard);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (o->user != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, o->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, o->pass ? o->pass : "");
	}
	if (r->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)r->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	} else {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
		    strcmp(r->method, "GET") == 0 ? NULL : r->method);
	}
}

static void
pl_count(CURL *c, CURLcode rc, struct pl_result *res, const struct pl_req *r)
{
	long status = 0;

	res->done++;
	if (rc != CURLE_OK) {
		res->errors++;
		if (res->first_error[0] == '\0')
			snprintf(res->first_error, sizeof(res->first_error),
			    "%s %s: %s", r->method, r->url, curl_easy_strerror(rc));
		return;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 0 && status < PL_STATUS_MAX)
		res->status[status]++;
	else
		res->other_status++;
	if ((status < 200 || status > 299) && res->first_error[0] == '\0')
		snprintf(res->first_error, sizeof(res->first_error),
		    "%s %s: status %ld", r->method, r->url, status);
}

/* The plain loop: one handle, one request after the other. */
static void
pl_run_serial(const struct pl_opts *o, struct pl_req *reqs, size_t n,
    struct pl_result *res)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h;
	CURLcode rc;
	size_t i;

	if (c == NULL)
		exit(2);
	for (i = 0; i < n; i++) {
		h = pl_headers(o, &reqs[i]);
		pl_setup(c, o, &reqs[i], h);
		rc = curl_easy_perform(c);
		pl_count(c, rc, res, &reqs[i]);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(h);
	}
	curl_easy_cleanup(c);
}

/* JOBS handles in one multi handle; each takes the next line when free. */
static void
pl_run_multi(const struct pl_opts *o, struct pl_req *reqs, size_t n,
    struct pl_result *res)
{
	CURLM *m = curl_multi_init();
	CURL *handles[PL_MAX_JOBS];
	struct curl_slist *hdrs[PL_MAX_JOBS];
	size_t which[PL_MAX_JOBS], next = 0;
	CURLMsg *msg;
	int running = 0, left, i, j;

	if (m == NULL)
		exit(2);
	for (i = 0; i < o->jobs; i++) {
		if ((handles[i] = curl_easy_init()) == NULL)
			exit(2);
		hdrs[i] = NULL;
		if (next < n) {
			which[i] = next;
			hdrs[i] = pl_headers(o, &reqs[next]);
			pl_setup(handles[i], o, &reqs[next], hdrs[i]);
			next++;
			curl_multi_add_handle(m, handles[i]);
		}
	}
	do {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			for (j = 0; j < o->jobs && handles[j] != msg->easy_handle; j++)
				;
			if (j == o->jobs)
				continue;
			pl_count(handles[j], msg->data.result, res, &reqs[which[j]]);
			curl_multi_remove_handle(m, handles[j]);
			curl_easy_setopt(handles[j], CURLOPT_HTTPHEADER, NULL);
			curl_slist_free_all(hdrs[j]);
			hdrs[j] = NULL;
			if (next < n) {
				which[j] = next;
				hdrs[j] = pl_headers(o, &reqs[next]);
				pl_setup(handles[j], o, &reqs[next], hdrs[j]);
				next++;
				curl_multi_add_handle(m, handles[j]);
				running++;
			}
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	} while (running > 0 || next < n);
	for (i = 0; i < o->jobs; i++) {
		curl_slist_free_all(hdrs[i]);
		curl_easy_cleanup(handles[i]);
	}
	curl_multi_cleanup(m);
}

int
main(int argc, char **argv)
{
	struct pl_opts o = { .jobs = 1 };
	struct pl_result res;
	struct pl_req *reqs;
	size_t n, i;
	double t0, secs;
	char *end;
	bool first = true, all_ok;
	int ch;

	while ((ch = getopt(argc, argv, "j:H:")) != -1) {
		switch (ch) {
		case 'j':
			errno = 0;
			o.jobs = strtol(optarg, &end, 10);
			if (errno || *end || o.jobs < 1 || o.jobs > PL_MAX_JOBS) {
				fprintf(stderr, "put_loop: -j wants 1..%d\n",
				    PL_MAX_JOBS);
				return 2;
			}
			break;
		case 'H':
			if (o.n_headers == PL_MAX_HEADERS)
				return 2;
			o.headers[o.n_headers++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: put_loop [-j JOBS] [-H header]... MANIFEST\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: put_loop [-j JOBS] [-H header]... MANIFEST\n");
		return 2;
	}
	o.user = getenv("BENCH_USER");
	o.pass = getenv("BENCH_PASS");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 2;
	reqs = pl_load(argv[optind], &n);
	memset(&res, 0, sizeof(res));

	t0 = pl_now();
	if (o.jobs == 1)
		pl_run_serial(&o, reqs, n, &res);
	else
		pl_run_multi(&o, reqs, n, &res);
	secs = pl_now() - t0;

	all_ok = res.errors == 0 && res.other_status == 0 && res.done == (long)n;
	printf("{\"requests\":%zu,\"jobs\":%ld,\"seconds\":%.6f,\"errors\":%ld,"
	    "\"status\":{", n, o.jobs, secs, res.errors);
	for (i = 0; i < PL_STATUS_MAX; i++) {
		if (res.status[i] == 0)
			continue;
		printf("%s\"%zu\":%ld", first ? "" : ",", i, res.status[i]);
		first = false;
		if (i < 200 || i > 299)
			all_ok = false;
	}
	printf("}}\n");
	if (res.first_error[0] != '\0')
		fprintf(stderr, "put_loop: first problem: %s\n", res.first_error);
	for (i = 0; i < n; i++) {
		free(reqs[i].method);
		free(reqs[i].url);
		free(reqs[i].body);
	}
	free(reqs);
	curl_global_cleanup();
	return all_ok ? 0 : 1;
}
