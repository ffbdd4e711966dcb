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

.PHONY: all deps llama build run test asan bench clean format

all: build

deps:
	@scripts/deps.sh

llama: deps
	@scripts/llama.sh $(if $(GPU),lib-$(GPU),lib) >/dev/null

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: llama $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

run: build
	@scripts/demo.sh

test: build
	cd $(BUILD) && ctest --output-on-failure -j1 --timeout 900

asan: llama
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLAIR_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j1 --timeout 1800

bench: build
	@bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
