/* The systemd notify protocol: one datagram to $NOTIFY_SOCKET, a no-op where systemd is absent. */
#ifndef EXTEND_SYNCD_NOTIFY_H
#define EXTEND_SYNCD_NOTIFY_H

#include <stdbool.h>

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC once; returns true when a service manager listens. */
bool notify_init(void);

/* Send "READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1" or "RELOADING=1"; returns 0 or -1 (errno set). */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* How often to send WATCHDOG=1 (half of $WATCHDOG_USEC, in seconds), or 0 when no watchdog is set. */
double notify_watchdog_interval(void);

#endif
