// One probe of one backend: the per-protocol state machines of the health
// checker (TCP connect, HTTP/1.1 GET with expected status, UDP request and
// expected reply) over one non-blocking socket. The checker owns the epoll
// set and the timers; a Probe only opens its socket, says which fd to wait
// on, and turns readiness into progress or an outcome. No exceptions: every
// failure is an outcome.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "api/net.hpp"
#include "config/model.hpp"
#include "control/health/checker.hpp"

namespace sluice::health {

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
};
Endpoint make_endpoint(const net::IpAddr& address, uint16_t port);

// The request an HTTP probe sends, built once per target.
std::string http_request(const config::HealthCheckConfig& spec, const net::IpAddr& address, uint16_t port);

// The status code of an HTTP/1.x status line ("HTTP/1.1 200 OK"), or -1.
int parse_status_line(std::string_view line);

enum class ProbeStep : uint8_t {
    pending,      // wait for fd() to become ready (edge triggered), or the timeout
    done,         // result() holds the outcome; the socket is closed
    local_error,  // the probe could not start (EMFILE, no local port, ...): not the backend's fault
};

class Probe {
public:
    Probe() = default;
    ~Probe() { close(); }
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    // Opens a socket and starts. `request` (http) must outlive the probe.
    // On pending, the caller adds fd() to its epoll set with epoll_events().
    ProbeStep start(const Endpoint& to, const config::HealthCheckConfig& spec, const std::string* request,
                    uint64_t now_ns);
    // Readiness reported for fd().
    ProbeStep on_event(uint32_t events, uint64_t now_ns);
    // Ends the probe with a failure (the timeout); closes the socket.
    void fail(std::string error, uint64_t now_ns);
    // Closes the socket without an outcome (target removed, checker stopped).
    void close();

    int fd() const { return fd_; }
    uint32_t epoll_events() const;
    bool active() const { return fd_ >= 0; }
    const ProbeResult& result() const { return result_; }
    const std::string& local_error() const { return local_error_; }

private:
    enum class Phase : uint8_t { idle, connecting, sending, receiving };
    ProbeStep finish(bool ok, std::string error, uint64_t now_ns);
    ProbeStep sys_failure(const char* what, int err, uint64_t now_ns);
    // A stream send() or a recv() that failed with `err` (not EINTR, which
    // the caller retries): nothing to do yet (EAGAIN) waits for the socket's
    // next event; anything else fails the check.
    ProbeStep io_failure(const char* what, int err, uint64_t now_ns);
    ProbeStep connected(bool may_read, uint64_t now_ns);
    ProbeStep send_more(uint64_t now_ns);
    ProbeStep receive(uint64_t now_ns);

    int fd_ = -1;
    config::HealthCheckConfig::Type type_ = config::HealthCheckConfig::Type::tcp;
    Phase phase_ = Phase::idle;
    bool established_ = false;  // a TCP connection exists: close it with an RST
    uint64_t start_ns_ = 0;
    const std::string* out_ = nullptr;  // http request / udp payload
    size_t sent_ = 0;
    std::string in_;                    // http: bytes up to the status line's end
    const std::string* expect_ = nullptr;  // udp
    uint16_t expect_status_ = 200;
    ProbeResult result_;
    std::string local_error_;
};

}  // namespace sluice::health
