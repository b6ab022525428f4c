// `saliency bench`: ResNet-50 at 224x224 (seeded weights unless --weights), each method's median
// time per image, throughput, achieved GFLOP/s against the FMA peak this binary measures, and
// peak memory. Compare with benchmarks/compare_pytorch.py on the same machine.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <sys/resource.h>

#include "autograd/flop_counter.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/factory.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/peak.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/profile.h"
#include "kernels/cuda/runtime.h"
#include "saliency/methods.h"
#include "saliency/predict.h"
#include "saliency/relu_rules.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

struct BenchOptions {
  std::string methods = "forward,vanilla,integrated-gradients,smoothgrad,gradcam,guided-backprop";
  std::string weights, device = "cpu";
  int64_t batch_size = 0, repeat = 3, steps = 50, samples = 50;  // batch 0: each method's default
  int threads = 0;
  bool json = false;
};

std::string cpu_name() {
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

const char* conv_algorithm_name() {
  switch (kernels::cpu::requested_conv_algorithm()) {
    case kernels::cpu::ConvAlgorithmChoice::winograd:
      return "winograd";
    case kernels::cpu::ConvAlgorithmChoice::im2col:
      return "im2col";
    default:
      return "direct";
  }
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // kB on Linux
}

// Whether a method runs `batch` images in one pass (forward and the one-gradient methods);
// the others explain one image with `batch` samples or path points per pass.
bool batches_images(const std::string& method) {
  if (method == "forward") return true;
  const Method m = parse_method(method);
  return m == Method::Vanilla || m == Method::GradientXInput || m == Method::GuidedBackprop ||
         m == Method::Deconvnet;
}

// Methods that explain one image over several passes of `MethodOptions::batch_size` noisy
// samples or path points each.
bool runs_in_chunks(const std::string& method) {
  if (method == "forward") return false;
  const Method m = parse_method(method);
  return m == Method::IntegratedGradients || m == Method::SmoothGrad ||
         m == Method::SmoothGradSquared || m == Method::VarGrad;
}

// The batch a method's result reports: images per pass, samples or path points per pass (at
// most as many as there are), or 1.
int64_t reported_batch(const std::string& method, int64_t images, const MethodOptions& options) {
  if (batches_images(method)) return images;
  if (!runs_in_chunks(method)) return 1;
  const int64_t points = parse_method(method) == Method::IntegratedGradients
                             ? options.integrated_gradients.steps
                             : options.smoothgrad.samples;
  return std::min(options.batch_size, points);
}

// The images once on the host and once where the model runs: batched passes start from the
// device's copy (as a PyTorch benchmark would), methods explaining one image from the host's.
struct BenchImages {
  Tensor host, on_device;
};

// One run of `method`, finished on the device too; returns how many images it explained.
int64_t run_once(const std::string& method, const Classifier& model, const BenchImages& images,
                 const MethodOptions& options) {
  const bool on_cuda = images.on_device.device().is_cuda();
  const auto finish = [&] {
    if (on_cuda) kernels::cuda::synchronize("bench");
  };
  if (method == "forward") {
    autograd::NoGradGuard inference;
    model(images.on_device);
    finish();
    return images.host.size(0);
  }
  const Method m = parse_method(method);
  if (batches_images(method)) {
    std::optional<autograd::RuleSet> rules;
    if (m == Method::GuidedBackprop) rules = guided_backprop_rules();
    if (m == Method::Deconvnet) rules = deconvnet_rules();
    input_gradients(model, images.on_device, {207}, rules ? &*rules : nullptr);
    finish();
    return images.host.size(0);
  }
  explain(model, images.host.slice_batch(0, 1), m, 207, options);
  finish();
  return 1;
}

// Refuses unknown names, and methods the benchmark's ResNet-50 cannot run, before anything is
// timed.
void check_method(const std::string& method) {
  if (method == "forward") return;
  SALIENCY_CHECK(parse_method(method) != Method::AttentionRollout, "bench: ", method,
                 " needs a Vision Transformer's attention maps; bench times ResNet-50");
}
int run_bench(const BenchOptions& o) {
  const Device device = parse_device(o.device);
  if (o.threads > 0) kernels::cpu::set_num_threads(o.threads);
  std::unique_ptr<models::ResNet> model;
  if (o.weights.empty()) {
    model = std::make_unique<models::ResNet>(models::ResNetConfig::named("resnet50"));
    Generator generator(0);
    model->initialize(generator);
    model->set_requires_grad(false);
  } else {
    model = load_resnet(o.weights, "resnet50");
  }
  // Every method runs on the model as explain runs it: BatchNorm folded into the convolutions
  // (saliency::prepare_for), which is also LRP's canonical form.
  model->fold_for_inference();
  model->to(device);
  const Classifier classifier = classifier_on(*model, device);
  Generator generator(1);
  BenchImages images;
  // Without --batch-size each method runs as explain runs it on one image: the batched methods
  // on that image alone, SmoothGrad and IG in explain's chunks of samples or path points.
  const int64_t batch_images = o.batch_size > 0 ? o.batch_size : 1;
  images.host = randn({batch_images, 3, 224, 224}, generator);
  images.on_device = images.host.to(device);
  MethodOptions options;
  if (o.batch_size > 0) options.batch_size = o.batch_size;
  options.device = device;
  options.integrated_gradients.steps = o.steps;
  options.smoothgrad.samples = o.samples;

  const int threads = kernels::cpu::num_threads();
  // Measured before the methods and again after them, the higher reading kept: another process
  // on a core only lowers a reading, and one taken while a neighbour held a core had read half
  // the peak (a Zen 4 VM: 118 against 236 GFLOP/s), making the shares twice what they were.
  double peak = kernels::cpu::measure_fma_peak_gflops(threads);
  nlohmann::json results = nlohmann::json::array();
  std::stringstream methods(o.methods);
  for (std::string method; std::getline(methods, method, ',');) {
    check_method(method);
    CpuAllocator::instance().reset_peak();
    if (device.is_cuda()) kernels::cuda::CudaAllocator::instance().reset_peak();
    double flops = 0;
    int64_t explained = 0;
    {
      autograd::FlopCounter counter;  // the warm-up run also counts the work of one run
      explained = run_once(method, classifier, images, options);
      flops = counter.flops();
    }
    const bool profile = device.is_cuda() && kernels::cuda::profiling();
    if (profile) kernels::cuda::profile_clear();
    std::vector<double> seconds;
    for (int64_t r = 0; r < o.repeat; ++r) {
      const auto start = std::chrono::steady_clock::now();
      run_once(method, classifier, images, options);
      seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    if (profile)
      std::cerr << "profile of " << method << " (SALIENCY_CUDA_PROFILE=1), per run:\n"
                << kernels::cuda::profile_report(int(o.repeat));
    std::sort(seconds.begin(), seconds.end());
    const double median = seconds[seconds.size() / 2];
    const double gflops = flops / median / 1e9;
    nlohmann::json result{
        {"method", method},
        {"batch_size", reported_batch(method, batch_images, options)},
        {"per_image_ms", 1000 * median / double(explained)},
        {"images_per_s", double(explained) / median},
        {"gflops", gflops},
        {"peak_fraction", nlohmann::json()},  // (below, once the peak is measured again)
        {"tensor_peak_mb", double(CpuAllocator::instance().stats().peak_bytes_in_use) / (1 << 20)},
        {"peak_rss_mb", peak_rss_mb()}};
    if (device.is_cuda())
      result["device_peak_mb"] =
          double(kernels::cuda::CudaAllocator::instance().stats().peak_bytes_in_use) / (1 << 20);
    results.push_back(result);
  }
  // The CPU's FMA peak is no yardstick for a GPU: no fraction there.
  if (device.is_cpu()) {
    peak = std::max(peak, kernels::cpu::measure_fma_peak_gflops(threads));
    for (auto& result : results) result["peak_fraction"] = result["gflops"].get<double>() / peak;
  }
  nlohmann::json machine{{"cpu", cpu_name()},
                         {"threads", threads},
                         {"device", device.str()},
                         {"conv", conv_algorithm_name()}};
  if (device.is_cuda()) {
    machine["gpu"] = kernels::cuda::device_name();
    machine["tf32"] = kernels::cuda::tf32_enabled();
  }
  nlohmann::json report{{"machine", machine}, {"peak_gflops", peak}, {"results", results}};
  if (o.json) {
    std::cout << report.dump() << "\n";
    return 0;
  }
  if (device.is_cuda())
    std::printf("ResNet-50 224x224 on %s (%s), TF32 %s, median of %lld\n", device.str().c_str(),
                kernels::cuda::device_name().c_str(),
                kernels::cuda::tf32_enabled() ? "on (SALIENCY_TF32=1)" : "off",
                static_cast<long long>(o.repeat));
  else
    std::printf(
        "ResNet-50 224x224, %s, %d threads, FMA peak %.0f GFLOP/s, %s convolutions, median of "
        "%lld\n",
        cpu_name().c_str(), threads, peak, conv_algorithm_name(), static_cast<long long>(o.repeat));
  std::printf("%-22s %6s %12s %10s %9s %7s %10s\n", "method", "batch", "ms/image", "images/s",
              "GFLOP/s", "% peak", device.is_cuda() ? "GPU MB" : "RSS MB");
  for (const auto& r : results) {
    char fraction[16] = "-";
    if (r["peak_fraction"].is_number())
      std::snprintf(fraction, sizeof(fraction), "%.1f%%", 100 * r["peak_fraction"].get<double>());
    std::printf(
        "%-22s %6lld %12.2f %10.2f %9.1f %7s %10.0f\n", r["method"].get<std::string>().c_str(),
        static_cast<long long>(r["batch_size"]), r["per_image_ms"].get<double>(),
        r["images_per_s"].get<double>(), r["gflops"].get<double>(), fraction,
        device.is_cuda() ? r["device_peak_mb"].get<double>() : r["peak_rss_mb"].get<double>());
  }
  return 0;
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* c = app.add_subcommand(
      "bench",
      "Time ResNet-50 (224x224) forward and saliency methods: ms per image, images/s, "
      "GFLOP/s and the share of this machine's FMA peak, peak memory");
  c->add_option("--methods", o->methods, "Comma-separated: forward and any explain method")
      ->capture_default_str();
  c->add_option("--batch-size", o->batch_size,
                "Images per pass for forward and one-gradient methods (default 1); samples or "
                "path points per pass for SmoothGrad / IG, which explain one image (default: "
                "explain's, " +
                    std::to_string(MethodOptions{}.batch_size) + ")")
      ->check(CLI::PositiveNumber);
  c->add_option("--threads", o->threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--repeat", o->repeat, "Timed runs per method (the median is reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--steps", o->steps, "Integrated Gradients steps")->capture_default_str();
  c->add_option("--samples", o->samples, "SmoothGrad samples")->capture_default_str();
  c->add_option("--weights", o->weights, "ResNet-50 weights (default: seeded random ones)");
  c->add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  c->add_flag("--json", o->json, "One JSON object: machine, peak_gflops, results");
  return [o] { return run_bench(*o); };
}

}  // namespace saliency::cli
