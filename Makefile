# Peregrine's build entry points. Release builds target Haswell-class x86-64 (AVX2, FMA, F16C):
# the binary runs on any AVX2 machine, and the C micro-kernels switch to AVX-512 VNNI at run time.
# `-enable-testing` lets the test targets use internal API in release builds (numeric code is
# tested optimized: debug Swift SIMD code is 20-140x slower).
SWIFT_FLAGS ?= -c release -Xswiftc -target-cpu -Xswiftc haswell -Xswiftc -enable-testing
PEREGRINE = .build/release/peregrine
PROMPT ?= Write a haiku about a falcon.
SOAK_SECONDS ?= 20
# Suites that wait on other threads with deadlines; run apart from the compute-bound tests.
WAITING_TESTS = ServerTests AsyncLLMEngineTests

.PHONY: pd-check ep-check build run test test-deps pull clean serve-check reference-check

build:
	swift build $(SWIFT_FLAGS) --product peregrine

## Generate text with the default model (fetched on first use).
run: build
	$(PEREGRINE) generate --chat "$(PROMPT)"

pull: build
	$(PEREGRINE) pull
	$(PEREGRINE) pull gemma3-270m

## Python packages the reference tests use (NumPy reference forward pass, dequantization vectors),
## pinned; installed unless exactly these versions are already there.
TEST_PYTHON_DEPS = numpy==2.4.6 gguf==0.19.0
SERVE_PYTHON_DEPS = openai==3.60.0 jsonschema==4.26.0
pip_pinned = python3 -c 'import importlib.metadata as m, sys; sys.exit(any(m.version(n) != v for n, v in (r.split("==") for r in sys.argv[1:])))' $(1) 2>/dev/null || python3 -m pip install --quiet $(1)

test-deps:
	$(call pip_pinned,$(TEST_PYTHON_DEPS))

## Everything the tests need, then the tests, in an optimized build. Tests that wait on other
## threads (HTTP servers, the async engine) run in a second pass: Swift Testing runs synchronous
## tests on the cooperative thread pool, which is as wide as the machine (2 threads here), so long
## model tests would hold up their async handlers past the test client's 15 s deadline.
test: test-deps pull
	swift build $(SWIFT_FLAGS) --build-tests
	swift test $(SWIFT_FLAGS) --skip-build $(foreach s,$(WAITING_TESTS),--skip $(s))
	swift test $(SWIFT_FLAGS) --skip-build $(foreach s,$(WAITING_TESTS),--filter $(s))

## `peregrine serve` on the default model checked with the official `openai` client (the API, then
## structured output and tool calling with every output validated by `jsonschema`), then a short
## soak (64 streaming clients, a quarter hanging up mid-stream; SOAK_SECONDS=60 for the full one).
serve-check: pull
	$(call pip_pinned,$(SERVE_PYTHON_DEPS))
	PEREGRINE=$(PEREGRINE) Scripts/serve_check.sh Scripts/openai_client_check.py
	PEREGRINE=$(PEREGRINE) Scripts/serve_check.sh Scripts/structured_output_check.py --coverage 12
	PEREGRINE=$(PEREGRINE) Scripts/serve_check.sh Scripts/soak.py --duration $(SOAK_SECONDS) --clients 64

## Prefill/decode disaggregation on loopback: a prefill instance, a decode instance and
## `peregrine proxy` checked with the official `openai` client against a colocated instance,
## with a prefill instance killed mid-transfer and a decode instance down (about 30 s).
pd-check: pull
	$(call pip_pinned,$(SERVE_PYTHON_DEPS))
	python3 Scripts/pd_check.py --peregrine $(PEREGRINE)

## Expert parallelism across processes on a small synthetic MoE model: `serve
## --expert-parallel-size 2/4` (live EPLB rebalances) and workers attached by address, checked with
## the official `openai` client against a one-process instance, then a worker killed (about 30 s).
ep-check:
	$(call pip_pinned,$(SERVE_PYTHON_DEPS))
	python3 Scripts/ep_check.py --peregrine $(PEREGRINE)

## Peregrine as a library user gets it: Examples/LibraryConsumer depends on the package by path
## and is built with a plain `swift build -c release` (no CPU flags); it streams one chat request
## through AsyncLLMEngine and reports pp512 and tg128 (about 4 min, most of it the build).
## Scripts/library_bench.sh compares its speed with the `make build` binary's.
library-check: pull
	cd Examples/LibraryConsumer && swift build -c release
	Examples/LibraryConsumer/.build/release/LibraryConsumer --repetitions 1

## The NumPy reference forward pass (Scripts/reference_forward.py) against llama.cpp's golden
## completions in ../shared/golden, within the tolerances of its README (about 20 s).
reference-check: test-deps pull
	python3 Scripts/check_reference_against_golden.py

clean:
	rm -rf .build
