# Configures a project and checks how that ends: ctest's driver for the
# packaging checks that must fail with a reason (or succeed) at configure time.
#
#   cmake -DSOURCE=<dir> -DBINARY=<dir> -DEXPECT=<regex> [-DEXPECT_FAILURE=ON]
#         [-DARGS=<arguments separated by |>] -P configure_check.cmake
#
# EXPECT must match the configure output; with EXPECT_FAILURE configuring must
# also fail (a non-zero exit), without it succeed.
foreach(var SOURCE BINARY EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "configure_check.cmake: pass -D${var}=...")
  endif()
endforeach()
string(REPLACE "|" ";" _args "${ARGS}")
file(REMOVE_RECURSE "${BINARY}")
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${SOURCE}" -B "${BINARY}" ${_args}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(EXPECT_FAILURE AND _rc EQUAL 0)
  message(FATAL_ERROR "configuring ${SOURCE} succeeded; it should fail with /${EXPECT}/. Output:\n${_out}")
elseif(NOT EXPECT_FAILURE AND NOT _rc EQUAL 0)
  message(FATAL_ERROR "configuring ${SOURCE} failed; it should succeed. Output:\n${_out}")
endif()
if(NOT _out MATCHES "${EXPECT}")
  message(FATAL_ERROR "configuring ${SOURCE}: the output does not match /${EXPECT}/. Output:\n${_out}")
endif()
message(STATUS "configuring ${SOURCE} ended as expected (/${EXPECT}/)")
