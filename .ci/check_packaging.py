#!/usr/bin/env python3
"""Checks the vcpkg port and the Conan recipe where neither tool can be installed.

- ports/sqllm/vcpkg.json: valid JSON, the fields vcpkg requires, version == config.hpp;
- ports/sqllm/portfile.cmake: runs under `cmake -P` with recording stubs of the
  vcpkg helpers, so syntax errors and wrong helper arguments fail;
- conanfile.py: imported against minimal stubs of the conan API, then its
  set_version/requirements/layout/package_info are called and checked.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def header_version():
    text = open(os.path.join(ROOT, "include", "sqllm", "config.hpp")).read()
    return re.search(r'#define SQLLM_VERSION_STRING "([0-9.]+)"', text).group(1)


def check_vcpkg():
    manifest = json.load(open(os.path.join(ROOT, "ports", "sqllm", "vcpkg.json")))
    for key in ("name", "version", "description", "license", "dependencies"):
        assert key in manifest, f"vcpkg.json lacks {key}"
    assert manifest["name"] == "sqllm"
    assert manifest["version"] == header_version(), "vcpkg.json version differs from config.hpp"
    deps = [d if isinstance(d, str) else d["name"] for d in manifest["dependencies"]]
    for needed in ("xsimd", "vcpkg-cmake", "vcpkg-cmake-config"):
        assert needed in deps, f"vcpkg.json must depend on {needed}"

    stub = """
cmake_minimum_required(VERSION 3.16)  # vcpkg runs ports with modern policies (IN_LIST, ...)
set(CURRENT_PACKAGES_DIR "${OUT}/pkg")
set(PORT sqllm)
function(vcpkg_cmake_configure)
  cmake_parse_arguments(A "" "SOURCE_PATH" "OPTIONS" ${ARGN})
  if(NOT EXISTS "${A_SOURCE_PATH}/CMakeLists.txt")
    message(FATAL_ERROR "SOURCE_PATH ${A_SOURCE_PATH} has no CMakeLists.txt")
  endif()
  file(APPEND "${OUT}/calls" "configure ${A_OPTIONS}\\n")
endfunction()
function(vcpkg_cmake_install)
  file(APPEND "${OUT}/calls" "install\\n")
endfunction()
function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(A "" "PACKAGE_NAME;CONFIG_PATH" "" ${ARGN})
  file(APPEND "${OUT}/calls" "fixup ${A_PACKAGE_NAME} ${A_CONFIG_PATH}\\n")
endfunction()
function(vcpkg_install_copyright)
  cmake_parse_arguments(A "" "" "FILE_LIST" ${ARGN})
  foreach(f ${A_FILE_LIST})
    if(NOT EXISTS "${f}")
      message(FATAL_ERROR "copyright file ${f} missing")
    endif()
  endforeach()
  file(APPEND "${OUT}/calls" "copyright\\n")
endfunction()
set(CMAKE_CURRENT_LIST_DIR "${PORT_DIR}")
include("${PORT_DIR}/portfile.cmake")
"""
    with tempfile.TemporaryDirectory() as out:
        script = os.path.join(out, "run.cmake")
        open(script, "w").write(stub)
        subprocess.run(["cmake", f"-DOUT={out}", f"-DPORT_DIR={os.path.join(ROOT, 'ports', 'sqllm')}", "-P", script],
                       check=True)
        calls = open(os.path.join(out, "calls")).read().split("\n")
    assert calls[0].startswith("configure") and "-DSQLLM_BUILD_TESTS=OFF" in calls[0], calls
    assert "install" in calls and "fixup sqllm share/cmake/sqllm" in calls and "copyright" in calls, calls
    # The config path the port fixes up must be where CMakeLists.txt installs the package.
    cmakelists = open(os.path.join(ROOT, "CMakeLists.txt")).read()
    assert '"${CMAKE_INSTALL_DATADIR}/cmake/sqllm"' in cmakelists
    print("vcpkg port: ok")


def check_conan():
    class ConanFile:
        def __init__(self):
            self.recipe_folder = ROOT
            self.required = []
            self.options = types.SimpleNamespace(**type(self).default_options)
            self.cpp_info = types.SimpleNamespace(properties={})
            self.cpp_info.set_property = lambda k, v: self.cpp_info.properties.__setitem__(k, v)

        def requires(self, ref):
            self.required.append(ref)

    conan = types.ModuleType("conan")
    conan.ConanFile = ConanFile
    tools = types.ModuleType("conan.tools")
    build = types.ModuleType("conan.tools.build")
    build.check_min_cppstd = lambda conanfile, version: None
    files = types.ModuleType("conan.tools.files")
    files.copy = lambda *a, **k: None
    files.load = lambda conanfile, path: open(path).read()
    layout = types.ModuleType("conan.tools.layout")
    layout.basic_layout = lambda conanfile, src_folder=".": None
    for name, mod in {"conan": conan, "conan.tools": tools, "conan.tools.build": build,
                      "conan.tools.files": files, "conan.tools.layout": layout}.items():
        sys.modules[name] = mod
    sys.path.insert(0, ROOT)
    import conanfile  # noqa: E402

    recipe = conanfile.SqllmConan()
    assert recipe.package_type == "header-library"
    assert recipe.name == "sqllm"
    recipe.set_version()
    assert recipe.version == header_version(), recipe.version
    recipe.requirements()
    assert any(r.startswith("xsimd/") for r in recipe.required), recipe.required
    assert not any(r.startswith("nlohmann_json/") for r in recipe.required), "io must be opt-in"
    io_recipe = conanfile.SqllmConan()
    io_recipe.options.with_io = True
    io_recipe.requirements()
    assert any(r.startswith("nlohmann_json/") for r in io_recipe.required), io_recipe.required
    recipe.layout()
    recipe.validate()
    recipe.package_info()
    assert recipe.cpp_info.properties["cmake_target_name"] == "sqllm::sqllm"
    print("conan recipe: ok")


if __name__ == "__main__":
    check_vcpkg()
    check_conan()
