/* Knowledge-base handlers (src/api/kb.c, docs/knowledge-bases.md): the
 * bases, their documents (multipart upload as ingestion jobs), search, and
 * job progress; and the ingestion worker the server hands jobs to. */
#ifndef LAIR_API_KB_H
#define LAIR_API_KB_H

#include "api/app.h"
#include "rag/ingest.h"

/* The server's ingestion worker, BORROWED for the server's life (cmd_serve
 * sets it before listening and clears it before freeing the worker). With
 * none, an upload is still recorded and acknowledged; the next worker to
 * start (next server start) runs it. */
void api_kb_set_ingest(struct ingest *w);

enum lair_err api_kbs_list(struct http_req *rq);
enum lair_err api_kbs_create(struct http_req *rq);
enum lair_err api_kb_get(struct http_req *rq);
enum lair_err api_kb_delete(struct http_req *rq);
enum lair_err api_kb_documents_upload(struct http_req *rq);
enum lair_err api_kb_documents_list(struct http_req *rq);
enum lair_err api_kb_document_delete(struct http_req *rq);
enum lair_err api_kb_search(struct http_req *rq);
/* The base's vocabulary of equivalences (src/rag/synonyms.h): read,
 * replace ({"synonyms": [[...], ...]}), back to the default. */
enum lair_err api_kb_synonyms_get(struct http_req *rq);
enum lair_err api_kb_synonyms_put(struct http_req *rq);
enum lair_err api_kb_synonyms_delete(struct http_req *rq);
enum lair_err api_job_get(struct http_req *rq);

#endif
