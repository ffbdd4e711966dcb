#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<name>/).

Every seed is written here, small (a few KiB at most), from texts made for
the project; the PII seeds take one line per category from the project's
labelled set (tests/data/pii/pii.tsv). Run it again after changing it: it
rewrites the files it owns (seed-*) and leaves anything else in the folders
alone. See docs/fuzzing.md.

    python3 tests/fuzz/seeds.py
"""
import io
import os
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- texts ---------------------------------------------------------------------

FR = ("La mairie de Villeneuve délivre les actes d'état civil. L'acte de naissance "
      "se demande au guichet ou en ligne ; le délai est de 3 jours. Aujourd'hui, "
      "les œuvres sociales de la commune (article L2121-29 du CGCT) sont gérées par "
      "le CCAS. Qu'est-ce qu'un livret de famille ? C'est le document remis aux époux.")

MD = """---
title: Guide des démarches
---
# Démarches en mairie

Texte d'introduction avec *emphase*, **gras**, `code` et un [lien](https://www.ville.fr).

## Carte d'identité

1. Prendre rendez-vous
2. Venir avec les pièces :
   - justificatif de domicile
   - photo d'identité

> Une citation gardée comme paragraphe.

| Pièce | Où | Délai |
|-------|----|-------|
| CNI | mairie | 3 semaines |
| Passeport | mairie | 4 semaines |

```
code préformaté
  avec indentation
```

Titre souligné
==============

Sous-titre
----------

Une phrase très longue qui continue encore et encore sans s'arrêter pour tester le découpage des phrases trop longues pour un seul morceau de texte indexé.
"""

HTML = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Horaires de la mairie</title>
<style>body{color:red}</style><script>alert(1)</script></head>
<body><header><nav><a href="/">Accueil</a></nav></header>
<main><article><h1>Horaires</h1><p>Ouvert du lundi au vendredi&nbsp;: 8&nbsp;h&nbsp;30 &ndash; 17&nbsp;h.</p>
<h2>Services</h2><ul><li>État civil<ul><li>Naissance</li></ul></li><li>Urbanisme</li></ul>
<table><tr><th>Jour</th><th>Heures</th></tr><tr><td>Samedi</td><td>9 h - 12 h</td></tr></table>
<pre>ligne 1
  ligne 2</pre><div hidden>caché</div><p aria-hidden="true">masqué</p>
<dl><dt>Adresse</dt><dd>1 place de la Mairie</dd></dl></article></main>
<footer>Pied de page</footer></body></html>
"""


# ---- PDF ------------------------------------------------------------------------

def pdf(pages, title=None, compress=False, broken=False):
    """A small PDF: pages is a list of [(size, y, text)] lines (Helvetica)."""
    objs = []

    def add(body):
        objs.append(body)
        return len(objs)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    page_ids = []
    pages_id = len(objs) + 1 + 2 * len(pages)  # placeholder, computed below
    contents = []
    for lines in pages:
        ops = []
        for size, y, text in lines:
            t = text.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
            ops.append(b"BT /F1 %d Tf 72 %d Td (%s) Tj ET" % (size, y, t))
        data = b"\n".join(ops)
        if compress:
            z = zlib.compress(data)
            contents.append(add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(z), z)))
        else:
            contents.append(add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)))
    pages_id = len(objs) + len(pages) + 1
    for c in contents:
        page_ids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] "
                            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                            % (pages_id, font, c)))
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))) == pages_id
    info = None
    if title:
        info = add(b"<< /Title (%s) /Producer (seeds.py) >>" % title.encode("cp1252"))
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (i, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objs) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out.write(trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    data = out.getvalue()
    return data[: len(data) * 2 // 3] if broken else data


# ---- Office documents -------------------------------------------------------------

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
DOCX_DOC = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document {W}><w:body>
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Règlement intérieur</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Titre1"/></w:pPr><w:r><w:t>Article 1</w:t></w:r></w:p>
<w:p><w:pPr><w:outlineLvl w:val="1"/></w:pPr><w:r><w:t>Objet</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Le présent </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>règlement</w:t></w:r><w:r><w:tab/><w:t>s'applique.</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>Point de liste</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="TOC1"/></w:pPr><w:r><w:t>Sommaire 1</w:t></w:r></w:p>
<w:p><w:ins><w:r><w:t>inséré</w:t></w:r></w:ins><w:del><w:r><w:delText>supprimé</w:delText></w:r></w:del></w:p>
<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t>après champ</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Jour</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Heures</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>Lundi</w:t></w:r></w:p></w:tc><w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>imbriqué</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc></w:tr></w:tbl>
<w:p><w:r><w:br/><w:t>fin</w:t></w:r></w:p>
</w:body></w:document>"""
DOCX_STYLES = f"""<?xml version="1.0" encoding="UTF-8"?>
<w:styles {W}>
<w:style w:type="paragraph" w:styleId="Titre1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Titre2"><w:name w:val="heading 2"/><w:basedOn w:val="Titre1"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Liste"><w:name w:val="List"/><w:pPr><w:numPr><w:numId w:val="2"/></w:numPr></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>
<w:style w:type="paragraph" w:styleId="TOC1"><w:name w:val="toc 1"/></w:style>
</w:styles>"""
DOCX_CORE = """<?xml version="1.0" encoding="UTF-8"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Titre des métadonnées</dc:title></cp:coreProperties>"""
CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 '<Default Extension="xml" ContentType="application/xml"/></Types>')

ODT_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"')
ODT_CONTENT = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-content {ODT_NS}>
<office:automatic-styles><style:style style:name="P1" style:family="paragraph" style:parent-style-name="Title"/></office:automatic-styles>
<office:body><office:text>
<text:p text:style-name="P1">Compte rendu du conseil</text:p>
<text:table-of-content><text:index-body><text:p>Sommaire</text:p></text:index-body></text:table-of-content>
<text:h text:outline-level="1">Délibérations</text:h>
<text:h text:outline-level="2">Budget</text:h>
<text:p>Le conseil <text:span>approuve</text:span> le budget<text:note><text:note-body><text:p>note</text:p></text:note-body></text:note>.<text:s text:c="3"/>Suite<text:tab/>fin<text:line-break/>ligne</text:p>
<text:list><text:list-item><text:p>Premier</text:p><text:list><text:list-item><text:p>Imbriqué</text:p></text:list-item></text:list></text:list-item></text:list>
<text:tracked-changes><text:changed-region><text:deletion><text:p>effacé</text:p></text:deletion></text:changed-region></text:tracked-changes>
<table:table><table:table-row><table:table-cell><text:p>A</text:p></table:table-cell><table:covered-table-cell/><table:table-cell><text:p>C</text:p></table:table-cell></table:table-row>
<table:table-row table:number-rows-repeated="1000"><table:table-cell table:number-columns-repeated="3"><text:p>x</text:p></table:table-cell></table:table-row></table:table>
<office:annotation><text:p>commentaire</text:p></office:annotation>
</office:text></office:body></office:document-content>"""
ODT_META = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Titre ODT</dc:title></office:meta></office:document-meta>"""


def zipped(entries, stored_first=True):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i, (name, data) in enumerate(entries):
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_STORED if i == 0 and stored_first else zipfile.ZIP_DEFLATED)
    return out.getvalue()


# ---- GGUF ----------------------------------------------------------------------------

def gguf(kvs, tensors, version=3, align=32, cut=None):
    def s(x):
        b = x.encode("utf-8") if isinstance(x, str) else x
        return struct.pack("<Q", len(b)) + b

    def value(t, v):
        if t == "u32":
            return struct.pack("<I", 4) + struct.pack("<I", v)
        if t == "i32":
            return struct.pack("<I", 5) + struct.pack("<i", v)
        if t == "f32":
            return struct.pack("<I", 6) + struct.pack("<f", v)
        if t == "bool":
            return struct.pack("<I", 7) + struct.pack("<B", v)
        if t == "str":
            return struct.pack("<I", 8) + s(v)
        if t == "u64":
            return struct.pack("<I", 10) + struct.pack("<Q", v)
        if t == "arr_str":
            return struct.pack("<I", 9) + struct.pack("<IQ", 8, len(v)) + b"".join(s(x) for x in v)
        if t == "arr_i32":
            return struct.pack("<I", 9) + struct.pack("<IQ", 5, len(v)) + b"".join(struct.pack("<i", x) for x in v)
        raise ValueError(t)

    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += s(k) + value(t, v)
    off = 0
    data = b""
    for name, dims, ggml_type, nbytes in tensors:
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, off)
        data += b"\x00" * nbytes + b"\x00" * (-nbytes % align)
        off = len(data)
    out += b"\x00" * (-len(out) % align)
    out += data
    return out[:cut] if cut else out


# ---- streams -----------------------------------------------------------------------

def stream(flags, stops, pieces):
    out = bytes([flags | len(stops)])
    for st in stops:
        b = st.encode("utf-8") if isinstance(st, str) else st
        out += bytes([len(b)]) + b
    for p in pieces:
        b = p.encode("utf-8") if isinstance(p, str) else p
        out += bytes([len(b)]) + b
    return out


# ---- HTTP --------------------------------------------------------------------------

def req(method, path, key=None, body=None, ctype="application/json", extra=""):
    h = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
    if key:
        h += f"Authorization: Bearer @{key}@\r\n"
    h += extra
    if body is not None:
        h += f"Content-Type: {ctype}\r\nContent-Length: @LEN@\r\n\r\n{body}@END@"
    else:
        h += "\r\n"
    return h


def main():
    # ---- txt
    put("txt", "fr.txt", FR + "\n\nDeuxième paragraphe\nsur deux lignes.\n")
    put("txt", "cp1252.txt", "Équipe municipale : élus, délégués — réunion à 18 h.\n".encode("cp1252"))
    put("txt", "utf16.txt", "\ufeffTexte en UTF-16 avec accents éèà.\n".encode("utf-16-le"))
    put("txt", "pages.txt", "Page un.\fPage deux\nsuite.\f\fPage quatre.")
    put("txt", "bom.txt", "\ufeffTexte avec BOM.\r\nLignes CRLF.\r\n\r\nFin.")
    put("txt", "controls.txt", b"tab\there\x01\x02 soft\xc2\xadhyphen zero\xe2\x80\x8bwidth \xff bad")

    # ---- md
    put("md", "guide.md", MD)
    put("md", "nested.md", "- a\n  - b\n    - c\n      - d\n1) un\n2) deux\n\n> > citation\n\n* * *\n\n#### h4\n###### h6\n")
    put("md", "inline.md", "Texte avec ![image](x.png) et [lien [imbriqué]](url) et <b>html</b> <!-- commentaire --> "
        "&eacute; &amp; &#233; &#x00E9; \\*pas emphase\\* ``code `double` `` fin\n")
    put("md", "table.md", "| a | b |\n|:--|--:|\n| 1 | 2 |\n| 3 | 4 | 5 |\n\ntexte | pas tableau\n")
    put("md", "fence.md", "~~~python\nprint('x')\n~~~\n\n```\nnon fermé\n")

    # ---- html
    put("html", "page.html", HTML)
    put("html", "latin1.html", '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">'
        '<title>Caf\xe9</title></head><body><p>\xc9t\xe9 \xa4</p></body></html>'.encode("latin-1"))
    put("html", "nested.html", "<div>" * 40 + "profond" + "</div>" * 40)
    put("html", "broken.html", "<html><body><p>non fermé<table><tr><td>cellule<td>autre<h2>titre<li>item</body>")
    put("html", "xml.html", '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><body><h3>XHTML</h3><p>&eacute;t&eacute;</p></body></html>')

    # ---- pdf
    body = [(11, 700, "Le conseil municipal s'est réuni le 3 mars."), (11, 686, "Il a voté le budget primitif.")]
    put("pdf", "simple.pdf", pdf([[(24, 780, "Compte rendu"), (16, 740, "Budget")] + body], title="Conseil"))
    put("pdf", "pages.pdf", pdf([[(11, 800, "Ville de Villeneuve"), (18, 760, "Titre"), (11, 700, "Texte page un."),
                                  (11, 40, "1")],
                                 [(11, 800, "Ville de Villeneuve"), (11, 700, "Texte page deux."), (11, 40, "2")],
                                 [(11, 800, "Ville de Villeneuve"), (11, 700, "Sommaire ........ 3"), (11, 40, "- 3 -")]],
                                compress=True))
    put("pdf", "broken.pdf", pdf([[(12, 700, "Texte tronqué du fichier")]], broken=True))
    put("pdf", "empty.pdf", pdf([[]]))

    # ---- docx (parts separated by NUL) and raw archives
    put("docx", "parts", "\0".join([DOCX_DOC, DOCX_STYLES, DOCX_CORE]))
    put("docx", "document-only", DOCX_DOC)
    put("docx", "dtd", '<?xml version="1.0"?><!DOCTYPE w [<!ENTITY e "x">]><w:document ' + W + '><w:body><w:p><w:r><w:t>&e;</w:t></w:r></w:p></w:body></w:document>')
    put("docx", "raw.docx", zipped([("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", DOCX_DOC),
                                    ("word/styles.xml", DOCX_STYLES), ("docProps/core.xml", DOCX_CORE)]))
    put("docx", "evil-names.docx", zipped([("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", DOCX_DOC),
                                           ("../escape.xml", "x")]))

    # ---- odt
    put("odt", "parts", "\0".join([ODT_CONTENT, ODT_META]))
    put("odt", "content-only", ODT_CONTENT)
    put("odt", "raw.odt", zipped([("mimetype", "application/vnd.oasis.opendocument.text"),
                                  ("content.xml", ODT_CONTENT), ("meta.xml", ODT_META)]))
    put("odt", "spreadsheet.ods", zipped([("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
                                          ("content.xml", "<x/>")]))

    # ---- chunk: target byte, mode byte, Markdown
    put("chunk", "guide", bytes([40, 0]) + MD.encode())
    put("chunk", "tiny-target", bytes([0, 1]) + MD.encode())
    put("chunk", "counter", bytes([20, 0x80 | (10 << 2) | 2]) + (FR + "\n\n" + FR).encode())
    put("chunk", "unsure", bytes([7, 0xC0 | 3]) + b"| h1 | h2 |\n|---|---|\n" + b"| cellule | valeur longue |\n" * 30)
    put("chunk", "longword", bytes([3, 2]) + b"# T\n\n" + b"x" * 300 + b" mot " + "é".encode() * 100)
    put("chunk", "headings-only", bytes([10, 0]) + b"# Un\n## Deux\n### Trois\n")

    # ---- analyzer: flags byte, text
    put("analyzer", "fr", bytes([0]) + FR.encode())
    put("analyzer", "question", bytes([1]) + "Comment obtenir un acte de naissance ? Quels sont les délais ?".encode())
    put("analyzer", "prefix", bytes([2]) + "inscription sco".encode())
    put("analyzer", "alternatives", bytes([4]) + "Les revenus des emplois et les jeux refusent".encode())
    put("analyzer", "mixed", bytes([7]) + "L’école d’aujourd’hui, jusqu’à 2020 : A1, L.2121-29, ÆSIR, Œuvre, ﬁn, peut-être, x²".encode())
    put("analyzer", "invalid", bytes([0]) + b"caf\xe9 \xc3 \xed\xa0\x80 ok" + "a\u0301".encode() + b" " + b"z" * 80)

    # ---- pii: pii_mask_to size byte, text (one line per category of the labelled set)
    seen = {}
    with open(os.path.join(HERE, "..", "data", "pii", "pii.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 4 and cols[1] not in seen:
                seen[cols[1]] = cols[3]
    for i, (cat, text) in enumerate(sorted(seen.items())):
        put("pii", cat, bytes([(i * 37) % 256]) + text.encode())
    put("pii", "all", bytes([64]) + " ".join(seen[k] for k in sorted(seen)[:40]).encode())

    # ---- multipart: limits byte, Content-Type line, body
    mp = ("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"acte.txt\"\r\n"
          "Content-Type: text/plain\r\n\r\nBonjour\r\n--XyZ\r\nContent-Disposition: form-data; "
          "name=\"file\"; filename*=UTF-8''r%C3%A9glement.pdf\r\nContent-Transfer-Encoding: binary\r\n\r\n%PDF\r\n--XyZ--\r\n")
    put("multipart", "two-files", b"\0multipart/form-data; boundary=XyZ\n" + mp.encode())
    put("multipart", "quoted", b"\0Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"\n"
        b"preamble\r\n--a b:c\r\nContent-Disposition: form-data; name=\"f\"; filename=\"e\\\"x.md\"\r\n\r\n\r\n--a b:c--")
    put("multipart", "limits", b"\x07multipart/form-data; boundary=B\n" +
        b"".join(b"--B\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\nx\r\n" % i for i in range(5)) + b"--B--\r\n")
    put("multipart", "bad-name", b"\0multipart/form-data; boundary=B\n--B\r\nContent-Disposition: form-data; "
        b"name=\"file\"; filename=\"..\\x\xe2\x80\xae.txt\"\r\n\r\nx\r\n--B--\r\n")

    # ---- gguf
    kv = [("general.architecture", "str", "llama"), ("general.name", "str", "Mini modèle"),
          ("general.file_type", "u32", 7), ("llama.context_length", "u32", 2048),
          ("llama.embedding_length", "u32", 64), ("llama.block_count", "u32", 2),
          ("llama.attention.head_count", "arr_i32", [4, 8]), ("llama.attention.head_count_kv", "u32", 2),
          ("tokenizer.ggml.model", "str", "llama"), ("tokenizer.ggml.tokens", "arr_str", ["<s>", "</s>", "a", "é"]),
          ("tokenizer.chat_template", "str", "{% for m in messages %}{{ m.content }}{% endfor %}")]
    ten = [("token_embd.weight", [64, 4], 0, 64 * 4 * 4), ("output_norm.weight", [64], 0, 256)]
    put("gguf", "llama.gguf", gguf(kv, ten))
    put("gguf", "bert.gguf", gguf([("general.architecture", "str", "bert"), ("bert.pooling_type", "u32", 2),
                                   ("general.name", "str", b"caf\xe9")], [("w", [8, 8], 1, 128)]))
    put("gguf", "no-type.gguf", gguf([("general.architecture", "str", "qwen2"), ("qwen2.context_length", "str", "x")],
                                     [("a", [16], 8, 18), ("b", [32, 2], 8, 72)]))
    put("gguf", "cut.gguf", gguf(kv, ten, cut=700))
    put("gguf", "v2.gguf", gguf(kv[:3], [], version=2))

    # ---- stream: flags | n_stop, stops, pieces
    put("stream", "plain", stream(0, [], ["Bon", "jour", " é", "\xe0", "!"]))
    put("stream", "stop", stream(0, ["<|im_end|>", "\n\nUser:"], ["Réponse", " <|im", "_end", "|> reste"]))
    put("stream", "split-utf8", stream(0, ["€"], [b"prix 3", b"\xe2", b"\x82", b"\xac", b" fin"]))
    put("stream", "invalid", stream(0, ["zz"], [b"\xff\xfe", b"a\xc3", b"(", b"\xed\xa0\x80", b"\xf0\x9f\x98"]))
    put("stream", "overlap", stream(0, ["abcd", "c"], ["ab", "c", "d"]))
    put("stream", "late-reader", stream(0x40, ["END"], ["x" * 8, "E", "N", "D", "more"]))
    put("stream", "cancel", stream(0x80, ["s"], ["un", "deux"]))
    put("stream", "cancel-free", stream(0xA0, [], ["un", "deux"]))

    # ---- assistant files
    full = ('{"slug":"etat-civil","name":"Assistant état civil","instructions":"Tu réponds aux questions.",'
            '"model":"default","params":{"temperature":0.2,"top_p":0.9,"max_tokens":512},'
            '"knowledge_bases":["demarches","urbanisme"],"retrieval":{"top_k":5,"min_score":0},'
            '"citations":"required","guardrails":{"refusal":"Je ne peux pas répondre.","pii":"mask"},'
            '"welcome":"Bonjour !","starters":["Comment obtenir un acte ?"],"visibility":"internal","retention_days":90}')
    put("assistant", "full.json", full)
    put("assistant", "minimal.json", '{"slug":"a","model":"default"}')
    put("assistant", "public.json", '{"slug":"widget","model":"mistral","visibility":"public","allowed_origins":'
        '["https://www.ville.fr","HTTP://Ville.FR:80","https://127.1:0443","http://[0:0::1]:8080"]}')
    put("assistant", "bad.json", '{"slug":"Etat Civil","model":"inconnu","params":{"temperature":3},"knowledge_bases":["xkb"],'
        '"unknown":1,"starters":[1,2]}')
    put("assistant", "pseudo.json", '{"slug":"p","model":"default","guardrails":{"pii":"pseudonymize"},"citations":"off",'
        '"params":{"max_tokens":5.0},"retrieval":{"top_k":50}}')

    # ---- origins
    for i, o in enumerate(["https://www.ville.fr", "HTTPS://WWW.Ville.FR:443", "http://127.1", "http://0x7f.0.0.1:80",
                           "http://2130706433", "https://[::ffff:127.0.0.1]", "http://[2001:DB8::0:1]:8443",
                           "https://xn--mairie-bta.fr", "https://ville.fr.", "null", "https://a.fr/path",
                           "http://user@host", "http://0177.0.0.01:08"]):
        put("origin", "%02d" % i, o)

    # ---- http: one or more raw requests per route family
    chat = ('{"model":"accueil","messages":[{"role":"system","content":"x"},{"role":"user","content":'
            '"Comment obtenir un acte de naissance ? Mon tel 06 12 34 56 78"}],"temperature":0.5,'
            '"max_tokens":64,"stop":["\\n"],"user":"habitant-42"}')
    seeds = {
        "healthz": req("GET", "/healthz"),
        "metrics": req("GET", "/metrics"),
        "console": req("GET", "/"),
        "models": req("GET", "/v1/models", "USER") + req("GET", "/v1/models/accueil", "USER"),
        "chat": req("POST", "/v1/chat/completions", "USER", chat),
        "chat-stream": req("POST", "/v1/chat/completions", "EDITOR",
                           '{"model":"accueil","stream":true,"stream_options":{"include_usage":true},'
                           '"messages":[{"role":"user","content":[{"type":"text","text":"horaires mairie"}]}]}'),
        "chat-raw-model": req("POST", "/v1/chat/completions", "OP",
                              '{"model":"default","messages":[{"role":"user","content":"x"}],"seed":1,"n":1}'),
        "completions": req("POST", "/v1/completions", "OP", '{"model":"default","prompt":["Il était"],"max_tokens":4}'),
        "embeddings": req("POST", "/v1/embeddings", "OP", '{"model":"default","input":["a","b"],"encoding_format":"base64"}'),
        "tenants": req("GET", "/api/v1/tenants", "OP") +
        req("POST", "/api/v1/tenants", "OP", '{"slug":"autre","name":"Autre","limits":{"rpm":10,"tokens_per_day":1000,"retention_days":30}}'),
        "tenant-delete": req("POST", "/api/v1/tenants", "OP", '{"slug":"temp"}', extra="") +
        req("DELETE", "/api/v1/tenants/temp", "OP"),
        "keys": req("GET", "/api/v1/keys", "ADMIN") +
        req("POST", "/api/v1/keys", "ADMIN", '{"role":"user","assistants":["accueil"],"expires_in":"30d","name":"k","limits":{"rpm":5}}'),
        "key-delete": req("DELETE", "/api/v1/keys/000000000000", "ADMIN"),
        "assistants": req("GET", "/api/v1/assistants", "EDITOR") +
        req("POST", "/api/v1/assistants", "EDITOR", '{"slug":"nouveau","model":"default","knowledge_bases":["docs"]}'),
        "assistant-put": req("PUT", "/api/v1/assistants/accueil", "EDITOR",
                             '{"slug":"accueil","model":"default","name":"Accueil modifié","knowledge_bases":["docs"],"version":1}',
                             extra='If-Match: W/"1"\r\n'),
        "assistant-versions": req("GET", "/api/v1/assistants/accueil/versions", "EDITOR") +
        req("POST", "/api/v1/assistants/accueil/versions/1/restore", "EDITOR", "{}") +
        req("POST", "/api/v1/assistants/accueil/publish", "EDITOR", '{"version":1}'),
        "assistant-get": req("GET", "/api/v1/assistants/accueil?version=published", "EDITOR"),
        "kbs": req("GET", "/api/v1/knowledge-bases", "EDITOR") +
        req("POST", "/api/v1/knowledge-bases", "EDITOR", '{"slug":"nouvelle","name":"Nouvelle base"}') +
        req("GET", "/api/v1/knowledge-bases/docs", "EDITOR"),
        "kb-upload": req("POST", "/api/v1/knowledge-bases/docs/documents", "EDITOR",
                         "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.md\"\r\n\r\n"
                         "# Note\n\nLa piscine ouvre en juin.\r\n--B--\r\n",
                         ctype="multipart/form-data; boundary=B"),
        "kb-documents": req("GET", "/api/v1/knowledge-bases/docs/documents", "EDITOR") +
        req("DELETE", "/api/v1/knowledge-bases/docs/documents/999", "EDITOR") + req("GET", "/api/v1/jobs/1", "EDITOR"),
        "kb-search": req("POST", "/api/v1/knowledge-bases/docs/search", "EDITOR", '{"query":"acte de naissance délai","top_k":3}'),
        "conversations": req("GET", "/api/v1/conversations?subject=habitant-42", "USER") +
        req("GET", "/api/v1/conversations/abc", "USER") + req("DELETE", "/api/v1/conversations/abc", "USER"),
        "gdpr": req("POST", "/api/v1/gdpr/export", "ADMIN", '{"subject":"habitant-42"}') +
        req("POST", "/api/v1/gdpr/erase", "ADMIN", '{"subject":"habitant-42"}') +
        req("GET", "/api/v1/conversations/abc/pseudonyms", "ADMIN"),
        "register": req("GET", "/api/v1/register", "ADMIN") + req("GET", "/api/v1/sovereignty", "USER") +
        req("GET", "/api/v1/me", "EDITOR"),
        "audit": req("GET", "/api/v1/audit?since=0", "ADMIN") + req("GET", "/api/v1/audit/verify", "OP"),
        "public": req("GET", "/public/v1/assistants/demo.widget", extra="Origin: https://www.ville.fr\r\n") +
        req("OPTIONS", "/public/v1/assistants/demo.widget/chat",
            extra="Origin: https://www.ville.fr\r\nAccess-Control-Request-Method: POST\r\n"),
        "public-chat": req("POST", "/public/v1/assistants/demo.widget/chat",
                           body='{"messages":[{"role":"user","content":"Horaires de la mairie ?"}]}',
                           extra="Origin: https://WWW.ville.fr:443\r\n"),
        "errors": req("GET", "/nowhere") + req("PATCH", "/v1/models") + req("GET", "/v1/models", extra="Authorization: Basic x\r\n")
        + "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer @USER@\r\nContent-Length: 99999999999\r\n\r\n",
        "bad-json": req("POST", "/v1/chat/completions", "USER", '{"model":"accueil","model":"x",').encode() +
        req("POST", "/api/v1/keys", "ADMIN", "@UTF8@").encode().replace(b"@UTF8@", b'{"role":"\xff"}'),
        "chunked": "POST /api/v1/knowledge-bases/docs/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer @EDITOR@\r\n"
                   "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" +
                   "".join("%x\r\n%s\r\n" % (len(c), c) for c in ['{"que', 'ry":"mairie","top_k":1}']) + "0\r\n\r\n",
        "http10": "GET /healthz HTTP/1.0\r\n\r\n",
        "garbage": "GET\r\n\r\n \x00\x01 HTTP/9.9\r\nHost:: \r\n",
        "url": req("GET", "/api/v1/assistants/%61ccueil%2F..%00?x=%zz&y", "EDITOR"),
    }
    for name, text in seeds.items():
        put("http", name, text if isinstance(text, bytes) else text.encode())


if __name__ == "__main__":
    main()
