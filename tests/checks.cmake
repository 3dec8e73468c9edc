# tests/checks.cmake — checks that need the compiler itself, not a test binary
# (included by tests/CMakeLists.txt):
#
#   compile_fail_<case>        the static_asserts of quantized_view / quantize /
#                              pack_codes fire with their message for a wrong
#                              type (tests/compile_fail/<case>.cpp), and
#   compile_fail_<case>_valid  the same file with a valid type compiles (so a
#                              broken include path cannot pass the first);
#   odr_flags                  two units built with different -m flags share
#                              no non-dispatched code (tests/odr/odr_test.sh;
#                              the emulated runs need qemu-x86_64: qemu-user);
#   repro_compilers            quantize() gives one hash across g++/clang++,
#                              -O0..-O3, -march=native, -ffp-contract=fast/off,
#                              SQLLM_NO_DISPATCH and aarch64 under qemu-aarch64
#                              (tests/repro/repro_test.sh).
#
# They run the compiler with their own flags (never CMAKE_CXX_FLAGS: a
# sanitizer or -Werror build tests the same thing), GCC or Clang only.

option(SQLLM_TEST_ODR "Run the ODR test (units built with different -m flags; x86-64, GCC/Clang)" ON)
option(SQLLM_TEST_REPRO "Run the reproducibility test (quantize built by several compilers and flag sets)" ON)

if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  message(STATUS "sqllm: compile-fail, ODR and reproducibility checks need GCC or Clang; skipped")
  return()
endif()

# Include directories for a hand-run compiler: sqllm's, then xsimd's minus the
# compiler's own (an explicit -I/usr/include breaks libstdc++'s #include_next).
set(_sqllm_check_includes "-I${PROJECT_SOURCE_DIR}/include")
set(_sqllm_check_dirs "")
if(TARGET xsimd)
  get_target_property(_xsimd_dirs xsimd INTERFACE_INCLUDE_DIRECTORIES)
  foreach(_dir IN LISTS _xsimd_dirs)
    if(_dir AND NOT _dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES AND NOT _dir MATCHES "\\$<")
      list(APPEND _sqllm_check_includes "-I${_dir}")
      list(APPEND _sqllm_check_dirs -I "${_dir}")
    endif()
  endforeach()
endif()

# ---- compile-fail tests ------------------------------------------------------
# case|regular expression of the static_assert's message (GCC: "static assertion
# failed: MSG", Clang 14: "static_assert failed due to requirement '...' \"MSG\"",
# newer Clang: "static assertion failed due to requirement '...': MSG").
set(_sqllm_compile_fail_cases
  "view_lut|sqllm: Lut is not a LUT value type"
  "view_sparse|sqllm: Sparse is not a sparse format"
  "view_layout|sqllm: Layout is not a layout"
  "view_layout_bits|sqllm: the layout packs codes of another bit width than the matrix's Bits"
  "quantize_lut|sqllm: Lut is not a LUT value type"
  "quantize_sparse|sqllm: Sparse is not a sparse format"
  "quantize_layout|sqllm: Layout is not a layout"
  "quantize_layout_bits|sqllm: the layout packs codes of another bit width than the matrix's Bits"
  "pack_codes_layout|sqllm: pack_codes<Layout>: Layout is not a layout")
foreach(_case IN LISTS _sqllm_compile_fail_cases)
  string(REPLACE "|" ";" _case "${_case}")
  list(GET _case 0 _name)
  list(GET _case 1 _message)
  set(_source "${CMAKE_CURRENT_SOURCE_DIR}/compile_fail/${_name}.cpp")
  add_test(NAME compile_fail_${_name}
    COMMAND "${CMAKE_CXX_COMPILER}" -std=c++17 -fsyntax-only ${_sqllm_check_includes} "${_source}")
  set_tests_properties(compile_fail_${_name} PROPERTIES
    PASS_REGULAR_EXPRESSION "static.assert(ion)? failed[^\n]*${_message}"
    LABELS compile_fail)
  add_test(NAME compile_fail_${_name}_valid
    COMMAND "${CMAKE_CXX_COMPILER}" -std=c++17 -fsyntax-only -DSQLLM_CF_VALID ${_sqllm_check_includes}
            "${_source}")
  set_tests_properties(compile_fail_${_name}_valid PROPERTIES LABELS compile_fail)
endforeach()

# ---- ODR: units built with different -m flags ---------------------------------
find_program(SQLLM_QEMU_X86_64 qemu-x86_64)
if(SQLLM_TEST_ODR AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND NOT CMAKE_CROSSCOMPILING)
  if(NOT SQLLM_QEMU_X86_64)
    message(STATUS "sqllm: qemu-x86_64 not found (Debian: qemu-user): odr_flags runs its symbol checks only "
                   "and reports itself skipped")
  endif()
  add_test(NAME odr_flags
    COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/odr/odr_test.sh" --cxx "${CMAKE_CXX_COMPILER}"
            --work "${CMAKE_CURRENT_BINARY_DIR}/odr" --qemu "${SQLLM_QEMU_X86_64}" --skip-exit-code 77
            ${_sqllm_check_dirs})
  set_tests_properties(odr_flags PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS toolchain)
endif()

# ---- reproducibility across compilers and flags -------------------------------
if(SQLLM_TEST_REPRO AND NOT CMAKE_CROSSCOMPILING)
  find_program(SQLLM_GXX NAMES g++ g++-14 g++-13 g++-12)
  find_program(SQLLM_CLANGXX NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14)
  find_program(SQLLM_AARCH64_GXX aarch64-linux-gnu-g++)
  find_program(SQLLM_QEMU_AARCH64 qemu-aarch64)
  add_test(NAME repro_compilers
    COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/repro/repro_test.sh"
            --work "${CMAKE_CURRENT_BINARY_DIR}/repro" --gxx "${SQLLM_GXX}" --clangxx "${SQLLM_CLANGXX}"
            --cross "${SQLLM_AARCH64_GXX}" --qemu-aarch64 "${SQLLM_QEMU_AARCH64}" ${_sqllm_check_dirs})
  set_tests_properties(repro_compilers PROPERTIES TIMEOUT 900 LABELS toolchain)
endif()
