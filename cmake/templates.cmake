# The French assistant templates (templates/*.json) compiled into the binary
# (src/assist/templates.c reads them), as cmake/evalpacks.cmake does for the
# red-team packs: every installation ships them, nothing on disk is needed.
file(GLOB LAIR_TEMPLATES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/templates/*.json)
set(LAIR_TEMPLATES_C ${CMAKE_BINARY_DIR}/assistant_templates.c)
add_custom_command(OUTPUT ${LAIR_TEMPLATES_C}
  COMMAND ${CMAKE_SOURCE_DIR}/scripts/embed.sh ${CMAKE_SOURCE_DIR}/templates ${LAIR_TEMPLATES_C}.in
  COMMAND sed -e "s/web_asset/assistant_template_file/g" ${LAIR_TEMPLATES_C}.in > ${LAIR_TEMPLATES_C}
  DEPENDS ${LAIR_TEMPLATES} ${CMAKE_SOURCE_DIR}/scripts/embed.sh)
add_library(lair_templates STATIC ${LAIR_TEMPLATES_C})
list(APPEND LAIR_EXTRA_LIBS lair_templates)
