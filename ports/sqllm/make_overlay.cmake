# Writes an overlay copy of this port that builds a local checkout's HEAD commit:
#
#   cmake -DOUT=/tmp/sqllm-overlay [-DSOURCE=<checkout>] -P ports/sqllm/make_overlay.cmake
#   vcpkg install sqllm[io] --overlay-ports=/tmp/sqllm-overlay
#
# The copy's local-source.cmake names the checkout (a local git URL) and the
# commit, so the port's ABI hash changes with every commit. Only committed work
# is built: uncommitted changes are reported and left out. Not part of a
# registry submission (neither is local-source.cmake).
if(NOT OUT)
  message(FATAL_ERROR "pass -DOUT=<directory for the overlay ports>")
endif()
get_filename_component(_port_dir "${CMAKE_CURRENT_LIST_DIR}" ABSOLUTE)
if(NOT SOURCE)
  get_filename_component(SOURCE "${_port_dir}/../.." ABSOLUTE)
endif()
find_package(Git REQUIRED)
execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE}" rev-parse HEAD
                OUTPUT_VARIABLE _ref OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0 OR NOT _ref MATCHES "^[0-9a-f]+$")
  message(FATAL_ERROR "${SOURCE} is not a git checkout")
endif()
execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE}" status --porcelain --untracked-files=no
                OUTPUT_VARIABLE _dirty OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_dirty)
  message(WARNING "${SOURCE} has uncommitted changes; the overlay builds commit ${_ref} without them")
endif()
file(REMOVE_RECURSE "${OUT}/sqllm")
file(COPY "${_port_dir}/" DESTINATION "${OUT}/sqllm" PATTERN "make_overlay.cmake" EXCLUDE
     PATTERN "local-source.cmake" EXCLUDE)
file(WRITE "${OUT}/sqllm/local-source.cmake"
     "# Written by make_overlay.cmake: build ${SOURCE} at this commit.\n"
     "set(SQLLM_LOCAL_GIT \"${SOURCE}\")\n"
     "set(SQLLM_LOCAL_REF \"${_ref}\")\n")
message(STATUS "overlay port for ${SOURCE} at ${_ref}: ${OUT}/sqllm")
