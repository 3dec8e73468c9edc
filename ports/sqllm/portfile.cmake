# vcpkg overlay port that builds from this checkout:
#   vcpkg install sqllm --overlay-ports=<sqllm>/ports
# (a registry port would fetch a release with vcpkg_from_github instead).
set(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../..")
set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is enough
set(SQLLM_IO OFF)  # the "io" feature adds sqllm::io and its nlohmann-json dependency
if("io" IN_LIST FEATURES)
  set(SQLLM_IO ON)
endif()

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DSQLLM_BUILD_TESTS=OFF
        -DSQLLM_BUILD_BENCH=OFF
        -DSQLLM_BUILD_EXAMPLES=OFF
        -DSQLLM_BUILD_TOOLS=OFF
        -DSQLLM_RUNTIME=OFF  # header-only port; the compiled sqllm::runtime is not packaged yet
        -DSQLLM_IO=${SQLLM_IO}
        -DSQLLM_INSTALL=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME sqllm CONFIG_PATH share/cmake/sqllm)

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/lib" "${CURRENT_PACKAGES_DIR}/debug")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
