/* The scheduler: claim due runs, fetch them, store what came back, and decide when each is due again. */
#ifndef EXTEND_SYNCD_LOOP_H
#define EXTEND_SYNCD_LOOP_H

#include <stdbool.h>

#include "config.h"

enum loop_mode {
	LOOP_FOREVER,		/* until SIGTERM or SIGINT */
	LOOP_ONCE,		/* every run due at start, once */
	LOOP_DRAIN,		/* until nothing is left to do soon */
};

/* Exit codes of --drain and --once beyond 0 and 2 (a runtime failure). */
#define LOOP_EXIT_TIMEOUT 3		/* --timeout expired with runs still waiting */
#define LOOP_EXIT_FAILED_RUNS 4		/* --drain finished, but runs ended failed during it */
#define LOOP_EXIT_INTERRUPTED 5		/* SIGTERM or SIGINT stopped it with runs still waiting */

/*
 * Run the daemon with *cfg (which the loop may replace on SIGHUP; the
 * caller frees whatever *cfg is at the end).  The schema must be migrated.
 * The signal handlers are wait_setup()'s (wait.h), installed before the
 * start-up's database work when main did, else here.  Returns the process
 * exit code: 0, or 2 for a runtime failure.
 */
int loop_run(struct config **cfg, const char *config_path, enum loop_mode mode);

/*
 * loop_run(), but --drain and --once stop as on SIGTERM after timeout
 * seconds (0: never) and name the runs still waiting.  Returns 0, 2, or
 * one of the LOOP_EXIT_ codes above.
 */
int loop_run_until(struct config **cfg, const char *config_path, enum loop_mode mode, double timeout);

#endif
