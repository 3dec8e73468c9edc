# sqllm's vcpkg port, in the curated registry's form.
#
# Registry mode: the release tarball v${VERSION} from GitHub, pinned by its SHA512.
# The SHA512 below is a placeholder until the release exists: the release fills it in
# with the value `vcpkg install sqllm --overlay-ports=<sqllm>/ports` prints for the
# tarball (or `vcpkg hash sqllm-sqllm-v<version>.tar.gz`); vcpkg refuses the placeholder.
#
# Overlay mode, for a local checkout: `cmake -DOUT=<dir> -P ports/sqllm/make_overlay.cmake`
# writes a copy of this port with local-source.cmake, which names the checkout and its
# HEAD commit. vcpkg hashes every file of a port into the package's ABI, so each commit
# gives a new ABI and a build from the binary cache is never stale (a port that read
# ${CMAKE_CURRENT_LIST_DIR}/../.. had the same ABI whatever the checkout contained).
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/local-source.cmake")
    include("${CMAKE_CURRENT_LIST_DIR}/local-source.cmake")  # SQLLM_LOCAL_GIT, SQLLM_LOCAL_REF
    vcpkg_from_git(
        OUT_SOURCE_PATH SOURCE_PATH
        URL "${SQLLM_LOCAL_GIT}"
        REF "${SQLLM_LOCAL_REF}"
    )
else()
    vcpkg_from_github(
        OUT_SOURCE_PATH SOURCE_PATH
        REPO sqllm/sqllm
        REF "v${VERSION}"
        SHA512 00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        HEAD_REF main
    )
endif()

# io:    sqllm::io and nlohmann-json (SQLLM_IO=ON makes the dependency a requirement:
#        configuring fails instead of leaving sqllm::io out).
# tools: sqllm-quantize (needs io, CLI11).
vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        io     SQLLM_IO
        tools  SQLLM_BUILD_TOOLS
)

# Headers need one configuration, and the tool ships its release build only.
set(VCPKG_BUILD_TYPE release)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        -DSQLLM_BUILD_TESTS=OFF
        -DSQLLM_BUILD_BENCH=OFF
        -DSQLLM_BUILD_EXAMPLES=OFF
        -DSQLLM_RUNTIME=OFF  # the compiled sqllm::runtime is not packaged: the port stays header-only
        -DSQLLM_TORCH=OFF    # sqllm::torch and sqllm-convert (libzip) are not packaged
        -DSQLLM_INSTALL=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME sqllm CONFIG_PATH share/cmake/sqllm)
vcpkg_fixup_pkgconfig()

if("tools" IN_LIST FEATURES)
    vcpkg_copy_tools(TOOL_NAMES sqllm-quantize AUTO_CLEAN)
endif()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/lib" "${CURRENT_PACKAGES_DIR}/debug")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
