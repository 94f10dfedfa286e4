#pragma once
// Per-epoch metrics appended to a CSV or JSON-lines file (chosen by the extension: .csv or
// .jsonl). Each append rewrites the file through a temporary and a rename, so a crash never
// leaves half a line.
#include <map>
#include <string>
#include <vector>

namespace strata::runtime {

class MetricsLog {
 public:
  explicit MetricsLog(std::string path);  // keeps the rows already in the file
  void append(const std::vector<std::pair<std::string, double>>& row);
  const std::string& path() const { return path_; }
  size_t rows() const { return rows_; }

 private:
  std::string path_;
  bool csv_;
  std::vector<std::string> columns_;
  std::string text_;
  size_t rows_ = 0;
};

}  // namespace strata::runtime
