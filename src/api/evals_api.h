/* Evaluation over HTTP (docs/evaluation.md): an assistant's suites, its runs
 * (started in the background: POST answers 202 with the run's id, GET shows
 * its progress, then its report) and the comparison of two runs. Editor and
 * admin keys only. */
#ifndef LAIR_API_EVALS_H
#define LAIR_API_EVALS_H

#include "api/app.h"
#include "http/http.h"

enum lair_err api_eval_suites_list(struct http_req *rq); /* GET  .../eval-suites */
enum lair_err api_eval_suite_get(struct http_req *rq);   /* GET  .../eval-suites/{name} */
enum lair_err api_eval_suite_put(struct http_req *rq);   /* PUT  .../eval-suites/{name} */
enum lair_err api_eval_runs_create(struct http_req *rq); /* POST .../eval-runs */
enum lair_err api_eval_runs_list(struct http_req *rq);   /* GET  .../eval-runs */
enum lair_err api_eval_run_get(struct http_req *rq);     /* GET  .../eval-runs/{id} */
enum lair_err api_eval_compare(struct http_req *rq);     /* GET .../eval-runs/{id}/compare/{id} */
/* GET .../eval-chart.svg (?suite=, ?lang=en): the pass rate per category of
 * the newest finished run of each version, as an inert SVG (eval/chart.h);
 * GET .../eval-chart.json: the same numbers. */
enum lair_err api_eval_chart_svg(struct http_req *rq);
enum lair_err api_eval_chart_json(struct http_req *rq);

/* Runs in the background at most this many at once in the server. */
#define API_EVAL_RUNS_MAX 2

/* Stops the runs under way (each finishes the cases it is running and is
 * stored "interrupted") and waits for them: call after the last request and
 * before the models and tenants are freed. */
void api_evals_stop(void);

#endif
