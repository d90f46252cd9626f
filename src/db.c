/* The database connection: connecting, the schema's migrations, LISTEN, and waiting without blocking. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "db.h"
#include "timing.h"

/* libpq's connect_timeout, which a non-blocking connect must enforce itself. */
#define CONNECT_TIMEOUT 10.0

/*
 * The server ends a session left idle inside a transaction this long: a
 * daemon frozen mid-transaction (SIGSTOP, a network partition the server's
 * keepalives take hours to notice) would hold its row and table locks, and
 * every other daemon would fail on them after lock_timeout, meanwhile.  The
 * daemon itself leaves gaps of milliseconds between the statements of a
 * transaction; the longest is the writer building a batch's COPY data
 * (64 runs of up to api.max_response_size), seconds on a loaded machine.
 * A minute is far above that and above DB_WAIT_MAX (30 s: the daemon gives
 * up a call itself by then); migrations turn it off as they do
 * statement_timeout.
 */
#define IDLE_IN_TRANSACTION_TIMEOUT "60s"

/* The other timeouts: LOCK_TIMEOUT, STATEMENT_TIMEOUT (timing.h); a migration turns all three off, then on. */

/* bytes of send buffer asked for on a connection's socket */
#define DB_SNDBUF (1024 * 1024)

/* Per thread: the loop's thread drives curl while it waits, the store's writer thread only waits. */
static _Thread_local db_wait_hook wait_hook;
static _Thread_local void *wait_hook_arg;

/*
 * The connection whose call the hook gave up on, and why.  libpq has no
 * way to abandon a call half way: the connection is marked here instead,
 * refuses every later call, and the loop replaces it.  Each thread uses its
 * own connection.
 */
static _Thread_local const PGconn *abandoned;
static _Thread_local char abandoned_why[160];

/* Forget the connection this thread abandoned; see db.h. */
void
db_forget_abandoned(void)
{
	abandoned = NULL;
}

/* Wait through the hook from now on; see db.h. */
void
db_set_wait_hook(db_wait_hook hook, void *arg)
{
	wait_hook = hook;
	wait_hook_arg = arg;
}

/* Whether conn is lost; see db.h. */
bool
db_broken(PGconn *conn)
{
	return conn == NULL || conn == abandoned || PQstatus(conn) == CONNECTION_BAD;
}

/* Whether conn can take a statement; see db.h. */
bool
db_usable(PGconn *conn)
{
	/* nor one left in the middle of a command (a COPY never ended) */
	return !db_broken(conn) && PQpipelineStatus(conn) == PQ_PIPELINE_OFF &&
	       PQtransactionStatus(conn) != PQTRANS_ACTIVE;
}

static void
abandon(PGconn *conn, double started)
{
	abandoned = conn;
	snprintf(abandoned_why, sizeof(abandoned_why),
		 "no answer from the database after %.1fs: call abandoned, connection dropped", now_mono() - started);
}

/*
 * Wait until the socket is readable (or writable, with want_write), at
 * most until limit seconds after started (0: no limit) when there is no
 * hook.  Returns 1 when the socket is ready, 0 when not yet, -1 to give up.
 */
static int
wait_fd(int fd, bool want_write, double started, double limit)
{
	struct pollfd p;
	int timeout = -1;

	if (fd < 0)
		return -1;
	if (wait_hook != NULL)
		return wait_hook(wait_hook_arg, fd, want_write, now_mono() - started);
	if (limit > 0) {
		double left = started + limit - now_mono();

		if (left <= 0)
			return -1;
		timeout = (int)ceil(left * 1000);
	}
	p.fd = fd;
	p.events = (short)(POLLIN | (want_write ? POLLOUT : 0));
	p.revents = 0;
	if (poll(&p, 1, timeout) < 0)
		return errno == EINTR ? 0 : -1;
	return p.revents != 0;
}

/* wait_fd() on the connection's socket. */
static int
wait_socket(PGconn *conn, bool want_write, double started, double limit)
{
	return wait_fd(PQsocket(conn), want_write, started, limit);
}

/* Send what libpq holds, reading meanwhile (the server may be writing too); 0, or -1 (abandoned or broken). */
static int
flush_out(PGconn *conn, double started)
{
	for (;;) {
		int r = PQflush(conn);

		if (r == 0)
			return 0;
		if (r < 0)
			return -1;
		if (wait_socket(conn, true, started, 0) < 0) {
			abandon(conn, started);
			return -1;
		}
		if (PQconsumeInput(conn) == 0)
			return -1;
	}
}

/* Wait until PQgetResult() will not block; 0, or -1 (abandoned or broken). */
static int
await_result(PGconn *conn, double started)
{
	if (flush_out(conn, started) < 0)
		return -1;
	while (PQisBusy(conn)) {
		if (wait_socket(conn, false, started, 0) < 0) {
			abandon(conn, started);
			return -1;
		}
		if (PQconsumeInput(conn) == 0)
			return -1;
	}
	return 0;
}

/*
 * Collect every result of what was sent, as PQexec() does: the first
 * error, else the last result.  NULL when sent is false (the send failed),
 * when abandoned, or out of memory.
 */
static PGresult *
finish_call(PGconn *conn, bool sent, double started)
{
	PGresult *keep = NULL, *res;

	if (!sent)
		return NULL;
	for (;;) {
		if (await_result(conn, started) < 0) {
			PQclear(keep);
			return NULL;
		}
		res = PQgetResult(conn);
		if (res == NULL)
			return keep;
		if (keep != NULL && (PQresultStatus(keep) == PGRES_FATAL_ERROR ||
				     PQresultStatus(res) == PGRES_COPY_IN || PQresultStatus(res) == PGRES_COPY_OUT)) {
			PQclear(res);
			continue;
		}
		PQclear(keep);
		keep = res;
	}
}

/* PQexec() without blocking; see db.h. */
PGresult *
db_exec_query(PGconn *conn, const char *query)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendQuery(conn, query) == 1, started);
}

/* PQexecParams() without blocking; see db.h. */
PGresult *
db_exec_params(PGconn *conn, const char *command, int n, const Oid *types, const char *const *values,
	       const int *lengths, const int *formats, int result_format)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendQueryParams(conn, command, n, types, values, lengths, formats,
						   result_format) == 1, started);
}

/* PQexecPrepared() without blocking; see db.h. */
PGresult *
db_exec_prepared(PGconn *conn, const char *name, int n, const char *const *values, const int *lengths,
		 const int *formats, int result_format)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendQueryPrepared(conn, name, n, values, lengths, formats, result_format) == 1,
			   started);
}

/* COPY ... FROM STDIN without blocking; see db.h. */
PGresult *
db_copy_in(PGconn *conn, const char *command, const char *data, size_t len)
{
	/* a message at a time: libpq queues what it is given, the socket takes it as it can */
	const size_t chunk = (size_t)1 << 20;
	double started = now_mono();
	PGresult *res;

	if (conn == abandoned || PQsendQuery(conn, command) != 1 || await_result(conn, started) < 0)
		return NULL;
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		/* refused before any data (no such table?): that result, once the call is over */
		PQclear(finish_call(conn, true, started));
		return res;
	}
	PQclear(res);
	/* from here on a failure leaves the connection in the middle of the COPY: it is abandoned, and replaced */
	while (len > 0) {
		size_t n = len < chunk ? len : chunk;
		int r = PQputCopyData(conn, data, (int)n);

		/* each chunk out before the next: libpq's buffer stays a chunk, not the whole data again */
		if (r < 0 || (r == 1 && flush_out(conn, started) < 0))
			goto abandon;
		if (r == 0) {
			/* libpq could not take it: the socket takes what libpq holds first */
			if (flush_out(conn, started) < 0)
				goto abandon;
			continue;
		}
		data += n;
		len -= n;
	}
	for (;;) {
		int r = PQputCopyEnd(conn, NULL);

		if (r < 0)
			goto abandon;
		if (r == 1)
			break;
		if (flush_out(conn, started) < 0)
			goto abandon;
	}
	return finish_call(conn, true, started);
abandon:
	if (conn != abandoned)
		abandon(conn, started);
	return NULL;
}

/* PQprepare() without blocking; see db.h. */
PGresult *
db_prepare_statement(PGconn *conn, const char *name, const char *query, int n, const Oid *types)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendPrepare(conn, name, query, n, types) == 1, started);
}

/* PQgetResult() without blocking; see db.h. */
PGresult *
db_get_result(PGconn *conn)
{
	if (conn == abandoned || await_result(conn, now_mono()) < 0)
		return NULL;
	return PQgetResult(conn);
}

/* Whether the statement failed on a lock; see db.h. */
bool
db_error_locked(const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state != NULL && strcmp(state, "55P03") == 0;
}

/* Whether the statement failed by its timeouts; see db.h. */
bool
db_error_timed_out(const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return db_error_locked(res) || (state != NULL && strcmp(state, "57014") == 0);
}

/* Copy the reason res (or else conn) failed into err, on one line. */
void
db_error(PGconn *conn, const PGresult *res, char *err, size_t errlen)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";

	if ((msg == NULL || msg[0] == '\0') && conn != NULL && conn == abandoned)
		msg = abandoned_why;
	if (msg == NULL || msg[0] == '\0')
		msg = conn != NULL ? PQerrorMessage(conn) : "out of memory";
	if (msg == NULL || msg[0] == '\0')
		msg = "unknown error";
	snprintf(err, errlen, "%s", msg);
	for (char *p = err; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	}
	/* libpq ends messages with a newline */
	for (size_t n = strlen(err); n > 0 && err[n - 1] == ' '; n--)
		err[n - 1] = '\0';
}

/* Errors that sending the same values again cannot cure; see db.h. */
bool
db_error_recurs(const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL || strlen(state) != 5)
		return false;
	return strncmp(state, "22", 2) == 0 || strncmp(state, "54", 2) == 0 || strcmp(state, "23502") == 0 ||
	       strcmp(state, "23514") == 0;
}

int
db_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *res = db_exec_query(conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Run sql (one parameter: the quoted schema) and expect no error. */
static int
exec_schema(PGconn *conn, const char *sql, const char *schema, char *err, size_t errlen)
{
	PGresult *res = db_exec_params(conn, sql, 1, NULL, &schema, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/*
 * A batch's statements are megabytes: with the default send buffer (about
 * 200 KiB) libpq meets a full socket every few 8 KiB writes, and each time
 * waits (a pass of the HTTP side), reads, and writes again.  A larger
 * buffer where the kernel allows it (net.core.wmem_max caps it): only a
 * hint, a refusal changes nothing else.  Only on a Unix-domain socket: on
 * TCP a set size would turn off the kernel's own tuning, which grows the
 * buffer with the round trip (and further than this) on a distant server.
 */
static void
set_send_buffer(PGconn *conn)
{
	struct sockaddr_storage addr;
	socklen_t alen = sizeof(addr);
	int size = DB_SNDBUF;

	if (getsockname(PQsocket(conn), (struct sockaddr *)&addr, &alen) == 0 && addr.ss_family == AF_UNIX)
		(void)setsockopt(PQsocket(conn), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/*
 * A host name's lookup in a thread of its own: getaddrinfo() blocks for
 * the resolver's timeouts, and libpq would call it inside the loop.  The
 * thread writes a byte to the pipe when done.  Whoever of the thread and
 * the waiter lets go last frees it, so a lookup that ends after the
 * daemon gave up on it touches nothing else.
 */
/* The most bytes of addresses one conninfo's names may bring. */
#define LOOKUP_MAX (64 * 1024)

struct lookup {
	pthread_mutex_t lock;
	int refs;
	int pipe[2];
	bool done;		/* rc and res are set (under lock) */
	int rc;			/* getaddrinfo()'s */
	struct addrinfo *res;
	char name[];
};

static void
lookup_release(struct lookup *lk)
{
	int left;

	pthread_mutex_lock(&lk->lock);
	left = --lk->refs;
	pthread_mutex_unlock(&lk->lock);
	if (left > 0)
		return;
	if (lk->res != NULL)
		freeaddrinfo(lk->res);
	close(lk->pipe[0]);
	close(lk->pipe[1]);
	pthread_mutex_destroy(&lk->lock);
	free(lk);
}

static void *
lookup_thread(void *arg)
{
	struct lookup *lk = arg;
	struct addrinfo hints;
	char c = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(lk->name, NULL, &hints, &res);

	pthread_mutex_lock(&lk->lock);
	lk->rc = rc;
	lk->res = res;
	lk->done = true;
	pthread_mutex_unlock(&lk->lock);
	(void)!write(lk->pipe[1], &c, 1);
	lookup_release(lk);
	return NULL;
}

/* Whether a host entry needs no lookup: empty, a Unix socket directory, or an address already. */
static bool
host_is_literal(const char *h)
{
	unsigned char a[sizeof(struct in6_addr)];

	return h[0] == '\0' || h[0] == '/' || h[0] == '@' || inet_pton(AF_INET, h, a) == 1 ||
	       inet_pton(AF_INET6, h, a) == 1;
}

/* Whether the lookup's thread is done (a wait may say the pipe is ready when it is not: the loop's hook can). */
static bool
lookup_done(struct lookup *lk)
{
	bool done;

	pthread_mutex_lock(&lk->lock);
	done = lk->done;
	pthread_mutex_unlock(&lk->lock);
	return done;
}

/*
 * Look name up without blocking the caller (waiting in the hook, at most
 * CONNECT_TIMEOUT); append its addresses, numeric, to addrs (one per
 * line).  0, or -1 with err set.
 */
static int
lookup_name(const char *name, struct buf *addrs, char *err, size_t errlen)
{
	struct lookup *lk = calloc(1, sizeof(*lk) + strlen(name) + 1);
	double started = now_mono();
	pthread_attr_t attr;
	pthread_t thread;
	int rc = -1, ready = 0;

	if (lk == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	strcpy(lk->name, name);
	if (pipe(lk->pipe) < 0) {
		snprintf(err, errlen, "could not look up host name \"%s\": %s", name, strerror(errno));
		free(lk);
		return -1;
	}
	(void)fcntl(lk->pipe[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(lk->pipe[1], F_SETFD, FD_CLOEXEC);
	pthread_mutex_init(&lk->lock, NULL);
	lk->refs = 2;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, lookup_thread, lk) != 0) {
		pthread_attr_destroy(&attr);
		lk->refs = 1;
		snprintf(err, errlen, "could not look up host name \"%s\": no thread", name);
		goto out;
	}
	pthread_attr_destroy(&attr);
	while (ready >= 0 && !lookup_done(lk)) {
		ready = now_mono() - started >= CONNECT_TIMEOUT ? -1 :
			wait_fd(lk->pipe[0], false, started, CONNECT_TIMEOUT);
	}
	if (ready < 0) {
		snprintf(err, errlen, "no answer from the name lookup of \"%s\" after %.1fs while connecting", name,
			 now_mono() - started);
		goto out;
	}
	/* done: the thread no longer writes to rc and res */
	if (lk->rc != 0) {
		snprintf(err, errlen, "could not translate host name \"%s\" to address: %s", name, gai_strerror(lk->rc));
		goto out;
	}
	for (const struct addrinfo *ai = lk->res; ai != NULL; ai = ai->ai_next) {
		char host[NI_MAXHOST];

		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		if (buf_append_str(addrs, host) || buf_append_str(addrs, "\n")) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	lookup_release(lk);
	return rc;
}

/* The n-th (from 0) comma-separated entry of list into out; false when there is none. */
static bool
list_entry(const char *list, int n, char *out, size_t len)
{
	const char *p = list;

	for (int i = 0; i < n; i++) {
		p = strchr(p, ',');
		if (p == NULL)
			return false;
		p++;
	}
	snprintf(out, len, "%.*s", (int)strcspn(p, ","), p);
	return true;
}

/*
 * libpq looks host names up synchronously, in PQconnectStartParams():
 * during a DNS outage that would stop the loop for the resolver's
 * timeouts.  So the names of conninfo's host= (or PGHOST) are looked up
 * here, each in a thread, and every address becomes an entry of host=
 * (kept: TLS verification and .pgpass use it), hostaddr= and port=, in
 * order.  Nothing to do (*host stays NULL) for a conninfo that has
 * hostaddr, names a service (its file is libpq's to read), or has only
 * socket directories and addresses.  On success the caller frees the
 * three strings.  0, or -1 with err set.
 */
static int
resolve_hosts(const char *conninfo, char **host, char **hostaddr, char **port, char *err, size_t errlen)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *hosts = getenv("PGHOST"), *ports = getenv("PGPORT"), *addr = getenv("PGHOSTADDR");
	const char *service = getenv("PGSERVICE");
	struct buf h, a, p, found;
	char entry[1024], pentry[64];
	bool any = false;
	int nports = 0, rc = -1;

	*host = *hostaddr = *port = NULL;
	err[0] = '\0';
	buf_init(&h, LOOKUP_MAX);
	buf_init(&a, LOOKUP_MAX);
	buf_init(&p, LOOKUP_MAX);
	buf_init(&found, LOOKUP_MAX);
	if (opts == NULL)
		return 0;	/* libpq says what is wrong with it */
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			hosts = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			ports = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			addr = o->val;
		else if (strcmp(o->keyword, "service") == 0)
			service = o->val;
	}
	if (hosts == NULL || (addr != NULL && addr[0] != '\0') || (service != NULL && service[0] != '\0'))
		goto done;
	for (int i = 0; list_entry(hosts, i, entry, sizeof(entry)); i++)
		any = any || !host_is_literal(entry);
	if (!any)
		goto done;
	if (ports != NULL)
		for (nports = 1; list_entry(ports, nports, pentry, sizeof(pentry)); nports++)
			;
	for (int i = 0; list_entry(hosts, i, entry, sizeof(entry)); i++) {
		char *line;

		if (nports > 1 && !list_entry(ports, i, pentry, sizeof(pentry)))
			goto done;	/* a count libpq refuses: it says so */
		else if (nports == 1)
			list_entry(ports, 0, pentry, sizeof(pentry));
		else if (nports == 0)
			pentry[0] = '\0';
		buf_reset(&found);
		if (host_is_literal(entry)) {
			if (buf_append_str(&found, "\n"))
				goto oom;
		} else if (lookup_name(entry, &found, err, errlen) < 0) {
			continue;	/* as libpq: the next host; err says why when none is left */
		}
		for (line = found.data; line != NULL && *line != '\0'; line += strcspn(line, "\n") + 1) {
			int n = (int)strcspn(line, "\n");

			if (h.len > 0 && (buf_append_str(&h, ",") || buf_append_str(&a, ",") || buf_append_str(&p, ",")))
				goto oom;
			if (buf_append_str(&h, entry) || buf_append(&a, line, (size_t)n) || buf_append_str(&p, pentry))
				goto oom;
		}
	}
	if (h.len == 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "could not translate host name \"%s\" to address: no address", hosts);
		goto out;
	}
	*host = buf_steal(&h);
	*hostaddr = buf_steal(&a);
	*port = nports > 0 ? buf_steal(&p) : NULL;
	if (*host == NULL || *hostaddr == NULL || (nports > 0 && *port == NULL)) {
		free(*host);
		free(*hostaddr);
		free(*port);
		*host = *hostaddr = *port = NULL;
		goto oom;
	}
done:
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	buf_free(&h);
	buf_free(&a);
	buf_free(&p);
	buf_free(&found);
	PQconninfoFree(opts);
	return rc;
}

/* Whether a failed connection may succeed later; see db.h. */
bool
db_unreachable(const char *err)
{
	static const char *const transient[] = {
		"could not connect to server", "connection refused", "timeout expired", "no answer from the",
		"network is unreachable", "no route to host", "host is unreachable", "connection reset by peer",
		"server closed the connection unexpectedly", "could not receive data from server",
		"could not send data to server", "temporary failure in name resolution",
		"the database system is starting up", "the database system is shutting down",
		"the database system is in recovery mode", "the database system is not yet accepting connections",
		"the database system is not accepting connections", "too many clients already",
		"remaining connection slots are reserved",
		/* over TLS, a server that restarts; a session ended between the connection and its first query */
		"ssl syscall error", "ssl connection has been closed unexpectedly", "ssl error: unexpected eof",
		"terminating connection due to administrator command",
	};
	char low[DB_ERR_SIZE];
	size_t i;

	for (i = 0; err[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)err[i]);
	low[i] = '\0';
	/* a Unix-domain socket that is not there: the server is down (another missing file is a setting's) */
	if (strstr(low, "no such file or directory") != NULL && strstr(low, "socket") != NULL)
		return true;
	for (i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
		if (strstr(low, transient[i]) != NULL)
			return true;
	}
	return false;
}

/* Connect and set search_path; see db.h. */
PGconn *
db_connect(const char *conninfo, const char *schema, char *err, size_t errlen)
{
	/*
	 * Later keywords win: the defaults before dbname yield to the user's
	 * conninfo (a URI or key=value string, expanded in its place), the
	 * encoding after it does not.  A database that stops answering must
	 * not hold the loop (nor the writer thread) for the kernel's TCP timeouts.
	 */
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
			       "keepalives_count", "tcp_user_timeout", "application_name", "dbname",
			       "client_encoding", NULL, NULL, NULL, NULL };
	const char *vals[] = { "10", "1", "10", "5", "3", "20000", "extend-syncd", conninfo, "UTF8", NULL, NULL, NULL,
			       NULL };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	double started = now_mono();
	PGconn *conn = NULL;
	char *quoted = NULL, *host = NULL, *hostaddr = NULL, *port = NULL;
	int n = 9;

	/* the names looked up here, not in libpq: their addresses follow dbname, and win */
	if (resolve_hosts(conninfo, &host, &hostaddr, &port, err, errlen) < 0)
		goto fail;
	/* each lookup had CONNECT_TIMEOUT of its own (as libpq gives each host); the connection has its own too */
	started = now_mono();
	if (host != NULL) {
		keys[n] = "host";
		vals[n++] = host;
		keys[n] = "hostaddr";
		vals[n++] = hostaddr;
		if (port != NULL) {
			keys[n] = "port";
			vals[n++] = port;
		}
	}
	/* as PQconnectdbParams() does, but waiting in the loop's hook, for connect_timeout at most */
	conn = PQconnectStartParams(keys, vals, 1);
	free(host);
	free(hostaddr);
	free(port);
	if (conn == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conn == abandoned)
		abandoned = NULL;	/* a new connection where the dropped one was */
	if (PQstatus(conn) == CONNECTION_BAD) {
		db_error(conn, NULL, err, errlen);
		goto fail;
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			db_error(conn, NULL, err, errlen);
			goto fail;
		}
		int ready = now_mono() - started >= CONNECT_TIMEOUT ? -1 :
			wait_socket(conn, st == PGRES_POLLING_WRITING, started, CONNECT_TIMEOUT);

		if (ready < 0) {
			snprintf(err, errlen, "no answer from the database after %.1fs while connecting",
				 now_mono() - started);
			goto fail;
		}
		/* PQconnectPoll() only when the socket is ready: it takes a premature call for an answer */
		if (ready > 0)
			st = PQconnectPoll(conn);
	}
	if (PQsetnonblocking(conn, 1) != 0) {
		db_error(conn, NULL, err, errlen);
		goto fail;
	}
	set_send_buffer(conn);
	quoted = PQescapeIdentifier(conn, schema, strlen(schema));
	if (quoted == NULL) {
		db_error(conn, NULL, err, errlen);
		goto fail;
	}
	/*
	 * ISO dates in UTC: claim tokens (lease_expires_at) go out as text and
	 * come back as parameters, and must read back as the same instant.
	 * Timeouts: a lock held elsewhere or a runaway statement must not hold
	 * the loop (or the writer) past the systemd watchdog, nor a session of
	 * ours left idle in a transaction hold its locks for ever.  Read
	 * committed whatever the role's or database's default: the budget's
	 * and the views' advisory locks serialize writers only if what each
	 * reads after its lock includes what the one before committed.
	 */
	if (exec_schema(conn, "SELECT pg_catalog.set_config('search_path', $1, false), "
			"pg_catalog.set_config('client_min_messages', 'warning', false), "
			"pg_catalog.set_config('datestyle', 'ISO, YMD', false), "
			"pg_catalog.set_config('timezone', 'UTC', false), "
			"pg_catalog.set_config('default_transaction_isolation', 'read committed', false), "
			"pg_catalog.set_config('lock_timeout', '" LOCK_TIMEOUT "', false), "
			"pg_catalog.set_config('statement_timeout', '" STATEMENT_TIMEOUT "', false), "
			"pg_catalog.set_config('idle_in_transaction_session_timeout', '"
			IDLE_IN_TRANSACTION_TIMEOUT "', false)", quoted, err, errlen) < 0)
		goto fail;
	PQfreemem(quoted);
	return conn;
fail:
	PQfreemem(quoted);
	PQfinish(conn);
	return NULL;
}

/* The newest migration this build has; see db.h. */
int
db_latest_version(void)
{
	int v = 0;

	for (const struct migration *m = db_migrations; m->name != NULL; m++)
		v = m->version;
	return v;
}

/* Run a query returning one integer; -1 with err set on failure. */
static int
query_int(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *res = db_exec_query(conn, sql);
	int v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	else
		db_error(conn, res, err, errlen);
	PQclear(res);
	return v;
}

/*
 * The versions recorded in schema_migrations (search_path is the schema),
 * ascending, in *versions (the caller frees it; NULL when none) and their
 * number in *n: none for a schema without the table.  0, or -1 with err set
 * (DB_CHECK_TIMED_OUT when the read waited out a timeout).
 */
static int
recorded_versions(PGconn *conn, int **versions, int *n, char *err, size_t errlen)
{
	int exists = query_int(conn, "SELECT (to_regclass('schema_migrations') IS NOT NULL)::int", err, errlen);
	PGresult *res;
	int rc = -1;

	*versions = NULL;
	*n = 0;
	if (exists <= 0)
		return exists;
	res = db_exec_query(conn, "SELECT version FROM schema_migrations ORDER BY version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		if (db_error_timed_out(res))
			rc = DB_CHECK_TIMED_OUT;
		goto out;
	}
	if (PQntuples(res) > 0) {
		*versions = malloc(sizeof(**versions) * (size_t)PQntuples(res));
		if (*versions == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	for (int i = 0; i < PQntuples(res); i++)
		(*versions)[i] = atoi(PQgetvalue(res, i, 0));
	*n = PQntuples(res);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Whether version is among the n recorded (ascending). */
static bool
is_recorded(const int *versions, int n, int version)
{
	for (int i = 0; i < n && versions[i] <= version; i++) {
		if (versions[i] == version)
			return true;
	}
	return false;
}

/*
 * A recorded migration this build does not carry: a newer extend-syncd
 * applied it (a downgrade), and this one would run against a schema it
 * does not know.  0, or -1 with err naming the first such version.
 */
static int
refuse_unknown(const int *versions, int n, const char *schema, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++) {
		const struct migration *m = db_migrations;

		while (m->name != NULL && m->version != versions[i])
			m++;
		if (m->name == NULL) {
			snprintf(err, errlen, "schema \"%s\" records migration %d, which this extend-syncd does not have "
				 "(its newest is %d): a newer extend-syncd migrated it, and a downgrade is not supported",
				 schema, versions[i], db_latest_version());
			return -1;
		}
	}
	return 0;
}

/* 1 when schema exists, 0 when not, -1 with err set on failure. */
static int
schema_exists(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	PGresult *res = db_exec_params(conn, "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1",
				       1, NULL, &schema, NULL, NULL, 0);
	int v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0)) > 0;
	else
		db_error(conn, res, err, errlen);
	PQclear(res);
	return v;
}

/* Apply pending migrations; see db.h. */
int
db_migrate(PGconn *conn, const char *schema, int *applied, char *err, size_t errlen)
{
	const char *lock = "SELECT pg_advisory_lock(hashtextextended('extend-syncd migrate ' || $1, 0))";
	const char *unlock = "SELECT pg_advisory_unlock(hashtextextended('extend-syncd migrate ' || $1, 0))";
	char *quoted = PQescapeIdentifier(conn, schema, strlen(schema));
	char sql[1024];
	int *recorded = NULL;
	int have, nrecorded = 0, rc = -1;

	*applied = 0;
	if (quoted == NULL) {
		db_error(conn, NULL, err, errlen);
		return -1;
	}
	/*
	 * A migration may rewrite a large table: no statement, lock or idle
	 * timeout here.  But a start-up given up on (a signal) drops the
	 * connection in the middle of a migration or of the lock's wait, which
	 * the server would go on with, unaware: from PostgreSQL 14 it checks
	 * every second that the client is still there.
	 */
	if (db_exec(conn, "SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; "
		    "SELECT pg_catalog.set_config('client_connection_check_interval', '1s', false) "
		    "WHERE pg_catalog.current_setting('server_version_num')::int >= 140000", err, errlen) < 0 ||
	    exec_schema(conn, lock, schema, err, errlen) < 0)
		goto out;
	/*
	 * CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when
	 * the schema exists: a daemon that owns only its schema (roles.sql
	 * made it) must not ask.
	 */
	have = schema_exists(conn, schema, err, errlen);
	if (have < 0)
		goto unlock;
	if (have == 0) {
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", quoted);
		if (db_exec(conn, sql, err, errlen) < 0) {
			char why[DB_ERR_SIZE];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "could not create schema \"%s\": %s (create it with roles.sql, "
				 "run once as a superuser, or grant CREATE on the database)", schema, why);
			goto unlock;
		}
	}
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s.schema_migrations (version integer PRIMARY KEY, "
		 "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); "
		 "COMMENT ON TABLE %s.schema_migrations IS 'Schema migrations of extend-syncd applied here'",
		 quoted, quoted);
	if (db_exec(conn, sql, err, errlen) < 0)
		goto unlock;
	/* every migration not recorded, in order: one merged with a lower number than one applied too */
	if (recorded_versions(conn, &recorded, &nrecorded, err, errlen) < 0 ||
	    refuse_unknown(recorded, nrecorded, schema, err, errlen) < 0)
		goto unlock;
	for (const struct migration *m = db_migrations; m->name != NULL; m++) {
		char version[16];
		const char *params[2] = { version, m->name };
		PGresult *res;

		if (is_recorded(recorded, nrecorded, m->version))
			continue;
		if (db_exec(conn, "BEGIN", err, errlen) < 0)
			goto unlock;
		if (db_exec(conn, m->sql, err, errlen) < 0) {
			char why[DB_ERR_SIZE];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "migration %s failed: %s", m->name, why);
			(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
			goto unlock;
		}
		snprintf(version, sizeof(version), "%d", m->version);
		res = db_exec_params(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
				     2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			char why[DB_ERR_SIZE];

			db_error(conn, res, err, errlen);
			PQclear(res);
			(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
			goto unlock;
		}
		PQclear(res);
		if (db_exec(conn, "COMMIT", err, errlen) < 0)
			goto unlock;
		(*applied)++;
	}
	rc = 0;
unlock:
	{
		char why[DB_ERR_SIZE];

		/* the connection goes on (a one-shot command's): its timeouts back as db_connect() set them */
		if ((exec_schema(conn, unlock, schema, why, sizeof(why)) < 0 ||
		     db_exec(conn, "SET statement_timeout = '" STATEMENT_TIMEOUT "'; SET lock_timeout = '" LOCK_TIMEOUT
			     "'; SET idle_in_transaction_session_timeout = '" IDLE_IN_TRANSACTION_TIMEOUT "'",
			     why, sizeof(why)) < 0) && rc == 0) {
			snprintf(err, errlen, "%s", why);
			rc = -1;
		}
	}
out:
	free(recorded);
	PQfreemem(quoted);
	return rc;
}

/* Check that every migration of this build is recorded, and no other; see db.h. */
int
db_check_version(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	int *recorded = NULL;
	int n = 0, rc;

	rc = recorded_versions(conn, &recorded, &n, err, errlen);
	if (rc < 0)
		goto out;
	rc = -1;
	if (refuse_unknown(recorded, n, schema, err, errlen) < 0)
		goto out;
	for (const struct migration *m = db_migrations; m->name != NULL; m++) {
		if (!is_recorded(recorded, n, m->version)) {
			snprintf(err, errlen, "schema \"%s\" lacks migration %d (%s) that this extend-syncd needs: "
				 "run extend-syncd --migrate (or set database.auto_migrate = true)", schema, m->version,
				 m->name);
			goto out;
		}
	}
	rc = 0;
out:
	free(recorded);
	return rc;
}

/* LISTEN on "<schema>.sync_queue"; see db.h. */
int
db_listen(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	char channel[128], sql[300];
	char *quoted;
	int rc;

	snprintf(channel, sizeof(channel), "%s.sync_queue", schema);
	quoted = PQescapeIdentifier(conn, channel, strlen(channel));
	if (quoted == NULL) {
		db_error(conn, NULL, err, errlen);
		return -1;
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", quoted);
	PQfreemem(quoted);
	rc = db_exec(conn, sql, err, errlen);
	return rc;
}

/* Read and drop pending notifications; see db.h. */
int
db_drain_notifies(PGconn *conn, bool readable)
{
	PGnotify *n;
	int count = 0;

	if (readable && PQconsumeInput(conn) == 0)
		return -1;
	while ((n = PQnotifies(conn)) != NULL) {
		PQfreemem(n);
		count++;
	}
	return count;
}

/* Prepare named statements; see db.h. */
int
db_prepare(PGconn *conn, const struct db_statement *st, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		PGresult *res = db_prepare_statement(conn, st[i].name, st[i].sql, 0, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_error(conn, res, err, errlen);
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}
