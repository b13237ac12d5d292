// The builder thread: the table builder's own thread, so that a large
// change (a million-route reload: parse, validate, diff, FIB build) never
// runs on the agent's loop, where it would stall ARP/ND answers, ICMP
// errors and neighbor timers.
//
// Jobs come from any thread and run one at a time, in order. A job may be
// coalesced by key: while one with the same key is queued and not started,
// posting another is a no-op (a storm of SIGHUPs makes one reload, or two
// when a change arrives during a reload, never hundreds).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "api/update.hpp"

namespace sluice::dp {

class TableBuilder;

class TableService {
public:
    explicit TableService(TableBuilder& b) : builder_(b) {}
    ~TableService() { stop(); }
    TableService(const TableService&) = delete;
    TableService& operator=(const TableService&) = delete;

    void start();
    // Finishes the running job, drops the queued ones and joins. While it
    // waits it calls `pump` (the agent serves the builder's neighbor
    // requests meanwhile, so a job waiting on the agent can finish).
    void stop(const std::function<void()>& pump = {});

    // Applies a batch on the builder thread.
    std::future<api::BatchResult> submit(api::Batch b);
    // Runs a job on the builder thread; `key` non-empty coalesces (above).
    // `cancel` runs instead if the service stops before the job started.
    // False when the service is stopping (nothing runs).
    bool post(std::function<void(TableBuilder&)> job, std::string key = {}, std::function<void()> cancel = {});
    // True while a job is queued or running (tests, shutdown).
    bool busy() const;

private:
    struct Job {
        std::function<void(TableBuilder&)> fn;
        std::string key;
        std::function<void()> cancel;
    };
    void run();

    TableBuilder& builder_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    bool running_job_ = false;
    bool spares_ready_ = false;  // no job since the spares were caught up
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace sluice::dp
