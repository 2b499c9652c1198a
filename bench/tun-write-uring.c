// Microbenchmark: N 64-byte UDP/IPv4 packets written into a TUN, one write() each vs io_uring batches of 64
// (one io_uring_enter per batch). Run it with bench/tun-write-uring.sh (root): it builds this file, makes its own
// network namespace, runs both modes twice and deletes the namespace. Needs liburing-dev (apt).
// The packets go to 10.244.77.1, the TUN's own address inside that namespace; nothing leaves it.
#include <liburing.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static unsigned short csum(const unsigned char *p, int n) { unsigned s = 0; for (int i = 0; i < n; i += 2) s += (p[i] << 8) | p[i + 1]; while (s >> 16) s = (s & 0xffff) + (s >> 16); return ~s; }
int main(int argc, char **argv) {
  int mode = atoi(argv[1]); int N = atoi(argv[2]); int B = 64;
  int fd = open("/dev/net/tun", O_RDWR);
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr); ifr.ifr_flags = IFF_TUN | IFF_NO_PI; strcpy(ifr.ifr_name, "vturt0");
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("tun"); return 1; }
  system("ip addr add 10.244.77.1/24 dev vturt0 && ip link set vturt0 up");
  // sink socket that never reads
  unsigned char pkt[64]; memset(pkt, 0x41, sizeof pkt);
  pkt[0] = 0x45; pkt[2] = 0; pkt[3] = 64; pkt[8] = 64; pkt[9] = 17;
  inet_pton(AF_INET, "10.244.77.2", pkt + 12); inet_pton(AF_INET, "10.244.77.1", pkt + 16);
  unsigned short c = csum(pkt, 20); pkt[10] = c >> 8; pkt[11] = c & 0xff;
  pkt[20] = 0x9c; pkt[21] = 0x40; pkt[22] = 0; pkt[23] = 9; pkt[24] = 0; pkt[25] = 44; pkt[26] = 0; pkt[27] = 0;
  double t0 = now();
  if (mode == 0) {
    for (int i = 0; i < N; i++) if (write(fd, pkt, 64) != 64) { perror("write"); return 1; }
  } else {
    struct io_uring ring; if (io_uring_queue_init(256, &ring, 0) < 0) { perror("uring"); return 1; }
    for (int i = 0; i < N; i += B) {
      for (int k = 0; k < B; k++) { struct io_uring_sqe *e = io_uring_get_sqe(&ring); io_uring_prep_write(e, fd, pkt, 64, 0); }
      io_uring_submit_and_wait(&ring, B);
      struct io_uring_cqe *cqe; unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) { if (cqe->res != 64) { fprintf(stderr, "res %d\n", cqe->res); return 1; } seen++; }
      io_uring_cq_advance(&ring, seen);
    }
  }
  double dt = now() - t0;
  printf("mode %s: %d packets in %.3f s = %.0f k pps (%.2f us/pkt)\n", mode ? "io_uring x64" : "write", N, dt, N / dt / 1e3, dt / N * 1e6);
  return 0;
}
