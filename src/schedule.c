/* Scheduling arithmetic: what a run's status means, and how long until it is due again. */
#include <math.h>
#include <string.h>

#include "schedule.h"

enum run_phase
schedule_phase(const char *status)
{
	static const char *const final[] = { "PROCESSED", "FAILED", "CANCELLED", "REJECTED" };
	static const char *const motion[] = { "PENDING", "PROCESSING", "CANCELLING" };

	if (status == NULL)
		return PHASE_PARKED;
	for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
		if (strcmp(status, final[i]) == 0)
			return PHASE_FINAL;
	}
	for (size_t i = 0; i < sizeof(motion) / sizeof(motion[0]); i++) {
		if (strcmp(status, motion[i]) == 0)
			return PHASE_MOTION;
	}
	return PHASE_PARKED;
}

/* min * 2^n, capped at max, without overflowing for large n */
static double
doubling(double min, double max, int n)
{
	if (n < 0)
		n = 0;
	if (n > 60)
		return max;
	return fmin(max, ldexp(min, n));
}

double
schedule_active_delay(double min, double max, int polls)
{
	return doubling(min, max, polls);
}

double
schedule_retry_delay(double min, double max, int attempts, double jitter)
{
	double d = doubling(min, max, attempts - 1);

	d *= 0.9 + 0.2 * jitter;
	return fmax(min, fmin(max, d));
}

bool
schedule_http_retryable(long status)
{
	return status == 0 || status == 408 || status == 409 || status == 429 ||
	       (status >= 500 && status <= 599);
}

int
schedule_claim_limit(int batch, double rate, double lease, double timeout, double hold, size_t busy)
{
	double window = (lease - timeout) / 2 - fmax(hold, 0);
	double sendable = window > 0 && rate > 0 ? floor(window * rate) : 0;

	if (busy == 0 && hold <= 0 && sendable < 1)
		sendable = 1;
	sendable = fmin(sendable, batch) - (double)busy;
	return sendable > 0 ? (int)sendable : 0;
}

bool
schedule_key_accepted(long status)
{
	return (status >= 200 && status <= 299) || status == 400 || status == 404;
}

bool
schedule_request_taken(long status)
{
	return (status >= 200 && status <= 299) || status == 404;
}

bool
schedule_run_id_valid(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

	return n >= 1 && n <= 128 && s[n] == '\0';
}
