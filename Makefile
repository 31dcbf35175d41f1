# The two commands a newcomer needs (see README.md).
.PHONY: demo test

# The main job: all three tiers on a temporary directory, across a restart.
demo:
	cargo run --release --quiet --bin tiercache -- demo

# Every test: Rust, C, C++, Go, Python and cross-language.
test:
	bash scripts/test.sh
