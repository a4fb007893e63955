/*
 * test_http.c - the transport: pure helpers (backoff, escaping, header
 * parsers) and real transfers against a small Python HTTP/1.1 server that
 * each live test starts on 127.0.0.1 (random port) and stops in teardown.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

/* ---- pure helpers ---------------------------------------------------- */

Test(http_pure, backoff_table_of_the_defaults)
{
	cr_assert_eq(http_backoff_ms(1, 4000, 10000), 4000);
	cr_assert_eq(http_backoff_ms(2, 4000, 10000), 8000);
	cr_assert_eq(http_backoff_ms(3, 4000, 10000), 10000);
	cr_assert_eq(http_backoff_ms(4, 4000, 10000), 10000);
}

Test(http_pure, backoff_doubles_and_never_overflows)
{
	cr_assert_eq(http_backoff_ms(1, 100, 100000), 100);
	cr_assert_eq(http_backoff_ms(5, 100, 100000), 1600);
	cr_assert_eq(http_backoff_ms(0, 100, 100000), 100);
	cr_assert_eq(http_backoff_ms(1000000, 100, 100000), 100000);
	cr_assert_eq(http_backoff_ms(80, 1, 0x7fffffffL), 0x7fffffffL);
	cr_assert_eq(http_backoff_ms(3, 0, 50), 0);
}

static void
assert_escape(const char *in, const char *want)
{
	char *got = http_escape(in);

	cr_assert_not_null(got);
	cr_assert_str_eq(got, want);
	free(got);
}

Test(http_pure, escape_keeps_only_unreserved)
{
	assert_escape("", "");
	assert_escape("AZaz09-._~", "AZaz09-._~");
	assert_escape("a b/c?d=e&f", "a%20b%2Fc%3Fd%3De%26f");
	assert_escape("1000:1:0", "1000%3A1%3A0");
	assert_escape("caf\xc3\xa9", "caf%C3%A9");
	assert_escape("%+@\x7f", "%25%2B%40%7F");
	cr_assert_null(http_escape(NULL));
}

Test(http_pure, parse_int_is_bounded_and_strict)
{
	int64_t v = 0;

	cr_assert(http_parse_int("42", 0, 100, &v));
	cr_assert_eq(v, 42);
	cr_assert(http_parse_int(" \t57 ", 0, 100, &v));
	cr_assert_eq(v, 57);
	cr_assert(http_parse_int("-3", -10, 10, &v));
	cr_assert_eq(v, -3);
	cr_assert(http_parse_int("100", 0, 100, &v));
	cr_assert_eq(v, 100);
	v = 7;
	cr_assert_not(http_parse_int("101", 0, 100, &v));
	cr_assert_not(http_parse_int("-3", 0, 100, &v));
	cr_assert_not(http_parse_int("+5", 0, 100, &v));
	cr_assert_not(http_parse_int("- 5", -10, 100, &v));
	cr_assert_not(http_parse_int("0x10", 0, 100, &v));
	cr_assert_not(http_parse_int("12a", 0, 100, &v));
	cr_assert_not(http_parse_int("1 2", 0, 100, &v));
	cr_assert_not(http_parse_int("", 0, 100, &v));
	cr_assert_not(http_parse_int("  ", 0, 100, &v));
	cr_assert_not(http_parse_int(NULL, 0, 100, &v));
	cr_assert_not(http_parse_int("9223372036854775808", 0, INT64_MAX, &v));
	cr_assert_eq(v, 7, "a failed parse must not write");
}

#define DATE_2015 INT64_C(1445412480)	/* Wed, 21 Oct 2015 07:28:00 GMT */

Test(http_pure, retry_after_delta_seconds)
{
	cr_assert_eq(http_parse_retry_after("120", 0), 120);
	cr_assert_eq(http_parse_retry_after(" 1 ", 0), 1);
	cr_assert_eq(http_parse_retry_after("0", 0), 0);
	cr_assert_eq(http_parse_retry_after("86400", 0), 86400);
	cr_assert_eq(http_parse_retry_after("86401", 0), HTTP_RETRY_AFTER_MAX);
	cr_assert_eq(http_parse_retry_after("99999999999999999999999", 0),
	    HTTP_RETRY_AFTER_MAX);
}

Test(http_pure, retry_after_rejects_garbage)
{
	cr_assert_eq(http_parse_retry_after(NULL, 0), -1);
	cr_assert_eq(http_parse_retry_after("", 0), -1);
	cr_assert_eq(http_parse_retry_after("-1", 0), -1);
	cr_assert_eq(http_parse_retry_after("1.5", 0), -1);
	cr_assert_eq(http_parse_retry_after("12abc", 0), -1);
	cr_assert_eq(http_parse_retry_after("soon", 0), -1);
}

Test(http_pure, retry_after_http_dates)
{
	/* The three forms of RFC 9110 5.6.7. */
	cr_assert_eq(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
	    DATE_2015 - 30), 30);
	cr_assert_eq(http_parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT",
	    DATE_2015 - 5), 5);
	cr_assert_eq(http_parse_retry_after("Wed Oct 21 07:28:00 2015",
	    DATE_2015 - 2), 2);
	/* Past dates mean "now"; far futures are clamped. */
	cr_assert_eq(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
	    DATE_2015 + 100), 0);
	cr_assert_eq(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
	    DATE_2015 - 10 * 86400), HTTP_RETRY_AFTER_MAX);
}

/* ---- a live server --------------------------------------------------- */

static const char server_py[] =
"import http.server, json, sys, time\n"
"counts = {}\n"
"class H(http.server.BaseHTTPRequestHandler):\n"
"    protocol_version = 'HTTP/1.1'\n"
"    def log_message(self, *a): pass\n"
"    def send(self, code, body=b'', headers=()):\n"
"        self.send_response(code)\n"
"        for k, v in headers: self.send_header(k, v)\n"
"        self.send_header('Content-Length', str(len(body)))\n"
"        self.end_headers()\n"
"        if self.command != 'HEAD': self.wfile.write(body)\n"
"    def any(self):\n"
"        n = int(self.headers.get('Content-Length') or 0)\n"
"        body = self.rfile.read(n) if n else b''\n"
"        p = self.path\n"
"        c = counts[p] = counts.get(p, 0) + 1\n"
"        if p == '/flaky':\n"
"            if c <= 2: return self.send(503, b'busy')\n"
"            return self.send(200, b'ok after %d' % c)\n"
"        if p == '/down': return self.send(503, b'down')\n"
"        if p == '/limited':\n"
"            if c == 1: return self.send(429, b'slow', [('Retry-After', '1')])\n"
"            return self.send(200, b'ok')\n"
"        if p == '/always429': return self.send(429, b'no', [('Retry-After', '0')])\n"
"        if p == '/big': return self.send(200, b'x' * 5000)\n"
"        if p == '/chunked':\n"
"            self.send_response(200)\n"
"            self.send_header('Transfer-Encoding', 'chunked')\n"
"            self.end_headers()\n"
"            for _ in range(5):\n"
"                self.wfile.write(b'3e8\\r\\n' + b'y' * 1000 + b'\\r\\n')\n"
"            self.wfile.write(b'0\\r\\n\\r\\n')\n"
"            return\n"
"        if p == '/redirect': return self.send(302, b'moved', [('Location', '/target')])\n"
"        if p.startswith('/count/'):\n"
"            return self.send(200, str(counts.get(p[6:], 0)).encode())\n"
"        if p == '/headers':\n"
"            return self.send(200, b'{}', [('etag', '\"abc-1\"'),\n"
"                ('CONTENT-TYPE', 'text/calendar; charset=utf-8'),\n"
"                ('x-ratelimit-remaining', '57'), ('X-RateLimit-Reset', '1900000000'),\n"
"                ('Retry-After', '7'), ('Location', '/there')])\n"
"        if p == '/badnumbers':\n"
"            return self.send(200, b'', [('X-RateLimit-Remaining', '5x'),\n"
"                ('X-RateLimit-Reset', '-4'), ('Retry-After', 'later')])\n"
"        if p == '/truncated':\n"
"            self.send_response(200)\n"
"            self.send_header('Content-Length', '100')\n"
"            self.end_headers()\n"
"            self.wfile.write(b'short')\n"
"            self.wfile.flush()\n"
"            self.close_connection = True\n"
"            return\n"
"        if p == '/slow':\n"
"            time.sleep(3)\n"
"            return self.send(200, b'late')\n"
"        if p == '/echo':\n"
"            out = {'method': self.command, 'body': body.decode(),\n"
"                   'headers': {k.lower(): v for k, v in self.headers.items()}}\n"
"            return self.send(200, json.dumps(out, sort_keys=True).encode(),\n"
"                [('Content-Type', 'application/json')])\n"
"        self.send(404, b'nope')\n"
"    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PROPFIND = any\n"
"srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
"srv.daemon_threads = True\n"
"print(srv.server_address[1], flush=True)\n"
"srv.serve_forever()\n";

static pid_t srv_pid = -1;
static char srv_base[64];
static struct http_client *client;

/* Read the port line the server prints, waiting at most 10 s. */
static long
srv_read_port(int fd)
{
	char line[32];
	size_t n = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t r;

	while (n < sizeof(line) - 1) {
		if (poll(&pfd, 1, 10000) != 1)
			return -1;
		if ((r = read(fd, line + n, 1)) != 1)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return strtol(line, NULL, 10);
}

static void
srv_start(void)
{
	struct http_client_opts opts = {
		.timeout_seconds = 10, .connect_timeout_seconds = 5,
		.tls_verify = true, .max_body_bytes = 4096,
	};
	char err[CPB_ERRMSG_MAX];
	int fds[2];
	long port;

	cr_assert_eq(pipe(fds), 0);
	srv_pid = fork();
	cr_assert_neq(srv_pid, -1);
	if (srv_pid == 0) {
		/* Dies with the test even if the test crashes before teardown. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/usr/bin/python3", "python3", "-c", server_py, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	port = srv_read_port(fds[0]);
	close(fds[0]);
	cr_assert_gt(port, 0, "test server did not start");
	snprintf(srv_base, sizeof(srv_base), "http://127.0.0.1:%ld", port);
	cr_assert_eq(http_client_new(&client, &opts, err), CPB_OK, "%s", err);
}

static void
srv_stop(void)
{
	http_client_free(client);
	client = NULL;
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
		srv_pid = -1;
	}
}

static char *
url(const char *path)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s%s", srv_base, path);
	return buf;
}

static const struct http_retry_policy fast = {
	.attempts = 3, .min_ms = 10, .max_ms = 40, .max_wait_seconds = 5,
	.max_429 = 3,
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A port nothing listens on: bound, then closed. */
static int
closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* GET the server's count of requests to `path`, on a separate client. */
static long
srv_count(const char *path)
{
	char p[96];
	struct http_request req = { .method = "GET" };
	struct http_response resp;
	long n;

	snprintf(p, sizeof(p), "/count%s", path);
	req.url = url(p);
	cr_assert_eq(http_perform(client, &req, &resp, NULL), CPB_OK);
	n = strtol(resp.body, NULL, 10);
	http_response_free(&resp);
	return n;
}

TestSuite(http_live, .init = srv_start, .fini = srv_stop, .timeout = 30);

Test(http_live, get_reads_status_body_and_headers)
{
	struct http_request req = { .method = "GET", .url = url("/headers") };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_perform(client, &req, &resp, err), CPB_OK, "%s", err);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(resp.body, "{}");
	cr_assert_eq(resp.body_len, 2);
	cr_assert_str_eq(resp.etag, "\"abc-1\"");
	cr_assert_str_eq(resp.content_type, "text/calendar; charset=utf-8");
	cr_assert_str_eq(resp.location, "/there");
	cr_assert_eq(resp.retry_after_seconds, 7);
	cr_assert_eq(resp.ratelimit_remaining, 57);
	cr_assert_eq(resp.ratelimit_reset, INT64_C(1900000000));
	cr_assert_eq(http_request_count(client), 1);
	http_response_free(&resp);
}

Test(http_live, malformed_numeric_headers_count_as_absent)
{
	struct http_request req = { .method = "GET", .url = url("/badnumbers") };
	struct http_response resp;

	cr_assert_eq(http_perform(client, &req, &resp, NULL), CPB_OK);
	cr_assert_eq(resp.ratelimit_remaining, -1);
	cr_assert_eq(resp.ratelimit_reset, -1);
	cr_assert_eq(resp.retry_after_seconds, -1);
	cr_assert_null(resp.etag);
	cr_assert_str_eq(resp.body, "");
	http_response_free(&resp);
}

Test(http_live, put_sends_body_length_headers_and_basic_auth_up_front)
{
	static const char *const hdrs[] = {
		"Content-Type: text/calendar", "If-None-Match: *", NULL,
	};
	struct http_auth auth = { CPB_AUTH_BASIC, "user", "pass" };
	struct http_request req = {
		.method = "PUT", .url = url("/echo"), .headers = hdrs,
		.body = "BEGIN:VCALENDAR", .body_len = 15, .auth = &auth,
	};
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_perform(client, &req, &resp, err), CPB_OK, "%s", err);
	cr_assert_eq(resp.status, 200);
	cr_assert(strstr(resp.body, "\"method\": \"PUT\"") != NULL, "%s", resp.body);
	cr_assert(strstr(resp.body, "\"body\": \"BEGIN:VCALENDAR\"") != NULL);
	cr_assert(strstr(resp.body, "\"content-length\": \"15\"") != NULL);
	cr_assert(strstr(resp.body, "\"content-type\": \"text/calendar\"") != NULL);
	cr_assert(strstr(resp.body, "\"if-none-match\": \"*\"") != NULL);
	/* base64("user:pass"), on the first and only request. */
	cr_assert(strstr(resp.body,
	    "\"authorization\": \"Basic dXNlcjpwYXNz\"") != NULL, "%s", resp.body);
	cr_assert_null(strstr(resp.body, "expect"));
	cr_assert_null(strstr(resp.body, "transfer-encoding"));
	cr_assert_eq(http_request_count(client), 1);
	http_response_free(&resp);
}

Test(http_live, options_do_not_leak_into_the_next_request)
{
	static const char *const hdrs[] = { "X-Once: 1", NULL };
	struct http_auth auth = { CPB_AUTH_BASIC, "user", "pass" };
	struct http_request put = {
		.method = "PUT", .url = url("/echo"), .headers = hdrs,
		.body = "abc", .body_len = 3, .auth = &auth,
	};
	struct http_request get = { .method = "GET", .url = url("/echo") };
	struct http_response resp;

	cr_assert_eq(http_perform(client, &put, &resp, NULL), CPB_OK);
	http_response_free(&resp);
	cr_assert_eq(http_perform(client, &get, &resp, NULL), CPB_OK);
	cr_assert(strstr(resp.body, "\"method\": \"GET\"") != NULL, "%s", resp.body);
	cr_assert(strstr(resp.body, "\"body\": \"\"") != NULL);
	cr_assert_null(strstr(resp.body, "authorization"));
	cr_assert_null(strstr(resp.body, "x-once"));
	cr_assert_null(strstr(resp.body, "content-length"));
	http_response_free(&resp);
}

Test(http_live, empty_body_still_sends_content_length_and_no_form_type)
{
	struct http_request req = {
		.method = "PROPFIND", .url = url("/echo"), .body = "",
	};
	struct http_response resp;

	cr_assert_eq(http_perform(client, &req, &resp, NULL), CPB_OK);
	cr_assert(strstr(resp.body, "\"method\": \"PROPFIND\"") != NULL);
	cr_assert(strstr(resp.body, "\"content-length\": \"0\"") != NULL,
	    "%s", resp.body);
	cr_assert_null(strstr(resp.body, "x-www-form-urlencoded"));
	http_response_free(&resp);
}

Test(http_live, five_hundreds_are_retried_until_success)
{
	struct http_request req = { .method = "GET", .url = url("/flaky") };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_perform_retry(client, &req, &fast, &resp, err),
	    CPB_OK, "%s", err);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(resp.body, "ok after 3");
	cr_assert_eq(http_request_count(client), 3);
	http_response_free(&resp);
}

Test(http_live, five_hundreds_give_up_after_the_attempts)
{
	struct http_request req = { .method = "GET", .url = url("/down") };
	struct http_response resp;

	cr_assert_eq(http_perform_retry(client, &req, &fast, &resp, NULL), CPB_OK);
	cr_assert_eq(resp.status, 503);
	cr_assert_str_eq(resp.body, "down");
	cr_assert_eq(http_request_count(client), 3);
	http_response_free(&resp);
}

Test(http_live, too_many_requests_waits_retry_after_then_succeeds)
{
	struct http_request req = { .method = "GET", .url = url("/limited") };
	struct http_response resp;
	double t0 = now_s(), dt;

	cr_assert_eq(http_perform_retry(client, &req, &fast, &resp, NULL), CPB_OK);
	dt = now_s() - t0;
	cr_assert_eq(resp.status, 200);
	cr_assert_eq(http_request_count(client), 2);
	cr_assert(dt >= 0.95 && dt < 3.0, "waited %.3f s", dt);
	http_response_free(&resp);
}

Test(http_live, too_many_requests_is_returned_after_max_429)
{
	struct http_request req = { .method = "GET", .url = url("/always429") };
	struct http_response resp;

	cr_assert_eq(http_perform_retry(client, &req, &fast, &resp, NULL), CPB_OK);
	cr_assert_eq(resp.status, 429);
	cr_assert_eq(resp.retry_after_seconds, 0);
	/* 429s do not use up attempts: 1 + max_429 requests. */
	cr_assert_eq(http_request_count(client), 4);
	http_response_free(&resp);
}

/* A drainer with its own backoff: one request, no wait, the 429 back. */
Test(http_live, no_wait_policy_returns_the_first_429)
{
	struct http_retry_policy once = fast;
	struct http_request req = { .method = "GET", .url = url("/always429") };
	struct http_response resp;
	double t0;

	once.attempts = 1;
	once.max_wait_seconds = 0;
	t0 = now_s();
	cr_assert_eq(http_perform_retry(client, &req, &once, &resp, NULL),
	    CPB_OK);
	cr_assert_eq(resp.status, 429);
	cr_assert_eq(http_request_count(client), 1);
	cr_assert(now_s() - t0 < 0.5, "waited %.3f s", now_s() - t0);
	http_response_free(&resp);
}

Test(http_live, body_over_the_cap_is_too_large)
{
	struct http_request req = { .method = "GET", .url = url("/big") };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_perform(client, &req, &resp, err), CPB_ERR_TOO_LARGE);
	cr_assert(strstr(err, "4096") != NULL, "%s", err);
	http_response_free(&resp);
}

Test(http_live, chunked_body_over_the_cap_is_too_large)
{
	struct http_request req = { .method = "GET", .url = url("/chunked") };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	/* No Content-Length: the write callback has to stop it. */
	cr_assert_eq(http_perform(client, &req, &resp, err), CPB_ERR_TOO_LARGE,
	    "%s", err);
	http_response_free(&resp);
}

Test(http_live, connection_refused_is_network_and_retried)
{
	char u[96], err[CPB_ERRMSG_MAX];
	struct http_request req = { .method = "GET", .url = u };
	struct http_response resp;

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/x", closed_port());
	cr_assert_eq(http_perform_retry(client, &req, &fast, &resp, err),
	    CPB_ERR_NETWORK);
	cr_assert(strstr(err, "127.0.0.1") != NULL, "%s", err);
	cr_assert_eq(http_request_count(client), 3);
	http_response_free(&resp);
}

Test(http_live, errors_never_show_credentials)
{
	char u[96], err[CPB_ERRMSG_MAX];
	struct http_auth auth = { CPB_AUTH_BASIC, "bob", "s3cr3t-pw" };
	struct http_request req = { .method = "GET", .url = u, .auth = &auth };
	struct http_response resp;

	snprintf(u, sizeof(u), "http://alice:hunter2@127.0.0.1:%d/x",
	    closed_port());
	cr_assert_eq(http_perform(client, &req, &resp, err), CPB_ERR_NETWORK);
	cr_assert_null(strstr(err, "hunter2"), "%s", err);
	cr_assert_null(strstr(err, "alice"), "%s", err);
	cr_assert_null(strstr(err, "s3cr3t"), "%s", err);
	cr_assert(strstr(err, "http://127.0.0.1:") != NULL, "%s", err);
	http_response_free(&resp);
}

Test(http_live, truncated_transfer_is_network)
{
	struct http_request req = { .method = "GET", .url = url("/truncated") };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_perform(client, &req, &resp, err), CPB_ERR_NETWORK,
	    "%s", err);
	http_response_free(&resp);
}

Test(http_live, timeout_is_network)
{
	struct http_client_opts opts = { .timeout_seconds = 1, .tls_verify = true };
	struct http_client *quick;
	struct http_request req = { .method = "GET", .url = url("/slow") };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_client_new(&quick, &opts, err), CPB_OK);
	cr_assert_eq(http_perform(quick, &req, &resp, err), CPB_ERR_NETWORK);
	cr_assert(strstr(err, "imed out") != NULL, "%s", err);
	http_response_free(&resp);
	http_client_free(quick);
}

Test(http_live, redirects_are_not_followed)
{
	struct http_request req = { .method = "GET", .url = url("/redirect") };
	struct http_response resp;

	cr_assert_eq(http_perform_retry(client, &req, &fast, &resp, NULL), CPB_OK);
	cr_assert_eq(resp.status, 302);
	cr_assert_str_eq(resp.location, "/target");
	cr_assert_eq(http_request_count(client), 1);
	http_response_free(&resp);
	cr_assert_eq(srv_count("/target"), 0);
}

Test(http_live, other_schemes_are_refused)
{
	struct http_request req = { .method = "GET", .url = "file:///etc/passwd" };
	struct http_response resp;
	char err[CPB_ERRMSG_MAX];

	cr_assert_eq(http_perform(client, &req, &resp, err), CPB_ERR_INVALID);
	cr_assert_null(resp.body);
	http_response_free(&resp);
}

Test(http_live, bad_requests_are_invalid)
{
	struct http_request req = { .method = "PUT", .url = url("/echo"),
	    .body = NULL, .body_len = 3 };
	struct http_response resp;

	cr_assert_eq(http_perform(client, &req, &resp, NULL), CPB_ERR_INVALID);
	cr_assert_eq(http_request_count(client), 0);
	http_response_free(&resp);
}
