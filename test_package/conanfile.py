"""conan create's test: consumers of the packaged components, built with CMakeDeps and run.

- core: a program linking sqllm::sqllm only (quantize, gemv, check against fp32);
- with_io: a program linking sqllm::io (a checkpoint written and read back);
- tools: sqllm-quantize --version from the package's bin/.
"""
import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout


class SqllmTestPackage(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    test_type = "explicit"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["SQLLM_TEST_IO"] = bool(self.dependencies["sqllm"].options.with_io)
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if not can_run(self):
            return
        sqllm = self.dependencies["sqllm"]
        self.run(os.path.join(self.cpp.build.bindir, "test_core"), env="conanrun")
        if sqllm.options.with_io:
            self.run(os.path.join(self.cpp.build.bindir, "test_io"), env="conanrun")
        if sqllm.options.tools:
            tool = os.path.join(sqllm.package_folder, "bin", "sqllm-quantize")
            self.run(f'"{tool}" --version', env="conanrun")
