#include "kernels/cpu/gemm.h"

// Threads are ours (parallel_gemm); Eigen must not start its own.
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>
#include <algorithm>
#include <type_traits>

#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {
namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using MutableMap = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename T, typename LhsExpr, typename RhsExpr>
void multiply_into(MutableMap<T>& c, T alpha, const LhsExpr& lhs, const RhsExpr& rhs, T beta) {
  if (beta == T(0)) {
    c.noalias() = alpha * lhs * rhs;
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * lhs * rhs;
  }
}

}  // namespace

template <typename T>
void eigen_gemm(const GemmArgs& g, T alpha, const T* a, const T* b, T beta, T* c) {
  if (g.m == 0 || g.n == 0) return;
  MutableMap<T> cm(c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
  if (g.k == 0) {
    if (beta == T(0))
      cm.setZero();
    else
      cm *= beta;
    return;
  }
  ConstMap<T> am(a, g.transpose_a ? g.k : g.m, g.transpose_a ? g.m : g.k,
                 Eigen::OuterStride<>(g.lda));
  ConstMap<T> bm(b, g.transpose_b ? g.n : g.k, g.transpose_b ? g.k : g.n,
                 Eigen::OuterStride<>(g.ldb));
  if (!g.transpose_a && !g.transpose_b)
    multiply_into(cm, alpha, am, bm, beta);
  else if (!g.transpose_a)
    multiply_into(cm, alpha, am, bm.transpose(), beta);
  else if (!g.transpose_b)
    multiply_into(cm, alpha, am.transpose(), bm, beta);
  else
    multiply_into(cm, alpha, am.transpose(), bm.transpose(), beta);
}

// Eigen's products are cut into a fixed number of parts that depends on the product's shape
// only, never on the thread count or on which entry point runs them: each output element is
// then computed by the same single-threaded Eigen call (whose blocking, and so summation order,
// follows the part's shape), and results are bit-identical on 1 thread or 2, inside a parallel
// region or not. Below kMinPartWork multiply-adds one part is cheapest.
template <typename T>
void eigen_gemm_by_parts(const GemmArgs& g, T alpha, const T* a, const T* b, T beta, T* c,
                         bool parallel) {
  constexpr int64_t kMinPartWork = 1 << 18;
  constexpr int64_t kMaxParts = 4;  // enough to keep 2-4 cores busy; more parts repack more
  constexpr int64_t kBlock = 16;    // parts are whole AVX-512 vectors of floats wide
  const bool split_columns = g.n >= g.m;
  const int64_t extent = split_columns ? g.n : g.m;
  const int64_t blocks = (extent + kBlock - 1) / kBlock;
  const int64_t parts =
      std::clamp<int64_t>(g.m * g.n * g.k / kMinPartWork, 1, std::min(kMaxParts, blocks));
  if (parts == 1) {
    eigen_gemm(g, alpha, a, b, beta, c);
    return;
  }
  const auto run_part = [&](int64_t p) {
    const int64_t begin = blocks * p / parts * kBlock;
    const int64_t end = std::min(extent, blocks * (p + 1) / parts * kBlock);
    GemmArgs part = g;
    if (split_columns) {
      part.n = end - begin;
      const T* b_part = g.transpose_b ? b + begin * g.ldb : b + begin;
      eigen_gemm(part, alpha, a, b_part, beta, c + begin);
    } else {
      part.m = end - begin;
      const T* a_part = g.transpose_a ? a + begin : a + begin * g.lda;
      eigen_gemm(part, alpha, a_part, b, beta, c + begin * g.ldc);
    }
  };
  if (parallel)
    parallel_tasks(parts, run_part);
  else
    for (int64_t p = 0; p < parts; ++p) run_part(p);
}

// Our packed GEMM where it applies (floats, 8 rows or more), else Eigen's by parts: the same
// choice, and so the same bits, for the serial and the parallel entry point.
template <typename T>
void dispatch_gemm(const GemmArgs& g, T alpha, const T* a, const T* b, T beta, T* c,
                   bool parallel) {
  if constexpr (std::is_same_v<T, float>) {
    if (packed_gemm_applies(g)) {
      packed_gemm(g, {}, alpha, a, b, beta, c, parallel);
      return;
    }
  }
  eigen_gemm_by_parts(g, alpha, a, b, beta, c, parallel);
}

template <typename T>
void gemm(const GemmArgs& g, T alpha, const T* a, const T* b, T beta, T* c) {
  dispatch_gemm(g, alpha, a, b, beta, c, /*parallel=*/false);
}

template <typename T>
void parallel_gemm(const GemmArgs& g, T alpha, const T* a, const T* b, T beta, T* c) {
  dispatch_gemm(g, alpha, a, b, beta, c, /*parallel=*/true);
}

template <typename T>
void parallel_gemm_batched(const GemmArgs& g, const BatchedColumns& batch, T alpha, const T* a,
                           const T* b, T beta, T* c, RowEpilogue<T> epilogue) {
  if constexpr (std::is_same_v<T, float>) {
    if (packed_gemm_applies(g) && batch.batch > 0) {
      packed_gemm(g, batch, alpha, a, b, beta, c, /*parallel=*/true, epilogue);
      return;
    }
  }
  for (int64_t i = 0; i < batch.batch; ++i)
    parallel_gemm(g, alpha, a, b + i * batch.b_stride, beta, c + i * batch.c_stride);
  if (epilogue.bias == nullptr && !epilogue.relu && epilogue.relu_mask == nullptr &&
      epilogue.addend == nullptr)
    return;
  parallel_for(0, batch.batch * g.m, grain_for(g.n), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t offset = r / g.m * batch.c_stride + r % g.m * g.ldc;
      T* row = c + offset;
      if (epilogue.bias != nullptr)
        for (int64_t j = 0; j < g.n; ++j) row[j] += epilogue.bias[r % g.m];
      if (epilogue.addend != nullptr)
        for (int64_t j = 0; j < g.n; ++j) row[j] = row[j] + epilogue.addend[offset + j];
      if (epilogue.relu)
        for (int64_t j = 0; j < g.n; ++j) row[j] = row[j] > T(0) ? row[j] : T(0);
      if (epilogue.relu_mask != nullptr)
        for (int64_t j = 0; j < g.n; ++j) {
          const T value = row[j];
          row[j] = epilogue.relu_mask[offset + j] > T(0) ? value : T(0);
        }
    }
  });
}

template void parallel_gemm_batched<float>(const GemmArgs&, const BatchedColumns&, float,
                                           const float*, const float*, float, float*,
                                           RowEpilogue<float>);
template void parallel_gemm_batched<double>(const GemmArgs&, const BatchedColumns&, double,
                                            const double*, const double*, double, double*,
                                            RowEpilogue<double>);
template void eigen_gemm<float>(const GemmArgs&, float, const float*, const float*, float, float*);
template void eigen_gemm<double>(const GemmArgs&, double, const double*, const double*, double,
                                 double*);
template void gemm<float>(const GemmArgs&, float, const float*, const float*, float, float*);
template void gemm<double>(const GemmArgs&, double, const double*, const double*, double, double*);
template void parallel_gemm<float>(const GemmArgs&, float, const float*, const float*, float,
                                   float*);
template void parallel_gemm<double>(const GemmArgs&, double, const double*, const double*, double,
                                    double*);

}  // namespace saliency::kernels::cpu
