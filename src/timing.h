/* The loop's timing constants in one place, each with the reason for its value, and the invariants they keep. */
#ifndef EXTEND_SYNCD_TIMING_H
#define EXTEND_SYNCD_TIMING_H

/*
 * The invariants, checked where they can be (at compile time below, or by
 * the configuration for settings):
 *
 *   sync.lease > api.timeout      config.c refuses otherwise: a run whose
 *                                 request takes its whole timeout must still
 *                                 be this daemon's when the answer comes.
 *   LOCK_TIMEOUT < STATEMENT_TIMEOUT < DB_WAIT_MAX
 *                                 a locked row fails as "locked" (kept, tried
 *                                 again after LOCKED_RETRY), not as a slow
 *                                 statement; a slow statement is ended by the
 *                                 server before the daemon abandons the call
 *                                 (which costs the connection).
 *   DB_WAIT_MAX == WRITER_WAIT_MAX
 *                                 the writer's calls are given up when the
 *                                 loop's would be.
 *   BUDGET_RENEW < BUDGET_VALID < BUDGET_LEASE (budget.h)
 *                                 a daemon renews its share well before it
 *                                 runs out, and its row outlives the share
 *                                 it claims, so no two daemons spend one token.
 */

/* The session's timeouts (db.c sets them at connect), in seconds; as text for SET below. */
#define LOCK_TIMEOUT_S 2
#define STATEMENT_TIMEOUT_S 20
#define LOCK_TIMEOUT "2s"
#define STATEMENT_TIMEOUT "20s"

/* A database call not answered in this long is abandoned: above statement_timeout, which ends it first. */
#define DB_WAIT_MAX 30.0
/* The writer thread's calls: as long as the loop's own. */
#define WRITER_WAIT_MAX DB_WAIT_MAX
/* A call made after a second signal or after the stop's grace: abandoned after this long. */
#define DB_WAIT_EXITING 0.5

/* Reconnecting to the database: first delay, doubling up to the longest (a restart of PostgreSQL takes seconds). */
#define DB_RETRY_MIN 0.5
#define DB_RETRY_MAX 30.0
/*
 * A daemon started while the database is down (booting beside it, or during
 * its restart) tries again after this long, doubling up to the longest: a
 * try is one connection attempt, and the longest is what it may stay
 * waiting after the database came up.
 */
#define START_RETRY_MIN 1.0
#define START_RETRY_MAX 5.0

/* How long a stopping daemon waits for requests in flight before it releases them (under systemd's 90 s). */
#define STOP_GRACE 10.0
/* After the API refused the key: first pause, doubling up to the longest (a key is fixed by a person). */
#define AUTH_PAUSE_MIN 30.0
#define AUTH_PAUSE_MAX 600.0
/*
 * After BADREQ_RUNS runs in a row answered 400 alike (a wrong api.version
 * or api.base_url): first pause, doubling up to the longest, as for a
 * refused key (a setting is fixed by a person; SIGHUP tries at once).
 */
#define BAD_REQUEST_PAUSE_MIN 30.0
#define BAD_REQUEST_PAUSE_MAX 600.0
/*
 * A 400 held back for the answers after it is judged the run's own fault
 * after this long at least, or as long as BADREQ_RUNS requests take at
 * api.rate_limit and api.timeout, up to half of sync.lease
 * (badreq_hold()): its failure is recorded inside the lease, else the run
 * would be fetched again.
 */
#define BAD_REQUEST_HOLD 5.0
/* A result whose queue row another session locked is written again after this long (each try costs lock_timeout). */
#define LOCKED_RETRY 2.0
/*
 * The extractor versions known to the extracted views, when they could not
 * be read at start (a session held the table, the connection was lost), are
 * read again this often; meanwhile each version's next run notes it.
 */
#define VIEWS_RETRY 30.0
/* The start-up refresh of the extracted views cut short by the connection's loss is made this often at most. */
#define VIEWS_REFRESH_TRIES 3
/* A failure that lasts is logged again at most this often: the journal is not a metrics feed. */
#define REPEAT_LOG 300.0
/* How often the status (systemd STATUS=, the metrics file) is refreshed, and the summary line logged. */
#define STATUS_EVERY 5.0
#define SUMMARY_EVERY 60.0
/* --drain and --once: a progress line this often. */
#define PROGRESS_EVERY 10.0
/* The longest the loop sleeps: the periodic tasks (watchdog, budget, timers) run at least this often. */
#define WAIT_MAX 1.0

/*
 * A batch goes to the writer once half full, or this long after its first
 * run came, while more answers are on their way (group commit's
 * commit_delay): a run alone per transaction would cost the database most.
 */
#define BATCH_GATHER 0.01
/* A writer busy this long (a stalled database call): the loop writes what gathered meanwhile itself. */
#define WRITER_PATIENCE 2.0
/* A result whose write lost the connection this often is dropped: its run is fetched again after its lease. */
#define DEFERRED_TRIES 3

_Static_assert(LOCK_TIMEOUT_S < STATEMENT_TIMEOUT_S, "a locked row must fail as locked, not as slow");
_Static_assert(STATEMENT_TIMEOUT_S < DB_WAIT_MAX, "the server ends a slow statement before the daemon abandons it");
_Static_assert(START_RETRY_MIN <= START_RETRY_MAX, "the start-up's back-off grows up to its longest");
_Static_assert(WRITER_PATIENCE < DB_WAIT_MAX, "the loop takes over a stalled writer's batches before its call is "
	       "abandoned");

#endif
