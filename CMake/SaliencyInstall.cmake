# cmake --install: headers under include/saliency (the same include paths as in the tree:
# "core/tensor.h", "saliency/methods.h" ...), the static and shared libraries, the CLI, a CMake
# package (find_package(saliency CONFIG) -> saliency::saliency) and a pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

foreach(folder core autograd kernels nn models weights saliency train datasets)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/saliency
          FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/generated/core/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/saliency/core)

set(saliency_install_targets saliency saliency_usage)
if(SALIENCY_BUILD_SHARED)
  list(APPEND saliency_install_targets saliency_shared)
endif()
install(TARGETS ${saliency_install_targets} EXPORT saliencyTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS saliency_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT saliencyTargets NAMESPACE saliency:: FILE saliencyTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/saliency)

configure_package_config_file(${PROJECT_SOURCE_DIR}/CMake/saliencyConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/saliencyConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/saliency)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/saliencyConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/saliencyConfig.cmake
              ${PROJECT_BINARY_DIR}/saliencyConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/saliency)

set(SALIENCY_PC_LIBS "-lsaliency -pthread")
if(SALIENCY_MVEC_LIBRARY)
  string(APPEND SALIENCY_PC_LIBS " -lmvec")
endif()
if(SALIENCY_HAS_CUDA)
  string(APPEND SALIENCY_PC_LIBS " -L${CUDAToolkit_LIBRARY_DIR} -lcublas -lcudart")
endif()
configure_file(${PROJECT_SOURCE_DIR}/CMake/saliency.pc.in ${PROJECT_BINARY_DIR}/saliency.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/saliency.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
