/* Leveled logging to stderr, with journald priority prefixes when stderr is the journal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "timing.h"

static struct {
	enum log_level level;
	int verbosity;		/* -v minus -q, applied to every level set */
	int journal;		/* stderr is connected to journald */
	int timestamps;		/* plain lines get a timestamp */
	const char *progname;
	long pid;		/* taken by log_init(): a getpid() per line otherwise (the daemon never forks) */
} log_state = { LOG_LEVEL_INFO, 0, 0, 1, "extend-syncd", 0 };

static const char *const level_names[] = { "error", "warning", "notice", "info", "debug" };
/* syslog priorities: err, warning, notice, info, debug */
static const int level_prio[] = { 3, 4, 5, 6, 7 };

/*
 * JOURNAL_STREAM holds "device:inode" of the stream systemd connected;
 * it only counts if stderr still is that stream (sd_journal_stream_fd(3)).
 */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Set up the log: decides once whether stderr is the journal or a terminal. */
void
log_init(const char *progname)
{
	if (progname != NULL)
		log_state.progname = progname;
	log_state.journal = stderr_is_journal();
	log_state.timestamps = !log_state.journal;
	log_state.pid = (long)getpid();
}

/* Set the level below which messages are dropped before they are formatted. */
void
log_set_level(enum log_level level)
{
	int l = (int)level + log_state.verbosity;

	log_state.level = l < LOG_LEVEL_ERROR ? LOG_LEVEL_ERROR : l > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG :
			  (enum log_level)l;
}

/* How many levels -v (positive) or -q (negative) move every level set later. */
void
log_set_verbosity(int delta)
{
	log_state.verbosity = delta;
}

/* The current level, so callers can skip work that only feeds debug lines. */
enum log_level
log_get_level(void)
{
	return log_state.level;
}

/* Parse "error", "warning", "notice", "info" or "debug"; returns 0 or -1. */
int
log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
log_write(enum log_level level, const char *run_id, const char *fmt, va_list ap) LOG_PRINTF(3, 0);

static void
log_write(enum log_level level, const char *run_id, const char *fmt, va_list ap)
{
	char line[4096];
	size_t len = 0;
	int n;

	if (log_state.journal) {
		n = snprintf(line, sizeof(line), "<%d>", level_prio[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		len = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
		n = snprintf(line + len, sizeof(line) - len, ".%03ld %s[%ld] %s: ",
			     ts.tv_nsec / 1000000, log_state.progname,
			     log_state.pid != 0 ? log_state.pid : (long)getpid(),
			     level_names[level]);
	}
	len += (size_t)n;

	if (run_id != NULL && len < sizeof(line) - 1) {
		/* at most 128 characters, anything unprintable as '?' */
		size_t i;

		line[len++] = 'r';
		line[len++] = 'u';
		line[len++] = 'n';
		line[len++] = ' ';
		line[len++] = '"';
		for (i = 0; run_id[i] != '\0' && i < 128 && len < sizeof(line) - 8; i++) {
			unsigned char c = (unsigned char)run_id[i];

			line[len++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
		}
		if (run_id[i] != '\0')
			line[len++] = '~';
		line[len++] = '"';
		line[len++] = ':';
		line[len++] = ' ';
	}

	if (len < sizeof(line)) {
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		if (n > 0)
			len += (size_t)n;
	}
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* one line per message, whatever the text held */
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[len++] = '\n';
	(void)fwrite(line, 1, len, stderr);
	fflush(stderr);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_state.level)
		return;
	va_start(ap, fmt);
	log_write(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_run(enum log_level level, const char *run_id, const char *fmt, ...)
{
	va_list ap;

	if (level > log_state.level)
		return;
	va_start(ap, fmt);
	log_write(level, run_id, fmt, ap);
	va_end(ap);
}

/* A server message to the log; see log.h. */
void
log_server_message(void *arg, const char *message)
{
	char line[512];
	size_t n;

	(void)arg;
	snprintf(line, sizeof(line), "%s", message);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	log_msg(LOG_LEVEL_WARNING, "database: %s", line);
}

/* A lasting failure; see log.h. */
void
log_lasting_fail(struct log_lasting *f, const char *fmt, ...)
{
	double now = now_mono();
	char msg[1024];
	va_list ap;

	if (f->since != 0 && now - f->logged_at < REPEAT_LOG)
		return;
	if (f->since == 0)
		f->since = now;
	f->logged_at = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
}

/* A lasting failure over; see log.h. */
void
log_lasting_ok(struct log_lasting *f, const char *what)
{
	if (f->since != 0)
		log_info("%s again after %.0fs", what, now_mono() - f->since);
	f->since = 0;
}
