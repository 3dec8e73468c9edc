// Catch2 v2 main for installations that lack Catch2::Catch2WithMain.
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
