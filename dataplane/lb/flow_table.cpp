#include "dataplane/lb/flow_table.hpp"

namespace sluice::lb {}  // namespace sluice::lb
