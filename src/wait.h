/*
 * The one wait: every source the daemon listens to (the signal pipe, the
 * database socket, the writer's pipe, and whatever comes: a listening
 * socket) registers its fd, the events it wants and a callback; every
 * timer returns when it is due next (redis' ae.c).  The same registry
 * serves the loop's wait, which drives curl's transfers and takes what
 * they bring, and the wait of a database call in progress (db.h's wait
 * hook), which drives the transfers, hears signals and pings the watchdog
 * while the call waits, so that a new source is one registration.
 * It is the only module that knows both curl (curl_multi_poll) and what
 * the database's calls wait for.  The signal handlers live here too: they
 * only count the signals and poke the self-pipe.
 */
#ifndef EXTEND_SYNCD_WAIT_H
#define EXTEND_SYNCD_WAIT_H

#include <stdbool.h>
#include <stddef.h>

struct fetcher;

/* The events a source wants, and gets: as poll()'s. */
#define WAIT_IN 0x1
#define WAIT_OUT 0x4
/* What a source's callback gets when it had no fd to watch this time. */
#define WAIT_NOFD (-1)
/* A source or timer served also while a database call waits (else by the loop's wait only). */
#define WAIT_DB 0x1u
/* At most this many sources. */
#define WAIT_SOURCES_MAX 8
#define WAIT_TIMERS_MAX 8

/* The fd a source watches now, and the events it wants in *events; -1: none this time. */
typedef int (*wait_fd_fn)(void *arg, short *events);
/* After each wait: the events that came (0: none), or WAIT_NOFD.  It may not call into the database. */
typedef void (*wait_done_fn)(void *arg, int revents);
/* A timer: does what is due at now, and returns when it is due next (INFINITY: not). */
typedef double (*wait_timer_fn)(void *arg, double now);
/*
 * How long the database call in progress may wait in all (waited: since it
 * began), given the signals heard; the call is abandoned once waited
 * reaches it.
 */
typedef double (*wait_limit_fn)(void *arg, double now, double waited);

/* Install the signal handlers and the self-pipe (once), and register the pipe and the watchdog.  0 or -1. */
int wait_setup(void);

/* How many SIGTERM and SIGINT came. */
int wait_stops(void);

/* When a SIGTERM or SIGINT was first heard during a database call of the loop (0: not). */
double wait_signal_at(void);

/* Whether a SIGHUP came since the last call. */
bool wait_take_reload(void);

/* Register a source (in the order they are watched); 0, or -1 when the registry is full. */
int wait_add_source(wait_fd_fn fd, wait_done_fn done, void *arg, unsigned flags)
	__attribute__((warn_unused_result));

/* Register a timer; 0, or -1 when the registry is full. */
int wait_add_timer(wait_timer_fn fn, void *arg, unsigned flags) __attribute__((warn_unused_result));

/* The loop is running: its transfers are driven, and its database calls limited by limit(arg). */
void wait_start_loop(struct fetcher *f, wait_limit_fn limit, void *arg);

/* The loop ended: its sources and timers are forgotten, and the self-pipe closed. */
void wait_end_loop(void);

/*
 * The loop's wait, from now until the first timer is due (at most
 * WAIT_MAX), an fd is ready, a transfer finished or a signal came; then
 * every source's callback.  Returns 0, or -1 with err set when curl failed.
 */
int wait_run(double now, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Before the loop runs (the start-up waiting for the database): wait
 * seconds, serving what a database call's wait serves (the signals, the
 * watchdog).  Returns 0, or -1 at once when a SIGTERM or SIGINT came.
 */
int wait_pause(double seconds);

/*
 * The wait hook of every database call (db_set_wait_hook()): before the
 * loop runs (start-up: a SIGTERM or SIGINT gives up the call at once), and
 * while it runs (the limit given to wait_start_loop()).  arg is unused.
 */
int wait_db(void *arg, int fd, bool want_write, double waited);

#endif
