#!/usr/bin/env python3
"""Writes pii.tsv, the labelled set that tests/unit/test_pii.c measures the
PII detector against.

Every identifier is invented here, with its checksum computed here: no line
comes from a real person or company. The output is committed so that the test
does not need Python; run `python3 tests/data/pii/make.py` to regenerate it
(deterministic: fixed seed).

Columns, tab-separated, one line per example:
  label     pos (holds the expected matches), neg (must hold none), info
            (measured and printed, not asserted: a known trade-off)
  category  type_format for positives, what the lookalike is for negatives
  spans     type@offset+length,... in UTF-8 bytes of text ('-' for none)
  text      the example; no tab, no newline; may hold U+00A0 and U+202F
"""
import os
import random

R = random.Random(20240607)
NBSP, NNBSP = "\u00a0", "\u202f"

# ---- checksums ------------------------------------------------------------------


def luhn_ok(s):
    total = 0
    for i, ch in enumerate(reversed(s)):
        v = int(ch)
        if i % 2:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return total % 10 == 0


def luhn_complete(s):
    return next(s + str(d) for d in range(10) if luhn_ok(s + str(d)))


def luhn_break(s):
    """Same digits but the last, so that Luhn fails."""
    while True:
        t = s[:-1] + str(R.randrange(10))
        if not luhn_ok(t):
            return t


def digits(n, first="0123456789"):
    return R.choice(first) + "".join(R.choice("0123456789") for _ in range(n - 1))


def mod97(s):
    r = 0
    for ch in s:
        r = (r * 10 + int(ch)) % 97 if ch.isdigit() else (r * 100 + ord(ch) - 55) % 97
    return r


def iban_with_check(cc, bban):
    return cc + "%02d" % (98 - mod97(bban + cc + "00")) + bban


def rib_key(bank, branch, account):
    conv = "".join(c if c.isdigit() else str((ord(c) - 65 + (c >= "S")) % 9 + 1) for c in account)
    return "%02d" % (97 - (89 * int(bank) + 15 * int(branch) + 3 * int(conv)) % 97)


def nir_key(n13):
    n = n13[:5] + n13[5:7].replace("2A", "19").replace("2B", "18") + n13[7:]
    return "%02d" % (97 - int(n) % 97)


def vat_key(siren):
    return "%02d" % ((12 + 3 * (int(siren) % 97)) % 97)


# ---- formatting -----------------------------------------------------------------


def group(s, sizes, sep=" "):
    out, i = [], 0
    for g in sizes:
        out.append(s[i:i + g])
        i += g
    if i < len(s):
        out.append(s[i:])
    return sep.join(x for x in out if x)


def by4(s, sep=" "):
    return sep.join(s[i:i + 4] for i in range(0, len(s), 4))


def space():
    return R.choice([" "] * 6 + [NBSP, NNBSP])


# ---- values ---------------------------------------------------------------------


def make_siren():
    return luhn_complete(digits(8, "123456789"))


def make_siret(la_poste=False):
    if la_poste:
        while True:
            s = "356000000" + digits(5)
            if sum(map(int, s)) % 5 == 0 and not luhn_ok(s):
                return s
    siren = make_siren()
    while True:
        nic = digits(4)
        for d in range(10):
            s = siren + nic + str(d)
            if luhn_ok(s):
                return s


DEPTS = ["%02d" % d for d in range(1, 96) if d != 20] + ["2A", "2B"] * 6


def make_nir():
    sex = R.choice("12")
    year = "%02d" % R.randrange(100)
    month = "%02d" % (R.randrange(1, 13) if R.random() < 0.95 else R.choice([20, 30, 35, 42, 50, 99]))
    r = R.random()
    if r < 0.08:  # overseas: 97x + 2-digit commune
        place = "97" + R.choice("123456") + "%02d" % R.randrange(1, 100)
    elif r < 0.14:  # born abroad: 99 + country code
        place = "99" + "%03d" % R.randrange(100, 500)
    else:
        place = R.choice(DEPTS) + "%03d" % R.randrange(1, 991)
    n13 = sex + year + month + place + "%03d" % R.randrange(1, 1000)
    return n13 + nir_key(n13)


def make_fr_bban(letters=False):
    bank, branch = digits(5), digits(5)
    account = digits(11)
    if letters:
        k = R.randrange(11)
        account = account[:k] + R.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + account[k + 1:]
    return bank + branch + account + rib_key(bank, branch, account)


UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# country: (length, pattern of the BBAN: n digit, a letter, c either)
IBAN_SHAPES = {
    "DE": "n" * 18, "BE": "n" * 12, "ES": "n" * 20, "IT": "a" + "n" * 22, "NL": "aaaa" + "n" * 10,
    "GB": "aaaa" + "n" * 14, "CH": "n" * 17, "LU": "n" * 16, "PT": "n" * 21, "AT": "n" * 16,
    "IE": "aaaa" + "n" * 14, "PL": "n" * 24, "SE": "n" * 20, "DK": "n" * 14, "NO": "n" * 11,
    "GR": "n" * 23, "FI": "n" * 14, "RO": "aaaa" + "c" * 16, "MT": "aaaa" + "n" * 5 + "c" * 18,
    "LI": "n" * 5 + "c" * 12,
}


def make_iban():
    r = R.random()
    if r < 0.45:
        return iban_with_check("FR", make_fr_bban(R.random() < 0.2))
    if r < 0.5:
        return iban_with_check(R.choice(["MC", "GP", "RE"]), make_fr_bban())
    cc = R.choice(sorted(IBAN_SHAPES))
    bban = "".join(R.choice("0123456789") if t == "n" else R.choice(UPPER) if t == "a"
                   else R.choice("0123456789" + UPPER) for t in IBAN_SHAPES[cc])
    return iban_with_check(cc, bban)


def card_prefix_len():
    return R.choice([
        ("4", 16), ("4", 16), ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("53", 16), ("55", 16),
        ("2221", 16), ("2720", 16), ("2300", 16), ("34", 15), ("37", 15), ("36", 14), ("38", 14),
        ("3528", 16), ("3589", 16), ("6011", 16), ("65", 16), ("644", 16), ("62", 16), ("62", 19),
        ("6759", 16), ("5018", 16), ("5020", 19), ("6304", 16), ("300", 14), ("2200", 16),
    ])


def make_card():
    prefix, n = card_prefix_len()
    return luhn_complete(prefix + digits(n - len(prefix) - 1)), n


PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"


def make_siv():
    while True:
        a = R.choice(PLATE_LETTERS) + R.choice(PLATE_LETTERS)
        b = R.choice(PLATE_LETTERS) + R.choice(PLATE_LETTERS)
        if a != "SS" and b != "SS":
            return a, "%03d" % R.randrange(1, 1000), b


def make_fni():
    nl = R.choice([1, 2, 2, 3])
    letters = "".join(R.choice(PLATE_LETTERS) for _ in range(nl))
    if letters == "SS":
        letters = "ST"
    num = str(R.randrange(1, 1000 if nl == 3 else 10000))
    dept = R.choice(["%02d" % d for d in range(1, 96) if d != 20] + ["2A", "2B", "971", "972", "974"])
    return num, letters, dept


FIRST = ["jean", "marie", "pierre", "sophie", "luc", "claire", "nicolas", "camille", "julien", "lea",
         "thomas", "manon", "hugo", "chloe", "louis", "ines", "paul", "sarah", "antoine", "emma",
         "mathieu", "lucie", "remi", "anais", "yann", "margaux", "karim", "fatima", "mehdi", "amina"]
LAST = ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy",
        "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david", "bertrand", "roux",
        "vincent", "fournier", "morel", "girard", "andre", "mercier", "dupont", "lambert", "bonnet",
        "francois", "martinez", "legrand"]
DOMAINS = ["exemple.fr", "ville-exemple.fr", "mairie-exemple.fr", "mail.exemple.org", "exemple.com",
           "courriel.exemple.net", "agglo-exemple.fr", "exemple.eu", "test-exemple.fr", "exemple.bzh"]

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre"]
MONTHS_PLAIN = ["janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
                "octobre", "novembre", "decembre"]
DIM = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def make_date():
    y = R.randrange(1925, 2020)
    m = R.randrange(1, 13)
    d = R.randrange(1, DIM[m - 1] + 1)
    return y, m, d


def fmt_date(y, m, d):
    f = R.randrange(12)
    if f == 0:
        return "%02d/%02d/%04d" % (d, m, y)
    if f == 1:
        return "%d/%d/%04d" % (d, m, y)
    if f == 2:
        return "%02d.%02d.%04d" % (d, m, y)
    if f == 3:
        return "%02d-%02d-%04d" % (d, m, y)
    if f == 4:
        return "%02d/%02d/%02d" % (d, m, y % 100)
    if f == 5:
        return "%d %s %04d" % (d, MONTHS[m - 1], y)
    if f == 6:
        return ("1er" if d == 1 else str(d)) + " %s %04d" % (MONTHS[m - 1], y)
    if f == 7:
        return "%d %s %04d" % (d, MONTHS_PLAIN[m - 1], y)
    if f == 8:
        return "%04d-%02d-%02d" % (y, m, d)
    if f == 9:
        return "%d %s %04d" % (d, MONTHS[m - 1].capitalize(), y)
    if f == 10:
        return "%d %s %02d" % (d, MONTHS[m - 1], y % 100)
    return "%d %s %04d" % (d, MONTHS[m - 1], y)


# ---- lines ----------------------------------------------------------------------

ROWS = []


WRAPS = [("", "")] * 8 + [("(", ")"), ("«\u00a0", "\u00a0»"), ("\"", "\""), ("[", "]"), ("*", "*")]


def add(label, category, parts):
    """parts: strings, or (type, value) tuples for the expected matches; a
    lone value is sometimes wrapped in brackets or quotes."""
    values = [p for p in parts if isinstance(p, tuple)]
    if len(values) == 1 and label == "pos" and category != "birthdate":
        a, b = R.choice(WRAPS)
        k = parts.index(values[0])
        parts = parts[:k] + [a, values[0], b] + parts[k + 1:]
    text, spans = "", []
    for p in parts:
        if isinstance(p, tuple):
            off = len(text.encode())
            text += p[1]
            spans.append("%s@%d+%d" % (p[0], off, len(p[1].encode())))
        else:
            text += p
    assert "\t" not in text and "\n" not in text
    ROWS.append((label, category, ",".join(spans) or "-", text))


def pick(*xs):
    return R.choice(xs)


def sentence(value_part, befores, afters):
    return [R.choice(befores), value_part, R.choice(afters)]


END = [".", "", " merci.", ", merci d'avance.", " — cordialement.", " !", " (voir pièce jointe).",
       ", c'est urgent.", " pour le dossier de la cantine."]


def pos_nir():
    n = make_nir()
    fmts = {
        "contiguous": n,
        "spaced": group(n, [1, 2, 2, 2, 3, 3, 2], space()),
        "spaced_key": group(n[:13], [1, 2, 2, 2, 3, 3], " ") + " " + n[13:],
        "dots": group(n, [1, 2, 2, 2, 3, 3, 2], "."),
        "key_dash": group(n[:13], [1, 2, 2, 2, 3, 3], " ") + " - " + n[13:],
        "13_2": n[:13] + " " + n[13:],
        "lower": group(n, [1, 2, 2, 2, 3, 3, 2], " ").lower(),
    }
    f = R.choice(sorted(fmts))
    add("pos", "nir_" + f, sentence(("nir", fmts[f]), [
        "Mon numéro de sécurité sociale est ", "N° SS : ", "NIR ", "numéro de sécu : ",
        "Voici mon n° de sécurité sociale ", "", "Assuré·e : ", "n°\u00a0INSEE : "], END))


def pos_iban():
    v = make_iban()
    fmts = {
        "by4": by4(v), "contiguous": v, "by4_lower": by4(v).lower(), "lower": v.lower(),
        "by4_nbsp": by4(v, NBSP), "by4_dash": by4(v, "-"), "by4_nnbsp": by4(v, NNBSP),
    }
    if v[:2] in ("FR", "MC"):
        fmts["fr_rib_groups"] = v[:4] + " " + group(v[4:], [5, 5, 11, 2])
    f = R.choice(sorted(fmts))
    add("pos", "iban_" + f, sentence(("iban", fmts[f]), [
        "IBAN : ", "Mon IBAN est ", "virement sur le compte ", "iban: ", "Coordonnées bancaires — IBAN\u00a0: ",
        "Merci de rembourser sur ", ""], END))


def pos_rib():
    v = make_fr_bban(R.random() < 0.15)
    fmts = {"spaced": group(v, [5, 5, 11, 2]), "contiguous": v, "nbsp": group(v, [5, 5, 11, 2], NBSP)}
    f = R.choice(sorted(fmts))
    add("pos", "rib_" + f, sentence(("rib", fmts[f]), [
        "RIB : ", "Mon RIB : ", "banque guichet compte clé : ", "relevé d'identité bancaire ", ""], END))


def pos_siren():
    v = make_siren()
    fmts = {
        "333": (group(v, [3, 3, 3]), ["SIREN ", "Société immatriculée sous le numéro ", "", "n° ", "Entreprise : "]),
        "333_nbsp": (group(v, [3, 3, 3], NBSP), ["SIREN\u00a0: ", "", "RCS Lyon "]),
        "333_dots": (group(v, [3, 3, 3], R.choice(".-")), ["SIREN ", "siren : ", "RCS Paris "]),
        "contiguous_ctx": (v, ["SIREN : ", "siren ", "n° SIREN ", "RCS Paris B ", "RCS de Nantes ",
                                "immatriculée au RCS de Lyon sous le n° ", "Numéro SIREN\u00a0: "]),
    }
    f = R.choice(sorted(fmts))
    text, befores = fmts[f]
    add("pos", "siren_" + f, sentence(("siren", text), befores, END))


def pos_siret():
    v = make_siret(R.random() < 0.12)
    fmts = {
        "3335": (group(v, [3, 3, 3, 5]), ["SIRET ", "", "Établissement : ", "n° SIRET : "]),
        "33332": (group(v, [3, 3, 3, 3, 2]), ["SIRET : ", ""]),
        "95": (group(v, [9, 5]), ["SIRET ", ""]),
        "3335_nbsp": (group(v, [3, 3, 3, 5], NBSP), ["SIRET\u00a0: ", ""]),
        "contiguous_ctx": (v, ["SIRET : ", "siret ", "N° SIRET ", "numéro siret: ", "Siret n°"]),
    }
    f = R.choice(sorted(fmts))
    text, befores = fmts[f]
    cat = "siret_" + f + ("_laposte" if v.startswith("356000000") else "")
    add("pos", cat, sentence(("siret", text), befores, END))


def pos_vat():
    s = make_siren()
    k = vat_key(s)
    fmts = {
        "contiguous": "FR" + k + s, "spaced": "FR " + k + " " + group(s, [3, 3, 3]),
        "lower": ("fr" + k + s), "key_space": "FR" + k + " " + s, "fr_space": "FR " + k + s,
        "by_groups": "FR" + k + " " + group(s, [3, 3, 3]),
    }
    f = R.choice(sorted(fmts))
    add("pos", "vat_" + f, sentence(("vat", fmts[f]), [
        "TVA intracommunautaire : ", "N° TVA ", "numéro de TVA\u00a0: ", "", "TVA : "], END))


def pos_card():
    v, n = make_card()
    if n == 15:
        fmts = {"465": group(v, [4, 6, 5]), "contiguous": v}
    elif n == 14:  # in one piece, 14 digits are read as a SIRET
        fmts = {"464": group(v, [4, 6, 4])}
    else:
        fmts = {"by4": by4(v), "contiguous": v, "by4_dash": by4(v, "-"), "by4_nbsp": by4(v, NBSP)}
    f = R.choice(sorted(fmts))
    add("pos", "card_%s_%d" % (f, n), sentence(("card", fmts[f]), [
        "Carte n° ", "ma CB : ", "Visa ", "numéro de carte ", "", "Paiement avec la carte ",
        "carte bancaire\u00a0: "], [" exp 12/27.", "", ".", " cryptogramme au dos.", ", merci."]))


def pos_phone():
    nat = "0" + R.choice("123456789") + digits(8)
    nine = nat[1:]
    g = lambda s, sep: group(s, [2, 2, 2, 2, 2], sep)
    fmts = {
        "spaced": g(nat, " "), "contiguous": nat, "dots": g(nat, "."), "dashes": g(nat, "-"),
        "nbsp": g(nat, NBSP), "nnbsp": g(nat, NNBSP),
        "plus33": "+33 " + group(nine, [1, 2, 2, 2, 2]), "plus33_trunk": "+33 (0)" + group(nine, [1, 2, 2, 2, 2]),
        "plus33_contiguous": "+33" + nine, "0033": "0033 " + group(nine, [1, 2, 2, 2, 2]),
        "0033_contiguous": "0033" + nine, "plus33_dots": "+33." + group(nine, [1, 2, 2, 2, 2], "."),
        "plus33_zero": "+33 0" + group(nine, [1, 2, 2, 2, 2]),
        "intl": R.choice(["+32 2 %s %s %s" % (digits(3), digits(2), digits(2)),
                          "+41 22 %s %s %s" % (digits(3), digits(2), digits(2)),
                          "+49 30 %s" % digits(8), "+44 20 %s %s" % (digits(4), digits(4)),
                          "+34 6%s %s %s" % (digits(2), digits(3), digits(3)),
                          "+352 %s %s" % (digits(3), digits(3)),
                          "+44 (0)20 %s %s" % (digits(4), digits(4))]),
    }
    f = R.choice(sorted(fmts))
    add("pos", "phone_" + f, sentence(("phone", fmts[f]), [
        "Tél. : ", "Appelez-moi au ", "mon portable : ", "tel ", "Contact : ", "", "joignable au ",
        "Tél\u00a0: ", "(", "rappeler le "], [".", "", " après 18h.", ", merci.", ")", " ou par courriel."]))


def pos_email():
    first, last = R.choice(FIRST), R.choice(LAST)
    dom = R.choice(DOMAINS)
    local = R.choice([first + "." + last, first[0] + last, first + "_" + last, first + "-" + last,
                      last + str(R.randrange(1, 99)), first + "." + last + "+mairie",
                      first + "." + last[0]])
    v = local + "@" + dom
    f = R.choice(["lower", "lower", "capitalized", "upper_domain"])
    if f == "capitalized":
        v = local.title() + "@" + dom
    elif f == "upper_domain":
        v = local + "@" + dom.upper()
    add("pos", "email_" + f, sentence(("email", v), [
        "Écrivez-moi à ", "courriel : ", "mail: ", "<", "Contact\u00a0: ", "", "mon adresse est "],
        [".", "", ">", " pour la réponse.", ", merci."]))


def pos_plate():
    r = R.random()
    if r < 0.6:
        a, n, b = make_siv()
        f = R.choice(["dash", "dash", "space", "contiguous", "lower_dash", "lower_contiguous"])
        v = {"dash": "%s-%s-%s", "space": "%s %s %s", "contiguous": "%s%s%s",
             "lower_dash": "%s-%s-%s", "lower_contiguous": "%s%s%s"}[f] % (a, n, b)
        if f.startswith("lower"):
            v = v.lower()
        cat = "plate_siv_" + f
    else:
        n, l, d = make_fni()
        f = R.choice(["space", "space", "dash"])
        v = (n + " " + l + " " + d) if f == "space" else (n + "-" + l + "-" + d)
        cat = "plate_fni_" + f
    add("pos", cat, sentence(("plate", v), [
        "Véhicule immatriculé ", "Plaque : ", "immatriculation ", "ma voiture ", "", "PV pour le véhicule "], END))


def pos_birthdate():
    y, m, d = make_date()
    v = fmt_date(y, m, d)
    trig = R.choice(["né le ", "née le ", "Né le ", "Née le ", "né(e) le ", "ne le ", "Date de naissance : ",
                     "date de naissance: ", "DDN : ", "DDN ", "ddn: ", "Naissance : ", "NÉ LE ",
                     "née à Lyon le ", "né à Saint-Étienne le ", "Date de naissance\u00a0: ",
                     "Né(e) le : ", "née le mardi ", "né·e le "])
    add("pos", "birthdate", [R.choice(["", "Mon fils, ", "Dossier de Mme X, ", "Enfant ", "M. Y, "]),
                             trig, ("birthdate", v), R.choice(END + [" à Lyon.", " à Besançon."])])


def pos_mixed():
    """Several identifiers in one message, with accents around them."""
    parts = ["Bonjour, je suis née le "]
    y, m, d = make_date()
    parts.append(("birthdate", "%02d/%02d/%04d" % (d, m, y)))
    parts.append(" à Besançon ; mon numéro de sécurité sociale est ")
    parts.append(("nir", group(make_nir(), [1, 2, 2, 2, 3, 3, 2])))
    parts.append(", téléphone ")
    parts.append(("phone", group("07" + digits(8), [2, 2, 2, 2, 2])))
    parts.append(" et courriel ")
    parts.append(("email", R.choice(FIRST) + "." + R.choice(LAST) + "@" + R.choice(DOMAINS)))
    parts.append(". Remboursement sur l'IBAN ")
    parts.append(("iban", by4(iban_with_check("FR", make_fr_bban()))))
    parts.append(" s'il vous plaît — « très urgent » ; véhicule ")
    a, n, b = make_siv()
    parts.append(("plate", "%s-%s-%s" % (a, n, b)))
    parts.append(".")
    add("pos", "mixed", parts)


# ---- negatives -------------------------------------------------------------------


def neg(category, text):
    add("neg", category, [text])


def neg_wrong_keys():
    n = make_nir()
    bad = n[:13] + "%02d" % ((int(n[13:]) + R.randrange(1, 96)) % 97 + 1)
    neg("nir_wrong_key", pick("Mon numéro de sécurité sociale est ", "NIR ", "") +
        pick(bad, group(bad, [1, 2, 2, 2, 3, 3, 2])) + ".")
    v = make_iban()
    bad = v[:2] + "%02d" % ((int(v[2:4]) + R.randrange(1, 90)) % 97) + v[4:]
    if mod97(bad[4:] + bad[:4]) != 1:
        neg("iban_wrong_key", pick("IBAN : ", "iban ", "") + pick(by4(bad), bad) + ".")
    b = make_fr_bban()
    bad = b[:21] + "%02d" % ((int(b[21:]) + R.randrange(1, 96)) % 97 + 1)
    neg("rib_wrong_key", pick("RIB : ", "") + pick(group(bad, [5, 5, 11, 2]), bad) + ".")
    s = luhn_break(make_siren())
    neg("siren_wrong_luhn", pick("SIREN ", "siren : ", "RCS Paris ", "") + pick(group(s, [3, 3, 3]), s) + ".")
    s = make_siret()
    bad = luhn_break(s)
    neg("siret_wrong_luhn", pick("SIRET ", "") + pick(group(bad, [3, 3, 3, 5]), bad) + ".")
    s = make_siren()
    k = (int(vat_key(s)) + R.randrange(1, 96)) % 97
    neg("vat_wrong_key", pick("TVA intracommunautaire : ", "N° TVA ") + "FR%02d%s" % (k, s) + ".")
    c, n = make_card()
    bad = luhn_break(c)
    neg("card_wrong_luhn", pick("Carte n° ", "ma CB ", "") + pick(by4(bad), bad) + pick(" exp 12/27.", "."))
    # Luhn-valid but no issuer starts so.
    c = luhn_complete(R.choice("1789") + digits(14))
    neg("card_unknown_issuer", pick("Carte ", "numéro ") + pick(by4(c), c) + ".")
    # NIR with a valid key but an impossible month or sex.
    n13 = R.choice("569") + "%02d" % R.randrange(100) + "%02d" % R.randrange(1, 13) + digits(8, "123456789")
    if R.random() < 0.5:
        n13 = "1" + "%02d" % R.randrange(100) + R.choice(["13", "15", "19", "00", "45"]) + n13[5:]
    neg("nir_bad_structure", "Numéro : " + n13 + nir_key(n13))


def neg_phones():
    r = R.randrange(6)
    if r == 0:
        neg("phone_00_prefix", pick("Numéro ", "tél ", "") + group("00" + digits(8), [2, 2, 2, 2, 2]) + ".")
    elif r == 1:
        neg("phone_no_leading_zero", pick("Numéro client ", "ID ", "") + digits(10, "123456789") + ".")
    elif r == 2:
        neg("phone_9_digits", "Appelez le " + group("06" + digits(7), [2, 2, 2, 2, 1]) + ".")
        # 11 digits glued: not a phone
    elif r == 3:
        neg("phone_11_digits", "Numéro " + "06" + digits(9) + ".")
    elif r == 4:
        neg("short_numbers", pick("Composez le 3949.", "Appelez le 15 ou le 112.", "Le 3919 est gratuit.",
                                  "Service au 36 46.", "Code 1234."))
    else:
        neg("phone_letter_glued", "Modèle XR" + "06" + digits(8) + " en stock.")


def neg_dates():
    y, m, d = make_date()
    r = R.randrange(7)
    if r == 0:
        neg("date_no_trigger", "Rendez-vous le %02d/%02d/%04d à 14h." % (d, m, y))
    elif r == 1:
        neg("date_no_trigger", "La réunion du %d %s %04d est reportée." % (d, MONTHS[m - 1], y))
    elif r == 2:
        neg("date_range", "Du %02d.%02d.%04d au %02d.%02d.%04d inclus." % (d, m, y, d, m, y + 1))
    elif r == 3:
        neg("date_iso", "Mis à jour le %04d-%02d-%02d." % (y, m, d))
    elif r == 4:
        dd = R.choice([(31, 2), (30, 2), (32, 1), (31, 4), (12, 13), (0, 5)])
        neg("birthdate_invalid_date", "né le %02d/%02d/%04d à Lyon." % (dd[0], dd[1], y))
    elif r == 5:
        neg("birthdate_feb29_non_leap", "née le 29/02/%04d." % R.choice([1985, 1990, 2001, 1900, 2019]))
    else:
        neg("birthdate_year_only", "né en %04d à Paris, date de naissance inconnue." % y)


def amount():
    r = R.randrange(5)
    n = digits(R.randrange(7, 17), "123456789")
    if r == 0:
        return "Budget : " + group(n[::-1], [3] * 6)[::-1] + " €."
    if r == 1:
        return "Montant de " + group(n[::-1], [3] * 6, NNBSP)[::-1] + "\u00a0€ HT."
    if r == 2:
        return "Subvention de " + group(n[::-1], [3] * 6)[::-1] + " euros."
    if r == 3:
        return "Total " + group(n[::-1], [3] * 6)[::-1] + ",%02d €" % R.randrange(100)
    return "Population : " + group(n[::-1], [3] * 6)[::-1] + " habitants."


def neg_references():
    r = R.randrange(9)
    if r == 0:
        neg("order_number_ctx", "Commande n° " + digits(R.choice([9, 10, 12, 14, 16]), "123456789") + " expédiée.")
    elif r == 1:
        neg("invoice_number", "Facture FAC-%04d-%06d du mois dernier." % (R.randrange(2015, 2026), R.randrange(1, 10 ** 6)))
    elif r == 2:
        neg("reference_ctx", "Réf. " + digits(R.choice([9, 13, 14, 15, 16, 19]), "123456789") + " à rappeler.")
    elif r == 3:
        neg("case_number", "Dossier n° %04d/%05d en cours." % (R.randrange(2015, 2026), R.randrange(1, 10 ** 5)))
    elif r == 4:
        neg("tracking_ctx", "Numéro de suivi : " + digits(R.choice([11, 13, 15]), "123456789") + ".")
    elif r == 5:
        neg("ticket", "Ticket #%d ouvert." % R.randrange(1, 10 ** 7))
    elif r == 6:
        neg("zero_padded", "Pièce " + "00" + digits(R.choice([7, 8, 12]), "0123456789") + " classée.")
    elif r == 7:
        neg("contract_ctx", "Contrat " + digits(R.choice([10, 14, 16]), "0123456789") + " résilié.")
    else:
        neg("version_ip", pick("Version 1.2.%d" % R.randrange(50), "Serveur 192.168.%d.%d" % (R.randrange(255), R.randrange(255)),
                               "Article L. 2122-%d du CGCT" % R.randrange(1, 40), "Décret n° 2019-%d du 6 août 2019" % R.randrange(1, 1500)))


def neg_misc():
    r = R.randrange(10)
    if r == 0:
        neg("postal_code", "%05d %s" % (R.choice([75001, 69007, 13008, 33000, 31000, 44000, 67000, 35000, 20000, 97400]) + R.randrange(0, 20),
                                        pick("Paris", "Lyon Cedex 07", "Marseille", "Bordeaux", "Ajaccio")))
    elif r == 1:
        neg("year", pick("En %d, la commune comptait 3 écoles." % R.randrange(1900, 2030),
                         "De %d à %d, travaux." % (R.randrange(1950, 2000), R.randrange(2000, 2030))))
    elif r == 2:
        neg("time_percent", "Ouvert de %dh%02d à %dh ; hausse de %d %%." % (R.randrange(7, 10), R.choice([0, 30]), R.randrange(17, 20), R.randrange(1, 100)))
    elif r == 3:
        a, n, b = make_siv()
        bad = R.choice([a[0] + "I", "SS", "O" + a[1], "U" + a[0]]) + "-" + n + "-" + b
        neg("plate_bad_letters", "Véhicule " + pick(bad, a + "-000-" + b, a.lower() + " " + n + " " + b.lower(), a + "-" + n + "-" + b.lower()) + ".")
    elif r == 4:
        n, l, d = make_fni()
        neg("plate_fni_bad", "Plaque " + pick("0" + n + " " + l + " " + d, n + " " + l.lower() + " " + d,
                                              n + " " + l + " 99", "12345 " + l + " " + d, n + " " + l + "I " + d) + ".")
    elif r == 5:
        neg("email_invalid", pick("jean@localhost", "contact: @mairie", "mail jean.dupont@ vide",
                                  "user@domain", "suivez @ville_exemple", "jean@@exemple.fr", "a@b.c",
                                  "prix @ 12 €", "x@-exemple.fr"))
    elif r == 6:
        neg("iban_wrong_length", "IBAN " + by4(make_iban()[:-1]) + ".")
    elif r == 7:
        neg("amount", amount())
    elif r == 8:
        neg("decimal", "π vaut environ 3,%s et e 2,%s." % (digits(14), digits(15)))
    else:
        neg("phone_like_code", pick("Code d'accès 1234 5678.", "Badge 06-12.", "Salle 0612.",
                                    "Lot 12, parcelle 0612345 678.", "Arrêté 2024-0612 du maire."))


def neg_prose():
    neg("prose", R.choice([
        "Bonjour, je souhaite inscrire mon enfant à la cantine à partir de septembre.",
        "Quels sont les horaires d'ouverture de la médiathèque le samedi ?",
        "La déchetterie est fermée le 1er mai et le 14 juillet.",
        "Le conseil municipal se réunit le 3e jeudi du mois à 18 h 30.",
        "J'ai perdu mes papiers au marché de Noël, à qui m'adresser ?",
        "LE MAIRE DE LA COMMUNE ARRÊTE : ARTICLE 1 — LA CIRCULATION EST INTERDITE RUE DES ÉCOLES.",
        "Le PLU révisé en 2019 classe 12 ha en zone AU.",
        "Dépôt du permis de construire : 2 mois d'instruction, 3 si le terrain est en site classé.",
        "Merci de joindre un justificatif de domicile de moins de 3 mois.",
        "RN 7 fermée entre le PK 12 et le PK 18 jusqu'au 15 mars.",
        "Le budget 2024 prévoit 1,2 M€ pour la rénovation de l'école.",
        "Ça coûte 12 € par mois, soit 144 € par an — très raisonnable.",
        "Le bus 42 passe toutes les 15 minutes, arrêt Hôtel de Ville.",
        "Né à Lyon, il a grandi à Villeurbanne.",
        "Le document ISBN 978-2-07-036822-8 est disponible.",
        "Rendez-vous salle B 204 au 2e étage.",
    ]))


def ean13(body12):
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def neg_admin_numbers():
    """Numbers of everyday French paperwork that are not in scope."""
    r = R.randrange(10)
    if r == 0:
        neg("energy_meter", pick("Point de livraison (PDL) : ", "PRM ", "N° PCE ") + digits(14) + ".")
    elif r == 1:
        neg("ean13", "Code-barres " + pick(ean13("3" + digits(11)), "3 " + digits(6) + " " + digits(6)) + ".")
    elif r == 2:
        neg("tax_number", "Numéro fiscal : " + digits(13, "0123") + pick("", " — référence de l'avis 24 75 A" + digits(6) + " 12") + ".")
    elif r == 3:
        neg("timestamp", pick("Horodatage " + "20%02d%02d%02d%02d%02d%02d" % (R.randrange(10, 26), R.randrange(1, 13), R.randrange(1, 29),
                                                                       R.randrange(24), R.randrange(60), R.randrange(60)),
                              "epoch " + str(R.randrange(1500000000, 1800000000))) + ".")
    elif r == 4:
        neg("caf_number", "N° allocataire CAF : " + digits(7, "123456789") + ".")
    elif r == 5:
        neg("tracking_alnum", pick("Colissimo 6A" + digits(11), "Lettre suivie 1K" + digits(11),
                                   "Chronopost XY" + digits(9) + "FR") + ".")
    elif r == 6:
        neg("address", "%d %s, %05d %s" % (R.randrange(1, 200), pick("rue de la République", "avenue Jean Jaurès", "bd Gambetta",
                                                                      "place du Marché", "allée des Tilleuls"),
                                            R.randrange(1000, 96000), pick("Lyon", "Rennes", "Nîmes", "Bastia", "Pau")))
    elif r == 7:
        neg("compact_date", "Export du " + "%02d%02d%04d" % (R.randrange(1, 29), R.randrange(1, 13), R.randrange(1990, 2030)) + ".")
    elif r == 8:
        neg("lottery_list", "Numéros tirés : " + " ".join(str(R.randrange(1, 50)) for _ in range(6)) + ".")
    else:
        neg("cadastre", "Parcelle cadastrale %03d %s %04d, invariant %s." % (R.randrange(1, 999), pick("AB", "ZC", "K", "BD"),
                                                                              R.randrange(1, 9999), digits(10, "123456789")))


def info_bare():
    s = make_siren()
    add("info", "siren_bare_no_context", ["Numéro ", ("siren", s), "."])
    s = make_siret()
    add("info", "siret_bare_no_context", ["Numéro ", ("siret", s), "."])
    n = digits(16, "123456789")
    add("info", "random_16_digits_no_context", ["Numéro " + n + "."])
    n = digits(9, "123456789")
    add("info", "random_9_digits_no_context", ["Numéro " + n + "."])
    add("info", "quantity_333_no_unit", ["Budget prévisionnel : " + group(digits(9, "123456789"), [3, 3, 3]) + " pour 2025."])
    add("info", "random_16_digits_by4_no_context", ["Numéro " + by4(digits(16, "123456789")) + "."])
    a, n, b = make_siv()
    add("info", "plate_shaped_product_code", ["Modèle " + a + n + b + " en stock."])
    add("info", "plate_shaped_code_no_context", ["Code " + a + n + b + "."])


def pos_siret_bare():
    """A SIRET in one piece without the word SIRET: masked since both Luhn
    checks pass for one random 14-digit number in a hundred. Written last so
    that the lines above keep their values."""
    v = make_siret(R.random() < 0.12)
    add("pos", "siret_contiguous_no_context" + ("_laposte" if v.startswith("356000000") else ""),
        sentence(("siret", v), ["", "Numéro ", "Établissement ", "Fournisseur : ",
                                "Notre entreprise ", "Mon auto-entreprise "], END))


def info_random_14():
    n = digits(14, "123456789")
    add("info", "random_14_digits_no_context", ["Numéro " + n + "."])


def main():
    for f in (pos_nir, pos_iban, pos_rib, pos_siren, pos_siret, pos_vat, pos_card, pos_phone, pos_email,
              pos_plate, pos_birthdate):
        for _ in range(300):
            f()
    for _ in range(100):
        pos_mixed()
    for _ in range(110):
        neg_wrong_keys()
    for _ in range(300):
        neg_phones()
    for _ in range(300):
        neg_dates()
    for _ in range(450):
        neg_references()
    for _ in range(600):
        neg_misc()
    for _ in range(200):
        neg_prose()
    for _ in range(400):
        neg_admin_numbers()
    for _ in range(200):
        info_bare()
    for _ in range(200):
        pos_siret_bare()
    for _ in range(1000):
        info_random_14()
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "pii.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# label\tcategory\tspans\ttext  (generated by make.py; do not edit)\n")
        for row in ROWS:
            f.write("\t".join(row) + "\n")
    labels = {}
    for row in ROWS:
        labels[row[0]] = labels.get(row[0], 0) + 1
    print(labels)


if __name__ == "__main__":
    main()
