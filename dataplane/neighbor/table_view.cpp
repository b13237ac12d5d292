#include "dataplane/neighbor/table_view.hpp"

#include <algorithm>

namespace sluice::nbr {

TableView::TableView(uint32_t capacity) : row_of_(capacity, kAbsent) { sum_.capacity = capacity; }

void TableView::count(const ViewRow& r, int delta) {
    const size_t s = size_t(r.state) < kStateCount ? size_t(r.state) : size_t(State::Failed);
    sum_.by_state[r.v6 ? 1 : 0][s] += uint32_t(delta);
    sum_.total += uint32_t(delta);
}

void TableView::set(uint32_t slot, const ViewRow& row) {
    std::lock_guard<std::mutex> g(mu_);
    uint32_t& i = row_of_[slot];
    if (i == kAbsent) {
        i = uint32_t(rows_.size());
        rows_.push_back(row);
        slot_of_.push_back(slot);
    } else {
        count(rows_[i], -1);
        rows_[i] = row;
    }
    count(row, +1);
}

void TableView::erase(uint32_t slot) {
    std::lock_guard<std::mutex> g(mu_);
    const uint32_t i = row_of_[slot];
    if (i == kAbsent) return;
    count(rows_[i], -1);
    const uint32_t last = uint32_t(rows_.size() - 1);
    if (i != last) {
        rows_[i] = rows_[last];
        slot_of_[i] = slot_of_[last];
        row_of_[slot_of_[i]] = i;
    }
    rows_.pop_back();
    slot_of_.pop_back();
    row_of_[slot] = kAbsent;
}

ViewSummary TableView::summary() const {
    std::lock_guard<std::mutex> g(mu_);
    return sum_;
}

ViewSummary TableView::page(uint32_t page, uint32_t page_size, std::vector<ViewRow>& out) const {
    out.clear();
    std::lock_guard<std::mutex> g(mu_);
    const uint64_t begin = uint64_t(page) * page_size;
    if (begin < rows_.size()) {
        const uint64_t end = std::min<uint64_t>(rows_.size(), begin + page_size);
        out.assign(rows_.begin() + std::ptrdiff_t(begin), rows_.begin() + std::ptrdiff_t(end));
    }
    return sum_;
}

}  // namespace sluice::nbr
