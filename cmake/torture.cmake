# Allocation-failure tests (tests/unit/test_torture.c, docs/testing.md).
#
# test_torture is linked with --wrap for the C allocator, so that every call
# that the project's code (the static library lair) and the static archives
# (MuPDF) make to malloc, calloc, realloc, free, strdup and strndup goes to
# the test's allocator (tests/unit/torture_alloc.h), which can fail the Nth
# one. Only this executable is wrapped. Under LAIR_SANITIZE the wrapped
# functions reach AddressSanitizer's allocator through __real_malloc, and
# LeakSanitizer still sees every block.
#
# This file is included before the test targets exist: the options are set
# at the end of the directory (cmake_language DEFER), like fuzz.cmake's.

function(lair_torture_options)
  if(NOT TARGET test_torture)
    return()
  endif()
  target_link_options(test_torture PRIVATE
    "LINKER:--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=strndup"
    # library calls with known defects under allocation failure (lib_defects)
    "LINKER:--wrap=htmlCreatePushParserCtxt,--wrap=xmlCreatePushParserCtxt,--wrap=htmlParseChunk")
  target_link_libraries(test_torture PRIVATE ${CMAKE_DL_LIBS})
  # every failing allocation of every scenario is a run: slower under ASan
  if(LAIR_SANITIZE)
    set_tests_properties(unit/test_torture PROPERTIES TIMEOUT 1500)
  endif()
endfunction()
cmake_language(DEFER CALL lair_torture_options)
