// The neighbor table as telemetry shows it, kept up to date one entry at a
// time by the agent and read in bounded pages by telemetry threads.
//
// The agent calls set() whenever it has applied an FSM event to an entry and
// erase() when it deletes one: O(1) each (a dense array with a slot -> row
// index, rows removed by moving the last row into the hole), plus per-state
// counts. Telemetry threads never touch the agent's own structures: they copy
// the summary and at most one page of rows under the view's mutex, which is
// held for O(page) work on either side, so a reader never stalls the agent
// for longer than copying one page.
//
// Pages are cut from the dense array: a request sees a consistent page, but a
// deletion between two requests moves the last row into the deleted one's
// place, so walking every page while the table changes may miss or repeat an
// entry that changed meanwhile (as any paged listing of a live table does).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "dataplane/neighbor/fsm.hpp"

namespace sluice::nbr {

inline constexpr size_t kStateCount = size_t(State::Static) + 1;

struct ViewRow {
    uint16_t port = 0;
    bool v6 = false;
    std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes, network order
    State state = State::Failed;
    bool mac_valid = false;
    bool is_static = false;
    MacBytes mac{};
    uint32_t pending = 0;            // packets queued for the neighbor
};

struct ViewSummary {
    uint32_t capacity = 0;
    uint32_t total = 0;
    std::array<std::array<uint32_t, kStateCount>, 2> by_state{};  // [v6][State]
};

class TableView {
public:
    explicit TableView(uint32_t capacity);

    // --- writer (the agent) ---
    void set(uint32_t slot, const ViewRow& row);
    void erase(uint32_t slot);  // nothing if the slot has no row

    // --- readers (any thread) ---
    ViewSummary summary() const;
    // The summary, and rows [page * page_size, (page + 1) * page_size) in `out`
    // (replaced; empty past the end).
    ViewSummary page(uint32_t page, uint32_t page_size, std::vector<ViewRow>& out) const;

private:
    static constexpr uint32_t kAbsent = UINT32_MAX;
    void count(const ViewRow& r, int delta);

    mutable std::mutex mu_;
    std::vector<uint32_t> row_of_;   // slot -> index in rows_, or kAbsent
    std::vector<uint32_t> slot_of_;  // index in rows_ -> slot
    std::vector<ViewRow> rows_;
    ViewSummary sum_;
};

}  // namespace sluice::nbr
