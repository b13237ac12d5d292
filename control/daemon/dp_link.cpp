// The link thread (dp_link.hpp).
#include "control/daemon/dp_link.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "control/daemon/log.hpp"

namespace sluice::control {

using Clock = std::chrono::steady_clock;
using channel::ErrorCode;

namespace {

uint64_t u64_of(const Json& obj, const char* key) {
    if (!obj.is_object()) return 0;
    auto it = obj.find(key);
    if (it == obj.end()) return 0;
    if (it->is_number_unsigned()) return it->get<uint64_t>();
    if (it->is_number_integer() && it->get<int64_t>() >= 0) return uint64_t(it->get<int64_t>());
    return 0;
}

std::string str_of(const Json& obj, const char* key) {
    if (!obj.is_object()) return "";
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// "changes": {"routes": a, "neighbors": b, "vips": c} summed.
uint64_t changes_of(const Json& result) {
    if (!result.is_object()) return 0;
    auto it = result.find("changes");
    if (it == result.end() || !it->is_object()) return 0;
    return u64_of(*it, "routes") + u64_of(*it, "neighbors") + u64_of(*it, "vips");
}

std::string error_text(const channel::Error& e) {
    std::string s = std::string(channel::to_string(e.code)) + ": " + e.message;
    if (!e.field.empty()) s += " (" + e.field + ")";
    for (size_t i = 0; i < e.errors.size() && i < 10; ++i) s += "; " + e.errors[i].what + ": " + e.errors[i].message;
    if (e.errors.size() > 10) s += "; ... " + std::to_string(e.errors.size() - 10) + " more";
    return s;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

DpLink::DpLink(Options opt, Hooks hooks)
    : opt_(std::move(opt)), hooks_(std::move(hooks)), conn_(uint32_t(opt_.limits.max_body)) {
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

DpLink::~DpLink() {
    stop();
    if (event_fd_ >= 0) ::close(event_fd_);
}

void DpLink::start() {
    if (started_) return;
    started_ = true;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void DpLink::stop() {
    if (!started_) return;
    stop_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
    started_ = false;
    conn_.close();
    fail_jobs("sluice-control is stopping");
}

void DpLink::wake() {
    if (event_fd_ < 0) return;
    const uint64_t one = 1;
    // A full counter (EAGAIN) already means "wake up": nothing to retry.
    (void)!::write(event_fd_, &one, sizeof one);
}

void DpLink::mark_dirty(const std::vector<std::string>& vips) {
    {
        std::lock_guard<std::mutex> g(mu_);
        marked_.insert(marked_.end(), vips.begin(), vips.end());
    }
    wake();
}

LinkStatus DpLink::status() const {
    std::lock_guard<std::mutex> g(mu_);
    return status_;
}

void DpLink::set_error(const std::string& e) {
    std::lock_guard<std::mutex> g(mu_);
    status_.last_error = e;
}

PushResult DpLink::submit(std::shared_ptr<Job> job, std::chrono::milliseconds timeout) {
    auto fut = job->done.get_future();
    {
        std::lock_guard<std::mutex> g(mu_);
        if (!started_ || stop_) {
            PushResult r;
            r.error = "the data plane link is not running";
            return r;
        }
        jobs_.push_back(job);
    }
    wake();
    if (fut.wait_for(timeout) != std::future_status::ready) {
        PushResult r;
        r.error = "no answer from the data plane within " + std::to_string(timeout.count()) +
                  " ms (the change stays in the desired state)";
        return r;
    }
    return fut.get();
}

PushResult DpLink::push(Json route_items, std::vector<std::string> vips, std::chrono::milliseconds timeout) {
    auto j = std::make_shared<Job>();
    j->kind = Job::Kind::apply;
    j->route_items = std::move(route_items);
    j->vips = std::move(vips);
    return submit(std::move(j), timeout);
}

PushResult DpLink::sync_now(std::chrono::milliseconds timeout) {
    auto j = std::make_shared<Job>();
    j->kind = Job::Kind::sync;
    return submit(std::move(j), timeout);
}

PushResult DpLink::request(std::string type, Json args, std::chrono::milliseconds timeout) {
    auto j = std::make_shared<Job>();
    j->kind = Job::Kind::request;
    j->type = std::move(type);
    j->args = std::move(args);
    return submit(std::move(j), timeout);
}

void DpLink::fail_jobs(const std::string& why) {
    std::deque<std::shared_ptr<Job>> jobs;
    {
        std::lock_guard<std::mutex> g(mu_);
        jobs.swap(jobs_);
    }
    for (auto& j : jobs) {
        PushResult r;
        r.error = why;
        j->done.set_value(std::move(r));
    }
}

PushResult DpLink::classify(channel::Reply r, const char* what) {
    PushResult out;
    if (r.ok) {
        out.kind = PushResult::Kind::applied;
        out.reply = std::move(r);
        return out;
    }
    switch (r.error.code) {
        case ErrorCode::bad_field:
        case ErrorCode::rejected:
        case ErrorCode::unknown_type:
        case ErrorCode::internal:
            out.kind = PushResult::Kind::refused;
            out.reply = std::move(r);
            return out;
        case ErrorCode::stale_generation:
            // Someone (an older or a second control process) applied a newer
            // generation: reconnect, read it in hello, and sync above it.
            log_line(std::string("dataplane: ") + what + " refused as stale; reconnecting to learn the generation");
            conn_.close();
            break;
        case ErrorCode::busy:
            need_full_ = true;  // another connection is syncing: try again after a back-off
            break;
        default: conn_.close(); break;
    }
    out.kind = PushResult::Kind::unreachable;
    out.error = error_text(r.error);
    out.reply = std::move(r);
    return out;
}

void DpLink::on_connect(bool first) {
    const Json& h = conn_.hello();
    const std::string instance = str_of(h, "instance");
    const uint64_t gen = u64_of(h, "generation");
    gen_.observe(gen);
    std::string previous;
    {
        std::lock_guard<std::mutex> g(mu_);
        previous = status_.instance;
        status_.connected = true;
        status_.synced = false;
        status_.instance = instance;
        status_.dataplane_pid = u64_of(h, "pid");
        status_.dataplane_generation = gen;
        ++status_.connects;
    }
    log_line("dataplane: connected to " + opt_.socket + " (instance " + instance + ", pid " +
             std::to_string(u64_of(h, "pid")) + ", generation " + std::to_string(gen) + ")" +
             (!previous.empty() && previous != instance ? "; a new instance: the data plane restarted" : ""));
    if (hooks_.on_connected) hooks_.on_connected(conn_, first);
    need_full_ = true;  // every connection starts with the whole state
}

PushResult DpLink::full_sync() {
    const auto t0 = Clock::now();
    // Health events up to now are in the snapshot: they need no apply.
    if (hooks_.drain_events) hooks_.drain_events();
    {
        std::lock_guard<std::mutex> g(mu_);
        marked_.clear();
    }
    dirty_.clear();
    const SyncSnapshot snap = hooks_.snapshot ? hooks_.snapshot() : SyncSnapshot{};
    const SyncParts parts = encode_sync(snap, opt_.limits, opt_.arena, &route_cache_);
    const auto t1 = Clock::now();
    PushResult out;
    if (!parts.ok) {
        need_full_ = false;  // the same state would fail the same way: wait for a change
        log_line("sync: cannot encode the desired state: " + parts.error);
        out.kind = PushResult::Kind::refused;
        out.reply.error.code = ErrorCode::internal;
        out.reply.error.message = parts.error;
        set_error(parts.error);
        return out;
    }
    const uint64_t g = gen_.next();
    channel::Reply r = conn_.call("sync_begin", Json{{"generation", g}}, opt_.request_timeout);
    if (r.ok)
        for (const auto& a : parts.args) {
            r = conn_.call_raw("sync_part", a, opt_.request_timeout);
            if (!r.ok) break;
        }
    const auto t_sent = Clock::now();
    if (r.ok) r = conn_.call("sync_commit", Json{{"generation", g}}, opt_.request_timeout);
    const auto t2 = Clock::now();
    out = classify(std::move(r), "sync");
    if (out.kind == PushResult::Kind::applied) {
        need_full_ = false;
        gen_.observe(u64_of(out.reply.result, "generation"));
        const uint64_t changes = changes_of(out.reply.result);
        // The line the restart tests look for: a control process restart
        // against a running data plane must print "0 changes".
        log_line("sync: generation " + std::to_string(g) + ", " + std::to_string(changes) + " changes (" +
                 std::to_string(parts.routes) + " routes, " + std::to_string(parts.neighbors) + " neighbors, " +
                 std::to_string(parts.vips) + " VIPs in " + std::to_string(parts.args.size()) + " parts; encode " +
                 std::to_string(int64_t(seconds(t1 - t0) * 1000)) + " ms, send " +
                 std::to_string(int64_t(seconds(t_sent - t1) * 1000)) + " ms, commit " +
                 std::to_string(int64_t(seconds(t2 - t_sent) * 1000)) + " ms, total " +
                 std::to_string(int64_t(seconds(t2 - t0) * 1000)) + " ms)");
        std::lock_guard<std::mutex> lg(mu_);
        status_.synced = true;
        status_.generation = g;
        status_.last_sync_generation = g;
        status_.last_sync = std::chrono::system_clock::now();
        status_.last_sync_changes = changes;
        status_.last_sync_seconds = seconds(t2 - t0);
        status_.last_encode_seconds = seconds(t1 - t0);
        ++status_.syncs;
        status_.last_error.clear();
        return out;
    }
    if (out.kind == PushResult::Kind::refused) {
        // Retrying the same state would be refused the same way: wait for the
        // next change, reload or reconnect.
        need_full_ = false;
        log_line("sync: generation " + std::to_string(g) +
                 " refused by the data plane: " + error_text(out.reply.error));
    } else {
        need_full_ = true;
        log_line("sync: generation " + std::to_string(g) + " not applied: " + out.error);
    }
    std::lock_guard<std::mutex> lg(mu_);
    ++status_.sync_failures;
    status_.last_error = out.kind == PushResult::Kind::refused ? error_text(out.reply.error) : out.error;
    return out;
}

PushResult DpLink::apply(const Json& route_items, const std::vector<std::string>& vips) {
    Json args = Json::object();
    const uint64_t g = gen_.next();
    args["generation"] = g;
    if (route_items.is_array() && !route_items.empty()) args["routes"] = route_items;
    if (!vips.empty() && hooks_.vip_items) {
        Json items = hooks_.vip_items(vips);
        if (items.is_array() && !items.empty()) args["vips"] = std::move(items);
    }
    PushResult out = classify(conn_.call("apply", args, opt_.request_timeout), "apply");
    if (out.kind == PushResult::Kind::applied) {
        gen_.observe(u64_of(out.reply.result, "generation"));
        log_line("apply: generation " + std::to_string(g) + ", " + std::to_string(changes_of(out.reply.result)) +
                 " changes");
        std::lock_guard<std::mutex> lg(mu_);
        status_.generation = g;
        ++status_.applies;
        return out;
    }
    if (out.kind == PushResult::Kind::unreachable) need_full_ = true;  // the next connection resyncs
    log_line("apply: generation " + std::to_string(g) +
             " not applied: " + (out.kind == PushResult::Kind::refused ? error_text(out.reply.error) : out.error));
    std::lock_guard<std::mutex> lg(mu_);
    ++status_.apply_failures;
    return out;
}

void DpLink::process_jobs() {
    for (;;) {
        std::shared_ptr<Job> job;
        {
            std::lock_guard<std::mutex> g(mu_);
            if (jobs_.empty()) return;
            job = jobs_.front();
            jobs_.pop_front();
        }
        PushResult r;
        if (!conn_.connected()) {
            r.error = "the data plane is not connected";
        } else if (job->kind == Job::Kind::sync) {
            r = full_sync();
        } else if (need_full_) {
            // The connection still owes a full sync (it failed earlier): the
            // sync carries this change too.
            r = full_sync();
            if (job->kind == Job::Kind::request && r.kind == PushResult::Kind::applied)
                r = classify(conn_.call(job->type, job->args, opt_.request_timeout), job->type.c_str());
        } else if (job->kind == Job::Kind::apply) {
            r = apply(job->route_items, job->vips);
        } else {
            r = classify(conn_.call(job->type, job->args, opt_.request_timeout), job->type.c_str());
        }
        job->done.set_value(std::move(r));
    }
}

void DpLink::wait(std::chrono::milliseconds ms, bool watch_conn) {
    pollfd p[2];
    int n = 0;
    p[n++] = pollfd{event_fd_, POLLIN, 0};
    if (watch_conn && conn_.connected()) p[n++] = pollfd{conn_.fd(), POLLIN, 0};
    const int rc = ::poll(p, nfds_t(n), int(ms.count()));
    if (rc <= 0) return;
    if (p[0].revents & POLLIN) {
        uint64_t v;
        (void)!::read(event_fd_, &v, sizeof v);
    }
    if (n == 2 && p[1].revents && conn_.peer_gone()) {
        conn_.close();
        {
            std::lock_guard<std::mutex> g(mu_);
            status_.connected = false;
            status_.synced = false;
        }
        log_line("dataplane: connection closed by the data plane; reconnecting");
    }
}

void DpLink::run() {
    const auto started = Clock::now();
    bool initial_done = false;
    bool first = true;
    auto backoff = opt_.backoff_min;
    std::string last_connect_error;
    while (!stop_) {
        if (hooks_.drain_events) {
            auto d = hooks_.drain_events();
            dirty_.insert(dirty_.end(), d.begin(), d.end());
        }
        {
            std::lock_guard<std::mutex> g(mu_);
            dirty_.insert(dirty_.end(), marked_.begin(), marked_.end());
            marked_.clear();
        }
        if (!conn_.connected()) {
            {
                std::lock_guard<std::mutex> g(mu_);
                status_.connected = false;
                status_.synced = false;
            }
            std::string err;
            if (conn_.connect(opt_.socket, "sluice-control", opt_.connect_timeout, &err)) {
                last_connect_error.clear();
                backoff = opt_.backoff_min;
                initial_done = true;
                on_connect(first);
                first = false;
                if (!conn_.connected()) continue;  // discovery lost the connection
            } else {
                if (err != last_connect_error) {
                    // Logged once per distinct error: a data plane that is down
                    // for an hour must not write 7200 lines.
                    log_line("dataplane: cannot connect: " + err + "; retrying every " +
                             std::to_string(opt_.backoff_max.count()) + " ms at most");
                    last_connect_error = err;
                    set_error(err);
                }
                if (!initial_done && Clock::now() - started >= opt_.initial_wait) {
                    initial_done = true;
                    if (hooks_.on_initial_timeout) hooks_.on_initial_timeout();
                }
                fail_jobs("the data plane is not connected: " + err);
                wait(backoff, false);
                backoff = std::min(backoff * 2, opt_.backoff_max);
                continue;
            }
        }
        if (need_full_) {
            PushResult r = full_sync();
            if (!conn_.connected()) continue;
            if (need_full_) {  // busy: another connection is syncing
                wait(backoff, true);
                backoff = std::min(backoff * 2, opt_.backoff_max);
                continue;
            }
        }
        if (!dirty_.empty()) {
            std::sort(dirty_.begin(), dirty_.end());
            dirty_.erase(std::unique(dirty_.begin(), dirty_.end()), dirty_.end());
            std::vector<std::string> vips;
            vips.swap(dirty_);
            apply(Json::array(), vips);
            if (!conn_.connected()) continue;
        }
        process_jobs();
        if (!conn_.connected() || need_full_) continue;
        wait(std::chrono::milliseconds(1000), true);
    }
}

}  // namespace sluice::control
