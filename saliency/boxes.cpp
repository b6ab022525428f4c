#include "saliency/boxes.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace saliency {
namespace {

LabeledBox checked_box(const std::string& where, double x0, double y0, double x1, double y1) {
  SALIENCY_CHECK(std::isfinite(x0) && std::isfinite(y0) && std::isfinite(x1) && std::isfinite(y1) &&
                     x0 >= 0 && y0 >= 0 && x1 > x0 && y1 > y0 && x1 < 1e9 && y1 < 1e9,
                 where, ": box [", x0, ", ", y0, ", ", x1, ", ", y1,
                 "] must have 0 <= x0 < x1 and 0 <= y0 < y1");
  LabeledBox box;
  box.box = {int64_t(std::floor(x0)), int64_t(std::floor(y0)), int64_t(std::ceil(x1)),
             int64_t(std::ceil(y1))};
  return box;
}

void set_label(LabeledBox& box, const std::string& text) {
  if (text.empty()) return;
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() < 10)
    box.label = std::stoll(text);
  else
    box.label_name = text;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  for (std::string field; std::getline(stream, field, ',');) {
    const size_t first = field.find_first_not_of(" \t\r");
    const size_t last = field.find_last_not_of(" \t\r");
    fields.push_back(first == std::string::npos ? "" : field.substr(first, last - first + 1));
  }
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

double parse_number(const std::string& text, const std::string& where) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SALIENCY_CHECK(used == text.size() && !text.empty(), where, ": '", text, "' is not a number");
  return value;
}

BoxIndex read_csv(const std::string& path, std::istream& in) {
  BoxIndex index;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::vector<std::string> f = split_csv_line(line);
    const std::string where = path + ":" + std::to_string(number);
    if (number == 1 && f.size() == 6 && f[2] == "x0") continue;  // header
    SALIENCY_CHECK(f.size() == 6, where, ": expected image,class,x0,y0,x1,y1, got ", f.size(),
                   " fields");
    LabeledBox box = checked_box(where, parse_number(f[2], where), parse_number(f[3], where),
                                 parse_number(f[4], where), parse_number(f[5], where));
    set_label(box, f[1]);
    index.add(f[0], box);
  }
  return index;
}

BoxIndex read_json(const std::string& path, std::istream& in) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(concat(path, ": not valid JSON (", e.what(), ")"));
  }
  SALIENCY_CHECK(document.is_object(), path, ": expected an object of image -> boxes");
  BoxIndex index;
  for (auto& [image, entries] : document.items()) {
    const std::string where = path + ": " + image;
    SALIENCY_CHECK(entries.is_array(), where, ": expected a list of boxes");
    for (const auto& entry : entries) {
      SALIENCY_CHECK(entry.is_object() && entry.contains("box") && entry["box"].is_array() &&
                         entry["box"].size() == 4,
                     where, ": each entry needs \"box\": [x0, y0, x1, y1]");
      for (const auto& v : entry["box"])
        SALIENCY_CHECK(v.is_number(), where, ": box coordinates must be numbers");
      LabeledBox box =
          checked_box(where, entry["box"][0], entry["box"][1], entry["box"][2], entry["box"][3]);
      if (entry.contains("class")) {
        const auto& label = entry["class"];
        SALIENCY_CHECK(label.is_number_integer() || label.is_string(), where,
                       ": \"class\" must be an index or a name");
        if (label.is_number_integer())
          box.label = label.get<int64_t>();
        else
          set_label(box, label.get<std::string>());
      }
      index.add(image, box);
    }
  }
  return index;
}

}  // namespace

BoxIndex BoxIndex::read(const std::string& path) {
  std::ifstream in(path);
  SALIENCY_CHECK(in.good(), path, ": cannot open the boxes file");
  const bool json = path.ends_with(".json");
  SALIENCY_CHECK(json || path.ends_with(".csv"), path, ": boxes must be a .json or .csv file");
  return json ? read_json(path, in) : read_csv(path, in);
}

const std::vector<LabeledBox>& BoxIndex::find(const std::string& image_path) const {
  static const std::vector<LabeledBox> none;
  auto it = boxes_.find(image_path);
  if (it == boxes_.end()) it = boxes_.find(std::filesystem::path(image_path).filename().string());
  return it == boxes_.end() ? none : it->second;
}

bool box_matches(const LabeledBox& box, int64_t target, const std::vector<std::string>& labels) {
  if (box.label >= 0) return box.label == target;
  if (box.label_name.empty()) return true;
  return target >= 0 && size_t(target) < labels.size() && labels[size_t(target)] == box.label_name;
}

Box box_in_model_input(const Box& box, int64_t image_width, int64_t image_height,
                       const Preprocessing& p) {
  // The geometry of resize_shorter_side and center_crop.
  const bool wide = image_width >= image_height;
  const int64_t shorter = wide ? image_height : image_width;
  const int64_t longer = wide ? image_width : image_height;
  const auto scaled = static_cast<int64_t>(double(p.resize) * double(longer) / double(shorter));
  const int64_t resized_w = wide ? scaled : p.resize, resized_h = wide ? p.resize : scaled;
  const double sx = double(resized_w) / double(image_width);
  const double sy = double(resized_h) / double(image_height);
  const auto top = static_cast<int64_t>(std::nearbyint(double(resized_h - p.crop) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint(double(resized_w - p.crop) / 2.0));
  auto clip = [&](double v) { return std::clamp<int64_t>(int64_t(v), 0, p.crop); };
  return {clip(std::floor(double(box.x0) * sx) - double(left)),
          clip(std::floor(double(box.y0) * sy) - double(top)),
          clip(std::ceil(double(box.x1) * sx) - double(left)),
          clip(std::ceil(double(box.y1) * sy) - double(top))};
}

}  // namespace saliency
