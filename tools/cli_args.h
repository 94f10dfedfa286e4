#pragma once
// A small flag parser for the strata subcommands: --flag VALUE or --flag=VALUE, boolean
// switches, positional arguments, and --help text generated from the flag table.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::cli {

// Bad command-line use: reported in one line, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Flag {
  std::string name;  // without the leading "--"
  std::string value_name;  // empty for a switch
  std::string help;
  std::string default_value;
};

struct Command {
  std::string name;
  std::string summary;
  std::vector<std::string> positionals;  // required, in order
  std::vector<Flag> flags;
};

class Args {
 public:
  // Returns nullopt when --help was asked for (the help text has been printed).
  static std::optional<Args> parse(const Command& cmd, const std::vector<std::string>& argv);
  std::string help_text() const;

  const std::string& positional(size_t i) const { return positionals_.at(i); }
  bool has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string get(const std::string& flag) const;  // value or default
  int64_t get_int(const std::string& flag, int64_t min, int64_t max) const;
  double get_double(const std::string& flag, double min, double max) const;

 private:
  const Command* cmd_ = nullptr;
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
};

std::string help_text(const Command& cmd);

}  // namespace strata::cli
