/* Scheduling arithmetic: what a run's status means, and how long until it is due again. */
#ifndef EXTEND_SYNCD_SCHEDULE_H
#define EXTEND_SYNCD_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>

enum run_phase {
	PHASE_FINAL,		/* PROCESSED, FAILED, CANCELLED, REJECTED: done */
	PHASE_MOTION,		/* PENDING, PROCESSING, CANCELLING: poll again soon */
	PHASE_PARKED,		/* NEEDS_REVIEW and any status not known today: poll slowly */
};

/* What a workflow run status means for polling; unknown values are parked, never dropped. */
enum run_phase schedule_phase(const char *status);

/*
 * Delay before re-checking a run in motion that has been seen in motion
 * polls times in a row (0 the first time): min doubling up to max.
 */
double schedule_active_delay(double min, double max, int polls);

/*
 * Delay before retry number attempts (1 after the first failure): min
 * doubling up to max, spread by +-10% with jitter in [0, 1).
 */
double schedule_retry_delay(double min, double max, int attempts, double jitter);

/* HTTP answers worth trying again (408, 409, 429, 5xx); 0 stands for "no answer at all". */
bool schedule_http_retryable(long status);

/*
 * Runs to claim now, so that each can be sent well within its lease: at
 * rate requests per second, once the server's hold (seconds) is over,
 * sending must end within half of (lease - timeout), the rest left for the
 * answer; the busy ones (queued or in flight) count first.  At most batch
 * in all; at least one when nothing is busy or held, whatever the rate.
 */
int schedule_claim_limit(int batch, double rate, double lease, double timeout, double hold, size_t busy);

/*
 * After the API refused the key: whether this answer proves the key works
 * again (2xx, or 400/404 about the run).  A 5xx or 429 may come from a
 * gateway in front of the API that never looked at the key.
 */
bool schedule_key_accepted(long status);

/*
 * After runs answered 400: whether this answer proves the API took the
 * request as it was sent (2xx, or 404 about the run), so that the version
 * header and the path are right.  A 5xx or 429 may come before the API
 * read the request.
 */
bool schedule_request_taken(long status);

/* True when s is a run ID that may be put into a URL path: [A-Za-z0-9_-]{1,128}. */
bool schedule_run_id_valid(const char *s);

#endif
