// xapian_peer: the retrieval peer of bench/rag. Indexes the same passages
// that LibreAIr ingests (one document per passage, named <id>.txt, holding the
// passage text only) with Xapian's French stemmer and stop words, then runs
// each question as a BM25 OR query (Xapian's defaults) and writes the ten best
// passage ids with the search time.
//
// usage: xapian_peer CORPUS.jsonl QUESTIONS.jsonl DBDIR RUNFILE
//   RUNFILE gets one line per question:  <question id> TAB <ms> TAB <id1,id2,...>
//   stdout gets one line:  indexed <passages> <bytes> <seconds>
//
// Both files are JSON Lines; only the fields "id", "text" (corpus) and "id",
// "question" (questions) are read, with jansson (a C library, as in the
// product). Build: g++ -O2 -std=c++17 xapian_peer.cc -lxapian -ljansson
#include <jansson.h>
#include <xapian.h>

#include <chrono>
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

} // namespace

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::cerr << "usage: xapian_peer CORPUS.jsonl QUESTIONS.jsonl DBDIR RUNFILE\n";
        return 2;
    }
    Xapian::SimpleStopper stopper;
    for (const char *w : kStop)
        stopper.add(w);
    Xapian::Stem stem("french");

    size_t n_docs = 0, bytes = 0;
    double t0 = now_ms();
    try {
        Xapian::WritableDatabase db(argv[3], Xapian::DB_CREATE_OR_OVERWRITE);
        Xapian::TermGenerator tg;
        tg.set_stemmer(stem);
        tg.set_stopper(&stopper);
        tg.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
        db.begin_transaction(false);
        bool ok = each_line(argv[1], [&](json_t *o) {
            const char *text = field(o, "text");
            Xapian::Document doc;
            tg.set_document(doc);
            tg.index_text(text);
            doc.set_data(std::string(field(o, "id")) + ".txt");
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

    FILE *run = std::fopen(argv[4], "w");
    if (!run) {
        std::cerr << "xapian_peer: cannot write " << argv[4] << "\n";
        return 1;
    }
    try {
        Xapian::Database db(argv[3]);
        Xapian::Enquire enq(db);
        enq.set_weighting_scheme(Xapian::BM25Weight());
        Xapian::QueryParser qp;
        qp.set_stemmer(stem);
        qp.set_stopper(&stopper);
        qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
        qp.set_default_op(Xapian::Query::OP_OR);
        qp.set_database(db);
        bool ok = each_line(argv[2], [&](json_t *o) {
            double q0 = now_ms();
            // No boolean or phrase syntax: the question is plain words, as in
            // LibreAIr, where nothing in a question acts as query syntax.
            Xapian::Query q = qp.parse_query(field(o, "question"), 0);
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
            std::fprintf(run, "%s\t%.4f\t%s\n", field(o, "id"), ms_taken, ids.c_str());
        });
        if (!ok) {
            std::fclose(run);
            return 1;
        }
    } catch (const Xapian::Error &e) {
        std::cerr << "xapian_peer: search: " << e.get_description() << "\n";
        std::fclose(run);
        return 1;
    }
    return std::fclose(run) == 0 ? 0 : 1;
}
