/* CBlockUndo records (parse_block_undo, pack_block_undo) and de-obfuscation (xor_at).
 * Twin: undo.py. */
#include "core.h"

/* ---------------------------------------------------------------------------------------- */
/* parse_block_undo(data) -> list[list[int]]                                                 */

/* Core's DecompressAmount; an amount above MAX_MONEY cannot be a spent output: `bad`. */
uint64_t decompress_amount(Cursor *c, uint64_t x) {
    if (x == 0) return 0;
    x--;
    int e = (int)(x % 10);
    x /= 10;
    uint64_t n;
    if (e < 9) {
        uint64_t d = x % 9 + 1;
        x /= 9;
        n = x * 10 + d;  /* x < 2**64 / 90: no overflow */
    } else {
        n = x + 1;
    }
    while (e--) {
        if (n > MAX_MONEY) break;
        n *= 10;
    }
    if (n > MAX_MONEY) { c->bad = 1; return 0; }
    return n;
}

/* What the walk saw of one spent output, with a filter. */
typedef struct {
    uint64_t fp, kind, body;
} UndoSeen;

/* Decode a CBlockUndo record into `d`: `starts` (n_tx + 1 entries: where each transaction's
 * values begin in `values`, then the total) and `values`; with `scripts`, also `hits`, four
 * words per input (transaction index from 1, input index, script kind, where the script's body
 * lies in the record) whose spent script's fingerprint the filter holds, or whose script is an
 * uncompressed key (kinds 4 and 5: its fingerprint needs the curve). Runs without the GIL (the
 * filter is only read). The reason it is not a record, "" when memory ran out, or NULL.
 * `values` has room for len / 3 values: an input takes three bytes at least. */
const char *undo_decode(Cursor *c, const Filter *scripts, UndoDecoded *d) {
    *d = (UndoDecoded){0};
    uint64_t n_tx = compact_size(c);
    /* every transaction takes a byte at least: a count beyond what is left is an error before
     * anything is allocated */
    if (c->bad || n_tx > (uint64_t)(c->n - c->p)) return "undo record runs past its end";
    size_t room = (size_t)c->n / 3 + 1;
    UndoSeen *seen = NULL;  /* per value, with `scripts` */
    d->starts = malloc(((size_t)n_tx + 1) * sizeof(uint64_t));
    d->values = malloc(room * sizeof(uint64_t));
    if (scripts != NULL) seen = malloc(room * sizeof(UndoSeen));
    if (d->starts == NULL || d->values == NULL || (scripts != NULL && seen == NULL))
        goto no_memory;
    uint64_t used = 0;
    for (uint64_t t = 0; t < n_tx; t++) {
        d->starts[t] = used;
        uint64_t n_in = compact_size(c);
        if (c->bad || n_in > (uint64_t)(c->n - c->p) / 3) goto bad;
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t code = core_varint(c);
            if (code >> 1) core_varint(c);
            uint64_t amount = decompress_amount(c, core_varint(c));
            uint64_t kind = core_varint(c);
            if (c->bad) goto bad;
            uint64_t len = kind < 6 ? (kind < 2 ? 20 : 32) : kind - 6;
            if (len > (uint64_t)PY_SSIZE_T_MAX || !need(c, (Py_ssize_t)len)) goto bad;
            if (scripts != NULL) {
                seen[used] = (UndoSeen){0, kind, (uint64_t)c->p};
                if (kind != 4 && kind != 5) {
                    uint8_t s[35];
                    Py_ssize_t m;
                    const uint8_t *script = undo_script(kind, c->d + c->p, (Py_ssize_t)len,
                                                        s, &m);
                    seen[used].fp = member_fp(script, m);
                }
            }
            c->p += (Py_ssize_t)len;
            d->values[used++] = amount;  /* used < n / 3 + 1: each input took 3 bytes at least */
        }
    }
    d->starts[n_tx] = used;
    d->n_tx = n_tx;
    if (scripts != NULL) {
        /* the probes, issued ahead of their answers; then the hits in record order */
        size_t cap = 16;
        d->hits = malloc(cap * 4 * sizeof(uint64_t));
        if (d->hits == NULL) goto no_memory;
        uint64_t t = 0;
        for (uint64_t j = 0; j < used; j++) {
            if (j + 16 < used) filter_prefetch(scripts, seen[j + 16].fp);
            while (d->starts[t + 1] <= j) t++;
            uint64_t kind = seen[j].kind;
            if (kind != 4 && kind != 5 && !filter_has(scripts, seen[j].fp)) continue;
            if (d->n_hits == cap) {
                uint64_t *grown = realloc(d->hits, 2 * cap * 4 * sizeof(uint64_t));
                if (grown == NULL) goto no_memory;
                d->hits = grown;
                cap *= 2;
            }
            uint64_t *h = d->hits + 4 * d->n_hits++;
            h[0] = t + 1;
            h[1] = j - d->starts[t];
            h[2] = kind;
            h[3] = seen[j].body;
        }
    }
    free(seen);
    return NULL;
no_memory:
    free(seen);
    undo_free(d);
    return "";
bad:
    free(seen);
    undo_free(d);
    return "undo record runs past its end";
}
void undo_free(UndoDecoded *d) {
    free(d->starts);
    free(d->values);
    free(d->hits);
    *d = (UndoDecoded){0};
}

/* Decode with the GIL released; 0, or -1 with the error set. */
int undo_decode_released(Py_buffer *view, const Filter *scripts, UndoDecoded *d) {
    Cursor c = {view->buf, view->len, 0, 0};
    const char *why;
    Py_BEGIN_ALLOW_THREADS
    why = undo_decode(&c, scripts, d);
    Py_END_ALLOW_THREADS
    if (why != NULL) {
        if (*why == 0) PyErr_NoMemory();
        else PyErr_SetString(PyExc_ValueError, why);
        return -1;
    }
    if (c.p != view->len) {
        PyErr_Format(PyExc_ValueError, "undo record uses %zd of its %zd bytes", c.p, view->len);
        undo_free(d);
        return -1;
    }
    return 0;
}

/* The words of the packed form (see pack_block_undo), the hits' with `with_hits`. */
uint64_t undo_packed_words(const UndoDecoded *d, int with_hits) {
    uint64_t words = 1 + (d->n_tx + 1) + d->starts[d->n_tx];
    return with_hits ? words + 1 + 4 * d->n_hits : words;
}

void undo_pack(const UndoDecoded *d, int with_hits, uint8_t *w) {
    uint64_t at = 0;
    put_le64(w, at++, d->n_tx);
    for (uint64_t t = 0; t <= d->n_tx; t++) put_le64(w, at++, d->starts[t]);
    for (uint64_t i = 0; i < d->starts[d->n_tx]; i++) put_le64(w, at++, d->values[i]);
    if (!with_hits) return;
    put_le64(w, at++, d->n_hits);
    for (uint64_t i = 0; i < 4 * d->n_hits; i++) put_le64(w, at++, d->hits[i]);
}

PyObject *parse_block_undo(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    UndoDecoded d;
    int rc = undo_decode_released(&view, NULL, &d);
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    PyObject *txs = PyList_New((Py_ssize_t)d.n_tx);
    for (uint64_t t = 0; txs != NULL && t < d.n_tx; t++) {
        PyObject *list = PyList_New((Py_ssize_t)(d.starts[t + 1] - d.starts[t]));
        if (list == NULL) { Py_CLEAR(txs); break; }
        PyList_SET_ITEM(txs, (Py_ssize_t)t, list);
        for (uint64_t i = d.starts[t]; i < d.starts[t + 1]; i++) {
            PyObject *value = PyLong_FromUnsignedLongLong(d.values[i]);
            if (value == NULL) { Py_CLEAR(txs); break; }
            PyList_SET_ITEM(list, (Py_ssize_t)(i - d.starts[t]), value);
        }
    }
    undo_free(&d);
    return txs;
}

/* pack_block_undo(data, scripts=None) -> bytes: the same values as parse_block_undo, packed
 * little-endian as u64 n_tx, then n_tx + 1 u64 starts, then the u64 values; with `scripts`
 * (a Filter), then the hits' count and four u64s per hit (see the reference). Decoded with
 * the GIL released in one walk, for the read-ahead thread. */
PyObject *pack_block_undo(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer view;
    PyObject *scripts = Py_None;
    if (!PyArg_ParseTuple(args, "y*|O", &view, &scripts)) return NULL;
    if (scripts != Py_None && !PyObject_TypeCheck(scripts, &FilterType)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "scripts is a Filter or None");
        return NULL;
    }
    int with_hits = scripts != Py_None;
    UndoDecoded d;
    /* the filter is only read, and nothing changes it while blocks are read ahead */
    int rc = undo_decode_released(&view, with_hits ? (const Filter *)scripts : NULL, &d);
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL,
                                              (Py_ssize_t)(undo_packed_words(&d, with_hits) * 8));
    if (out != NULL) undo_pack(&d, with_hits, (uint8_t *)PyBytes_AS_STRING(out));
    undo_free(&d);
    return out;
}


/* ---------------------------------------------------------------------------------------- */
/* xor_at(data, key, offset) -> bytes                                                         */

PyObject *xor_at(PyObject *module, PyObject *args) {
    Py_buffer data, key;
    unsigned long long offset;
    if (!PyArg_ParseTuple(args, "y*y*K", &data, &key, &offset)) return NULL;
    if (key.len != 8) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the xor key is 8 bytes");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out != NULL) {
        uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
        const uint8_t *s = data.buf;
        const uint8_t *k = key.buf;
        Py_ssize_t n = data.len;
        uint8_t rotated[8];
        for (int i = 0; i < 8; i++) rotated[i] = k[(offset + (unsigned)i) % 8];
        uint64_t word;
        memcpy(&word, rotated, 8);
        Py_BEGIN_ALLOW_THREADS
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            v ^= word;
            memcpy(o + i, &v, 8);
        }
        for (; i < n; i++) o[i] = s[i] ^ rotated[i % 8];
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return out;
}

