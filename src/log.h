/* Leveled logging to stderr, with journald priority prefixes when stderr is the journal. */
#ifndef EXTEND_SYNCD_LOG_H
#define EXTEND_SYNCD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,	/* what a quiet daemon still says: the minute's summary */
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Set up the log: decides once whether stderr is the journal or a terminal. */
void log_init(const char *progname);

/* Set the level below which messages are dropped before they are formatted. */
void log_set_level(enum log_level level);

/* How many levels -v (positive) or -q (negative) move every level set later. */
void log_set_verbosity(int delta);

/* The current level, so callers can skip work that only feeds debug lines. */
enum log_level log_get_level(void);

/* Parse "error", "warning", "notice", "info" or "debug"; returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) LOG_PRINTF(2, 3);

/*
 * A line about one run: the run ID is printed first, quoted, and sanitized
 * (an ID read from the queue may contain anything until it is validated).
 */
void log_run(enum log_level level, const char *run_id, const char *fmt, ...) LOG_PRINTF(3, 4);

/*
 * A libpq notice processor (PQsetNoticeProcessor): what the server sends on
 * its own (a warning of a migration, a shutdown) goes to the log as a
 * warning, on one line.
 */
void log_server_message(void *arg, const char *message);

/*
 * A failure that lasts (a connection that cannot be made, queue statements
 * failing on a healthy connection, the metrics file not writable): logged
 * when it starts, every REPEAT_LOG while it lasts, and when it ends, never
 * on every pass of the loop.
 */
struct log_lasting {
	double since;		/* 0: not failing */
	double logged_at;
};

/* A lasting failure: logged as an error when it starts and every REPEAT_LOG while it lasts. */
void log_lasting_fail(struct log_lasting *f, const char *fmt, ...) LOG_PRINTF(2, 3);

/* The failure is over: say so, with how long it lasted ("WHAT again after Ns"), if it was said to begin. */
void log_lasting_ok(struct log_lasting *f, const char *what);

#define log_error(...)   log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
