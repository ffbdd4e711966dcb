/* The upstream backend: a model served by a pool of OpenAI-compatible
 * servers the operator controls (vLLM, llama-server, TGI, Ollama, another
 * LibreAIr), with routing, health, retries, continuation of broken streams,
 * fallbacks, and personal data masked before a prompt leaves for the remote
 * zone. One worker thread per pool drives every transfer with libcurl's
 * multi interface: no thread per request. See docs/internals/upstream.md. */
#ifndef LAIR_LLM_UPSTREAM_H
#define LAIR_LLM_UPSTREAM_H

#include "llm/backend.h"

/* Opens a pool for o (o->upstreams, o->fallback, o->n_ctx per request,
 * o->queue_max, o->health_interval_s) and starts its worker. r: the
 * registry, for the fallback models (looked up by name when needed).
 * OUT: *out OWNED (free through its ops). Errors: LAIR_EINVAL (a bad URL or
 * option), LAIR_ENOMEM. */
enum lair_err upstream_pool_open(struct llm_registry *r, const struct llm_model_opts *o,
                                 struct llm_backend **out);

#endif
