// Recursive-descent parser for the text form (docs/ir_text_format.md).
#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <limits>

#include "ir/error.h"
#include "ir/op_registry.h"
#include "ir/text_format.h"
#include "ir/verifier.h"

namespace strata::ir {
namespace {

enum class Tok { Ident, Percent, String, Int, Float, Punct, End };

struct Token {
  Tok kind;
  std::string text;
  int line, col;
};

class Lexer {
 public:
  Lexer(const std::string& s, std::string src) : s_(s), src_(std::move(src)) {}

  Token next() {
    skip();
    Token t{Tok::End, "", line_, col_};
    if (i_ >= s_.size()) return t;
    char c = s_[i_];
    auto is_name = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-' || ch == '/' || ch == ':'; };
    if (c == '%') {
      adv();
      t.kind = Tok::Percent;
      while (i_ < s_.size() && is_name(s_[i_])) t.text += adv();
      if (t.text.empty()) fail(t, "expected a value name after '%'");
    } else if (c == '"') {
      adv();
      t.kind = Tok::String;
      while (true) {
        if (i_ >= s_.size() || s_[i_] == '\n') fail(t, "unterminated string");
        char ch = adv();
        if (ch == '"') break;
        if (ch == '\\') {
          if (i_ >= s_.size()) fail(t, "unterminated string");
          ch = adv();
        }
        t.text += ch;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' ||
               (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
      t.kind = Tok::Int;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                                s_[i_] == '-' || s_[i_] == '+')) {
        char ch = s_[i_];
        if ((ch == '-' || ch == '+') && !t.text.empty() && t.text.back() != 'e' && t.text.back() != 'E') break;
        t.text += adv();
      }
      if (t.text.find_first_of(".eEin") != std::string::npos) t.kind = Tok::Float;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      t.kind = Tok::Ident;
      while (i_ < s_.size() && is_name(s_[i_])) t.text += adv();
    } else if (std::string("{}()[],:=").find(c) != std::string::npos) {
      t.kind = Tok::Punct;
      t.text = std::string(1, adv());
    } else {
      fail(t, fmt::format("unexpected character '{}'", c));
    }
    return t;
  }

  [[noreturn]] void fail(const Token& t, const std::string& msg) const {
    throw Error(fmt::format("{}:{}:{}: {}", src_, t.line, t.col, msg));
  }

 private:
  char adv() {
    char c = s_[i_++];
    if (c == '\n') ++line_, col_ = 1;
    else ++col_;
    return c;
  }
  void skip() {
    while (i_ < s_.size()) {
      if (std::isspace(static_cast<unsigned char>(s_[i_]))) adv();
      else if (s_[i_] == '#') while (i_ < s_.size() && s_[i_] != '\n') adv();
      else break;
    }
  }
  const std::string& s_;
  std::string src_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& src) : lex_(text, src) { tok_ = lex_.next(); }

  Graph parse_graph() {
    expect_ident("graph");
    Graph g(name_token("a graph name"));
    expect("{");
    while (!is("}")) {
      if (tok_.kind == Tok::End) fail("unexpected end of text: missing '}'");
      statement(g);
    }
    expect("}");
    if (tok_.kind != Tok::End) fail(fmt::format("unexpected '{}' after the graph", tok_.text));
    return g;
  }

 private:
  bool is(const char* p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  [[noreturn]] void fail(const std::string& msg) const { lex_.fail(tok_, msg); }
  Token take() {
    Token t = tok_;
    tok_ = lex_.next();
    return t;
  }
  void expect(const char* p) {
    if (!is(p)) fail(fmt::format("expected '{}', found '{}'", p, tok_.text));
    take();
  }
  void expect_ident(const char* w) {
    if (tok_.kind != Tok::Ident || tok_.text != w) fail(fmt::format("expected '{}', found '{}'", w, tok_.text));
    take();
  }
  std::string name_token(const char* what) {
    if (tok_.kind != Tok::Ident) fail(fmt::format("expected {}, found '{}'", what, tok_.text));
    return take().text;
  }
  std::string value_name() {
    if (tok_.kind != Tok::Percent) fail(fmt::format("expected a %value, found '{}'", tok_.text));
    return take().text;
  }
  Value* use(Graph& g, const Token& at) {
    Value* v = g.find_value(at.text);
    if (!v) lex_.fail(at, fmt::format("%{} is not defined (values must be defined before use)", at.text));
    return v;
  }

  int64_t int_value() {
    if (tok_.kind != Tok::Int) fail(fmt::format("expected an integer, found '{}'", tok_.text));
    Token t = take();
    try {
      size_t used = 0;
      int64_t v = std::stoll(t.text, &used);
      if (used != t.text.size()) throw std::invalid_argument("");
      return v;
    } catch (const std::exception&) {
      lex_.fail(t, fmt::format("bad integer '{}'", t.text));
    }
  }

  static bool float_text(const std::string& s, double& out) {
    if (s == "inf") return out = std::numeric_limits<double>::infinity(), true;
    if (s == "-inf") return out = -std::numeric_limits<double>::infinity(), true;
    if (s == "nan") return out = std::numeric_limits<double>::quiet_NaN(), true;
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return end && *end == '\0' && !s.empty();
  }

  Attr attr_value() {
    if (tok_.kind == Tok::String) return take().text;
    if (tok_.kind == Tok::Int) return int_value();
    if (tok_.kind == Tok::Float || (tok_.kind == Tok::Ident && (tok_.text == "inf" || tok_.text == "nan"))) {
      Token t = take();
      double v;
      if (!float_text(t.text, v)) lex_.fail(t, fmt::format("bad number '{}'", t.text));
      return v;
    }
    if (is("[")) {
      take();
      std::vector<Token> items;
      bool any_float = false;
      while (!is("]")) {
        if (!items.empty()) expect(",");
        if (tok_.kind != Tok::Int && tok_.kind != Tok::Float && !(tok_.kind == Tok::Ident && (tok_.text == "inf" || tok_.text == "nan")))
          fail(fmt::format("expected a number in the list, found '{}'", tok_.text));
        any_float |= tok_.kind != Tok::Int;
        items.push_back(take());
      }
      take();
      if (!any_float) {
        std::vector<int64_t> v;
        for (auto& t : items) v.push_back(std::stoll(t.text));
        return v;
      }
      std::vector<double> v;
      for (auto& t : items) {
        double d;
        if (!float_text(t.text, d)) lex_.fail(t, fmt::format("bad number '{}'", t.text));
        v.push_back(d);
      }
      return v;
    }
    fail(fmt::format("expected an attribute value, found '{}'", tok_.text));
  }

  AttrMap attr_map() {
    AttrMap m;
    if (!is("{")) return m;
    take();
    while (!is("}")) {
      if (!m.empty()) expect(",");
      Token key = tok_;
      std::string k = name_token("an attribute name");
      expect("=");
      if (m.count(k)) lex_.fail(key, fmt::format("attribute '{}' given twice", k));
      m[k] = attr_value();
    }
    take();
    return m;
  }

  TensorType tensor_type() {
    Token t = tok_;
    std::string dt = name_token("a type such as f32[1, 3]");
    TensorType type;
    try {
      type.dtype = dtype_from_name(dt);
    } catch (const Error& e) {
      lex_.fail(t, e.what());
    }
    expect("[");
    while (!is("]")) {
      if (!type.shape.empty()) expect(",");
      type.shape.push_back(int_value());
    }
    take();
    return type;
  }

  void statement(Graph& g) {
    Token at = tok_;
    try {
      if (tok_.kind == Tok::Ident && tok_.text == "input") {
        take();
        std::string n = value_name();
        expect(":");
        g.add_input(n, tensor_type());
      } else if (tok_.kind == Tok::Ident && tok_.text == "param") {
        take();
        std::string n = value_name();
        expect(":");
        TensorType t = tensor_type();
        bool trainable = true;
        if (tok_.kind == Tok::Ident && tok_.text == "frozen") take(), trainable = false;
        expect_ident("init");
        InitSpec init;
        init.name = name_token("an initializer name");
        init.args = attr_map();
        g.add_parameter(n, t, init, trainable);
      } else if (tok_.kind == Tok::Ident && tok_.text == "const") {
        take();
        std::string n = value_name();
        expect(":");
        TensorType t = tensor_type();
        expect("=");
        Attr data = attr_value();
        std::vector<float> d;
        if (auto* iv = std::get_if<std::vector<int64_t>>(&data)) d.assign(iv->begin(), iv->end());
        else if (auto* fv = std::get_if<std::vector<double>>(&data)) d.assign(fv->begin(), fv->end());
        else lex_.fail(at, "a constant's value must be a list of numbers");
        if (static_cast<int64_t>(d.size()) != t.numel())
          lex_.fail(at, fmt::format("constant %{} of type {} needs {} values, got {}", n, t.str(), t.numel(), d.size()));
        g.add_constant(n, HostTensor(t.shape, std::move(d)));
      } else if (tok_.kind == Tok::Ident && tok_.text == "output") {
        take();
        if (tok_.kind != Tok::String) fail("expected the output's name as a string");
        std::string n = take().text;
        expect("=");
        Token v = tok_;
        value_name();
        g.add_output(n, use(g, v));
      } else if (tok_.kind == Tok::Percent) {
        std::vector<std::string> outs{value_name()};
        while (is(",")) take(), outs.push_back(value_name());
        expect("=");
        Token opt = tok_;
        std::string op = name_token("an op name");
        if (!is_op(op)) lex_.fail(opt, fmt::format("unknown op '{}'", op));
        expect("(");
        std::vector<Value*> ins;
        while (!is(")")) {
          if (!ins.empty()) expect(",");
          Token v = tok_;
          value_name();
          ins.push_back(use(g, v));
        }
        take();
        AttrMap attrs = attr_map();
        expect(":");
        std::vector<std::pair<std::string, TensorType>> typed;
        for (size_t i = 0; i < outs.size(); ++i) {
          if (i) expect(",");
          typed.emplace_back(outs[i], tensor_type());
        }
        g.add_node_typed(op, ins, attrs, typed);
      } else {
        fail(fmt::format("expected input, param, const, output or '%name = op(...)', found '{}'", tok_.text));
      }
    } catch (const Error& e) {
      std::string what = e.what();
      if (what.find(':') != std::string::npos && std::isdigit(static_cast<unsigned char>(what[what.find(':') + 1]))) throw;
      lex_.fail(at, what);
    }
  }

  Lexer lex_;
  Token tok_;
};

}  // namespace

Graph parse(const std::string& text, const std::string& source_name) {
  Parser p(text, source_name);
  Graph g = p.parse_graph();
  verify(g, source_name);
  return g;
}

}  // namespace strata::ir
