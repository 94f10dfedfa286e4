// fuse-optimizer: SGD with momentum updates each parameter with two kernels that both read
// the gradient: b' = mu * b + g (result 1) and p' = p - lr * (mu * b + g) (result 0). The
// second equals plain SGD on b', p' = p - lr * b', the same float operations on the same
// b' value. Rewritten so, the gradient has one reader, the momentum update, which
// fuse-elementwise then computes as the epilogue of the kernel making the gradient (the
// convolution's weight gradient): the gradient is never stored and read back twice. Both
// updates move next to that kernel, so it still runs where autodiff put it.
// Plain SGD needs no rewrite: its one update already reads the gradient alone.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "ir/fusion_group.h"
#include "passes/pass_manager.h"
#include "passes/rewriter.h"

namespace strata::passes {

ir::Graph fuse_optimizer(const ir::Graph& g, const PassContext&) {
  // Parameter updates (result 0) of momentum SGD whose momentum update (result 1) exists:
  // same parameter, gradient, hyper-parameters, state and attributes.
  std::map<const ir::Node*, const ir::Node*> momentum_of;
  for (const auto& n : g.nodes()) {
    if (n->op != "optimizer_update" || n->attr_string("optimizer") != "momentum" || n->attr_int("result") != 0 ||
        n->inputs.size() != 4 || ir::group_of(*n) >= 0)
      continue;
    for (const ir::Node* u : n->inputs[1]->users) {
      if (u == n.get() || u->op != "optimizer_update" || u->attr_int("result") != 1 || u->inputs != n->inputs)
        continue;
      ir::AttrMap a = u->attrs, b = n->attrs;
      a.erase("result");
      b.erase("result");
      if (a == b) momentum_of[n.get()] = u;
    }
  }
  if (momentum_of.empty()) return ir::clone(g);
  // Both updates move to just after the node computing the gradient (their other inputs are
  // parameters and the hyper input): fused there, the gradient kernel no longer waits for
  // the end of the step, keeping the activations it reads alive until then.
  std::map<const ir::Node*, std::vector<const ir::Node*>> after;  // node -> parameter updates emitted after it
  std::set<const ir::Node*> moved;                                 // source nodes emitted elsewhere
  for (const auto& up : g.nodes()) {  // in node order, so the output order is deterministic
    auto pb = momentum_of.find(up.get());
    if (pb == momentum_of.end()) continue;
    auto [p, b] = *pb;
    const ir::Node* producer = p->inputs[1]->producer;
    bool move = producer && ir::group_of(*producer) < 0;
    after[move ? producer : b].push_back(p);
    moved.insert(p);
    if (move) moved.insert(b);
  }
  Rewriter rw(g);
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    if (!moved.count(&n)) rw.copy(n);
    auto it = after.find(&n);
    if (it == after.end()) continue;
    for (const ir::Node* p : it->second) {
      const ir::Node& b = *momentum_of.at(p);
      if (moved.count(&b)) rw.copy(b);
      ir::AttrMap a{{"optimizer", std::string("sgd")}, {"result", int64_t{0}}};
      rw.emit_for(*p, "optimizer_update", {rw(p->inputs[0]), rw(b.outputs[0]), rw(p->inputs[2])}, a);
    }
  }
  return rw.finish();
}

}  // namespace strata::passes
