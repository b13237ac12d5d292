#include <gtest/gtest.h>

#include "dataplane/lb/rewrite.hpp"
