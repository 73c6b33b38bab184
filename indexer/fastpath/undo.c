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

/* Decode a CBlockUndo record into `starts` (n_tx + 1 entries: where each transaction's values
 * begin in `values`, then the total) and `values`; runs without the GIL. The reason it is not
 * a record, or NULL. `values` has room for len / 3 values: an input takes three bytes at least. */
static const char *undo_decode(Cursor *c, uint64_t **starts_out, uint64_t **values_out,
                               uint64_t *n_tx_out) {
    uint64_t n_tx = compact_size(c);
    /* every transaction takes a byte at least: a count beyond what is left is an error before
     * anything is allocated */
    if (c->bad || n_tx > (uint64_t)(c->n - c->p)) return "undo record runs past its end";
    uint64_t *starts = malloc(((size_t)n_tx + 1) * sizeof(uint64_t));
    uint64_t *values = malloc(((size_t)c->n / 3 + 1) * sizeof(uint64_t));
    if (starts == NULL || values == NULL) {
        free(starts);
        free(values);
        return "";  /* no memory */
    }
    uint64_t used = 0;
    for (uint64_t t = 0; t < n_tx; t++) {
        starts[t] = used;
        uint64_t n_in = compact_size(c);
        if (c->bad || n_in > (uint64_t)(c->n - c->p) / 3) goto bad;
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t code = core_varint(c);
            if (code >> 1) core_varint(c);
            uint64_t amount = decompress_amount(c, core_varint(c));
            uint64_t size = core_varint(c);
            if (c->bad) goto bad;
            skip(c, size < 6 ? (size < 2 ? 20 : 32) : size - 6);
            if (c->bad) goto bad;
            values[used++] = amount;  /* used < n / 3 + 1: each input took 3 bytes at least */
        }
    }
    starts[n_tx] = used;
    *starts_out = starts;
    *values_out = values;
    *n_tx_out = n_tx;
    return NULL;
bad:
    free(starts);
    free(values);
    return "undo record runs past its end";
}

/* Decode with the GIL released; 0, or -1 with the error set. */
static int undo_decode_released(Py_buffer *view, uint64_t **starts, uint64_t **values,
                                uint64_t *n_tx) {
    Cursor c = {view->buf, view->len, 0, 0};
    const char *why;
    Py_BEGIN_ALLOW_THREADS
    why = undo_decode(&c, starts, values, n_tx);
    Py_END_ALLOW_THREADS
    if (why != NULL) {
        if (*why == 0) PyErr_NoMemory();
        else PyErr_SetString(PyExc_ValueError, why);
        return -1;
    }
    if (c.p != view->len) {
        PyErr_Format(PyExc_ValueError, "undo record uses %zd of its %zd bytes", c.p, view->len);
        free(*starts);
        free(*values);
        return -1;
    }
    return 0;
}

PyObject *parse_block_undo(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    uint64_t *starts, *values, n_tx;
    int rc = undo_decode_released(&view, &starts, &values, &n_tx);
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    PyObject *txs = PyList_New((Py_ssize_t)n_tx);
    for (uint64_t t = 0; txs != NULL && t < n_tx; t++) {
        PyObject *list = PyList_New((Py_ssize_t)(starts[t + 1] - starts[t]));
        if (list == NULL) { Py_CLEAR(txs); break; }
        PyList_SET_ITEM(txs, (Py_ssize_t)t, list);
        for (uint64_t i = starts[t]; i < starts[t + 1]; i++) {
            PyObject *value = PyLong_FromUnsignedLongLong(values[i]);
            if (value == NULL) { Py_CLEAR(txs); break; }
            PyList_SET_ITEM(list, (Py_ssize_t)(i - starts[t]), value);
        }
    }
    free(starts);
    free(values);
    return txs;
}

/* pack_block_undo(data) -> bytes: the same values as parse_block_undo, packed little-endian as
 * u64 n_tx, then n_tx + 1 u64 starts, then the u64 values (see the reference). Decoded with the
 * GIL released, for the read-ahead thread. */
PyObject *pack_block_undo(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    uint64_t *starts, *values, n_tx;
    int rc = undo_decode_released(&view, &starts, &values, &n_tx);
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    uint64_t words = 1 + (n_tx + 1) + starts[n_tx];
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(words * 8));
    if (out != NULL) {
        uint8_t *w = (uint8_t *)PyBytes_AS_STRING(out);
        uint64_t at = 0;
        put_le64(w, at++, n_tx);
        for (uint64_t t = 0; t <= n_tx; t++) put_le64(w, at++, starts[t]);
        for (uint64_t i = 0; i < starts[n_tx]; i++) put_le64(w, at++, values[i]);
    }
    free(starts);
    free(values);
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

