# Build options and the compiler flags they imply. Included once from the top-level CMakeLists.

option(SALIENCY_NATIVE "Compile for the build machine's CPU (-march=native)" ON)
option(SALIENCY_SANITIZE "Build everything with AddressSanitizer and UBSan (for tests)" OFF)
option(SALIENCY_FUZZ "Build the libFuzzer programs of tests/fuzz (clang; see scripts/fuzz.sh)" OFF)
option(SALIENCY_BUILD_TESTS "Build the GoogleTest suite" ON)
option(SALIENCY_BUILD_BENCHMARKS "Build the Google Benchmark programs" ON)
option(SALIENCY_BUILD_SHARED "Also build the shared library (libsaliency.so)" ON)
set(SALIENCY_CUDA "AUTO" CACHE STRING "CUDA backend: AUTO (on when nvcc is found), ON or OFF")
set_property(CACHE SALIENCY_CUDA PROPERTY STRINGS AUTO ON OFF)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

# ccache makes the slow Eigen translation unit cheap to rebuild.
find_program(SALIENCY_CCACHE ccache)
if(SALIENCY_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${SALIENCY_CCACHE})
endif()

# Flags for code this project owns; third-party headers are included as SYSTEM so their
# warnings do not drown ours.
add_library(saliency_warnings INTERFACE)
target_compile_options(saliency_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>)

add_library(saliency_arch INTERFACE)
if(SALIENCY_NATIVE)
  target_compile_options(saliency_arch INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
endif()

if(SALIENCY_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer: every object gets coverage instrumentation and ASan + UBSan; the fuzz programs
# link the fuzzer's main (tests/fuzz/CMakeLists.txt).
if(SALIENCY_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SALIENCY_FUZZ needs clang (CXX=clang++); scripts/fuzz.sh sets it up")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
