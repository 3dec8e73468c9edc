#!/usr/bin/env python3
"""Packaging checks that need neither vcpkg nor ConanCenter (.ci/packaging.sh runs them after
`conan create`, which tests the Conan recipe for real).

- version: one version, config.hpp's SQLLM_VERSION_STRING (and its MAJOR/MINOR/PATCH), agrees
  with the CMake package (sqllmConfigVersion.cmake, sqllm.pc of a configured build), the Conan
  recipe (`conan inspect` with --conan, else the recipe's own regex), ports/sqllm/vcpkg.json and
  CHANGELOG.md (a section for the version);
- vcpkg manifest: the fields of vcpkg.schema.json (microsoft/vcpkg-tool docs/), their types and
  patterns, one version field, every feature described, dependencies well formed;
- vcpkg port: portfile.cmake runs under `cmake -P` with stand-ins for the vcpkg helpers that parse
  their arguments with the real helpers' keyword lists (unknown or missing arguments fail) and do
  the work for real where it is cheap: vcpkg_from_github checks REF/SHA512 and yields this
  checkout, vcpkg_check_features is the real algorithm, vcpkg_cmake_configure/install configure
  and install sqllm into a staging prefix, vcpkg_cmake_config_fixup moves the config as vcpkg
  does, vcpkg_copy_tools needs the tool. Run for the feature sets [], [io] and [io, tools]; the
  installed package is then configured against as the usage file says, and every target the
  usage file names must be in the installed export files;
- the overlay mode: make_overlay.cmake writes a port whose local-source.cmake names this
  checkout's HEAD, and the portfile then fetches with vcpkg_from_git.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = os.path.join(ROOT, "ports", "sqllm")


def fail(message):
    print(f"check_packaging: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def header_version():
    text = open(os.path.join(ROOT, "include", "sqllm", "config.hpp")).read()
    version = re.search(r'#define SQLLM_VERSION_STRING "([^"]*)"', text).group(1)
    parts = [re.search(rf"#define SQLLM_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    check(version == ".".join(parts),
          f"config.hpp: SQLLM_VERSION_STRING {version} differs from MAJOR.MINOR.PATCH {'.'.join(parts)}")
    check(re.fullmatch(r"\d+\.\d+\.\d+", version), f"config.hpp: version {version} is not X.Y.Z")
    return version


def cmake_configure(build, *options):
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DSQLLM_BUILD_TESTS=OFF", "-DSQLLM_BUILD_BENCH=OFF",
                    "-DSQLLM_BUILD_EXAMPLES=OFF", "-DSQLLM_BUILD_TOOLS=OFF", "-DSQLLM_RUNTIME=OFF", *options],
                   check=True, stdout=subprocess.DEVNULL)


def check_conan_metadata(info):
    """The recipe's attributes as Conan reads them (`conan inspect`), against vcpkg.json."""
    manifest = json.load(open(os.path.join(PORT, "vcpkg.json")))
    check(info["name"] == "sqllm", f"conanfile.py: name {info['name']}")
    check(info["package_type"] == "header-library", "conanfile.py: package_type header-library (by default)")
    check(info["license"] == manifest["license"], f"conanfile.py: license {info['license']} != vcpkg.json's")
    for key in ("url", "homepage"):
        check(info.get(key) and info[key].startswith("https://"), f"conanfile.py: {key} is required")
    check(info["homepage"] == manifest["homepage"], "conanfile.py: homepage differs from vcpkg.json's")
    check(info.get("topics") and "quantization" in info["topics"], "conanfile.py: topics are required")
    check(info["options_definitions"] == {"with_io": ["True", "False"], "tools": ["True", "False"]},
          f"conanfile.py: options with_io and tools ({info['options_definitions']})")
    check(info["default_options"] == {"with_io": False, "tools": False}, "conanfile.py: io and tools opt-in")
    recipe = open(os.path.join(ROOT, "conanfile.py")).read()
    check(re.search(r"^\s*no_copy_source = True", recipe, re.M), "conanfile.py: no_copy_source = True")
    for component, target in (("core", "sqllm::sqllm"), ("io", "sqllm::io")):
        check(re.search(rf'components\["{component}"\][^\n]*\n(.*\n)*?.*"cmake_target_name", "{target}"', recipe),
              f"conanfile.py: component {component} is the CMake target {target}")
    print("conanfile.py: url, homepage, license, topics, package_type, no_copy_source, options, components")
    return info["version"]


def check_versions(version, conan):
    # CMake: the version file and the pkg-config file a configured build writes.
    with tempfile.TemporaryDirectory() as build:
        cmake_configure(build)
        config_version = open(os.path.join(build, "sqllmConfigVersion.cmake")).read()
        cmake_version = re.search(r'set\(PACKAGE_VERSION "([^"]*)"\)', config_version).group(1)
        check(cmake_version == version, f"CMake package version {cmake_version} != config.hpp {version}")
        pc = open(os.path.join(build, "install-config", "sqllm.pc")).read()
        pc_version = re.search(r"^Version: (.*)$", pc, re.M).group(1)
        check(pc_version == version, f"sqllm.pc version {pc_version} != config.hpp {version}")
    # Conan: the real client when there is one (it runs set_version), else the recipe's regex.
    if conan:
        out = subprocess.run([conan, "inspect", ROOT, "--format=json"], check=True, capture_output=True, text=True)
        conan_version = check_conan_metadata(json.loads(out.stdout))
    else:
        recipe = open(os.path.join(ROOT, "conanfile.py")).read()
        check('"include", "sqllm", "config.hpp"' in recipe, "conanfile.py must read config.hpp's version")
        conan_version = version
    check(conan_version == version, f"Conan recipe version {conan_version} != config.hpp {version}")
    manifest = json.load(open(os.path.join(PORT, "vcpkg.json")))
    check(manifest.get("version") == version, f"vcpkg.json version {manifest.get('version')} != config.hpp {version}")
    changelog = open(os.path.join(ROOT, "CHANGELOG.md")).read()
    check(re.search(rf"^## \[{re.escape(version)}\]", changelog, re.M),
          f"CHANGELOG.md has no '## [{version}]' section")
    print(f"version {version}: config.hpp, CMake package, sqllm.pc, Conan ({'conan inspect' if conan else 'recipe'}),"
          " vcpkg.json, CHANGELOG.md agree")


# vcpkg.schema.json's top-level properties (plus "$..." keys) and the definitions it refers to.
MANIFEST_KEYS = {"name", "version-string", "version", "version-date", "version-semver", "port-version",
                 "maintainers", "summary", "description", "homepage", "documentation", "license",
                 "builtin-baseline", "dependencies", "overrides", "features", "default-features", "supports",
                 "vcpkg-configuration"}
VERSION_KEYS = ("version", "version-string", "version-date", "version-semver")
FEATURE_KEYS = {"description", "dependencies", "supports", "license"}
DEPENDENCY_KEYS = {"name", "features", "default-features", "host", "platform", "version>="}
IDENTIFIER = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RELAXED_VERSION = re.compile(r"^\d+(\.\d+)*(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def check_dependency(dep, where):
    if isinstance(dep, str):
        check(IDENTIFIER.match(dep), f"vcpkg.json {where}: '{dep}' is not a port name")
        return dep
    check(isinstance(dep, dict) and "name" in dep, f"vcpkg.json {where}: a dependency is a name or an object with name")
    unknown = set(dep) - DEPENDENCY_KEYS - {k for k in dep if k.startswith("$")}
    check(not unknown, f"vcpkg.json {where}: dependency {dep['name']} has unknown fields {sorted(unknown)}")
    check(IDENTIFIER.match(dep["name"]), f"vcpkg.json {where}: '{dep['name']}' is not a port name")
    check(isinstance(dep.get("host", False), bool), f"vcpkg.json {where}: host must be a boolean")
    for feature in dep.get("features", []):
        name = feature if isinstance(feature, str) else feature.get("name")
        check(isinstance(name, str) and IDENTIFIER.match(name), f"vcpkg.json {where}: bad feature {feature!r}")
    return dep["name"]


def check_manifest(version):
    manifest = json.load(open(os.path.join(PORT, "vcpkg.json")))
    unknown = set(manifest) - MANIFEST_KEYS - {k for k in manifest if k.startswith("$")}
    check(not unknown, f"vcpkg.json: fields not in vcpkg.schema.json: {sorted(unknown)}")
    check(manifest.get("name") == "sqllm", "vcpkg.json: name must be sqllm")
    versions = [k for k in VERSION_KEYS if k in manifest]
    check(versions == ["version"], f"vcpkg.json: exactly one version field, 'version' (has {versions})")
    check(RELAXED_VERSION.match(manifest["version"]), "vcpkg.json: version does not match the schema's pattern")
    check(isinstance(manifest.get("port-version", 0), int) and manifest.get("port-version", 0) >= 0,
          "vcpkg.json: port-version must be a non-negative integer")
    for key in ("description", "homepage", "license"):
        check(isinstance(manifest.get(key), str) and manifest[key], f"vcpkg.json: {key} is required by the registry")
    check(manifest["license"] == "MIT", "vcpkg.json: license must be the SPDX id of LICENSE (MIT)")
    deps = [check_dependency(d, "dependencies") for d in manifest.get("dependencies", [])]
    for needed in ("xsimd", "vcpkg-cmake", "vcpkg-cmake-config"):
        check(needed in deps, f"vcpkg.json must depend on {needed}")
    for dep in manifest["dependencies"]:
        if isinstance(dep, dict) and dep["name"].startswith("vcpkg-"):
            check(dep.get("host") is True, f"vcpkg.json: {dep['name']} is a host dependency")
    features = manifest.get("features", {})
    check(isinstance(features, dict), "vcpkg.json: features is an object")
    for name, feature in features.items():
        check(IDENTIFIER.match(name), f"vcpkg.json: feature name {name}")
        unknown = set(feature) - FEATURE_KEYS - {k for k in feature if k.startswith("$")}
        check(not unknown, f"vcpkg.json: feature {name} has unknown fields {sorted(unknown)}")
        check(isinstance(feature.get("description"), str) and feature["description"],
              f"vcpkg.json: feature {name} needs a description")
        for dep in feature.get("dependencies", []):
            check_dependency(dep, f"feature {name}")
    check(set(features) == {"io", "tools"}, f"vcpkg.json: features io and tools (has {sorted(features)})")
    check("nlohmann-json" in [check_dependency(d, "io") for d in features["io"]["dependencies"]],
          "vcpkg.json: io depends on nlohmann-json")
    tools_deps = features["tools"]["dependencies"]
    check("cli11" in [check_dependency(d, "tools") for d in tools_deps], "vcpkg.json: tools depends on cli11")
    check(any(isinstance(d, dict) and d["name"] == "sqllm" and "io" in d.get("features", []) for d in tools_deps),
          "vcpkg.json: tools depends on sqllm[io]")
    print("vcpkg.json: schema fields, one version, features described, dependencies well formed")
    return manifest


# Stand-ins for the vcpkg helpers the port calls. Each parses its arguments with the keyword
# lists of the real helper (scripts/cmake/*.cmake and the vcpkg-cmake / vcpkg-cmake-config
# ports) and rejects what the real one rejects; the build steps are real CMake runs.
STUBS = r"""
cmake_minimum_required(VERSION 3.16)
function(z_stub_unparsed name)
  if(DEFINED arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${name}: unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
endfunction()
function(z_stub_log line)
  file(APPEND "${OUT}/calls" "${line}\n")
endfunction()

function(vcpkg_from_github)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_SOURCE_PATH;REPO;REF;SHA512;HEAD_REF;GITHUB_HOST;AUTHORIZATION_TOKEN;FILE_DISAMBIGUATOR" "PATCHES")
  z_stub_unparsed(vcpkg_from_github)
  foreach(required OUT_SOURCE_PATH REPO REF SHA512)
    if(NOT DEFINED arg_${required})
      message(FATAL_ERROR "vcpkg_from_github: ${required} is required")
    endif()
  endforeach()
  if(NOT arg_REPO MATCHES "^[^/]+/[^/]+$")
    message(FATAL_ERROR "vcpkg_from_github: REPO ${arg_REPO} is not org/name")
  endif()
  if(NOT arg_SHA512 MATCHES "^[0-9a-f]+$")
    message(FATAL_ERROR "vcpkg_from_github: SHA512 is not lowercase hex")
  endif()
  string(LENGTH "${arg_SHA512}" len)
  if(NOT len EQUAL 128)
    message(FATAL_ERROR "vcpkg_from_github: SHA512 has ${len} digits, not 128")
  endif()
  z_stub_log("from_github ${arg_REPO} ${arg_REF}")
  set(${arg_OUT_SOURCE_PATH} "${SQLLM_ROOT}" PARENT_SCOPE)
endfunction()

function(vcpkg_from_git)
  cmake_parse_arguments(PARSE_ARGV 0 arg "LFS" "OUT_SOURCE_PATH;URL;REF;FETCH_REF;HEAD_REF;TAG" "PATCHES")
  z_stub_unparsed(vcpkg_from_git)
  foreach(required OUT_SOURCE_PATH URL REF)
    if(NOT DEFINED arg_${required})
      message(FATAL_ERROR "vcpkg_from_git: ${required} is required")
    endif()
  endforeach()
  # What vcpkg does: fetch REF from URL into a scratch repository, then archive it.
  set(scratch "${OUT}/git-tmp")
  execute_process(COMMAND git init -q "${scratch}" RESULT_VARIABLE rc)
  execute_process(COMMAND git fetch -q "${arg_URL}" "${arg_REF}" --depth 1 -n WORKING_DIRECTORY "${scratch}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "vcpkg_from_git: git fetch ${arg_URL} ${arg_REF} failed")
  endif()
  z_stub_log("from_git ${arg_URL} ${arg_REF}")
  set(${arg_OUT_SOURCE_PATH} "${SQLLM_ROOT}" PARENT_SCOPE)
endfunction()

# The real algorithm (scripts/cmake/vcpkg_check_features.cmake), FEATURES pairs only.
function(vcpkg_check_features)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_FEATURE_OPTIONS;PREFIX" "FEATURES;INVERTED_FEATURES")
  z_stub_unparsed(vcpkg_check_features)
  if(NOT DEFINED arg_OUT_FEATURE_OPTIONS OR NOT DEFINED arg_FEATURES)
    message(FATAL_ERROR "vcpkg_check_features: OUT_FEATURE_OPTIONS and FEATURES are required")
  endif()
  list(LENGTH arg_FEATURES n)
  math(EXPR odd "${n} % 2")
  if(odd)
    message(FATAL_ERROR "vcpkg_check_features has an incorrect number of arguments to FEATURES")
  endif()
  set(options "")
  math(EXPR last "${n} / 2 - 1")
  foreach(i RANGE ${last})
    math(EXPR a "${i} * 2")
    math(EXPR b "${a} + 1")
    list(GET arg_FEATURES ${a} feature)
    list(GET arg_FEATURES ${b} var)
    if(NOT feature IN_LIST MANIFEST_FEATURES)
      message(FATAL_ERROR "vcpkg_check_features: '${feature}' is not a feature of vcpkg.json")
    endif()
    if(feature IN_LIST FEATURES)
      list(APPEND options "-D${var}=ON")
    else()
      list(APPEND options "-D${var}=OFF")
    endif()
    z_stub_log("feature ${feature} ${var}")
  endforeach()
  set(${arg_OUT_FEATURE_OPTIONS} "${options}" PARENT_SCOPE)
endfunction()

function(vcpkg_cmake_configure)
  cmake_parse_arguments(PARSE_ARGV 0 arg "PREFER_NINJA;DISABLE_PARALLEL_CONFIGURE;WINDOWS_USE_MSBUILD;NO_CHARSET_FLAG;Z_CMAKE_GET_VARS_USAGE" "SOURCE_PATH;GENERATOR;LOGFILE_BASE" "OPTIONS;OPTIONS_DEBUG;OPTIONS_RELEASE;MAYBE_UNUSED_VARIABLES")
  z_stub_unparsed(vcpkg_cmake_configure)
  if(NOT DEFINED arg_SOURCE_PATH)
    message(FATAL_ERROR "vcpkg_cmake_configure: SOURCE_PATH is required")
  endif()
  z_stub_log("configure ${arg_OPTIONS}")
  execute_process(COMMAND "${CMAKE_COMMAND}" -S "${arg_SOURCE_PATH}" -B "${OUT}/build" -G Ninja
                          -DCMAKE_BUILD_TYPE=Release "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}"
                          ${arg_OPTIONS} ${arg_OPTIONS_RELEASE}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "vcpkg_cmake_configure: configuring sqllm failed:\n${out}")
  endif()
endfunction()

function(vcpkg_cmake_install)
  cmake_parse_arguments(PARSE_ARGV 0 arg "DISABLE_PARALLEL;ADD_BIN_TO_PATH" "" "")
  z_stub_unparsed(vcpkg_cmake_install)
  z_stub_log("install")
  if("tools" IN_LIST FEATURES)
    # Building sqllm-quantize takes minutes (`conan create -o tools=True` builds it for real):
    # the configured build must have the target; a stand-in program takes its place.
    execute_process(COMMAND "${CMAKE_COMMAND}" --build "${OUT}/build" --target help OUTPUT_VARIABLE targets)
    if(NOT targets MATCHES "sqllm-quantize")
      message(FATAL_ERROR "vcpkg_cmake_install: the tools feature configured no sqllm-quantize target")
    endif()
    file(WRITE "${OUT}/build/tools/sqllm-quantize" "#!/bin/sh\n")
  endif()
  execute_process(COMMAND "${CMAKE_COMMAND}" --install "${OUT}/build" RESULT_VARIABLE rc OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "vcpkg_cmake_install: cmake --install failed")
  endif()
endfunction()

function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(PARSE_ARGV 0 arg "DO_NOT_DELETE_PARENT_CONFIG_PATH;NO_PREFIX_CORRECTION" "PACKAGE_NAME;CONFIG_PATH;TOOLS_PATH" "")
  z_stub_unparsed(vcpkg_cmake_config_fixup)
  if(NOT DEFINED arg_PACKAGE_NAME)
    set(arg_PACKAGE_NAME "${PORT}")
  endif()
  if(NOT DEFINED arg_CONFIG_PATH)
    set(arg_CONFIG_PATH "share/${arg_PACKAGE_NAME}")
  endif()
  if(NOT EXISTS "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}/${arg_PACKAGE_NAME}Config.cmake")
    message(FATAL_ERROR "vcpkg_cmake_config_fixup: no ${arg_CONFIG_PATH}/${arg_PACKAGE_NAME}Config.cmake was installed")
  endif()
  z_stub_log("fixup ${arg_PACKAGE_NAME} ${arg_CONFIG_PATH}")
  file(GLOB files "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}/*")
  file(MAKE_DIRECTORY "${CURRENT_PACKAGES_DIR}/share/${arg_PACKAGE_NAME}")
  file(COPY ${files} DESTINATION "${CURRENT_PACKAGES_DIR}/share/${arg_PACKAGE_NAME}")
  # The prefix correction the real helper makes: share/<name> lies two levels below the prefix,
  # whatever depth the exported files computed for CONFIG_PATH.
  file(GLOB moved "${CURRENT_PACKAGES_DIR}/share/${arg_PACKAGE_NAME}/*.cmake")
  foreach(f IN LISTS moved)
    file(READ "${f}" text)
    string(REGEX REPLACE "(get_filename_component\\(_IMPORT_PREFIX \"\\\${_IMPORT_PREFIX}\" PATH\\)\n)+"
           "get_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\nget_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\n"
           text "${text}")
    string(REGEX REPLACE "get_filename_component\\(PACKAGE_PREFIX_DIR \"\\\${CMAKE_CURRENT_LIST_DIR}/[./]*\" ABSOLUTE\\)"
           "get_filename_component(PACKAGE_PREFIX_DIR \"\${CMAKE_CURRENT_LIST_DIR}/../../\" ABSOLUTE)" text "${text}")
    file(WRITE "${f}" "${text}")
  endforeach()
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}")
  # as the real helper: the config path's parent goes too when nothing else is left in it
  get_filename_component(parent "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}" DIRECTORY)
  file(GLOB rest "${parent}/*")
  if(NOT arg_DO_NOT_DELETE_PARENT_CONFIG_PATH AND NOT rest)
    file(REMOVE_RECURSE "${parent}")
  endif()
endfunction()

function(vcpkg_fixup_pkgconfig)
  cmake_parse_arguments(PARSE_ARGV 0 arg "SKIP_CHECK" "" "RELEASE_FILES;DEBUG_FILES;SYSTEM_LIBRARIES;SYSTEM_PACKAGES;IGNORE_FLAGS")
  z_stub_unparsed(vcpkg_fixup_pkgconfig)
  file(GLOB pcs "${CURRENT_PACKAGES_DIR}/lib/pkgconfig/*.pc" "${CURRENT_PACKAGES_DIR}/share/pkgconfig/*.pc")
  if(NOT pcs)
    message(FATAL_ERROR "vcpkg_fixup_pkgconfig: no .pc file was installed")
  endif()
  z_stub_log("fixup_pkgconfig")
endfunction()

function(vcpkg_copy_tools)
  cmake_parse_arguments(PARSE_ARGV 0 arg "AUTO_CLEAN" "SEARCH_DIR;DESTINATION" "TOOL_NAMES")
  z_stub_unparsed(vcpkg_copy_tools)
  if(NOT DEFINED arg_TOOL_NAMES)
    message(FATAL_ERROR "vcpkg_copy_tools: TOOL_NAMES must be specified")
  endif()
  foreach(tool IN LISTS arg_TOOL_NAMES)
    if(NOT EXISTS "${CURRENT_PACKAGES_DIR}/bin/${tool}")
      message(FATAL_ERROR "vcpkg_copy_tools: couldn't find this tool: bin/${tool}")
    endif()
    file(COPY "${CURRENT_PACKAGES_DIR}/bin/${tool}" DESTINATION "${CURRENT_PACKAGES_DIR}/tools/${PORT}")
    if(arg_AUTO_CLEAN)
      file(REMOVE "${CURRENT_PACKAGES_DIR}/bin/${tool}")
    endif()
  endforeach()
  z_stub_log("copy_tools ${arg_TOOL_NAMES}")
endfunction()

function(vcpkg_install_copyright)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "COMMENT" "FILE_LIST")
  z_stub_unparsed(vcpkg_install_copyright)
  if(NOT DEFINED arg_FILE_LIST)
    message(FATAL_ERROR "vcpkg_install_copyright: FILE_LIST must be specified")
  endif()
  set(text "")
  foreach(f IN LISTS arg_FILE_LIST)  # the real helper concatenates them into share/<port>/copyright
    if(NOT EXISTS "${f}")
      message(FATAL_ERROR "vcpkg_install_copyright: ${f} missing")
    endif()
    file(READ "${f}" content)
    string(APPEND text "${content}")
  endforeach()
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "${text}")
  z_stub_log("copyright")
endfunction()

set(CMAKE_CURRENT_LIST_DIR "${PORT_DIR}")
include("${PORT_DIR}/portfile.cmake")
"""


def run_port(port_dir, out, features, manifest_features, version):
    script = os.path.join(out, "run.cmake")
    open(script, "w").write(STUBS)
    pkg = os.path.join(out, "pkg")
    subprocess.run(["cmake", f"-DOUT={out}", f"-DPORT_DIR={port_dir}", f"-DSQLLM_ROOT={ROOT}", "-DPORT=sqllm",
                    f"-DVERSION={version}", f"-DCURRENT_PACKAGES_DIR={pkg}", f"-DFEATURES={';'.join(features)}",
                    f"-DMANIFEST_FEATURES={';'.join(manifest_features)}", "-P", script], check=True)
    return open(os.path.join(out, "calls")).read().splitlines(), pkg


def check_installed(pkg, features, usage, version):
    share = os.path.join(pkg, "share", "sqllm")
    for f in ("sqllmConfig.cmake", "sqllmConfigVersion.cmake", "sqllmTargets.cmake", "copyright", "usage"):
        check(os.path.exists(os.path.join(share, f)), f"vcpkg port {features}: share/sqllm/{f} not installed")
    check(not os.path.exists(os.path.join(pkg, "share", "cmake")), "vcpkg port: share/cmake left behind")
    check(os.path.exists(os.path.join(pkg, "include", "sqllm", "sqllm.hpp")), "vcpkg port: headers not installed")
    check(os.path.exists(os.path.join(pkg, "share", "pkgconfig", "sqllm.pc")), "vcpkg port: sqllm.pc not installed")
    has_io = os.path.exists(os.path.join(share, "sqllmIoTargets.cmake"))
    check(has_io == ("io" in features), f"vcpkg port {features}: sqllm::io installed: {has_io}")
    check(not os.path.exists(os.path.join(share, "sqllmTorchTargets.cmake")), "vcpkg port: sqllm::torch is not packaged")
    tool = os.path.join(pkg, "tools", "sqllm", "sqllm-quantize")
    check(os.path.exists(tool) == ("tools" in features), f"vcpkg port {features}: tools/sqllm/sqllm-quantize")
    check(not glob.glob(os.path.join(pkg, "bin", "*")), "vcpkg port: executables left in bin/")
    exported = "".join(open(p).read() for p in glob.glob(os.path.join(share, "*Targets.cmake")))
    for target in sorted(set(re.findall(r"\bsqllm::\w+", usage))):
        if target == "sqllm::io" and "io" not in features:
            continue
        check(f"add_library({target} " in exported, f"vcpkg usage names {target}, which the port does not install")
    # The usage file's find_package lines, configured against the staged port.
    components = "io" if "io" in features else ""
    with tempfile.TemporaryDirectory() as build:
        subprocess.run(["cmake", "-S", os.path.join(ROOT, "tests", "consumer", "find_package"), "-B", build,
                        f"-DCMAKE_PREFIX_PATH={pkg}", f"-DCONSUMER_COMPONENTS={components}",
                        f"-DCONSUMER_EXPECT_CONFIG={share}/sqllmConfig.cmake"], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(pkg, "share", "pkgconfig"))
    pc = subprocess.run(["pkg-config", "--modversion", "sqllm"], env=env, capture_output=True, text=True)
    check(pc.returncode == 0 and pc.stdout.strip() == version, f"vcpkg port: pkg-config sqllm: {pc.stderr}")


def check_port(manifest, version):
    usage = open(os.path.join(PORT, "usage")).read()
    check("find_package(sqllm CONFIG REQUIRED)" in usage and "COMPONENTS io" in usage and "sqllm-quantize" in usage,
          "ports/sqllm/usage: the core, io and tools sections")
    portfile = open(os.path.join(PORT, "portfile.cmake")).read()
    check(not re.search(r"^\s*set\(\s*SOURCE_PATH", portfile, re.M),
          "portfile.cmake: SOURCE_PATH comes from vcpkg_from_github/vcpkg_from_git (a versioned source), not set()")
    check(not re.search(r'IN_LIST FEATURES\)\s*\n\s*set\(SQLLM_IO', portfile), "portfile.cmake: features by vcpkg_check_features")
    check('REF "v${VERSION}"' in portfile, "portfile.cmake: vcpkg_from_github REF v${VERSION}")
    features_list = sorted(manifest["features"])
    for features in ([], ["io"], ["io", "tools"]):
        with tempfile.TemporaryDirectory() as out:
            calls, pkg = run_port(PORT, out, features, features_list, version)
            check(calls[0] == f"from_github sqllm/sqllm v{version}", calls)
            check(f"feature io SQLLM_IO" in calls and "feature tools SQLLM_BUILD_TOOLS" in calls, calls)
            configure = next(c for c in calls if c.startswith("configure"))
            check(f"-DSQLLM_IO={'ON' if 'io' in features else 'OFF'}" in configure, configure)
            check("-DSQLLM_BUILD_TESTS=OFF" in configure and "-DSQLLM_RUNTIME=OFF" in configure, configure)
            check("fixup sqllm share/cmake/sqllm" in calls and "fixup_pkgconfig" in calls and "copyright" in calls, calls)
            check(("copy_tools sqllm-quantize" in calls) == ("tools" in features), calls)
            check_installed(pkg, features, usage, version)
        print(f"vcpkg port, features {features or '(none)'}: helpers called as vcpkg defines them, package installs"
              " and configures")
    # Overlay mode: make_overlay.cmake names this checkout's HEAD; the port fetches it with vcpkg_from_git.
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as overlay, tempfile.TemporaryDirectory() as out:
        subprocess.run(["cmake", f"-DOUT={overlay}", "-P", os.path.join(PORT, "make_overlay.cmake")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_dir = os.path.join(overlay, "sqllm")
        check(sorted(os.listdir(port_dir)) == ["local-source.cmake", "portfile.cmake", "usage", "vcpkg.json"],
              f"overlay port files: {os.listdir(port_dir)}")
        check(head in open(os.path.join(port_dir, "local-source.cmake")).read(), "overlay: local-source.cmake names HEAD")
        calls, pkg = run_port(port_dir, out, ["io"], features_list, version)
        check(calls[0] == f"from_git {ROOT} {head}", calls)
        check_installed(pkg, ["io"], usage, version)
    print(f"vcpkg overlay port: vcpkg_from_git of this checkout at {head[:12]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conan", help="a Conan 2 client, to read the recipe's version with `conan inspect`")
    args = parser.parse_args()
    for tool in ("cmake", "git", "pkg-config", "ninja"):
        check(shutil.which(tool), f"{tool} is needed")
    version = header_version()
    check_versions(version, args.conan)
    manifest = check_manifest(version)
    check_port(manifest, version)


if __name__ == "__main__":
    main()
