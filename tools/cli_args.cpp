#include "tools/cli_args.h"

#include <fmt/format.h>

#include <cstdio>

namespace strata::cli {

std::string help_text(const Command& cmd) {
  std::string pos;
  for (auto& p : cmd.positionals) pos += " " + p;
  std::string out = fmt::format("usage: strata {}{}{}\n\n{}\n", cmd.name, pos, cmd.flags.empty() ? "" : " [flags]", cmd.summary);
  if (!cmd.flags.empty()) out += "\nflags:\n";
  for (const Flag& f : cmd.flags) {
    std::string left = "--" + f.name + (f.value_name.empty() ? "" : " " + f.value_name);
    std::string dflt = f.default_value.empty() ? "" : fmt::format(" (default: {})", f.default_value);
    out += fmt::format("  {:<28} {}{}\n", left, f.help, dflt);
  }
  out += fmt::format("  {:<28} {}\n", "--help", "show this help");
  return out;
}

std::optional<Args> Args::parse(const Command& cmd, const std::vector<std::string>& argv) {
  Args a;
  a.cmd_ = &cmd;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s == "--help" || s == "-h") {
      std::fputs(cli::help_text(cmd).c_str(), stdout);
      return std::nullopt;
    }
    if (s.rfind("--", 0) == 0) {
      std::string name = s.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      const Flag* f = nullptr;
      for (const Flag& c : cmd.flags)
        if (c.name == name) f = &c;
      if (!f) throw UsageError(fmt::format("strata {}: unknown flag '--{}' (see strata {} --help)", cmd.name, name, cmd.name));
      if (f->value_name.empty()) {
        if (inline_value) throw UsageError(fmt::format("strata {}: --{} takes no value", cmd.name, name));
        value = "1";
      } else if (!inline_value) {
        if (i + 1 >= argv.size())
          throw UsageError(fmt::format("strata {}: --{} needs a value ({})", cmd.name, name, f->value_name));
        value = argv[++i];
      }
      a.values_[name] = value;
    } else {
      a.positionals_.push_back(s);
    }
  }
  if (a.positionals_.size() < cmd.positionals.size())
    throw UsageError(fmt::format("strata {}: missing {} (see strata {} --help)", cmd.name,
                                 cmd.positionals[a.positionals_.size()], cmd.name));
  if (a.positionals_.size() > cmd.positionals.size())
    throw UsageError(fmt::format("strata {}: unexpected argument '{}'", cmd.name, a.positionals_[cmd.positionals.size()]));
  return a;
}

std::string Args::help_text() const { return cli::help_text(*cmd_); }

std::string Args::get(const std::string& flag) const {
  if (auto it = values_.find(flag); it != values_.end()) return it->second;
  for (const Flag& f : cmd_->flags)
    if (f.name == flag) return f.default_value;
  return "";
}

int64_t Args::get_int(const std::string& flag, int64_t min, int64_t max) const {
  std::string v = get(flag);
  try {
    size_t used = 0;
    int64_t x = std::stoll(v, &used);
    if (used != v.size() || x < min || x > max) throw std::out_of_range("");
    return x;
  } catch (const std::exception&) {
    throw UsageError(fmt::format("strata {}: --{} must be an integer in [{}, {}], got '{}'", cmd_->name, flag, min, max, v));
  }
}

double Args::get_double(const std::string& flag, double min, double max) const {
  std::string v = get(flag);
  try {
    size_t used = 0;
    double x = std::stod(v, &used);
    if (used != v.size() || !(x >= min && x <= max)) throw std::out_of_range("");
    return x;
  } catch (const std::exception&) {
    throw UsageError(fmt::format("strata {}: --{} must be a number in [{}, {}], got '{}'", cmd_->name, flag, min, max, v));
  }
}

}  // namespace strata::cli
