/* The evaluation chart: the pass rate per category across an assistant's
 * versions, drawn as SVG by the server (issue 17: no external script, the
 * console shows it as is). The SVG is self-contained and inert: no script,
 * no event attribute, no link, no style element or attribute (presentation
 * attributes only, so that a strict CSP allows it inlined); every text comes
 * from the data and is XML-escaped. It carries a <title> and a <desc> that
 * says every number, for screen readers. */
#ifndef LAIR_EVAL_CHART_H
#define LAIR_EVAL_CHART_H

#include <jansson.h>

#include "core/err.h"
#include "core/str.h"

#define EVAL_CHART_MAX_VERSIONS 8 /* the newest ones */
#define EVAL_CHART_MAX_CATEGORIES 24

/* series: [{"version":N,"run":ID,"categories":[{"category","pass_rate"}…]}…],
 * oldest version first (at most EVAL_CHART_MAX_VERSIONS are drawn: the
 * newest); categories in order of first appearance (at most
 * EVAL_CHART_MAX_CATEGORIES). lang "en" or anything else (French). A
 * category missing from a version is drawn as "no run" (no bar). Appends
 * the SVG document to out. Errors: LAIR_ENOMEM (out's cap). */
enum lair_err eval_chart_svg(json_t *series, const char *assistant, const char *lang,
                             struct buf *out);

/* Appends s XML-escaped (& < > " ') to out, control characters dropped
 * (they are not allowed in XML 1.0). */
enum lair_err eval_chart_escape(struct buf *out, const char *s);

#endif
