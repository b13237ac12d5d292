#include "tests/unit/control/fake_dataplane.hpp"

#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "control/api/frame.hpp"
#include "control/api/unix_socket.hpp"

namespace sluice::control::test {

using channel::ErrorCode;

TempDir::TempDir() {
    char tmpl[] = "/tmp/sluice-ctl-test.XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    path_ = p ? p : "/tmp";
}

TempDir::~TempDir() {
    std::error_code ec;
    if (path_ != "/tmp") std::filesystem::remove_all(path_, ec);
}

FakeDataplane::FakeDataplane(std::string path, uint64_t generation, std::string instance)
    : path_(std::move(path)), instance_(std::move(instance)), generation_(generation) {}

FakeDataplane::~FakeDataplane() { stop(); }

bool FakeDataplane::start() {
    channel::AccessPolicy pol;
    pol.owner = ::geteuid();
    std::string err;
    listen_fd_ = channel::listen_unix(path_, pol, &err);
    if (listen_fd_ < 0) return false;
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    thread_ = std::thread([this] { run(); });
    return true;
}

void FakeDataplane::stop() {
    if (thread_.joinable()) {
        uint64_t one = 1;
        (void)!::write(stop_fd_, &one, sizeof one);
        thread_.join();
    }
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        ::unlink(path_.c_str());
    }
    if (stop_fd_ >= 0) ::close(stop_fd_);
    listen_fd_ = stop_fd_ = -1;
    std::lock_guard<std::mutex> g(mu_);
    syncing_ = false;
}

std::map<std::string, Json> FakeDataplane::routes() const {
    std::lock_guard<std::mutex> g(mu_);
    return routes_;
}
std::map<std::string, Json> FakeDataplane::vips() const {
    std::lock_guard<std::mutex> g(mu_);
    return vips_;
}
std::vector<Json> FakeDataplane::neighbors() const {
    std::lock_guard<std::mutex> g(mu_);
    return neighbors_;
}
uint64_t FakeDataplane::generation() const {
    std::lock_guard<std::mutex> g(mu_);
    return generation_;
}
void FakeDataplane::set_generation(uint64_t gen) {
    std::lock_guard<std::mutex> g(mu_);
    generation_ = gen;
}
void FakeDataplane::set_vips(std::map<std::string, Json> v) {
    std::lock_guard<std::mutex> g(mu_);
    vips_ = std::move(v);
}
uint64_t FakeDataplane::count(const std::string& type) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = counts_.find(type);
    return it == counts_.end() ? 0 : it->second;
}
Json FakeDataplane::last_commit_result() const {
    std::lock_guard<std::mutex> g(mu_);
    return last_commit_;
}
std::vector<uint64_t> FakeDataplane::commit_generations() const {
    std::lock_guard<std::mutex> g(mu_);
    return commit_gens_;
}
void FakeDataplane::refuse_backend(const std::string& address) {
    std::lock_guard<std::mutex> g(mu_);
    refused_.insert(address);
}

bool FakeDataplane::check_vip(const Json& v, std::string* why) const {
    if (!v.is_object() || !v.contains("backends")) {
        *why = "not a VIP";
        return false;
    }
    for (const auto& b : v["backends"])
        if (refused_.count(b.value("address", ""))) {
            *why = "backend " + b.value("address", "") + " is not reachable from any port";
            return false;
        }
    return true;
}

bool FakeDataplane::check_route(const Json& r, std::string* why) const {
    for (const auto& h : r.value("nexthops", Json::array())) {
        const std::string p = h.value("port", "");
        if (!p.empty() && std::find(ports.begin(), ports.end(), p) == ports.end()) {
            *why = "no port " + p;
            return false;
        }
    }
    return true;
}

namespace {
std::string err_body(uint64_t id, ErrorCode code, std::string msg, std::vector<channel::Error::Item> items = {}) {
    channel::Error e;
    e.id = id;
    e.code = code;
    e.message = std::move(msg);
    e.errors = std::move(items);
    return channel::encode_error(e);
}

// Equal VIPs ignoring backend order (the data plane sorts them).
Json normal(Json v) {
    if (v.is_object() && v.contains("backends") && v["backends"].is_array()) {
        auto& b = v["backends"];
        std::sort(b.begin(), b.end(), [](const Json& x, const Json& y) { return x.dump() < y.dump(); });
    }
    return v;
}
}  // namespace

std::string FakeDataplane::handle(Conn& c, const channel::Request& r) {
    std::lock_guard<std::mutex> g(mu_);
    ++counts_[r.type];
    const Json& a = r.args;
    if (r.type == "hello")
        return channel::encode_ok(r.id, Json{{"server", "sluice-dp"},
                                             {"version", 1},
                                             {"instance", instance_},
                                             {"pid", 4242},
                                             {"generation", generation_},
                                             {"synced", true},
                                             {"owner", "control"},
                                             {"config_version", 3},
                                             {"file_prefix", "sluice"},
                                             {"ports", ports}});
    if (r.type == "sync_begin") {
        if (syncing_ && !c.staging) return err_body(r.id, ErrorCode::busy, "another connection is syncing");
        syncing_ = c.staging = true;
        c.staged_routes = c.staged_neighbors = c.staged_vips = Json::array();
        return channel::encode_ok(r.id, Json::object());
    }
    if (r.type == "sync_part") {
        if (!c.staging) return err_body(r.id, ErrorCode::bad_field, "no sync_begin");
        for (const char* k : {"routes", "neighbors", "vips"})
            if (a.contains(k)) {
                Json& dst = std::string(k) == "routes"      ? c.staged_routes
                            : std::string(k) == "neighbors" ? c.staged_neighbors
                                                            : c.staged_vips;
                for (const auto& x : a[k]) dst.push_back(x);
            }
        return channel::encode_ok(r.id, Json::object());
    }
    if (r.type == "sync_commit" || r.type == "apply") {
        const uint64_t gen = a.value("generation", uint64_t(0));
        if (gen < generation_) {
            if (r.type == "sync_commit") syncing_ = c.staging = false;
            return err_body(r.id, ErrorCode::stale_generation,
                            "generation " + std::to_string(gen) + " < " + std::to_string(generation_));
        }
        std::map<std::string, Json> routes = routes_, vips = vips_;
        std::vector<Json> neighbors = neighbors_;
        std::vector<channel::Error::Item> refused;
        std::string why;
        if (r.type == "sync_commit") {
            if (!c.staging) return err_body(r.id, ErrorCode::bad_field, "no sync_begin");
            syncing_ = c.staging = false;
            routes.clear();
            vips.clear();
            for (size_t i = 0; i < c.staged_routes.size(); ++i) {
                const auto& x = c.staged_routes[i];
                if (!check_route(x, &why)) refused.push_back({"routes[" + std::to_string(i) + "]", why});
                routes[x["prefix"].get<std::string>()] = x;
            }
            for (size_t i = 0; i < c.staged_vips.size(); ++i) {
                const auto& x = c.staged_vips[i];
                if (!check_vip(x, &why)) refused.push_back({"vips[" + std::to_string(i) + "]", why});
                vips[x["name"].get<std::string>()] = normal(x);
            }
            neighbors.assign(c.staged_neighbors.begin(), c.staged_neighbors.end());
        } else {
            size_t i = 0;
            for (const auto& x : a.value("routes", Json::array())) {
                if (x["op"] == "set") {
                    Json rt = x;
                    rt.erase("op");
                    if (!check_route(rt, &why)) refused.push_back({"routes[" + std::to_string(i) + "]", why});
                    routes[rt["prefix"].get<std::string>()] = rt;
                } else {
                    routes.erase(x["prefix"].get<std::string>());
                }
                ++i;
            }
            i = 0;
            for (const auto& x : a.value("vips", Json::array())) {
                if (x["op"] == "set") {
                    if (!check_vip(x["vip"], &why)) refused.push_back({"vips[" + std::to_string(i) + "]", why});
                    vips[x["vip"]["name"].get<std::string>()] = normal(x["vip"]);
                }
                ++i;
            }
        }
        if (!refused.empty()) return err_body(r.id, ErrorCode::rejected, "the tables refused the batch", refused);
        uint64_t rc = 0, vc = 0, nc = 0;
        for (const auto& [k, v] : routes) rc += !routes_.count(k) || routes_[k] != v;
        for (const auto& [k, v] : routes_) rc += !routes.count(k);
        for (const auto& [k, v] : vips) vc += !vips_.count(k) || vips_[k] != v;
        for (const auto& [k, v] : vips_) vc += !vips.count(k);
        nc = neighbors != neighbors_ ? std::max(neighbors.size(), neighbors_.size()) : 0;
        routes_ = std::move(routes);
        vips_ = std::move(vips);
        neighbors_ = std::move(neighbors);
        generation_ = gen;
        Json res{{"applied", true},
                 {"generation", gen},
                 {"changes", Json{{"routes", rc}, {"neighbors", nc}, {"vips", vc}}},
                 {"fib_ops", rc},
                 {"maglev_rebuilt", vc},
                 {"visible_ns", 1000}};
        if (r.type == "sync_commit") {
            last_commit_ = res;
            commit_gens_.push_back(gen);
        }
        return channel::encode_ok(r.id, res);
    }
    if (r.type == "reload") return channel::encode_ok(r.id, Json{{"applied", true}, {"version", 4}, {"summary", "ok"}});
    if (r.type == "show") {
        const std::string what = a.value("what", "");
        if (what == "status")
            return channel::encode_ok(r.id, Json{{"instance", instance_},
                                                 {"pid", 4242},
                                                 {"owner", "control"},
                                                 {"control", Json{{"connected", true}, {"generation", generation_}}}});
        if (what == "ports")  // the shape of sluice-dp's show ports (dataplane/channel/show.cpp)
            return channel::encode_ok(
                r.id, Json{{"ports", Json::array({Json{{"name", "p0"},
                                                       {"port_id", 0},
                                                       {"driver", "net_tap"},
                                                       {"rx_packets", 100},
                                                       {"tx_packets", 90},
                                                       {"nic_rx_packets", 101},
                                                       {"nic_tx_packets", 90},
                                                       {"nic_rx_bytes", 6400},
                                                       {"nic_tx_bytes", 5760},
                                                       {"rx_missed", 2},
                                                       {"rx_nombuf", 1},
                                                       {"rx_errors", 0},
                                                       {"tx_errors", 0},
                                                       {"link", Json{{"up", true}, {"speed_mbps", 10000}}},
                                                       {"rx_queue_counters",
                                                        Json::array({Json{{"queue", 0}, {"rx_packets", 60}},
                                                                     Json{{"queue", 1}, {"rx_packets", 40}}})}}})}});
        if (what == "drops")
            return channel::encode_ok(r.id, Json{{"drops", Json{{"no_route", 3}, {"ttl_exceeded", 1}}}});
        if (what == "rdma")
            return channel::encode_ok(r.id, Json{{"rdma", Json::array({Json{{"name", "r0"},
                                                                            {"state", "up"},
                                                                            {"credits", 500},
                                                                            {"tx_packets", 70},
                                                                            {"rx_packets", 60},
                                                                            {"tx_bytes", 7000},
                                                                            {"rx_bytes", 6000},
                                                                            {"credit_stalls", 4},
                                                                            {"qp_resets", 1},
                                                                            {"lost_in_flight", 2},
                                                                            {"completion_errors", 0}}})}});
        if (what == "vips") {
            Json list = Json::array();
            for (const auto& [n, v] : vips_)
                list.push_back(Json{{"name", n},
                                    {"packets", 10},
                                    {"bytes", 640},
                                    {"new_flows", 2},
                                    {"tracked_flows", 1},
                                    {"config", v}});
            return channel::encode_ok(r.id, Json{{"vips", list}});
        }
        if (what == "backends") {
            const std::string n = a.value("vip", "");
            auto it = vips_.find(n);
            if (it == vips_.end()) return err_body(r.id, ErrorCode::bad_field, "no VIP " + n);
            Json list = Json::array();
            for (auto b : it->second["backends"]) {
                b["slots"] = 100;
                b["packets"] = 5;
                b["bytes"] = 320;
                b["new_flows"] = 1;
                b["tracked_flows"] = 1;
                list.push_back(b);
            }
            return channel::encode_ok(r.id, Json{{"vip", n}, {"backends", list}});
        }
        return channel::encode_ok(r.id, Json{{"what", what}});
    }
    return err_body(r.id, ErrorCode::unknown_type, "unknown type " + r.type);
}

void FakeDataplane::run() {
    std::vector<Conn> conns;
    for (;;) {
        std::vector<pollfd> p;
        p.push_back({stop_fd_, POLLIN, 0});
        p.push_back({listen_fd_, POLLIN, 0});
        for (auto& c : conns) p.push_back({c.fd, POLLIN, 0});
        if (::poll(p.data(), p.size(), 1000) < 0) continue;
        if (p[0].revents) break;
        const size_t polled = conns.size();  // a connection accepted below has no pollfd yet
        if (p[1].revents) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) {
                conns.emplace_back();
                conns.back().fd = fd;
            }
        }
        for (size_t i = 0; i < polled; ++i) {
            if (!p[i + 2].revents) continue;
            Conn& c = conns[i];
            char buf[65536];
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            bool close_it = n <= 0;
            if (n > 0) c.reader.feed(buf, size_t(n));
            std::string body;
            while (!close_it && c.reader.next(&body) == channel::FrameReader::Status::frame) {
                auto parsed = channel::parse_request(body);
                std::string reply;
                if (auto* e = std::get_if<channel::Error>(&parsed))
                    reply = channel::encode_error(*e);
                else
                    reply = handle(c, std::get<channel::Request>(parsed));
                const std::string f = channel::frame(reply);
                size_t off = 0;
                while (off < f.size()) {
                    const ssize_t w = ::send(c.fd, f.data() + off, f.size() - off, MSG_NOSIGNAL);
                    if (w <= 0) {
                        close_it = true;
                        break;
                    }
                    off += size_t(w);
                }
            }
            if (close_it) {
                if (c.staging) {
                    std::lock_guard<std::mutex> g(mu_);
                    syncing_ = false;
                }
                ::close(c.fd);
                c.fd = -1;
            }
        }
        std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
    }
    for (auto& c : conns) ::close(c.fd);
}

}  // namespace sluice::control::test
