#include "autograd/ops/matmul.h"

#include "autograd/flop_counter.h"
#include "core/error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cuda/gemm.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

namespace {

// C[b] = op(A[b]) op(B[b]) for every batch entry, on the operands' device. CPU: one
// single-threaded GEMM per entry, entries spread over the threads (or one parallel GEMM for a
// single entry); GPU: one strided-batched cuBLAS call.
template <typename T>
void batched_gemm(int64_t batch, const cpu::GemmArgs& args, const Tensor& ta, const Tensor& tb,
                  const Tensor& tc) {
  const int64_t a_size = args.m * args.k, b_size = args.k * args.n, c_size = args.m * args.n;
  if (ta.device().is_cuda()) {
    cuda::gemm_batched(args.transpose_a, args.transpose_b, args.m, args.n, args.k,
                       ta.device_data<T>(), args.lda, a_size, tb.device_data<T>(), args.ldb, b_size,
                       tc.device_data<T>(), args.ldc, c_size, batch);
    return;
  }
  const T* a = ta.data<T>();
  const T* b = tb.data<T>();
  T* c = tc.data<T>();
  if (batch == 1) {
    cpu::parallel_gemm(args, T(1), a, b, T(0), c);
    return;
  }
  cpu::parallel_for(0, batch, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      cpu::gemm(args, T(1), a + i * a_size, b + i * b_size, T(0), c + i * c_size);
  });
}

struct Dims {
  int64_t batch = 1, m = 0, k = 0, n = 0;
};

Dims matmul_dims(const Tensor& a, const Tensor& b) {
  SALIENCY_CHECK(a.rank() >= 2 && a.rank() == b.rank(), "matmul: expected a [..., M, K] and b ",
                 "[..., K, N] of the same rank, got ", a.shape(), " and ", b.shape());
  Dims d{1, a.size(a.rank() - 2), a.size(a.rank() - 1), b.size(b.rank() - 1)};
  bool batch_match = true;
  for (int64_t i = 0; i + 2 < a.rank(); ++i) {
    batch_match = batch_match && a.size(i) == b.size(i);
    d.batch *= a.size(i);
  }
  SALIENCY_CHECK(batch_match && b.size(b.rank() - 2) == d.k, "matmul: ", a.shape(), " and ",
                 b.shape(), " do not multiply");
  check_same_dtype_device("matmul", a, b);
  return d;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const Dims d = matmul_dims(a, b);
  std::vector<int64_t> dims = a.shape().dims();
  dims.back() = d.n;
  Tensor output = Tensor::empty(Shape(dims), a.dtype(), a.device());
  dispatch_dtype(a.dtype(), [&]<typename T>() {
    autograd::FlopCounter::add(2.0 * double(d.batch * d.m * d.k * d.n));
    batched_gemm<T>(d.batch, {.m = d.m, .n = d.n, .k = d.k, .lda = d.k, .ldb = d.n, .ldc = d.n}, a,
                    b, output);
  });
  if (!autograd::should_record({&a, &b})) return output;
  return autograd::attach(output, std::make_shared<autograd::MatMulNode>(
                                      autograd::edges_to({&a, &b}), a.detach(), b.detach()));
}

namespace autograd {

TensorList MatMulNode::default_backward(const Tensor& grad_output, const InputMask& needs) const {
  const Dims d = matmul_dims(a_, b_);
  TensorList grads(2);
  dispatch_dtype(a_.dtype(), [&]<typename T>() {
    if (needs[0]) {  // dA [M, K] = dC [M, N] B^T
      grads[0] = Tensor::empty(a_.shape(), a_.dtype(), a_.device());
      FlopCounter::add(2.0 * double(d.batch * d.m * d.k * d.n));
      batched_gemm<T>(
          d.batch,
          {.transpose_b = true, .m = d.m, .n = d.k, .k = d.n, .lda = d.n, .ldb = d.n, .ldc = d.k},
          grad_output, b_, grads[0]);
    }
    if (needs[1]) {  // dB [K, N] = A^T dC
      grads[1] = Tensor::empty(b_.shape(), b_.dtype(), b_.device());
      FlopCounter::add(2.0 * double(d.batch * d.m * d.k * d.n));
      batched_gemm<T>(
          d.batch,
          {.transpose_a = true, .m = d.k, .n = d.n, .k = d.m, .lda = d.k, .ldb = d.n, .ldc = d.n},
          a_, grad_output, grads[1]);
    }
  });
  return grads;
}

}  // namespace autograd
}  // namespace saliency
