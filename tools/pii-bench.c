/* Throughput of the PII detector (src/gdpr/pii.c) on generated French text.
 *
 *   pii-bench [MB] [rounds]      defaults: 8 MB, 5 rounds
 *
 * Builds MB megabytes of messages like those a town hall's assistant
 * receives (accented prose, dates, amounts, postal codes, references), with
 * an identifier in about one sentence out of eight, then times pii_scan and
 * pii_mask over the whole text, best of the rounds, and does the same on a
 * dense text where every sentence holds identifiers. Prints MB/s (10^6
 * bytes per second). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/str.h"
#include "gdpr/pii.h"

#include "core/banned.h"

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const prose[] = {
    "Bonjour, je souhaite inscrire mon fils à la cantine scolaire à partir de la rentrée. ",
    "Quels sont les horaires d'ouverture de la médiathèque le samedi matin ? ",
    "La déchetterie intercommunale est fermée les jours fériés, notamment le 1er mai. ",
    "Le conseil municipal se réunira le jeudi 14 mars à 18 h 30 en salle des fêtes. ",
    "Pouvez-vous m'indiquer les pièces à fournir pour une demande de carte d'identité ? ",
    "Le montant de la redevance s'élève à 1 234,56 € pour l'année 2024. ",
    "Mon adresse est 12 rue de la République, 69002 Lyon. ",
    "J'ai reçu l'avis n° 2024/00123 concernant le stationnement résidentiel. ",
    "Les travaux de voirie commenceront le 03/06/2024 et dureront environ 3 semaines. ",
    "Merci de joindre un justificatif de domicile de moins de trois mois. ",
    "L'école élémentaire Jean-Jaurès accueille 245 élèves répartis en 10 classes. ",
    "Réf. dossier : URB-2024-0457, permis de construire déposé le 12 février. ",
    "Le budget participatif 2025 est doté de 150\u00a0000\u00a0€. ",
    "Ça m'arrangerait d'avoir un rendez-vous après 17 h, c'est possible ? ",
    "Facture FAC-2024-000871 réglée le 15/01/2024, montant 89,90 €. ",
    "Le bus 42 passe toutes les 15 minutes à l'arrêt Hôtel de Ville. ",
};

static const char *const ids[] = {
    "Vous pouvez me joindre au 06 12 34 56 78 en journée. ",
    "Mon numéro de sécurité sociale est 1 85 03 75 123 456 41. ",
    "Voici mon IBAN : FR76 6887 1939 3252 4097 9704 832. ",
    "Écrivez-moi à élodie.martin@exemple.fr, merci. ",
    "Je suis née le 3 mars 1985 à Besançon. ",
    "Véhicule immatriculé AB-123-CD, stationné devant la mairie. ",
    "Entreprise SIRET 404 833 048 00006, TVA FR83404833048. ",
    "Paiement par carte 4970 1012 3456 7893 refusé. ",
    "Appelez le +33 (0)6 12 34 56 78 ou le 0033 1 23 45 67 89. ",
    "Ancienne plaque 1234 AB 75, numéro RIB 20041 01005 0500013M026 06. ",
};

static void fill(struct buf *b, size_t bytes, unsigned id_every)
{
    while (b->len < bytes) {
        const char *s = rnd(id_every) == 0 ? ids[rnd(sizeof ids / sizeof *ids)]
                                           : prose[rnd(sizeof prose / sizeof *prose)];
        if (buf_puts(b, s) != LAIR_OK) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        if (rnd(6) == 0)
            buf_puts(b, "\n");
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench(const char *label, struct str text, int rounds)
{
    double best_scan = 1e9, best_mask = 1e9;
    size_t matches = 0;
    struct buf out;
    buf_init(&out, text.len * 2 + 1024);
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        matches = pii_scan(text, NULL, 0);
        double t1 = now();
        buf_reset(&out);
        if (pii_mask(text, &out) != LAIR_OK) {
            fprintf(stderr, "pii_mask failed\n");
            exit(1);
        }
        double t2 = now();
        if (t1 - t0 < best_scan)
            best_scan = t1 - t0;
        if (t2 - t1 < best_mask)
            best_mask = t2 - t1;
    }
    double mb = (double)text.len / 1e6;
    printf("%-28s %8.2f MB %9zu matches   pii_scan %8.1f MB/s   pii_mask %8.1f MB/s\n", label, mb,
           matches, mb / best_scan, mb / best_mask);
    buf_release(&out);
}

int main(int argc, char **argv)
{
    double mb = argc > 1 ? strtod(argv[1], NULL) : 8;
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
    if (mb <= 0 || mb > 1024 || rounds < 1) {
        fprintf(stderr, "usage: pii-bench [MB (0-1024)] [rounds]\n");
        return 2;
    }
    size_t bytes = (size_t)(mb * 1e6);
    struct buf text;

    buf_init(&text, bytes + 4096);
    fill(&text, bytes, 8);
    bench("messages (1 id / 8 phrases)", buf_str(&text), rounds);
    buf_release(&text);

    buf_init(&text, bytes + 4096);
    fill(&text, bytes, 1);
    bench("identifiers only", buf_str(&text), rounds);
    buf_release(&text);

    buf_init(&text, bytes + 4096);
    fill(&text, bytes, 1u << 30);
    bench("prose without identifiers", buf_str(&text), rounds);
    buf_release(&text);
    return 0;
}
