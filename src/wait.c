/* The one wait: sources (an fd, the events wanted, a callback) and timers, for the loop and its database calls. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "fetch.h"
#include "notify.h"
#include "timing.h"
#include "wait.h"

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_reload;
static int sigpipe_fds[2] = { -1, -1 };

struct source {
	wait_fd_fn fd;
	wait_done_fn done;
	void *arg;
	unsigned flags;
};

struct timer {
	wait_timer_fn fn;
	void *arg;
	unsigned flags;
};

static struct {
	struct source sources[WAIT_SOURCES_MAX];
	size_t nsources, nfixed;	/* the first nfixed are wait_setup()'s, kept after the loop */
	struct timer timers[WAIT_TIMERS_MAX];
	size_t ntimers, nfixedtimers;
	struct fetcher *fetch;		/* NULL: before the loop (poll()) */
	wait_limit_fn limit;
	void *limit_arg;
	double signal_at;
} w;

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGHUP)
		got_reload = 1;
	else
		got_stop++;
	/* wake the wait */
	(void)!write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

/* The self-pipe: watched always. */
static int
sigpipe_fd(void *arg, short *events)
{
	(void)arg;
	*events = WAIT_IN;
	return sigpipe_fds[0];
}

static void
sigpipe_done(void *arg, int revents)
{
	char buf[64];

	(void)arg;
	if (revents > 0)
		while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
			;
}

/* systemd's watchdog: pinged when due, from the start-up's first database call to the end. */
static double
watchdog_timer(void *arg, double now)
{
	static double next;

	(void)arg;
	if (notify_watchdog_interval() <= 0)
		return INFINITY;
	if (now >= next) {
		(void)notify_send("WATCHDOG=1");
		next = now + notify_watchdog_interval();
	}
	return next;
}

/* Signals and the registry's own members; see wait.h. */
int
wait_setup(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return 0;
	if (pipe(sigpipe_fds) < 0)
		return -1;
	done = true;
	for (int i = 0; i < 2; i++) {
		fcntl(sigpipe_fds[i], F_SETFL, O_NONBLOCK);
		fcntl(sigpipe_fds[i], F_SETFD, FD_CLOEXEC);
	}
	w.sources[w.nsources++] = (struct source){ sigpipe_fd, sigpipe_done, NULL, WAIT_DB };
	w.timers[w.ntimers++] = (struct timer){ watchdog_timer, NULL, WAIT_DB };
	w.nfixed = w.nsources;
	w.nfixedtimers = w.ntimers;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/* How many stop signals; see wait.h. */
int
wait_stops(void)
{
	return got_stop;
}

/* When a stop signal was heard in a database call; see wait.h. */
double
wait_signal_at(void)
{
	return w.signal_at;
}

/* A SIGHUP; see wait.h. */
bool
wait_take_reload(void)
{
	if (!got_reload)
		return false;
	got_reload = 0;
	return true;
}

/* A source; see wait.h. */
int
wait_add_source(wait_fd_fn fd, wait_done_fn done, void *arg, unsigned flags)
{
	if (w.nsources == WAIT_SOURCES_MAX)
		return -1;
	w.sources[w.nsources++] = (struct source){ fd, done, arg, flags };
	return 0;
}

/* A timer; see wait.h. */
int
wait_add_timer(wait_timer_fn fn, void *arg, unsigned flags)
{
	if (w.ntimers == WAIT_TIMERS_MAX)
		return -1;
	w.timers[w.ntimers++] = (struct timer){ fn, arg, flags };
	return 0;
}

/* The loop runs; see wait.h. */
void
wait_start_loop(struct fetcher *f, wait_limit_fn limit, void *arg)
{
	w.fetch = f;
	w.signal_at = 0;
	w.limit = limit;
	w.limit_arg = arg;
}

/* The loop ended; see wait.h. */
void
wait_end_loop(void)
{
	w.fetch = NULL;
	w.limit = NULL;
	w.nsources = w.nfixed;
	w.ntimers = w.nfixedtimers;
	for (int i = 0; i < 2; i++) {
		if (sigpipe_fds[i] >= 0)
			close(sigpipe_fds[i]);
		sigpipe_fds[i] = -1;
	}
}

/* Run the timers (flags: those of a database call only) and return when the first is due next. */
static double
run_timers(double now, unsigned flags)
{
	double next = INFINITY;

	for (size_t i = 0; i < w.ntimers; i++)
		if ((w.timers[i].flags & flags) == flags)
			next = fmin(next, w.timers[i].fn(w.timers[i].arg, now));
	return next;
}

/* The fds of the sources (flags: those of a database call only) into fds; where each went in at[]. */
static unsigned
gather(struct curl_waitfd *fds, int *at, unsigned flags)
{
	unsigned n = 0;

	for (size_t i = 0; i < w.nsources; i++) {
		short events = 0;
		int fd;

		at[i] = -1;
		if ((w.sources[i].flags & flags) != flags)
			continue;
		fd = w.sources[i].fd(w.sources[i].arg, &events);
		if (fd < 0)
			continue;
		fds[n].fd = fd;
		fds[n].events = (short)(((events & WAIT_IN) ? CURL_WAIT_POLLIN : 0) |
					((events & WAIT_OUT) ? CURL_WAIT_POLLOUT : 0));
		fds[n].revents = 0;
		at[i] = (int)n++;
	}
	return n;
}

/* Tell each source (flags: of a database call only) what came. */
static void
dispatch(const struct curl_waitfd *fds, const int *at, unsigned flags)
{
	for (size_t i = 0; i < w.nsources; i++) {
		int revents;

		if ((w.sources[i].flags & flags) != flags || w.sources[i].done == NULL)
			continue;
		revents = at[i] < 0 ? WAIT_NOFD :
			((fds[at[i]].revents & CURL_WAIT_POLLIN) ? WAIT_IN : 0) |
			((fds[at[i]].revents & CURL_WAIT_POLLOUT) ? WAIT_OUT : 0) |
			((fds[at[i]].revents & ~(CURL_WAIT_POLLIN | CURL_WAIT_POLLOUT)) ? WAIT_IN : 0);
		w.sources[i].done(w.sources[i].arg, revents);
	}
}

/* The loop's wait; see wait.h. */
int
wait_run(double now, char *err, size_t errlen)
{
	struct curl_waitfd fds[WAIT_SOURCES_MAX];
	int at[WAIT_SOURCES_MAX];
	double wake = run_timers(now, 0);
	unsigned n = gather(fds, at, 0);

	wake = fmin(fmax(wake - now, 0), WAIT_MAX);
	if (fetch_wait(w.fetch, fds, n, (int)ceil(wake * 1000), err, errlen) < 0)
		return -1;
	dispatch(fds, at, 0);
	return 0;
}

/* poll() for a wait before the loop runs (no transfers to drive). */
static int
poll_fds(struct curl_waitfd *fds, unsigned n, int timeout_ms)
{
	struct pollfd p[WAIT_SOURCES_MAX + 1];
	int rc;

	for (unsigned i = 0; i < n; i++) {
		p[i].fd = fds[i].fd;
		p[i].events = (short)(((fds[i].events & CURL_WAIT_POLLIN) ? POLLIN : 0) |
				      ((fds[i].events & CURL_WAIT_POLLOUT) ? POLLOUT : 0));
		p[i].revents = 0;
	}
	rc = poll(p, n, timeout_ms);
	for (unsigned i = 0; i < n; i++)
		fds[i].revents = (short)(p[i].revents != 0 ? CURL_WAIT_POLLIN : 0);
	return rc < 0 && errno != EINTR ? -1 : 0;
}

/* A pause before the loop; see wait.h. */
int
wait_pause(double seconds)
{
	struct curl_waitfd fds[WAIT_SOURCES_MAX];
	int at[WAIT_SOURCES_MAX];
	double now = now_mono(), until = now + seconds;

	while (got_stop == 0 && now < until) {
		double wake = fmin(fmin(until - now, WAIT_MAX), fmax(run_timers(now, WAIT_DB) - now, 0));
		unsigned n = gather(fds, at, WAIT_DB);

		if (poll_fds(fds, n, (int)ceil(wake * 1000)) < 0) {
			/* poll() itself failed: sleep instead, a signal still cuts it short */
			struct timespec ts = { 0, 100000000 };

			nanosleep(&ts, NULL);
		} else {
			dispatch(fds, at, WAIT_DB);
		}
		now = now_mono();
	}
	return got_stop > 0 ? -1 : 0;
}

/* How long the call may wait in all: the loop's limit, or, before it, until a stop signal. */
static double
call_limit(double now, double waited)
{
	if (w.limit == NULL)
		return got_stop > 0 ? -1 : INFINITY;
	if (got_stop > 0 && w.signal_at == 0)
		w.signal_at = now;
	return w.limit(w.limit_arg, now, waited);
}

/* The wait of a database call; see wait.h. */
int
wait_db(void *arg, int fd, bool want_write, double waited)
{
	struct curl_waitfd fds[WAIT_SOURCES_MAX + 1];
	int at[WAIT_SOURCES_MAX];
	double now = now_mono(), limit = call_limit(now, waited), wake;
	char err[256];
	unsigned n;

	(void)arg;
	if (waited >= limit)
		return -1;
	wake = fmin(fmin(limit - waited, WAIT_MAX), fmax(run_timers(now, WAIT_DB) - now, 0));
	n = gather(fds, at, WAIT_DB);
	fds[n].fd = fd;
	fds[n].events = (short)(CURL_WAIT_POLLIN | (want_write ? CURL_WAIT_POLLOUT : 0));
	fds[n].revents = 0;
	if (w.fetch == NULL ? poll_fds(fds, n + 1, (int)ceil(wake * 1000)) < 0 :
	    fetch_drive(w.fetch, fds, n + 1, (int)ceil(wake * 1000), err, sizeof(err)) < 0) {
		/* curl itself failed: the loop's own wait says so; do not spin here meanwhile */
		struct timespec ts = { 0, 10000000 };

		if (w.fetch == NULL)
			return -1;
		nanosleep(&ts, NULL);
		return 1;
	}
	dispatch(fds, at, WAIT_DB);
	now = now_mono();
	if (w.limit == NULL && got_stop > 0)
		return -1;
	if (w.limit != NULL && got_stop > 0 && w.signal_at == 0)
		w.signal_at = now;
	(void)run_timers(now, WAIT_DB);
	return fds[n].revents != 0;
}
