/* The store's writer thread; see writer.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "timing.h"
#include "writer.h"

/* The longest a database call of the thread waits is WRITER_WAIT_MAX (timing.h): as long as the loop's own. */

/* How often a waiting call looks whether it must give up. */
#define WRITER_POLL_MS 100

struct writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pipe[2];		/* a byte when a batch is done */
	bool busy;		/* the loop's side: handed over, not collected */

	/* under lock */
	bool has_job, done, quit;
	double limit;		/* seconds a call may wait */
	PGconn *conn;
	struct store_item *items;
	size_t n;
	const char *owner;
	int together;
	bool lost;		/* conn serves no other statement: broken, abandoned, or stuck mid-pipeline */
	double seconds;
	char err[DB_ERR_SIZE];
};

/* The thread's db.h wait hook: poll, and give up past the limit the loop sets. */
static int
thread_wait(void *arg, int fd, bool want_write, double waited)
{
	struct writer *w = arg;
	struct pollfd p = { fd, (short)(POLLIN | (want_write ? POLLOUT : 0)), 0 };
	double limit, left;
	int r;

	pthread_mutex_lock(&w->lock);
	limit = w->limit;
	pthread_mutex_unlock(&w->lock);
	left = limit - waited;
	if (left <= 0)
		return -1;
	r = poll(&p, 1, left * 1000 < WRITER_POLL_MS ? (int)(left * 1000) + 1 : WRITER_POLL_MS);
	if (r < 0)
		return errno == EINTR ? 0 : -1;
	return p.revents != 0;
}

static void *
thread_main(void *arg)
{
	struct writer *w = arg;

	db_set_wait_hook(thread_wait, w);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		PGconn *conn;
		struct store_item *items;
		const char *owner;
		char err[DB_ERR_SIZE];
		double started;
		size_t n;
		int together;
		bool lost;

		while (!w->has_job && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->quit)
			break;
		conn = w->conn;
		items = w->items;
		n = w->n;
		owner = w->owner;
		pthread_mutex_unlock(&w->lock);

		started = now_mono();
		together = store_write_batch(conn, items, n, owner, err, sizeof(err));
		/* judged here: an abandoned call is known only to the thread that abandoned it */
		lost = !db_usable(conn);
		/* the loop replaces a lost connection, perhaps by one at the same address */
		db_forget_abandoned();

		pthread_mutex_lock(&w->lock);
		w->together = together;
		w->lost = lost;
		w->seconds = now_mono() - started;
		memcpy(w->err, err, sizeof(w->err));
		w->has_job = false;
		w->done = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		while (write(w->pipe[1], "", 1) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct writer *
writer_start(char *err, size_t errlen)
{
	struct writer *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int rc;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->limit = WRITER_WAIT_MAX;
	if (pipe(w->pipe) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(w);
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		(void)fcntl(w->pipe[i], F_SETFL, fcntl(w->pipe[i], F_GETFL) | O_NONBLOCK);
		(void)fcntl(w->pipe[i], F_SETFD, FD_CLOEXEC);
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	/* signals go to the loop's thread only */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, thread_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "could not start the writer thread: %s", strerror(rc));
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		close(w->pipe[0]);
		close(w->pipe[1]);
		free(w);
		return NULL;
	}
	return w;
}

int
writer_fd(const struct writer *w)
{
	return w->pipe[0];
}

bool
writer_busy(const struct writer *w)
{
	return w->busy;
}

void
writer_submit(struct writer *w, PGconn *conn, struct store_item *items, size_t n, const char *owner)
{
	pthread_mutex_lock(&w->lock);
	w->conn = conn;
	w->items = items;
	w->n = n;
	w->owner = owner;
	w->done = false;
	w->has_job = true;
	w->limit = WRITER_WAIT_MAX;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	w->busy = true;
}

bool
writer_collect(struct writer *w, int *together, bool *lost, char *err, size_t errlen, double *seconds)
{
	char drain[16];
	bool done;

	if (!w->busy)
		return false;
	while (read(w->pipe[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&w->lock);
	done = w->done;
	if (done) {
		*together = w->together;
		*lost = w->lost;
		*seconds = w->seconds;
		snprintf(err, errlen, "%s", w->err);
		w->done = false;
	}
	pthread_mutex_unlock(&w->lock);
	if (done)
		w->busy = false;
	return done;
}

/* How long the thread's database calls may wait from now on. */
static void
writer_limit(struct writer *w, double limit)
{
	pthread_mutex_lock(&w->lock);
	w->limit = limit;
	pthread_mutex_unlock(&w->lock);
}

void
writer_wait(struct writer *w)
{
	if (!w->busy)
		return;
	writer_limit(w, 0);
	pthread_mutex_lock(&w->lock);
	while (!w->done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void
writer_stop(struct writer *w)
{
	if (w == NULL)
		return;
	writer_wait(w);
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	close(w->pipe[0]);
	close(w->pipe[1]);
	free(w);
}
