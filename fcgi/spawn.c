/*
 * spawn.c - see spawn.h.  Between fork and exec only async-signal-safe
 * calls are made: the responder has libcurl, SQLite and libfcgi state
 * that a forked child must not touch.
 */
#define _GNU_SOURCE		/* pipe2, close_range */
#include "spawn.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where in the child a step failed, for the message. */
enum spawn_stage {
	SPAWN_STARTED,			/* about to exec: carries the pid */
	SPAWN_FORK,
	SPAWN_LOG,
	SPAWN_EXEC,
};

struct spawn_msg {
	pid_t	 pid;
	int	 stage;
	int	 error;
};

/* Above stdio, so the dup2 onto 0-2 below cannot clobber the pipe. */
#define SPAWN_PIPE_FD_MIN	10
#define SPAWN_CLOSE_MAX		65536

static void
spawn_report(int fd, int stage, int error)
{
	struct spawn_msg m = { getpid(), stage, error };
	ssize_t n;

	/* Smaller than PIPE_BUF: one write, atomic. */
	do
		n = write(fd, &m, sizeof(m));
	while (n == -1 && errno == EINTR);
}

static void
spawn_close_from(int first, int keep)
{
	long max = sysconf(_SC_OPEN_MAX);
	int fd;

	if (keep > first &&
	    close_range((unsigned)first, (unsigned)keep - 1, 0) == 0 &&
	    close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9: close one by one, up to a sane bound. */
	if (max < 0 || max > SPAWN_CLOSE_MAX)
		max = SPAWN_CLOSE_MAX;
	for (fd = first; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

/* The grandchild: becomes the program.  Never returns. */
static void
spawn_exec(char *const argv[], const char *log_path, int wfd)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD,
	    SIGUSR1, SIGALRM };
	struct sigaction sa;
	sigset_t none;
	size_t i;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if ((fd = open("/dev/null", O_RDONLY)) == -1 || dup2(fd, 0) == -1) {
		spawn_report(wfd, SPAWN_LOG, errno);
		_exit(127);
	}
	if (fd != 0)
		close(fd);
	fd = log_path && *log_path ? open(log_path, O_WRONLY | O_APPEND |
	    O_CREAT, 0640) : open("/dev/null", O_WRONLY);
	if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1) {
		spawn_report(wfd, SPAWN_LOG, errno);
		_exit(127);
	}
	if (fd > 2)
		close(fd);
	spawn_close_from(3, wfd);
	spawn_report(wfd, SPAWN_STARTED, 0);
	execv(argv[0], argv);
	spawn_report(wfd, SPAWN_EXEC, errno);
	_exit(127);
}

/* The middle child: a new session, the grandchild, and gone at once. */
static void
spawn_middle(char *const argv[], const char *log_path, int wfd)
{
	pid_t pid;
	int fd;

	/* A descriptor >= SPAWN_PIPE_FD_MIN, still close-on-exec. */
	if ((fd = fcntl(wfd, F_DUPFD_CLOEXEC, SPAWN_PIPE_FD_MIN)) == -1) {
		spawn_report(wfd, SPAWN_FORK, errno);
		_exit(1);
	}
	close(wfd);
	setsid();
	pid = fork();
	if (pid == 0)
		spawn_exec(argv, log_path, fd);
	if (pid == -1)
		spawn_report(fd, SPAWN_FORK, errno);
	_exit(0);
}

enum cpb_err
spawn_detached(char *const argv[], const char *log_path, pid_t *pid,
    char *errmsg)
{
	struct spawn_msg m;
	int pfd[2] = { -1, -1 }, status;
	bool started = false;
	pid_t child;
	ssize_t n;
	enum cpb_err err = CPB_OK;

	*pid = -1;
	if (pipe2(pfd, O_CLOEXEC) == -1)
		return cpb_seterr(errmsg, CPB_ERR_IO, "pipe: %s", strerror(errno));
	if ((child = fork()) == -1) {
		err = cpb_seterr(errmsg, CPB_ERR_IO, "fork: %s", strerror(errno));
		goto out;
	}
	if (child == 0) {
		close(pfd[0]);
		spawn_middle(argv, log_path, pfd[1]);
	}
	close(pfd[1]);
	pfd[1] = -1;
	while (waitpid(child, &status, 0) == -1 && errno == EINTR)
		;
	/* EOF once the grandchild has exec'd (close-on-exec) or exited. */
	for (;;) {
		n = read(pfd[0], &m, sizeof(m));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m))
			break;
		if (m.stage == SPAWN_STARTED) {
			started = true;
			*pid = m.pid;
			continue;
		}
		err = cpb_seterr(errmsg, CPB_ERR_IO, "%s %s: %s",
		    m.stage == SPAWN_FORK ? "cannot fork for" :
		    m.stage == SPAWN_LOG ? "cannot open the log for" :
		    "cannot run", argv[0], strerror(m.error));
		goto out;
	}
	if (!started)
		err = cpb_seterr(errmsg, CPB_ERR_IO, "%s did not start", argv[0]);
out:
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	return err;
}
