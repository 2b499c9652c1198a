// vtep_native: the live tunnel's system-call edge (Linux only).
//
// This file marshals bytes between a JS-owned slot pool and the kernel and returns integer results:
// a count or fd (>= 0) or -errno (< 0). It holds no packet logic and allocates nothing per packet:
//
//   pool     Uint8Array / Buffer / ArrayBuffer: one big buffer owned by JS, cut into slots.
//   offsets  Int32Array: byte offset of each message within `pool` (leave headroom in front).
//   capacity number (same for every message) or Int32Array (per message): bytes writable at offset.
//   lengths  Int32Array: filled on reads (a value > capacity means the message was truncated: the
//            kernel reported its real length), read on writes.
//   addrs    Uint8Array, 16 bytes per message: an IPv6 address, IPv4 as v4-mapped ::ffff:a.b.c.d
//            (the IPv4 address is always in bytes 12..15). May be null where not needed.
//   ports    Uint16Array or Int32Array, one per message (host order). May be null.
//   tos      Uint8Array, one byte per message (reads only, optional): the outer IPv4 TOS / IPv6 traffic
//            class from the IP_TOS / IPV6_TCLASS control message, 0 when the datagram carried none
//            (the socket needs IP_RECVTOS / IPV6_RECVTCLASS set, see constants). May be null/absent.
//
// Reads fill messages [0, n) and return n. Writes take messages [first, end) and return how many
// went, counting from `first`; 0 means the kernel would block (EAGAIN). An error on the very first
// message returns -errno; an error after some messages went returns the count so far (the next call,
// starting at the failing message, returns its -errno and the caller may skip it).
//
// Event loop: pollStart(fd, events, cb) puts a uv_poll_t on the Node event loop; cb(events) runs on
// the JS thread (1 = readable, 2 = writable, < 0 = -errno). pollStop(id) closes the handle; the
// process can then exit. Handles still open when the environment is torn down (process exit, worker
// termination) are closed by an async cleanup hook.

#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>  // INT_MAX
#include <linux/if_tun.h>
#include <net/if.h>  // struct ifreq, IFF_UP, if_nametoindex (not <linux/if.h>: they clash)
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>  // SIZE_MAX
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

constexpr int kMaxBatch = 1024;

// tunOpen flags (ours, not the kernel's).
constexpr int kTunMultiQueue = 1;
constexpr int kTunVnetHdr = 2;
constexpr int kTunExclusive = 4;  // fail with -EBUSY if an interface of that name already exists

// udpOpen flags.
constexpr int kUdpV6Only = 1;
constexpr int kUdpReusePort = 2;

constexpr int kPollReadable = 1;
constexpr int kPollWritable = 2;

// ---------------------------------------------------------------------------------------------
// Argument access. Type errors are programming errors: they throw TypeError (never on a correct
// call); runtime failures are returned as -errno.

bool ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

bool GetInt(Napi::Env env, const Napi::Value& v, int32_t* out, const char* what) {
  if (!v.IsNumber()) return ThrowType(env, what);
  *out = v.As<Napi::Number>().Int32Value();
  return true;
}

struct Bytes {
  uint8_t* data = nullptr;
  size_t len = 0;
};

// pool: any TypedArray / DataView view (offsets relative to the view) or an ArrayBuffer.
bool GetBytes(Napi::Env env, const Napi::Value& v, Bytes* out, const char* what) {
  napi_value raw = v;
  bool is = false;
  napi_is_typedarray(env, raw, &is);
  if (is) {
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t byteOffset;
    if (napi_get_typedarray_info(env, raw, &type, &length, &data, &ab, &byteOffset) != napi_ok) {
      return ThrowType(env, what);
    }
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    out->data = static_cast<uint8_t*>(data);
    out->len = length * elem;
    return true;
  }
  napi_is_arraybuffer(env, raw, &is);
  if (is) {
    void* data;
    size_t len;
    if (napi_get_arraybuffer_info(env, raw, &data, &len) != napi_ok) return ThrowType(env, what);
    out->data = static_cast<uint8_t*>(data);
    out->len = len;
    return true;
  }
  napi_is_dataview(env, raw, &is);
  if (is) {
    size_t len;
    void* data;
    napi_value ab;
    size_t byteOffset;
    if (napi_get_dataview_info(env, raw, &len, &data, &ab, &byteOffset) != napi_ok) {
      return ThrowType(env, what);
    }
    out->data = static_cast<uint8_t*>(data);
    out->len = len;
    return true;
  }
  return ThrowType(env, what);
}

template <typename T>
struct Typed {
  T* data = nullptr;
  size_t len = 0;  // elements
};

template <typename T>
bool GetTyped(Napi::Env env, const Napi::Value& v, napi_typedarray_type want, Typed<T>* out,
              const char* what) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) return ThrowType(env, what);
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t byteOffset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &byteOffset) != napi_ok ||
      type != want) {
    return ThrowType(env, what);
  }
  out->data = static_cast<T*>(data);
  out->len = length;
  return true;
}

// capacity: a number (same for all) or an Int32Array.
struct Capacity {
  int32_t fixed = -1;
  Typed<int32_t> per;
  int32_t at(int i) const { return per.data ? per.data[i] : fixed; }
};

bool GetCapacity(Napi::Env env, const Napi::Value& v, Capacity* out) {
  if (v.IsNumber()) {
    out->fixed = v.As<Napi::Number>().Int32Value();
    return true;
  }
  return GetTyped(env, v, napi_int32_array, &out->per, "capacity must be a number or Int32Array");
}

// ports: Uint16Array or Int32Array, or null/undefined.
struct Ports {
  uint16_t* u16 = nullptr;
  int32_t* i32 = nullptr;
  size_t len = 0;
  bool present() const { return u16 || i32; }
  uint16_t get(int i) const { return u16 ? u16[i] : static_cast<uint16_t>(i32[i]); }
  void set(int i, uint16_t p) const {
    if (u16) u16[i] = p; else i32[i] = p;
  }
};

bool GetPorts(Napi::Env env, const Napi::Value& v, Ports* out) {
  if (v.IsNull() || v.IsUndefined()) return true;
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t byteOffset;
    napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &byteOffset);
    if (type == napi_uint16_array) {
      out->u16 = static_cast<uint16_t*>(data);
      out->len = length;
      return true;
    }
    if (type == napi_int32_array) {
      out->i32 = static_cast<int32_t*>(data);
      out->len = length;
      return true;
    }
  }
  return ThrowType(env, "ports must be a Uint16Array, Int32Array or null");
}

bool GetAddrs(Napi::Env env, const Napi::Value& v, Typed<uint8_t>* out) {
  if (v.IsNull() || v.IsUndefined()) return true;
  return GetTyped(env, v, napi_uint8_array, out, "addrs must be a Uint8Array or null");
}

Napi::Value Int(Napi::Env env, int64_t n) { return Napi::Number::New(env, static_cast<double>(n)); }

// A system call's result r as 0 | -errno.
Napi::Value ZeroOrErrno(Napi::Env env, int r) { return Int(env, r < 0 ? -errno : 0); }

// A freshly opened fd after its setup call returned r: the fd, or (r < 0) -errno with the fd closed.
Napi::Value FdOrClose(Napi::Env env, int fd, int r) {
  if (r >= 0) return Int(env, fd);
  int e = errno;
  close(fd);
  return Int(env, -e);
}

// (fd, value) of a two-number call; `usage` is the TypeError message for either.
bool GetFdInt(const Napi::CallbackInfo& info, const char* usage, int32_t* fd, int32_t* value) {
  return GetInt(info.Env(), info[0], fd, usage) && GetInt(info.Env(), info[1], value, usage);
}

// Messages [from, to) of `sizes` bytes (capacities on reads, lengths on writes) must lie inside the pool.
// Checked before any system call.
bool InPool(const Bytes& pool, const Typed<int32_t>& offsets, const Capacity& sizes, int from, int to) {
  for (int i = from; i < to; i++) {
    int32_t off = offsets.data[i];
    int32_t c = sizes.at(i);
    if (off < 0 || c < 0 || static_cast<size_t>(off) + static_cast<size_t>(c) > pool.len) return false;
  }
  return true;
}

// n bounded by limit; a negative n counts as too large (it becomes limit).
int Clamp(int n, size_t limit) { return static_cast<size_t>(n) > limit ? static_cast<int>(limit) : n; }

// ---------------------------------------------------------------------------------------------
// Batch arguments, the same for tunReadBatch / tunWriteBatch / recvBatch / sendBatch:
//   reads   (fd, pool, offsets, capacity, lengths, [addrs, ports,] maxN, …)
//   writes  (fd, pool, offsets, lengths, [addrs, ports,] first, end, …)

constexpr int kBatchRead = 1;    // capacity before lengths, maxN last (else first, end last)
constexpr int kBatchSocket = 2;  // addrs, ports after lengths
constexpr int kBatchUnbounded = INT_MAX;  // TUN batches: one read()/write() per message, no scratch to fit

struct BatchArgs {
  int32_t fd = -1;
  Bytes pool;
  Typed<int32_t> offsets, lengths;
  Capacity cap;            // reads
  Typed<uint8_t> addrs;    // sockets; data null when not given
  Ports ports;             // sockets
  int32_t maxN = 0;        // reads
  int32_t first = 0, end = 0;  // writes
  size_t room = SIZE_MAX;  // length of the shortest optional per-message array given (GetOptional)
};

// false: a TypeError is thrown, or (no exception) fewer arguments than the shape has.
bool ParseBatch(const Napi::CallbackInfo& info, int shape, BatchArgs* a) {
  Napi::Env env = info.Env();
  bool read = (shape & kBatchRead) != 0;
  bool socket = (shape & kBatchSocket) != 0;
  if (info.Length() < (socket ? 8u : 6u) || !GetInt(env, info[0], &a->fd, "fd must be a number") ||
      !GetBytes(env, info[1], &a->pool, "pool must be a Uint8Array or ArrayBuffer") ||
      !GetTyped(env, info[2], napi_int32_array, &a->offsets, "offsets must be an Int32Array")) {
    return false;
  }
  size_t i = 3;
  if (read && !GetCapacity(env, info[i++], &a->cap)) return false;
  if (!GetTyped(env, info[i++], napi_int32_array, &a->lengths, "lengths must be an Int32Array")) return false;
  if (socket && (!GetAddrs(env, info[i], &a->addrs) || !GetPorts(env, info[i + 1], &a->ports))) return false;
  if (socket) i += 2;
  if (read) return GetInt(env, info[i], &a->maxN, "maxN must be a number");
  return GetInt(env, info[i], &a->first, "first must be a number") &&
         GetInt(env, info[i + 1], &a->end, "end must be a number");
}

// An optional per-message array at info[i]: absent, null or undefined means not wanted. An empty array
// may have no data pointer: *want says whether one was given. A given array bounds the batch.
template <typename T>
bool GetOptional(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* what,
                 Typed<T>* out, bool* want, BatchArgs* a) {
  *want = info.Length() > i && !info[i].IsNull() && !info[i].IsUndefined();
  if (!*want) return true;
  if (!GetTyped(info.Env(), info[i], type, out, what)) return false;
  if (out->len < a->room) a->room = out->len;
  return true;
}

// How many messages every per-message array given has room for.
size_t Room(const BatchArgs& a) {
  size_t room = a.room;
  if (a.offsets.len < room) room = a.offsets.len;
  if (a.lengths.len < room) room = a.lengths.len;
  if (a.cap.per.data && a.cap.per.len < room) room = a.cap.per.len;
  if (a.addrs.data && a.addrs.len / 16 < room) room = a.addrs.len / 16;
  if (a.ports.present() && a.ports.len < room) room = a.ports.len;
  return room;
}

// Reads: n, the messages [0, n) to fill (maxN bounded by maxBatch and by every array given), or -EINVAL
// (maxN < 0, or a slot outside the pool).
int ReadCount(const BatchArgs& a, int maxBatch) {
  if (a.maxN < 0) return -EINVAL;
  int n = Clamp(Clamp(a.maxN, static_cast<size_t>(maxBatch)), Room(a));
  return InPool(a.pool, a.offsets, a.cap, 0, n) ? n : -EINVAL;
}

// Writes: n, the messages [first, first + n) to take (end bounded by every array given, at most maxBatch
// of them), or -EINVAL (first outside [0, end], or a message outside the pool).
int WriteCount(const BatchArgs& a, int maxBatch) {
  int end = Clamp(a.end, Room(a));
  if (a.first < 0 || a.first > end) return -EINVAL;
  if (end - a.first > maxBatch) end = a.first + maxBatch;
  Capacity sizes;
  sizes.per = a.lengths;
  return InPool(a.pool, a.offsets, sizes, a.first, end) ? end - a.first : -EINVAL;
}

// ---------------------------------------------------------------------------------------------
// TUN

// tunOpen(name: string, flags: number) → fd | -errno
Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString()) return ThrowType(env, "tunOpen(name, flags)"), env.Null();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int32_t flags;
  if (!GetInt(env, info[1], &flags, "tunOpen: flags must be a number")) return env.Null();
  if (name.size() >= IFNAMSIZ) return Int(env, -ENAMETOOLONG);

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Int(env, -errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  short f = IFF_TUN | IFF_NO_PI;
  if (flags & kTunMultiQueue) f |= IFF_MULTI_QUEUE;
  if (flags & kTunVnetHdr) f |= IFF_VNET_HDR;
  if (flags & kTunExclusive) f |= IFF_TUN_EXCL;
  ifr.ifr_flags = f;
  memcpy(ifr.ifr_name, name.data(), name.size());
  return FdOrClose(env, fd, ioctl(fd, TUNSETIFF, &ifr));
}

// tunName(fd) → string | -errno   (the kernel's name, e.g. after a "tun%d" pattern)
Napi::Value TunName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!GetInt(env, info[0], &fd, "tunName(fd)")) return env.Null();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return Int(env, -errno);
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  return Napi::String::New(env, ifr.ifr_name);
}

// tunSetOffload(fd, flags: TUN_F_*) → 0 | -errno
Napi::Value TunSetOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, flags;
  if (!GetFdInt(info, "tunSetOffload(fd, flags)", &fd, &flags)) return env.Null();
  return ZeroOrErrno(env, ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(static_cast<uint32_t>(flags))));
}

// tunSetVnetHdrSize(fd, size) → 0 | -errno
Napi::Value TunSetVnetHdrSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, size;
  if (!GetFdInt(info, "tunSetVnetHdrSize(fd, size)", &fd, &size)) return env.Null();
  int sz = size;
  return ZeroOrErrno(env, ioctl(fd, TUNSETVNETHDRSZ, &sz));
}

// tunReadBatch(fd, pool, offsets, capacity, lengths, maxN) → n | -errno
Napi::Value TunReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchArgs a;
  if (!ParseBatch(info, kBatchRead, &a)) return env.Null();
  int n = ReadCount(a, kBatchUnbounded);
  if (n < 0) return Int(env, n);
  int i = 0;
  while (i < n) {
    ssize_t r = read(a.fd, a.pool.data + a.offsets.data[i], static_cast<size_t>(a.cap.at(i)));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (i == 0) return Int(env, -errno);
      break;
    }
    a.lengths.data[i] = static_cast<int32_t>(r);
    i++;
  }
  return Int(env, i);
}

// tunWriteBatch(fd, pool, offsets, lengths, first, end) → count from first | -errno
Napi::Value TunWriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchArgs a;
  if (!ParseBatch(info, 0, &a)) return env.Null();
  int n = WriteCount(a, kBatchUnbounded);
  if (n < 0) return Int(env, n);
  int first = a.first, end = a.first + n;
  int i = first;
  while (i < end) {
    ssize_t r = write(a.fd, a.pool.data + a.offsets.data[i], static_cast<size_t>(a.lengths.data[i]));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (i == first) return Int(env, -errno);
      break;
    }
    i++;
  }
  return Int(env, i - first);
}

// ---------------------------------------------------------------------------------------------
// Interface settings via ioctl on a throwaway socket (current network namespace).

int WithIfreq(const std::string& name, unsigned long req, struct ifreq* ifr) {
  if (name.empty() || name.size() >= IFNAMSIZ) return -EINVAL;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  memcpy(ifr->ifr_name, name.data(), name.size());
  int r = ioctl(s, req, ifr);
  int e = errno;
  close(s);
  return r < 0 ? -e : 0;
}

bool GetName(Napi::Env env, const Napi::Value& v, std::string* out) {
  if (!v.IsString()) return ThrowType(env, "interface name must be a string");
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

// An interface request: the name from a JS argument and a zeroed ifreq, then ioctls on it by name.
struct IfRequest {
  std::string name;
  struct ifreq ifr;
  int Ioctl(unsigned long req) { return WithIfreq(name, req, &ifr); }
};

bool GetIfRequest(Napi::Env env, const Napi::Value& v, IfRequest* out) {
  memset(&out->ifr, 0, sizeof out->ifr);
  return GetName(env, v, &out->name);
}

// (name, value: number) → 0 | -errno: `set` puts the value into the ifreq, then ioctl `req`.
Napi::Value IfSetInt(const Napi::CallbackInfo& info, unsigned long req, const char* what,
                     void (*set)(struct ifreq*, int32_t)) {
  Napi::Env env = info.Env();
  IfRequest r;
  int32_t value;
  if (!GetIfRequest(env, info[0], &r) || !GetInt(env, info[1], &value, what)) return env.Null();
  set(&r.ifr, value);
  return Int(env, r.Ioctl(req));
}

// ioctl `req` on the interface named by info[0]: true with r->ifr filled in, or false with *ret what to
// hand back (null after a TypeError, or -errno).
bool IfQuery(const Napi::CallbackInfo& info, unsigned long req, IfRequest* r, Napi::Value* ret) {
  Napi::Env env = info.Env();
  if (!GetIfRequest(env, info[0], r)) {
    *ret = env.Null();
    return false;
  }
  int e = r->Ioctl(req);
  if (e < 0) *ret = Int(env, e);
  return e >= 0;
}

// ifSetMtu(name, mtu) → 0 | -errno
Napi::Value IfSetMtu(const Napi::CallbackInfo& info) {
  return IfSetInt(info, SIOCSIFMTU, "mtu must be a number", [](struct ifreq* r, int32_t v) { r->ifr_mtu = v; });
}

// ifGetMtu(name) → mtu | -errno
Napi::Value IfGetMtu(const Napi::CallbackInfo& info) {
  IfRequest r;
  Napi::Value ret;
  if (!IfQuery(info, SIOCGIFMTU, &r, &ret)) return ret;
  return Int(info.Env(), r.ifr.ifr_mtu);
}

// ifSetTxQueueLen(name, len) → 0 | -errno
Napi::Value IfSetTxQueueLen(const Napi::CallbackInfo& info) {
  return IfSetInt(info, SIOCSIFTXQLEN, "len must be a number", [](struct ifreq* r, int32_t v) { r->ifr_qlen = v; });
}

// ifSetUp(name, up: boolean) → 0 | -errno
Napi::Value IfSetUp(const Napi::CallbackInfo& info) {
  IfRequest r;
  Napi::Value ret;
  if (!IfQuery(info, SIOCGIFFLAGS, &r, &ret)) return ret;
  if (info[1].ToBoolean().Value()) r.ifr.ifr_flags |= IFF_UP; else r.ifr.ifr_flags &= ~IFF_UP;
  return Int(info.Env(), r.Ioctl(SIOCSIFFLAGS));
}

// ifIndex(name) → ifindex | -errno
Napi::Value IfIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!GetName(env, info[0], &name)) return env.Null();
  unsigned idx = if_nametoindex(name.c_str());
  return Int(env, idx == 0 ? -errno : static_cast<int64_t>(idx));
}

// ---------------------------------------------------------------------------------------------
// Sockets

bool ParseAddr(int family, const std::string& s, struct sockaddr_storage* ss, socklen_t* len, int port) {
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    auto* a = reinterpret_cast<struct sockaddr_in*>(ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, s.c_str(), &a->sin_addr) != 1) return false;
    *len = sizeof *a;
    return true;
  }
  auto* a = reinterpret_cast<struct sockaddr_in6*>(ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET6, s.c_str(), &a->sin6_addr) != 1) return false;
  *len = sizeof *a;
  return true;
}

// Buffer sizes: the *FORCE variants (root / CAP_NET_ADMIN) pass net.core.[rw]mem_max; fall back.
void SetBuf(int fd, int force, int plain, int32_t size) {
  if (size <= 0) return;
  int v = size;
  if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, plain, &v, sizeof v);
}

// udpOpen(family 4|6, bindAddr, port, rcvbuf, sndbuf, flags) → fd | -errno
// SO_REUSEADDR stays off, so a port already bound gives -EADDRINUSE.
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t family, port, rcvbuf, sndbuf, flags;
  if (info.Length() < 6 || !GetInt(env, info[0], &family, "family must be 4 or 6") || !info[1].IsString() ||
      !GetInt(env, info[2], &port, "port must be a number") ||
      !GetInt(env, info[3], &rcvbuf, "rcvbuf must be a number") ||
      !GetInt(env, info[4], &sndbuf, "sndbuf must be a number") ||
      !GetInt(env, info[5], &flags, "flags must be a number")) {
    if (!env.IsExceptionPending()) ThrowType(env, "udpOpen(family, bindAddr, port, rcvbuf, sndbuf, flags)");
    return env.Null();
  }
  if ((family != 4 && family != 6) || port < 0 || port > 65535) return Int(env, -EINVAL);
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!ParseAddr(family, info[1].As<Napi::String>().Utf8Value(), &ss, &sl, port)) return Int(env, -EINVAL);
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return Int(env, -errno);
  int one = 1;
  if (family == 6 && (flags & kUdpV6Only)) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (flags & kUdpReusePort) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  SetBuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  return FdOrClose(env, fd, bind(fd, reinterpret_cast<struct sockaddr*>(&ss), sl));
}

// rawOpen(family 4|6, protocol, rcvbuf, sndbuf) → fd | -errno
// IPv4 raw sockets receive the whole IPv4 packet (outer header included) and send the payload
// only (the kernel writes the outer header). IPv6 raw sockets receive and send the payload only.
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t family, protocol, rcvbuf, sndbuf;
  if (info.Length() < 4 || !GetInt(env, info[0], &family, "family must be 4 or 6") ||
      !GetInt(env, info[1], &protocol, "protocol must be a number") ||
      !GetInt(env, info[2], &rcvbuf, "rcvbuf must be a number") ||
      !GetInt(env, info[3], &sndbuf, "sndbuf must be a number")) {
    return env.Null();
  }
  if ((family != 4 && family != 6) || protocol < 0 || protocol > 255) return Int(env, -EINVAL);
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return Int(env, -errno);
  SetBuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  return Int(env, fd);
}

// sockLocalPort(fd) → port | -errno
Napi::Value SockLocalPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!GetInt(env, info[0], &fd, "fd must be a number")) return env.Null();
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &sl) < 0) return Int(env, -errno);
  if (ss.ss_family == AF_INET) return Int(env, ntohs(reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port));
  if (ss.ss_family == AF_INET6) return Int(env, ntohs(reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port));
  return Int(env, -EAFNOSUPPORT);
}

// (fd, level, name) of setsockoptInt / getsockoptInt.
bool GetSockopt(const Napi::CallbackInfo& info, int32_t* fd, int32_t* level, int32_t* name) {
  Napi::Env env = info.Env();
  return GetInt(env, info[0], fd, "fd must be a number") && GetInt(env, info[1], level, "level must be a number") &&
         GetInt(env, info[2], name, "name must be a number");
}

// setsockoptInt(fd, level, name, value) → 0 | -errno
Napi::Value SetsockoptInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, level, name, value;
  if (!GetSockopt(info, &fd, &level, &name) || !GetInt(env, info[3], &value, "value must be a number")) {
    return env.Null();
  }
  int v = value;
  return ZeroOrErrno(env, setsockopt(fd, level, name, &v, sizeof v));
}

// getsockoptInt(fd, level, name) → value (>= 0) | -errno
Napi::Value GetsockoptInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, level, name;
  if (!GetSockopt(info, &fd, &level, &name)) return env.Null();
  int v = 0;
  socklen_t sl = sizeof v;
  if (getsockopt(fd, level, name, &v, &sl) < 0) return Int(env, -errno);
  return Int(env, v);
}

// Control buffer per received message: room for IP_TOS (1 byte) or IPV6_TCLASS (int) with space to
// spare (a second option enabled elsewhere on the fd is then not MSG_CTRUNC'd away).
// Room for IP_TOS / IPV6_TCLASS, UDP_GRO and SCM_TIMESTAMPNS together, with space to spare.
constexpr size_t kCtlSpace = 3 * CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(16);

// Per-thread scratch for recvmmsg/sendmmsg headers: no allocation per call.
struct MmsgScratch {
  struct mmsghdr msgs[kMaxBatch];
  struct iovec iov[kMaxBatch];
  struct sockaddr_in6 names[kMaxBatch];  // large enough for sockaddr_in too
  int entries[kMaxBatch];  // sendBatch: entries (iovecs) per message
  alignas(struct cmsghdr) uint8_t control[kMaxBatch][kCtlSpace];  // one per message (recvBatch with tos)
};
static_assert(kCtlSpace % alignof(struct cmsghdr) == 0, "control buffers stay cmsghdr-aligned");

MmsgScratch* Scratch() {
  static thread_local MmsgScratch* s = nullptr;
  if (!s) s = new MmsgScratch();  // once per thread, kept for the thread's life
  return s;
}

void StoreAddr(const struct sockaddr_in6* name, uint8_t* out16, const Ports& ports, int i) {
  if (name->sin6_family == AF_INET6) {
    if (out16) memcpy(out16, &name->sin6_addr, 16);
    if (ports.present()) ports.set(i, ntohs(name->sin6_port));
  } else if (name->sin6_family == AF_INET) {
    auto* a = reinterpret_cast<const struct sockaddr_in*>(name);
    if (out16) {
      memset(out16, 0, 10);
      out16[10] = 0xff;
      out16[11] = 0xff;
      memcpy(out16 + 12, &a->sin_addr, 4);
    }
    if (ports.present()) ports.set(i, ntohs(a->sin_port));
  } else {
    if (out16) memset(out16, 0, 16);
    if (ports.present()) ports.set(i, 0);
  }
}

// The outer TOS / traffic class of one received message: IP_TOS (1 byte; also an IPv4 datagram on a
// dual-stack IPv6 socket with IP_RECVTOS) or IPV6_TCLASS (an int). 0 when neither is there.
uint8_t TosOf(struct msghdr* h) {
  if (h->msg_control == nullptr) return 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1)) {
      return *CMSG_DATA(c);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      return static_cast<uint8_t>(v & 0xff);
    }
  }
  return 0;
}

// The first control message of (level, type) carrying at least `size` bytes, copied into *out; false when none.
bool FindCmsg(struct msghdr* h, int level, int type, void* out, size_t size) {
  if (h->msg_control == nullptr) return false;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == level && c->cmsg_type == type && c->cmsg_len >= CMSG_LEN(size)) {
      memcpy(out, CMSG_DATA(c), size);
      return true;
    }
  }
  return false;
}

// The UDP GRO segment size of one received message (UDP_GRO control message; 0 when the datagram was
// not coalesced or the socket has no UDP_GRO).
int GroSizeOf(struct msghdr* h) {
#ifdef UDP_GRO
  int v;
  if (FindCmsg(h, SOL_UDP, UDP_GRO, &v, sizeof v)) return v;
#else
  (void)h;
#endif
  return 0;
}

// How long one received message waited in the socket: now − its SCM_TIMESTAMPNS (SO_TIMESTAMPNS on the socket),
// in microseconds; -1 when the kernel attached no timestamp.
int32_t AgeUsOf(struct msghdr* h, const struct timespec& now) {
  struct timespec ts;
  if (!FindCmsg(h, SOL_SOCKET, SCM_TIMESTAMPNS, &ts, sizeof ts)) return -1;
  int64_t us = (static_cast<int64_t>(now.tv_sec) - ts.tv_sec) * 1000000 + (now.tv_nsec - ts.tv_nsec) / 1000;
  if (us < 0) return 0;
  return us > INT32_MAX ? INT32_MAX : static_cast<int32_t>(us);
}

// recvBatch(fd, pool, offsets, capacity, lengths, addrs|null, ports|null, maxN[, tos|null[, gso|null[, ageUs|null]]]) → n | -errno
// recvmmsg with MSG_DONTWAIT | MSG_TRUNC: lengths[i] is the datagram's real length (> capacity when
// truncated). Works on UDP and raw sockets (ports are 0 for raw). With `tos` (Uint8Array, one byte per
// message) each message gets its own control buffer and tos[i] is its outer TOS / traffic class (0
// when the kernel attached none: IP_RECVTOS / IPV6_RECVTCLASS not set on the socket). With `gso`
// (Uint16Array) gso[i] is the segment size of a datagram the kernel coalesced (UDP_GRO socket option),
// 0 for a plain datagram: lengths[i] then spans several equal segments, the last possibly shorter. With
// `ageUs` (Int32Array; the socket has SO_TIMESTAMPNS) ageUs[i] is how long the datagram waited in the socket
// queue, in µs (-1: no timestamp).
Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchArgs a;
  Typed<uint8_t> tos;
  Typed<uint16_t> gso;
  Typed<int32_t> age;
  bool wantTos, wantGso, wantAge;
  if (!ParseBatch(info, kBatchRead | kBatchSocket, &a) ||
      !GetOptional(info, 8, napi_uint8_array, "tos must be a Uint8Array or null", &tos, &wantTos, &a) ||
      !GetOptional(info, 9, napi_uint16_array, "gso must be a Uint16Array or null", &gso, &wantGso, &a) ||
      !GetOptional(info, 10, napi_int32_array, "ageUs must be an Int32Array or null", &age, &wantAge, &a)) {
    return env.Null();
  }
  bool wantCtl = wantTos || wantGso || wantAge;
  int n = ReadCount(a, kMaxBatch);
  if (n <= 0) return Int(env, n);
  MmsgScratch* s = Scratch();
  for (int i = 0; i < n; i++) {
    s->iov[i].iov_base = a.pool.data + a.offsets.data[i];
    s->iov[i].iov_len = static_cast<size_t>(a.cap.at(i));
    struct msghdr* h = &s->msgs[i].msg_hdr;
    h->msg_name = &s->names[i];
    h->msg_namelen = sizeof s->names[i];
    h->msg_iov = &s->iov[i];
    h->msg_iovlen = 1;
    h->msg_control = wantCtl ? s->control[i] : nullptr;  // the kernel shrinks msg_controllen: reset each call
    h->msg_controllen = wantCtl ? kCtlSpace : 0;
    h->msg_flags = 0;
    s->msgs[i].msg_len = 0;
  }
  int r;
  do {
    r = recvmmsg(a.fd, s->msgs, static_cast<unsigned>(n), MSG_DONTWAIT | MSG_TRUNC, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Int(env, (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno);
  struct timespec now = {0, 0};
  if (wantAge) clock_gettime(CLOCK_REALTIME, &now);
  for (int i = 0; i < r; i++) {
    a.lengths.data[i] = static_cast<int32_t>(s->msgs[i].msg_len);
    if (wantAge) age.data[i] = AgeUsOf(&s->msgs[i].msg_hdr, now);
    StoreAddr(&s->names[i], a.addrs.data ? a.addrs.data + 16 * i : nullptr, a.ports, i);
    if (wantTos) tos.data[i] = TosOf(&s->msgs[i].msg_hdr);
    if (wantGso) gso.data[i] = static_cast<uint16_t>(GroSizeOf(&s->msgs[i].msg_hdr));
  }
  return Int(env, r);
}

int SocketDomain(int fd) {
  int d = 0;
  socklen_t sl = sizeof d;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &d, &sl) < 0) return -errno;
  return d;
}

// sendBatch(fd, pool, offsets, lengths, addrs|null, ports|null, first, end[, gso|null[, runs|null]])
//   → entries sent counting from first | -errno
// With `gso` (Uint16Array), a message whose gso[i] is > 0 and below its length is sent as one UDP GSO
// "super-datagram" (UDP_SEGMENT control message): the kernel cuts it into datagrams of gso[i] bytes (the last
// may be shorter), computing each one's UDP checksum (so the socket must not have SO_NO_CHECK). With `runs`
// (Uint16Array), runs[i] > 1 at entry i gathers entries [i, i + runs[i]) into that one message (one iovec
// each, in order; address and port from entry i): equal-size datagrams from separate slots leave in one send.
// The count returned is of entries, a run counting for all of its entries.
// For AF_INET sockets bytes 12..15 of each 16-byte address are used; for AF_INET6 all 16 (a v4-mapped
// address then reaches IPv4 through a dual-stack socket). addrs null: connected socket.
Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchArgs a;
  Typed<uint16_t> gso, runs;
  bool wantGso, wantRuns;
  if (!ParseBatch(info, kBatchSocket, &a) ||
      !GetOptional(info, 8, napi_uint16_array, "gso must be a Uint16Array or null", &gso, &wantGso, &a) ||
      !GetOptional(info, 9, napi_uint16_array, "runs must be a Uint16Array or null", &runs, &wantRuns, &a)) {
    return env.Null();
  }
  int n = WriteCount(a, kMaxBatch);  // entries (one iovec each)
  if (n <= 0) return Int(env, n);
  int domain = AF_UNSPEC;
  if (a.addrs.data) {
    domain = SocketDomain(a.fd);
    if (domain < 0) return Int(env, domain);
  }
  MmsgScratch* s = Scratch();
  int k = 0;  // messages
  for (int j = 0; j < n; k++) {
    int i = a.first + j;
    // a run: entries [i, i + m) gathered into one message, cut by the kernel at gso[i] bytes
    int m = wantRuns && runs.data[i] > 1 ? runs.data[i] : 1;
    if (m > n - j) m = n - j;
    size_t bytes = 0;
    for (int q = 0; q < m; q++) {
      s->iov[j + q].iov_base = a.pool.data + a.offsets.data[i + q];
      s->iov[j + q].iov_len = static_cast<size_t>(a.lengths.data[i + q]);
      bytes += static_cast<size_t>(a.lengths.data[i + q]);
    }
    s->entries[k] = m;
    struct msghdr* h = &s->msgs[k].msg_hdr;
    h->msg_iov = &s->iov[j];
    h->msg_iovlen = static_cast<size_t>(m);
    h->msg_control = nullptr;
    h->msg_controllen = 0;
    h->msg_flags = 0;
#ifdef UDP_SEGMENT
    if (wantGso && gso.data[i] > 0 && static_cast<size_t>(gso.data[i]) < bytes) {
      h->msg_control = s->control[k];
      h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      struct cmsghdr* c = CMSG_FIRSTHDR(h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t v = gso.data[i];
      memcpy(CMSG_DATA(c), &v, sizeof v);
    }
#endif
    uint16_t port = a.ports.present() ? a.ports.get(i) : 0;
    if (domain == AF_INET) {
      auto* sin = reinterpret_cast<struct sockaddr_in*>(&s->names[k]);
      memset(sin, 0, sizeof *sin);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(port);
      memcpy(&sin->sin_addr, a.addrs.data + 16 * i + 12, 4);
      h->msg_name = sin;
      h->msg_namelen = sizeof *sin;
    } else if (domain == AF_INET6) {
      struct sockaddr_in6* sin6 = &s->names[k];
      memset(sin6, 0, sizeof *sin6);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(port);
      memcpy(&sin6->sin6_addr, a.addrs.data + 16 * i, 16);
      h->msg_name = sin6;
      h->msg_namelen = sizeof *sin6;
    } else {
      h->msg_name = nullptr;
      h->msg_namelen = 0;
    }
    j += m;
  }
  int r;
  do {
    r = sendmmsg(a.fd, s->msgs, static_cast<unsigned>(k), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Int(env, (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno);
  int sent = 0;  // entries covered by the messages that went
  for (int q = 0; q < r; q++) sent += s->entries[q];
  return Int(env, sent);
}

// closeFd(fd) → 0 | -errno
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!GetInt(env, info[0], &fd, "fd must be a number")) return env.Null();
  if (fd < 0) return Int(env, -EBADF);
  if (close(fd) < 0 && errno != EINTR) return Int(env, -errno);
  return Int(env, 0);
}

// ---------------------------------------------------------------------------------------------
// Event loop integration

struct PollState {
  uv_poll_t handle;
  napi_env env = nullptr;
  napi_ref cb = nullptr;
  napi_async_context ctx = nullptr;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool closing = false;
};

struct Instance {
  std::vector<PollState*> polls;  // index = poll id; nullptr = free
};

Instance* GetInstance(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<Instance*>(data);
}

void OnPollClosed(uv_handle_t* h) {
  auto* st = static_cast<PollState*>(h->data);
  if (st->hook) napi_remove_async_cleanup_hook(st->hook);
  delete st;
}

void OnPoll(uv_poll_t* h, int status, int events) {
  auto* st = static_cast<PollState*>(h->data);
  if (st->closing) return;
  napi_env env = st->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  int32_t code = status < 0 ? status
                            : ((events & UV_READABLE) ? kPollReadable : 0) | ((events & UV_WRITABLE) ? kPollWritable : 0);
  if (napi_get_reference_value(env, st->cb, &cb) == napi_ok && cb != nullptr) {
    napi_get_global(env, &recv);  // napi_make_callback needs an object receiver
    napi_create_int32(env, code, &arg);
    napi_status s = napi_make_callback(env, st->ctx, recv, cb, 1, &arg, &result);
    if (s == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

// Environment teardown with the poll still open: close the handle, then release the hook.
void OnCleanup(napi_async_cleanup_hook_handle, void* arg) {
  auto* st = static_cast<PollState*>(arg);
  if (st->closing) return;  // a close is already pending; OnPollClosed removes the hook
  st->closing = true;
  uv_poll_stop(&st->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&st->handle), OnPollClosed);
}

int UvEvents(int events) {
  return ((events & kPollReadable) ? UV_READABLE : 0) | ((events & kPollWritable) ? UV_WRITABLE : 0);
}

// pollStart(fd, events, cb) → id | -errno. cb(events | -errno) runs on the JS thread.
Napi::Value PollStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, events;
  if (info.Length() < 3 || !GetInt(env, info[0], &fd, "fd must be a number") ||
      !GetInt(env, info[1], &events, "events must be a number") || !info[2].IsFunction()) {
    if (!env.IsExceptionPending()) ThrowType(env, "pollStart(fd, events, callback)");
    return env.Null();
  }
  Instance* inst = GetInstance(env);
  uv_loop_t* loop = nullptr;
  if (!inst || napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return Int(env, -ENOSYS);
  auto* st = new PollState();
  st->env = env;
  int r = uv_poll_init(loop, &st->handle, fd);
  if (r < 0) {
    delete st;
    return Int(env, r);  // libuv errors are -errno on Unix
  }
  st->handle.data = st;
  r = uv_poll_start(&st->handle, UvEvents(events), OnPoll);
  if (r < 0) {
    st->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&st->handle), OnPollClosed);
    return Int(env, r);
  }
  napi_create_reference(env, info[2], 1, &st->cb);
  napi_value name;
  napi_create_string_utf8(env, "vtep:poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &st->ctx);
  napi_add_async_cleanup_hook(env, OnCleanup, st, &st->hook);
  size_t id = 0;
  while (id < inst->polls.size() && inst->polls[id] != nullptr) id++;
  if (id == inst->polls.size()) inst->polls.push_back(st); else inst->polls[id] = st;
  return Int(env, static_cast<int64_t>(id));
}

// The poll named by info[0] in *st; false with *ret set when there is none: null after a TypeError
// (id not a number), -EBADF for an id not open.
bool LookupPoll(const Napi::CallbackInfo& info, int32_t* id, PollState** st, Napi::Value* ret) {
  Napi::Env env = info.Env();
  *st = nullptr;
  if (!GetInt(env, info[0], id, "poll id must be a number")) {
    *ret = env.Null();
    return false;
  }
  Instance* inst = GetInstance(env);
  if (inst && *id >= 0 && static_cast<size_t>(*id) < inst->polls.size()) *st = inst->polls[*id];
  if (!*st) *ret = Int(env, -EBADF);
  return *st != nullptr;
}

// pollUpdate(id, events) → 0 | -errno   (change interest, e.g. add writable after EAGAIN)
Napi::Value PollUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t id, events;
  PollState* st;
  Napi::Value ret;
  if (!LookupPoll(info, &id, &st, &ret)) return ret;
  if (!GetInt(env, info[1], &events, "events must be a number")) return env.Null();
  return Int(env, uv_poll_start(&st->handle, UvEvents(events), OnPoll));
}

// pollRef(id, ref: boolean) → 0 | -errno   (an unref'd poll does not keep the process alive)
Napi::Value PollRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t id;
  PollState* st;
  Napi::Value ret;
  if (!LookupPoll(info, &id, &st, &ret)) return ret;
  if (info[1].ToBoolean().Value()) uv_ref(reinterpret_cast<uv_handle_t*>(&st->handle));
  else uv_unref(reinterpret_cast<uv_handle_t*>(&st->handle));
  return Int(env, 0);
}

// pollStop(id) → 0 | -EBADF. Stops at once (no callback after this returns); the handle is
// closed on the next loop turn. Stop the poll before closing its fd.
Napi::Value PollStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t id;
  PollState* st;
  Napi::Value ret;
  if (!LookupPoll(info, &id, &st, &ret)) return ret;
  GetInstance(env)->polls[id] = nullptr;
  st->closing = true;
  uv_poll_stop(&st->handle);
  napi_delete_reference(env, st->cb);
  st->cb = nullptr;
  napi_async_destroy(env, st->ctx);
  st->ctx = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&st->handle), OnPollClosed);
  return Int(env, 0);
}

// ---------------------------------------------------------------------------------------------

void SetInt(Napi::Env env, Napi::Object o, const char* name, int64_t v) { o.Set(name, Int(env, v)); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* inst = new Instance();
  napi_set_instance_data(
      env, inst, [](napi_env, void* data, void*) { delete static_cast<Instance*>(data); }, nullptr);

  exports.Set("tunOpen", Napi::Function::New(env, TunOpen, "tunOpen"));
  exports.Set("tunName", Napi::Function::New(env, TunName, "tunName"));
  exports.Set("tunSetOffload", Napi::Function::New(env, TunSetOffload, "tunSetOffload"));
  exports.Set("tunSetVnetHdrSize", Napi::Function::New(env, TunSetVnetHdrSize, "tunSetVnetHdrSize"));
  exports.Set("tunReadBatch", Napi::Function::New(env, TunReadBatch, "tunReadBatch"));
  exports.Set("tunWriteBatch", Napi::Function::New(env, TunWriteBatch, "tunWriteBatch"));
  exports.Set("ifSetMtu", Napi::Function::New(env, IfSetMtu, "ifSetMtu"));
  exports.Set("ifGetMtu", Napi::Function::New(env, IfGetMtu, "ifGetMtu"));
  exports.Set("ifSetTxQueueLen", Napi::Function::New(env, IfSetTxQueueLen, "ifSetTxQueueLen"));
  exports.Set("ifSetUp", Napi::Function::New(env, IfSetUp, "ifSetUp"));
  exports.Set("ifIndex", Napi::Function::New(env, IfIndex, "ifIndex"));
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen, "rawOpen"));
  exports.Set("sockLocalPort", Napi::Function::New(env, SockLocalPort, "sockLocalPort"));
  exports.Set("setsockoptInt", Napi::Function::New(env, SetsockoptInt, "setsockoptInt"));
  exports.Set("getsockoptInt", Napi::Function::New(env, GetsockoptInt, "getsockoptInt"));
  exports.Set("recvBatch", Napi::Function::New(env, RecvBatch, "recvBatch"));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatch, "sendBatch"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("pollStart", Napi::Function::New(env, PollStart, "pollStart"));
  exports.Set("pollUpdate", Napi::Function::New(env, PollUpdate, "pollUpdate"));
  exports.Set("pollRef", Napi::Function::New(env, PollRef, "pollRef"));
  exports.Set("pollStop", Napi::Function::New(env, PollStop, "pollStop"));

  Napi::Object c = Napi::Object::New(env);
  SetInt(env, c, "MAX_BATCH", kMaxBatch);
  SetInt(env, c, "TUN_MULTI_QUEUE", kTunMultiQueue);
  SetInt(env, c, "TUN_VNET_HDR", kTunVnetHdr);
  SetInt(env, c, "TUN_EXCLUSIVE", kTunExclusive);
  SetInt(env, c, "TUN_F_CSUM", TUN_F_CSUM);
  SetInt(env, c, "TUN_F_TSO4", TUN_F_TSO4);
  SetInt(env, c, "TUN_F_TSO6", TUN_F_TSO6);
  SetInt(env, c, "TUN_F_TSO_ECN", TUN_F_TSO_ECN);
  SetInt(env, c, "TUN_F_UFO", TUN_F_UFO);
  SetInt(env, c, "UDP_V6ONLY", kUdpV6Only);
  SetInt(env, c, "UDP_REUSEPORT", kUdpReusePort);
  SetInt(env, c, "POLL_READABLE", kPollReadable);
  SetInt(env, c, "POLL_WRITABLE", kPollWritable);
  SetInt(env, c, "SOL_SOCKET", SOL_SOCKET);
  SetInt(env, c, "SO_RCVBUF", SO_RCVBUF);
  SetInt(env, c, "SO_SNDBUF", SO_SNDBUF);
  SetInt(env, c, "SO_MARK", SO_MARK);
  SetInt(env, c, "SO_TIMESTAMPNS", SO_TIMESTAMPNS);
  SetInt(env, c, "IPPROTO_IP", IPPROTO_IP);
  SetInt(env, c, "IPPROTO_IPV6", IPPROTO_IPV6);  // also protocol number 41 (IPv6-in-IPv4)
  SetInt(env, c, "IPPROTO_UDP", IPPROTO_UDP);
  SetInt(env, c, "IPPROTO_IPIP", IPPROTO_IPIP);
  SetInt(env, c, "IP_MTU_DISCOVER", IP_MTU_DISCOVER);
  SetInt(env, c, "IP_PMTUDISC_DONT", IP_PMTUDISC_DONT);
  SetInt(env, c, "IP_PMTUDISC_DO", IP_PMTUDISC_DO);
  SetInt(env, c, "IP_TOS", IP_TOS);
  SetInt(env, c, "IP_RECVTOS", IP_RECVTOS);
  SetInt(env, c, "IP_TTL", IP_TTL);
  SetInt(env, c, "IPV6_MTU_DISCOVER", IPV6_MTU_DISCOVER);
  SetInt(env, c, "IPV6_PMTUDISC_DONT", IPV6_PMTUDISC_DONT);
  SetInt(env, c, "IPV6_UNICAST_HOPS", IPV6_UNICAST_HOPS);
  SetInt(env, c, "IPV6_TCLASS", IPV6_TCLASS);
  SetInt(env, c, "IPV6_RECVTCLASS", IPV6_RECVTCLASS);
#ifdef UDP_SEGMENT
  SetInt(env, c, "UDP_SEGMENT", UDP_SEGMENT);
#endif
#ifdef UDP_GRO
  SetInt(env, c, "UDP_GRO", UDP_GRO);
#endif
  exports.Set("constants", c);
  return exports;
}

}  // namespace

NODE_API_MODULE(vtep_native, Init)
