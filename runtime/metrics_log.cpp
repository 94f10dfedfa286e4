#include "runtime/metrics_log.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "ir/error.h"
#include "runtime/file_util.h"

namespace strata::runtime {

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {
  if (path_.ends_with(".csv")) csv_ = true;
  else if (path_.ends_with(".jsonl") || path_.ends_with(".json")) csv_ = false;
  else throw Error(fmt::format("metrics log '{}': use a .csv or .jsonl file name", path_));
  if (!std::filesystem::exists(path_)) return;
  text_ = read_binary_file(path_, "metrics log");
  if (!text_.empty() && text_.back() != '\n') text_ += '\n';
  std::istringstream in(text_);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (csv_ && first) {
      std::istringstream cols(line);
      std::string c;
      while (std::getline(cols, c, ',')) columns_.push_back(c);
    } else {
      ++rows_;
    }
    first = false;
  }
}

static std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return fmt::format("{:.9g}", v);
}

void MetricsLog::append(const std::vector<std::pair<std::string, double>>& row) {
  if (csv_) {
    std::vector<std::string> names;
    for (auto& [k, v] : row) names.push_back(k);
    if (columns_.empty()) {
      columns_ = names;
      text_ += fmt::format("{}\n", fmt::join(columns_, ","));
    } else if (names != columns_) {
      throw Error(fmt::format("metrics log '{}' has columns {} but the new row has {}", path_, fmt::join(columns_, ","),
                              fmt::join(names, ",")));
    }
    std::vector<std::string> vals;
    for (auto& [k, v] : row) vals.push_back(number(v));
    text_ += fmt::format("{}\n", fmt::join(vals, ","));
  } else {
    std::vector<std::string> kv;
    // JSON has no NaN or Infinity: they are written as null.
    for (auto& [k, v] : row) kv.push_back(fmt::format("\"{}\": {}", k, std::isfinite(v) ? number(v) : "null"));
    text_ += fmt::format("{{{}}}\n", fmt::join(kv, ", "));
  }
  write_file_atomic(path_, text_, "metrics log");
  ++rows_;
}

}  // namespace strata::runtime
