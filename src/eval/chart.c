/* The grouped bar chart of eval/chart.h: one group per category, one bar
 * per version in it, a y axis from 0 to 100 %. */
#include "eval/chart.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

enum {
    CHART_H = 300,
    TOP = 40,
    PLOT_H = 170,
    LEFT = 48,
    BAR_W = 18,
    GROUP_GAP = 28,
    LEGEND_H = 40,
};

/* Colour-blind-safe palette (Okabe-Ito), one per version. */
static const char *const palette[EVAL_CHART_MAX_VERSIONS] = {
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"};

enum lair_err eval_chart_escape(struct buf *out, const char *s)
{
    enum lair_err e = LAIR_OK;
    for (const char *p = s ? s : ""; *p && !e; p++) {
        unsigned char c = (unsigned char)*p;
        switch (c) {
        case '&': e = buf_puts(out, "&amp;"); break;
        case '<': e = buf_puts(out, "&lt;"); break;
        case '>': e = buf_puts(out, "&gt;"); break;
        case '"': e = buf_puts(out, "&quot;"); break;
        case '\'': e = buf_puts(out, "&#39;"); break;
        default:
            if (c >= 0x20 || c == '\n' || c == '\t')
                e = buf_append(out, p, 1);
        }
    }
    return e;
}

/* The pass rate of category name in one version's entry; < 0: none. */
static double rate_of(json_t *version, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(version, "categories"), i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "category"))
                        ? json_string_value(json_object_get(c, "category"))
                        : "",
                    name))
            return json_number_value(json_object_get(c, "pass_rate"));
    }
    return -1;
}

static int pct(double r)
{
    return (int)lround(r * 100);
}

/* The categories in order of first appearance, at most the cap. */
static json_t *category_names(json_t *versions)
{
    json_t *names = json_array(), *seen = json_object();
    size_t i, j;
    json_t *v, *c;
    json_array_foreach(versions, i, v)
    {
        json_array_foreach(json_object_get(v, "categories"), j, c)
        {
            const char *n = json_string_value(json_object_get(c, "category"));
            if (!n || json_object_get(seen, n) ||
                json_array_size(names) >= EVAL_CHART_MAX_CATEGORIES)
                continue;
            json_object_set_new(seen, n, json_true());
            json_array_append_new(names, json_string(n));
        }
    }
    json_decref(seen);
    return names;
}

/* The accessible description: every number, version by version. */
static enum lair_err describe(struct buf *out, json_t *versions, json_t *names, bool en)
{
    enum lair_err e = LAIR_OK;
    size_t i, j;
    json_t *v, *n;
    if (!json_array_size(versions))
        return buf_puts(out, en ? "No finished evaluation run yet."
                                : "Aucune évaluation terminée pour l'instant.");
    json_array_foreach(versions, i, v)
    {
        if (!e)
            e = buf_printf(out, "%sversion %lld%s", i ? (en ? "; " : " ; ") : "",
                           (long long)json_integer_value(json_object_get(v, "version")),
                           en ? ": " : " : ");
        json_array_foreach(names, j, n)
        {
            double r = rate_of(v, json_string_value(n));
            if (!e)
                e = buf_puts(out, j ? ", " : "");
            if (!e)
                e = eval_chart_escape(out, json_string_value(n));
            if (!e)
                e = r < 0 ? buf_puts(out, en ? " not run" : " non évaluée")
                          : buf_printf(out, " %d %%", pct(r));
        }
    }
    return e ? e : buf_puts(out, ".");
}

static enum lair_err axis(struct buf *out, int width)
{
    enum lair_err e = LAIR_OK;
    for (int p = 0; p <= 100 && !e; p += 25) {
        int y = TOP + PLOT_H - PLOT_H * p / 100;
        e = buf_printf(out,
                       "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c8c8c8\" "
                       "stroke-width=\"1\"/><text x=\"%d\" y=\"%d\" font-size=\"11\" "
                       "text-anchor=\"end\" fill=\"#3a3a3a\">%d %%</text>",
                       LEFT, y, width - 8, y, LEFT - 6, y + 4, p);
    }
    return e;
}

/* One group: a bar per version, the category's name below (cut to 16
 * characters; the full name is in the bars' titles and the description). */
static enum lair_err group(struct buf *out, json_t *versions, const char *name, int x0, bool en)
{
    enum lair_err e = LAIR_OK;
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        double r = rate_of(v, name);
        int x = x0 + (int)i * BAR_W;
        long long ver = (long long)json_integer_value(json_object_get(v, "version"));
        if (r < 0)
            continue;
        int h = (int)lround(PLOT_H * r);
        if (h < 1)
            h = 1; /* 0 % stays visible */
        if (!e)
            e = buf_printf(out,
                           "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">"
                           "<title>",
                           x, TOP + PLOT_H - h, BAR_W - 2, h, palette[i % EVAL_CHART_MAX_VERSIONS]);
        if (!e)
            e = eval_chart_escape(out, name);
        if (!e)
            e = buf_printf(out, ", version %lld%s%d %%</title></rect>", ver, en ? ": " : " : ",
                           pct(r));
    }
    /* the label, cut at a character boundary */
    char label[80];
    size_t len = strlen(name), chars = 0, k = 0;
    for (; k < len && chars < 16; k++)
        chars += ((unsigned char)name[k] & 0xC0) != 0x80;
    while (k < len && ((unsigned char)name[k] & 0xC0) == 0x80)
        k++;
    snprintf(label, sizeof(label), "%.*s%s", (int)k, name, k < len ? "…" : "");
    int w = (int)json_array_size(versions) * BAR_W;
    if (!e)
        e = buf_printf(out,
                       "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\" "
                       "fill=\"#1e1e1e\">",
                       x0 + w / 2, TOP + PLOT_H + 16);
    if (!e)
        e = eval_chart_escape(out, label);
    return e ? e : buf_puts(out, "</text>");
}

static enum lair_err legend(struct buf *out, json_t *versions, bool en)
{
    enum lair_err e = LAIR_OK;
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        int x = LEFT + (int)i * 90, y = TOP + PLOT_H + 34;
        if (!e)
            e = buf_printf(out,
                           "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                           "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#1e1e1e\">version "
                           "%lld%s</text>",
                           x, y, palette[i % EVAL_CHART_MAX_VERSIONS], x + 16, y + 10,
                           (long long)json_integer_value(json_object_get(v, "version")),
                           json_is_true(json_object_get(v, "published"))
                               ? (en ? " (live)" : " (publiée)")
                               : "");
    }
    (void)LEGEND_H;
    return e;
}

enum lair_err eval_chart_svg(json_t *series, const char *assistant, const char *lang,
                             struct buf *out)
{
    bool en = lang && !strcmp(lang, "en");
    size_t n = json_array_size(series);
    size_t from = n > EVAL_CHART_MAX_VERSIONS ? n - EVAL_CHART_MAX_VERSIONS : 0;
    json_t *versions = json_array();
    for (size_t i = from; i < n; i++)
        json_array_append(versions, json_array_get(series, i));
    json_t *names = category_names(versions);
    size_t nv = json_array_size(versions), nc = json_array_size(names);
    int group_w = (int)(nv ? nv : 1) * BAR_W + GROUP_GAP;
    int width = LEFT + (int)(nc ? nc : 1) * group_w + 16;
    if (width < LEFT + (int)nv * 90 + 16)
        width = LEFT + (int)nv * 90 + 16;
    if (width < 360)
        width = 360;
    enum lair_err e = buf_printf(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d "
        "%d\" role=\"img\" aria-labelledby=\"eval-chart-title eval-chart-desc\" "
        "font-family=\"sans-serif\"><title id=\"eval-chart-title\">",
        width, CHART_H, width, CHART_H);
    if (!e)
        e = buf_puts(out, en ? "Pass rate per category and version: "
                             : "Taux de réussite par catégorie et par version : ");
    if (!e)
        e = eval_chart_escape(out, assistant);
    if (!e)
        e = buf_puts(out, "</title><desc id=\"eval-chart-desc\">");
    if (!e)
        e = describe(out, versions, names, en);
    if (!e)
        e = buf_printf(out,
                       "</desc><rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                       "fill=\"#ffffff\"/>",
                       width, CHART_H);
    if (!e)
        e = buf_printf(out,
                       "<text x=\"%d\" y=\"22\" font-size=\"13\" font-weight=\"bold\" "
                       "fill=\"#1e1e1e\">",
                       LEFT);
    if (!e)
        e = buf_puts(out, en ? "Pass rate per category" : "Taux de réussite par catégorie");
    if (!e)
        e = buf_puts(out, "</text>");
    if (!e)
        e = axis(out, width);
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        if (!e)
            e = group(out, versions, json_string_value(name), LEFT + 12 + (int)i * group_w, en);
    }
    if (!e)
        e = legend(out, versions, en);
    if (!e)
        e = buf_puts(out, "</svg>\n");
    json_decref(names);
    json_decref(versions);
    return e;
}
