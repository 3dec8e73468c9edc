# cmake/toolchain-aarch64-linux-gnu.cmake — cross-compile sqllm for AArch64
# Linux on a Debian host (apt-get install g++-aarch64-linux-gnu qemu-user) and
# run the programs under qemu-aarch64: ctest and catch_discover_tests go
# through CMAKE_CROSSCOMPILING_EMULATOR. scripts/test_aarch64.sh uses it:
#
#   cmake -S . -B build-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
#
# The C and C++ libraries come from the cross sysroot /usr/aarch64-linux-gnu.
# sqllm's dependencies xsimd, Catch2 (v2) and nlohmann-json are header-only
# and arch-independent, so the host's packages serve: their header
# directories (/usr/include/xsimd, ...) and package versions are staged in
# the build tree, under _host-header-packages/, with minimal package
# configs, rather than found in the host's /usr directly, because
#   - the host's configs point the targets at /usr/include, and a cross
#     compiler given -isystem /usr/include reads the host's C library
#     headers before its own;
#   - Debian's catch2 also exports Catch2::Catch2WithMain, a prebuilt x86-64
#     archive, which tests/CMakeLists.txt would link into AArch64 programs.
# Only packages staged here (and the sysroot's) are found.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(SQLLM_AARCH64_SYSROOT /usr/aarch64-linux-gnu)

find_program(SQLLM_QEMU_AARCH64 qemu-aarch64 NO_CMAKE_FIND_ROOT_PATH)
if(NOT SQLLM_QEMU_AARCH64)
  set(SQLLM_QEMU_AARCH64 qemu-aarch64)  # not installed: building works, running does not
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "${SQLLM_QEMU_AARCH64};-L;${SQLLM_AARCH64_SYSROOT}")

set(_sqllm_stage "${CMAKE_BINARY_DIR}/_host-header-packages")
set(CMAKE_FIND_ROOT_PATH "${SQLLM_AARCH64_SYSROOT};${_sqllm_stage}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # build tools run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Stage the host's header-only packages: <stage>/include/<dir> links to the
# host's headers, <stage>/lib/cmake/<Package>/ holds a config that defines
# the package's interface target on <stage>/include and the host's version
# file (they carry no architecture).
function(_sqllm_stage_header_package package header_dir marker target)
  set(_headers "")
  foreach(_root /usr/include /usr/local/include)
    if(EXISTS "${_root}/${header_dir}/${marker}")
      set(_headers "${_root}/${header_dir}")
      break()
    endif()
  endforeach()
  file(GLOB _versions /usr/lib/cmake/${package}/${package}ConfigVersion.cmake
                      /usr/lib/*/cmake/${package}/${package}ConfigVersion.cmake
                      /usr/share/cmake/${package}/${package}ConfigVersion.cmake
                      /usr/local/lib/cmake/${package}/${package}ConfigVersion.cmake
                      /usr/local/share/cmake/${package}/${package}ConfigVersion.cmake)
  if(NOT _headers OR NOT _versions)
    return()  # not installed on the host: find_package will not find it either
  endif()
  list(GET _versions 0 _version)
  get_filename_component(_host_dir "${_version}" DIRECTORY)
  set(_dir "${_sqllm_stage}/lib/cmake/${package}")
  file(MAKE_DIRECTORY "${_sqllm_stage}/include" "${_dir}")
  if(NOT EXISTS "${_sqllm_stage}/include/${header_dir}")
    file(CREATE_LINK "${_headers}" "${_sqllm_stage}/include/${header_dir}" SYMBOLIC)
  endif()
  configure_file("${_version}" "${_dir}/${package}ConfigVersion.cmake" COPYONLY)
  # Written through configure_file so an unchanged config keeps its time stamp
  # (find_package's files are build-system dependencies).
  file(WRITE "${_dir}/${package}Config.cmake.new"
    "# Staged by cmake/toolchain-aarch64-linux-gnu.cmake from ${_host_dir}\n"
    "if(NOT TARGET ${target})\n"
    "  add_library(${target} INTERFACE IMPORTED)\n"
    "  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES \"${_sqllm_stage}/include\")\n"
    "endif()\n"
    "set(${package}_INCLUDE_DIRS \"${_sqllm_stage}/include\")\n")
  configure_file("${_dir}/${package}Config.cmake.new" "${_dir}/${package}Config.cmake" COPYONLY)
  # Catch2's CMake modules (include(Catch) from Catch2_DIR): host scripts.
  foreach(_module Catch.cmake CatchAddTests.cmake ParseAndAddCatchTests.cmake)
    if(EXISTS "${_host_dir}/${_module}")
      configure_file("${_host_dir}/${_module}" "${_dir}/${_module}" COPYONLY)
    endif()
  endforeach()
endfunction()

get_property(_sqllm_in_try_compile GLOBAL PROPERTY IN_TRY_COMPILE)
if(NOT _sqllm_in_try_compile)
  _sqllm_stage_header_package(xsimd xsimd xsimd.hpp xsimd)
  _sqllm_stage_header_package(Catch2 catch2 catch.hpp Catch2::Catch2)
  _sqllm_stage_header_package(nlohmann_json nlohmann json.hpp nlohmann_json::nlohmann_json)
endif()
