#include "dataplane/channel/state.hpp"

#include <cstdio>
#include <random>

namespace sluice::dp {

namespace {

std::string random_instance() {
    std::random_device rd;
    uint64_t v = (uint64_t(rd()) << 32) ^ uint64_t(rd());
    v ^= uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) * 0x9e3779b97f4a7c15ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
    return buf;
}

}  // namespace

ControlState::ControlState() : instance_(random_instance()), started_(Clock::now()) {}

double ControlState::uptime_s() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }

uint64_t ControlState::generation() const {
    std::lock_guard<std::mutex> g(mu_);
    return generation_;
}

void ControlState::applied(uint64_t gen) {
    std::lock_guard<std::mutex> g(mu_);
    if (gen > generation_) generation_ = gen;
    synced_ = true;
}

bool ControlState::synced() const {
    std::lock_guard<std::mutex> g(mu_);
    return synced_;
}

void ControlState::opened(uint64_t conn, pid_t pid, uid_t uid) {
    std::lock_guard<std::mutex> g(mu_);
    Session& s = sessions_[conn];
    s.pid = pid;
    s.uid = uid;
}

void ControlState::mark_control(uint64_t conn) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = sessions_.find(conn);
    if (it == sessions_.end()) return;
    it->second.control = true;
    last_pid_ = it->second.pid;
    last_uid_ = it->second.uid;
    // The request that made it the control session counts.
    if (it->second.last != Clock::time_point{}) {
        any_request_ = true;
        if (it->second.last > last_request_) last_request_ = it->second.last;
    }
}

void ControlState::request(uint64_t conn) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = sessions_.find(conn);
    if (it == sessions_.end()) return;
    it->second.last = Clock::now();
    if (it->second.control) {
        any_request_ = true;
        last_request_ = it->second.last;
        last_pid_ = it->second.pid;
        last_uid_ = it->second.uid;
    }
}

void ControlState::closed(uint64_t conn) {
    std::lock_guard<std::mutex> g(mu_);
    sessions_.erase(conn);
}

ControlView ControlState::view() const {
    std::lock_guard<std::mutex> g(mu_);
    ControlView v;
    v.generation = generation_;
    v.synced = synced_;
    v.connections = uint32_t(sessions_.size());
    const Session* newest = nullptr;
    for (const auto& [id, s] : sessions_) {
        if (!s.control) continue;
        if (!newest || s.last >= newest->last) newest = &s;
    }
    v.connected = newest != nullptr;
    v.peer_pid = newest ? newest->pid : last_pid_;
    v.peer_uid = newest ? newest->uid : last_uid_;
    if (any_request_) v.since_request_s = std::chrono::duration<double>(Clock::now() - last_request_).count();
    v.forwarding_on_last_state = synced_ && !v.connected;
    return v;
}

}  // namespace sluice::dp
