/* The systemd notify protocol: one datagram to $NOTIFY_SOCKET, a no-op where systemd is absent. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static struct {
	struct sockaddr_un addr;
	socklen_t addrlen;
	int fd;
	double watchdog;
} notify_state = { .fd = -1 };

/* Read the environment once; see notify.h. */
bool
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	size_t n;

	if (usec != NULL && (pid == NULL || atol(pid) == (long)getpid()))
		notify_state.watchdog = strtod(usec, NULL) / 1e6 / 2;
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return false;
	n = strlen(path);
	if (n >= sizeof(notify_state.addr.sun_path))
		return false;
	notify_state.addr.sun_family = AF_UNIX;
	memcpy(notify_state.addr.sun_path, path, n);
	/* "@name" is an abstract socket: a leading NUL, no terminator */
	if (path[0] == '@')
		notify_state.addr.sun_path[0] = '\0';
	notify_state.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/' ? 1 : 0));
	notify_state.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return notify_state.fd >= 0;
}

int
notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (notify_state.fd < 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (sendto(notify_state.fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&notify_state.addr,
		   notify_state.addrlen) < 0)
		return -1;
	return 0;
}

double
notify_watchdog_interval(void)
{
	return notify_state.watchdog;
}
