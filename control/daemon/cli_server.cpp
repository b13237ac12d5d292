// The CLI socket (cli_server.hpp).
#include "control/daemon/cli_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <map>

#include "control/api/codec.hpp"
#include "control/api/frame.hpp"
#include "control/daemon/log.hpp"

namespace sluice::control {

using channel::ErrorCode;

namespace {

channel::Error make_error(ErrorCode code, std::string message, std::string field = "") {
    channel::Error e;
    e.code = code;
    e.message = std::move(message);
    e.field = std::move(field);
    return e;
}

// Refuses an argument the request does not have: a typo ("wieght") must not
// be silently ignored.
bool only_keys(const Json& args, std::initializer_list<const char*> keys, channel::Error* err) {
    for (const auto& [k, v] : args.items()) {
        bool known = false;
        for (const char* x : keys) known = known || k == x;
        if (known) continue;
        std::string list;
        size_t i = 0;
        for (const char* x : keys) list += (i++ ? ", " : "") + std::string(x);
        *err = make_error(ErrorCode::bad_field,
                          "unknown argument \"" + k + "\"; expected " + (list.empty() ? "none" : "one of: " + list),
                          "args." + k);
        return false;
    }
    return true;
}

channel::Error from_field(const channel::FieldError& fe) {
    return make_error(ErrorCode::bad_field, fe.message, fe.field);
}

bool get_key(const Json& args, BackendKey* k, channel::Error* err) {
    channel::FieldError fe;
    if (!channel::get_string(args, "args", "vip", &k->vip, &fe)) {
        *err = from_field(fe);
        return false;
    }
    auto a = args.find("address");
    if (a == args.end()) {
        *err = make_error(ErrorCode::bad_field, "required argument \"address\" is missing; expected a backend address",
                          "args.address");
        return false;
    }
    if (!channel::from_json(*a, "args.address", &k->address, &fe)) {
        *err = from_field(fe);
        return false;
    }
    uint64_t port = 0;
    if (!channel::get_u64(args, "args", "port", &port, &fe, true)) {
        *err = from_field(fe);
        return false;
    }
    if (port > 65535) {
        *err = make_error(ErrorCode::bad_field, "expected a whole number 0..65535, got " + std::to_string(port),
                          "args.port");
        return false;
    }
    k->port = uint16_t(port);
    return true;
}

const char* const kShowWhat[] = {"status", "ports", "routes",  "neighbors", "vips", "backends",
                                 "drops",  "which", "workers", "health",    "rdma"};

}  // namespace

CliHandler::CliHandler(Service& service, std::string dp_socket, std::chrono::milliseconds dp_timeout)
    : service_(service), dp_socket_(std::move(dp_socket)), dp_timeout_(dp_timeout) {}

Outcome CliHandler::ask_dataplane(const std::string& type, const Json& args) {
    std::lock_guard<std::mutex> g(client_mu_);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!client_.connected() &&
            // Not "sluice-control": the data plane takes the connection whose
            // hello names that as the control session (the link's).
            !client_.connect(dp_socket_, "sluice-control-cli", std::chrono::milliseconds(1000)))
            return make_error(ErrorCode::unavailable, "the data plane cannot be reached: " + client_.error());
        channel::Reply r = client_.call(type, args, dp_timeout_);
        if (r.ok) return std::move(r.result);
        // A transport failure on a connection that had been idle: the data
        // plane may have restarted; one more try on a new connection.
        if (!client_.connected() && attempt == 0) continue;
        if (!client_.connected() && (r.error.code == ErrorCode::bad_frame || r.error.code == ErrorCode::unavailable))
            r.error.code = ErrorCode::unavailable;
        r.error.id = 0;
        return r.error;
    }
    return make_error(ErrorCode::unavailable, "the data plane cannot be reached");
}

Outcome CliHandler::show(const Json& args) {
    std::string what;
    channel::FieldError fe;
    if (!channel::get_string(args, "args", "what", &what, &fe)) return from_field(fe);
    bool known = false;
    for (const char* w : kShowWhat) known = known || what == w;
    if (!known) {
        std::string list;
        for (const char* w : kShowWhat) list += (list.empty() ? "" : ", ") + std::string(w);
        return make_error(ErrorCode::bad_field, "unknown show \"" + what + "\"; expected one of: " + list, "args.what");
    }
    if (what == "health") {
        channel::Error err;
        if (!only_keys(args, {"what"}, &err)) return err;
        return service_.health_list();
    }
    if (what == "backends") {
        std::string vip;
        if (!channel::get_string(args, "args", "vip", &vip, &fe)) return from_field(fe);
        if (!service_.has_vip(vip)) {
            std::string list;
            for (const auto& n : service_.vip_names()) list += (list.empty() ? "" : ", ") + n;
            return make_error(
                ErrorCode::bad_field,
                "no VIP named \"" + vip + "\"; " + (list.empty() ? "none are configured" : "VIPs are: " + list),
                "args.vip");
        }
        Outcome o = ask_dataplane("show", args);
        if (auto* j = std::get_if<Json>(&o)) return service_.merge_backends(*j, vip);
        return o;
    }
    Outcome o = ask_dataplane("show", args);
    if (what == "status") {
        // "control_process": the data plane's status already has a
        // "control" (its view of the control session).
        Json control = service_.control_status();
        if (auto* j = std::get_if<Json>(&o)) {
            Json r = j->is_object() ? *j : Json{{"dataplane", *j}};
            r["control_process"] = std::move(control);
            return r;
        }
        // The control process's own status is worth showing when the data
        // plane is away: that is when the operator asks.
        const auto& e = std::get<channel::Error>(o);
        return Json{{"control_process", std::move(control)},
                    {"dataplane", Json{{"connected", false}, {"error", e.message}}}};
    }
    return o;
}

Outcome CliHandler::dispatch(const channel::Request& req) {
    const Json& args = req.args;
    channel::Error err;
    channel::FieldError fe;
    if (req.type == "hello") {
        // hello's arguments are informational ({"client": ...}).
        const LinkStatus ls = service_.link_status();
        return Json{{"server", "sluice-control"},
                    {"version", channel::kVersion},
                    {"pid", uint64_t(::getpid())},
                    {"dataplane", Json{{"connected", ls.connected},
                                       {"synced", ls.synced},
                                       {"instance", ls.instance},
                                       {"generation", ls.generation}}}};
    }
    if (req.type == "show") return show(args);
    if (req.type == "route_add") {
        config::Route r;
        if (!channel::from_json(args, "args", &r, &fe)) return from_field(fe);
        return service_.change(RouteSet{std::move(r)});
    }
    if (req.type == "route_del") {
        if (!only_keys(args, {"prefix"}, &err)) return err;
        auto p = args.find("prefix");
        if (p == args.end())
            return make_error(ErrorCode::bad_field, "required argument \"prefix\" is missing", "args.prefix");
        net::Prefix prefix;
        if (!channel::from_json(*p, "args.prefix", &prefix, &fe)) return from_field(fe);
        if (!net::is_network(prefix))
            return make_error(ErrorCode::bad_field,
                              "host bits set: did you mean " + net::to_string(net::network_of(prefix)) + "?",
                              "args.prefix");
        return service_.change(RouteDel{prefix});
    }
    if (req.type == "backend_add") {
        if (!only_keys(args, {"vip", "backend"}, &err)) return err;
        BackendAdd c;
        if (!channel::get_string(args, "args", "vip", &c.vip, &fe)) return from_field(fe);
        auto b = args.find("backend");
        if (b == args.end())
            return make_error(ErrorCode::bad_field, "required argument \"backend\" is missing", "args.backend");
        if (!channel::from_json(*b, "args.backend", &c.backend, &fe)) return from_field(fe);
        return service_.change(c);
    }
    if (req.type == "backend_del") {
        if (!only_keys(args, {"vip", "address", "port"}, &err)) return err;
        BackendDel c;
        if (!get_key(args, &c.key, &err)) return err;
        return service_.change(c);
    }
    if (req.type == "backend_set") {
        if (!only_keys(args, {"vip", "address", "port", "weight", "admin"}, &err)) return err;
        BackendSet c;
        if (!get_key(args, &c.key, &err)) return err;
        uint64_t w = 0;
        if (args.contains("weight")) {
            if (!channel::get_u64(args, "args", "weight", &w, &fe)) return from_field(fe);
            if (w > api::kMaxBackendWeight)
                return make_error(ErrorCode::bad_field,
                                  "expected a whole number 0.." + std::to_string(api::kMaxBackendWeight) + ", got " +
                                      std::to_string(w),
                                  "args.weight");
            c.weight = uint32_t(w);
        }
        if (args.contains("admin")) {
            std::string a;
            if (!channel::get_string(args, "args", "admin", &a, &fe)) return from_field(fe);
            if (a != "up" && a != "drain")
                return make_error(ErrorCode::bad_field, "expected \"up\" or \"drain\", got \"" + a + "\"",
                                  "args.admin");
            c.drain = a == "drain";
        }
        if (!c.weight && !c.drain)
            return make_error(ErrorCode::bad_field, "nothing to set: give weight and/or admin", "args");
        return service_.change(c);
    }
    if (req.type == "reload") {
        if (!only_keys(args, {}, &err)) return err;
        return service_.reload();
    }
    return make_error(
        ErrorCode::unknown_type,
        "unknown request type \"" + req.type +
            "\"; expected hello, show, route_add, route_del, backend_add, backend_del, backend_set or reload");
}

channel::Reply CliHandler::handle_reply(const channel::Request& req) {
    channel::Reply r;
    r.id = req.id;
    try {
        Outcome o = dispatch(req);
        if (auto* j = std::get_if<Json>(&o)) {
            r.ok = true;
            r.result = std::move(*j);
        } else {
            r.error = std::get<channel::Error>(std::move(o));
        }
    } catch (const std::exception& e) {
        r.ok = false;
        r.error = make_error(ErrorCode::internal, std::string("internal error: ") + e.what());
        log_line("cli: " + req.type + ": " + r.error.message);
    }
    r.error.id = req.id;
    return r;
}

std::string CliHandler::handle(const channel::Request& req) {
    channel::Reply r = handle_reply(req);
    return r.ok ? channel::encode_ok(r.id, r.result) : channel::encode_error(r.error);
}

// ---- the socket loop ------------------------------------------------------

CliServer::CliServer(CliHandler& handler, Options opt) : handler_(handler), opt_(std::move(opt)) {}

CliServer::~CliServer() { stop(); }

bool CliServer::start(std::string* err) {
    listen_fd_ = channel::listen_unix(opt_.path, opt_.policy, err);
    if (listen_fd_ < 0) return false;
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd_ < 0) {
        if (err) *err = std::string("eventfd: ") + std::strerror(errno);
        ::close(listen_fd_);
        listen_fd_ = -1;
        return false;
    }
    thread_ = std::thread([this] { run(); });
    return true;
}

void CliServer::stop() {
    if (thread_.joinable()) {
        const uint64_t one = 1;
        (void)!::write(stop_fd_, &one, sizeof one);
        thread_.join();
    }
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        ::unlink(opt_.path.c_str());
    }
    if (stop_fd_ >= 0) ::close(stop_fd_);
    stop_fd_ = -1;
}

namespace {

struct Conn {
    explicit Conn(uint32_t max) : reader(max) {}
    channel::FrameReader reader;
    std::string out;
    size_t out_off = 0;
    bool hello = false;
    bool closing = false;  // close once `out` is written
    bool want_out = false;
    channel::PeerCred peer;
};

std::string error_frame(ErrorCode code, std::string message, uint64_t id = 0) {
    channel::Error e = make_error(code, std::move(message));
    e.id = id;
    return channel::frame(channel::encode_error(e));
}

}  // namespace

void CliServer::run() {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        log_line(std::string("cli: epoll_create1: ") + std::strerror(errno));
        return;
    }
    auto add = [&](int fd, uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
    };
    auto mod = [&](int fd, uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        (void)::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    };
    add(listen_fd_, EPOLLIN);
    add(stop_fd_, EPOLLIN);
    std::map<int, Conn> conns;
    auto drop = [&](int fd) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        conns.erase(fd);
    };
    // Writes what it can; false when the connection is finished (closed).
    auto flush = [&](int fd, Conn& c) {
        while (c.out_off < c.out.size()) {
            const ssize_t n = ::send(fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
            if (n > 0) {
                c.out_off += size_t(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (!c.want_out) {
                    c.want_out = true;
                    mod(fd, EPOLLIN | EPOLLOUT);
                }
                return true;
            }
            drop(fd);  // the peer went away
            return false;
        }
        c.out.clear();
        c.out_off = 0;
        if (c.want_out) {
            c.want_out = false;
            mod(fd, EPOLLIN);
        }
        if (c.closing) {
            drop(fd);
            return false;
        }
        return true;
    };
    bool running = true;
    epoll_event evs[64];
    while (running) {
        const int n = ::epoll_wait(ep, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            log_line(std::string("cli: epoll_wait: ") + std::strerror(errno));
            break;
        }
        for (int i = 0; i < n; ++i) {
            const int fd = evs[i].data.fd;
            if (fd == stop_fd_) {
                running = false;
                break;
            }
            if (fd == listen_fd_) {
                for (;;) {
                    const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    Conn conn(opt_.max_message);
                    bool ok = channel::peer_cred(c, &conn.peer);
                    if (!ok || !opt_.policy.allows(conn.peer)) {
                        const std::string f =
                            error_frame(ErrorCode::not_permitted,
                                        "not permitted: uid " + std::to_string(conn.peer.uid) + " gid " +
                                            std::to_string(conn.peer.gid) + " (root, the owner or control.group only)");
                        (void)!::send(c, f.data(), f.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                        log_line("cli: refused a connection from pid " + std::to_string(conn.peer.pid) + " uid " +
                                 std::to_string(conn.peer.uid));
                        ::close(c);
                        continue;
                    }
                    if (conns.size() >= opt_.max_connections) {
                        const std::string f = error_frame(ErrorCode::busy, "too many CLI connections; try again");
                        (void)!::send(c, f.data(), f.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                        ::close(c);
                        continue;
                    }
                    if (!add(c, EPOLLIN)) {
                        ::close(c);
                        continue;
                    }
                    conns.emplace(c, std::move(conn));
                }
                continue;
            }
            auto it = conns.find(fd);
            if (it == conns.end()) continue;
            Conn& c = it->second;
            if (evs[i].events & EPOLLOUT) {
                if (!flush(fd, c)) continue;
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c.closing) continue;
            char buf[65536];
            bool eof = false;
            for (;;) {
                const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
                if (r > 0) {
                    c.reader.feed(buf, size_t(r));
                    continue;
                }
                if (r < 0 && errno == EINTR) continue;
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                eof = true;
                break;
            }
            std::string body;
            for (;;) {
                auto st = c.reader.next(&body);
                if (st == channel::FrameReader::Status::need_more) break;
                if (st == channel::FrameReader::Status::error) {
                    const bool large = c.reader.error().find("above") != std::string::npos;
                    c.out += error_frame(large ? ErrorCode::too_large : ErrorCode::bad_frame, c.reader.error());
                    c.closing = true;
                    break;
                }
                auto parsed = channel::parse_request(body);
                if (auto* e = std::get_if<channel::Error>(&parsed)) {
                    c.out += channel::frame(channel::encode_error(*e));
                    if (channel::closes_connection(e->code)) {
                        c.closing = true;
                        break;
                    }
                    continue;
                }
                auto& req = std::get<channel::Request>(parsed);
                if (!c.hello && req.type != "hello") {
                    c.out += error_frame(ErrorCode::not_permitted, "the first request must be hello", req.id);
                    c.closing = true;
                    break;
                }
                c.hello = true;
                channel::Reply rep = handler_.handle_reply(req);
                c.out +=
                    channel::frame(rep.ok ? channel::encode_ok(rep.id, rep.result) : channel::encode_error(rep.error));
                if (!rep.ok && channel::closes_connection(rep.error.code)) {
                    c.closing = true;
                    break;
                }
            }
            if (eof && c.reader.partial() && !c.closing)
                log_line("cli: a client (pid " + std::to_string(c.peer.pid) +
                         ") closed in the middle of a frame (truncated)");
            if (eof && c.out.empty()) {
                drop(fd);
                continue;
            }
            if (eof) c.closing = true;
            flush(fd, c);
        }
    }
    for (auto& [fd, c] : conns) ::close(fd);
    ::close(ep);
}

}  // namespace sluice::control
