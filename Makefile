# The two commands a newcomer needs (see README.md): demo and test.
# The rest installs the library like any other (README.md, abi/README.md).
.PHONY: demo test loom build pgo install install-pgo uninstall abi-check abi-bless wheel

# The main job: all three tiers on a temporary directory, across a restart.
demo:
	cargo run --release --quiet --bin tiercache -- demo

# Every test: Rust, C, C++, Go, Python, cross-language, install and ABI.
test:
	bash scripts/test.sh

# Loom's schedule exploration of the log's lock, `stripe::ReadMostly`
# (docs/CONSISTENCY.md, "The log's lock excludes by a handshake"). Not in
# `make test`: `--cfg loom` changes every crate's flags, so it is a build of
# its own (target/loom; about 5 minutes from scratch on two cores, then
# ~30 s); the tests themselves take seconds.
loom:
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --lib --release stripe::loom_tests

# Where `make install` puts things: PREFIX, DESTDIR (staging), LIBDIR and
# INCLUDEDIR (relative ones are under PREFIX); scripts/install.sh lists the files.
PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= lib
INCLUDEDIR ?= include
INSTALL_ENV = PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" LIBDIR="$(LIBDIR)" INCLUDEDIR="$(INCLUDEDIR)"

build:
	cargo build --release

# The library built again from a profile of a training run
# (scripts/pgo.sh): target/pgo/libtiercache.{so,a}. Same source; faster hot
# paths (BENCHMARKS.md, History, "Session 29"). Needs rustup's llvm-tools,
# which it adds.
pgo:
	bash scripts/pgo.sh

# `make install` of the profile-guided library.
install-pgo: pgo
	TIERCACHE_LIB_DIR="$(CURDIR)/target/pgo" $(INSTALL_ENV) bash scripts/install.sh install

# Builds first where cargo is on the PATH (under sudo it often is not: then
# the library of an earlier `make build` is installed).
install:
	@if command -v cargo >/dev/null 2>&1; then echo "cargo build --release"; cargo build --release; fi
	$(INSTALL_ENV) bash scripts/install.sh install

uninstall:
	$(INSTALL_ENV) bash scripts/install.sh uninstall

# The C ABI against the committed baseline abi/tiercache.abi (abi/README.md).
# The build refreshes include/tiercache.h first.
abi-check: build
	bash scripts/abi.sh check

# Records the current ABI as the baseline; refuses a break unless the major
# version was bumped. Commit abi/tiercache.abi afterwards.
abi-bless: build
	bash scripts/abi.sh bless

# The Python sdist and manylinux wheel in bindings/python/dist (reuses the
# release build; bindings/python/README.md).
wheel: build
	bash bindings/python/build-dist.sh
