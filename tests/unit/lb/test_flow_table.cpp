#include <gtest/gtest.h>

#include "dataplane/lb/flow_table.hpp"
