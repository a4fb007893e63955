/*
 * spawn.h - start a program fully detached from the responder: double
 * fork, setsid, stdin from /dev/null, stdout and stderr to a log file,
 * every other descriptor closed (the FastCGI socket, the store, the
 * request's connection), signals back to their defaults.
 *
 * The responder handles one request at a time and must not wait for a
 * full sync; the spawned process is re-parented to init and nobody waits
 * for it.  Whether the exec itself worked is still reported, through a
 * close-on-exec pipe.
 */
#ifndef CPB_FCGI_SPAWN_H
#define CPB_FCGI_SPAWN_H

#include <sys/types.h>

#include "err.h"

/*
 * Run argv[0] with argv and the current environment.  `log_path` NULL or
 * "" sends its output to /dev/null.  *pid gets the detached process's id.
 * CPB_ERR_IO with the reason when fork, the log or exec failed.
 */
enum cpb_err spawn_detached(char *const argv[], const char *log_path,
    pid_t *pid, char *errmsg);

#endif
