// tests/catch.hpp — one include for Catch2 v3 (where installed) or v2 (Debian 12).
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
