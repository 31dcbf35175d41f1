// main.cpp: the smallest real use of an installed tiercache.hpp; exits 0
// only if a put is read back.
#include <tiercache.hpp>

#include <iostream>

int main() {
  tiercache::Cache cache;
  cache.put("k", "v");
  if (cache.get("k") != "v") return 1;
  std::cout << "consumer ok, tiercache " << tiercache::version() << "\n";
  return 0;
}
