/* sockets - TCP on 127.0.0.1 driven by epoll in one thread: connect,
 * accept, 1 MiB across with a checksum on both ends, orderly shutdown. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "corpus.h"

#define TOTAL (1 << 20)

/* FNV-1a: order-sensitive, so a reordered or repeated chunk shows. */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

int main(void)
{
	corpus_name = "sockets";
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(ls >= 0, "socket");
	int one = 1;
	CHECK(setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "setsockopt");
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(ls, (struct sockaddr *)&addr, sizeof addr) == 0, "bind 127.0.0.1:0");
	CHECK(listen(ls, 4) == 0, "listen");
	socklen_t alen = sizeof addr;
	CHECK(getsockname(ls, (struct sockaddr *)&addr, &alen) == 0 && addr.sin_port != 0, "getsockname");

	int cs = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(cs >= 0, "socket client");
	int r = connect(cs, (struct sockaddr *)&addr, sizeof addr);
	CHECK(r == 0 || errno == EINPROGRESS, "connect");

	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0, "epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) == 0, "epoll_ctl listener");
	struct epoll_event got;
	CHECK(epoll_wait(ep, &got, 1, 10000) == 1 && got.data.fd == ls, "epoll_wait: a connection to accept");
	int ss = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(ss >= 0, "accept4");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, ls, NULL) == 0, "epoll_ctl del");

	int soerr = -1;
	socklen_t slen = sizeof soerr;
	ev = (struct epoll_event){.events = EPOLLOUT, .data.fd = cs};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, cs, &ev) == 0, "epoll_ctl client");
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP, .data.fd = ss};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ss, &ev) == 0, "epoll_ctl server");
	CHECK(getsockopt(cs, SOL_SOCKET, SO_ERROR, &soerr, &slen) == 0 && soerr == 0, "connected");

	static unsigned char chunk[65536], in[65536];
	size_t sent = 0, recvd = 0;
	uint64_t hsent = 0xcbf29ce484222325ULL, hrecv = hsent;
	int eof = 0, shut = 0;
	while (!eof) {
		struct epoll_event evs[2];
		int n = epoll_wait(ep, evs, 2, 10000);
		CHECK(n > 0, "epoll_wait: progress within 10 s");
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == cs && sent < TOTAL) {
				size_t len = TOTAL - sent < sizeof chunk ? TOTAL - sent : sizeof chunk;
				for (size_t k = 0; k < len; k++)
					chunk[k] = pattern(sent + k);
				ssize_t w = write(cs, chunk, len);
				if (w < 0 && errno == EAGAIN)
					continue;
				CHECK(w > 0, "write");
				hsent = fnv(hsent, chunk, (size_t)w);
				sent += (size_t)w;
			} else if (evs[i].data.fd == ss) {
				ssize_t rd = read(ss, in, sizeof in);
				if (rd < 0 && errno == EAGAIN)
					continue;
				CHECK(rd >= 0, "read");
				if (rd == 0) {
					eof = 1;
					break;
				}
				hrecv = fnv(hrecv, in, (size_t)rd);
				recvd += (size_t)rd;
			}
		}
		if (sent == TOTAL && !shut) {
			CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, cs, NULL) == 0, "epoll_ctl del client");
			CHECK(shutdown(cs, SHUT_WR) == 0, "shutdown");
			shut = 1;
		}
	}
	CHECK(recvd == TOTAL, "every byte arrived");
	CHECK(hsent == hrecv, "the checksums agree");
	CHECK(close(ss) == 0 && close(cs) == 0 && close(ls) == 0 && close(ep) == 0, "close");
	corpus_ok();
	return 0;
}
