// Whole models compiled with the Halide backend equal the reference backend; the kernel
// cache reuses kernels in memory and on disk; autoschedulers; run-time errors.
#include <filesystem>

#include "backends/halide/halide_backend.h"
#include "examples/examples.h"
#include "ir/error.h"
#include "tests/helpers.h"

using namespace strata;
using Catch::Matchers::Contains;
namespace hb = strata::halide_backend;

TEST_CASE("example models: Halide CPU equals the reference at batch 1 and 3", "[executable]") {
  for (auto build : {examples::small_resnet, examples::lenet}) {
    dsl::Model m = build(10);
    for (int64_t batch : {1, 3}) {
      m.graph().set_batch_size(batch);
      testing::check_against_reference(m.graph(), "host", 11);
    }
  }
}

TEST_CASE("identical kernels compile once then a second compile loads them from disk", "[executable][cache]") {
  dsl::Model m = examples::small_resnet(10);
  runtime::Executable first(m.graph(), {});
  const auto& r1 = first.report();
  // -O2: bn-fold removes the batch norms, conv + ReLU (+ residual add) run as one kernel.
  CHECK(r1.kernels < static_cast<int>(m.graph().nodes().size()));
  CHECK(r1.fused_groups > 0);
  CHECK(r1.distinct_kernels < r1.kernels);  // ResNet repeats its blocks
  CHECK(r1.compiled + r1.loaded_from_disk == r1.distinct_kernels);
  hb::clear_memory_cache();
  runtime::Executable second(m.graph(), {});
  CHECK(second.report().compiled == 0);
  CHECK(second.report().loaded_from_disk == second.report().distinct_kernels);
  runtime::Executable third(m.graph(), {});
  CHECK(third.report().reused_in_memory == third.report().kernels);
}

TEST_CASE("layouts convert losslessly at the edges of the graph", "[executable][layout]") {
  HostTensor t = testing::random_tensor({2, 3, 4, 5}, 9);
  for (hb::Layout l : {hb::channels_last(), hb::row_major(4), hb::Layout{0, 3, 2, 1}}) {
    std::vector<float> buf(t.data.size());
    hb::to_layout(t, l, buf.data());
    HostTensor back({2, 3, 4, 5});
    hb::from_layout(buf.data(), l, back);
    CHECK(back.data == t.data);
  }
  std::vector<float> buf(t.data.size());
  hb::to_layout(t, hb::channels_last(), buf.data());
  CHECK(buf[1] == t.data[20]);  // channel 1 of pixel (0, 0) sits next to channel 0
}

TEST_CASE("autoschedulers compile kernels that match the reference", "[executable][autoschedule]") {
  dsl::Model m("auto");
  {
    using namespace dsl;
    Tensor x = m.input("x", {1, 8, 10, 10});
    m.output("y", relu(conv2d(x, 16, 3, {.padding = 1})));
  }
  for (const char* s : {"auto:Mullapudi2016", "auto:Adams2019", "auto:Li2018"}) {
    INFO("schedule " << s);
    testing::check_against_reference(m.graph(), "host", 5, -1, 1, s);
  }
}

TEST_CASE("bad options and inputs raise clear errors", "[executable][errors]") {
  dsl::Model m = examples::lenet(10);
  runtime::CompileOptions bad;
  bad.halide.target = "not-a-target";
  CHECK_THROWS_WITH(runtime::Executable(m.graph(), bad), Contains("bad Halide target 'not-a-target'"));
  bad.halide.target = "host";
  bad.halide.schedule = "auto:Nobody2030";
  CHECK_THROWS_WITH(runtime::Executable(m.graph(), bad), Contains("bad schedule"));
  runtime::Executable exe(m.graph(), {});
  CHECK_THROWS_WITH(exe.run({{"image", HostTensor({1, 1, 28, 28})}}), Contains("set_parameters"));
  exe.set_parameters(runtime::ParameterStore::initialize(m.graph(), 0));
  CHECK_THROWS_WITH(exe.run({{"image", HostTensor({1, 1, 27, 28})}}), Contains("[1, 1, 27, 28]") && Contains("expects"));
  CHECK_THROWS_WITH(exe.run({{"img", HostTensor({1, 1, 28, 28})}}), Contains("no input named 'img'"));
  CHECK_THROWS_WITH(runtime::backend_from_name("tpu"), Contains("unknown backend 'tpu'"));
}
