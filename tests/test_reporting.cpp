// SVG charts and the metrics log.
#include <filesystem>

#include "ir/error.h"
#include "runtime/file_util.h"
#include "runtime/metrics_log.h"
#include "runtime/plot.h"
#include "tests/helpers.h"

using namespace strata;
using namespace strata::runtime;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

static size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST_CASE("line charts draw one polyline per series with every point", "[plot]") {
  std::string svg = line_chart_svg("loss & accuracy", "epoch", "value",
                                   {{"loss", {1, 2, 3}, {2.3, 1.1, 0.7}}, {"accuracy", {1, 2, 3}, {0.4, 0.8, 0.9}}});
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK_THAT(svg, Contains("</svg>") && Contains("loss &amp; accuracy") && Contains(">accuracy<"));
  CHECK(count(svg, "<polyline") == 2);
  std::string first = svg.substr(svg.find("points=\"") + 8);
  first = first.substr(0, first.find('"'));
  CHECK(count(first, ",") == 3);
  CHECK_THROWS_WITH(line_chart_svg("t", "x", "y", {{"bad", {1, 2}, {1}}}), Contains("'bad'"));
}

TEST_CASE("bar charts draw one bar per group and series", "[plot]") {
  std::string svg = bar_chart_svg("fused vs unfused", "images/s", {"-O0", "-O2"},
                                  {{"resnet18", {10, 14}}, {"resnet50", {3, 4.5}}, {"small", {100, 180}}});
  CHECK(count(svg, "<rect x=") == 6 + 2);  // bars and legend swatches
  CHECK_THAT(svg, Contains("resnet50") && Contains("-O2: 180"));
  CHECK_THROWS_WITH(bar_chart_svg("t", "y", {"a"}, {{"g", {1, 2}}}), Contains("2 values for 1 series"));
  CHECK(count(svg, "whisker") == 0);
}

TEST_CASE("bar charts draw a whisker per bar where ranges are given and scale to them", "[plot]") {
  std::string svg = bar_chart_svg("spread", "images/s", {"run"}, {{"-O0", {27}, {{26, 28}}}, {"-O2", {36}, {{35, 300}}}});
  CHECK(count(svg, "class=\"whisker\"") == 2);
  CHECK_THAT(svg, Contains("run: 26 to 28") && Contains("run: 35 to 300"));
  CHECK_THAT(svg, Contains(">300<"));  // the axis reaches the highest whisker (36 alone: 40)
  CHECK_THROWS_WITH(bar_chart_svg("t", "y", {"a", "b"}, {{"g", {1, 2}, {{0, 1}}}}), Contains("1 ranges for 2 values"));
}

TEST_CASE("the metrics log appends rows in CSV and JSON lines and keeps earlier rows", "[metrics]") {
  fs::path dir = fs::temp_directory_path() / ("strata-metrics-" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    MetricsLog csv((dir / "m.csv").string());
    csv.append({{"epoch", 1}, {"loss", 0.5}});
    csv.append({{"epoch", 2}, {"loss", 0.25}});
    CHECK_THROWS_WITH(csv.append({{"epoch", 3}}), Contains("columns epoch,loss"));
  }
  MetricsLog again((dir / "m.csv").string());
  CHECK(again.rows() == 2);
  again.append({{"epoch", 3}, {"loss", 0.125}});
  CHECK(read_binary_file((dir / "m.csv").string(), "log") == "epoch,loss\n1,0.5\n2,0.25\n3,0.125\n");
  MetricsLog json((dir / "m.jsonl").string());
  json.append({{"epoch", 1}, {"loss", std::nan("")}});
  CHECK(read_binary_file((dir / "m.jsonl").string(), "log") == "{\"epoch\": 1, \"loss\": null}\n");
  CHECK_THROWS_WITH(MetricsLog((dir / "m.txt").string()), Contains(".csv or .jsonl"));
  fs::remove_all(dir);
}
