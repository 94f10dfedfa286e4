#pragma once
// Self-contained SVG charts (no plotting library): line charts for training curves and
// grouped bar charts for benchmark comparisons.
#include <string>
#include <utility>
#include <vector>

namespace strata::runtime {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series);

// groups[i] holds one value per series (series_names), drawn side by side; `ranges`, when
// given (one per value), are drawn as whiskers over the bars (a benchmark's middle half).
struct BarGroup {
  std::string label;
  std::vector<double> values;
  std::vector<std::pair<double, double>> ranges = {};
};
std::string bar_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& series_names,
                          const std::vector<BarGroup>& groups);

}  // namespace strata::runtime
