/*
 * noop_fcgi.c - the benchmarks' baseline responder: the least a libfcgi
 * responder can do for a request, in the same pool set-up as
 * calplanebot-fcgi (spawn-fcgi, the same socket, the same nginx site).
 *
 * Per request it does what any responder must: accept, read the whole
 * body (so nginx's upload costs the same), and write a small JSON answer
 * of about the size of the real one (202 for a POST, 200 otherwise).  No
 * parsing, no signature, no store, no drain.  The gap between this and
 * calplanebot-fcgi is what our own code costs.
 *
 * It takes calplanebot-fcgi's command line (--check, --log FILE,
 * --sync-log FILE), so nginx/run.sh starts it unchanged when BINDIR points
 * at a directory where it is installed as "calplanebot-fcgi".  SIGTERM
 * stops it after the request in hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NO_FCGI_DEFINES
#include <fcgiapp.h>

static volatile sig_atomic_t noop_stop;

static void
noop_on_stop(int sig)
{
	int saved = errno, fd;

	(void)sig;
	noop_stop = 1;
	FCGX_ShutdownPending();
	/* As calplanebot-fcgi does: make a pending accept() fail at once. */
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) > 0) {
		dup2(fd, 0);
		close(fd);
	}
	errno = saved;
}

/* Bodies of about the size of the real answers; the head as fcgi/ sends it. */
static const char noop_accepted[] =
    "{\"status\":\"queued\",\"delivery\":\"00000000-0000-0000-0000-000000000000\","
    "\"issue_id\":\"00000000-0000-0000-0000-000000000000\"}";
static const char noop_ok[] =
    "{\"status\":\"healthy\",\"timestamp\":\"2026-01-01T00:00:00Z\","
    "\"version\":\"noop\"}";

static void
noop_answer(FCGX_Request *fr, int status, const char *reason,
    const char *body, size_t len)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head), "Status: %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n\r\n", status, reason, len);
	if (n <= 0 || (size_t)n >= sizeof(head))
		return;
	FCGX_PutStr(head, n, fr->out);
	FCGX_PutStr(body, (int)len, fr->out);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	FCGX_Request fr;
	const char *method;
	char buf[16384];
	int i, rc;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--check") == 0) {
			printf("noop_fcgi: nothing to check\n");
			return 0;
		}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = noop_on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0,
	    FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		return 1;
	while (!noop_stop) {
		if ((rc = FCGX_Accept_r(&fr)) < 0) {
			if (noop_stop)
				break;
			if (rc == -EINTR)
				continue;
			return 1;
		}
		while (FCGX_GetStr(buf, (int)sizeof(buf), fr.in) > 0)
			;
		method = FCGX_GetParam("REQUEST_METHOD", fr.envp);
		if (method != NULL && strcmp(method, "POST") == 0)
			noop_answer(&fr, 202, "Accepted", noop_accepted,
			    sizeof(noop_accepted) - 1);
		else
			noop_answer(&fr, 200, "OK", noop_ok, sizeof(noop_ok) - 1);
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	return 0;
}
