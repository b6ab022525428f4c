#pragma once
// SALIENCY_HOST_DEVICE marks the few functions written once for both the CPU and the GPU
// (kernels/philox.h, kernels/row_kernels.h): __host__ __device__ under nvcc, nothing for the C++
// compiler.
#if defined(__CUDACC__)
#define SALIENCY_HOST_DEVICE __host__ __device__
#else
#define SALIENCY_HOST_DEVICE
#endif
