#include "runtime/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ir/error.h"

namespace strata::runtime {

namespace {

constexpr double kW = 720, kH = 420, kLeft = 70, kRight = 160, kTop = 40, kBottom = 50;
const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A "nice" step (1, 2 or 5 times a power of ten) giving about five ticks.
double nice_step(double span) {
  if (!(span > 0)) return 1;
  double raw = span / 5, mag = std::pow(10, std::floor(std::log10(raw))), r = raw / mag;
  return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

struct Axis {
  double lo, hi;
  double map(double v, double a, double b) const { return a + (v - lo) / (hi - lo) * (b - a); }
};

Axis make_axis(double lo, double hi, bool from_zero) {
  if (from_zero) lo = std::min(lo, 0.0);
  if (!(hi > lo)) hi = lo + 1;
  double step = nice_step(hi - lo);
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step};
}

std::string header(const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" "
      "font-size=\"15\">{}</text>\n",
      kW, kH, kW, kH, (kLeft + kW - kRight) / 2, escape(title));
}

std::string y_axis(const Axis& y, const std::string& label) {
  std::string s;
  double step = nice_step(y.hi - y.lo);
  for (double v = y.lo; v <= y.hi + step * 1e-6; v += step) {
    double py = y.map(v, kH - kBottom, kTop);
    s += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", kLeft, kW - kRight, py, py);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", kLeft - 6, py + 4, v);
  }
  s += fmt::format("<text transform=\"translate(18 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n", (kTop + kH - kBottom) / 2,
                   escape(label));
  return s;
}

std::string legend(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    double y = kTop + 10 + 20 * static_cast<double>(i);
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", kW - kRight + 14, y - 10, kColors[i % 8]);
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", kW - kRight + 32, y, escape(names[i]));
  }
  return s;
}

}  // namespace

std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series) {
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const Series& s : series) {
    if (s.x.size() != s.y.size()) throw Error(fmt::format("plot series '{}': {} x values but {} y values", s.name, s.x.size(), s.y.size()));
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  }
  if (xlo > xhi) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  Axis x = make_axis(xlo, xhi, false), y = make_axis(ylo, yhi, false);
  std::string svg = header(title) + y_axis(y, y_label);
  double step = nice_step(x.hi - x.lo);
  for (double v = x.lo; v <= x.hi + step * 1e-6; v += step) {
    double px = x.map(v, kLeft, kW - kRight);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>\n", px, kH - kBottom + 16, v);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (kLeft + kW - kRight) / 2, kH - 10, escape(x_label));
  std::vector<std::string> names;
  for (size_t i = 0; i < series.size(); ++i) {
    std::string pts;
    for (size_t k = 0; k < series[i].x.size(); ++k)
      if (std::isfinite(series[i].x[k]) && std::isfinite(series[i].y[k]))
        pts += fmt::format("{:.1f},{:.1f} ", x.map(series[i].x[k], kLeft, kW - kRight), y.map(series[i].y[k], kH - kBottom, kTop));
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", kColors[i % 8], pts);
    names.push_back(series[i].name);
  }
  return svg + legend(names) + "</svg>\n";
}

std::string bar_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& series_names,
                          const std::vector<BarGroup>& groups) {
  double yhi = 0;
  for (const BarGroup& g : groups) {
    if (g.values.size() != series_names.size())
      throw Error(fmt::format("bar chart group '{}': {} values for {} series", g.label, g.values.size(), series_names.size()));
    if (!g.ranges.empty() && g.ranges.size() != g.values.size())
      throw Error(fmt::format("bar chart group '{}': {} ranges for {} values", g.label, g.ranges.size(), g.values.size()));
    for (double v : g.values)
      if (std::isfinite(v)) yhi = std::max(yhi, v);
    for (auto [lo, hi] : g.ranges)
      if (std::isfinite(hi)) yhi = std::max(yhi, hi);
  }
  Axis y = make_axis(0, yhi, true);
  std::string svg = header(title) + y_axis(y, y_label);
  double slot = (kW - kRight - kLeft) / std::max<double>(1, static_cast<double>(groups.size()));
  double bar = slot * 0.8 / std::max<double>(1, static_cast<double>(series_names.size()));
  for (size_t g = 0; g < groups.size(); ++g) {
    double x0 = kLeft + slot * static_cast<double>(g) + slot * 0.1;
    for (size_t s = 0; s < series_names.size(); ++s) {
      double v = std::isfinite(groups[g].values[s]) ? groups[g].values[s] : 0;
      double top = y.map(v, kH - kBottom, kTop);
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}: {:g}</title></rect>\n",
                         x0 + bar * static_cast<double>(s), top, bar * 0.95, kH - kBottom - top, kColors[s % 8],
                         escape(series_names[s]), v);
      if (!groups[g].ranges.empty()) {
        auto [lo, hi] = groups[g].ranges[s];
        if (!std::isfinite(lo) || !std::isfinite(hi)) continue;
        double cx = x0 + bar * static_cast<double>(s) + bar * 0.475, ylo = y.map(lo, kH - kBottom, kTop),
               yhi_px = y.map(hi, kH - kBottom, kTop), cap = bar * 0.15;
        svg += fmt::format("<path class=\"whisker\" d=\"M{0:.1f},{1:.1f}V{2:.1f}M{3:.1f},{1:.1f}H{4:.1f}M{3:.1f},{2:.1f}H{4:.1f}\" "
                           "stroke=\"#222\" fill=\"none\"><title>{5}: {6:g} to {7:g}</title></path>\n",
                           cx, ylo, yhi_px, cx - cap, cx + cap, escape(series_names[s]), lo, hi);
      }
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x0 + slot * 0.4, kH - kBottom + 16,
                       escape(groups[g].label));
  }
  return svg + legend(series_names) + "</svg>\n";
}

}  // namespace strata::runtime
