// An in-process stand-in for sluice-dp's channel server (docs/control-protocol.md,
// "Data plane requests"): listens with the channel library's listen_unix on
// a temporary path, serves any number of connections from one thread, and
// keeps routes, neighbors and VIPs as JSON so that tests can look at what
// the control process pushed. Answers hello, sync_begin/part/commit, apply,
// show and reload.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "control/api/frame.hpp"
#include "control/api/message.hpp"

namespace sluice::control::test {

using channel::Json;

class FakeDataplane {
public:
    explicit FakeDataplane(std::string path, uint64_t generation = 41, std::string instance = "fake-1");
    ~FakeDataplane();
    bool start();
    void stop();  // closes the socket and every connection (a data plane "crash")

    // State (copies, under the lock).
    std::map<std::string, Json> routes() const;  // prefix -> route
    std::map<std::string, Json> vips() const;    // name -> vip
    std::vector<Json> neighbors() const;
    uint64_t generation() const;
    void set_generation(uint64_t g);                // another controller applied a newer one
    void set_vips(std::map<std::string, Json> v);   // a data plane that already has state
    uint64_t count(const std::string& type) const;  // requests of this type so far
    Json last_commit_result() const;
    std::vector<uint64_t> commit_generations() const;
    // An address: any VIP set (sync or apply) with a backend at it is refused.
    void refuse_backend(const std::string& address);
    // A port name routes may use (others are refused).
    std::vector<std::string> ports = {"p0", "p1"};
    std::string path() const { return path_; }

private:
    struct Conn {
        int fd = -1;
        channel::FrameReader reader{64u << 20};
        bool staging = false;
        Json staged_routes = Json::array(), staged_neighbors = Json::array(), staged_vips = Json::array();
    };
    void run();
    std::string handle(Conn& c, const channel::Request& r);
    bool check_vip(const Json& v, std::string* why) const;
    bool check_route(const Json& r, std::string* why) const;

    std::string path_;
    std::string instance_;
    int listen_fd_ = -1;
    int stop_fd_ = -1;
    std::thread thread_;
    mutable std::mutex mu_;
    uint64_t generation_;
    std::map<std::string, Json> routes_, vips_;
    std::vector<Json> neighbors_;
    std::map<std::string, uint64_t> counts_;
    std::set<std::string> refused_;
    Json last_commit_;
    std::vector<uint64_t> commit_gens_;
    bool syncing_ = false;
};

// A unique temporary directory, removed with its contents at destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

}  // namespace sluice::control::test
