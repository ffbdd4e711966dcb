# Fuzz targets (tests/fuzz/, docs/fuzzing.md): one libFuzzer target per
# parser, tests/fuzz/fuzz_<name>.c, each with a seed corpus in
# tests/fuzz/corpus/<name>/ and its past findings in tests/fuzz/regressions/<name>/.
#
# - Normal builds (any compiler): each target is linked with tests/fuzz/replay.c
#   into fuzz_<name>_replay, which runs every corpus and regression input once;
#   ctest runs it as fuzz/<name>, so `make test` and `make asan` keep every
#   finding fixed without a fuzzing engine.
# - -DLAIR_FUZZ=ON with clang (`make fuzz`): the library and everything else is
#   compiled with -fsanitize=fuzzer-no-link,address,undefined and each target
#   is linked with -fsanitize=fuzzer into the libFuzzer binary fuzz_<name>;
#   `cmake --build --target fuzzers` builds them all.
#
# This file is included before the library is defined: the flags are set
# here, the targets are added at the end of the directory (cmake_language
# DEFER), once lair and LAIR_WARN exist.

option(LAIR_FUZZ "Build the libFuzzer targets (clang only; see docs/fuzzing.md)" OFF)

if(LAIR_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LAIR_FUZZ needs clang (libFuzzer): configure with "
                        "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++, or run make fuzz")
  endif()
  add_compile_options(
    $<$<COMPILE_LANGUAGE:C>:-fsanitize=fuzzer-no-link,address,undefined>
    $<$<COMPILE_LANGUAGE:C>:-fno-sanitize-recover=undefined>
    $<$<COMPILE_LANGUAGE:C>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=address,undefined)
endif()

function(lair_add_fuzz_targets)
  file(GLOB targets CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  if(LAIR_FUZZ)
    add_custom_target(fuzzers)
    # clang's -Wformat=2 also wants a format attribute on functions that pass a
    # va_list on (buf_vprintf, mhd_log), which gcc does not ask for.
    target_compile_options(lair PRIVATE -Wno-format-nonliteral)
  endif()
  foreach(src ${targets})
    get_filename_component(exe ${src} NAME_WE)
    string(REGEX REPLACE "^fuzz_" "" name ${exe})
    if(LAIR_FUZZ)
      add_executable(${exe} ${src})
      target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
      add_dependencies(fuzzers ${exe})
    else()
      set(exe ${exe}_replay)
      add_executable(${exe} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay.c)
      add_test(NAME fuzz/${name}
               COMMAND ${exe} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name}
                              ${CMAKE_SOURCE_DIR}/tests/fuzz/regressions/${name})
      set_tests_properties(fuzz/${name} PROPERTIES TIMEOUT 300)
    endif()
    target_include_directories(${exe} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz)
    target_compile_options(${exe} PRIVATE ${LAIR_WARN})
    target_link_libraries(${exe} PRIVATE lair)
  endforeach()
endfunction()
cmake_language(DEFER CALL lair_add_fuzz_targets)
