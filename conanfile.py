"""Conan 2 recipe for sqllm, a header-only library.

    conan create .            # package it
    conan install --requires=sqllm/0.1.0 -g CMakeDeps -g CMakeToolchain
"""
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout


class SqllmConan(ConanFile):
    name = "sqllm"
    package_type = "header-library"
    license = "MIT"
    description = "SqueezeLLM-style LUT weight quantization, bit packing and LUT GEMV/GEMM kernels"
    topics = ("quantization", "llm", "simd", "header-only")
    settings = "os", "arch", "compiler", "build_type"
    # with_io: the safetensors / quantized-checkpoint headers (include/sqllm/io/) need nlohmann_json.
    options = {"with_io": [True, False]}
    default_options = {"with_io": False}
    exports_sources = "include/*", "LICENSE"
    no_copy_source = True

    def set_version(self):
        # One source of truth: the version macro in config.hpp.
        text = load(self, os.path.join(self.recipe_folder, "include", "sqllm", "config.hpp"))
        self.version = re.search(r'#define SQLLM_VERSION_STRING "([0-9.]+)"', text).group(1)

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        self.requires("xsimd/[>=8.1 <15]")
        if self.options.with_io:
            self.requires("nlohmann_json/[>=3.2 <4]")

    def validate(self):
        check_min_cppstd(self, 17)

    def package_id(self):
        self.info.clear()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))
        copy(self, "*.cuh", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "sqllm")
        self.cpp_info.set_property("cmake_target_name", "sqllm::sqllm")
        # One target: with with_io, sqllm::sqllm also carries nlohmann_json for the io headers.
        self.cpp_info.requires = ["xsimd::xsimd"] + (["nlohmann_json::nlohmann_json"] if self.options.with_io else [])
