#include "dataplane/tables/service.hpp"

#include <pthread.h>

#include <chrono>
#include <memory>

#include "dataplane/tables/builder.hpp"

namespace sluice::dp {

void TableService::start() {
    thread_ = std::thread([this] { run(); });
    pthread_setname_np(thread_.native_handle(), "sluice-tables");
}

void TableService::stop(const std::function<void()>& pump) {
    std::deque<Job> dropped;
    {
        std::lock_guard<std::mutex> g(mu_);
        stop_ = true;
        dropped.swap(queue_);
    }
    for (auto& j : dropped)
        if (j.cancel) j.cancel();
    cv_.notify_all();
    if (!thread_.joinable()) return;
    // Pump until the thread is idle; it exits at its next queue check.
    while (busy()) {
        if (pump) pump();
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    thread_.join();
}

std::future<api::BatchResult> TableService::submit(api::Batch b) {
    auto promise = std::make_shared<std::promise<api::BatchResult>>();
    auto fut = promise->get_future();
    auto batch = std::make_shared<api::Batch>(std::move(b));
    auto stopping = [promise] {
        api::BatchResult r;
        r.errors.push_back({"tables", "the data plane is shutting down; nothing was applied"});
        promise->set_value(std::move(r));
    };
    if (!post([promise, batch](TableBuilder& tb) { promise->set_value(tb.apply(*batch)); }, {}, stopping))
        stopping();
    return fut;
}

bool TableService::post(std::function<void(TableBuilder&)> job, std::string key, std::function<void()> cancel) {
    {
        std::lock_guard<std::mutex> g(mu_);
        if (stop_) return false;
        if (!key.empty())
            for (const auto& j : queue_)
                if (j.key == key) return true;
        queue_.push_back(Job{std::move(job), std::move(key), std::move(cancel)});
    }
    cv_.notify_one();
    return true;
}

bool TableService::busy() const {
    std::lock_guard<std::mutex> g(mu_);
    return running_job_ || !queue_.empty();
}

void TableService::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lk(mu_);
            // Idle: bring the spare FIB copies up to date first (outside
            // the lock), so the next batch finds them ready.
            while (!stop_ && queue_.empty() && !spares_ready_) {
                lk.unlock();
                bool ready = builder_.catch_up();
                lk.lock();
                spares_ready_ = ready;
                if (!ready) cv_.wait_for(lk, std::chrono::milliseconds(10));
            }
            cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            if (stop_ && queue_.empty()) return;
            job = std::move(queue_.front());
            queue_.pop_front();
            running_job_ = true;
        }
        job.fn(builder_);
        std::lock_guard<std::mutex> g(mu_);
        running_job_ = false;
        spares_ready_ = false;
    }
}

}  // namespace sluice::dp
