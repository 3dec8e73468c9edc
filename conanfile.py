"""Conan 2 recipe for sqllm: a header-only library, optionally with its command-line tool.

    conan create . --build=missing                        # sqllm::sqllm (ConanCenter provides xsimd)
    conan create . -o "&:with_io=True" --build=missing    # and sqllm::io (nlohmann_json)
    conan create . -pr:a conan/profiles/system            # offline, with Debian's packages (see that file)

Consumers: [requires] sqllm/<version>, [generators] CMakeDeps CMakeToolchain, then
find_package(sqllm) and the targets sqllm::sqllm and (with_io) sqllm::io, the same names
as sqllm's own CMake package. test_package/ builds and runs a consumer of each.
"""
import os
import re

from conan import ConanFile
from conan.errors import ConanException, ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load


class SqllmConan(ConanFile):
    name = "sqllm"
    description = "SqueezeLLM-style LUT weight quantization, bit packing and LUT GEMV/GEMM kernels"
    license = "MIT"
    url = "https://github.com/sqllm/sqllm"
    homepage = "https://github.com/sqllm/sqllm"
    topics = ("quantization", "llm", "lut", "gemv", "simd", "header-only")
    # header-library unless tools=True (configure() below).
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    # with_io: the safetensors / quantized-checkpoint headers (include/sqllm/io/) as the
    #          component sqllm::io, which needs nlohmann_json.
    # tools:   build and package the sqllm-quantize command-line program (needs with_io
    #          and CLI11). Its bin/ directory reaches consumers' PATH through the
    #          conanbuild/conanrun environments.
    options = {"with_io": [True, False], "tools": [True, False]}
    default_options = {"with_io": False, "tools": False}
    # Everything the tools build needs; a header-only package copies include/ only.
    exports_sources = ("include/*", "LICENSE", "CMakeLists.txt", "cmake/*", "tools/*",
                       "examples/llama2c/*.hpp")
    no_copy_source = True

    def set_version(self):
        # One source of truth: the version macro in config.hpp (CMake reads it too).
        text = load(self, os.path.join(self.recipe_folder, "include", "sqllm", "config.hpp"))
        self.version = re.search(r'#define SQLLM_VERSION_STRING "([0-9.]+)"', text).group(1)

    def configure(self):
        # With tools the package holds a compiled program next to the headers: it is no
        # longer a header-library (Conan would give every configuration the same package
        # id and never rebuild the program for another compiler or arch). "unknown" keeps
        # the default requirement traits, so consumers still get the headers.
        if self.options.tools:
            self.package_type = "unknown"

    def layout(self):
        cmake_layout(self, src_folder=".")

    def requirements(self):
        # Ranges admit Debian 12's packages (xsimd 8.1.0, nlohmann_json 3.11.2, CLI11 2.1.2)
        # as [platform_requires] (conan/profiles/system) as well as ConanCenter's.
        self.requires("xsimd/[>=8.1 <15]")
        if self.options.with_io:
            self.requires("nlohmann_json/[>=3.2 <4]")
        if self.options.tools:
            # Only the program uses CLI11 (header-only); consumers of the headers never see it.
            self.requires("cli11/[>=2.0 <3]", visible=False)

    def validate(self):
        check_min_cppstd(self, 17)
        if self.options.tools and not self.options.with_io:
            raise ConanInvalidConfiguration("sqllm:tools=True needs sqllm:with_io=True "
                                            "(sqllm-quantize reads and writes checkpoints)")

    def package_id(self):
        # Header-only: one package for every configuration (both with_io values package the
        # same files; the option changes only requirements and components). With tools,
        # the id keeps settings and options, as for any compiled program.
        if not self.info.options.tools:
            self.info.clear()

    def generate(self):
        if not self.options.tools:
            return
        tc = CMakeToolchain(self)
        tc.cache_variables.update({
            "SQLLM_BUILD_TESTS": False, "SQLLM_BUILD_BENCH": False, "SQLLM_BUILD_EXAMPLES": False,
            "SQLLM_BUILD_TOOLS": True, "SQLLM_RUNTIME": False, "SQLLM_INSTALL": False,
            "SQLLM_IO": "ON",      # a hard requirement: fail rather than skip the tool
            "SQLLM_TORCH": "OFF",  # sqllm-convert (libzip) is not packaged
        })
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        if self.options.tools:
            cmake = CMake(self)
            cmake.configure()
            cmake.build(target="sqllm-quantize")

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        # All of include/: the headers (.hpp, .cuh for CUDA consumers) and the .inl files
        # they include (a pattern list of *.hpp missed those).
        copy(self, "*", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))
        if self.options.tools:
            # tools/sqllm-quantize (tools/<config>/ under multi-config generators)
            copied = []
            for pattern in ("sqllm-quantize", "sqllm-quantize.exe", "*/sqllm-quantize.exe"):
                copied += copy(self, pattern, os.path.join(self.build_folder, "tools"),
                               os.path.join(self.package_folder, "bin"), keep_path=False)
            if not copied:
                raise ConanException("sqllm-quantize is not in the build folder's tools/")

    def _component_requires(self, dependency):
        # A [platform_requires] dependency (conan/profiles/system) is the system's own, in
        # the compiler's default include path; Conan generates nothing for it, and a
        # component that names it fails CMakeDeps ("... is not a direct dependency").
        # (self.dependencies[name] does not list such a dependency; items() does.)
        for require, dep in self.dependencies.items():
            if require.ref.name == dependency and dep.recipe == "Platform":
                return []
        return [f"{dependency}::{dependency}"]

    def package_info(self):
        # Components mirror sqllm's own CMake package: find_package(sqllm), sqllm::sqllm,
        # sqllm::io. The aggregate target Conan makes for a package with components
        # gets another name, so that it does not shadow the core's sqllm::sqllm.
        self.cpp_info.set_property("cmake_file_name", "sqllm")
        self.cpp_info.set_property("cmake_target_name", "sqllm::sqllm_all")
        self.cpp_info.set_property("pkg_config_name", "sqllm_all")
        self.cpp_info.bindirs = ["bin"] if self.options.tools else []
        self.cpp_info.libdirs = []

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "sqllm::sqllm")
        core.set_property("pkg_config_name", "sqllm")  # as sqllm's own sqllm.pc
        core.requires = self._component_requires("xsimd")
        core.bindirs = []
        core.libdirs = []
        if self.options.with_io:
            io = self.cpp_info.components["io"]
            io.set_property("cmake_target_name", "sqllm::io")
            io.requires = ["core"] + self._component_requires("nlohmann_json")
            io.bindirs = []
            io.libdirs = []
