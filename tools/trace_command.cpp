// `saliency trace IMAGE [--method M] [--format text|json|dot]`: the recorded graph of one
// explanation, op by op: output shapes, FLOPs, forward time, bytes saved for backward, the
// backward rule that ran and the gradient norms into and out of each op.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autograd/trace.h"
#include "core/error.h"
#include "saliency/demo_model.h"
#include "saliency/predict.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

struct TraceOptions {
  std::string image, method = "vanilla", weights, model, target = "auto", format = "text", out;
  int64_t steps = 4, samples = 4, warmup = 1;
};

std::string shape_text(const Shape& shape) {
  std::ostringstream text;
  text << shape;
  return text.str();
}

// Weights named, else the usual default when it exists, else the embedded shapes model.
LoadedModel load_trace_model(const TraceOptions& o) {
  if (!o.weights.empty()) return load_model(o.weights, o.model);
  try {
    return load_model(default_weights_path(), o.model);
  } catch (const InvalidArgument&) {
    return load_shapes_model();
  }
}

// "in" for the image (a leaf), else the ids of the feeding ops: "7,2".
std::string input_list(const std::vector<int64_t>& inputs) {
  std::ostringstream text;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (k) text << ',';
    if (inputs[k] < 0)
      text << "in";
    else
      text << inputs[k];
  }
  return text.str();
}

std::string format_text(const std::vector<autograd::TraceRecord>& records,
                        const std::string& title) {
  std::ostringstream out;
  out << title << "\n";
  char line[512];
  std::snprintf(line, sizeof(line), "%4s  %-20s %-18s %-10s %9s %8s %9s  %-22s %8s %11s %11s\n",
                "id", "op", "output", "from", "MFLOP", "fwd ms", "saved KB", "backward rule",
                "bwd ms", "|grad out|", "|grad in|");
  out << line;
  double forward = 0, backward = 0, flops = 0, saved = 0;
  int64_t skipped = 0;
  for (const auto& r : records) {
    const std::string from = input_list(r.inputs);
    forward += r.forward_ms;
    backward += r.backward_ms;
    flops += r.flops;
    saved += double(r.saved_bytes);
    skipped += r.backward_ran ? 0 : 1;
    if (r.backward_ran)
      std::snprintf(line, sizeof(line),
                    "%4lld  %-20s %-18s %-10s %9.2f %8.3f %9.1f  %-22s %8.3f %11.3e %11.3e\n",
                    (long long)r.id, r.op.c_str(), shape_text(r.output_shape).c_str(), from.c_str(),
                    r.flops / 1e6, r.forward_ms, double(r.saved_bytes) / 1024.0, r.rule.c_str(),
                    r.backward_ms, r.grad_output_norm, r.grad_input_norm);
    else
      std::snprintf(line, sizeof(line), "%4lld  %-20s %-18s %-10s %9.2f %8.3f %9.1f  %-22s\n",
                    (long long)r.id, r.op.c_str(), shape_text(r.output_shape).c_str(), from.c_str(),
                    r.flops / 1e6, r.forward_ms, double(r.saved_bytes) / 1024.0,
                    "(not run: pruned or below a tap)");
    out << line;
  }
  std::snprintf(line, sizeof(line),
                "totals: %zu ops; forward %.2f ms, %.3f GFLOP in convolutions and linear layers; "
                "backward %.2f ms; %.2f MB kept for backward; %lld ops not run backward\n",
                records.size(), forward, flops / 1e9, backward, saved / (1024.0 * 1024.0),
                (long long)skipped);
  out << line;
  return out.str();
}

nlohmann::json format_json(const std::vector<autograd::TraceRecord>& records,
                           const nlohmann::json& header) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& r : records) {
    nlohmann::json node{{"id", r.id},
                        {"op", r.op},
                        {"output_shape", r.output_shape.dims()},
                        {"inputs", r.inputs},
                        {"flops", r.flops},
                        {"forward_ms", r.forward_ms},
                        {"saved_bytes", r.saved_bytes}};
    node["backward"] = r.backward_ran ? nlohmann::json{{"rule", r.rule},
                                                       {"ms", r.backward_ms},
                                                       {"grad_output_norm", r.grad_output_norm},
                                                       {"grad_input_norm", r.grad_input_norm}}
                                      : nlohmann::json(nullptr);
    nodes.push_back(node);
  }
  nlohmann::json out = header;
  out["nodes"] = nodes;
  return out;
}

// Graphviz: one box per op, grey where the default backward ran, orange where a rule replaced
// it, white where the backward did not reach.
std::string format_dot(const std::vector<autograd::TraceRecord>& records,
                       const std::string& title) {
  std::ostringstream out;
  out << "digraph trace {\n  label=\"" << title << "\";\n  labelloc=t;\n  rankdir=TB;\n"
      << "  node [shape=box, fontname=\"monospace\", fontsize=10, style=filled];\n"
      << "  input [shape=ellipse, fillcolor=\"#ffffff\", label=\"input\"];\n";
  for (const auto& r : records) {
    const char* colour = !r.backward_ran ? "#ffffff" : r.rule == "default" ? "#dddddd" : "#ffb347";
    char grad[64] = "";
    if (r.backward_ran) std::snprintf(grad, sizeof(grad), "\\n|grad| %.2e", r.grad_input_norm);
    out << "  n" << r.id << " [fillcolor=\"" << colour << "\", label=\"" << r.id << " " << r.op
        << "\\n"
        << shape_text(r.output_shape);
    if (r.backward_ran) out << "\\n" << r.rule;
    out << grad << "\"];\n";
    for (int64_t i : r.inputs) {
      out << "  ";
      if (i < 0)
        out << "input";
      else
        out << "n" << i;
      out << " -> n" << r.id << ";\n";
    }
  }
  out << "}\n";
  return out.str();
}

int run_trace(const TraceOptions& o) {
  const LoadedModel loaded = load_trace_model(o);
  const std::vector<Method> methods = parse_methods(o.method, supported_methods(*loaded.network));
  SALIENCY_CHECK(methods.size() == 1, "--method: trace one method at a time");
  const Method method = methods.front();
  prepare_for(loaded, methods);
  // As explain runs it: IG and SmoothGrad through the cut after the stem, where there is one.
  const Classifier classifier = classifier_on(*loaded.network, Device::cpu());
  const Tensor input = load_model_input(o.image, loaded.info.preprocessing());
  int64_t target = 0;
  if (o.target == "auto") {
    target = top_class(classifier, input);
  } else {
    SALIENCY_CHECK(o.target.find_first_not_of("0123456789") == std::string::npos &&
                       !o.target.empty() && o.target.size() < 10,
                   "--target must be auto or a class index, got '", o.target, "'");
    target = std::stoll(o.target);
  }
  MethodOptions options;
  adapt_options(options, loaded);
  options.integrated_gradients.steps = o.steps;
  options.smoothgrad.samples = o.samples;
  options.batch_size = std::max(o.steps, o.samples);  // one forward and backward pass
  // Untimed runs first: the traced one then shows warm times, not first-touch page faults and
  // buffer growth (which can make a ReLU look slower than the convolution before it). They run
  // traced too (records dropped): a trace keeps fused ops apart (a ReLU's output of its own),
  // and warm-up runs without one had left those buffers to be faulted in by the timed run (IG
  // at 16 steps: 1.1 million page faults, its first layer2 backward 80-110 ms instead of 7).
  for (int64_t run = 0; run < o.warmup; ++run) {
    autograd::TraceScope untimed;
    explain(classifier, input, method, target, options);
  }
  std::vector<autograd::TraceRecord> records;
  {
    autograd::TraceScope trace;
    explain(classifier, input, method, target, options);
    records = trace.records();
  }
  const std::string title = "saliency trace: " + method_name(method) + " on " +
                            std::filesystem::path(o.image).filename().string() + ", class " +
                            std::to_string(target) + " (" + loaded.info.source + ")";
  std::string text;
  if (o.format == "json")
    text = format_json(records, {{"method", method_name(method)},
                                 {"image", o.image},
                                 {"target", target},
                                 {"model", loaded.info.source}})
               .dump(1) +
           "\n";
  else if (o.format == "dot")
    text = format_dot(records, title);
  else
    text = format_text(records, title);
  if (o.out.empty()) {
    std::cout << text;
  } else {
    std::ofstream file(o.out);
    SALIENCY_CHECK(file.good(), o.out, ": cannot write the trace");
    file << text;
    SALIENCY_CHECK(file.good(), o.out, ": could not write the trace");
    std::printf("%zu ops -> %s\n", records.size(), o.out.c_str());
  }
  return 0;
}

}  // namespace

Command add_trace_command(CLI::App& app) {
  auto o = std::make_shared<TraceOptions>();
  auto* c = app.add_subcommand(
      "trace",
      "Show the recorded graph of one explanation: each op's output shape, FLOPs, time, bytes "
      "saved for backward, the backward rule that ran and the gradient norms through it");
  c->add_option("image", o->image, "Image file or normalized .npy tensor")->required();
  c->add_option("--method", o->method, "One method, as explain takes it")->capture_default_str();
  c->add_option("--weights", o->weights,
                "Weights (default: $SALIENCY_WEIGHTS or weights/resnet50.safetensors when "
                "present, else the embedded shapes model)");
  c->add_option("--model", o->model, "Check the weights are this model");
  c->add_option("--target", o->target, "auto (the top class) or a class index")
      ->capture_default_str();
  c->add_option("--format", o->format, "text (a table), json, or dot (Graphviz)")
      ->check(CLI::IsMember({"text", "json", "dot"}))
      ->capture_default_str();
  c->add_option("--out", o->out, "Write to this file instead of standard output");
  c->add_option("--steps", o->steps, "Integrated Gradients steps (traced as one batch)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--samples", o->samples, "SmoothGrad samples (traced as one batch)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--warmup", o->warmup,
                "Untimed runs of the method before the traced one (0: trace a cold first run)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  return [o] { return run_trace(*o); };
}

}  // namespace saliency::cli
