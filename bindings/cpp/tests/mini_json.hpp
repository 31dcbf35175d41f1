// mini_json.hpp: a small JSON reader, enough for tests/vectors/*.json
// (objects, arrays, strings with escapes, numbers, true/false/null). It
// spares the test suite a JSON package; it is strict and throws on bad input.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace minijson {

struct Value {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool has(const std::string& k) const { return kind == Object && object.count(k) != 0; }
  const Value& at(const std::string& k) const {
    auto it = object.find(k);
    if (kind != Object || it == object.end()) throw std::runtime_error("json: no field " + k);
    return it->second;
  }
  const std::string& str() const {
    if (kind != String) throw std::runtime_error("json: not a string");
    return string;
  }
  std::uint64_t u64() const {
    if (kind != Number || number < 0) throw std::runtime_error("json: not a count");
    return static_cast<std::uint64_t>(number);
  }
  bool flag() const {
    if (kind != Bool) throw std::runtime_error("json: not a bool");
    return boolean;
  }
};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Value parse() {
    Value v = value();
    space();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string("json: ") + what + " at offset " + std::to_string(i_));
  }
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail("unexpected character");
  }
  bool word(const char* w) {
    std::string sw(w);
    if (s_.compare(i_, sw.size(), sw) != 0) return false;
    i_ += sw.size();
    return true;
  }

  Value value() {
    space();
    if (i_ >= s_.size()) fail("unexpected end");
    Value v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Value::Object;
      if (eat('}')) return v;
      do {
        space();
        std::string key = string();
        expect(':');
        v.object[key] = value();
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = Value::Array;
      if (eat(']')) return v;
      do v.array.push_back(value()); while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Value::String;
      v.string = string();
    } else if (word("true")) {
      v.kind = Value::Bool;
      v.boolean = true;
    } else if (word("false")) {
      v.kind = Value::Bool;
    } else if (word("null")) {
    } else {
      const char* begin = s_.c_str() + i_;
      char* end = nullptr;
      v.kind = Value::Number;
      v.number = std::strtod(begin, &end);
      if (end == begin) fail("bad value");
      i_ += static_cast<std::size_t>(end - begin);
    }
    return v;
  }

  std::string string() {
    if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("bad escape");
      char e = s_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': utf8(out, codepoint()); break;
        default: fail("bad escape");
      }
    }
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size()) fail("short \\u escape");
    unsigned v = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
    i_ += 4;
    return v;
  }
  unsigned codepoint() {
    unsigned cp = hex4();
    if (cp >= 0xD800 && cp < 0xDC00 && word("\\u")) {  // a surrogate pair
      unsigned lo = hex4();
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return cp;
  }
  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

inline Value parse(const std::string& text) { return Parser(text).parse(); }

// Bytes from a hex string ("00ff" -> "\0\xff").
inline std::string unhex(const std::string& hex) {
  if (hex.size() % 2 != 0) throw std::runtime_error("odd-length hex");
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>(std::stoul(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// `name` (text) or `name_hex` (bytes) from an object; has == false if neither.
inline std::string text_or_hex(const Value& obj, const std::string& name, bool* has = nullptr) {
  if (has) *has = true;
  if (obj.has(name)) return obj.at(name).str();
  if (obj.has(name + "_hex")) return unhex(obj.at(name + "_hex").str());
  if (has) *has = false;
  return std::string();
}

}  // namespace minijson
