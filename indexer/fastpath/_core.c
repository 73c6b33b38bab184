/*
 * minerflow's compiled core: the same functions as indexer/fastpath/reference.py, which stays
 * the reference; tests check both give identical answers and identical indexes.
 *
 *   Filter            a compact set of 64-bit fingerprints (open addressing, 8 bytes a slot)
 *   scan_block        from one transaction on, find the next that may touch tracked state
 *   parse_block_undo  the spent values of every transaction of a CBlockUndo record
 *   pack_block_undo   the same values packed in one bytes object (GIL released)
 *   xor_at            de-obfuscate bytes read from a blk/rev file offset (GIL released)
 *   merkle_root       the merkle root of a whole block's transactions (GIL released)
 *   block_weight      BIP 141 weight of a whole block (GIL released)
 *   scan_table        scan_block's walk over a whole block done ahead, filters left out
 *                     (GIL released): the step then only probes
 *   block_check       merkle_root, block_weight and scan_table from one walk, and the BIP 141
 *                     witness commitment checked where the block has witness data (GIL released)
 *   step_txs          SPEC 5 over a block's transactions after the coinbase: decode the ones
 *                     the filters flag, take coins, join scripts, create coins, sum flows
 *   get_coin, put_coins   the tracked coins' reads and writes through the write buffer
 *                     (coinstore.c)
 *
 * Nothing read from a buffer is trusted: every length, count and offset is checked against what
 * is left before it is used, in a form that cannot overflow, and a malformed input raises
 * ValueError exactly where the reference raises it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coinstore.h"

/* ---------------------------------------------------------------------------------------- */
/* Filter                                                                                   */

/* A slot holding 0 is empty, so the fingerprint 0 is kept in a flag of its own. */
typedef struct {
    PyObject_HEAD
    uint64_t *slots;
    int bits;
    Py_ssize_t used;
    int has_zero;
} Filter;

#define FILTER_START_BITS 10

static inline uint64_t le_u64(const uint8_t *s, Py_ssize_t len);

/* Write v little-endian as the word-th u64 of w. */
static inline void put_le64(uint8_t *w, uint64_t word, uint64_t v) {
    for (int k = 0; k < 8; k++) w[word * 8 + k] = (uint8_t)(v >> (8 * k));
}

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

/* The table exists from tp_new on, so a Filter made by Filter.__new__ alone is a valid, empty
 * one; __init__ empties it again. */
static int filter_reset(Filter *self) {
    uint64_t *fresh = PyMem_Calloc((size_t)1 << FILTER_START_BITS, sizeof(uint64_t));
    if (fresh == NULL) { PyErr_NoMemory(); return -1; }
    PyMem_Free(self->slots);
    self->slots = fresh;
    self->bits = FILTER_START_BITS;
    self->used = 0;
    self->has_zero = 0;
    return 0;
}

static PyObject *Filter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Filter *self = (Filter *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->slots = NULL;
    if (filter_reset(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int Filter_init(Filter *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist)) return -1;
    return filter_reset(self);
}

static void Filter_dealloc(Filter *self) {
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A fingerprint is any int, taken modulo 2**64 (as the reference does). */
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
    if (fp_from(value, &fp) < 0) return NULL;
    if (fp == 0) self->has_zero = 1;
    else if (filter_add_key(self, fp) < 0) return NULL;
    Py_RETURN_NONE;
}

static inline int filter_has(const Filter *f, uint64_t fp) {
    return fp == 0 ? f->has_zero : filter_contains_key(f, fp);
}

static int Filter_contains(Filter *self, PyObject *value) {
    uint64_t fp;
    if (fp_from(value, &fp) < 0) return -1;
    return filter_has(self, fp);
}

static Py_ssize_t Filter_len(Filter *self) { return self->used + self->has_zero; }

static PyObject *Filter_nbytes(Filter *self, void *closure) {
    return PyLong_FromSize_t(((size_t)1 << self->bits) * sizeof(uint64_t));
}

#define FILTER_MAX_RESERVE ((Py_ssize_t)1 << 40)

/* reserve(n): grow the table now to hold n fingerprints (loading a saved filter: inserting
 * slot by slot into a table of the saved size touches memory in order). */
static PyObject *Filter_reserve(Filter *self, PyObject *arg) {
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0 || n > FILTER_MAX_RESERVE) {
        PyErr_Format(PyExc_ValueError, "reserve: %zd fingerprints", n);
        return NULL;
    }
    while ((size_t)(self->used + n) * 3 > ((size_t)1 << self->bits) * 2)
        if (filter_grow(self) < 0) return NULL;
    Py_RETURN_NONE;
}

/* add_many(data): add every nonzero little-endian u64 of `data` (8 bytes each). */
static PyObject *Filter_add_many(Filter *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len % 8) {
        PyErr_Format(PyExc_ValueError, "add_many: %zd bytes is not a whole number of "
                     "fingerprints", view.len);
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *d = view.buf;
    for (Py_ssize_t at = 0; at < view.len; at += 8) {
        uint64_t fp = le_u64(d + at, 8);
        if (fp && filter_add_key(self, fp) < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* slots(start, count) -> bytes: table slots start.. (clipped to the capacity) as little-endian
 * u64s, 0 for an empty slot. Over all slots, the nonzero ones are the nonzero fingerprints. */
static PyObject *Filter_slots(Filter *self, PyObject *args) {
    Py_ssize_t start, count;
    if (!PyArg_ParseTuple(args, "nn", &start, &count)) return NULL;
    Py_ssize_t cap = (Py_ssize_t)1 << self->bits;
    if (start < 0 || count < 0) {
        PyErr_Format(PyExc_ValueError, "slots: start %zd, count %zd", start, count);
        return NULL;
    }
    if (start > cap) start = cap;
    if (count > cap - start) count = cap - start;
    PyObject *out = PyBytes_FromStringAndSize(NULL, count * 8);
    if (out == NULL) return NULL;
    uint8_t *w = (uint8_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < count; i++) put_le64(w, (uint64_t)i, self->slots[start + i]);
    return out;
}

static PyObject *Filter_capacity(Filter *self, void *closure) {
    return PyLong_FromSsize_t((Py_ssize_t)1 << self->bits);
}

static PyMethodDef Filter_methods[] = {
    {"add", (PyCFunction)Filter_add, METH_O, "Add a 64-bit fingerprint."},
    {"reserve", (PyCFunction)Filter_reserve, METH_O, "Make room for n more fingerprints."},
    {"add_many", (PyCFunction)Filter_add_many, METH_O,
     "Add every nonzero little-endian u64 of a bytes-like object."},
    {"slots", (PyCFunction)Filter_slots, METH_VARARGS,
     "slots(start, count) -> bytes: the table's slots as little-endian u64s (0 = empty)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Filter_getset[] = {
    {"nbytes", (getter)Filter_nbytes, NULL, "Bytes held by the table.", NULL},
    {"capacity", (getter)Filter_capacity, NULL, "Slots in the table (see slots()).", NULL},
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
    .tp_new = Filter_new,
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

/* Invariant: 0 <= p <= n, so n - p cannot overflow and p + k is only formed once it fits. */
static inline int need(Cursor *c, Py_ssize_t k) {
    if (k < 0 || k > c->n - c->p) { c->bad = 1; return 0; }
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
/* The transaction walk                                                                       */

/* Where one transaction's witness-stripped serialization lies: [start, body_start) holds the
 * version (and, when body_start > start + 4, the segwit marker and flag), [body_start, body_end)
 * the inputs and outputs, [lock, lock + 4) the lock time; the transaction ends at lock + 4. */
typedef struct {
    Py_ssize_t start, body_start, body_end, lock;
} TxSpan;

/* A scan table being made (see scan_table below): room for every transaction, and for every
 * fingerprint the bytes left can hold (an input takes 36 bytes before its fingerprint is taken,
 * an output 9). */
typedef struct {
    uint64_t *starts, *coin_at, *member_at, *coin_fps, *member_fps;
    size_t tx_cap, coin_cap, member_cap, k, nc, nm;
} TableBuild;

/* The filters a walk probes each fingerprint against, and whether one held it. */
typedef struct {
    const Filter *coins, *members;
    int hit;
} Probe;

/* Walk one transaction, leaving the cursor after it (or bad); with `b`, record where it starts
 * and its fingerprints; with `probe`, look them up in its filters. The one walk of the core's
 * framing: the merkle and weight walk, the scan table and the scan all go through it. */
static void tx_walk(Cursor *c, TxSpan *t, TableBuild *b, Probe *probe) {
    t->start = c->p;
    if (b != NULL) {
        b->starts[b->k] = (uint64_t)c->p;
        b->coin_at[b->k] = b->nc;
        b->member_at[b->k] = b->nm;
    }
    if (!need(c, 6)) return;
    c->p += 4;
    int segwit = c->d[c->p] == 0 && c->d[c->p + 1] != 0;
    if (segwit) c->p += 2;
    t->body_start = c->p;
    uint64_t n_in = compact_size(c);
    for (uint64_t i = 0; i < n_in && !c->bad; i++) {
        if ((b != NULL || probe != NULL) && need(c, 36)) {
            uint64_t fp = le_u64(c->d + c->p, 8) ^ le_u64(c->d + c->p + 32, 4);
            if (probe != NULL) probe->hit |= filter_has(probe->coins, fp);
            if (b != NULL) {
                if (b->nc >= b->coin_cap) { c->bad = 1; return; }
                b->coin_fps[b->nc++] = fp;
            }
        }
        skip(c, 36);
        skip(c, compact_size(c));
        skip(c, 4);
    }
    uint64_t n_out = compact_size(c);
    for (uint64_t i = 0; i < n_out && !c->bad; i++) {
        skip(c, 8);
        uint64_t len = compact_size(c);
        if ((b != NULL || probe != NULL) && !c->bad && len <= (uint64_t)PY_SSIZE_T_MAX
                && need(c, (Py_ssize_t)len)) {
            uint64_t fp = member_fp(c->d + c->p, (Py_ssize_t)len);
            if (probe != NULL) probe->hit |= filter_has(probe->members, fp);
            if (b != NULL) {
                if (b->nm >= b->member_cap) { c->bad = 1; return; }
                b->member_fps[b->nm++] = fp;
            }
        }
        skip(c, len);
    }
    t->body_end = c->p;
    if (segwit) {
        for (uint64_t i = 0; i < n_in && !c->bad; i++) {
            uint64_t items = compact_size(c);
            for (uint64_t j = 0; j < items && !c->bad; j++) skip(c, compact_size(c));
        }
    }
    t->lock = c->p;
    skip(c, 4);
}

/* ---------------------------------------------------------------------------------------- */
/* scan_block(data, pos, index, n_tx, coins, members) -> (index, pos)                         */

/* From the transaction at c->p (number *index) on, walk transactions until one may spend a coin
 * in `coins` or pay a script in `members`: its start, or -1 when none up to n_tx does (the
 * cursor then ends after the last one, *index == n_tx). A malformed transaction sets c->bad. */
static Py_ssize_t scan_from(Cursor *c, Py_ssize_t *index, Py_ssize_t n_tx, const Filter *coins,
                            const Filter *members) {
    while (*index < n_tx && !c->bad) {
        Py_ssize_t start = c->p;
        Probe probe = {coins, members, 0};
        TxSpan span;
        tx_walk(c, &span, NULL, &probe);
        if (c->bad) break;
        if (probe.hit) return start;
        (*index)++;
    }
    return -1;
}

static int scan_args_ok(Py_ssize_t pos, Py_ssize_t index, Py_ssize_t n_tx, Py_ssize_t len) {
    if (pos < 0 || pos > len || index < 0 || index > n_tx) {
        PyErr_Format(PyExc_ValueError,
                     "scan_block: pos %zd or index %zd outside the data (%zd bytes, %zd txs)",
                     pos, index, len, n_tx);
        return 0;
    }
    return 1;
}

static PyObject *scan_block(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, index, n_tx;
    PyObject *coins_obj, *members_obj;
    if (!PyArg_ParseTuple(args, "y*nnnO!O!", &view, &pos, &index, &n_tx, &FilterType, &coins_obj,
                          &FilterType, &members_obj))
        return NULL;
    if (!scan_args_ok(pos, index, n_tx, view.len)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Cursor c = {view.buf, view.len, pos, 0};
    Py_ssize_t hit_at = scan_from(&c, &index, n_tx, (const Filter *)coins_obj,
                                  (const Filter *)members_obj);
    PyBuffer_Release(&view);
    if (c.bad) {
        PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
        return NULL;
    }
    return Py_BuildValue("nn", index, hit_at >= 0 ? hit_at : c.p);
}

/* ---------------------------------------------------------------------------------------- */
/* parse_block_undo(data) -> list[list[int]]                                                 */

/* Core's ReadVarInt for a uint64: a value that would not fit is an error, not a wrap. */
static inline uint64_t core_varint(Cursor *c) {
    uint64_t n = 0;
    for (;;) {
        if (!need(c, 1)) return 0;
        uint8_t ch = c->d[c->p++];
        if (n > (UINT64_MAX >> 7)) { c->bad = 1; return 0; }
        n = (n << 7) | (ch & 0x7F);
        if (!(ch & 0x80)) return n;
        if (n == UINT64_MAX) { c->bad = 1; return 0; }
        n++;
    }
}

#define MAX_MONEY 2100000000000000ULL

/* Core's DecompressAmount; an amount above MAX_MONEY cannot be a spent output: `bad`. */
static uint64_t decompress_amount(Cursor *c, uint64_t x) {
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

static PyObject *parse_block_undo(PyObject *module, PyObject *arg) {
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
static PyObject *pack_block_undo(PyObject *module, PyObject *arg) {
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

/* ---------------------------------------------------------------------------------------- */
/* SHA-256 (FIPS 180-4), enough for txids and merkle nodes                                   */

typedef struct {
    uint32_t h[8];
    uint8_t buf[64];
    size_t fill;
    uint64_t total;
} Sha256;

static const uint32_t SHA_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block_portable(uint32_t *h, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) +
                      SHA_K[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

static void sha256_blocks_portable(uint32_t *h, const uint8_t *p, size_t blocks) {
    for (; blocks; blocks--, p += 64) sha256_block_portable(h, p);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* The same compression with the x86 SHA extensions (the layout of Intel's reference code:
 * the state held as ABEF/CDGH, four rounds per message vector). */
__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_blocks_shani(uint32_t *h, const uint8_t *p, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);
    for (; blocks; blocks--, p += 64) {
        __m128i save0 = st0, save1 = st1, w[4];
        for (int i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), mask);
        for (int g = 0; g < 16; g++) {
            if (g >= 4) {
                __m128i next = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                next = _mm_add_epi32(next, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                w[g & 3] = _mm_sha256msg2_epu32(next, w[(g + 3) & 3]);
            }
            __m128i msg = _mm_add_epi32(w[g & 3],
                                        _mm_loadu_si128((const __m128i *)&SHA_K[4 * g]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
            st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);
    st1 = _mm_shuffle_epi32(st1, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(tmp, st1, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(st1, tmp, 8));
}

static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9))) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1;
}
#else
static int cpu_has_shani(void) { return 0; }
#define sha256_blocks_shani sha256_blocks_portable
#endif

/* Chosen once at import: the SHA extensions when the CPU has them, unless MINERFLOW_SHA=portable
 * (the tests run both). */
static void (*sha256_blocks)(uint32_t *h, const uint8_t *p, size_t blocks) =
    sha256_blocks_portable;
static const char *sha256_implementation = "portable";

static void sha256_choose(void) {
    const char *want = getenv("MINERFLOW_SHA");
    if (cpu_has_shani() && !(want != NULL && strcmp(want, "portable") == 0)) {
        sha256_blocks = sha256_blocks_shani;
        sha256_implementation = "sha-ni";
    }
}

static void sha256_init(Sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->fill = 0;
    s->total = 0;
}

static void sha256_update(Sha256 *s, const uint8_t *p, size_t n) {
    s->total += n;
    if (s->fill) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->buf + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill < 64) return;
        sha256_blocks(s->h, s->buf, 1);
        s->fill = 0;
    }
    if (n >= 64) {
        sha256_blocks(s->h, p, n / 64);
        p += n - n % 64;
        n %= 64;
    }
    memcpy(s->buf, p, n);
    s->fill = n;
}

static void sha256_final(Sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->total * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* Finish the first hash of `s` and hash its digest again: out = sha256(sha256(...)). */
static void sha256d_finish(Sha256 *s, uint8_t out[32]) {
    uint8_t once[32];
    sha256_final(s, once);
    sha256_init(s);
    sha256_update(s, once, 32);
    sha256_final(s, out);
}

static void sha256d(const uint8_t *p, size_t n, uint8_t out[32]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, p, n);
    sha256d_finish(&s, out);
}

/* ---------------------------------------------------------------------------------------- */
/* merkle_root(block) -> bytes                                                                */

/* Step over a block's header and read its transaction count; the reason it cannot be a
 * block, or NULL. A transaction takes ten bytes at least: a larger count cannot be honest. */
static const char *block_start(Cursor *c, uint64_t *n_tx) {
    skip(c, 80);
    *n_tx = compact_size(c);
    if (c->bad || *n_tx > (uint64_t)(c->n - c->p) / 10) return "block runs past its end";
    if (*n_tx == 0) return "block holds no transactions";
    return NULL;
}

/* The stripped size of a walked transaction: version, inputs and outputs, lock time. */
static Py_ssize_t tx_stripped_size(const TxSpan *t) {
    return 4 + (t->body_end - t->body_start) + 4;
}

/* The txid of a walked transaction: the double SHA-256 of version, inputs and outputs, lock
 * time, without the segwit marker, flag and witnesses. */
static void tx_hash(const Cursor *c, const TxSpan *t, uint8_t out[32]) {
    if (t->body_start == t->start + 4) {
        sha256d(c->d + t->start, (size_t)(t->lock + 4 - t->start), out);
        return;
    }
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, c->d + t->start, 4);
    sha256_update(&s, c->d + t->body_start, (size_t)(t->body_end - t->body_start));
    sha256_update(&s, c->d + t->lock, 4);
    sha256d_finish(&s, out);
}

/* Fold n >= 1 txids at `nodes` (room for n + 1) into their merkle root, in place. */
static void merkle_fold(uint8_t *nodes, size_t n, uint8_t root[32]) {
    size_t level = n;
    while (level > 1) {
        if (level % 2) {
            memcpy(nodes + 32 * level, nodes + 32 * (level - 1), 32);
            level++;
        }
        for (size_t i = 0; i < level / 2; i++) sha256d(nodes + 64 * i, 64, nodes + 32 * i);
        level /= 2;
    }
    memcpy(root, nodes, 32);
}

static int table_build_init(TableBuild *b, uint64_t n_tx, Py_ssize_t left) {
    b->tx_cap = (size_t)n_tx + 1;  /* block_start bounds n_tx by the bytes left / 10 */
    b->coin_cap = (size_t)left / 36 + 1;
    b->member_cap = (size_t)left / 9 + 1;
    b->k = b->nc = b->nm = 0;
    b->starts = PyMem_Malloc(sizeof(uint64_t) * (3 * b->tx_cap + b->coin_cap + b->member_cap));
    if (b->starts == NULL) return -1;
    b->coin_at = b->starts + b->tx_cap;
    b->member_at = b->coin_at + b->tx_cap;
    b->coin_fps = b->member_at + b->tx_cap;
    b->member_fps = b->coin_fps + b->coin_cap;
    return 0;
}

/* After the walk: the table's bytes (transaction b->k is malformed when `bad`), or NULL. */
static PyObject *table_build_bytes(TableBuild *b, uint64_t n_tx, int bad, Py_ssize_t end) {
    size_t k = b->k;
    if (bad) {  /* none of the malformed transaction's fingerprints are kept */
        b->nc = b->coin_at[k];
        b->nm = b->member_at[k];
    } else {
        b->starts[k] = (uint64_t)end;
        b->coin_at[k] = b->nc;
        b->member_at[k] = b->nm;
    }
    size_t words = 3 + 3 * (k + 1) + b->nc + b->nm;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(words * 8));
    if (out == NULL) return NULL;
    uint8_t *w = (uint8_t *)PyBytes_AS_STRING(out);
    size_t at = 0;
    put_le64(w, at++, n_tx);
    put_le64(w, at++, k);
    put_le64(w, at++, (uint64_t)bad);
    for (size_t i = 0; i <= k; i++) put_le64(w, at++, b->starts[i]);
    for (size_t i = 0; i <= k; i++) put_le64(w, at++, b->coin_at[i]);
    for (size_t i = 0; i <= k; i++) put_le64(w, at++, b->member_at[i]);
    for (size_t i = 0; i < b->nc; i++) put_le64(w, at++, b->coin_fps[i]);
    for (size_t i = 0; i < b->nm; i++) put_le64(w, at++, b->member_fps[i]);
    return out;
}

/* The wtxid of a walked transaction: the double SHA-256 of all of it, witnesses included. */
static void tx_whash(const Cursor *c, const TxSpan *t, uint8_t out[32]) {
    sha256d(c->d + t->start, (size_t)(t->lock + 4 - t->start), out);
}

/* BIP 141 for a block with witness data, its transactions walked whole: the coinbase (walked
 * at `cb`) must hold a commitment output (the last output whose script is at least 38 bytes
 * and starts 6a24aa21a9ed) equal to sha256d(witness root || the coinbase's witness reserved
 * value, its first input's one 32-byte witness item); `wnodes` holds every wtxid, the
 * coinbase's as 32 zero bytes, with room for one more. The reason it fails, or NULL. */
static const char *witness_fault(const Cursor *block, const TxSpan *cb, uint8_t *wnodes,
                                 size_t n_tx) {
    Cursor c = {block->d, cb->lock, cb->body_start, 0};
    const uint8_t *commit = NULL;
    uint64_t n_in = compact_size(&c);
    for (uint64_t i = 0; i < n_in && !c.bad; i++) {
        skip(&c, 36);
        skip(&c, compact_size(&c));
        skip(&c, 4);
    }
    uint64_t n_out = compact_size(&c);
    for (uint64_t i = 0; i < n_out && !c.bad; i++) {
        skip(&c, 8);
        uint64_t len = compact_size(&c);
        if (!c.bad && len >= 38 && len <= (uint64_t)PY_SSIZE_T_MAX && need(&c, (Py_ssize_t)len)
                && memcmp(c.d + c.p, "\x6a\x24\xaa\x21\xa9\xed", 6) == 0)
            commit = c.d + c.p + 6;
        skip(&c, len);
    }
    if (c.bad) return "its coinbase cannot be read";
    if (commit == NULL) return "it has witness data but no witness commitment in its coinbase";
    const uint8_t *reserved = NULL;
    if (cb->body_start > cb->start + 4 && n_in >= 1) {
        uint64_t items = compact_size(&c);
        uint64_t len = items == 1 ? compact_size(&c) : 0;
        if (!c.bad && items == 1 && len == 32 && need(&c, 32)) reserved = c.d + c.p;
    }
    if (reserved == NULL)
        return "its coinbase lacks the witness reserved value (one 32-byte witness item)";
    uint8_t pair[64];
    merkle_fold(wnodes, n_tx, pair);
    memcpy(pair + 32, reserved, 32);
    uint8_t expected[32];
    sha256d(pair, 64, expected);
    if (memcmp(expected, commit, 32) != 0)
        return "its witness data does not match the witness commitment in its coinbase";
    return NULL;
}

/* One walk over a whole block, with the GIL released: its BIP 141 weight (three times the
 * stripped size, i.e. header, transaction count and every transaction without marker, flag and
 * witnesses, plus the total size), when `root` is given the merkle root of its txids, when
 * `table` is given its scan table (a new bytes object), and with `witness` the BIP 141
 * commitment checked when any transaction has witness data (witness_fault). 0, or -1 with
 * ValueError (or MemoryError) set. */
static int block_walk(PyObject *arg, uint8_t *root, unsigned long long *weight,
                      PyObject **table, int witness) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return -1;
    Cursor c = {view.buf, view.len, 0, 0};
    uint8_t *nodes = NULL, *wnodes = NULL;
    TableBuild build = {0}, *b = NULL;
    const char *why = NULL;
    uint64_t n_tx = 0;
    Py_ssize_t stripped = 0;
    if ((why = block_start(&c, &n_tx)) == NULL) {
        if ((root != NULL && (nodes = PyMem_Malloc((size_t)n_tx * 32 + 32)) == NULL)
                || (witness && (wnodes = PyMem_Malloc((size_t)n_tx * 32 + 32)) == NULL)
                || (table != NULL && table_build_init(&build, n_tx, c.n - c.p) < 0)) {
            PyMem_Free(nodes);
            PyMem_Free(wnodes);
            PyBuffer_Release(&view);
            PyErr_NoMemory();
            return -1;
        }
        b = table != NULL ? &build : NULL;
        stripped = c.p;
        int has_witness = 0;
        TxSpan coinbase = {0, 0, 0, 0};
        Py_BEGIN_ALLOW_THREADS
        for (uint64_t t = 0; t < n_tx && !c.bad; t++) {
            TxSpan span;
            tx_walk(&c, &span, b, NULL);
            if (c.bad) break;
            if (b != NULL) b->k++;
            stripped += tx_stripped_size(&span);
            if (nodes != NULL) tx_hash(&c, &span, nodes + 32 * t);
            if (wnodes != NULL) {
                int segwit = span.body_start > span.start + 4;
                has_witness |= segwit;
                if (t == 0) {
                    coinbase = span;
                    memset(wnodes, 0, 32);
                } else if (segwit) {
                    tx_whash(&c, &span, wnodes + 32 * t);
                } else if (nodes != NULL) {
                    memcpy(wnodes + 32 * t, nodes + 32 * t, 32);
                } else {
                    tx_hash(&c, &span, wnodes + 32 * t);
                }
            }
        }
        if (nodes != NULL && !c.bad && c.p == c.n) merkle_fold(nodes, (size_t)n_tx, root);
        Py_END_ALLOW_THREADS
        if (c.bad) why = "block runs past its end";
        else if (c.p != c.n) why = "block has bytes after its last transaction";
        else if (has_witness) {
            Py_BEGIN_ALLOW_THREADS
            why = witness_fault(&c, &coinbase, wnodes, (size_t)n_tx);
            Py_END_ALLOW_THREADS
        }
    }
    /* stripped <= total <= PY_SSIZE_T_MAX: the sum fits in 64 bits unsigned */
    *weight = 3 * (unsigned long long)stripped + (unsigned long long)view.len;
    PyMem_Free(nodes);
    PyMem_Free(wnodes);
    PyBuffer_Release(&view);
    if (why == NULL && b != NULL) *table = table_build_bytes(b, n_tx, 0, c.p);
    PyMem_Free(build.starts);
    if (why != NULL) {
        PyErr_SetString(PyExc_ValueError, why);
        return -1;
    }
    return b != NULL && *table == NULL ? -1 : 0;  /* no memory for the table's bytes */
}

static PyObject *merkle_root(PyObject *module, PyObject *arg) {
    uint8_t root[32];
    unsigned long long weight;
    if (block_walk(arg, root, &weight, NULL, 0) < 0) return NULL;
    return PyBytes_FromStringAndSize((const char *)root, 32);
}

/* ---------------------------------------------------------------------------------------- */
/* block_weight(block) -> int                                                                 */

static PyObject *block_weight(PyObject *module, PyObject *arg) {
    unsigned long long weight;
    if (block_walk(arg, NULL, &weight, NULL, 0) < 0) return NULL;
    return PyLong_FromUnsignedLongLong(weight);
}

/* ---------------------------------------------------------------------------------------- */
/* block_check(block) -> (merkle root, weight, scan table)                                   */

/* merkle_root, block_weight and scan_table of the same bytes from one walk, which also checks
 * the witness commitment of a block with witness data (ValueError when it fails): the check of
 * every block on every path, and the walk the cohort step then need not do. */
static PyObject *block_check(PyObject *module, PyObject *arg) {
    uint8_t root[32];
    unsigned long long weight;
    PyObject *table = NULL;
    if (block_walk(arg, root, &weight, &table, 1) < 0) return NULL;
    return Py_BuildValue("(y#KN)", (const char *)root, (Py_ssize_t)32, weight, table);
}

/* ---------------------------------------------------------------------------------------- */
/* scan_table(block) -> bytes                                                                 */

/* scan_from's walk over a whole block done ahead, with no filters: the read-ahead thread makes
 * it (GIL released) while the applying thread is busy with the block before, and the step then
 * only probes the fingerprints. u64 little-endian words:
 *   n_tx, k (transactions walked whole from the first), bad (1: transaction k is malformed),
 *   k + 1 starts (the last: the end of transaction k - 1, or where the bad one starts),
 *   k + 1 coin fingerprint starts, k + 1 member fingerprint starts,
 *   the coin fingerprints (one per input), the member fingerprints (one per output). */
typedef struct {
    uint64_t n_tx, k, bad;
    const uint8_t *starts, *coin_at, *member_at, *coin_fps, *member_fps;
} ScanTable;

#define TABLE_WORD(a, i) le_u64((a) + 8 * (size_t)(i), 8)

static PyObject *scan_table(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Cursor c = {view.buf, view.len, 0, 0};
    uint64_t n_tx = 0;
    const char *why = block_start(&c, &n_tx);
    TableBuild b;
    if (why != NULL || table_build_init(&b, n_tx, c.n - c.p) < 0) {
        PyBuffer_Release(&view);
        if (why != NULL) PyErr_SetString(PyExc_ValueError, why);
        else PyErr_NoMemory();
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (; b.k < n_tx; b.k++) {
        TxSpan span;
        tx_walk(&c, &span, &b, NULL);
        if (c.bad) break;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *out = table_build_bytes(&b, n_tx, c.bad, c.p);
    PyMem_Free(b.starts);
    return out;
}

/* Read a table made by scan_table, trusting nothing: the words must be consistent with each
 * other, with the block's `n_tx` and length, and reach transaction `index` at `pos`. 0, or -1
 * with ValueError (the reference's `_read_table`). */
static int table_from(Py_buffer *tv, Py_ssize_t data_len, Py_ssize_t pos, Py_ssize_t index,
                      Py_ssize_t n_tx, ScanTable *t) {
    const uint8_t *w = tv->buf;
    size_t words = (size_t)tv->len / 8;
    if (tv->len % 8 != 0 || words < 6) goto mismatch;
    t->n_tx = TABLE_WORD(w, 0);
    t->k = TABLE_WORD(w, 1);
    t->bad = TABLE_WORD(w, 2);
    if (t->n_tx != (uint64_t)n_tx || t->bad > 1 || t->k > t->n_tx
            || (t->bad == 0) != (t->k == t->n_tx) || t->k > (words - 3) / 3 - 1)
        goto mismatch;
    size_t k = (size_t)t->k;
    t->starts = w + 8 * 3;
    t->coin_at = t->starts + 8 * (k + 1);
    t->member_at = t->coin_at + 8 * (k + 1);
    const uint8_t *fps = t->member_at + 8 * (k + 1);
    uint64_t prev_start = 0, prev_coin = 0, prev_member = 0;
    for (size_t i = 0; i <= k; i++) {
        uint64_t s = TABLE_WORD(t->starts, i), a = TABLE_WORD(t->coin_at, i);
        uint64_t m = TABLE_WORD(t->member_at, i);
        if (s < prev_start || s > (uint64_t)data_len || a < prev_coin || m < prev_member
                || (i == 0 && (a != 0 || m != 0)))
            goto mismatch;
        prev_start = s;
        prev_coin = a;
        prev_member = m;
    }
    size_t fixed = 3 + 3 * (k + 1);
    if (prev_coin > words - fixed || prev_member != words - fixed - prev_coin) goto mismatch;
    t->coin_fps = fps;
    t->member_fps = fps + 8 * (size_t)prev_coin;
    if (index < 0 || (uint64_t)index > t->k || TABLE_WORD(t->starts, index) != (uint64_t)pos)
        goto mismatch;
    return 0;
mismatch:
    PyErr_SetString(PyExc_ValueError, "the scan table does not match the block");
    return -1;
}

/* scan_from over a table: from transaction *index on, the first whose fingerprints the filters
 * hold (its number in *index), or -1 past the last one walked whole. */
static Py_ssize_t table_scan(const ScanTable *t, Py_ssize_t *index, const Filter *coins,
                             const Filter *members) {
    for (; (uint64_t)*index < t->k; (*index)++) {
        Py_ssize_t i = *index;
        uint64_t a = TABLE_WORD(t->coin_at, i), a_end = TABLE_WORD(t->coin_at, i + 1);
        for (; a < a_end; a++)
            if (filter_has(coins, TABLE_WORD(t->coin_fps, a))) return i;
        uint64_t m = TABLE_WORD(t->member_at, i), m_end = TABLE_WORD(t->member_at, i + 1);
        for (; m < m_end; m++)
            if (filter_has(members, TABLE_WORD(t->member_fps, m))) return i;
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* step_txs(data, pos, index, n_tx, coins, members, view, exchanges, spent_values, state,    */
/*          table=None) -> end of the last transaction. SPEC 5 over a block's transactions    */
/*   after the coinbase; the reference's `step_txs` documents the arguments and every rule.    */

typedef struct {
    Py_ssize_t script, script_len;
    int64_t value;
    PyObject *script_obj;   /* made on first need */
    PyObject *exchange;     /* the exchange's name (a strong reference), or NULL */
    int exchange_known;
    int member_known, is_member;
    long member_entity, member_cohort;
    int made;               /* a tracked coin is created at this output */
    long made_entity, made_level;
} StepOut;

typedef struct {
    int tracked;
    long entity, level;
    int64_t value;
} StepIn;

typedef struct {
    PyObject *joined, *created, *spent, *sums, *tx_flows;  /* borrowed from `state` */
    PyObject *stored_coin, *stored_member, *exchanges, *spent_values;
    Filter *coins, *members;
    const uint8_t *d;
    Filter *exchange_filter;    /* with exchange_lookup: `exchanges` given as (filter, lookup) */
    PyObject *exchange_lookup;  /* borrowed; NULL when `exchanges` is an exact dict */
} Step;

static int filter_put(Filter *f, uint64_t fp) {
    if (fp == 0) { f->has_zero = 1; return 0; }
    return filter_add_key(f, fp);
}

/* 0 <= value <= MAX_MONEY, else ValueError naming `what` (TypeError when not an int). */
static int money_from(PyObject *o, int64_t *out, const char *what, Py_ssize_t index) {
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "transaction %zd: %s is an int", index, what);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < 0 || (unsigned long long)v > MAX_MONEY) {
        PyErr_Format(PyExc_ValueError, "transaction %zd: %s outside 0..21,000,000 BTC", index,
                     what);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* An (entity, level) pair of ints, in range: the reference's `_entity`. */
static int entity_from(PyObject *e, PyObject *l, long *entity, long *level) {
    if (!PyLong_Check(e) || !PyLong_Check(l)) {
        PyErr_SetString(PyExc_TypeError, "entity and level are ints");
        return -1;
    }
    int o1 = 0, o2 = 0;
    long long ev = PyLong_AsLongLongAndOverflow(e, &o1);
    if (ev == -1 && PyErr_Occurred()) return -1;
    long long lv = PyLong_AsLongLongAndOverflow(l, &o2);
    if (lv == -1 && PyErr_Occurred()) return -1;
    if (o1 || o2 || ev < 0 || ev > 0xFFFF || (lv != 0 && lv != 1)) {
        PyErr_SetString(PyExc_ValueError, "entity or level out of range");
        return -1;
    }
    *entity = (long)ev;
    *level = (long)lv;
    return 0;
}

/* A coin as given by the view or the state, checked: 1 with its parts, 0 for None, -1. */
static int coin_from(PyObject *o, long *entity, long *level, int64_t *value, Py_ssize_t index) {
    if (o == Py_None) return 0;
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 3) {
        PyErr_SetString(PyExc_TypeError, "a coin is an (entity, level, value) tuple");
        return -1;
    }
    if (entity_from(PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1), entity, level) < 0)
        return -1;
    if (money_from(PyTuple_GET_ITEM(o, 2), value, "a tracked coin's value", index) < 0) return -1;
    return 1;
}

static int member_from(PyObject *o, long *entity, long *cohort) {
    if (o == Py_None) return 0;
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 2) {
        PyErr_SetString(PyExc_TypeError, "a membership is an (entity, cohort) tuple");
        return -1;
    }
    if (entity_from(PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1), entity, cohort) < 0)
        return -1;
    return 1;
}

static PyObject *coin_tuple(long entity, long level, int64_t value) {
    return Py_BuildValue("(llL)", entity, level, (long long)value);
}

static PyObject *out_script(Step *st, StepOut *o) {
    if (o->script_obj == NULL)
        o->script_obj = PyBytes_FromStringAndSize((const char *)st->d + o->script,
                                                  o->script_len);
    return o->script_obj;
}

/* The exchange an output pays (NULL with no error when none); looked up once. With a
 * filter, the lookup is called only for a script whose fingerprint the filter holds, and its
 * answer must be a str or None. */
static int out_exchange(Step *st, StepOut *o, PyObject **name) {
    if (!o->exchange_known) {
        PyObject *found = NULL;
        if (st->exchange_lookup == NULL) {
            PyObject *script = out_script(st, o);
            if (script == NULL) return -1;
            found = PyDict_GetItemWithError(st->exchanges, script);
            if (found == NULL && PyErr_Occurred()) return -1;
            Py_XINCREF(found);
        } else if (filter_has(st->exchange_filter,
                              member_fp(st->d + o->script, o->script_len))) {
            PyObject *script = out_script(st, o);
            if (script == NULL) return -1;
            found = PyObject_CallOneArg(st->exchange_lookup, script);
            if (found == NULL) return -1;
            if (found == Py_None) {
                Py_DECREF(found);
                found = NULL;
            } else if (!PyUnicode_Check(found)) {
                Py_DECREF(found);
                PyErr_SetString(PyExc_TypeError, "an exchange's name is a str or None");
                return -1;
            }
        }
        o->exchange = found;
        o->exchange_known = 1;
    }
    *name = o->exchange;
    return 0;
}

/* Not unspendable (OP_RETURN, or over 10,000 bytes) and paying no exchange: 1, 0, or -1. */
static int out_joinable(Step *st, StepOut *o) {
    if ((o->script_len > 0 && st->d[o->script] == 0x6A) || o->script_len > 10000) return 0;
    PyObject *name;
    if (out_exchange(st, o, &name) < 0) return -1;
    return name == NULL;
}

/* The output script's cohort membership as it stands now: the block's joins, else the view
 * (asked only when the fingerprint is in the members filter). 1, 0 or -1. */
static int out_member(Step *st, StepOut *o, Py_ssize_t index) {
    if (o->member_known) return o->is_member;
    uint64_t fp = member_fp(st->d + o->script, o->script_len);
    int found = 0;
    if (filter_has(st->members, fp)) {
        PyObject *script = out_script(st, o);
        if (script == NULL) return -1;
        PyObject *joined = PyDict_GetItemWithError(st->joined, script);
        if (joined == NULL && PyErr_Occurred()) return -1;
        if (joined != NULL && joined != Py_None) {
            Py_INCREF(joined);
            found = member_from(joined, &o->member_entity, &o->member_cohort);
            Py_DECREF(joined);
        } else {
            PyObject *got = PyObject_CallOneArg(st->stored_member, script);
            if (got == NULL) return -1;
            found = member_from(got, &o->member_entity, &o->member_cohort);
            Py_DECREF(got);
        }
        if (found < 0) return -1;
    }
    o->member_known = 1;
    o->is_member = found;
    (void)index;
    return found;
}

/* Take the coin an input spends: the block's own created coin (removed from `created`), none
 * when the block already spent it, else the view's (then recorded in `spent`). */
static int take_coin(Step *st, const uint8_t *prevout, StepIn *in, Py_ssize_t index) {
    uint64_t vout = le_u64(prevout + 32, 4);
    in->tracked = 0;
    if (!filter_has(st->coins, le_u64(prevout, 8) ^ vout)) return 0;
    int rc = -1;
    PyObject *key = Py_BuildValue("(y#K)", (const char *)prevout, (Py_ssize_t)32,
                                  (unsigned long long)vout);
    if (key == NULL) return -1;
    PyObject *coin = PyDict_GetItemWithError(st->created, key);
    if (coin == NULL && PyErr_Occurred()) goto done;
    if (coin != NULL) {
        Py_INCREF(coin);
        if (PyDict_DelItem(st->created, key) < 0) { Py_DECREF(coin); goto done; }
        if (coin != Py_None) {
            int got = coin_from(coin, &in->entity, &in->level, &in->value, index);
            Py_DECREF(coin);
            if (got < 0) goto done;
            in->tracked = 1;
            rc = 0;
            goto done;
        }
        Py_DECREF(coin);
    }
    int already = PyDict_Contains(st->spent, key);
    if (already < 0) goto done;
    if (already) { rc = 0; goto done; }
    PyObject *got = PyObject_CallFunction(st->stored_coin, "(y#K)", (const char *)prevout,
                                          (Py_ssize_t)32, (unsigned long long)vout);
    if (got == NULL) goto done;
    int tracked = coin_from(got, &in->entity, &in->level, &in->value, index);
    Py_DECREF(got);
    if (tracked < 0) goto done;
    if (tracked) {
        PyObject *value = coin_tuple(in->entity, in->level, in->value);
        if (value == NULL) goto done;
        int set = PyDict_SetItem(st->spent, key, value);
        Py_DECREF(value);
        if (set < 0) goto done;
        in->tracked = 1;
    }
    rc = 0;
done:
    Py_DECREF(key);
    return rc;
}

typedef struct { long entity; int64_t value; } OwnerValue;

static int owner_value_cmp(const void *a, const void *b) {
    long x = ((const OwnerValue *)a)->entity, y = ((const OwnerValue *)b)->entity;
    return (x > y) - (x < y);
}

static int long_cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* floor(a / b) for b > 0, as Python's // does. */
static inline __int128 floor_div(__int128 a, __int128 b) {
    __int128 q = a / b;
    if ((a % b != 0) && (a < 0)) q -= 1;
    return q;
}

/* sums[(entity, level)] += flow, as the reference's `add_sums`. */
static int add_sums(PyObject *sums, long entity, long level, PyObject *flow) {
    PyObject *key = Py_BuildValue("(ll)", entity, level);
    if (key == NULL) return -1;
    int rc = -1;
    PyObject *total = PyDict_GetItemWithError(sums, key);
    if (total == NULL) {
        if (PyErr_Occurred()) goto done;
        PyObject *fresh = PyList_New(7);
        if (fresh == NULL) goto done;
        for (Py_ssize_t i = 0; i < 7; i++) {
            PyObject *item = i == 5 ? PyDict_Copy(PyList_GET_ITEM(flow, 5))
                                    : Py_NewRef(PyList_GET_ITEM(flow, i));
            if (item == NULL) { Py_DECREF(fresh); goto done; }
            PyList_SET_ITEM(fresh, i, item);
        }
        rc = PyDict_SetItem(sums, key, fresh);
        Py_DECREF(fresh);
        goto done;
    }
    Py_INCREF(total);
    if (!PyList_CheckExact(total) || PyList_GET_SIZE(total) != 7
            || !PyDict_CheckExact(PyList_GET_ITEM(total, 5))) {
        PyErr_SetString(PyExc_TypeError, "flow sums are a list of seven with a dict at 5");
        Py_DECREF(total);
        goto done;
    }
    static const int fields[6] = {0, 1, 2, 3, 4, 6};
    for (int k = 0; k < 6; k++) {
        int i = fields[k];
        /* an addition may run Python code that changes either list: look again each time */
        if (PyList_GET_SIZE(total) != 7 || PyList_GET_SIZE(flow) != 7) {
            PyErr_SetString(PyExc_TypeError, "flow sums changed size while being added");
            Py_DECREF(total);
            goto done;
        }
        PyObject *sum = PyNumber_InPlaceAdd(PyList_GET_ITEM(total, i), PyList_GET_ITEM(flow, i));
        if (sum == NULL) { Py_DECREF(total); goto done; }
        if (PyList_SetItem(total, i, sum) < 0) { Py_DECREF(total); goto done; }
    }
    if (PyList_GET_SIZE(total) != 7 || !PyDict_CheckExact(PyList_GET_ITEM(total, 5))
            || PyList_GET_SIZE(flow) != 7 || !PyDict_CheckExact(PyList_GET_ITEM(flow, 5))) {
        PyErr_SetString(PyExc_TypeError, "flow sums are a list of seven with a dict at 5");
        Py_DECREF(total);
        goto done;
    }
    PyObject *by = Py_NewRef(PyList_GET_ITEM(total, 5));
    PyObject *name, *value;
    Py_ssize_t at = 0;
    int ok = 1;
    while (ok && PyDict_Next(PyList_GET_ITEM(flow, 5), &at, &name, &value)) {
        PyObject *old = PyDict_GetItemWithError(by, name);
        if (old == NULL && PyErr_Occurred()) { ok = 0; break; }
        PyObject *zero = NULL;
        if (old == NULL) old = zero = PyLong_FromLong(0);
        if (old == NULL) { ok = 0; break; }
        Py_INCREF(old);
        PyObject *sum = PyNumber_Add(old, value);
        Py_DECREF(old);
        Py_XDECREF(zero);
        if (sum == NULL || PyDict_SetItem(by, name, sum) < 0) ok = 0;
        Py_XDECREF(sum);
    }
    Py_DECREF(by);
    Py_DECREF(total);
    rc = ok ? 0 : -1;
done:
    Py_DECREF(key);
    return rc;
}

/* One decoded transaction through SPEC 5 (the reference's `_step_tx`). */
static int step_tx(Step *st, Cursor *c, Py_ssize_t index) {
    TxSpan t;
    t.start = c->p;
    StepIn *ins = NULL;
    StepOut *outs = NULL;
    OwnerValue *level0 = NULL;
    long *owners = NULL;
    PyObject *txid = NULL;
    uint64_t n_in = 0, n_out = 0;
    int rc = -1;

    if (!need(c, 6)) goto malformed;
    c->p += 4;
    int segwit = c->d[c->p] == 0 && c->d[c->p + 1] != 0;
    if (segwit) c->p += 2;
    t.body_start = c->p;
    n_in = compact_size(c);
    if (c->bad || n_in > (uint64_t)(c->n - c->p) / 41) goto malformed;
    ins = PyMem_Calloc((size_t)n_in + 1, sizeof(StepIn));
    Py_ssize_t *prevouts = PyMem_Calloc((size_t)n_in + 1, sizeof(Py_ssize_t));
    if (ins == NULL || prevouts == NULL) { PyMem_Free(prevouts); PyErr_NoMemory(); goto fail; }
    for (uint64_t i = 0; i < n_in && !c->bad; i++) {
        if (!need(c, 36)) break;
        prevouts[i] = c->p;
        c->p += 36;
        skip(c, compact_size(c));
        skip(c, 4);
    }
    n_out = c->bad ? 0 : compact_size(c);
    if (c->bad || n_out > (uint64_t)(c->n - c->p) / 9) { PyMem_Free(prevouts); goto malformed; }
    outs = PyMem_Calloc((size_t)n_out + 1, sizeof(StepOut));
    if (outs == NULL) { PyMem_Free(prevouts); PyErr_NoMemory(); goto fail; }
    uint64_t out_total = 0;
    int out_of_range = 0;
    for (uint64_t i = 0; i < n_out && !c->bad; i++) {
        if (!need(c, 8)) break;
        outs[i].value = (int64_t)le_u64(c->d + c->p, 8);
        c->p += 8;
        uint64_t len = compact_size(c);
        if (c->bad || len > (uint64_t)PY_SSIZE_T_MAX || !need(c, (Py_ssize_t)len)) {
            c->bad = 1;
            break;
        }
        outs[i].script = c->p;
        outs[i].script_len = (Py_ssize_t)len;
        c->p += (Py_ssize_t)len;
    }
    t.body_end = c->p;
    if (segwit) {
        for (uint64_t i = 0; i < n_in && !c->bad; i++) {
            uint64_t items = compact_size(c);
            for (uint64_t j = 0; j < items && !c->bad; j++) skip(c, compact_size(c));
        }
    }
    t.lock = c->p;
    skip(c, 4);
    if (c->bad) { PyMem_Free(prevouts); goto malformed; }

    /* values: each, then the total, in 0..MAX_MONEY */
    for (uint64_t i = 0; i < n_out; i++) {
        if (outs[i].value < 0 || (uint64_t)outs[i].value > MAX_MONEY) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: an output value outside "
                         "0..21,000,000 BTC", index);
            PyMem_Free(prevouts);
            goto fail;
        }
        out_total += (uint64_t)outs[i].value;
        if (out_total > MAX_MONEY) out_of_range = 1;
    }
    if (out_of_range) {
        PyErr_Format(PyExc_ValueError, "transaction %zd: the output total outside "
                     "0..21,000,000 BTC", index);
        PyMem_Free(prevouts);
        goto fail;
    }

    /* the coins spent, in input order */
    Py_ssize_t n_tracked = 0;
    for (uint64_t i = 0; i < n_in; i++) {
        if (take_coin(st, c->d + prevouts[i], &ins[i], index) < 0) {
            PyMem_Free(prevouts);
            goto fail;
        }
        n_tracked += ins[i].tracked;
    }
    PyMem_Free(prevouts);

    /* joins: outputs of a transaction spending level-0 coins join the largest owner's cohort 1 */
    if (n_tracked) {
        Py_ssize_t n0 = 0;
        level0 = PyMem_Calloc((size_t)n_tracked + 1, sizeof(OwnerValue));
        if (level0 == NULL) { PyErr_NoMemory(); goto fail; }
        for (uint64_t i = 0; i < n_in; i++)
            if (ins[i].tracked && ins[i].level == 0)
                level0[n0++] = (OwnerValue){ins[i].entity, ins[i].value};
        if (n0) {
            qsort(level0, (size_t)n0, sizeof(OwnerValue), owner_value_cmp);
            long joiner = -1;
            __int128 best = -1;
            for (Py_ssize_t i = 0; i < n0;) {
                __int128 sum = 0;
                Py_ssize_t j = i;
                for (; j < n0 && level0[j].entity == level0[i].entity; j++) sum += level0[j].value;
                if (sum > best) { best = sum; joiner = level0[i].entity; }
                i = j;
            }
            for (uint64_t i = 0; i < n_out; i++) {
                int member = out_member(st, &outs[i], index);
                if (member < 0) goto fail;
                if (member) continue;
                int joinable = out_joinable(st, &outs[i]);
                if (joinable < 0) goto fail;
                if (!joinable) continue;
                PyObject *script = out_script(st, &outs[i]);
                if (script == NULL) goto fail;
                PyObject *value = Py_BuildValue("(li)", joiner, 1);
                if (value == NULL) goto fail;
                int set = PyDict_SetItem(st->joined, script, value);
                Py_DECREF(value);
                if (set < 0) goto fail;
                if (filter_put(st->members, member_fp(st->d + outs[i].script,
                                                      outs[i].script_len)) < 0) goto fail;
                outs[i].is_member = 1;
                outs[i].member_entity = joiner;
                outs[i].member_cohort = 1;
            }
        }
    }

    /* the tracked coins it creates */
    int any_made = 0;
    for (uint64_t i = 0; i < n_out; i++) {
        int member = out_member(st, &outs[i], index);
        if (member < 0) goto fail;
        if (!member) continue;
        int joinable = out_joinable(st, &outs[i]);
        if (joinable < 0) goto fail;
        if (!joinable) continue;
        outs[i].made = 1;
        outs[i].made_entity = outs[i].member_entity;
        outs[i].made_level = outs[i].member_cohort;
        any_made = 1;
    }
    if (!n_tracked && !any_made) { rc = 0; goto fail; }

    uint8_t id[32];
    tx_hash(c, &t, id);
    txid = PyBytes_FromStringAndSize((const char *)id, 32);
    if (txid == NULL) goto fail;
    for (uint64_t i = 0; i < n_out; i++) {
        if (!outs[i].made) continue;
        PyObject *key = Py_BuildValue("(OK)", txid, (unsigned long long)i);
        PyObject *value = coin_tuple(outs[i].made_entity, outs[i].made_level, outs[i].value);
        int set = key && value ? PyDict_SetItem(st->created, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (set < 0) goto fail;
        if (filter_put(st->coins, le_u64(id, 8) ^ i) < 0) goto fail;
    }

    /* what went in: the miner coins' total, and all inputs' total */
    __int128 tracked_in = 0;
    for (uint64_t i = 0; i < n_in; i++)
        if (ins[i].tracked) tracked_in += ins[i].value;
    if (tracked_in > (__int128)MAX_MONEY) {
        PyErr_Format(PyExc_ValueError, "transaction %zd: the miner coins' total outside "
                     "0..21,000,000 BTC", index);
        goto fail;
    }
    __int128 total_in = 0;
    if (n_tracked && (uint64_t)n_tracked == n_in) {
        total_in = tracked_in;
    } else if (n_tracked) {
        PyObject *got = PyObject_CallFunction(st->spent_values, "n", index);
        if (got == NULL) goto fail;
        if (!PyList_CheckExact(got) || (uint64_t)PyList_GET_SIZE(got) != n_in) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: the spent values do not match its "
                         "%llu inputs", index, (unsigned long long)n_in);
            Py_DECREF(got);
            goto fail;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(got); i++) {
            int64_t v;
            PyObject *item = Py_NewRef(PyList_GET_ITEM(got, i));
            int bad = money_from(item, &v, "a spent value", index);
            Py_DECREF(item);
            if (bad < 0) { Py_DECREF(got); goto fail; }
            total_in += v;
        }
        Py_DECREF(got);
        if (total_in > (__int128)MAX_MONEY) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: the spent total outside "
                         "0..21,000,000 BTC", index);
            goto fail;
        }
        if (total_in < tracked_in) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: its spent values are below its "
                         "miner coins", index);
            goto fail;
        }
    }
    __int128 fee = total_in - (__int128)out_total;

    /* the owners, ascending */
    owners = PyMem_Calloc((size_t)(n_in + n_out) + 1, sizeof(long));
    if (owners == NULL) { PyErr_NoMemory(); goto fail; }
    size_t n_owners = 0;
    for (uint64_t i = 0; i < n_in; i++)
        if (ins[i].tracked) owners[n_owners++] = ins[i].entity;
    for (uint64_t i = 0; i < n_out; i++)
        if (outs[i].made) owners[n_owners++] = outs[i].made_entity;
    qsort(owners, n_owners, sizeof(long), long_cmp);

    for (size_t k = 0; k < n_owners; k++) {
        if (k > 0 && owners[k] == owners[k - 1]) continue;
        long owner = owners[k];
        for (long at = 0; at <= 1; at++) {
            __int128 mine_in = 0;
            for (uint64_t i = 0; i < n_in; i++)
                if (ins[i].tracked && ins[i].entity == owner && ins[i].level <= at)
                    mine_in += ins[i].value;
            __int128 inflow = 0, outflow = 0, fees = 0, to_exchange = 0, balance = -mine_in;
            PyObject *by = PyDict_New();
            if (by == NULL) goto fail;
            for (uint64_t i = 0; i < n_out; i++) {
                __int128 value = outs[i].value;
                __int128 share = mine_in ? floor_div(value * mine_in, total_in) : 0;
                if (outs[i].made && outs[i].made_entity == owner && outs[i].made_level <= at) {
                    inflow += value - share;
                    balance += value;
                    continue;
                }
                outflow += share;
                PyObject *name;
                if (out_exchange(st, &outs[i], &name) < 0) { Py_DECREF(by); goto fail; }
                if (name != NULL && share) {
                    to_exchange += share;
                    PyObject *old = PyDict_GetItemWithError(by, name);
                    if (old == NULL && PyErr_Occurred()) { Py_DECREF(by); goto fail; }
                    long long before = old ? PyLong_AsLongLong(old) : 0;
                    PyObject *sum = PyLong_FromLongLong(before + (long long)share);
                    int set = sum ? PyDict_SetItem(by, name, sum) : -1;
                    Py_XDECREF(sum);
                    if (set < 0) { Py_DECREF(by); goto fail; }
                }
            }
            if (mine_in) fees += floor_div(fee * mine_in, total_in);
            if (!inflow && !outflow && !fees && !to_exchange && !balance
                    && PyDict_GET_SIZE(by) == 0) {
                Py_DECREF(by);
                continue;
            }
            PyObject *flow = Py_BuildValue("[iLLLLNL]", 0, (long long)inflow, (long long)outflow,
                                           (long long)fees, (long long)to_exchange, by,
                                           (long long)balance);
            if (flow == NULL) goto fail;
            if (add_sums(st->sums, owner, at, flow) < 0) { Py_DECREF(flow); goto fail; }
            if (st->tx_flows != Py_None) {
                PyObject *row = Py_BuildValue("(nOllN)", index, txid, owner, at, flow);
                int added = row ? PyList_Append(st->tx_flows, row) : -1;
                Py_XDECREF(row);
                if (added < 0) goto fail;
            } else {
                Py_DECREF(flow);
            }
        }
    }
    rc = 0;
    goto fail;

malformed:
    PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
fail:
    if (outs != NULL) {
        for (uint64_t i = 0; i < n_out; i++) {
            Py_XDECREF(outs[i].script_obj);
            Py_XDECREF(outs[i].exchange);
        }
    }
    PyMem_Free(outs);
    PyMem_Free(ins);
    PyMem_Free(level0);
    PyMem_Free(owners);
    Py_XDECREF(txid);
    return rc;
}

static int exact_dict(PyObject *o) { return PyDict_CheckExact(o); }

static PyObject *step_txs(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, index, n_tx;
    PyObject *coins_obj, *members_obj, *lookups, *exchanges, *spent_values, *state;
    PyObject *table_obj = Py_None;
    if (!PyArg_ParseTuple(args, "y*nnnO!O!OOOO|O", &view, &pos, &index, &n_tx, &FilterType,
                          &coins_obj, &FilterType, &members_obj, &lookups, &exchanges,
                          &spent_values, &state, &table_obj))
        return NULL;
    PyObject *result = NULL;
    Py_buffer table_view = {0};
    ScanTable table = {0};
    int have_table = 0;
    if (!PyTuple_Check(lookups) || PyTuple_GET_SIZE(lookups) != 2) {
        PyErr_SetString(PyExc_TypeError, "view is (coin, member)");
        goto done;
    }
    Filter *exchange_filter = NULL;
    PyObject *exchange_lookup = NULL;
    if (PyTuple_CheckExact(exchanges) && PyTuple_GET_SIZE(exchanges) == 2
            && PyObject_TypeCheck(PyTuple_GET_ITEM(exchanges, 0), &FilterType)
            && PyCallable_Check(PyTuple_GET_ITEM(exchanges, 1))) {
        exchange_filter = (Filter *)PyTuple_GET_ITEM(exchanges, 0);
        exchange_lookup = PyTuple_GET_ITEM(exchanges, 1);
    } else if (!exact_dict(exchanges)) {
        PyErr_SetString(PyExc_TypeError, "exchanges is a dict or (Filter, lookup)");
        goto done;
    }
    if (!PyTuple_Check(state) || PyTuple_GET_SIZE(state) != 5) {
        PyErr_SetString(PyExc_TypeError, "state is (members, created, spent, sums, tx_flows)");
        goto done;
    }
    Step st = {
        PyTuple_GET_ITEM(state, 0), PyTuple_GET_ITEM(state, 1), PyTuple_GET_ITEM(state, 2),
        PyTuple_GET_ITEM(state, 3), PyTuple_GET_ITEM(state, 4),
        PyTuple_GET_ITEM(lookups, 0), PyTuple_GET_ITEM(lookups, 1), exchanges, spent_values,
        (Filter *)coins_obj, (Filter *)members_obj, view.buf, exchange_filter, exchange_lookup,
    };
    if (!exact_dict(st.joined) || !exact_dict(st.created) || !exact_dict(st.spent)
            || !exact_dict(st.sums) || !(st.tx_flows == Py_None || PyList_CheckExact(st.tx_flows))) {
        PyErr_SetString(PyExc_TypeError, "state holds four dicts and a list or None");
        goto done;
    }
    if (!scan_args_ok(pos, index, n_tx, view.len)) goto done;
    if (table_obj != Py_None) {
        if (PyObject_GetBuffer(table_obj, &table_view, PyBUF_SIMPLE) < 0) goto done;
        if (table_from(&table_view, view.len, pos, index, n_tx, &table) < 0) goto done;
        have_table = 1;
    }
    /* the objects read through `st` live as long as `state` and `lookups` (held by args) */
    Cursor c = {view.buf, view.len, pos, 0};
    while (have_table) {  /* the walk was done ahead: only the probes are left */
        /* as scan_from below: the probes read only the table and the filters */
        Py_ssize_t hit;
        Py_BEGIN_ALLOW_THREADS
        hit = table_scan(&table, &index, st.coins, st.members);
        Py_END_ALLOW_THREADS
        if (hit < 0) {
            if (table.bad) {
                PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data",
                             index);
                goto done;
            }
            c.p = (Py_ssize_t)TABLE_WORD(table.starts, index);
            break;
        }
        c.p = (Py_ssize_t)TABLE_WORD(table.starts, hit);
        if (step_tx(&st, &c, index) < 0) goto done;
        if ((uint64_t)c.p != TABLE_WORD(table.starts, index + 1)) {
            PyErr_SetString(PyExc_ValueError, "the scan table does not match the block");
            goto done;
        }
        index++;
    }
    while (!have_table) {
        /* The walk to the next flagged transaction reads only the bytes and the filters, which
         * only this (the applying) thread changes: other threads run meanwhile. */
        Py_ssize_t hit;
        Py_BEGIN_ALLOW_THREADS
        hit = scan_from(&c, &index, n_tx, st.coins, st.members);
        Py_END_ALLOW_THREADS
        if (c.bad) {
            PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
            goto done;
        }
        if (hit < 0) break;
        c.p = hit;
        if (step_tx(&st, &c, index) < 0) goto done;
        index++;
    }
    result = PyLong_FromSsize_t(c.p);
done:
    if (table_view.obj != NULL) PyBuffer_Release(&table_view);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef core_methods[] = {
    {"scan_block", scan_block, METH_VARARGS,
     "scan_block(data, pos, index, n_tx, coins, members) -> (index, pos) of the next "
     "transaction that spends a fingerprinted coin or pays a fingerprinted script; "
     "(n_tx, end of the last transaction) when none does."},
    {"parse_block_undo", parse_block_undo, METH_O,
     "The spent values of every non-coinbase transaction of a CBlockUndo record."},
    {"pack_block_undo", pack_block_undo, METH_O,
     "parse_block_undo's values packed as u64s: n_tx, n_tx + 1 starts, the values."},
    {"xor_at", xor_at, METH_VARARGS, "De-obfuscate bytes read at a file offset."},
    {"merkle_root", merkle_root, METH_O,
     "The merkle root (serialized order) of the txids of a whole serialized block."},
    {"block_weight", block_weight, METH_O,
     "BIP 141 weight of a whole serialized block: 3 x stripped size + total size."},
    {"block_check", block_check, METH_O,
     "(merkle_root, block_weight, scan_table) of a whole serialized block, from one walk."},
    {"step_txs", step_txs, METH_VARARGS,
     "step_txs(data, pos, index, n_tx, coins, members, view, exchanges, spent_values, state, "
     "table=None) -> end of the last transaction: SPEC 5 over a block's transactions after "
     "the coinbase (with `table`, scan_table's of the block, only the probes are left)."},
    {"scan_table", scan_table, METH_O,
     "The block's transactions' starts and the fingerprints the step probes, walked ahead."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "indexer.fastpath._core",
    "minerflow's compiled core (see indexer/fastpath/reference.py for the reference).", -1,
    core_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&FilterType) < 0) return NULL;
    sha256_choose();
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) return NULL;
    if (coinstore_add(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "SHA256", sha256_implementation) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&FilterType);
    if (PyModule_AddObject(m, "Filter", (PyObject *)&FilterType) < 0) {
        Py_DECREF(&FilterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
