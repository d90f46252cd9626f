/* Test helper: plays systemd's side of the notify protocol, printing each datagram with its arrival time. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* notify-recv SOCKET_PATH: bind a datagram socket there and print "<seconds> <message>" per datagram. */
int
main(int argc, char **argv)
{
	struct sockaddr_un addr;
	char buf[4096];
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: notify-recv SOCKET_PATH\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "notify-recv: could not bind \"%s\": %s\n", argv[1], strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		struct timespec ts;
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		buf[n] = '\0';
		clock_gettime(CLOCK_REALTIME, &ts);
		/* one line per datagram: several assignments in one datagram are joined by spaces */
		for (char *p = buf; *p != '\0'; p++) {
			if (*p == '\n')
				*p = ' ';
		}
		printf("%ld.%03ld %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000, buf);
	}
}
