# The installed sqllm.pc (and sqllm-io.pc, when installed): pkg-config resolves
# them with their requirements, reports the project's version, and a program
# compiled with nothing but `pkg-config --cflags sqllm` builds and runs.
#
#   cmake -DPKG_CONFIG=<exe> -DPREFIX=<install prefix> -DCXX=<compiler> -DSOURCE=<consumer.cpp>
#         -DBINARY=<dir> -DVERSION=<x.y.z> [-DWITH_IO=ON] -P pkg_config_check.cmake
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/share/pkgconfig")
set(_modules sqllm)
if(WITH_IO)
  list(APPEND _modules sqllm-io)
endif()
foreach(_module IN LISTS _modules)
  execute_process(COMMAND "${PKG_CONFIG}" --modversion ${_module} RESULT_VARIABLE _rc OUTPUT_VARIABLE _version
                  ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0 OR NOT _version STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config --modversion ${_module}: '${_version}' (expected ${VERSION}) ${_err}")
  endif()
  execute_process(COMMAND "${PKG_CONFIG}" --cflags ${_module} RESULT_VARIABLE _rc OUTPUT_VARIABLE _cflags
                  ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags ${_module} failed: ${_err}")
  endif()
  message(STATUS "${_module} ${_version}: ${_cflags}")
endforeach()
execute_process(COMMAND "${PKG_CONFIG}" --cflags sqllm OUTPUT_VARIABLE _cflags OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(_cflags UNIX_COMMAND "${_cflags}")
file(MAKE_DIRECTORY "${BINARY}")
execute_process(COMMAND "${CXX}" -std=c++17 -O1 ${_cflags} "${SOURCE}" -o "${BINARY}/pkg_config_consumer"
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "compiling ${SOURCE} with pkg-config's flags (${_cflags}) failed")
endif()
execute_process(COMMAND "${BINARY}/pkg_config_consumer" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "pkg_config_consumer exited with ${_rc}")
endif()
