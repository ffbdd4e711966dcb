# Front door: `make run` sets everything up and starts a demo server,
# `make test` runs the whole suite. The real build is CMake (CMakeLists.txt).

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
GPU        ?=
ifeq ($(GPU),cuda)
  BUILD := build-cuda
  CMAKE_ARGS += -DLAIR_GPU=cuda
endif

.PHONY: all deps llama tools build bin run test asan bench clean format fuzz oidc-demo

all: build

deps:
	@scripts/deps.sh

llama: deps
	@scripts/llama.sh $(if $(GPU),lib-$(GPU),lib) >/dev/null

# llama-server and llama-bench from the same pinned llama.cpp: the peers of
# the upstream tests and the benchmarks (built once per machine)
tools: deps
	@scripts/llama.sh tools >/dev/null

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: llama $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# the server binary alone (what make run needs; build adds the tests and tools)
bin: llama $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS) --target libreair

# Quiet until the demo's banner: the setup's output goes to a log, shown
# only if it fails (VERBOSE=1 shows it all).
run:
	@scripts/quietly.sh $(BUILD)/make-run.log "setting up: dependencies, llama.cpp, build (the first time takes minutes)" \
	  $(MAKE) --no-print-directory bin
	@LIBREAIR_OIDC_DEMO=$(OIDC) scripts/demo.sh

# A TEST OpenID Connect provider configured like ProConnect, for trying the
# sign-in next to `make run` (docs/oidc-test-provider.md): issuer
# http://127.0.0.1:9400, client libreair-demo; prints the accounts one can
# sign in with; Ctrl-C stops it.
oidc-demo:
	@[ -d tests/e2e/node_modules/oidc-provider ] || (cd tests/e2e && npm ci --silent --no-audit --no-fund)
	@node tests/e2e/lib/oidc_idp.mjs --profile proconnect --port 9400 --client-id libreair-demo \
	  --client-secret demo-secret-change-me --redirect-uri http://127.0.0.1:8080/auth/callback \
	  --post-logout-redirect-uri http://127.0.0.1:8080/auth/signed-out \
	  --backchannel-logout-uri http://127.0.0.1:8080/auth/backchannel-logout/proconnect

test: build tools
	cd $(BUILD) && ctest --output-on-failure -j1 --timeout 900

asan: llama tools
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLAIR_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j1 --timeout 1800

bench: build
	@bench/run.sh

# Fuzzing (docs/fuzzing.md): builds the libFuzzer targets with clang into
# $(FUZZ_BUILD) and runs each for FUZZ_SECONDS, then prints executions per
# target. FUZZ_TARGETS="pii http" runs some only.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: llama
	@scripts/deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAIR_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzzers
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Debian package (docs/packaging.md): `make deb` builds
# $(DEB_OUT)/libreair_VERSION_amd64.deb with debhelper (VERSION: project()'s
# version in CMakeLists.txt with revision -1, or DEB_VERSION=0.2.0-1) and
# checks it with lintian. `make deb-test` (root, debootstrap, a few minutes;
# not part of make test) installs it in a clean Debian 12 root, runs the
# service, talks TLS to it, upgrades to it from an older package, removes and
# purges it. The older package: DEB_OLD=FILE, or else the commit DEB_OLD_REF
# (by default 2fb9fc7, the last one before system.db v5, so that the upgrade
# migrates) built once into $(DEB_OUT)/old/, or with DEB_OLD_REF= (empty) the
# new package repacked with a lower version.
DEB_OUT     ?= build-deb
DEB_VERSION ?=
DEB_OLD     ?=
DEB_REF     ?=
DEB_OLD_REF ?= 2fb9fc7
.PHONY: deb deb-test
deb: deps
	DEB_VERSION=$(DEB_VERSION) DEB_REF=$(DEB_REF) scripts/deb.sh $(DEB_OUT)

deb-test: deb
	@arch=$$(dpkg --print-architecture); old="$(DEB_OLD)"; \
	if [ -z "$$old" ] && [ -n "$(DEB_OLD_REF)" ]; then \
	  v=$$(sed -n 's/^project(libreair VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)~$$(git rev-parse --short=7 "$(DEB_OLD_REF)")-1; \
	  old=$(DEB_OUT)/old/libreair_$${v}_$$arch.deb; \
	  [ -f "$$old" ] || DEB_REF="$(DEB_OLD_REF)" DEB_VERSION=$$v scripts/deb.sh $(DEB_OUT)/old >/dev/null || exit 1; \
	fi; \
	new=$$(ls -t $(DEB_OUT)/libreair_*_$$arch.deb | head -n1); \
	echo "tests/pkg/t_deb.sh $$new $$old"; \
	tests/pkg/t_deb.sh "$$new" $$old

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
