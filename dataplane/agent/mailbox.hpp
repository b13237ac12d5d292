// Calls into the agent's thread from another thread (the table builder's):
// the neighbor table has one writer and the neighbor state machines live on
// the agent, so the builder asks and waits. The agent serves queued calls
// once per loop iteration; a call made on the agent's own thread (start-up,
// before its loop runs) runs at once. The agent never waits on the
// builder, so a call cannot deadlock.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace sluice::dp {

class Mailbox {
public:
    Mailbox() : owner_(std::this_thread::get_id()) {}
    void set_owner(std::thread::id id) { owner_ = id; }

    // Runs fn on the owner's thread and returns when it has run.
    void call(const std::function<void()>& fn) {
        if (std::this_thread::get_id() == owner_) {
            fn();
            return;
        }
        std::promise<void> done;
        auto fut = done.get_future();
        {
            std::lock_guard<std::mutex> g(mu_);
            queue_.push_back([&fn, &done] {
                fn();
                done.set_value();
            });
            pending_.store(true, std::memory_order_release);
        }
        fut.wait();
    }

    // Owner: runs every queued call; cheap when there is none.
    void serve() {
        if (!pending_.load(std::memory_order_acquire)) return;
        std::deque<std::function<void()>> q;
        {
            std::lock_guard<std::mutex> g(mu_);
            q.swap(queue_);
            pending_.store(false, std::memory_order_relaxed);
        }
        for (auto& f : q) f();
    }

private:
    std::thread::id owner_;
    std::mutex mu_;
    std::deque<std::function<void()>> queue_;
    std::atomic<bool> pending_{false};
};

}  // namespace sluice::dp
