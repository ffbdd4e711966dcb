# MuPDF for PDF text extraction (src/doc/pdf.c).
#
# Debian 12's libmupdf-dev ships only static archives (libmupdf.a and
# libmupdf-third.a, in /usr/lib) and a mupdf.pc whose private libraries miss
# harfbuzz; with --no-install-recommends it pulls in none of the libraries
# those archives call. So each one is looked for here, and a missing one stops
# the configuration with the Debian package that provides it.
# libxml2 and libzip (HTML, DOCX, ODT) are linked by the main CMakeLists.txt.

set(LAIR_MUPDF_LIBS "")
foreach(pair
    "mupdf:libmupdf-dev" "mupdf-third:libmupdf-dev"
    "mujs:libmujs-dev" "gumbo:libgumbo-dev" "openjp2:libopenjp2-7-dev"
    "jbig2dec:libjbig2dec0-dev" "jpeg:libjpeg-dev" "harfbuzz:libharfbuzz-dev"
    "freetype:libfreetype-dev" "z:zlib1g-dev")
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 lib)
  list(GET pair 1 pkg)
  string(MAKE_C_IDENTIFIER "LAIR_LIB_${lib}" var)
  find_library(${var} ${lib})
  if(NOT ${var})
    message(FATAL_ERROR "PDF extraction needs lib${lib}: apt-get install ${pkg} "
                        "(scripts/deps.sh lists it)")
  endif()
  list(APPEND LAIR_MUPDF_LIBS ${${var}})
endforeach()
find_path(LAIR_MUPDF_INCLUDE mupdf/fitz.h)
if(NOT LAIR_MUPDF_INCLUDE)
  message(FATAL_ERROR "PDF extraction needs MuPDF's headers: apt-get install libmupdf-dev")
endif()
list(APPEND LAIR_EXTRA_LIBS ${LAIR_MUPDF_LIBS} m)
