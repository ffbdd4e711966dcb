# The French red-team packs (eval/packs/*.json) compiled into the binary
# (src/eval/packs.c reads them), so that every installation ships them and
# no file on disk is needed at run time. Same generator as web/ assets.
file(GLOB LAIR_EVAL_PACKS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/eval/packs/*.json)
set(LAIR_EVAL_PACKS_C ${CMAKE_BINARY_DIR}/eval_packs.c)
add_custom_command(OUTPUT ${LAIR_EVAL_PACKS_C}
  COMMAND ${CMAKE_SOURCE_DIR}/scripts/embed.sh ${CMAKE_SOURCE_DIR}/eval/packs ${LAIR_EVAL_PACKS_C}.in
  COMMAND sed -e "s/web_asset/eval_pack_file/g" ${LAIR_EVAL_PACKS_C}.in > ${LAIR_EVAL_PACKS_C}
  DEPENDS ${LAIR_EVAL_PACKS} ${CMAKE_SOURCE_DIR}/scripts/embed.sh)
add_library(lair_evalpacks STATIC ${LAIR_EVAL_PACKS_C})
list(APPEND LAIR_EXTRA_LIBS lair_evalpacks)
