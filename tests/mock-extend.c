/* mock-extend: a test double of the Extend HTTP API that serves fixture workflow runs and scripted faults. */

/*
 * Usage:
 *   mock-extend --dir DIR (--key KEY | --key-file FILE) [--port N]
 *               [--port-file FILE] [--log FILE] [--version-header V]
 *               [--workspace W]
 *               [--rate-limit N [--rate-limit-retry-after SECONDS]]
 *               [--world FILE [--time-scale X] [--world-epoch SECONDS]]
 *
 * Every "*.json" file directly in DIR whose top level holds
 * "workflowRun": {"id": "X", ...} is served byte for byte for
 * GET /workflow_runs/X.  A script DIR/X.seq overrides that, one response per
 * line for successive requests (the last line repeats):
 *
 *   STATUS [BODYFILE|-] [option ...]
 *
 * with the options listed in step_options[] below.  A script is re-read
 * when its file changes, and then starts again at its first line.
 * GET /workflow_runs serves DIR/list/page1.json, or DIR/list/NAME.json when
 * nextPageToken is base64 of NAME.
 *
 * With --world FILE (format above world_load) the runs of FILE exist and move
 * through their statuses as mock time passes (--time-scale X: X times the
 * real clock).  GET /workflow_runs/X synthesizes the run's full object as it
 * is now (a DIR/X.json or a script's body file wins); only its presignedUrl
 * changes between two requests.  GET /workflow_runs lists their summaries
 * with the filters workflowId, batchId, status, fileNameContains, sortBy
 * (updatedAt, createdAt), sortDir (desc, asc), maxPageSize (1..1000, default
 * 10, else 400) and keyset paging by opaque nextPageToken (unknown: 400).
 * GET /_world (no key, not logged) gives the truth: a line per run, "id
 * workflow batch|- status|- updatedAt|- createdAt statuses-so-far", tab
 * separated, after a "# now" line.
 *
 * A script DIR/list.seq applies to list requests as DIR/X.seq does to runs
 * (a 200 without a body of its own serves the page); its extra option "loop"
 * makes the page's nextPageToken repeat the request's, and "summary=JSON"
 * (no spaces) lists that literal summary first on every world page it serves,
 * beside the page's runs: a malformed summary in an otherwise good list.
 *
 * Every request must carry the key (else 401, after --refusal-delay
 * seconds: a slow refusal), x-extend-workspace-id: W when
 * --workspace is given (else 403), and the API version (else 400).  With
 * --rate-limit N, a request to /workflow_runs or /workflow_runs/X that passed
 * those checks and would make more than floor(N) (at least 1) arrivals in
 * the last second is answered 429 (with Retry-After: SECONDS if given)
 * instead, and does not advance its script.  Those 429s count in the window
 * too, as the real API probably counts them.  SIGHUP re-reads --key-file.
 *
 * The --log file gets a line per request: arrival time, method, target,
 * status (000 if none was sent), auth (ok, bad or missing), the run's
 * request number (or -; for a world list request "L<chain>.<page>": a first
 * page starts a chain, a token's page continues the chain that issued it),
 * completion time, and "limited" for a rate limit 429 (or -).
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json.h>
#include <microhttpd.h>

#define PROGNAME	"mock-extend"
#define MAX_ID_LEN	128
#define MAX_DELAY	86400.0
#define RUNS_PATH	"/workflow_runs"
#define RUN_PREFIX	"/workflow_runs/"
#define WORLD_PATH	"/_world"
#define BLOCK_SIZE	4096
#define MAX_RATE	10000
#define WORKSPACE_HEADER "x-extend-workspace-id"

#define BODY_BAD_KEY \
	"{\"success\": false, \"error\": \"Invalid API key\"}"
#define BODY_BAD_WORKSPACE \
	"{\"success\": false, \"error\": \"Workspace not accessible with this key\"}"
#define BODY_BAD_VERSION \
	"{\"code\":\"INVALID_API_VERSION\",\"message\":\"missing or unsupported " \
	"x-extend-api-version\",\"retryable\":false}"
#define BODY_BAD_METHOD \
	"{\"code\":\"METHOD_NOT_ALLOWED\",\"message\":\"only GET is supported\"," \
	"\"retryable\":false}"
#define BODY_BAD_ID \
	"{\"code\":\"INVALID_REQUEST\",\"message\":\"invalid workflow run id\"," \
	"\"retryable\":false}"
#define BODY_BAD_LIST \
	"{\"code\":\"INVALID_REQUEST\",\"message\":\"invalid sortBy, sortDir or " \
	"maxPageSize\",\"retryable\":false}"
#define BODY_BAD_TOKEN \
	"{\"code\":\"INVALID_REQUEST\",\"message\":\"invalid nextPageToken\"," \
	"\"retryable\":false}"
#define BODY_RUN_NOT_FOUND \
	"{\"success\": false, \"error\": \"Workflow run not found\"}"
#define BODY_NOT_FOUND \
	"{\"success\": false, \"error\": \"Not found\"}"
#define BODY_EMPTY_LIST \
	"{\"success\":true,\"workflowRuns\":[]}"
#define BODY_RATE_LIMIT \
	"{\"code\":\"RATE_LIMIT_EXCEEDED\",\"message\":\"Too many requests. " \
	"Back off and retry.\",\"retryable\":true}"
#define BODY_MOCK_ERROR \
	"{\"code\":\"MOCK_ERROR\",\"message\":\"mock-extend failed, see its " \
	"stderr\",\"retryable\":false}"

/* An extra response header of a script step; name and value share one allocation. */
struct header {
	char		*name;
	const char	*value;
};

enum body_kind {
	BODY_DEFAULT,		/* indexed body for 200, generic error otherwise */
	BODY_EMPTY,
	BODY_DATA
};

/* One line of a script. */
struct step {
	unsigned int	 status;
	enum body_kind	 body_kind;
	char		*body;
	size_t		 body_len;
	struct header	*headers;
	size_t		 nheaders;
	double		 delay;
	long		 truncate;	/* body bytes to send, -1 for all */
	int		 close;
	int		 loop;		/* list page: nextPageToken repeats the request's */
	char		*summary;	/* list page: a literal summary added first, or NULL */
};

struct script {
	struct step	*steps;
	size_t		 nsteps;
	size_t		 next;		/* step for the next request */
	dev_t		 dev;		/* identity of the file it came from */
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtime;
};

struct run {
	char		*id;
	char		*body;		/* indexed body, or NULL */
	size_t		 body_len;
	struct script	*script;
	unsigned long	 nrequests;
	int		 synth;		/* the default body is synthesized (world, list) */
};

/* Per request state, created by the URI log callback on arrival. */
struct request {
	struct timespec	 arrival;
	char		*uri;		/* request target, escaped for the log */
	int		 started;	/* the handler has seen the headers */
	unsigned int	 status;	/* 0 if closed without an answer */
	long		 seq;		/* -1 unless a workflow run request */
	int		 limited;	/* answered 429 by --rate-limit */
	char		 listref[40];	/* "L<chain>.<page>" of a list request */
	int		 quiet;		/* not logged (GET /_world) */
};

/* What to answer, decided under the lock and delivered outside it. */
struct answer {
	unsigned int		 status;
	struct MHD_Response	*resp;
	double			 delay;
	int			 close;
};

/* The body of a truncate= response: only the first limit bytes are sent. */
struct partial {
	char		*data;
	size_t		 limit;
};

struct step_option {
	const char	*name;
	int		 has_value;
	const char	*(*apply)(struct step *, const char *);
};

struct status_info {
	unsigned int	 status;
	const char	*code;
	const char	*message;
	int		 retryable;
};

enum auth_result {
	AUTH_OK,
	AUTH_BAD,
	AUTH_MISSING
};

struct mock {
	const char	*dir;
	char		*auth;		/* expected Authorization value */
	const char	*version;
	const char	*workspace;	/* expected workspace id, or NULL */
	const char	*retry_after;	/* Retry-After of rate limit 429s, or NULL */
	const char	*world_file;	/* --world, or NULL */
	double		 refusal_delay;	/* --refusal-delay: seconds before a 401 */
	FILE		*log;
	struct run	*runs;
	size_t		 nruns;
	size_t		 runs_cap;
	size_t		 rate_max;	/* requests a second, 0 for no limit */
	double		 rate_window[MAX_RATE];	/* latest arrivals */
	pthread_mutex_t	 lock;		/* protects auth, runs, rate_window, stopping */
	pthread_cond_t	 wake;		/* signalled when stopping */
	int		 stopping;
};

static struct mock mock;

static const char *opt_body(struct step *, const char *);
static const char *opt_close(struct step *, const char *);
static const char *opt_delay(struct step *, const char *);
static const char *opt_header(struct step *, const char *);
static const char *opt_loop(struct step *, const char *);
static const char *opt_summary(struct step *, const char *);
static const char *opt_truncate(struct step *, const char *);

/* Script options; add new fault injections here. */
static const struct step_option step_options[] = {
	{ "body",	1, opt_body },		/* literal body, no spaces */
	{ "close",	0, opt_close },		/* close without any answer */
	{ "delay",	1, opt_delay },		/* seconds to wait first */
	{ "header",	1, opt_header },	/* Name:Value, may repeat */
	{ "loop",	0, opt_loop },		/* list: repeat the request's token */
	{ "summary",	1, opt_summary },	/* world list: one more summary, no spaces */
	{ "truncate",	1, opt_truncate },	/* send only N body bytes */
};

static const struct status_info status_infos[] = {
	{ 400, "INVALID_REQUEST", "Bad request.", 0 },
	{ 401, "UNAUTHORIZED", "Invalid API key.", 0 },
	{ 403, "FORBIDDEN", "Forbidden.", 0 },
	{ 404, "NOT_FOUND", "Workflow run not found.", 0 },
	{ 408, "REQUEST_TIMEOUT", "Request timed out.", 1 },
	{ 409, "CONFLICT", "Conflict.", 0 },
	{ 422, "UNPROCESSABLE_ENTITY", "Unprocessable entity.", 0 },
	{ 429, "RATE_LIMIT_EXCEEDED", "Too many requests. Back off and retry.", 1 },
	{ 500, "INTERNAL_ERROR", "Something went wrong.", 1 },
	{ 502, "BAD_GATEWAY", "Bad gateway.", 1 },
	{ 503, "SERVICE_UNAVAILABLE", "Service unavailable.", 1 },
	{ 504, "GATEWAY_TIMEOUT", "Gateway timeout.", 1 },
};

static void warnmsg(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
warnmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(PROGNAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
usage(void)
{
	fprintf(stderr, "usage: " PROGNAME " --dir DIR (--key KEY | --key-file FILE)"
	    " [--port N] [--port-file FILE]\n"
	    "       [--log FILE] [--version-header V] [--workspace W]\n"
	    "       [--rate-limit N [--rate-limit-retry-after SECONDS]]\n"
	    "       [--world FILE [--time-scale X] [--world-epoch SECONDS]]\n"
	    "       [--refusal-delay SECONDS]\n"
	    "--rate-limit answers 429 to requests beyond floor(N) a second; those\n"
	    "429s count too, as on the real API.  SIGHUP re-reads --key-file.\n");
}

/* Read a whole regular file into a NUL-terminated buffer; errno is kept on failure. */
static int
read_file(const char *path, char **out, size_t *outlen)
{
	struct stat sb;
	char *buf = NULL, *nbuf;
	size_t len = 0, cap;
	ssize_t n;
	int fd, rc = -1, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0)
		goto out;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	cap = (size_t)sb.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL)
		goto out;
	for (;;) {
		if (len + 1 >= cap) {
			nbuf = realloc(buf, cap * 2);
			if (nbuf == NULL)
				goto out;
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}

static char *
path_join(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* True if s is [A-Za-z0-9_-]{1,max}. */
static int
valid_name(const char *s, size_t max)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-");

	return n > 0 && n <= max && s[n] == '\0';
}

/* Copy s with spaces, controls and non-ASCII bytes %-escaped, for the log. */
static char *
escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	char *out, *p;

	out = malloc(3 * strlen(s) + 1);
	if (out == NULL)
		return NULL;
	for (p = out; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f) {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
		} else
			*p++ = (char)c;
	}
	*p = '\0';
	return out;
}

static int
b64_value(char c)
{
	const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/";
	const char *p;

	if (c == '-')		/* base64url */
		return 62;
	if (c == '_')
		return 63;
	if (c == ' ')		/* a '+' that was decoded from a query string */
		return 62;
	if (c == '\0')
		return -1;
	p = strchr(alpha, c);
	return p == NULL ? -1 : (int)(p - alpha);
}

/* Decode standard or URL-safe base64, padding optional; NULL if invalid. */
static char *
b64_decode(const char *in)
{
	size_t n = strlen(in), len = 0;
	unsigned int acc = 0, bits = 0;
	char *out;
	int v;

	while (n > 0 && in[n - 1] == '=')
		n--;
	out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v = b64_value(in[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[len] = '\0';
	return out;
}

static struct run *
run_find(const char *id)
{
	for (size_t i = 0; i < mock.nruns; i++)
		if (strcmp(mock.runs[i].id, id) == 0)
			return &mock.runs[i];
	return NULL;
}

/* Find or add the run with this id; the pointer is valid until the next call. */
static struct run *
run_get(const char *id)
{
	struct run *run, *nruns;
	size_t ncap;

	run = run_find(id);
	if (run != NULL)
		return run;
	if (mock.nruns == mock.runs_cap) {
		ncap = mock.runs_cap == 0 ? 16 : mock.runs_cap * 2;
		nruns = realloc(mock.runs, ncap * sizeof(*nruns));
		if (nruns == NULL)
			return NULL;
		mock.runs = nruns;
		mock.runs_cap = ncap;
	}
	run = &mock.runs[mock.nruns];
	memset(run, 0, sizeof(*run));
	run->id = strdup(id);
	if (run->id == NULL)
		return NULL;
	mock.nruns++;
	return run;
}

static void
step_free(struct step *st)
{
	free(st->body);
	free(st->summary);
	for (size_t i = 0; i < st->nheaders; i++)
		free(st->headers[i].name);
	free(st->headers);
}

static void
script_free(struct script *sc)
{
	if (sc == NULL)
		return;
	for (size_t i = 0; i < sc->nsteps; i++)
		step_free(&sc->steps[i]);
	free(sc->steps);
	free(sc);
}

static const char *
opt_body(struct step *st, const char *value)
{
	if (st->body_kind != BODY_DEFAULT)
		return "more than one body given";
	st->body = strdup(value);
	if (st->body == NULL)
		return "out of memory";
	st->body_len = strlen(value);
	st->body_kind = BODY_DATA;
	return NULL;
}

static const char *
opt_close(struct step *st, const char *value)
{
	(void)value;
	st->close = 1;
	return NULL;
}

static const char *
opt_delay(struct step *st, const char *value)
{
	char *end;

	errno = 0;
	st->delay = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !isfinite(st->delay) ||
	    st->delay < 0 || st->delay > MAX_DELAY)
		return "invalid delay";
	return NULL;
}

static const char *
opt_header(struct step *st, const char *value)
{
	struct header *nh;
	char *name, *colon;

	colon = strchr(value, ':');
	if (colon == NULL || colon == value)
		return "header must be Name:Value";
	nh = realloc(st->headers, (st->nheaders + 1) * sizeof(*nh));
	if (nh == NULL)
		return "out of memory";
	st->headers = nh;
	name = strdup(value);
	if (name == NULL)
		return "out of memory";
	name[colon - value] = '\0';
	st->headers[st->nheaders].name = name;
	st->headers[st->nheaders].value = name + (colon - value) + 1;
	st->nheaders++;
	return NULL;
}

static const char *
opt_loop(struct step *st, const char *value)
{
	(void)value;
	st->loop = 1;
	return NULL;
}

static const char *
opt_summary(struct step *st, const char *value)
{
	struct json_object *o = json_tokener_parse(value);

	if (o == NULL)
		return "summary must be JSON";
	json_object_put(o);
	free(st->summary);
	st->summary = strdup(value);
	return st->summary == NULL ? "out of memory" : NULL;
}

static const char *
opt_truncate(struct step *st, const char *value)
{
	char *end;

	errno = 0;
	st->truncate = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || st->truncate < 0)
		return "invalid truncate";
	return NULL;
}

/* Look a token up as NAME or NAME=VALUE; *value is NULL when there is no '='. */
static const struct step_option *
find_option(const char *tok, const char **value)
{
	size_t len = strcspn(tok, "=");

	*value = tok[len] == '=' ? tok + len + 1 : NULL;
	for (size_t i = 0; i < sizeof(step_options) / sizeof(step_options[0]); i++)
		if (strlen(step_options[i].name) == len &&
		    strncmp(step_options[i].name, tok, len) == 0)
			return &step_options[i];
	return NULL;
}

/* Parse one script line; st is left freeable even on failure. */
static int
parse_step(char *line, const struct run *run, struct step *st, char *err,
    size_t errsz)
{
	const struct step_option *opt;
	const char *value, *msg;
	char *save = NULL, *tok, *end, *path = NULL;
	long status;
	int rc = -1, saved;

	memset(st, 0, sizeof(*st));
	st->truncate = -1;
	tok = strtok_r(line, " \t\r", &save);
	errno = 0;
	status = strtol(tok, &end, 10);
	if (errno != 0 || *end != '\0' || status < 200 || status > 599) {
		snprintf(err, errsz, "invalid status \"%s\"", tok);
		goto out;
	}
	st->status = (unsigned int)status;

	/* An optional BODYFILE comes first: a token without '=' that is no option. */
	tok = strtok_r(NULL, " \t\r", &save);
	if (tok != NULL && find_option(tok, &value) == NULL &&
	    strchr(tok, '=') == NULL) {
		if (strcmp(tok, "-") == 0)
			st->body_kind = BODY_EMPTY;
		else {
			path = path_join(mock.dir, tok);
			if (path == NULL) {
				snprintf(err, errsz, "out of memory");
				goto out;
			}
			if (read_file(path, &st->body, &st->body_len) < 0) {
				saved = errno;
				snprintf(err, errsz, "could not read body file \"%s\": %s",
				    path, strerror(saved));
				goto out;
			}
			st->body_kind = BODY_DATA;
		}
		tok = strtok_r(NULL, " \t\r", &save);
	}

	for (; tok != NULL; tok = strtok_r(NULL, " \t\r", &save)) {
		opt = find_option(tok, &value);
		if (opt == NULL) {
			snprintf(err, errsz, "unknown option \"%s\"", tok);
			goto out;
		}
		if (opt->has_value && value == NULL) {
			snprintf(err, errsz, "option \"%s\" needs a value", tok);
			goto out;
		}
		if (!opt->has_value && value != NULL) {
			snprintf(err, errsz, "option \"%s\" takes no value", opt->name);
			goto out;
		}
		msg = opt->apply(st, value);
		if (msg != NULL) {
			snprintf(err, errsz, "%s: \"%s\"", msg, tok);
			goto out;
		}
	}
	if (st->status == 200 && st->body_kind == BODY_DEFAULT && run->body == NULL &&
	    !run->synth && !st->close) {
		snprintf(err, errsz, "status 200 without a body, and no indexed body "
		    "for \"%s\"", run->id);
		goto out;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

static struct script *
script_load(const char *path, const struct run *run, const struct stat *sb)
{
	struct script *sc = NULL;
	struct step *nsteps;
	char *buf = NULL, *line, *next, *p;
	char err[512];
	size_t len, cap = 0;
	unsigned int lineno = 0;
	int ok = 0;

	if (read_file(path, &buf, &len) < 0) {
		warnmsg("could not read file \"%s\": %s", path, strerror(errno));
		goto out;
	}
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL) {
		warnmsg("out of memory");
		goto out;
	}
	for (line = buf; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		p = line + strspn(line, " \t\r");
		if (*p == '\0' || *p == '#')
			continue;
		if (sc->nsteps == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			nsteps = realloc(sc->steps, cap * sizeof(*nsteps));
			if (nsteps == NULL) {
				warnmsg("out of memory");
				goto out;
			}
			sc->steps = nsteps;
		}
		if (parse_step(p, run, &sc->steps[sc->nsteps], err, sizeof(err)) < 0) {
			step_free(&sc->steps[sc->nsteps]);
			warnmsg("invalid script \"%s\" line %u: %s", path, lineno, err);
			goto out;
		}
		sc->nsteps++;
	}
	if (sc->nsteps == 0) {
		warnmsg("script \"%s\" has no responses", path);
		goto out;
	}
	sc->dev = sb->st_dev;
	sc->ino = sb->st_ino;
	sc->size = sb->st_size;
	sc->mtime = sb->st_mtim;
	ok = 1;
out:
	free(buf);
	if (!ok) {
		script_free(sc);
		sc = NULL;
	}
	return sc;
}

/* Bring run->script in line with DIR/<id>.seq; called with the lock held. */
static int
script_refresh(struct run *run)
{
	struct script *sc = run->script;
	struct stat sb;
	char *path = NULL, *name = NULL;
	int rc = -1;

	if (asprintf(&name, "%s.seq", run->id) < 0) {
		name = NULL;
		warnmsg("out of memory");
		goto out;
	}
	path = path_join(mock.dir, name);
	if (path == NULL) {
		warnmsg("out of memory");
		goto out;
	}
	if (stat(path, &sb) < 0) {
		if (errno != ENOENT) {
			warnmsg("could not stat file \"%s\": %s", path, strerror(errno));
			goto out;
		}
		script_free(run->script);
		run->script = NULL;
		rc = 0;
		goto out;
	}
	if (sc != NULL && sc->dev == sb.st_dev && sc->ino == sb.st_ino &&
	    sc->size == sb.st_size && sc->mtime.tv_sec == sb.st_mtim.tv_sec &&
	    sc->mtime.tv_nsec == sb.st_mtim.tv_nsec) {
		rc = 0;
		goto out;
	}
	sc = script_load(path, run, &sb);
	if (sc == NULL)
		goto out;
	script_free(run->script);
	run->script = sc;
	rc = 0;
out:
	free(name);
	free(path);
	return rc;
}

/* Index DIR/name if it is a workflow run body. */
static int
index_body(const char *name)
{
	struct json_object *root = NULL, *wr, *id;
	struct stat sb;
	struct run *run;
	char *path, *buf = NULL;
	size_t len;
	int rc = -1;

	path = path_join(mock.dir, name);
	if (path == NULL) {
		warnmsg("out of memory");
		goto out;
	}
	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = 0;
		goto out;
	}
	if (read_file(path, &buf, &len) < 0) {
		warnmsg("could not read file \"%s\": %s", path, strerror(errno));
		goto out;
	}
	root = json_tokener_parse(buf);
	if (root == NULL) {
		warnmsg("ignoring file \"%s\": not valid JSON", path);
		rc = 0;
		goto out;
	}
	if (!json_object_object_get_ex(root, "workflowRun", &wr) ||
	    !json_object_is_type(wr, json_type_object) ||
	    !json_object_object_get_ex(wr, "id", &id) ||
	    !json_object_is_type(id, json_type_string)) {
		rc = 0;
		goto out;
	}
	run = run_get(json_object_get_string(id));
	if (run == NULL) {
		warnmsg("out of memory");
		goto out;
	}
	if (run->body != NULL) {
		warnmsg("ignoring file \"%s\": workflow run \"%s\" is already indexed",
		    path, run->id);
		rc = 0;
		goto out;
	}
	run->body = buf;
	run->body_len = len;
	buf = NULL;
	rc = 0;
out:
	json_object_put(root);
	free(buf);
	free(path);
	return rc;
}

/* Load DIR/name, a script named after its run id. */
static int
load_script(const char *name)
{
	struct run *run;
	char *id;
	int rc = -1;

	id = strndup(name, strlen(name) - strlen(".seq"));
	if (id == NULL) {
		warnmsg("out of memory");
		goto out;
	}
	if (!valid_name(id, MAX_ID_LEN)) {
		warnmsg("ignoring script \"%s/%s\": not a valid run id", mock.dir, name);
		rc = 0;
		goto out;
	}
	run = run_get(id);
	if (run == NULL) {
		warnmsg("out of memory");
		goto out;
	}
	rc = script_refresh(run);
out:
	free(id);
	return rc;
}

static int
load_dir(void)
{
	struct dirent **names = NULL;
	int n, i, rc = -1;

	n = scandir(mock.dir, &names, NULL, alphasort);
	if (n < 0) {
		warnmsg("could not open directory \"%s\": %s", mock.dir,
		    strerror(errno));
		return -1;
	}
	/* Bodies first, so that scripts can tell whether a 200 has a body. */
	for (i = 0; i < n; i++)
		if (has_suffix(names[i]->d_name, ".json") &&
		    index_body(names[i]->d_name) < 0)
			goto out;
	for (i = 0; i < n; i++)
		if (has_suffix(names[i]->d_name, ".seq") &&
		    strcmp(names[i]->d_name, "list.seq") != 0 &&
		    load_script(names[i]->d_name) < 0)
			goto out;
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void
free_runs(void)
{
	for (size_t i = 0; i < mock.nruns; i++) {
		free(mock.runs[i].id);
		free(mock.runs[i].body);
		script_free(mock.runs[i].script);
	}
	free(mock.runs);
	mock.runs = NULL;
	mock.nruns = mock.runs_cap = 0;
}

static size_t
generic_body(unsigned int status, char *buf, size_t bufsz)
{
	const struct status_info *si = NULL;
	static const struct status_info server = { 0, "INTERNAL_ERROR",
	    "Something went wrong.", 1 };
	static const struct status_info client = { 0, "ERROR",
	    "Request failed.", 0 };
	int n;

	for (size_t i = 0; i < sizeof(status_infos) / sizeof(status_infos[0]); i++)
		if (status_infos[i].status == status)
			si = &status_infos[i];
	if (si == NULL)
		si = status >= 500 ? &server : &client;
	n = snprintf(buf, bufsz, "{\"code\":\"%s\",\"message\":\"%s\","
	    "\"retryable\":%s}", si->code, si->message,
	    si->retryable ? "true" : "false");
	return n < 0 ? 0 : (size_t)n;
}

static ssize_t
partial_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct partial *p = cls;
	size_t n;

	if (pos >= p->limit)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = p->limit - (size_t)pos;
	if (n > max)
		n = max;
	memcpy(buf, p->data + pos, n);
	return (ssize_t)n;
}

static void
partial_free(void *cls)
{
	struct partial *p = cls;

	free(p->data);
	free(p);
}

/* A response announcing len bytes but sending only limit of them. */
static struct MHD_Response *
partial_response(const char *body, size_t len, size_t limit)
{
	struct MHD_Response *resp = NULL;
	struct partial *p;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto out;
	p->data = malloc(len + 1);
	if (p->data == NULL)
		goto out;
	memcpy(p->data, body, len);
	p->limit = limit;
	resp = MHD_create_response_from_callback(len, BLOCK_SIZE, partial_read,
	    p, partial_free);
out:
	if (resp == NULL && p != NULL)
		partial_free(p);
	return resp;
}

static void
answer_json(struct answer *a, unsigned int status, const char *body, size_t len)
{
	a->status = status;
	a->resp = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (a->resp == NULL) {
		warnmsg("out of memory");
		return;
	}
	MHD_add_response_header(a->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
}

static void
answer_const(struct answer *a, unsigned int status, const char *body)
{
	answer_json(a, status, body, strlen(body));
}

/*
 * Turn a script step into an answer; called with the lock held.  A 200
 * without a body of its own sends defbody (the indexed or synthesized body).
 */
static void
answer_step(struct answer *a, const struct step *st, const struct run *run,
    const char *defbody, size_t deflen)
{
	const char *body = "";
	char generic[256];
	size_t len = 0;
	int typed = 0;

	a->status = st->status;
	a->delay = st->delay;
	a->close = st->close;
	if (st->close)
		return;
	if (st->body_kind == BODY_DATA) {
		body = st->body;
		len = st->body_len;
	} else if (st->body_kind == BODY_DEFAULT && st->status == 200 &&
	    defbody != NULL) {
		body = defbody;
		len = deflen;
	} else if (st->body_kind == BODY_DEFAULT) {
		len = generic_body(st->status, generic, sizeof(generic));
		body = generic;
	}
	if (st->truncate >= 0 && (size_t)st->truncate < len)
		a->resp = partial_response(body, len, (size_t)st->truncate);
	else
		a->resp = MHD_create_response_from_buffer(len, (void *)body,
		    MHD_RESPMEM_MUST_COPY);
	if (a->resp == NULL) {
		warnmsg("out of memory");
		return;
	}
	for (size_t i = 0; i < st->nheaders; i++) {
		if (strcasecmp(st->headers[i].name, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
			typed = 1;
		if (MHD_add_response_header(a->resp, st->headers[i].name,
		    st->headers[i].value) == MHD_NO)
			warnmsg("could not add header \"%s\" for run \"%s\"",
			    st->headers[i].name, run->id);
	}
	if (!typed)
		MHD_add_response_header(a->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/json");
}

/*
 * The changing world (--world FILE).  Each line of FILE describes a run:
 *
 *   ID WORKFLOW_ID BATCH_ID|- STATUS@OFFSET [STATUS@OFFSET ...]
 *
 * OFFSET is in seconds of mock time from the mock's time zero (negative: in
 * the past), increasing along the line.  The first transition is the run's
 * creation: before it the run does not exist (404, not listed).  Mock time
 * runs --time-scale times faster than the real clock from the moment the
 * mock starts; time zero is --world-epoch (Unix seconds, default the start).
 * A run's updatedAt is the time of its last transition so far.
 */

#define WORLD_MAX_TRANS	16
#define WORLD_STATUS_LEN 24
#define PAGE_DEFAULT	10
#define PAGE_MAX	1000

struct transition {
	long long	 at;		/* milliseconds of mock time from time zero */
	char		 status[WORLD_STATUS_LEN];
};

struct wrun {
	char			*id;
	char			*workflow;
	char			*batch;		/* or NULL */
	struct transition	 tr[WORLD_MAX_TRANS];
	size_t			 ntr;
};

/* Where a page ends: the sort key and id of its last run (or the start). */
struct token {
	char		 name[24];
	int		 at_start;
	long long	 key;
	char		*id;
	unsigned long	 chain;
	unsigned long	 page;
};

struct world {
	struct wrun	*runs;		/* sorted by id */
	size_t		 nruns;
	double		 scale;
	double		 epoch;		/* Unix time of mock time zero */
	double		 real_start;	/* Unix time the mock started */
	unsigned long	 presigned;	/* counter: every presignedUrl differs */
	struct token	*tokens;
	size_t		 ntokens;
	size_t		 tokens_cap;
	unsigned long	 chains;
};

static struct world world = { .scale = 1.0 };
static struct run list_run = { .id = (char *)"list", .synth = 1 };

static double
real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Mock time now, in milliseconds from time zero. */
static long long
world_now(void)
{
	return (long long)floor((real_now() - world.real_start) * world.scale * 1000.0);
}

/* RFC 3339 UTC with milliseconds of a mock time. */
static void
world_stamp(long long at, char *buf, size_t bufsz)
{
	long long ms = (long long)llround(world.epoch * 1000.0) + at;
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	char date[32];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, bufsz, "%s.%03lldZ", date, ms - (long long)secs * 1000);
}

/* Index of the run's current transition at mock time now, or -1 if it does not exist yet. */
static int
wrun_current(const struct wrun *w, long long now)
{
	int k = -1;

	for (size_t i = 0; i < w->ntr && w->tr[i].at <= now; i++)
		k = (int)i;
	return k;
}

static int
wrun_cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct wrun *)a)->id, ((const struct wrun *)b)->id);
}

static struct wrun *
world_find(const char *id)
{
	struct wrun key = { .id = (char *)id };

	if (world.nruns == 0)
		return NULL;
	return bsearch(&key, world.runs, world.nruns, sizeof(key), wrun_cmp_id);
}

static int
valid_status(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");

	return n > 0 && n < WORLD_STATUS_LEN && s[n] == '\0';
}

/* Parse one world line into w; a message on failure. */
static const char *
world_parse_line(char *line, struct wrun *w)
{
	char *save = NULL, *tok, *at, *end;
	double off;

	memset(w, 0, sizeof(*w));
	tok = strtok_r(line, " \t\r", &save);
	if (tok == NULL || !valid_name(tok, MAX_ID_LEN))
		return "invalid run id";
	w->id = strdup(tok);
	tok = strtok_r(NULL, " \t\r", &save);
	if (tok == NULL || !valid_name(tok, MAX_ID_LEN))
		return "invalid workflow id";
	w->workflow = strdup(tok);
	tok = strtok_r(NULL, " \t\r", &save);
	if (tok == NULL || (strcmp(tok, "-") != 0 && !valid_name(tok, MAX_ID_LEN)))
		return "invalid batch id";
	if (strcmp(tok, "-") != 0)
		w->batch = strdup(tok);
	while ((tok = strtok_r(NULL, " \t\r", &save)) != NULL) {
		if (w->ntr == WORLD_MAX_TRANS)
			return "too many transitions";
		at = strchr(tok, '@');
		if (at == NULL)
			return "transition must be STATUS@OFFSET";
		*at++ = '\0';
		if (!valid_status(tok))
			return "invalid status";
		errno = 0;
		off = strtod(at, &end);
		if (errno != 0 || end == at || *end != '\0' || !isfinite(off) ||
		    fabs(off) > 1e10)
			return "invalid offset";
		w->tr[w->ntr].at = llround(off * 1000.0);
		if (w->ntr > 0 && w->tr[w->ntr].at <= w->tr[w->ntr - 1].at)
			return "offsets must increase";
		snprintf(w->tr[w->ntr].status, WORLD_STATUS_LEN, "%s", tok);
		w->ntr++;
	}
	if (w->ntr == 0)
		return "no transitions";
	if (w->id == NULL || w->workflow == NULL)
		return "out of memory";
	return NULL;
}

static void
wrun_free(struct wrun *w)
{
	free(w->id);
	free(w->workflow);
	free(w->batch);
}

static int
world_load(const char *path)
{
	struct wrun w, *nruns;
	char *buf = NULL, *line, *next, *p;
	const char *msg;
	size_t len, cap = 0;
	unsigned int lineno = 0;
	struct run *run;
	int rc = -1;

	if (read_file(path, &buf, &len) < 0) {
		warnmsg("could not read file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	for (line = buf; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		p = line + strspn(line, " \t\r");
		if (*p == '\0' || *p == '#')
			continue;
		msg = world_parse_line(p, &w);
		if (msg != NULL) {
			wrun_free(&w);
			warnmsg("invalid world \"%s\" line %u: %s", path, lineno, msg);
			goto out;
		}
		if (world.nruns == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			nruns = realloc(world.runs, cap * sizeof(*nruns));
			if (nruns == NULL) {
				wrun_free(&w);
				warnmsg("out of memory");
				goto out;
			}
			world.runs = nruns;
		}
		world.runs[world.nruns++] = w;
	}
	qsort(world.runs, world.nruns, sizeof(*world.runs), wrun_cmp_id);
	for (size_t i = 0; i + 1 < world.nruns; i++)
		if (strcmp(world.runs[i].id, world.runs[i + 1].id) == 0) {
			warnmsg("invalid world \"%s\": run \"%s\" twice", path,
			    world.runs[i].id);
			goto out;
		}
	/* Scripts of world runs may answer 200 with the synthesized body. */
	for (size_t i = 0; i < world.nruns; i++) {
		run = run_get(world.runs[i].id);
		if (run == NULL) {
			warnmsg("out of memory");
			goto out;
		}
		run->synth = 1;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

static void
world_free(void)
{
	for (size_t i = 0; i < world.nruns; i++)
		wrun_free(&world.runs[i]);
	free(world.runs);
	for (size_t i = 0; i < world.ntokens; i++)
		free(world.tokens[i].id);
	free(world.tokens);
}

static int
is_final(const char *status)
{
	return strcmp(status, "PROCESSED") == 0 || strcmp(status, "FAILED") == 0 ||
	    strcmp(status, "CANCELLED") == 0 || strcmp(status, "REJECTED") == 0;
}

/* Time of the first transition to a status of list (NUL-separated), or -1. */
static int
first_of(const struct wrun *w, int k, const char *const *list)
{
	for (int i = 0; i <= k; i++)
		for (const char *const *s = list; *s != NULL; s++)
			if (strcmp(w->tr[i].status, *s) == 0)
				return i;
	return -1;
}

static void
jadd(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static struct json_object *
jstr(const char *s)
{
	return json_object_new_string(s);
}

static struct json_object *
jstamp(long long at)
{
	char buf[48];

	world_stamp(at, buf, sizeof(buf));
	return jstr(buf);
}

/* A small hash of the run id, for values that differ between runs but never between fetches. */
static unsigned long
id_hash(const char *s)
{
	unsigned long h = 5381;

	for (; *s != '\0'; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

/*
 * The full WorkflowRun of w as it is at its transition k; only presignedUrl
 * differs between two calls (a counter in its query).  Called with the lock
 * held.  The caller frees the string.
 */
static char *
world_run_body(const struct wrun *w, int k)
{
	static const char *const started[] = { "PROCESSING", "NEEDS_REVIEW",
	    "PROCESSED", "FAILED", "CANCELLED", "CANCELLING", "REJECTED", NULL };
	static const char *const reviewed_st[] = { "NEEDS_REVIEW", NULL };
	struct json_object *root, *r, *o, *files, *f, *c, *pages, *pg, *outs, *pr;
	struct json_object *val, *meta, *steps, *sr, *step, *rules, *rule;
	const char *status = w->tr[k].status;
	unsigned long h = id_hash(w->id);
	char buf[512], *out;
	int si, ri, final = is_final(status), reviewed;

	ri = first_of(w, k, reviewed_st);
	reviewed = ri >= 0 && ri < k && (strcmp(status, "PROCESSED") == 0 ||
	    strcmp(status, "REJECTED") == 0);
	si = first_of(w, k, started);

	root = json_object_new_object();
	jadd(root, "success", json_object_new_boolean(1));
	r = json_object_new_object();
	jadd(root, "workflowRun", r);
	jadd(r, "object", jstr("workflow_run"));
	jadd(r, "id", jstr(w->id));
	snprintf(buf, sizeof(buf), "Run %s", w->id);
	jadd(r, "name", jstr(buf));
	snprintf(buf, sizeof(buf), "https://dashboard.extend.ai/workflows/runs/%s", w->id);
	jadd(r, "url", jstr(buf));
	jadd(r, "status", jstr(status));
	o = json_object_new_object();
	jadd(o, "source", jstr("mock-world"));
	jadd(o, "customer", json_object_new_int64((int64_t)(h % 1000)));
	jadd(r, "metadata", o);
	if (w->batch != NULL)
		jadd(r, "batchId", jstr(w->batch));

	files = json_object_new_array();
	f = json_object_new_object();
	jadd(f, "object", jstr("file"));
	snprintf(buf, sizeof(buf), "file_%s", w->id);
	jadd(f, "id", jstr(buf));
	snprintf(buf, sizeof(buf), "%s.pdf", w->id);
	jadd(f, "name", jstr(buf));
	o = json_object_new_object();
	jadd(o, "pageCount", json_object_new_int(1));
	jadd(f, "metadata", o);
	jadd(f, "createdAt", jstamp(w->tr[0].at));
	jadd(f, "updatedAt", jstamp(w->tr[0].at));
	jadd(f, "type", jstr("PDF"));
	snprintf(buf, sizeof(buf), "https://files.extend.invalid/%s/dummy.pdf?"
	    "X-Amz-Expires=900&X-Amz-Signature=%016lx%08lx", w->id, h,
	    ++world.presigned);
	jadd(f, "presignedUrl", jstr(buf));
	if (si >= 0) {
		c = json_object_new_object();
		snprintf(buf, sizeof(buf), "Invoice %lu for customer %lu", h % 100000,
		    h % 1000);
		jadd(c, "rawText", jstr(buf));
		pages = json_object_new_array();
		pg = json_object_new_object();
		jadd(pg, "pageNumber", json_object_new_int(1));
		jadd(pg, "pageHeight", json_object_new_int(792));
		jadd(pg, "pageWidth", json_object_new_int(612));
		jadd(pg, "rawText", jstr(buf));
		json_object_array_add(pages, pg);
		jadd(c, "pages", pages);
		jadd(f, "contents", c);
	}
	json_object_array_add(files, f);
	jadd(r, "files", files);

	if (strcmp(status, "FAILED") == 0) {
		jadd(r, "failureReason", jstr("INTERNAL_ERROR"));
		jadd(r, "failureMessage", jstr("The mock world failed this run."));
	}
	jadd(r, "initialRunAt", jstamp(w->tr[0].at));
	jadd(r, "reviewed", json_object_new_boolean(reviewed));
	if (reviewed) {
		jadd(r, "reviewedBy", jstr("reviewer@example.com"));
		jadd(r, "reviewedAt", jstamp(w->tr[k].at));
	}
	if (strcmp(status, "REJECTED") == 0)
		jadd(r, "rejectionNote", jstr("Rejected by the mock world."));
	if (si >= 0)
		jadd(r, "startTime", jstamp(w->tr[si].at));
	if (final)
		jadd(r, "endTime", jstamp(w->tr[k].at));

	outs = json_object_new_array();
	if (si >= 0) {
		pr = json_object_new_object();
		jadd(pr, "object", jstr("document_processor_run"));
		snprintf(buf, sizeof(buf), "dpr_%s", w->id);
		jadd(pr, "id", jstr(buf));
		jadd(pr, "processorId", jstr("dp_mockworld"));
		jadd(pr, "processorVersionId", jstr("dpv_mockworld_1"));
		jadd(pr, "processorName", jstr("Mock World Extractor"));
		jadd(pr, "status", jstr(strcmp(status, "PROCESSING") == 0 ? "PROCESSING" :
		    strcmp(status, "FAILED") == 0 ? "FAILED" : "PROCESSED"));
		jadd(pr, "type", jstr("EXTRACT"));
		o = json_object_new_object();
		val = json_object_new_object();
		meta = json_object_new_object();
		if (strcmp(status, "PROCESSING") != 0) {
			jadd(val, "invoice_number", json_object_new_int64((int64_t)(h % 100000)));
			snprintf(buf, sizeof(buf), "%lu.%02lu", h % 10000 / 100, h % 100);
			jadd(val, "total", json_object_new_double_s((double)(h % 10000) / 100.0, buf));
			c = json_object_new_object();
			snprintf(buf, sizeof(buf), "0.%02lu", 75 + h % 25);
			jadd(c, "ocrConfidence", json_object_new_double_s(0.75 + (double)(h % 25) / 100.0, buf));
			jadd(c, "logprobsConfidence", json_object_new_double_s(0.5, "0.5"));
			jadd(meta, "total", c);
		}
		jadd(o, "value", val);
		jadd(o, "metadata", meta);
		jadd(pr, "output", o);
		jadd(pr, "reviewed", json_object_new_boolean(reviewed));
		jadd(pr, "edited", json_object_new_boolean(0));
		jadd(pr, "edits", json_object_new_object());
		o = json_object_new_object();
		jadd(o, "type", jstr("EXTRACT"));
		jadd(pr, "config", o);
		jadd(pr, "files", json_object_new_array());
		jadd(pr, "mergedProcessors", json_object_new_array());
		snprintf(buf, sizeof(buf), "https://dashboard.extend.ai/processor-runs/dpr_%s", w->id);
		jadd(pr, "url", jstr(buf));
		json_object_array_add(outs, pr);
	}
	jadd(r, "outputs", outs);

	steps = json_object_new_array();
	if (final || strcmp(status, "NEEDS_REVIEW") == 0) {
		sr = json_object_new_object();
		jadd(sr, "object", jstr("workflow_step_run"));
		snprintf(buf, sizeof(buf), "wsr_%s", w->id);
		jadd(sr, "id", jstr(buf));
		jadd(sr, "status", jstr("PROCESSED"));
		step = json_object_new_object();
		jadd(step, "object", jstr("workflow_step"));
		jadd(step, "id", jstr("step_mockworld_rules"));
		jadd(step, "name", jstr("Totals are positive"));
		jadd(step, "type", jstr("RULE_VALIDATION"));
		jadd(sr, "step", step);
		o = json_object_new_object();
		rules = json_object_new_array();
		rule = json_object_new_object();
		jadd(rule, "name", jstr("total_positive"));
		jadd(rule, "valid", json_object_new_boolean(strcmp(status, "NEEDS_REVIEW") != 0));
		json_object_array_add(rules, rule);
		jadd(o, "rules", rules);
		jadd(sr, "output", o);
		json_object_array_add(steps, sr);
	}
	jadd(r, "stepRuns", steps);

	o = json_object_new_object();
	jadd(o, "object", jstr("workflow"));
	jadd(o, "id", jstr(w->workflow));
	jadd(o, "version", jstr("1"));
	snprintf(buf, sizeof(buf), "Workflow %s", w->workflow);
	jadd(o, "name", jstr(buf));
	jadd(r, "workflow", o);
	if (final) {
		o = json_object_new_object();
		snprintf(buf, sizeof(buf), "%lu.%lu", h % 50 / 10 + 1, h % 10);
		jadd(o, "credits", json_object_new_double_s((double)(h % 50) / 10.0 + 1.0, buf));
		jadd(r, "usage", o);
	}

	out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}

/* The list summary of w at its transition k. */
static struct json_object *
world_summary(const struct wrun *w, int k)
{
	static const char *const started[] = { "PROCESSING", "NEEDS_REVIEW",
	    "PROCESSED", "FAILED", "CANCELLED", "CANCELLING", "REJECTED", NULL };
	struct json_object *s;
	char buf[256];
	int si = first_of(w, k, started);

	s = json_object_new_object();
	jadd(s, "id", jstr(w->id));
	jadd(s, "status", jstr(w->tr[k].status));
	jadd(s, "workflowId", jstr(w->workflow));
	snprintf(buf, sizeof(buf), "Workflow %s", w->workflow);
	jadd(s, "workflowName", jstr(buf));
	jadd(s, "workflowVersionId", jstr("workflow_version_1"));
	jadd(s, "createdAt", jstamp(w->tr[0].at));
	jadd(s, "updatedAt", jstamp(w->tr[k].at));
	jadd(s, "initialRunAt", jstamp(w->tr[0].at));
	if (si >= 0)
		jadd(s, "startTime", jstamp(w->tr[si].at));
	if (is_final(w->tr[k].status))
		jadd(s, "endTime", jstamp(w->tr[k].at));
	if (w->batch != NULL)
		jadd(s, "batchId", jstr(w->batch));
	return s;
}

/* One listed run: its sort key (ms), id and current transition. */
struct item {
	long long		 key;
	const struct wrun	*w;
	int			 k;
};

static int list_desc;

static int
item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = x->key < y->key ? -1 : x->key > y->key;

	if (c == 0)
		c = strcmp(x->w->id, y->w->id);
	return list_desc ? -c : c;
}

static struct token *
token_find(const char *name)
{
	for (size_t i = 0; i < world.ntokens; i++)
		if (strcmp(world.tokens[i].name, name) == 0)
			return &world.tokens[i];
	return NULL;
}

/* Register a new opaque token; NULL when out of memory. */
static struct token *
token_new(int at_start, long long key, const char *id, unsigned long chain,
    unsigned long page)
{
	struct token *nt, *t;
	unsigned long long x;

	if (world.ntokens == world.tokens_cap) {
		world.tokens_cap = world.tokens_cap == 0 ? 64 : world.tokens_cap * 2;
		nt = realloc(world.tokens, world.tokens_cap * sizeof(*nt));
		if (nt == NULL)
			return NULL;
		world.tokens = nt;
	}
	t = &world.tokens[world.ntokens];
	memset(t, 0, sizeof(*t));
	/* splitmix64 of the counter: opaque, and unique */
	x = (unsigned long long)world.ntokens + 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	snprintf(t->name, sizeof(t->name), "pt%016llx", x);
	t->at_start = at_start;
	t->key = key;
	t->chain = chain;
	t->page = page;
	if (id != NULL) {
		t->id = strdup(id);
		if (t->id == NULL)
			return NULL;
	}
	world.ntokens++;
	return t;
}

static int
list_param_ok(const char *v, const char *a, const char *b)
{
	return v == NULL || strcmp(v, a) == 0 || strcmp(v, b) == 0;
}

/*
 * A page of GET /workflow_runs over the world, for the query of conn; the
 * step's loop option makes nextPageToken repeat the request's, its summary
 * option (extra, or NULL) is listed first, as it is, beside the page's runs.  Returns the
 * body, or NULL with *status and *err set.  Called with the lock held.
 */
static char *
world_list(struct MHD_Connection *conn, struct request *req, int loop,
    const char *extra, unsigned int *status, const char **err)
{
	const char *wf, *batch, *st, *sort_by, *sort_dir, *size_s, *tok, *name_part;
	struct item *items = NULL, cursor;
	struct json_object *root = NULL, *arr;
	struct token *from = NULL, *next = NULL;
	struct wrun cursor_run;
	unsigned long chain, page;
	long long now = world_now();
	size_t n = 0, start = 0, end, nitems;
	long size = PAGE_DEFAULT;
	char *endp, *out = NULL, fname[MAX_ID_LEN + 8];
	int k;

	*status = MHD_HTTP_BAD_REQUEST;
	*err = BODY_BAD_TOKEN;
	wf = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "workflowId");
	batch = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "batchId");
	st = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status");
	name_part = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "fileNameContains");
	sort_by = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sortBy");
	sort_dir = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sortDir");
	size_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "maxPageSize");
	tok = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "nextPageToken");
	if (!list_param_ok(sort_by, "updatedAt", "createdAt") ||
	    !list_param_ok(sort_dir, "asc", "desc")) {
		*err = BODY_BAD_LIST;
		return NULL;
	}
	if (size_s != NULL) {
		errno = 0;
		size = strtol(size_s, &endp, 10);
		if (errno != 0 || endp == size_s || *endp != '\0' || size < 1 ||
		    size > PAGE_MAX) {
			*err = BODY_BAD_LIST;
			return NULL;
		}
	}
	if (tok != NULL) {
		from = token_find(tok);
		if (from == NULL)
			return NULL;
		chain = from->chain;
		page = from->page + 1;
	} else {
		chain = ++world.chains;
		page = 1;
	}
	snprintf(req->listref, sizeof(req->listref), "L%lu.%lu", chain, page);
	list_desc = sort_dir == NULL || strcmp(sort_dir, "desc") == 0;

	items = calloc(world.nruns + 1, sizeof(*items));
	if (items == NULL)
		goto oom;
	for (size_t i = 0; i < world.nruns; i++) {
		const struct wrun *w = &world.runs[i];

		k = wrun_current(w, now);
		if (k < 0)
			continue;
		if (wf != NULL && strcmp(wf, w->workflow) != 0)
			continue;
		if (batch != NULL && (w->batch == NULL || strcmp(batch, w->batch) != 0))
			continue;
		if (st != NULL && strcmp(st, w->tr[k].status) != 0)
			continue;
		if (name_part != NULL) {
			snprintf(fname, sizeof(fname), "%s.pdf", w->id);
			if (strstr(fname, name_part) == NULL)
				continue;
		}
		items[n].w = w;
		items[n].k = k;
		items[n].key = sort_by != NULL && strcmp(sort_by, "createdAt") == 0 ?
		    w->tr[0].at : w->tr[k].at;
		n++;
	}
	qsort(items, n, sizeof(*items), item_cmp);
	/* Keyset paging: the runs after the previous page's last one, as the world is now. */
	if (from != NULL && !from->at_start) {
		cursor_run.id = from->id;
		cursor.w = &cursor_run;
		cursor.key = from->key;
		while (start < n && item_cmp(&items[start], &cursor) <= 0)
			start++;
	}
	end = start + (size_t)size < n ? start + (size_t)size : n;
	nitems = end - start;
	if (loop) {
		next = from != NULL ? from : token_new(1, 0, NULL, chain, page);
		if (next == NULL)
			goto oom;
	} else if (end < n) {
		next = token_new(0, items[end - 1].key, items[end - 1].w->id, chain, page);
		if (next == NULL)
			goto oom;
	}
	root = json_object_new_object();
	jadd(root, "success", json_object_new_boolean(1));
	arr = json_object_new_array_ext((int)nitems + 1);
	if (extra != NULL)
		json_object_array_add(arr, json_tokener_parse(extra));
	for (size_t i = start; i < end; i++)
		json_object_array_add(arr, world_summary(items[i].w, items[i].k));
	jadd(root, "workflowRuns", arr);
	if (next != NULL)
		jadd(root, "nextPageToken", jstr(next->name));
	out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	if (out == NULL)
		goto oom;
	*status = MHD_HTTP_OK;
	*err = NULL;
	goto done;
oom:
	warnmsg("out of memory");
	*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	*err = BODY_MOCK_ERROR;
done:
	json_object_put(root);
	free(items);
	return out;
}

/* GET /_world: the truth, a line per run: id, workflow, batch, status, updatedAt, statuses so far. */
static void
serve_world(struct answer *a)
{
	long long now;
	char *buf = NULL, stamp[48], created[48];
	size_t len = 0;
	FILE *fp;
	int k;

	fp = open_memstream(&buf, &len);
	if (fp == NULL) {
		answer_const(a, MHD_HTTP_INTERNAL_SERVER_ERROR, BODY_MOCK_ERROR);
		return;
	}
	pthread_mutex_lock(&mock.lock);
	now = world_now();
	world_stamp(now, stamp, sizeof(stamp));
	fprintf(fp, "# now %s %lld\n", stamp, now);
	for (size_t i = 0; i < world.nruns; i++) {
		const struct wrun *w = &world.runs[i];

		k = wrun_current(w, now);
		world_stamp(w->tr[0].at, created, sizeof(created));
		if (k >= 0)
			world_stamp(w->tr[k].at, stamp, sizeof(stamp));
		fprintf(fp, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", w->id, w->workflow,
		    w->batch != NULL ? w->batch : "-", k >= 0 ? w->tr[k].status : "-",
		    k >= 0 ? stamp : "-", created, k + 1);
	}
	pthread_mutex_unlock(&mock.lock);
	if (fclose(fp) != 0) {
		free(buf);
		answer_const(a, MHD_HTTP_INTERNAL_SERVER_ERROR, BODY_MOCK_ERROR);
		return;
	}
	answer_json(a, MHD_HTTP_OK, buf, len);
	if (a->resp != NULL) {
		MHD_del_response_header(a->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/json");
		MHD_add_response_header(a->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "text/tab-separated-values");
	}
	free(buf);
}

static void
serve_run(struct request *req, const char *id, struct answer *a)
{
	struct script *sc;
	struct run *run;
	struct wrun *w;
	char *synth = NULL;
	const char *body;
	size_t len = 0;
	int k;

	if (!valid_name(id, MAX_ID_LEN)) {
		answer_const(a, MHD_HTTP_BAD_REQUEST, BODY_BAD_ID);
		return;
	}
	pthread_mutex_lock(&mock.lock);
	run = run_get(id);
	if (run == NULL) {
		warnmsg("out of memory");
		answer_const(a, MHD_HTTP_INTERNAL_SERVER_ERROR, BODY_MOCK_ERROR);
		goto out;
	}
	req->seq = (long)run->nrequests++;
	if (script_refresh(run) < 0) {
		answer_const(a, MHD_HTTP_INTERNAL_SERVER_ERROR, BODY_MOCK_ERROR);
		goto out;
	}
	body = run->body;
	len = run->body_len;
	w = body == NULL ? world_find(id) : NULL;
	if (w != NULL && (k = wrun_current(w, world_now())) >= 0) {
		synth = world_run_body(w, k);
		if (synth == NULL) {
			warnmsg("out of memory");
			answer_const(a, MHD_HTTP_INTERNAL_SERVER_ERROR, BODY_MOCK_ERROR);
			goto out;
		}
		body = synth;
		len = strlen(synth);
	}
	sc = run->script;
	if (sc != NULL) {
		answer_step(a, &sc->steps[sc->next], run, body, len);
		if (sc->next + 1 < sc->nsteps)
			sc->next++;
	} else if (body != NULL)
		answer_json(a, MHD_HTTP_OK, body, len);
	else
		answer_const(a, MHD_HTTP_NOT_FOUND, BODY_RUN_NOT_FOUND);
out:
	pthread_mutex_unlock(&mock.lock);
	free(synth);
}

/* The list pages of files: DIR/list/page1.json, or DIR/list/NAME.json for a token base64(NAME). */
static char *
file_list(struct MHD_Connection *conn, size_t *len, unsigned int *status,
    const char **err)
{
	const char *token;
	char *name = NULL, *path = NULL, *buf = NULL;

	*status = MHD_HTTP_BAD_REQUEST;
	*err = BODY_BAD_TOKEN;
	token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "nextPageToken");
	if (token != NULL) {
		name = b64_decode(token);
		if (name == NULL || !valid_name(name, 255))
			goto out;
	}
	if (asprintf(&path, "%s/list/%s.json", mock.dir,
	    name != NULL ? name : "page1") < 0) {
		path = NULL;
		warnmsg("out of memory");
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*err = BODY_MOCK_ERROR;
		goto out;
	}
	if (read_file(path, &buf, len) == 0) {
		*status = MHD_HTTP_OK;
		*err = NULL;
	} else if (errno == ENOENT && token == NULL) {
		*status = MHD_HTTP_OK;
		*err = BODY_EMPTY_LIST;
	} else if (errno != ENOENT) {
		warnmsg("could not read file \"%s\": %s", path, strerror(errno));
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*err = BODY_MOCK_ERROR;
	}
out:
	free(path);
	free(name);
	return buf;
}

/*
 * GET /workflow_runs: a page of the world (--world) or of the files, through
 * the script DIR/list.seq when there is one (one line per list request, the
 * last repeating).  A request the API itself would refuse (a bad token or
 * parameter) is refused whatever the script says and does not advance it.
 */
static void
serve_list(struct MHD_Connection *conn, struct request *req, struct answer *a)
{
	struct step *st = NULL;
	struct script *sc;
	unsigned int status;
	const char *err;
	char *body = NULL;
	size_t len = 0;

	pthread_mutex_lock(&mock.lock);
	if (script_refresh(&list_run) < 0) {
		answer_const(a, MHD_HTTP_INTERNAL_SERVER_ERROR, BODY_MOCK_ERROR);
		goto out;
	}
	sc = list_run.script;
	if (sc != NULL)
		st = &sc->steps[sc->next];
	if (mock.world_file != NULL) {
		body = world_list(conn, req, st != NULL && st->loop,
		    st != NULL ? st->summary : NULL, &status, &err);
		if (body != NULL)
			len = strlen(body);
	} else
		body = file_list(conn, &len, &status, &err);
	if (status != MHD_HTTP_OK) {
		answer_const(a, status, err);
		goto out;
	}
	if (body == NULL) {
		body = strdup(err);
		if (body == NULL) {
			answer_const(a, MHD_HTTP_INTERNAL_SERVER_ERROR, BODY_MOCK_ERROR);
			goto out;
		}
		len = strlen(body);
	}
	if (st != NULL) {
		answer_step(a, st, &list_run, body, len);
		if (sc->next + 1 < sc->nsteps)
			sc->next++;
	} else
		answer_json(a, MHD_HTTP_OK, body, len);
out:
	pthread_mutex_unlock(&mock.lock);
	free(body);
}

/* Sleep, but wake up early when the mock is stopping; -1 if it is. */
static int
sleep_for(double secs)
{
	struct timespec deadline;
	time_t whole = (time_t)secs;
	int rc = 0, stopping;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += whole;
	deadline.tv_nsec += (long)((secs - (double)whole) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mock.lock);
	while (!mock.stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&mock.wake, &mock.lock, &deadline);
	stopping = mock.stopping;
	pthread_mutex_unlock(&mock.lock);
	return stopping ? -1 : 0;
}

static enum MHD_Result
deliver(struct MHD_Connection *conn, struct request *req, struct answer *a)
{
	enum MHD_Result ret = MHD_NO;

	req->status = 0;
	if (a->delay > 0 && sleep_for(a->delay) < 0)
		a->close = 1;
	/* Returning MHD_NO closes the connection without sending a byte. */
	if (!a->close && a->resp != NULL) {
		ret = MHD_queue_response(conn, a->status, a->resp);
		if (ret == MHD_YES)
			req->status = a->status;
	}
	if (a->resp != NULL)
		MHD_destroy_response(a->resp);
	a->resp = NULL;
	return ret;
}

static void
log_request(const struct request *req, const char *method, enum auth_result auth)
{
	static const char *const auth_names[] = { "ok", "bad", "missing" };
	struct timespec now;
	char seq[48];
	char *m;

	if (mock.log == NULL || req->quiet)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	m = escape(method);
	if (req->listref[0] != '\0')
		snprintf(seq, sizeof(seq), "%s", req->listref);
	else if (req->seq < 0)
		snprintf(seq, sizeof(seq), "-");
	else
		snprintf(seq, sizeof(seq), "%ld", req->seq);
	if (fprintf(mock.log, "%lld.%03ld %s %s %03u %s %s %lld.%03ld %s\n",
	    (long long)req->arrival.tv_sec, req->arrival.tv_nsec / 1000000L,
	    m != NULL ? m : "-", req->uri != NULL ? req->uri : "-", req->status,
	    auth_names[auth], seq, (long long)now.tv_sec,
	    now.tv_nsec / 1000000L, req->limited ? "limited" : "-") < 0 ||
	    fflush(mock.log) == EOF)
		warnmsg("could not write to request log: %s", strerror(errno));
	free(m);
}

static enum auth_result
check_auth(struct MHD_Connection *conn)
{
	const char *value;
	int ok;

	value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (value == NULL)
		return AUTH_MISSING;
	pthread_mutex_lock(&mock.lock);		/* SIGHUP may swap the key */
	ok = strcmp(value, mock.auth) == 0;
	pthread_mutex_unlock(&mock.lock);
	return ok ? AUTH_OK : AUTH_BAD;
}

/*
 * Count a request to the runs API in the last second's window; true if it
 * makes more than rate_max arrivals there.  The window holds the rate_max
 * latest arrival times (the log's clock, so the log shows what was counted).
 */
static int
rate_limited(const struct request *req, const char *url)
{
	double t = (double)req->arrival.tv_sec + (double)req->arrival.tv_nsec / 1e9;
	size_t recent = 0, oldest = 0;

	if (mock.rate_max == 0 || (strcmp(url, RUNS_PATH) != 0 &&
	    strncmp(url, RUN_PREFIX, strlen(RUN_PREFIX)) != 0))
		return 0;
	pthread_mutex_lock(&mock.lock);
	for (size_t i = 0; i < mock.rate_max; i++) {
		if (mock.rate_window[i] > t - 1.0)
			recent++;
		if (mock.rate_window[i] < mock.rate_window[oldest])
			oldest = i;
	}
	if (mock.rate_window[oldest] < t)
		mock.rate_window[oldest] = t;
	pthread_mutex_unlock(&mock.lock);
	return recent >= mock.rate_max;
}

static enum MHD_Result
handle_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct request *req = *con_cls;
	struct answer a;
	enum auth_result auth;
	enum MHD_Result ret;
	const char *api_version, *workspace;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (req == NULL)
		return MHD_NO;
	/*
	 * Answer on the last call, after any request body (discarded), so that
	 * MHD can keep the connection alive.
	 */
	if (!req->started) {
		req->started = 1;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	memset(&a, 0, sizeof(a));
	if (mock.world_file != NULL && strcmp(url, WORLD_PATH) == 0) {
		/* the tests' view of the truth: no key needed, not logged */
		req->quiet = 1;
		serve_world(&a);
		return deliver(conn, req, &a);
	}
	auth = check_auth(conn);
	api_version = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "x-extend-api-version");
	workspace = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    WORKSPACE_HEADER);
	if (auth != AUTH_OK) {
		answer_const(&a, MHD_HTTP_UNAUTHORIZED, BODY_BAD_KEY);
		a.delay = mock.refusal_delay;
	}
	else if (mock.workspace != NULL && (workspace == NULL ||
	    strcmp(workspace, mock.workspace) != 0))
		answer_const(&a, MHD_HTTP_FORBIDDEN, BODY_BAD_WORKSPACE);
	else if (api_version == NULL || strcmp(api_version, mock.version) != 0)
		answer_const(&a, MHD_HTTP_BAD_REQUEST, BODY_BAD_VERSION);
	else if ((req->limited = rate_limited(req, url))) {
		answer_const(&a, MHD_HTTP_TOO_MANY_REQUESTS, BODY_RATE_LIMIT);
		if (a.resp != NULL && mock.retry_after != NULL)
			MHD_add_response_header(a.resp, MHD_HTTP_HEADER_RETRY_AFTER,
			    mock.retry_after);
	} else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		answer_const(&a, MHD_HTTP_METHOD_NOT_ALLOWED, BODY_BAD_METHOD);
		if (a.resp != NULL)
			MHD_add_response_header(a.resp, MHD_HTTP_HEADER_ALLOW, "GET");
	} else if (strcmp(url, RUNS_PATH) == 0)
		serve_list(conn, req, &a);
	else if (strncmp(url, RUN_PREFIX, strlen(RUN_PREFIX)) == 0)
		serve_run(req, url + strlen(RUN_PREFIX), &a);
	else
		answer_const(&a, MHD_HTTP_NOT_FOUND, BODY_NOT_FOUND);
	ret = deliver(conn, req, &a);
	log_request(req, method, auth);
	return ret;
}

static void *
request_start(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request *req;

	(void)cls;
	(void)conn;
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &req->arrival);
	req->uri = escape(uri);
	req->seq = -1;
	return req;
}

static void
request_end(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	free(req->uri);
	free(req);
	*con_cls = NULL;
}

static void
free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Set the expected Authorization value from --key or the first line of --key-file. */
static int
load_key(const char *key, const char *key_file)
{
	char *buf = NULL, *auth, *old;
	size_t len = 0;
	int rc = -1;

	if (key_file != NULL) {
		if (read_file(key_file, &buf, &len) < 0) {
			warnmsg("could not read file \"%s\": %s", key_file,
			    strerror(errno));
			goto out;
		}
		len = strcspn(buf, "\r\n");
		while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
			len--;
		buf[len] = '\0';
		key = buf;
	}
	if (key[0] == '\0') {
		warnmsg("the API key is empty");
		goto out;
	}
	if (asprintf(&auth, "Bearer %s", key) < 0) {
		warnmsg("out of memory");
		goto out;
	}
	pthread_mutex_lock(&mock.lock);
	old = mock.auth;
	mock.auth = auth;
	pthread_mutex_unlock(&mock.lock);
	free_secret(old);
	rc = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return rc;
}

static int
open_log(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		warnmsg("could not open file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	mock.log = fdopen(fd, "a");
	if (mock.log == NULL) {
		warnmsg("could not open file \"%s\": %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	setvbuf(mock.log, NULL, _IOLBF, 0);
	return 0;
}

/* Write the port atomically, so that a waiting test never sees a partial file. */
static int
write_port_file(const char *path, unsigned int port)
{
	FILE *fp = NULL;
	char *tmp = NULL;
	int rc = -1;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		warnmsg("out of memory");
		goto out;
	}
	fp = fopen(tmp, "w");
	if (fp == NULL) {
		warnmsg("could not open file \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	fprintf(fp, "%u\n", port);
	if (fclose(fp) != 0) {
		fp = NULL;
		warnmsg("could not write file \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	fp = NULL;
	if (rename(tmp, path) < 0) {
		warnmsg("could not rename file \"%s\" to \"%s\": %s", tmp, path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fp != NULL)
		fclose(fp);
	if (rc < 0 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int
init_sync(void)
{
	pthread_condattr_t attr;
	int rc = -1;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0)
		goto out;
	if (pthread_cond_init(&mock.wake, &attr) != 0)
		goto out;
	if (pthread_mutex_init(&mock.lock, NULL) != 0) {
		pthread_cond_destroy(&mock.wake);
		goto out;
	}
	rc = 0;
out:
	pthread_condattr_destroy(&attr);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "log", required_argument, NULL, 'l' },
		{ "version-header", required_argument, NULL, 'v' },
		{ "workspace", required_argument, NULL, 'w' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "rate-limit-retry-after", required_argument, NULL, 'R' },
		{ "world", required_argument, NULL, 'W' },
		{ "time-scale", required_argument, NULL, 'S' },
		{ "world-epoch", required_argument, NULL, 'E' },
		{ "refusal-delay", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *key = NULL, *key_file = NULL, *port_file = NULL;
	const char *log_file = NULL;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *httpd = NULL;
	struct sockaddr_in addr;
	sigset_t sigs;
	char *end;
	double rate;
	long port = 0, secs;
	int c, sig, synced = 0, status = 1;

	mock.version = "2025-04-21";
	for (;;) {
		c = getopt_long(argc, argv, "", longopts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'd':
			mock.dir = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'K':
			key_file = optarg;
			break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    port < 0 || port > 65535) {
				warnmsg("invalid port \"%s\"", optarg);
				return 2;
			}
			break;
		case 'P':
			port_file = optarg;
			break;
		case 'l':
			log_file = optarg;
			break;
		case 'v':
			mock.version = optarg;
			break;
		case 'w':
			if (optarg[0] == '\0') {
				warnmsg("the workspace id is empty");
				return 2;
			}
			mock.workspace = optarg;
			break;
		case 'r':
			errno = 0;
			rate = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(rate) || rate <= 0 || rate > MAX_RATE) {
				warnmsg("invalid rate limit \"%s\"", optarg);
				return 2;
			}
			mock.rate_max = rate < 1 ? 1 : (size_t)rate;
			break;
		case 'R':
			errno = 0;
			secs = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || secs < 0 ||
			    optarg[0] < '0' || optarg[0] > '9') {
				warnmsg("invalid retry-after \"%s\"", optarg);
				return 2;
			}
			mock.retry_after = optarg;
			break;
		case 'W':
			mock.world_file = optarg;
			break;
		case 'S':
			errno = 0;
			world.scale = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(world.scale) || world.scale <= 0 ||
			    world.scale > 1e6) {
				warnmsg("invalid time scale \"%s\"", optarg);
				return 2;
			}
			break;
		case 'E':
			errno = 0;
			world.epoch = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(world.epoch) || world.epoch <= 0) {
				warnmsg("invalid world epoch \"%s\"", optarg);
				return 2;
			}
			break;
		case 'D':
			errno = 0;
			mock.refusal_delay = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(mock.refusal_delay) ||
			    mock.refusal_delay < 0 || mock.refusal_delay > MAX_DELAY) {
				warnmsg("invalid refusal delay \"%s\"", optarg);
				return 2;
			}
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc || mock.dir == NULL || (key == NULL) == (key_file == NULL) ||
	    (mock.retry_after != NULL && mock.rate_max == 0)) {
		usage();
		return 2;
	}

	if (init_sync() < 0) {
		warnmsg("could not initialize locks");
		return 1;
	}
	synced = 1;
	if (load_key(key, key_file) < 0)
		goto out;
	if (log_file != NULL && open_log(log_file) < 0)
		goto out;
	world.real_start = real_now();
	if (world.epoch == 0)
		world.epoch = floor(world.real_start);
	if (mock.world_file != NULL && world_load(mock.world_file) < 0)
		goto out;
	if (load_dir() < 0)
		goto out;

	/*
	 * Block the stop and reload signals in every thread; main collects them
	 * with sigwait, so no work is done in a signal handler.
	 */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port, NULL, NULL,
	    handle_request, NULL,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
	    MHD_OPTION_URI_LOG_CALLBACK, request_start, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, request_end, NULL,
	    MHD_OPTION_END);
	if (httpd == NULL) {
		warnmsg("could not listen on 127.0.0.1 port %ld", port);
		goto out;
	}
	info = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0) {
		warnmsg("could not determine the listening port");
		goto out;
	}
	if (port_file != NULL && write_port_file(port_file, info->port) < 0)
		goto out;
	fprintf(stderr, PROGNAME ": listening on 127.0.0.1 port %u\n",
	    (unsigned int)info->port);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0) {
			warnmsg("could not wait for signals");
			goto out;
		}
		if (sig != SIGHUP)
			break;
		if (load_key(key, key_file) == 0)
			fprintf(stderr, PROGNAME ": key reloaded\n");
		else
			warnmsg("keeping the previous key");
	}
	status = 0;
out:
	if (httpd != NULL) {
		pthread_mutex_lock(&mock.lock);
		mock.stopping = 1;
		pthread_cond_broadcast(&mock.wake);
		pthread_mutex_unlock(&mock.lock);
		MHD_stop_daemon(httpd);
	}
	free_runs();
	world_free();
	script_free(list_run.script);
	if (mock.log != NULL)
		fclose(mock.log);
	free_secret(mock.auth);
	if (synced) {
		pthread_cond_destroy(&mock.wake);
		pthread_mutex_destroy(&mock.lock);
	}
	return status;
}
