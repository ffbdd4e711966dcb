/* The embedded llama.cpp backend: one loaded GGUF model with, for a causal
 * model, a scheduler thread that batches every active request into one
 * llama_decode per step, and for an embedding model a mutex-guarded context.
 * See docs/internals/llm.md. */
#ifndef LAIR_LLM_LLAMA_ENGINE_H
#define LAIR_LLM_LLAMA_ENGINE_H

#include "llm/backend.h"

/* Loads o->path and starts its scheduler. OUT: *out is OWNED (free through
 * its ops->free). Errors: LAIR_EIO (cannot read the file), LAIR_EMODEL (not a
 * usable GGUF, or the context cannot be created), LAIR_EINVAL (bad options). */
enum lair_err llama_engine_open(const struct llm_model_opts *o, struct llm_backend **out);

/* Process-wide llama.cpp setup: backend init and the log filter
 * (LIBREAIR_LLAMA_LOG=1 keeps llama.cpp's own logging). Call once. */
void llama_engine_global_init(void);

#endif
