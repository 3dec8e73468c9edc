// Shared by the tests of error paths: run something, expect a sqllm::error
// with a given code whose message contains a given text.
#pragma once

#include <sqllm/error.hpp>

#include <string>

#include "catch.hpp"

namespace sqllm_test {

/// Checks that fn() throws sqllm::error with `code` and `text` in its message.
template <class F>
void expect_error(F&& fn, sqllm::errc code, const std::string& text) {
    try {
        fn();
    } catch (const sqllm::error& e) {
        CAPTURE(e.what());
        CHECK(e.code() == code);
        CHECK(std::string(e.what()).find(text) != std::string::npos);
        return;
    }
    FAIL("no error for: " << text);
}

}  // namespace sqllm_test
