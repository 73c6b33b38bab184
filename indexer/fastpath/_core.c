/*
 * minerflow's compiled core: the same functions as indexer/fastpath/reference.py, which stays
 * the reference; tests check both give identical answers and identical indexes.
 *
 *   Filter            a compact set of 64-bit fingerprints (open addressing, 8 bytes a slot)
 *   scan_block        from one transaction on, find the next that may touch tracked state
 *   parse_block_undo  the spent values of every transaction of a CBlockUndo record
 *   xor_at            de-obfuscate bytes read from a blk/rev file offset (GIL released)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Filter                                                                                   */

typedef struct {
    PyObject_HEAD
    uint64_t *slots;
    int bits;
    Py_ssize_t used;
} Filter;

static inline uint64_t filter_key(uint64_t fp) { return fp ? fp : 1; }

static inline size_t filter_slot(const Filter *f, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - f->bits));
}

static int filter_contains_key(const Filter *f, uint64_t key) {
    size_t mask = ((size_t)1 << f->bits) - 1;
    size_t i = filter_slot(f, key);
    for (;;) {
        uint64_t s = f->slots[i];
        if (s == key) return 1;
        if (s == 0) return 0;
        i = (i + 1) & mask;
    }
}

static void filter_insert(Filter *f, uint64_t key) {
    size_t mask = ((size_t)1 << f->bits) - 1;
    size_t i = filter_slot(f, key);
    for (;;) {
        uint64_t s = f->slots[i];
        if (s == key) return;
        if (s == 0) { f->slots[i] = key; f->used++; return; }
        i = (i + 1) & mask;
    }
}

static int filter_grow(Filter *f) {
    int old_bits = f->bits;
    uint64_t *old = f->slots;
    uint64_t *fresh = PyMem_Calloc((size_t)1 << (old_bits + 1), sizeof(uint64_t));
    if (fresh == NULL) { PyErr_NoMemory(); return -1; }
    f->slots = fresh;
    f->bits = old_bits + 1;
    f->used = 0;
    for (size_t i = 0; i < ((size_t)1 << old_bits); i++)
        if (old[i]) filter_insert(f, old[i]);
    PyMem_Free(old);
    return 0;
}

static int filter_add_key(Filter *f, uint64_t key) {
    /* keep the load at or under 2/3 */
    if ((size_t)(f->used + 1) * 3 > ((size_t)1 << f->bits) * 2 && filter_grow(f) < 0) return -1;
    filter_insert(f, key);
    return 0;
}

static int Filter_init(Filter *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist)) return -1;
    PyMem_Free(self->slots);
    self->bits = 10;
    self->used = 0;
    self->slots = PyMem_Calloc((size_t)1 << self->bits, sizeof(uint64_t));
    if (self->slots == NULL) { PyErr_NoMemory(); return -1; }
    return 0;
}

static void Filter_dealloc(Filter *self) {
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int fp_from(PyObject *value, uint64_t *out) {
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a fingerprint is an int");
        return -1;
    }
    *out = (uint64_t)PyLong_AsUnsignedLongLongMask(value);
    if (*out == (uint64_t)-1 && PyErr_Occurred()) return -1;
    return 0;
}

static PyObject *Filter_add(Filter *self, PyObject *value) {
    uint64_t fp;
    if (fp_from(value, &fp) < 0 || filter_add_key(self, filter_key(fp)) < 0) return NULL;
    Py_RETURN_NONE;
}

static int Filter_contains(Filter *self, PyObject *value) {
    uint64_t fp;
    if (fp_from(value, &fp) < 0) return -1;
    return filter_contains_key(self, filter_key(fp));
}

static Py_ssize_t Filter_len(Filter *self) { return self->used; }

static PyObject *Filter_nbytes(Filter *self, void *closure) {
    return PyLong_FromSize_t(((size_t)1 << self->bits) * sizeof(uint64_t));
}

static PyMethodDef Filter_methods[] = {
    {"add", (PyCFunction)Filter_add, METH_O, "Add a 64-bit fingerprint."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Filter_getset[] = {
    {"nbytes", (getter)Filter_nbytes, NULL, "Bytes held by the table.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Filter_as_sequence = {
    .sq_length = (lenfunc)Filter_len,
    .sq_contains = (objobjproc)Filter_contains,
};

static PyTypeObject FilterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "indexer.fastpath._core.Filter",
    .tp_doc = "A compact set of 64-bit fingerprints.",
    .tp_basicsize = sizeof(Filter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Filter_init,
    .tp_dealloc = (destructor)Filter_dealloc,
    .tp_methods = Filter_methods,
    .tp_getset = Filter_getset,
    .tp_as_sequence = &Filter_as_sequence,
};

/* ---------------------------------------------------------------------------------------- */
/* Reading helpers: every read is bounds-checked; running past the end sets `bad`.           */

typedef struct {
    const uint8_t *d;
    Py_ssize_t n;
    Py_ssize_t p;
    int bad;
} Cursor;

static inline uint64_t le_u64(const uint8_t *s, Py_ssize_t len) {
    uint64_t v = 0;
    for (Py_ssize_t i = len - 1; i >= 0; i--) v = (v << 8) | s[i];
    return v;
}

static inline int need(Cursor *c, Py_ssize_t k) {
    if (k < 0 || c->p + k > c->n) { c->bad = 1; return 0; }
    return 1;
}

static inline uint64_t compact_size(Cursor *c) {
    if (!need(c, 1)) return 0;
    uint8_t b = c->d[c->p++];
    Py_ssize_t w = b < 0xFD ? 0 : b == 0xFD ? 2 : b == 0xFE ? 4 : 8;
    if (w == 0) return b;
    if (!need(c, w)) return 0;
    uint64_t v = le_u64(c->d + c->p, w);
    c->p += w;
    return v;
}

static inline void skip(Cursor *c, uint64_t k) {
    if (k > (uint64_t)PY_SSIZE_T_MAX || !need(c, (Py_ssize_t)k)) { c->bad = 1; return; }
    c->p += (Py_ssize_t)k;
}

/* The member fingerprint of a script: its last (up to) 8 bytes, little-endian, xor its length. */
static inline uint64_t member_fp(const uint8_t *s, Py_ssize_t len) {
    Py_ssize_t take = len < 8 ? len : 8;
    return le_u64(s + len - take, take) ^ (uint64_t)len;
}

/* ---------------------------------------------------------------------------------------- */
/* scan_block(data, pos, index, n_tx, coins, members) -> (index, pos)                         */

static PyObject *scan_block(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, index, n_tx;
    PyObject *coins_obj, *members_obj;
    if (!PyArg_ParseTuple(args, "y*nnnO!O!", &view, &pos, &index, &n_tx, &FilterType, &coins_obj,
                          &FilterType, &members_obj))
        return NULL;
    const Filter *coins = (const Filter *)coins_obj;
    const Filter *members = (const Filter *)members_obj;
    Cursor c = {view.buf, view.len, pos, 0};
    Py_ssize_t hit_at = -1;
    while (index < n_tx && !c.bad) {
        Py_ssize_t start = c.p;
        int hit = 0;
        if (!need(&c, 6)) break;
        c.p += 4;
        int segwit = c.d[c.p] == 0 && c.d[c.p + 1] != 0;
        if (segwit) c.p += 2;
        uint64_t n_in = compact_size(&c);
        for (uint64_t i = 0; i < n_in && !c.bad; i++) {
            if (!need(&c, 36)) break;
            uint64_t fp = le_u64(c.d + c.p, 8) ^ le_u64(c.d + c.p + 32, 4);
            hit |= filter_contains_key(coins, filter_key(fp));
            c.p += 36;
            skip(&c, compact_size(&c));
            skip(&c, 4);
        }
        uint64_t n_out = compact_size(&c);
        for (uint64_t i = 0; i < n_out && !c.bad; i++) {
            skip(&c, 8);
            uint64_t len = compact_size(&c);
            if (c.bad || !need(&c, (Py_ssize_t)len)) break;
            hit |= filter_contains_key(members,
                                       filter_key(member_fp(c.d + c.p, (Py_ssize_t)len)));
            c.p += (Py_ssize_t)len;
        }
        if (segwit) {
            for (uint64_t i = 0; i < n_in && !c.bad; i++) {
                uint64_t items = compact_size(&c);
                for (uint64_t j = 0; j < items && !c.bad; j++) skip(&c, compact_size(&c));
            }
        }
        skip(&c, 4);
        if (c.bad) break;
        if (hit) { hit_at = start; break; }
        index++;
    }
    PyBuffer_Release(&view);
    if (c.bad) {
        PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
        return NULL;
    }
    return Py_BuildValue("nn", index, hit_at >= 0 ? hit_at : c.p);
}

/* ---------------------------------------------------------------------------------------- */
/* parse_block_undo(data) -> list[list[int]]                                                 */

static inline uint64_t core_varint(Cursor *c) {
    uint64_t n = 0;
    for (int i = 0; i < 10; i++) {
        if (!need(c, 1)) return 0;
        uint8_t ch = c->d[c->p++];
        n = (n << 7) | (ch & 0x7F);
        if (ch & 0x80) n++;
        else return n;
    }
    c->bad = 1;
    return 0;
}

static uint64_t decompress_amount(uint64_t x) {
    if (x == 0) return 0;
    x--;
    int e = (int)(x % 10);
    x /= 10;
    uint64_t n;
    if (e < 9) {
        uint64_t d = x % 9 + 1;
        x /= 9;
        n = x * 10 + d;
    } else {
        n = x + 1;
    }
    while (e--) n *= 10;
    return n;
}

static PyObject *parse_block_undo(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Cursor c = {view.buf, view.len, 0, 0};
    PyObject *txs = NULL;
    uint64_t n_tx = compact_size(&c);
    if (c.bad || n_tx > (uint64_t)view.len) goto bad;
    txs = PyList_New((Py_ssize_t)n_tx);
    if (txs == NULL) goto fail;
    for (uint64_t t = 0; t < n_tx; t++) {
        uint64_t n_in = compact_size(&c);
        if (c.bad || n_in > (uint64_t)view.len) goto bad;
        PyObject *values = PyList_New((Py_ssize_t)n_in);
        if (values == NULL) goto fail;
        PyList_SET_ITEM(txs, (Py_ssize_t)t, values);
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t code = core_varint(&c);
            if (code >> 1) core_varint(&c);
            uint64_t amount = decompress_amount(core_varint(&c));
            uint64_t size = core_varint(&c);
            skip(&c, size < 6 ? (size < 2 ? 20 : 32) : size - 6);
            if (c.bad) goto bad;
            PyObject *value = PyLong_FromUnsignedLongLong(amount);
            if (value == NULL) goto fail;
            PyList_SET_ITEM(values, (Py_ssize_t)i, value);
        }
    }
    if (c.p != view.len) {
        PyErr_Format(PyExc_ValueError, "undo record uses %zd of its %zd bytes", c.p, view.len);
        goto fail;
    }
    PyBuffer_Release(&view);
    return txs;
bad:
    PyErr_SetString(PyExc_ValueError, "undo record runs past its end");
fail:
    Py_XDECREF(txs);
    PyBuffer_Release(&view);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* xor_at(data, key, offset) -> bytes                                                         */

static PyObject *xor_at(PyObject *module, PyObject *args) {
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

static PyMethodDef core_methods[] = {
    {"scan_block", scan_block, METH_VARARGS,
     "scan_block(data, pos, index, n_tx, coins, members) -> (index, pos) of the next "
     "transaction that spends a fingerprinted coin or pays a fingerprinted script; "
     "(n_tx, end of the last transaction) when none does."},
    {"parse_block_undo", parse_block_undo, METH_O,
     "The spent values of every non-coinbase transaction of a CBlockUndo record."},
    {"xor_at", xor_at, METH_VARARGS, "De-obfuscate bytes read at a file offset."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "indexer.fastpath._core",
    "minerflow's compiled core (see indexer/fastpath/reference.py for the reference).", -1,
    core_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&FilterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) return NULL;
    Py_INCREF(&FilterType);
    if (PyModule_AddObject(m, "Filter", (PyObject *)&FilterType) < 0) {
        Py_DECREF(&FilterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
