// The out-of-band exchange over TCP (oob_message.hpp is what travels): the
// link thread listens or connects, each side sends its EndpointInfo and
// reads the peer's, then both keep the connection open as a liveness
// signal (oob_peer_closed). Blocking calls with timeouts, built on
// non-blocking sockets and poll(2), so a dead peer never hangs the thread.
//
// Every fd is O_CLOEXEC and O_NONBLOCK; sends use MSG_NOSIGNAL (no SIGPIPE).
// timeout_ms < 0 waits without limit; 0 only takes what is ready now.
// The caller closes the fds it gets.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "drivers/rdma/connect/oob_message.hpp"

namespace sluice::drivers::rdma {

// Returned by oob_accept / oob_connect when the time ran out (err "timeout ...").
inline constexpr int kOobTimeout = -2;

// "198.18.0.1:18515" or "[2001:db8::1]:18515": a numeric address (no name
// lookup: the link thread must not block in DNS) and a decimal port 0..65535.
// An IPv6 address needs the brackets. false and *err when malformed.
bool oob_parse_host_port(const std::string& host_port, sockaddr_storage* addr, socklen_t* len, std::string* err);

// A listening socket bound to host_port (SO_REUSEADDR, so a restarted node
// rebinds while old connections sit in TIME_WAIT). Port 0 binds an
// ephemeral port: read it with oob_local_port. The fd, or -1 and *err.
int oob_listen(const std::string& host_port, std::string* err);
// The port a socket is bound to (host order), 0 when it is not a bound socket.
uint16_t oob_local_port(int fd);

// One connection from the listening socket: its fd, kOobTimeout when none
// arrived within timeout_ms, or -1 and *err.
int oob_accept(int listen_fd, int timeout_ms, std::string* err);
// Connects to host_port: the fd, kOobTimeout when the handshake did not
// finish within timeout_ms, or -1 and *err ("connection refused", ...).
int oob_connect(const std::string& host_port, int timeout_ms, std::string* err);

// Sends one message (check_endpoint first: an invalid info is not sent).
bool oob_send(int fd, const EndpointInfo& info, int timeout_ms, std::string* err);
// Reads exactly one framed message (never a byte of the next one) and
// decodes it. Rejects a declared length below kOobV1Size or above
// kOobMaxSize before waiting for it; "peer closed after N of M bytes" when
// the stream ends inside a message.
std::optional<EndpointInfo> oob_recv(int fd, int timeout_ms, std::string* err);

// Without blocking: has the other side closed (FIN) or reset the
// connection? Unread data still pending without a FIN reads as open.
bool oob_peer_closed(int fd);

}  // namespace sluice::drivers::rdma
