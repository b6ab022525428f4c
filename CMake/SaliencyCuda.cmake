# Decides whether the CUDA backend is built. AUTO turns it on when an nvcc is found; ON makes a
# missing toolkit an error. Sets SALIENCY_HAS_CUDA for the rest of the build.
include(CheckLanguage)

set(SALIENCY_HAS_CUDA OFF)
if(NOT SALIENCY_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      # sm_90 for H100/H200 as real code, plus PTX so newer GPUs can JIT it.
      set(CMAKE_CUDA_ARCHITECTURES 90-real 90-virtual)
    endif()
    # CMake 3.25 knows no C++20 flag for nvcc; the .cu files need only C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(SALIENCY_HAS_CUDA ON)
  elseif(SALIENCY_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SALIENCY_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "saliency: CUDA backend ${SALIENCY_HAS_CUDA}")
