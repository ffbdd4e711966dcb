// xapian_peer: the retrieval peer of bench/rag. Indexes the same passages
// that LibreAIr ingests (one document per passage, named <id>.txt, holding the
// passage text only) with Xapian's French stemmer and stop words, then runs
// each question as a BM25 OR query and writes the ten best passage ids with
// the search time.
//
// usage: xapian_peer [OPTIONS] CORPUS.jsonl DBDIR QUESTIONS.jsonl RUNFILE [QUESTIONS RUNFILE]...
//   --stem some|all|none   stemming strategy (TermGenerator and QueryParser;
//                          default some)
//   --k1 X --b X           BM25Weight(k1, 0, 1, b, 0.5) (Xapian's defaults:
//                          k1 1, b 0.5)
//   --no-elisions          leave French elisions (l', qu', jusqu'...) glued to
//                          their word, as Xapian's TermGenerator does alone
//   --spelling             index the words for spelling correction
//                          (TermGenerator::FLAG_SPELLING) and parse every
//                          question with FLAG_SPELLING_CORRECTION: when Xapian
//                          suggests a corrected question, that one is run
//   --grid K1S BS          search every (k1, b) of the comma-separated lists:
//                          RUNFILE becomes a prefix, one RUNFILE.k1=X,b=Y each
//   RUNFILE gets one line per question:  <question id> TAB <ms> TAB <id1,id2,...>
//   stdout gets:  indexed <passages> <bytes> <seconds>
//                 config <the configuration, in words>
//
// Both files are JSON Lines; only the fields "id", "text" (corpus) and "id",
// "question" (questions) are read, with jansson (a C library, as in the
// product). Build: g++ -O2 -std=c++17 xapian_peer.cc -lxapian -ljansson
#include <jansson.h>
#include <xapian.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

// French stop words for Xapian's SimpleStopper (Xapian ships no list): the
// common function words (articles, pronouns, prepositions, conjunctions,
// forms of être and avoir) and question words, as LibreAIr's analyzer drops
// (its list is longer). With them Xapian's R@5 on spf is 0.862; without,
// 0.859 (docs/internals/analyzer.md): the peer gets the better setting.
const char *const kStop[] = {
    "a", "à", "au", "aux", "avec", "ce", "ces", "cet", "cette", "dans", "de", "des", "du",
    "elle", "elles", "en", "et", "eux", "il", "ils", "je", "la", "le", "les", "leur", "leurs",
    "lui", "ma", "mais", "me", "même", "mes", "moi", "mon", "ne", "nos", "notre", "nous", "on",
    "ou", "où", "par", "pas", "pour", "qu", "que", "qui", "sa", "se", "ses", "son", "sur", "ta",
    "te", "tes", "toi", "ton", "tu", "un", "une", "vos", "votre", "vous", "c", "d", "j", "l",
    "m", "n", "s", "t", "y", "est", "sont", "été", "être", "avoir", "ai", "as", "avons", "avez",
    "ont", "suis", "es", "sommes", "êtes", "était", "étaient", "sera", "seront", "serait",
    "ceci", "cela", "ça", "si", "comment", "quel", "quelle", "quels", "quelles", "quand",
    "pourquoi", "combien", "quoi", "lequel", "laquelle", "est-ce", "peut", "doit", "faut",
};

double now_ms()
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// Calls fn(object) for each line of a JSON Lines file; false on a bad line.
template <class F> bool each_line(const char *path, F fn)
{
    std::ifstream in(path);
    if (!in) {
        std::cerr << "xapian_peer: cannot read " << path << "\n";
        return false;
    }
    std::string line;
    size_t no = 0;
    while (std::getline(in, line)) {
        no++;
        if (line.empty())
            continue;
        json_error_t err;
        json_t *o = json_loadb(line.data(), line.size(), 0, &err);
        if (!json_is_object(o)) {
            std::cerr << "xapian_peer: " << path << ":" << no << ": " << err.text << "\n";
            json_decref(o);
            return false;
        }
        fn(o);
        json_decref(o);
    }
    return true;
}

const char *field(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

// French elided words: Xapian's TermGenerator keeps "l'école" or
// "qu'il" as one term (the apostrophe joins letters), so neither the stop
// words nor the stemmer see "école". They are cut off here, before Xapian
// sees the text, on both sides (LibreAIr's analyzer does the same).
const char *const kElided[] = {"l",  "d", "qu",    "j",      "n",      "s",      "c",
                               "m",  "t", "jusqu", "lorsqu", "puisqu", "quelqu", "quoiqu"};

bool is_word_byte(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

// The text with each elided word and its apostrophe (' or U+2019 ’)
// replaced by a space: "l’école d'été" gives "  école   été".
std::string split_elisions(const char *text)
{
    std::string out;
    size_t n = std::strlen(text);
    out.reserve(n);
    for (size_t i = 0; i < n;) {
        bool at_word = i == 0 || !(is_word_byte((unsigned char)text[i - 1]) ||
                                   (unsigned char)text[i - 1] >= 0x80);
        size_t cut = 0;
        if (at_word)
            for (const char *e : kElided) {
                size_t m = std::strlen(e), j = 0;
                while (j < m && i + j < n && (text[i + j] | 0x20) == e[j])
                    j++;
                if (j < m)
                    continue;
                if (i + m < n && text[i + m] == '\'')
                    cut = m + 1;
                else if (i + m + 2 < n && std::memcmp(text + i + m, "\xe2\x80\x99", 3) == 0)
                    cut = m + 3;
                if (cut)
                    break;
            }
        if (cut) {
            out.append(cut, ' ');
            i += cut;
        } else {
            out += text[i++];
        }
    }
    return out;
}

struct options {
    std::string stem = "some";
    double k1 = 1.0, b = 0.5;
    bool elisions = true, spelling = false;
    std::vector<double> grid_k1, grid_b;
};

std::vector<double> parse_list(const char *s)
{
    std::vector<double> v;
    for (const char *p = s; *p;) {
        char *end;
        v.push_back(std::strtod(p, &end));
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p)
            break;
    }
    return v;
}

std::string describe(const options &o, double k1, double b)
{
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "Xapian %s, French stemmer STEM_%s, French stop words, elisions %s, "
                  "BM25Weight(k1=%g, k2=0, k3=1, b=%g, min_normlen=0.5), OP_OR%s",
                  Xapian::version_string(), o.stem == "all" ? "ALL" : o.stem == "none" ? "NONE" : "SOME",
                  o.elisions ? "split" : "kept", k1, b,
                  o.spelling ? ", spelling correction (FLAG_SPELLING_CORRECTION)" : "");
    return buf;
}

// Runs the questions of qfile into runfile with BM25(k1, b).
bool search(const options &o, Xapian::Database &db, Xapian::QueryParser &qp, const char *qfile,
            const std::string &runfile, double k1, double b)
{
    FILE *run = std::fopen(runfile.c_str(), "w");
    if (!run) {
        std::cerr << "xapian_peer: cannot write " << runfile << "\n";
        return false;
    }
    Xapian::Enquire enq(db);
    enq.set_weighting_scheme(Xapian::BM25Weight(k1, 0, 1, b, 0.5));
    bool ok = each_line(qfile, [&](json_t *o_) {
        double q0 = now_ms();
        std::string text = o.elisions ? split_elisions(field(o_, "question")) : field(o_, "question");
        // No boolean or phrase syntax: the question is plain words, as in
        // LibreAIr, where nothing in a question acts as query syntax.
        unsigned flags = o.spelling ? Xapian::QueryParser::FLAG_SPELLING_CORRECTION : 0;
        Xapian::Query q = qp.parse_query(text, flags);
        if (o.spelling) {
            std::string fixed = qp.get_corrected_query_string();
            if (!fixed.empty())
                q = qp.parse_query(fixed, 0);
        }
        enq.set_query(q);
        Xapian::MSet ms = enq.get_mset(0, 10);
        std::string ids;
        for (Xapian::MSetIterator it = ms.begin(); it != ms.end(); ++it) {
            std::string name = it.get_document().get_data();
            if (name.size() > 4)
                name.resize(name.size() - 4); // drop ".txt"
            if (!ids.empty())
                ids += ',';
            ids += name;
        }
        double ms_taken = now_ms() - q0;
        std::fprintf(run, "%s\t%.4f\t%s\n", field(o_, "id"), ms_taken, ids.c_str());
    });
    return std::fclose(run) == 0 && ok;
}

} // namespace

int main(int argc, char **argv)
{
    options o;
    int i = 1;
    for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; i++) {
        std::string a = argv[i];
        bool has = i + 1 < argc;
        if (a == "--stem" && has)
            o.stem = argv[++i];
        else if (a == "--k1" && has)
            o.k1 = std::atof(argv[++i]);
        else if (a == "--b" && has)
            o.b = std::atof(argv[++i]);
        else if (a == "--no-elisions")
            o.elisions = false;
        else if (a == "--spelling")
            o.spelling = true;
        else if (a == "--grid" && i + 2 < argc) {
            o.grid_k1 = parse_list(argv[++i]);
            o.grid_b = parse_list(argv[++i]);
        } else {
            std::cerr << "xapian_peer: bad option " << a << "\n";
            return 2;
        }
    }
    if (argc - i < 4 || (argc - i) % 2 != 0 ||
        (o.stem != "some" && o.stem != "all" && o.stem != "none")) {
        std::cerr << "usage: xapian_peer [--stem some|all|none] [--k1 X] [--b X] [--no-elisions]"
                     " [--spelling] [--grid K1S BS] CORPUS.jsonl DBDIR QUESTIONS.jsonl RUNFILE"
                     " [QUESTIONS RUNFILE]...\n";
        return 2;
    }
    const char *corpus = argv[i], *dbdir = argv[i + 1];
    Xapian::SimpleStopper stopper;
    for (const char *w : kStop)
        stopper.add(w);
    Xapian::Stem stem("french");
    auto tg_strategy = o.stem == "all"    ? Xapian::TermGenerator::STEM_ALL
                       : o.stem == "none" ? Xapian::TermGenerator::STEM_NONE
                                          : Xapian::TermGenerator::STEM_SOME;
    auto qp_strategy = o.stem == "all"    ? Xapian::QueryParser::STEM_ALL
                       : o.stem == "none" ? Xapian::QueryParser::STEM_NONE
                                          : Xapian::QueryParser::STEM_SOME;

    size_t n_docs = 0, bytes = 0;
    double t0 = now_ms();
    try {
        Xapian::WritableDatabase db(dbdir, Xapian::DB_CREATE_OR_OVERWRITE);
        Xapian::TermGenerator tg;
        tg.set_stemmer(stem);
        tg.set_stopper(&stopper);
        tg.set_stemming_strategy(tg_strategy);
        if (o.spelling) {
            tg.set_database(db);
            tg.set_flags(Xapian::TermGenerator::FLAG_SPELLING);
        }
        db.begin_transaction(false);
        bool ok = each_line(corpus, [&](json_t *j) {
            const char *text = field(j, "text");
            Xapian::Document doc;
            tg.set_document(doc);
            if (o.elisions)
                tg.index_text(split_elisions(text));
            else
                tg.index_text(text);
            doc.set_data(std::string(field(j, "id")) + ".txt");
            db.add_document(doc);
            n_docs++;
            bytes += std::strlen(text);
        });
        db.commit_transaction();
        db.commit();
        if (!ok)
            return 1;
    } catch (const Xapian::Error &e) {
        std::cerr << "xapian_peer: indexing: " << e.get_description() << "\n";
        return 1;
    }
    double t_index = (now_ms() - t0) / 1000.0;
    std::printf("indexed %zu %zu %.3f\n", n_docs, bytes, t_index);
    std::printf("config %s\n", describe(o, o.k1, o.b).c_str());

    try {
        Xapian::Database db(dbdir);
        Xapian::QueryParser qp;
        qp.set_stemmer(stem);
        qp.set_stopper(&stopper);
        qp.set_stemming_strategy(qp_strategy);
        qp.set_default_op(Xapian::Query::OP_OR);
        qp.set_database(db);
        for (int q = i + 2; q + 1 < argc; q += 2) {
            if (o.grid_k1.empty()) {
                if (!search(o, db, qp, argv[q], argv[q + 1], o.k1, o.b))
                    return 1;
                continue;
            }
            for (double k1 : o.grid_k1)
                for (double b : o.grid_b) {
                    char suffix[64];
                    std::snprintf(suffix, sizeof suffix, ".k1=%g,b=%g", k1, b);
                    if (!search(o, db, qp, argv[q], std::string(argv[q + 1]) + suffix, k1, b))
                        return 1;
                }
        }
    } catch (const Xapian::Error &e) {
        std::cerr << "xapian_peer: search: " << e.get_description() << "\n";
        return 1;
    }
    return 0;
}
