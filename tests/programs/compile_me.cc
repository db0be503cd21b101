// The g++ workload of run-program-test: this file is compiled, never run or linked. It exists to
// make cc1plus allocate a great deal (parse trees, template instantiations of the standard
// library's <regex>, <map> and <iostream>, optimisation passes at -O2, debug info at -g) so that a
// compiler running on the allocator under test must produce the very same object file, byte for
// byte, as one running on glibc malloc. GCC's output does not depend on where its data sits in
// memory (reproducible builds rely on that), so any difference is the allocator's fault.
//
// It compiles with exactly one warning, on purpose: the sign comparison in count_below() is
// reported with its template-instantiation context, so the compiler's diagnostic path (which
// builds and frees many strings) runs too and its stderr is compared between the two runs.
// Keep it that way: a second warning is harmless, but no warning at all would leave stderr empty.

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace workload {

// ---- a small expression language: tokens by regex, a recursive-descent parser, an evaluator ----

enum class TokenKind { number, identifier, op, lparen, rparen, end };

struct Token {
  TokenKind kind;
  std::string text;
};

std::vector<Token> tokenize(const std::string& source) {
  static const std::regex token_re(
      R"(\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)|(\*\*|[-+*/%^<>=!]=?|&&|\|\|)|(\()|(\))))");
  std::vector<Token> tokens;
  auto begin = std::sregex_iterator(source.begin(), source.end(), token_re);
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    if (m[1].matched) tokens.push_back({TokenKind::number, m[1].str()});
    else if (m[2].matched) tokens.push_back({TokenKind::identifier, m[2].str()});
    else if (m[3].matched) tokens.push_back({TokenKind::op, m[3].str()});
    else if (m[4].matched) tokens.push_back({TokenKind::lparen, "("});
    else tokens.push_back({TokenKind::rparen, ")"});
  }
  tokens.push_back({TokenKind::end, ""});
  return tokens;
}

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Number { double value; };
struct Variable { std::string name; };
struct Binary { std::string op; ExprPtr lhs, rhs; };
struct Call { std::string function; std::vector<ExprPtr> args; };

struct Expr {
  std::variant<Number, Variable, Binary, Call> node;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  ExprPtr parse() {
    ExprPtr e = binary(0);
    if (peek().kind != TokenKind::end) throw std::runtime_error("trailing input: " + peek().text);
    return e;
  }

 private:
  static int precedence(const std::string& op) {
    static const std::map<std::string, int> table = {
        {"||", 1}, {"&&", 2}, {"==", 3}, {"!=", 3}, {"<", 4}, {"<=", 4}, {">", 4}, {">=", 4},
        {"+", 5},  {"-", 5},  {"*", 6},  {"/", 6},  {"%", 6}, {"**", 7}, {"^", 7}};
    auto it = table.find(op);
    return it == table.end() ? -1 : it->second;
  }

  const Token& peek() const { return tokens_[pos_]; }
  Token take() { return tokens_[pos_++]; }

  ExprPtr binary(int min_prec) {
    ExprPtr lhs = primary();
    while (peek().kind == TokenKind::op && precedence(peek().text) > min_prec) {
      std::string op = take().text;
      int prec = precedence(op);
      bool right_assoc = op == "**" || op == "^";
      ExprPtr rhs = binary(right_assoc ? prec - 1 : prec);
      lhs = std::make_unique<Expr>(Expr{Binary{op, std::move(lhs), std::move(rhs)}});
    }
    return lhs;
  }

  ExprPtr primary() {
    Token t = take();
    switch (t.kind) {
      case TokenKind::number: return std::make_unique<Expr>(Expr{Number{std::stod(t.text)}});
      case TokenKind::identifier:
        if (peek().kind == TokenKind::lparen) {
          take();
          Call call{t.text, {}};
          while (peek().kind != TokenKind::rparen) call.args.push_back(binary(0));
          take();
          return std::make_unique<Expr>(Expr{std::move(call)});
        }
        return std::make_unique<Expr>(Expr{Variable{t.text}});
      case TokenKind::lparen: {
        ExprPtr inner = binary(0);
        if (take().kind != TokenKind::rparen) throw std::runtime_error("missing )");
        return inner;
      }
      default: throw std::runtime_error("unexpected token: " + t.text);
    }
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

template <class... Ts> struct overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> overloaded(Ts...) -> overloaded<Ts...>;

class Evaluator {
 public:
  void set(const std::string& name, double value) { variables_[name] = value; }

  double eval(const Expr& e) const {
    return std::visit(overloaded{
        [](const Number& n) { return n.value; },
        [this](const Variable& v) {
          auto it = variables_.find(v.name);
          if (it == variables_.end()) throw std::out_of_range("unknown variable " + v.name);
          return it->second;
        },
        [this](const Binary& b) { return apply(b.op, eval(*b.lhs), eval(*b.rhs)); },
        [this](const Call& c) {
          std::vector<double> args;
          std::ranges::transform(c.args, std::back_inserter(args),
                                 [this](const ExprPtr& a) { return eval(*a); });
          return call(c.function, args);
        }}, e.node);
  }

 private:
  static double apply(const std::string& op, double a, double b) {
    static const std::unordered_map<std::string, std::function<double(double, double)>> ops = {
        {"+", std::plus<>{}}, {"-", std::minus<>{}}, {"*", std::multiplies<>{}},
        {"/", std::divides<>{}}, {"%", [](double x, double y) { return std::fmod(x, y); }},
        {"**", [](double x, double y) { return std::pow(x, y); }},
        {"^", [](double x, double y) { return std::pow(x, y); }},
        {"<", [](double x, double y) { return double(x < y); }},
        {"<=", [](double x, double y) { return double(x <= y); }},
        {">", [](double x, double y) { return double(x > y); }},
        {">=", [](double x, double y) { return double(x >= y); }},
        {"==", [](double x, double y) { return double(x == y); }},
        {"!=", [](double x, double y) { return double(x != y); }},
        {"&&", [](double x, double y) { return double(x != 0 && y != 0); }},
        {"||", [](double x, double y) { return double(x != 0 || y != 0); }}};
    return ops.at(op)(a, b);
  }

  static double call(const std::string& f, const std::vector<double>& args) {
    if (f == "max") return *std::ranges::max_element(args);
    if (f == "min") return *std::ranges::min_element(args);
    if (f == "sum") return std::accumulate(args.begin(), args.end(), 0.0);
    if (f == "sqrt" && args.size() == 1) return std::sqrt(args[0]);
    throw std::invalid_argument("unknown function " + f);
  }

  std::map<std::string, double> variables_;
};

// ---- generic containers and algorithms: enough templates to keep the instantiator busy ----

template <class T>
concept Arithmetic = std::integral<T> || std::floating_point<T>;

template <Arithmetic T, std::size_t R, std::size_t C>
class Matrix {
 public:
  constexpr Matrix() = default;
  constexpr T& operator()(std::size_t r, std::size_t c) { return cells_[r * C + c]; }
  constexpr const T& operator()(std::size_t r, std::size_t c) const { return cells_[r * C + c]; }

  template <std::size_t K>
  constexpr Matrix<T, R, K> operator*(const Matrix<T, C, K>& other) const {
    Matrix<T, R, K> out;
    for (std::size_t i = 0; i < R; ++i)
      for (std::size_t j = 0; j < K; ++j) {
        T acc{};
        for (std::size_t k = 0; k < C; ++k) acc += (*this)(i, k) * other(k, j);
        out(i, j) = acc;
      }
    return out;
  }

  constexpr T trace() const requires(R == C) {
    T t{};
    for (std::size_t i = 0; i < R; ++i) t += (*this)(i, i);
    return t;
  }

 private:
  std::array<T, R * C> cells_{};
};

template <Arithmetic T, std::size_t N>
constexpr Matrix<T, N, N> identity() {
  Matrix<T, N, N> m;
  for (std::size_t i = 0; i < N; ++i) m(i, i) = T{1};
  return m;
}

static_assert((identity<int, 4>() * identity<int, 4>()).trace() == 4);

template <class Derived>
struct Printable {
  std::string to_string() const {
    std::ostringstream out;
    static_cast<const Derived&>(*this).print(out);
    return out.str();
  }
};

struct Item : Printable<Item> {
  std::string name;
  int quantity = 0;
  double price = 0;
  void print(std::ostream& out) const {
    out << std::left << std::setw(16) << name << std::right << std::setw(6) << quantity
        << std::fixed << std::setprecision(2) << std::setw(10) << price;
  }
};

template <class Key, class Value, class Compare = std::less<Key>>
class Inventory {
 public:
  void add(const Key& key, Value value) { items_.insert_or_assign(key, std::move(value)); }

  template <class Pred>
  std::vector<Key> keys_where(Pred pred) const {
    std::vector<Key> keys;
    for (const auto& [k, v] : items_)
      if (pred(v)) keys.push_back(k);
    return keys;
  }

  template <class Projection>
  auto total(Projection proj) const {
    using R = std::remove_cvref_t<std::invoke_result_t<Projection, const Value&>>;
    R sum{};
    for (const auto& kv : items_) sum += std::invoke(proj, kv.second);
    return sum;
  }

  std::size_t size() const { return items_.size(); }

 private:
  std::map<Key, Value, Compare> items_;
};

template <class Container, class T>
int count_below(const Container& values, T limit) {
  int n = 0;
  for (int i = 0; i < values.size(); ++i)  // the intended -Wsign-compare warning, see the top
    if (values[i] < limit) ++n;
  return n;
}

template <std::size_t... Is>
constexpr auto squares(std::index_sequence<Is...>) {
  return std::array<std::uint64_t, sizeof...(Is)>{(Is * Is)...};
}

constexpr auto kSquares = squares(std::make_index_sequence<64>{});
static_assert(kSquares[63] == 3969);

template <class... Args>
std::string join(std::string_view sep, const Args&... args) {
  std::ostringstream out;
  std::size_t i = 0;
  ((out << (i++ ? sep : std::string_view{}) << args), ...);
  return out.str();
}

// ---- a log analyser: regex over lines, maps of maps, sorted reports ----

struct LogSummary {
  std::map<std::string, std::map<int, int>> status_by_path;
  std::set<std::string> clients;
  std::optional<std::string> slowest;
  double slowest_ms = 0;
};

LogSummary analyse(std::istream& in) {
  static const std::regex line_re(
      R"re(^(\d+\.\d+\.\d+\.\d+) \[([^\]]+)\] "(GET|POST|PUT|DELETE) ([^ "]+)" (\d{3}) (\d+(?:\.\d+)?)ms$)re");
  LogSummary s;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    s.clients.insert(m[1]);
    ++s.status_by_path[m[4]][std::stoi(m[5])];
    double ms = std::stod(m[6]);
    if (!s.slowest || ms > s.slowest_ms) {
      s.slowest = m[4].str();
      s.slowest_ms = ms;
    }
  }
  return s;
}

std::string report(const LogSummary& s) {
  std::ostringstream out;
  for (const auto& [path, statuses] : s.status_by_path) {
    out << path << ':';
    for (const auto& [status, n] : statuses) out << ' ' << status << 'x' << n;
    out << '\n';
  }
  out << "clients " << s.clients.size() << ", slowest " << s.slowest.value_or("-") << ' '
      << s.slowest_ms << "ms\n";
  return out.str();
}

namespace {
// Anonymous-namespace symbols get names derived from -frandom-seed: the runner fixes the seed so
// both compilations name them alike.
std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  for (auto word : text | std::views::split(' '))
    if (auto w = std::string(word.begin(), word.end()); !w.empty()) words.push_back(w);
  return words;
}
}  // namespace

int run(std::istream& in, std::ostream& out) {
  Evaluator ev;
  ev.set("x", 3);
  ev.set("y", 4);
  for (const char* source : {"sqrt(x*x + y*y)", "max(1 2 x y) ** 2", "sum(1 2 3 4) % 3 + (x < y)"}) {
    Parser parser(tokenize(source));
    out << source << " = " << ev.eval(*parser.parse()) << '\n';
  }

  Inventory<std::string, Item> inventory;
  for (int i = 0; i < 20; ++i) {
    Item item;
    item.name = join("-", "item", i, i * i);
    item.quantity = (i * 7) % 11;
    item.price = 1.25 * i;
    inventory.add(item.name, item);
  }
  auto scarce = inventory.keys_where([](const Item& it) { return it.quantity < 3; });
  out << inventory.size() << " items, " << scarce.size() << " scarce, total quantity "
      << inventory.total(&Item::quantity) << '\n';

  std::vector<int> numbers(kSquares.begin(), kSquares.end());
  out << count_below(numbers, 1000) << " squares below 1000\n";

  auto m = identity<double, 3>();
  m(0, 2) = 2.5;
  out << "trace " << (m * m).trace() << '\n';

  for (const auto& w : split_words("the quick brown fox")) out << w.size();
  out << '\n' << report(analyse(in));
  return 0;
}

}  // namespace workload

int main() { return workload::run(std::cin, std::cout); }
