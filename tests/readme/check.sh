#!/usr/bin/env bash
# Runs the quick starts exactly as README.md shows them (the C and C++
# programs compiled with the README's command lines, the Python block with
# the Python suite's virtualenv), so the README cannot drift from the code.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work" /tmp/tiercache-quickstart /tmp/tiercache-cpp /tmp/tiercache-py' EXIT
block() { awk -v lang="$1" '$0 == "```" lang {on=1; next} /^```$/{on=0} on' README.md; }

# C
block c > "$work/quickstart.c"
test -s "$work/quickstart.c" || { echo "no C block in README.md"; exit 1; }
rm -rf /tmp/tiercache-quickstart
cc -std=c11 -Wall -Wextra -Werror -Iinclude "$work/quickstart.c" target/release/libtiercache.a -lpthread -ldl -lm \
  -o "$work/quickstart"
out=$("$work/quickstart")
test "$out" = "hello, disk" || { echo "C quick start printed: $out"; exit 1; }
ls /tmp/tiercache-quickstart/*.tcl >/dev/null # the value went to disk
echo "README C quick start: ok"

# C++
block cpp > "$work/demo.cpp"
rm -rf /tmp/tiercache-cpp
g++ -std=c++17 -Wall -Wextra -Werror -Ibindings/cpp/include -Iinclude "$work/demo.cpp" \
  target/release/libtiercache.a -lpthread -ldl -lm -o "$work/demo"
out=$("$work/demo")
test "$out" = "hello computed:other" || { echo "C++ quick start printed: $out"; exit 1; }
echo "README C++ quick start: ok"

# Python: the suite's virtualenv has the package installed.
py=bindings/python/.venv/bin/python
if [ ! -x "$py" ]; then
  bash bindings/python/test.sh >/dev/null
fi
block python > "$work/quick.py"
rm -rf /tmp/tiercache-py
first=$(cd "$work" && "$OLDPWD/$py" quick.py)
want=$'b\'Ada\' False\nb\'loaded user:2\' 1'
test "$first" = "$want" || { echo "Python quick start printed: $first"; exit 1; }
echo "README Python quick start: ok"
